package admin

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/myftp/myftp/conf"
	"github.com/myftp/myftp/lib/homefs"
)

func writeFile(t *testing.T, path string, size int) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, make([]byte, size), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestDiskUsage(t *testing.T) {
	dir := t.TempDir()
	home := filepath.Join(dir, "home")
	writeFile(t, filepath.Join(home, "a"), 1000)
	writeFile(t, filepath.Join(home, "sub", "deeper", "b"), 24)
	writeFile(t, filepath.Join(home, ".partial-x"), 1)
	writeFile(t, filepath.Join(dir, "outside"), 1<<20)
	files := int64(6) // a, sub, sub/deeper, sub/deeper/b, .partial-x, link
	if err := os.Symlink(filepath.Join(dir, "outside"), filepath.Join(home, "link")); err != nil {
		t.Logf("no symbolic link: %v", err)
		files--
	}
	if u, err := homefs.Measure(home); u != (homefs.Usage{Bytes: 1025, Files: files}) || err != nil {
		t.Errorf("diskUsage = %+v, %v; want 1025 bytes (regular files only, links not followed) in %d entries", u, err, files)
	}
	if _, err := homefs.Measure(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("diskUsage of a missing home: %v, want fs.ErrNotExist", err)
	}
}

func TestRemovableHome(t *testing.T) {
	root := t.TempDir()
	s, err := conf.Defaults(root)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{settings: s}
	writeFile(t, filepath.Join(root, "file_upload", "alice", "f"), 1)
	writeFile(t, filepath.Join(root, "outside", "f"), 1)
	if dir, exists, err := e.removableHome("alice"); err != nil || !exists || dir != filepath.Join(root, "file_upload", "alice") {
		t.Errorf("alice: %q, %v, %v", dir, exists, err)
	}
	if _, exists, err := e.removableHome("bob"); err != nil || exists {
		t.Errorf("missing bob: exists %v, %v; want no error", exists, err)
	}
	links := map[string]string{
		"eve":   filepath.Join(root, "outside"),
		"all":   filepath.Join(root, "file_upload"),
		"alias": filepath.Join(root, "file_upload", "alice"),
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(root, "file_upload", name)); err != nil {
			t.Skipf("no symbolic links: %v", err)
		}
	}
	for _, name := range []string{"eve", "all"} {
		if _, _, err := e.removableHome(name); err == nil || !strings.Contains(err.Error(), "refusing to remove") {
			t.Errorf("%s, a link out of the upload directory: %v; want a refusal", name, err)
		}
	}
	// A link that stays inside is removed as a link: RemoveAll does not follow it.
	if _, _, err := e.removableHome("alias"); err != nil {
		t.Errorf("alias: %v", err)
	}
}

// TestDiskUsageSkipsReserved checks that the server's .myftp directory at the top of a home counts
// as the server's quotas do: its unfinished uploads count (two entries each: data and
// description), its id and records do not.
func TestDiskUsageSkipsReserved(t *testing.T) {
	home := filepath.Join(t.TempDir(), "home")
	writeFile(t, filepath.Join(home, ".myftp", "meta", "id"), 32)
	writeFile(t, filepath.Join(home, ".myftp", "records", "a"), 200)
	writeFile(t, filepath.Join(home, ".myftp", "meta", "partial", "k2.json"), 300)
	writeFile(t, filepath.Join(home, ".myftp", "partial", "k2"), 1000) // an unfinished upload
	writeFile(t, filepath.Join(home, "a"), 20)
	writeFile(t, filepath.Join(home, "sub", ".myftp", "b"), 4) // only the top one is reserved
	// a, sub, sub/.myftp, sub/.myftp/b, and the unfinished upload's data and description
	if u, err := homefs.Measure(home); u != (homefs.Usage{Bytes: 1024, Files: 6}) || err != nil {
		t.Errorf("diskUsage = %+v, %v; want 1024 bytes in 6 entries: files, nested .myftp and unfinished uploads only", u, err)
	}
	empty := filepath.Join(t.TempDir(), "empty")
	writeFile(t, filepath.Join(empty, ".myftp", "meta", "id"), 32)
	if u, err := homefs.Measure(empty); u != (homefs.Usage{}) || err != nil {
		t.Errorf("diskUsage of a home holding only the server's id file = %+v, %v; want nothing", u, err)
	}
}
