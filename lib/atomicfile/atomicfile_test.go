package atomicfile

import (
	"os"
	"path/filepath"
	"runtime"
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
		err := writeFile(path, []byte(`{"new":true}`), 0o600, func(at step) bool { return at == s })
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
