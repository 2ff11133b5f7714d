//go:build unix

package homefs

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/myftp/myftp/lib/storage/local/deeptree"
)

// A tree deeper than users can make, and longer than PATH_MAX, made on the server by other means:
// it is measured in full, at a cost in memory that grows with its depth, not its square, and
// users can neither reach into it nor move it.
func TestDeepTree(t *testing.T) {
	// Not parallel: it measures the memory allocated meanwhile.
	const depth = 400
	name := strings.Repeat("d", 100)
	base := t.TempDir()
	home := filepath.Join(base, "deep")
	if err := os.Mkdir(home, 0o700); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Open(home, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { unix.Close(fd) }()

	// Memory: the same count over depth levels, then 2×depth. (Opening each directory by its path
	// from the top, as fs.WalkDir over an os.Root does, took 4.0 times as much for twice the
	// depth.)
	alloc := func(want Usage) uint64 {
		least := ^uint64(0)
		for range 3 {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			u, err := Measure(home)
			runtime.ReadMemStats(&after)
			if u != want || err != nil {
				t.Fatalf("Measure = %+v, %v; want %+v: every file and directory, the bottom ones too", u, err, want)
			}
			least = min(least, after.TotalAlloc-before.TotalAlloc)
		}
		return least
	}
	fd = deeptree.Make(t, fd, name, depth, 1000)
	a1 := alloc(Usage{Bytes: 1000, Files: depth + 1})
	fd = deeptree.Make(t, fd, name, depth, 24)
	a2 := alloc(Usage{Bytes: 1024, Files: 2*depth + 2})
	t.Logf("Measure allocated %d bytes for %d levels, %d for %d", a1, depth, a2, 2*depth)
	if ratio := float64(a2) / float64(a1); ratio >= 3 {
		t.Errorf("twice the depth took %.1f times the memory (%d bytes, then %d): not linear", ratio, a1, a2)
	}

	_, f := openHome(t, base, "deep", 1<<20, Options{})
	if used, _ := f.Usage(); used != 1024 {
		t.Errorf("usage measured at Open: %d, want 1024", used)
	}
	// Users reach into it no further than they could name what they made.
	levels := MaxPathLen / (1 + len(name))
	if _, err := f.Chdir(strings.Repeat("/"+name, levels)); err != nil {
		t.Errorf("Chdir %d levels deep: %v", levels, err)
	}
	if _, err := f.Chdir(strings.Repeat("/"+name, levels+1)); !errors.Is(err, ErrInvalidPath) {
		t.Errorf("Chdir %d levels deep: %v, want ErrInvalidPath", levels+1, err)
	}
	err = f.Rename("/"+name, "/x")
	wantKind(t, "Rename of the deep tree", err, ErrInvalidPath)
	if fi, err := os.Stat(filepath.Join(home, name)); err != nil || !fi.IsDir() {
		t.Errorf("the deep tree after a refused rename: %v", err)
	}
	if used, _ := f.Usage(); used != 1024 {
		t.Errorf("usage after a refused rename: %d, want 1024", used)
	}
}
