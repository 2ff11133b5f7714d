package homefs

import (
	"os"
	"path/filepath"
	"testing"
)

// A directory that cannot be read is left out of the usage count, and the rest is counted.
func TestScanUnreadable(t *testing.T) {
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
	if u, err := Measure(dir); u != (Usage{Bytes: 3, Files: 3}) || err != nil {
		t.Errorf("scan = %+v, %v; want 3 bytes in 3 entries (locked, open, open/y), what can be read", u, err)
	}
}
