//go:build unix

package local

import (
	"os"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/myftp/myftp/lib/storage/local/deeptree"
)

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
	fd = deeptree.Make(t, fd, name, depth, 1000)
	a1 := alloc(depth+1, 1000)
	fd = deeptree.Make(t, fd, name, depth, 24)
	a2 := alloc(2*depth+2, 1024)
	t.Logf("the walk allocated %d bytes for %d levels, %d for %d", a1, depth, a2, 2*depth)
	if ratio := float64(a2) / float64(a1); ratio >= 3 {
		t.Errorf("twice the depth took %.1f times the memory (%d bytes, then %d): not linear", ratio, a1, a2)
	}
}
