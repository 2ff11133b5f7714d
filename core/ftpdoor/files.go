package ftpdoor

import (
	"errors"
	"io"
	"os"
	"path"
	"time"

	ftpserver "github.com/fclairamb/ftpserverlib"
	"github.com/spf13/afero"

	"github.com/myftp/myftp/lib/checksum"
	"github.com/myftp/myftp/lib/homefs"
)

// files is a logged-in session's file system as the engine sees it (ftpserver.ClientDriver, an
// afero.Fs, with the engine's extensions). Every method is a thin adapter onto the session's
// homefs.FS, which holds the jail, quota and upload rules; errors go through replyErr.
type files struct{ s *session }

var (
	_ ftpserver.ClientDriver                        = (*files)(nil)
	_ ftpserver.ClientDriverExtentionFileTransfer   = (*files)(nil)
	_ ftpserver.ClientDriverExtensionFileList       = (*files)(nil)
	_ ftpserver.ClientDriverExtensionRemoveDir      = (*files)(nil)
	_ ftpserver.ClientDriverExtensionHasher         = (*files)(nil)
	_ ftpserver.ClientDriverExtensionAvailableSpace = (*files)(nil)
	_ ftpserver.ClientDriverExtensionAllocate       = (*files)(nil)
)

// do runs op on the home once the account is known to be still allowed and the server is not
// shutting down, and maps its error.
func (f *files) do(op func(*homefs.FS) error) error {
	defer f.s.work()()
	if err := f.s.stopped(); err != nil {
		return err
	}
	if err := f.s.allowed(); err != nil {
		return err
	}
	return replyErr(f.s, op(f.s.fs))
}

// abs makes a path from the engine absolute: it passes absolute paths, but for HASH the name as
// the client typed it, relative to the client's current directory.
func (f *files) abs(name string) string {
	if path.IsAbs(name) {
		return name
	}
	f.s.mu.Lock()
	cc := f.s.cc
	f.s.mu.Unlock()
	return path.Join(cc.Path(), name)
}

// Name names the file system.
func (f *files) Name() string { return "myftp" }

// Stat describes a file or directory (CWD, SIZE, MDTM, MLST, STAT): a file whose upload is
// unfinished is described by the bytes received so far, so that a client resuming the upload
// (SIZE, then REST or APPE) continues at the right byte.
func (f *files) Stat(name string) (os.FileInfo, error) {
	var e homefs.Entry
	err := f.do(func(h *homefs.FS) (err error) {
		e, err = h.StatHeld(f.abs(name))
		return err
	})
	if err != nil {
		return nil, err
	}
	return e.Info(), nil
}

// ReadDir lists a directory (LIST, NLST, MLSD).
func (f *files) ReadDir(name string) ([]os.FileInfo, error) {
	var list []os.FileInfo
	err := f.do(func(h *homefs.FS) error {
		return h.List(name, true, func(e homefs.Entry) error {
			list = append(list, e.Info())
			return nil
		})
	})
	return list, err
}

// Mkdir creates a directory (MKD).
func (f *files) Mkdir(name string, _ os.FileMode) error {
	return f.do(func(h *homefs.FS) error { _, err := h.Mkdir(name, false); return err })
}

// MkdirAll creates a directory and its parents.
func (f *files) MkdirAll(name string, _ os.FileMode) error {
	return f.do(func(h *homefs.FS) error { _, err := h.Mkdir(name, true); return err })
}

// Remove deletes a file (DELE), or the unfinished upload of a name that has only that.
func (f *files) Remove(name string) error {
	return f.do(func(h *homefs.FS) error { return h.Remove(name) })
}

// RemoveDir deletes an empty directory (RMD).
func (f *files) RemoveDir(name string) error {
	return f.do(func(h *homefs.FS) error { return h.Rmdir(name) })
}

// RemoveAll is refused: no command of the door removes a tree at once.
func (f *files) RemoveAll(string) error { return errUnsupported }

// Rename moves a file or directory (RNFR, RNTO).
func (f *files) Rename(from, to string) error {
	return f.do(func(h *homefs.FS) error { return h.Rename(from, to) })
}

// Chtimes sets a modification time (MFMT).
func (f *files) Chtimes(name string, _, mtime time.Time) error {
	return f.do(func(h *homefs.FS) error { return h.Chtimes(name, mtime) })
}

// Chmod and Chown are refused: files belong to the server, mode 0600.
func (f *files) Chmod(string, os.FileMode) error { return errUnsupported }
func (f *files) Chown(string, int, int) error    { return errUnsupported }

// Create, Open and OpenFile are not used: transfers go through GetHandle, listings ReadDir.
func (f *files) Create(string) (afero.File, error)                     { return nil, errUnsupported }
func (f *files) Open(string) (afero.File, error)                       { return nil, errUnsupported }
func (f *files) OpenFile(string, int, os.FileMode) (afero.File, error) { return nil, errUnsupported }

var errUnsupported = errors.New("not supported by this server")

// GetAvailableSpace is the free quota (AVBL).
func (f *files) GetAvailableSpace(string) (int64, error) {
	if err := f.s.allowed(); err != nil {
		return 0, err
	}
	used, quota := f.s.fs.Usage()
	return max(quota-used, 0), nil
}

// AllocateSpace checks size against the free quota (ALLO). A refused ALLO makes the next STOR
// fail too, so that a client that goes on regardless leaves no file.
func (f *files) AllocateSpace(size int) error {
	free, err := f.GetAvailableSpace("")
	if err != nil {
		return err
	}
	f.s.mu.Lock()
	defer f.s.mu.Unlock()
	f.s.allo = int64(size) > free
	if f.s.allo {
		return &replyError{kind: ftpserver.ErrStorageExceeded,
			msg: "quota exceeded: " + formatSize(int64(size)) + " asked, " + formatSize(free) + " free"}
	}
	return nil
}

// ComputeHash returns a checksum of a file or of a part of it (HASH, XMD5...): of a whole file,
// the recorded one when there is one, else computed and recorded.
func (f *files) ComputeHash(name string, algo ftpserver.HASHAlgo, start, end int64) (string, error) {
	names := map[ftpserver.HASHAlgo]string{ftpserver.HASHAlgoCRC32: checksum.CRC32, ftpserver.HASHAlgoMD5: checksum.MD5,
		ftpserver.HASHAlgoSHA1: checksum.SHA1, ftpserver.HASHAlgoSHA256: checksum.SHA256, ftpserver.HASHAlgoSHA512: checksum.SHA512}
	var sum string
	err := f.do(func(h *homefs.FS) error {
		d, err := h.OpenDownload(name)
		if err != nil {
			return err
		}
		size := d.Info.Size
		d.Close()
		if start == 0 && end == size {
			sum, err = h.Checksum(name, names[algo])
			return err
		}
		sum, err = h.ChecksumRange(name, names[algo], start, end)
		return err
	})
	return sum, err
}

var _ io.Closer = (*upload)(nil)
