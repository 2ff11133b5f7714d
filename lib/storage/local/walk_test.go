package homefs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// walkPaths walks dir of root and returns the path of every entry visited, checking that what the
// walker says of an entry without building its path agrees with the path.
func walkPaths(t *testing.T, root *os.Root, dir string, visit func(walkEntry) error) ([]string, error) {
	t.Helper()
	var got []string
	err := walkTree(root, dir, func(e walkEntry, err error) error {
		if err != nil {
			return err
		}
		p := e.path()
		elems := strings.Split(p, "/")
		if e.pathLen() != len(p) || e.depth() != len(elems) || elems[len(elems)-1] != e.Name() {
			t.Errorf("%s: pathLen %d, depth %d, name %q", p, e.pathLen(), e.depth(), e.Name())
		}
		for i := range e.depth() - 1 {
			if e.ancestor(i) != elems[i] {
				t.Errorf("%s: ancestor(%d) = %q", p, i, e.ancestor(i))
			}
		}
		if e.IsDir() {
			p += "/"
		}
		got = append(got, p)
		if visit == nil {
			return nil
		}
		return visit(e)
	})
	slices.Sort(got)
	return got, err
}

func TestWalkTree(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a", "b", "c.txt"), []byte("c"))
	writeFile(t, filepath.Join(dir, "a", "d.txt"), []byte("d"))
	writeFile(t, filepath.Join(dir, "e", "f.txt"), []byte("f"))
	if err := os.Mkdir(filepath.Join(dir, "empty"), 0o700); err != nil {
		t.Fatal(err)
	}
	many := make([]string, walkBatch+10) // more than one batch
	for i := range many {
		many[i] = fmt.Sprintf("many/%03d", i)
		writeFile(t, filepath.Join(dir, many[i]), nil)
	}
	links := os.Symlink("a", filepath.Join(dir, "link")) == nil && os.Symlink("..", filepath.Join(dir, "a", "up")) == nil
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()

	all := append([]string{"a/", "a/b/", "a/b/c.txt", "a/d.txt", "e/", "e/f.txt", "empty/", "many/"}, many...)
	inA := []string{"b/", "b/c.txt", "d.txt"}
	if links {
		all = append(all, "a/up", "link") // listed, not followed
		inA = append(inA, "up")
	}
	slices.Sort(all)
	tests := []struct {
		name  string
		dir   string
		visit func(walkEntry) error
		want  []string
	}{
		{"all", ".", nil, all},
		{"from a directory", "a", nil, inA},
		{"skip a directory", ".", func(e walkEntry) error {
			if e.Name() == "many" || e.Name() == "b" {
				return fs.SkipDir
			}
			return nil
		}, slices.DeleteFunc(slices.Clone(all), func(p string) bool {
			return strings.HasPrefix(p, "many/") && p != "many/" || strings.HasPrefix(p, "a/b/") && p != "a/b/"
		})},
	}
	for _, tc := range tests {
		got, err := walkPaths(t, root, tc.dir, tc.visit)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}

	// SkipAll ends the walk without an error; another error ends it with that error.
	stop := errors.New("stop")
	for _, end := range []error{fs.SkipAll, stop} {
		n := 0
		_, err := walkPaths(t, root, ".", func(walkEntry) error {
			if n++; n == 3 {
				return end
			}
			return nil
		})
		if n != 3 || (end == stop) != errors.Is(err, stop) || (end == fs.SkipAll && err != nil) {
			t.Errorf("returning %v from the third visit: %d visits, error %v", end, n, err)
		}
	}
	if _, err := walkPaths(t, root, "a/d.txt", nil); err == nil {
		t.Error("walking a file: no error")
	}
	if _, err := walkPaths(t, root, "missing", nil); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("walking a missing directory: %v", err)
	}
}

// A directory that cannot be opened is reported to visit with its entry; the walk goes on if
// visit says so, and the usage count leaves it out.
func TestWalkUnreadable(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "locked", "x"), []byte("xx"))
	writeFile(t, filepath.Join(dir, "open", "y"), []byte("yyy"))
	locked := filepath.Join(dir, "locked")
	if err := os.Chmod(locked, 0); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(locked, 0o700)
	if f, err := os.Open(locked); err == nil {
		f.Close()
		t.Skip("a directory of mode 0 can be read (running as root?)")
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	var failed []string
	err = walkTree(root, ".", func(e walkEntry, err error) error {
		if err != nil {
			failed = append(failed, e.path())
		}
		return nil
	})
	if err != nil || !slices.Equal(failed, []string{"locked"}) {
		t.Errorf("walk: %v; failed on %q, want [locked]", err, failed)
	}
	if u, _, err := scan(root); u != (Usage{Bytes: 3, Files: 3}) || err != nil {
		t.Errorf("scan = %+v, %v; want 3 bytes in 3 entries (locked, open, open/y), what can be read", u, err)
	}
}
