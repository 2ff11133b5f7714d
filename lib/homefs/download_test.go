package homefs

import (
	"bytes"
	"encoding/hex"
	"hash"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func readAll(t *testing.T, d *Download) []byte {
	t.Helper()
	b, err := io.ReadAll(d)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDownloadMD5Record(t *testing.T) {
	t.Parallel()
	content := randomBytes(3000, 21)
	changed := randomBytes(3000, 22)
	tests := []struct {
		name   string
		change func(t *testing.T, real string) // what happens to the file on disk after the upload
		want   string                          // MD5 of the download
		data   []byte
	}{
		{"untouched", func(*testing.T, string) {}, md5hex(content), content},
		{"rewritten, other size", func(t *testing.T, real string) {
			writeFile(t, real, changed[:10])
		}, "", changed[:10]},
		{"rewritten, same size and mtime", func(t *testing.T, real string) {
			writeFile(t, real, changed)
			// Same size and time, but a new inode: the record must not be trusted.
			tmp := real + ".new"
			writeFile(t, tmp, changed)
			os.Chtimes(tmp, time.Time{}, srcMtime)
			if err := os.Rename(tmp, real); err != nil {
				t.Fatal(err)
			}
		}, "", changed},
		{"same inode, touched", func(t *testing.T, real string) {
			if err := os.Chtimes(real, time.Time{}, srcMtime.Add(time.Second)); err != nil {
				t.Fatal(err)
			}
		}, "", content},
		{"same inode, rewritten in place", func(t *testing.T, real string) {
			if err := os.WriteFile(real, changed, 0o600); err != nil {
				t.Fatal(err)
			}
		}, "", changed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			base := t.TempDir()
			_, f := openHome(t, base, "u", 1<<20, Options{})
			put(t, f, "f", content)
			real := filepath.Join(base, "u", "f")
			tc.change(t, real)

			d, err := f.OpenDownload("f")
			if err != nil {
				t.Fatal(err)
			}
			if d.Recorded("md5") != tc.want {
				t.Errorf("MD5 = %q, want %q", d.Recorded("md5"), tc.want)
			}
			got := readAll(t, d)
			if !bytes.Equal(got, tc.data) || d.Info.Size != int64(len(tc.data)) || d.Info.Name != "f" || d.Info.Type != 'f' {
				t.Errorf("download: %d bytes, Info %+v; want %d bytes", len(got), d.Info, len(tc.data))
			}
			// The sender hashed while sending and records it; the next download has it.
			f.Record(d, md5Of(f, got))
			d.Close()
			d, err = f.OpenDownload("/f")
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			if d.Recorded("md5") != md5hex(tc.data) {
				t.Errorf("after RecordMD5: MD5 = %q, want %q", d.Recorded("md5"), md5hex(tc.data))
			}
		})
	}
}

// A record computed from a file that changed while it was sent is not stored.
func TestRecordMD5IgnoredAfterChange(t *testing.T) {
	t.Parallel()
	first := []byte("first content")
	tests := []struct {
		name   string
		change func(t *testing.T, real string)
	}{
		{"rewritten, other size", func(t *testing.T, real string) {
			writeFile(t, real, []byte("second, longer content"))
		}},
		{"replaced, same size and mtime", func(t *testing.T, real string) {
			fi, err := os.Stat(real)
			if err != nil {
				t.Fatal(err)
			}
			tmp := real + ".tmp"
			writeFile(t, tmp, []byte("other content"))
			if err := os.Chtimes(tmp, time.Time{}, fi.ModTime()); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, real); err != nil {
				t.Fatal(err)
			}
		}},
		{"removed", func(t *testing.T, real string) {
			if err := os.Remove(real); err != nil {
				t.Fatal(err)
			}
			writeFile(t, real, nil)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			base := t.TempDir()
			_, f := openHome(t, base, "u", 1<<20, Options{})
			real := filepath.Join(base, "u", "f")
			writeFile(t, real, first)
			d, err := f.OpenDownload("f")
			if err != nil {
				t.Fatal(err)
			}
			if d.Recorded("md5") != "" {
				t.Errorf("a file never uploaded has MD5 %q", d.Recorded("md5"))
			}
			sent := readAll(t, d)
			d.Close()
			tc.change(t, real)
			f.Record(d, md5Of(f, sent))
			d, err = f.OpenDownload("f")
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			if d.Recorded("md5") != "" {
				t.Errorf("MD5 = %q: the record of the older content was stored", d.Recorded("md5"))
			}
		})
	}
}

// A download already open reads the old content whole while an upload replaces the file.
func TestDownloadDuringReplace(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	s, f := openHome(t, base, "u", 1<<20, Options{})
	g := openAgain(t, s, "u", 1<<20)
	old := randomBytes(200<<10, 31)
	fresh := randomBytes(100<<10, 32)
	put(t, f, "f", old)
	d, err := f.OpenDownload("f")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	first := make([]byte, 50<<10)
	if _, err := io.ReadFull(d, first); err != nil {
		t.Fatal(err)
	}
	put(t, g, "f", fresh)
	rest := readAll(t, d)
	if got := append(first, rest...); !bytes.Equal(got, old) {
		t.Errorf("the open download read %d bytes that differ from the old file", len(got))
	}
	if d.Recorded("md5") != md5hex(old) {
		t.Errorf("the open download's MD5 changed to %q", d.Recorded("md5"))
	}
	// Recording the old md5 now must not label the new file.
	f.Record(d, md5Of(f, old))
	e, err := g.OpenDownload("f")
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if got := readAll(t, e); !bytes.Equal(got, fresh) || e.Recorded("md5") != md5hex(fresh) {
		t.Errorf("a new download: %d bytes, MD5 %q; want the new file and its md5", len(got), e.Recorded("md5"))
	}
	checkUsage(t, f, base, "u", int64(len(fresh)))
}

func TestOpenDownloadErrors(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	_, f := openHome(t, base, "u", 1<<20, Options{})
	f.Mkdir("dir", false)
	put(t, f, "file", []byte("x"))
	for p, want := range map[string]error{
		"dir":       ErrIsDir,
		"/":         ErrIsDir,
		"":          ErrIsDir, // the current directory
		"missing":   ErrNotFound,
		"file/x":    ErrNotDir,
		"/.myftp":   ErrInvalidPath,
		"../file":   ErrOutside,
		"dir/../..": ErrOutside,
	} {
		d, err := f.OpenDownload(p)
		if d != nil {
			d.Close()
		}
		wantKind(t, "OpenDownload("+p+")", err, want)
		checkMessage(t, "OpenDownload", err, base)
	}
}

// TestDirectoryRenameMovesMD5Records: the md5 records of the files in a renamed directory follow
// them. A record left under the old path would be trusted for another file that later takes that
// path with the same size and time (and a reused inode number), so that file could never be
// downloaded intact.
func TestDirectoryRenameMovesMD5Records(t *testing.T) {
	t.Parallel()
	_, f := openHome(t, t.TempDir(), "u", 1<<20, Options{})
	a, b := bytes.Repeat([]byte("a"), 64), bytes.Repeat([]byte("b"), 64)
	for _, d := range []string{"d", "d/sub", "g"} {
		if _, err := f.Mkdir(d, false); err != nil {
			t.Fatal(err)
		}
	}
	put(t, f, "d/x", a)
	put(t, f, "d/sub/y", a)
	if err := f.Rename("d", "e"); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"e/x", "e/sub/y"} {
		if got := downloadMD5(t, f, p); got != md5hex(a) {
			t.Errorf("%s after the directory rename: recorded md5 %q, want %s", p, got, md5hex(a))
		}
	}

	// Another file of the same size and time comes to d/x by a directory rename too.
	if err := f.Remove("e/x"); err != nil {
		t.Fatal(err)
	}
	put(t, f, "g/x", b)
	if err := f.Rename("g", "d"); err != nil {
		t.Fatal(err)
	}
	if got := downloadMD5(t, f, "d/x"); got != md5hex(b) {
		t.Errorf("d/x, now other content: recorded md5 %q, want %s (its own)", got, md5hex(b))
	}
}

// downloadMD5 opens p for download and returns the md5 the server would announce.
func downloadMD5(t *testing.T, f *FS, p string) string {
	t.Helper()
	d, err := f.OpenDownload(p)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	return d.Recorded("md5")
}

// md5Of returns a hash from f.NewMD5 that has hashed b, as a sender's would.
func md5Of(f *FS, b []byte) hash.Hash {
	h := f.NewHash("")
	h.Write(b)
	return h
}

// TestResumeDownload: a download resumes where the client's partial file ends when its checksum
// matches the file's first bytes, and restarts at 0, saying why, when it does not or when the
// partial is longer than the file; the hash returned continues from where the data starts.
func TestResumeDownload(t *testing.T) {
	t.Parallel()
	_, f := openHome(t, t.TempDir(), "u", 1<<30, Options{})
	data := randomBytes(300_000, 40)
	put(t, f, "a.bin", data)
	d, err := f.OpenDownload("a.bin")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	sum := func(b []byte) string {
		h := f.NewHash("sha256")
		h.Write(b)
		return hex.EncodeToString(h.Sum(nil))
	}
	for _, tc := range []struct {
		what      string
		offset    int64
		prefix    string
		start     int64
		restarted bool
	}{
		{"no partial", 0, "", 0, false},
		{"a true prefix", 123_456, sum(data[:123_456]), 123_456, false},
		{"another file's bytes", 1000, sum(make([]byte, 1000)), 0, true},
		{"longer than the file", int64(len(data)) + 1, sum(append(data, 0)), 0, true},
		{"the whole file", int64(len(data)), sum(data), int64(len(data)), false},
	} {
		h, start, restart, err := f.ResumeDownload(d, tc.offset, tc.prefix, "sha256")
		if err != nil || start != tc.start || (restart != "") != tc.restarted {
			t.Errorf("%s: start %d, restart %q, %v; want start %d", tc.what, start, restart, err, tc.start)
			continue
		}
		h.Write(data[start:])
		if got := hex.EncodeToString(h.Sum(nil)); got != sum(data) {
			t.Errorf("%s: the hash continued from %d gives %s, want the file's %s", tc.what, start, got, sum(data))
		}
	}
}
