package durable

import (
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// flusher returns how this machine makes a group of files durable, and whether that flushes whole
// filesystems: one syncfs per filesystem they are on, or, on a kernel whose syncfs does not report
// write errors, an fsync of each.
func flusher() (flush func([]*os.File) error, whole bool) {
	if !kernelAtLeast(release(), 5, 8) {
		return func(files []*os.File) error { return fsyncAll(files, 8) }, false
	}
	return syncfsAll, true
}

// syncfsAll runs one syncfs on each filesystem that holds one of files.
func syncfsAll(files []*os.File) error {
	if len(files) == 1 { // the usual group of one session's upload: no need to learn its filesystem
		return syncfs(files[0])
	}
	synced := make(map[uint64]bool, 1)
	for _, f := range files {
		var st unix.Stat_t
		if err := unix.Fstat(int(f.Fd()), &st); err != nil {
			return &os.PathError{Op: "fstat", Path: f.Name(), Err: err}
		}
		if synced[st.Dev] {
			continue
		}
		if err := syncfs(f); err != nil {
			return err
		}
		synced[st.Dev] = true
	}
	return nil
}

func syncfs(f *os.File) error {
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		return &os.PathError{Op: "syncfs", Path: f.Name(), Err: err}
	}
	return nil
}

// release returns the kernel's release ("6.1.0-18-amd64"), or "" if it cannot be known. Before
// 5.8, syncfs returned 0 even when writing back failed.
func release() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}

// kernelAtLeast reports whether a release string such as "6.1.0-18-amd64" is major.minor or
// later.
func kernelAtLeast(release string, major, minor int) bool {
	parts := strings.SplitN(release, ".", 3)
	if len(parts) < 2 {
		return false
	}
	ma, err1 := strconv.Atoi(parts[0])
	digits := parts[1]
	if i := strings.IndexFunc(digits, func(r rune) bool { return r < '0' || r > '9' }); i >= 0 {
		digits = digits[:i] // "8-rc1"
	}
	mi, err2 := strconv.Atoi(digits)
	if err1 != nil || err2 != nil {
		return false
	}
	return ma > major || ma == major && mi >= minor
}
