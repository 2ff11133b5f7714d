//go:build unix

package deeptree

import (
	"testing"

	"golang.org/x/sys/unix"
)

// Make makes a chain of levels directories named name below the directory open as fd, each made
// and opened relative to the one above (a path from the top would be longer than PATH_MAX), with
// a file "f" of size bytes at the bottom, and returns the bottom directory, open. It closes fd.
func Make(t testing.TB, fd int, name string, levels, size int) int {
	t.Helper()
	var err error
	for i := 0; err == nil && i < levels; i++ {
		if err = unix.Mkdirat(fd, name, 0o700); err == nil {
			next := fd
			next, err = unix.Openat(fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
			unix.Close(fd)
			fd = next
		}
	}
	if err == nil {
		var f int
		if f, err = unix.Openat(fd, "f", unix.O_WRONLY|unix.O_CREAT|unix.O_CLOEXEC, 0o600); err == nil {
			err = unix.Ftruncate(f, int64(size))
			unix.Close(f)
		}
	}
	if err != nil {
		t.Fatalf("a deep tree: %v", err)
	}
	return fd
}
