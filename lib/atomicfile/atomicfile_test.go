package atomicfile

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

func TestWriteFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.json")
	if err := WriteFile(path, []byte("one"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(path, []byte("two"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil || string(got) != "two" {
		t.Fatalf("content = %q, %v", got, err)
	}
	if runtime.GOOS != "windows" {
		fi, _ := os.Stat(path)
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("mode = %v, want 0600", fi.Mode().Perm())
		}
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the target", len(entries))
	}
}

// TestCrashAtEveryStep abandons a replacement at each step, as a crash would, and checks that the
// target then holds either the whole old or the whole new content, and that leftovers are
// recognised by IsTemp.
func TestCrashAtEveryStep(t *testing.T) {
	for s := afterCreate; s <= afterRename; s++ {
		dir := t.TempDir()
		path := filepath.Join(dir, "acct.json")
		if err := WriteFile(path, []byte(`{"old":true}`), 0o600); err != nil {
			t.Fatal(err)
		}
		err := writeFile(path, []byte(`{"new":true}`), 0o600, os.Rename, func(at step) bool { return at == s })
		if err != nil {
			t.Fatalf("step %d: %v", s, err)
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("step %d: target unreadable: %v", s, err)
		}
		want := `{"old":true}`
		if s == afterRename {
			want = `{"new":true}`
		}
		if string(got) != want {
			t.Errorf("crash after step %d: target = %q, want %q", s, got, want)
		}
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if e.Name() != "acct.json" && !IsTemp(e.Name()) {
				t.Errorf("leftover %q is not recognised by IsTemp", e.Name())
			}
		}
	}
}

func TestWriteFileMissingDir(t *testing.T) {
	if err := WriteFile(filepath.Join(t.TempDir(), "no", "such"), nil, 0o600); err == nil {
		t.Fatal("write into a missing directory succeeded")
	}
}

// TestCreateExactlyOnce: of several writers creating one file at once, exactly one succeeds, the
// others get fs.ErrExist, the file holds the winner's whole content, and no temporary file stays.
func TestCreateExactlyOnce(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "key.pem")
	const writers = 8
	errs := make(chan error, writers)
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() { errs <- Create(path, bytes.Repeat([]byte{byte('a' + i)}, 4096), 0o600) })
	}
	wg.Wait()
	close(errs)
	won := 0
	for err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, fs.ErrExist):
			t.Errorf("a losing Create: %v, want fs.ErrExist", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d writers created the file, want 1", won)
	}
	got, err := os.ReadFile(path)
	if err != nil || len(got) != 4096 || !bytes.Equal(got, bytes.Repeat(got[:1], 4096)) {
		t.Fatalf("the file holds %d bytes of mixed content (%v)", len(got), err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("directory holds %d entries, want only the file", len(ents))
	}
}
