//go:build linux || darwin

package local

import (
	"os"

	"golang.org/x/sys/unix"
)

// GetTag returns the value of the extended attribute name of the open file f, if it has one.
func GetTag(f *os.File, name string) ([]byte, bool) {
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, false
	}
	buf := make([]byte, 1024)
	n, gerr := -1, error(nil)
	for range 2 { // once more with the size the value has, if the buffer was too small
		if err := rc.Control(func(fd uintptr) { n, gerr = unix.Fgetxattr(int(fd), name, buf) }); err != nil {
			return nil, false
		}
		if gerr != unix.ERANGE {
			break
		}
		if err := rc.Control(func(fd uintptr) { n, gerr = unix.Fgetxattr(int(fd), name, nil) }); err != nil || gerr != nil || n <= len(buf) || n > 1<<20 {
			return nil, false
		}
		buf = make([]byte, n)
	}
	if gerr != nil || n < 0 {
		return nil, false
	}
	return buf[:n], true
}

// SetTag sets the extended attribute name of the open file f to data. It fails where the
// filesystem keeps no extended attributes for users.
func SetTag(f *os.File, name string, data []byte) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = unix.Fsetxattr(int(fd), name, data, 0) }); err != nil {
		return err
	}
	if serr != nil {
		return &os.PathError{Op: "setxattr", Path: f.Name(), Err: serr}
	}
	return nil
}
