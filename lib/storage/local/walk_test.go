package local

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
func walkPaths(t *testing.T, root *os.Root, dir string, visit func(WalkEntry) error) ([]string, error) {
	t.Helper()
	var got []string
	err := WalkTree(root, dir, func(e WalkEntry, err error) error {
		if err != nil {
			return err
		}
		p := e.Path()
		elems := strings.Split(p, "/")
		if e.PathLen() != len(p) || e.Depth() != len(elems) || elems[len(elems)-1] != e.Name() {
			t.Errorf("%s: pathLen %d, depth %d, name %q", p, e.PathLen(), e.Depth(), e.Name())
		}
		for i := range e.Depth() - 1 {
			if e.Ancestor(i) != elems[i] {
				t.Errorf("%s: ancestor(%d) = %q", p, i, e.Ancestor(i))
			}
		}
		if fi, err := e.Info(); err != nil || fi.Name() != e.Name() || fi.Mode().Type() != e.Type() {
			t.Errorf("%s: Info = %v, %v; listed as %v", p, fi, err, e.Type())
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
		visit func(WalkEntry) error
		want  []string
	}{
		{"all", ".", nil, all},
		{"from a directory", "a", nil, inA},
		{"skip a directory", ".", func(e WalkEntry) error {
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
		_, err := walkPaths(t, root, ".", func(WalkEntry) error {
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
// visit says so.
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
	err = WalkTree(root, ".", func(e WalkEntry, err error) error {
		if err != nil {
			failed = append(failed, e.Path())
		}
		return nil
	})
	if err != nil || !slices.Equal(failed, []string{"locked"}) {
		t.Errorf("walk: %v; failed on %q, want [locked]", err, failed)
	}
}

func writeFile(t testing.TB, name string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, data, 0o600); err != nil {
		t.Fatal(err)
	}
}
