package homefs

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/myftp/myftp/lib/storage/local"
)

// TestRecordsBothWays: checksum records behave the same whether they live in the files' extended
// attributes or in .myftp/sums (filesystems without user attributes): they follow a file through
// renames of it and of its directory, survive a change of its time made through the server, are
// not trusted for a new file of the same name, and go with a removed file. Where attributes work,
// storing a file creates no record file.
func TestRecordsBothWays(t *testing.T) {
	t.Parallel()
	for _, noTags := range []bool{false, true} {
		name := "attributes"
		if noTags {
			name = "sums directory"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			base := t.TempDir()
			s := New(local.New(base, local.Options{NoXattrs: noTags}), Options{})
			f, err := s.Open("u", 1<<30)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { f.Close() })
			recorded := func(p, want string) {
				t.Helper()
				d, err := f.OpenDownload(p)
				if err != nil {
					t.Fatal(err)
				}
				defer d.Close()
				if got := d.Recorded("md5"); got != want {
					t.Errorf("%s: recorded md5 %q, want %q", p, got, want)
				}
			}
			a, b := []byte("first file"), []byte("second file, other size")
			if _, err := f.Mkdir("d", false); err != nil {
				t.Fatal(err)
			}
			put(t, f, "d/a.txt", a)
			recorded("d/a.txt", md5hex(a))
			var records []string
			if _, err := os.Stat(filepath.Join(base, "u", filepath.FromSlash(recordPath("d/a.txt")))); err == nil {
				records = append(records, "d/a.txt")
			}
			probe := filepath.Join(base, "probe")
			writeFile(t, probe, nil)
			pf, err := os.Open(probe)
			if err != nil {
				t.Fatal(err)
			}
			tagsWork := local.SetTag(pf, "user.myftp.sums", []byte("{}")) == nil
			pf.Close()
			if err := f.Rename("d/a.txt", "d/b.txt"); err != nil {
				t.Fatal(err)
			}
			recorded("d/b.txt", md5hex(a))
			if err := f.Rename("d", "e"); err != nil {
				t.Fatal(err)
			}
			recorded("e/b.txt", md5hex(a))
			if err := f.Chtimes("e/b.txt", time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)); err != nil {
				t.Fatal(err)
			}
			recorded("e/b.txt", md5hex(a))
			if err := f.Remove("e/b.txt"); err != nil {
				t.Fatal(err)
			}
			// A new file of the same name, written behind the server's back, is not the old one.
			writeFile(t, filepath.Join(base, "u", "e", "b.txt"), b)
			recorded("e/b.txt", "")
			if !noTags && tagsWork && len(records) != 0 {
				t.Errorf("records written as files although the filesystem keeps attributes: %v", records)
			}
			if noTags && len(records) == 0 {
				t.Error("no record file written without attributes")
			}
		})
	}
}
