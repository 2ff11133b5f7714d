package homefs

import (
	"errors"
	"fmt"
	"io/fs"
	"syscall"

	"github.com/myftp/myftp/lib/storage"
)

// Kinds of failure. Every error from this package wraps one of them (test with errors.Is) and says
// in its message only what the user may see: the path as the user names it, never where the home
// lives on the server.
var (
	ErrNotFound    = errors.New("no such file or directory")
	ErrExists      = errors.New("file exists")
	ErrOutside     = errors.New("permission denied: path leaves the home directory")
	ErrInvalidPath = errors.New("invalid path")
	ErrNotDir      = errors.New("not a directory")
	ErrIsDir       = errors.New("is a directory")
	ErrNotEmpty    = errors.New("directory not empty")
	ErrPermission  = errors.New("permission denied")
	ErrQuota       = errors.New("quota exceeded")
	ErrBusy        = errors.New("file busy: being uploaded by another session")
	ErrNoSpace     = errors.New("no space left on the server")
	ErrChecksum    = errors.New("checksum mismatch")
	ErrSize        = errors.New("size mismatch")
	ErrOffset      = errors.New("invalid offset")
	ErrIO          = errors.New("i/o error on the server")
)

// Error is a failure on one path. Error() is safe to show to the user; Err keeps the underlying
// cause (with server paths) for the server's log.
type Error struct {
	Kind   error  // one of the Err* kinds above
	Path   string // the path as the user sees it ("/docs/a.txt"); may be empty
	Detail string // more words for the user, may be empty
	Err    error  // the cause, for logs; may be nil
}

func (e *Error) Error() string {
	s := e.Kind.Error()
	if e.Path != "" {
		s += ": " + e.Path
	}
	if e.Detail != "" {
		s += " (" + e.Detail + ")"
	}
	return s
}

// Unwrap returns the kind and the cause.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

func newErr(kind error, vpath, detail string) error {
	return &Error{Kind: kind, Path: vpath, Detail: detail}
}

// wrapOS classifies an error from the os package on the file the user calls vpath.
func wrapOS(err error, vpath string) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	return &Error{Kind: kindOf(err), Path: vpath, Err: err}
}

func kindOf(err error) error {
	switch {
	case errors.Is(err, storage.ErrNotEmpty) || errors.Is(err, syscall.ENOTEMPTY):
		return ErrNotEmpty
	case errors.Is(err, fs.ErrNotExist):
		return ErrNotFound
	case errors.Is(err, fs.ErrExist):
		return ErrExists
	case errors.Is(err, storage.ErrNotDir) || errors.Is(err, syscall.ENOTDIR):
		return ErrNotDir
	case errors.Is(err, storage.ErrIsDir) || errors.Is(err, syscall.EISDIR):
		return ErrIsDir
	case errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT):
		return ErrNoSpace
	case errors.Is(err, storage.ErrOutside):
		return ErrOutside
	case errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.ELOOP):
		return ErrPermission
	case errors.Is(err, storage.ErrInvalid) || errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENAMETOOLONG):
		return ErrInvalidPath
	}
	return ErrIO
}

// quotaError explains a refused upload in human units.
func quotaError(vpath string, used, quota, need int64, format func(int64) string) error {
	return newErr(ErrQuota, vpath, fmt.Sprintf("used %s of %s, upload needs %s more",
		format(used), format(quota), format(need)))
}
