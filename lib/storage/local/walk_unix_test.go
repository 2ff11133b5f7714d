//go:build unix

package local

import (
	"os"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// deepen makes a chain of levels directories named name below the directory open as fd, each made
// and opened relative to the one above (a path from the top would be longer than PATH_MAX), with
// a file "f" of size bytes at the bottom, and returns the bottom directory, open. It closes fd.
func deepen(t testing.TB, fd int, name string, levels, size int) int {
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

// A walk of a tree longer than PATH_MAX visits all of it, describing every entry (Info, Size),
// with memory that grows with the depth, not its square.
func TestWalkDeep(t *testing.T) {
	// Not parallel: it measures the memory allocated meanwhile.
	const depth = 400
	name := strings.Repeat("d", 100)
	dir := t.TempDir()
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { unix.Close(fd) }()
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	walk := func() (entries int, bytes int64) {
		err := WalkTree(root, ".", func(e WalkEntry, err error) error {
			if err != nil {
				return err
			}
			fi, err := e.Info()
			if err != nil {
				return err
			}
			entries++
			if n, ok := e.Size(); ok && n == fi.Size() {
				bytes += n
			}
			return nil
		})
		if err != nil {
			t.Fatalf("walk: %v", err)
		}
		return entries, bytes
	}
	alloc := func(wantEntries int, wantBytes int64) uint64 {
		least := ^uint64(0)
		for range 3 {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			n, b := walk()
			runtime.ReadMemStats(&after)
			if n != wantEntries || b != wantBytes {
				t.Fatalf("walked %d entries, %d bytes; want %d, %d", n, b, wantEntries, wantBytes)
			}
			least = min(least, after.TotalAlloc-before.TotalAlloc)
		}
		return least
	}
	fd = deepen(t, fd, name, depth, 1000)
	a1 := alloc(depth+1, 1000)
	fd = deepen(t, fd, name, depth, 24)
	a2 := alloc(2*depth+2, 1024)
	t.Logf("the walk allocated %d bytes for %d levels, %d for %d", a1, depth, a2, 2*depth)
	if ratio := float64(a2) / float64(a1); ratio >= 3 {
		t.Errorf("twice the depth took %.1f times the memory (%d bytes, then %d): not linear", ratio, a1, a2)
	}
}
