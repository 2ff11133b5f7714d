package local

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"strings"
	"syscall"

	"github.com/myftp/myftp/lib/storage"
)

// diskError is an error of the local disk on a name of the home: the *fs.PathError it came from,
// naming the file as the home does, and the storage error it means.
type diskError struct {
	kind error // storage.ErrNotDir, ...; nil where the PathError says it (ErrNotExist, ErrExist)
	*fs.PathError
}

func (e *diskError) Unwrap() []error {
	if e.kind == nil {
		return []error{e.PathError}
	}
	return []error{e.kind, e.PathError}
}

// mapErr turns an error of the os package on name into one that errors.Is matches with the
// storage errors, and whose message names name as given, never the home's place on the server.
func mapErr(err error, op, name string) error {
	if err == nil {
		return nil
	}
	if _, ok := errors.AsType[*diskError](err); ok {
		return err
	}
	pe := &fs.PathError{Op: op, Path: name, Err: err}
	if ope, ok := errors.AsType[*fs.PathError](err); ok {
		pe = &fs.PathError{Op: ope.Op, Path: name, Err: ope.Err}
	} else if le, ok := errors.AsType[*os.LinkError](err); ok {
		pe = &fs.PathError{Op: le.Op, Path: name, Err: le.Err}
	}
	return &diskError{kind: kindOf(pe.Err), PathError: pe}
}

// renamed is mapErr for errors of operations on the home's directory itself, which name its
// place on the server.
func renamed(err error, op, home string) error {
	if pe, ok := errors.AsType[*fs.PathError](err); ok {
		return mapErr(pe.Err, op, home)
	}
	return mapErr(err, op, home)
}

// ioErr is mapErr for a read or write on an open file; io.EOF is returned as is.
func ioErr(err error, op, name string) error {
	if err == nil || err == io.EOF {
		return err
	}
	return mapErr(err, op, name)
}

// kindOf is the storage error that the system error err means, if it is not one that errors.Is
// already matches with a storage error.
func kindOf(err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil // (on Windows, ENOTDIR is ERROR_PATH_NOT_FOUND)
	case errors.Is(err, syscall.ENOTDIR):
		return storage.ErrNotDir
	case errors.Is(err, syscall.EISDIR):
		return storage.ErrIsDir
	case errors.Is(err, syscall.ENOTEMPTY), errors.Is(err, dirNotEmpty):
		return storage.ErrNotEmpty
	case escapes(err):
		return storage.ErrOutside // a link out of the home
	case errors.Is(err, syscall.EINVAL):
		return storage.ErrInvalid // a directory moved into itself
	}
	return nil
}

// isNotEmpty reports whether err is rmdir(2) or rename(2) refusing a directory that is not
// empty: ENOTEMPTY, or EEXIST on some systems, or Windows's own error.
func isNotEmpty(err error) bool {
	return errors.Is(err, syscall.ENOTEMPTY) || errors.Is(err, syscall.EEXIST) || errors.Is(err, dirNotEmpty)
}

// escapes reports whether err is os.Root refusing a name that leaves the root (through a symbolic
// link). The os package does not export that error, so its text is matched.
func escapes(err error) bool {
	return err != nil && strings.Contains(err.Error(), "path escapes from parent")
}
