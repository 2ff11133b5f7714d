package homefs

import (
	"crypto/md5"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// srcMtime is the modification time of the "client's source file" in the tests: whole seconds, so
// that every file system keeps it exactly.
var srcMtime = time.Date(2024, 3, 15, 10, 30, 0, 0, time.UTC)

func md5hex(b []byte) string {
	sum := md5.Sum(b)
	return hex.EncodeToString(sum[:])
}

// openHome opens home under a new store on base with the given quota.
func openHome(t testing.TB, base, home string, quota int64, opts Options) (*Store, *FS) {
	t.Helper()
	s := NewStore(base, opts)
	f, err := s.Open(home, quota)
	if err != nil {
		t.Fatalf("Open(%q): %v", home, err)
	}
	t.Cleanup(func() { f.Close() })
	return s, f
}

// openAgain opens a second session on a home of an existing store.
func openAgain(t testing.TB, s *Store, home string, quota int64) *FS {
	t.Helper()
	f, err := s.Open(home, quota)
	if err != nil {
		t.Fatalf("Open(%q): %v", home, err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// begin starts an upload that must be accepted.
func begin(t testing.TB, f *FS, p string, size int64, mtime time.Time, resume bool) *Upload {
	t.Helper()
	u, err := f.BeginUpload(p, size, mtime, resume, "")
	if err != nil {
		t.Fatalf("BeginUpload(%q, %d): %v", p, size, err)
	}
	return u
}

// put uploads content to p in one piece and commits it with the right md5.
func put(t testing.TB, f *FS, p string, content []byte) Entry {
	t.Helper()
	u, err := f.BeginUpload(p, int64(len(content)), srcMtime, false, "")
	if err != nil {
		t.Fatalf("BeginUpload(%q): %v", p, err)
	}
	if n, err := u.Write(content); err != nil || n != len(content) {
		u.Abort()
		t.Fatalf("Write(%q) = %d, %v", p, n, err)
	}
	e, err := u.Commit(md5hex(content))
	if err != nil {
		t.Fatalf("Commit(%q): %v", p, err)
	}
	return e
}

// measured is the usage a freshly started server measures for home: what a restart would see.
func measured(t testing.TB, base, home string) int64 {
	t.Helper()
	s := NewStore(base, Options{})
	f, err := s.Open(home, 1<<40)
	if err != nil {
		t.Fatalf("Open(%q) on a new store: %v", home, err)
	}
	defer f.Close()
	used, _ := f.Usage()
	return used
}

// checkUsage fails unless the running count of f equals want and what a restart would measure.
func checkUsage(t testing.TB, f *FS, base, home string, want int64) {
	t.Helper()
	used, _ := f.Usage()
	if used != want {
		t.Errorf("Usage() used = %d, want %d", used, want)
	}
	if m := measured(t, base, home); m != used {
		t.Errorf("a restarted store measures %d bytes, the running count is %d", m, used)
	}
}

// wantKind fails unless err wraps kind.
func wantKind(t testing.TB, what string, err, kind error) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Errorf("%s: error %v, want one wrapping %q", what, err, kind)
	}
}

// partialFiles lists the partial uploads (not their .json metadata) kept in the home dir.
func partialFiles(t testing.TB, homeDir string) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(homeDir, reserved, partialDir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".json") {
			names = append(names, e.Name())
		}
	}
	return names
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

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The local backend's layout of the server's records in a home, relative to the home.
const partialDir = "partial"

// partialPath is the data of the unfinished upload of rel.
func partialPath(rel string) string { return path.Join(reserved, partialDir, key(rel)) }

// descPath is the description of the unfinished upload of rel.
func descPath(rel string) string { return path.Join(reserved, "meta", metaKey(key(rel))) }

// recordPath is the checksum record of rel where the filesystem keeps no extended attributes.
func recordPath(rel string) string { return path.Join(reserved, "records", rel) }
