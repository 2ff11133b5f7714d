//go:build unix

package local

import (
	"io/fs"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// dirHandle is one open directory of a walk. Below the start it is opened with openat relative to
// its parent and named by its own name only: an *os.File opened in an *os.Root carries the whole
// path from the top, which at every level of a deep tree would add up to d² bytes.
type dirHandle struct{ f *os.File }

// openStart opens the directory dir of root, where a walk starts.
func openStart(root *os.Root, dir string) (dirHandle, error) {
	f, err := root.OpenFile(dir, os.O_RDONLY|noPoll, 0)
	if err != nil {
		return dirHandle{}, err
	}
	if fi, err := f.Stat(); err != nil || !fi.IsDir() {
		f.Close()
		if err == nil {
			err = &fs.PathError{Op: "open", Path: dir, Err: unix.ENOTDIR}
		}
		return dirHandle{}, err
	}
	return dirHandle{f}, nil
}

func (d dirHandle) readDir(n int) ([]fs.DirEntry, error) { return d.f.ReadDir(n) }

func (d dirHandle) close() {
	if d.f != nil {
		d.f.Close()
	}
}

// openDir opens the directory name in d, never through a symbolic link.
func (d dirHandle) openDir(name string) (dirHandle, error) {
	var fd int
	err := d.at("openat", name, func(dirfd int) (err error) {
		fd, err = unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		return err
	})
	if err != nil {
		return dirHandle{}, err
	}
	return dirHandle{os.NewFile(uintptr(fd), name)}, nil
}

// regularSize returns the size of the file name in d if it is a regular file.
func (d dirHandle) regularSize(name string) (int64, bool) {
	var st unix.Stat_t
	err := d.at("fstatat", name, func(dirfd int) error {
		return unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW)
	})
	if err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		return 0, false
	}
	return st.Size, true
}

// at runs call with d's descriptor, retrying on EINTR.
func (d dirHandle) at(op, name string, call func(dirfd int) error) error {
	rc, err := d.f.SyscallConn()
	if err != nil {
		return err
	}
	var callErr error
	if err := rc.Control(func(fd uintptr) {
		for {
			if callErr = call(int(fd)); callErr != unix.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	if callErr != nil {
		return &fs.PathError{Op: op, Path: name, Err: callErr}
	}
	return nil
}

// lstat describes the entry name in d, without following a symbolic link.
func (d dirHandle) lstat(name string) (fs.FileInfo, error) {
	st := new(unix.Stat_t)
	err := d.at("fstatat", name, func(dirfd int) error {
		return unix.Fstatat(dirfd, name, st, unix.AT_SYMLINK_NOFOLLOW)
	})
	if err != nil {
		return nil, err
	}
	return &statInfo{name: name, st: st}, nil
}

// statInfo is the fs.FileInfo of an fstatat; Sys returns the *unix.Stat_t.
type statInfo struct {
	name string
	st   *unix.Stat_t
}

func (s *statInfo) Name() string       { return s.name }
func (s *statInfo) Size() int64        { return s.st.Size }
func (s *statInfo) ModTime() time.Time { return time.Unix(s.st.Mtim.Unix()) }
func (s *statInfo) IsDir() bool        { return s.Mode().IsDir() }
func (s *statInfo) Sys() any           { return s.st }

// Mode converts the mode bits as package os does.
func (s *statInfo) Mode() fs.FileMode {
	m := uint32(s.st.Mode)
	mode := fs.FileMode(m & 0o777)
	switch m & unix.S_IFMT {
	case unix.S_IFBLK:
		mode |= fs.ModeDevice
	case unix.S_IFCHR:
		mode |= fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFDIR:
		mode |= fs.ModeDir
	case unix.S_IFIFO:
		mode |= fs.ModeNamedPipe
	case unix.S_IFLNK:
		mode |= fs.ModeSymlink
	case unix.S_IFSOCK:
		mode |= fs.ModeSocket
	}
	if m&unix.S_ISUID != 0 {
		mode |= fs.ModeSetuid
	}
	if m&unix.S_ISGID != 0 {
		mode |= fs.ModeSetgid
	}
	if m&unix.S_ISVTX != 0 {
		mode |= fs.ModeSticky
	}
	return mode
}
