package homefs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func TestUploadCommit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		dir    string // made first, if set
		p      string
		real   string // where the file lands, relative to the home
		size   int
		stream bool // through io.Copy, in pieces of its choosing
		fsync  bool
	}{
		{name: "small", p: "a.txt", real: "a.txt", size: 11},
		{name: "empty", p: "empty", real: "empty", size: 0},
		{name: "spaces", p: "my file (1).txt", real: "my file (1).txt", size: 100},
		{name: "chinese", dir: "目录", p: "目录/中文 文件.txt", real: "目录/中文 文件.txt", size: 1000},
		{name: "absolute", dir: "docs", p: "/docs/b.bin", real: "docs/b.bin", size: 5},
		{name: "large stream", p: "big.bin", real: "big.bin", size: 1<<20 + 17, stream: true},
		{name: "fsync", p: "synced", real: "synced", size: 4096, fsync: true},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			base := t.TempDir()
			_, f := openHome(t, base, "u", 10<<20, Options{Fsync: tc.fsync})
			if tc.dir != "" {
				if _, err := f.Mkdir(tc.dir, false); err != nil {
					t.Fatal(err)
				}
			}
			content := randomBytes(tc.size, uint64(i))
			u, err := f.BeginUpload(tc.p, int64(tc.size), srcMtime, false, "")
			if err != nil {
				t.Fatal(err)
			}
			if u.Offset() != 0 || u.PrefixSum() != "" || u.Restart() != "" {
				t.Errorf("a new upload: Offset %d, PrefixMD5 %q, Restart %q", u.Offset(), u.PrefixSum(), u.Restart())
			}
			if tc.stream {
				n, err := io.Copy(u, bytes.NewReader(content))
				if err != nil || n != int64(tc.size) {
					t.Fatalf("io.Copy = %d, %v", n, err)
				}
			} else if _, err := u.Write(content); err != nil {
				t.Fatal(err)
			}
			if u.Written() != int64(tc.size) {
				t.Errorf("Written() = %d, want %d", u.Written(), tc.size)
			}
			e, err := u.Commit(md5hex(content))
			if err != nil {
				t.Fatal(err)
			}
			if e.Name != filepath.Base(tc.real) || e.Size != int64(tc.size) || e.Type != 'f' || !e.Mtime.Equal(srcMtime) || e.Mode != "-rw-------" {
				t.Errorf("Commit returned %+v", e)
			}
			real := filepath.Join(base, "u", filepath.FromSlash(tc.real))
			if got := readFile(t, real); !bytes.Equal(got, content) {
				t.Errorf("stored file differs: %d bytes, want %d", len(got), len(content))
			}
			if fi, err := os.Stat(real); err != nil || !fi.ModTime().Equal(srcMtime) {
				t.Errorf("stored file mtime: %v, %v; want %v", fi.ModTime(), err, srcMtime)
			}
			if p := partialFiles(t, filepath.Join(base, "u")); len(p) != 0 {
				t.Errorf("partial files left after commit: %v", p)
			}
			if _, err := os.Stat(filepath.Join(base, "u", filepath.FromSlash(descPath(tc.real)))); !os.IsNotExist(err) {
				t.Errorf("the partial's metadata is left after commit: %v", err)
			}
			checkUsage(t, f, base, "u", int64(tc.size))
			if f.h.reserved != 0 || len(f.h.uploading) != 0 {
				t.Errorf("after commit: reserved %d, uploading %v", f.h.reserved, f.h.uploading)
			}
		})
	}
}

// A zero mtime (the client did not say) leaves the file dated now.
func TestUploadZeroMtime(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	_, f := openHome(t, base, "u", 100, Options{})
	before := time.Now().Add(-time.Minute)
	u, err := f.BeginUpload("f", 1, time.Time{}, false, "")
	if err != nil {
		t.Fatal(err)
	}
	u.Write([]byte("x"))
	e, err := u.Commit(md5hex([]byte("x")))
	if err != nil || e.Mtime.Before(before) {
		t.Errorf("Commit = %+v, %v; want an mtime of about now", e, err)
	}
}

func TestBeginUploadErrors(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	_, f := openHome(t, base, "u", 100, Options{})
	f.Mkdir("dir", false)
	put(t, f, "file", []byte("x"))
	tests := []struct {
		p    string
		size int64
		want error
	}{
		{"dir", 1, ErrIsDir},
		{"/", 1, ErrIsDir},
		{".", 1, ErrIsDir},
		{"missing/f", 1, ErrNotFound},
		{"file/f", 1, ErrNotDir},
		{"f", -1, ErrSize},
	}
	for _, tc := range tests {
		u, err := f.BeginUpload(tc.p, tc.size, srcMtime, false, "")
		if u != nil {
			u.Abort()
		}
		wantKind(t, fmt.Sprintf("BeginUpload(%q, %d)", tc.p, tc.size), err, tc.want)
		checkMessage(t, "BeginUpload", err, base)
	}
	if p := partialFiles(t, filepath.Join(base, "u")); len(p) != 0 {
		t.Errorf("refused uploads left partial files %v", p)
	}
	checkUsage(t, f, base, "u", 1)
}

func TestUploadWrongMD5(t *testing.T) {
	t.Parallel()
	for _, replace := range []bool{false, true} {
		t.Run(fmt.Sprint("replace=", replace), func(t *testing.T) {
			t.Parallel()
			base := t.TempDir()
			_, f := openHome(t, base, "u", 1000, Options{})
			old := []byte("old content")
			put(t, f, "keep", []byte("unrelated"))
			if replace {
				put(t, f, "f", old)
			}
			before, _ := f.Usage()
			content := randomBytes(500, 7)
			u, err := f.BeginUpload("f", 500, srcMtime, false, "")
			if err != nil {
				t.Fatal(err)
			}
			u.Write(content)
			wrong := md5hex(append([]byte{1}, content[1:]...))
			_, err = u.Commit(wrong)
			wantKind(t, "Commit with a wrong md5", err, ErrChecksum)
			checkMessage(t, "Commit", err, base)
			got, statErr := os.ReadFile(filepath.Join(base, "u", "f"))
			switch {
			case replace && !bytes.Equal(got, old):
				t.Errorf("the replaced file is now %q, %v; want it untouched", got, statErr)
			case !replace && !os.IsNotExist(statErr):
				t.Errorf("a file appeared under the final name: %v", statErr)
			}
			if p := partialFiles(t, filepath.Join(base, "u")); len(p) != 0 {
				t.Errorf("the bad partial was kept: %v", p)
			}
			checkUsage(t, f, base, "u", before)
			// The path is free again, and a resume has nothing to resume from.
			u, err = f.BeginUpload("f", 500, srcMtime, true, "")
			if err != nil || u.Offset() != 0 {
				t.Fatalf("BeginUpload after the mismatch: %v, offset %d", err, u.Offset())
			}
			u.Abort()
		})
	}
}

func TestUploadShort(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	_, f := openHome(t, base, "u", 1000, Options{})
	content := randomBytes(10, 3)
	u, err := f.BeginUpload("f", 10, srcMtime, false, "")
	if err != nil {
		t.Fatal(err)
	}
	u.Write(content[:4])
	_, err = u.Commit(md5hex(content))
	wantKind(t, "Commit of 4 of 10 bytes", err, ErrSize)
	if _, err := os.Stat(filepath.Join(base, "u", "f")); !os.IsNotExist(err) {
		t.Errorf("a short upload put a file in place: %v", err)
	}
	p := partialFiles(t, filepath.Join(base, "u"))
	if len(p) != 1 {
		t.Fatalf("partial files %v, want the short one kept", p)
	}
	if b := readFile(t, filepath.Join(base, "u", reserved, partialDir, p[0])); !bytes.Equal(b, content[:4]) {
		t.Errorf("the partial holds %q, want %q", b, content[:4])
	}
	checkUsage(t, f, base, "u", 4)

	// It can be finished later.
	u, err = f.BeginUpload("f", 10, srcMtime, true, "")
	if err != nil || u.Offset() != 4 {
		t.Fatalf("resume: %v, offset %d", err, u.Offset())
	}
	u.Write(content[4:])
	if _, err := u.Commit(md5hex(content)); err != nil {
		t.Fatal(err)
	}
	checkUsage(t, f, base, "u", 10)
}

func TestWriteBeyondSize(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	_, f := openHome(t, base, "u", 1000, Options{})
	u, err := f.BeginUpload("f", 5, srcMtime, false, "")
	if err != nil {
		t.Fatal(err)
	}
	partial := filepath.Join(base, "u", filepath.FromSlash(partialPath("f")))
	steps := []struct {
		data    string
		want    int
		wantErr error
		written int64
	}{
		{"123456", 0, ErrSize, 0},
		{"123", 3, nil, 3},
		{"456", 0, ErrSize, 3},
		{"45", 2, nil, 5},
		{"6", 0, ErrSize, 5},
		{"", 0, nil, 5},
	}
	for _, s := range steps {
		n, err := u.Write([]byte(s.data))
		if s.wantErr != nil {
			wantKind(t, fmt.Sprintf("Write(%q)", s.data), err, s.wantErr)
		} else if err != nil {
			t.Errorf("Write(%q) = %v", s.data, err)
		}
		if n != s.want || u.Written() != s.written {
			t.Errorf("Write(%q) = %d, Written() %d; want %d, %d", s.data, n, u.Written(), s.want, s.written)
		}
		if fi, err := os.Stat(partial); err != nil || fi.Size() != s.written {
			t.Errorf("after Write(%q) the partial file has %v bytes (%v), want %d", s.data, fi.Size(), err, s.written)
		}
	}
	if _, err := u.Commit(md5hex([]byte("12345"))); err != nil {
		t.Fatal(err)
	}
	if b := readFile(t, filepath.Join(base, "u", "f")); string(b) != "12345" {
		t.Errorf("stored %q", b)
	}
	// A finished upload takes nothing more.
	if n, err := u.Write([]byte("x")); err == nil || n != 0 {
		t.Errorf("Write after Commit = %d, %v", n, err)
	}
	if _, err := u.Commit(md5hex([]byte("12345"))); err == nil {
		t.Error("second Commit succeeded")
	}
	u.Abort()
	checkUsage(t, f, base, "u", 5)
}

func TestUploadBusy(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	s, f := openHome(t, base, "u", 1000, Options{})
	g := openAgain(t, s, "u", 1000)
	f.Mkdir("d", false)
	u, err := f.BeginUpload("d/f", 10, srcMtime, false, "")
	if err != nil {
		t.Fatal(err)
	}
	u.Write([]byte("12345"))
	g.Chdir("d")
	for _, p := range []string{"f", "/d/f", "./f", "../d/f"} {
		for _, resume := range []bool{false, true} {
			v, err := g.BeginUpload(p, 10, srcMtime, resume, "")
			if v != nil {
				v.Abort()
			}
			wantKind(t, fmt.Sprintf("second BeginUpload(%q, resume=%v)", p, resume), err, ErrBusy)
		}
	}
	if _, err := f.BeginUpload("d/f", 10, srcMtime, true, ""); !errors.Is(err, ErrBusy) {
		t.Errorf("the same session again: %v, want ErrBusy", err)
	}
	// Another file of the same directory is not busy.
	put(t, g, "other", []byte("x"))
	u.Abort()
	v, err := g.BeginUpload("f", 10, srcMtime, true, "")
	if err != nil {
		t.Fatalf("after Abort: %v", err)
	}
	if v.Offset() != 5 {
		t.Errorf("the other session resumes at %d, want 5", v.Offset())
	}
	v.Write([]byte("67890"))
	if _, err := v.Commit(md5hex([]byte("1234567890"))); err != nil {
		t.Fatal(err)
	}
	if b := readFile(t, filepath.Join(base, "u", "d", "f")); string(b) != "1234567890" {
		t.Errorf("stored %q", b)
	}
	checkUsage(t, f, base, "u", 11)
}

func TestResume(t *testing.T) {
	t.Parallel()
	content := randomBytes(64<<10+1, 11)
	half := len(content) / 2
	later := srcMtime.Add(time.Second)
	tests := []struct {
		name        string
		size        int // declared at the second BeginUpload
		mtime       time.Time
		resume      bool
		wantOffset  int
		wantRestart bool
	}{
		{"same source", len(content), srcMtime, true, half, false},
		{"changed mtime", len(content), later, true, 0, true},
		{"grown", len(content) + 1, srcMtime, true, 0, true},
		{"shrunk below what arrived", half - 1, srcMtime, true, 0, true},
		{"no resume asked", len(content), srcMtime, false, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			base := t.TempDir()
			s, first := openHome(t, base, "u", 1<<20, Options{})
			u, err := first.BeginUpload("f", int64(len(content)), srcMtime, true, "")
			if err != nil {
				t.Fatal(err)
			}
			u.Write(content[:half])
			u.Abort()
			checkUsage(t, first, base, "u", int64(half))

			f := openAgain(t, s, "u", 1<<20) // a later session, as after a reconnect
			final := content
			if tc.size != len(content) {
				final = randomBytes(tc.size, 12)
			}
			u, err = f.BeginUpload("f", int64(tc.size), tc.mtime, tc.resume, "")
			if err != nil {
				t.Fatal(err)
			}
			if u.Offset() != int64(tc.wantOffset) {
				t.Errorf("Offset() = %d, want %d", u.Offset(), tc.wantOffset)
			}
			wantPrefix := ""
			if tc.wantOffset > 0 {
				wantPrefix = md5hex(content[:tc.wantOffset])
			}
			if u.PrefixSum() != wantPrefix {
				t.Errorf("PrefixMD5() = %q, want %q", u.PrefixSum(), wantPrefix)
			}
			if (u.Restart() != "") != tc.wantRestart {
				t.Errorf("Restart() = %q, want it set: %v", u.Restart(), tc.wantRestart)
			}
			if u.Written() != int64(tc.wantOffset) {
				t.Errorf("Written() = %d at the start, want %d", u.Written(), tc.wantOffset)
			}
			// The discarded half no longer counts; the kept one does.
			checkUsage(t, f, base, "u", int64(tc.wantOffset))
			if _, err := io.Copy(u, bytes.NewReader(final[u.Offset():])); err != nil {
				t.Fatal(err)
			}
			e, err := u.Commit(md5hex(final))
			if err != nil {
				t.Fatal(err)
			}
			if !e.Mtime.Equal(tc.mtime) {
				t.Errorf("mtime %v, want %v", e.Mtime, tc.mtime)
			}
			if got := readFile(t, filepath.Join(base, "u", "f")); !bytes.Equal(got, final) {
				t.Errorf("stored file differs from the source (%d bytes, want %d)", len(got), len(final))
			}
			checkUsage(t, f, base, "u", int64(len(final)))
			if p := partialFiles(t, filepath.Join(base, "u")); len(p) != 0 {
				t.Errorf("partial files left: %v", p)
			}
		})
	}
}

// A resume survives a restart of the server: the partial and its metadata are on disk.
func TestResumeAfterRestart(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	content := randomBytes(1000, 5)
	_, f := openHome(t, base, "u", 1<<20, Options{})
	u := begin(t, f, "f", 1000, srcMtime, false)
	u.Write(content[:300])
	u.Abort()
	f.Close()

	_, g := openHome(t, base, "u", 1<<20, Options{})
	if used, _ := g.Usage(); used != 300 {
		t.Errorf("the restarted store counts %d, want the 300-byte partial", used)
	}
	u, err := g.BeginUpload("/f", 1000, srcMtime.In(time.FixedZone("X", 3600)), true, "")
	if err != nil || u.Offset() != 300 || u.PrefixSum() != md5hex(content[:300]) {
		t.Fatalf("resume after restart: %v, offset %d", err, u.Offset())
	}
	u.Write(content[300:])
	if _, err := u.Commit(md5hex(content)); err != nil {
		t.Fatal(err)
	}
	checkUsage(t, g, base, "u", 1000)
}

func TestPartialTTL(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	var skew atomic.Int64 // how far the store's clock is ahead of the real one
	opts := Options{PartialTTL: time.Hour, Now: func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }}
	s, f := openHome(t, base, "u", 1<<20, opts)
	put(t, f, "done", make([]byte, 7))
	old := begin(t, f, "old", 100, srcMtime, false)
	old.Write(make([]byte, 40))
	old.Abort()
	active := begin(t, f, "active", 100, srcMtime, false)
	active.Write(make([]byte, 30))

	// Within the TTL a new session keeps the partial.
	openAgain(t, s, "u", 1<<20)
	if used, _ := f.Usage(); used != 47 || len(partialFiles(t, filepath.Join(base, "u"))) != 2 {
		t.Fatalf("within the TTL: used %d, partials %v", used, partialFiles(t, filepath.Join(base, "u")))
	}

	skew.Store(int64(2 * time.Hour))
	openAgain(t, s, "u", 1<<20)
	if used, _ := f.Usage(); used != 7 {
		t.Errorf("after the TTL: used %d, want 7 (the upload in progress is counted as reserved)", used)
	}
	if p := partialFiles(t, filepath.Join(base, "u")); len(p) != 1 || p[0] != key("active") {
		t.Errorf("partials after the TTL: %v, want only the active one", p)
	}
	if _, err := os.Stat(filepath.Join(base, "u", filepath.FromSlash(descPath("old")))); !os.IsNotExist(err) {
		t.Errorf("the expired partial's metadata is left: %v", err)
	}
	u, err := f.BeginUpload("old", 100, srcMtime, true, "")
	if err != nil || u.Offset() != 0 {
		t.Errorf("resume of an expired partial: %v, offset %d", err, u.Offset())
	}
	u.Abort()
	active.Write(make([]byte, 70))
	if _, err := active.Commit(md5hex(make([]byte, 100))); err != nil {
		t.Fatalf("the active upload after expiry: %v", err)
	}
	checkUsage(t, f, base, "u", 107)

	// A restarted server with its clock past the TTL does the same at its first Open.
	old2 := begin(t, f, "old2", 100, srcMtime, false)
	old2.Write(make([]byte, 50))
	old2.Abort()
	_, g := openHome(t, base, "u", 1<<20, Options{PartialTTL: time.Hour, Now: func() time.Time { return time.Now().Add(2 * time.Hour) }})
	checkUsage(t, g, base, "u", 107)
	if _, err := os.Stat(filepath.Join(base, "u", filepath.FromSlash(descPath("old2")))); !os.IsNotExist(err) {
		t.Errorf("the description of an expired partial upload is left: %v", err)
	}
}

// failingWriter accepts limit bytes in all, then fails as a full disk does.
type failingWriter struct {
	w     io.Writer
	limit *atomic.Int64
}

func (fw failingWriter) Write(p []byte) (int, error) {
	n := min(int64(len(p)), max(fw.limit.Load(), 0))
	fw.limit.Add(-n)
	m, err := fw.w.Write(p[:n])
	if err == nil && m < len(p) {
		err = fmt.Errorf("write /srv/secret/path: %w", syscall.ENOSPC)
	}
	return m, err
}

func TestUploadNoSpace(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	var limit atomic.Int64
	limit.Store(60)
	opts := Options{WrapWriter: func(w io.Writer) io.Writer { return failingWriter{w, &limit} }}
	_, f := openHome(t, base, "u", 1000, opts)
	content := randomBytes(100, 9)
	u, err := f.BeginUpload("f", 100, srcMtime, false, "")
	if err != nil {
		t.Fatal(err)
	}
	var werr error
	for off := 0; off < len(content) && werr == nil; off += 40 {
		_, werr = u.Write(content[off:min(off+40, len(content))])
	}
	wantKind(t, "Write on a full disk", werr, ErrNoSpace)
	if !errors.Is(werr, syscall.ENOSPC) {
		t.Errorf("the cause is lost: %v", werr)
	}
	if werr != nil && bytes.Contains([]byte(werr.Error()), []byte("/srv/secret")) {
		t.Errorf("the message shows the cause's server path: %q", werr)
	}
	if u.Written() != 60 {
		t.Errorf("Written() = %d, want the 60 bytes that reached the disk", u.Written())
	}
	u.Abort()
	checkUsage(t, f, base, "u", 60)
	if f.h.reserved != 0 {
		t.Errorf("reserved %d after Abort", f.h.reserved)
	}
	// Space back: the upload resumes from what reached the disk.
	limit.Store(1 << 20)
	u, err = f.BeginUpload("f", 100, srcMtime, true, "")
	if err != nil || u.Offset() != 60 || u.PrefixSum() != md5hex(content[:60]) {
		t.Fatalf("resume after the full disk: %v, offset %d", err, u.Offset())
	}
	u.Write(content[60:])
	if _, err := u.Commit(md5hex(content)); err != nil {
		t.Fatal(err)
	}
	checkUsage(t, f, base, "u", 100)
}

// A directory made where an upload was going makes the commit fail, and keeps the count true.
func TestCommitOntoNewDirectory(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	s, f := openHome(t, base, "u", 1000, Options{})
	g := openAgain(t, s, "u", 1000)
	u := begin(t, f, "x", 5, srcMtime, false)
	u.Write([]byte("12345"))
	if _, err := g.Mkdir("x", false); err != nil {
		t.Fatal(err)
	}
	_, err := u.Commit(md5hex([]byte("12345")))
	wantKind(t, "Commit onto a directory", err, ErrIsDir)
	if fi, err := os.Stat(filepath.Join(base, "u", "x")); err != nil || !fi.IsDir() {
		t.Errorf("x: %v, %v; want the directory untouched", fi, err)
	}
	// The partial is kept for a retry. (Not checked against a restarted store: the kept partial
	// has the source's mtime by now, so a new Open expires it as old.)
	if used, _ := f.Usage(); used != 5 || len(partialFiles(t, filepath.Join(base, "u"))) != 1 {
		t.Errorf("after the failed commit: used %d, partials %v", used, partialFiles(t, filepath.Join(base, "u")))
	}
	if err := g.Rmdir("x"); err != nil {
		t.Fatal(err)
	}
	u, err = g.BeginUpload("x", 5, srcMtime, true, "")
	if err != nil || u.Offset() != 5 {
		t.Fatalf("retry: %v, offset %d", err, u.Offset())
	}
	if _, err := u.Commit(md5hex([]byte("12345"))); err != nil {
		t.Fatal(err)
	}
	checkUsage(t, f, base, "u", 5)
}

// Abort keeps what arrived for a resume, and nothing if nothing arrived.
func TestAbort(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	home := filepath.Join(base, "u")
	_, f := openHome(t, base, "u", 1000, Options{})
	metaFile := filepath.Join(home, filepath.FromSlash(descPath("f")))

	u, err := f.BeginUpload("f", 10, srcMtime, false, "")
	if err != nil {
		t.Fatal(err)
	}
	u.Abort()
	u.Abort() // twice is harmless
	if p := partialFiles(t, home); len(p) != 0 {
		t.Errorf("an upload aborted before any data left partials %v", p)
	}
	if _, err := os.Stat(metaFile); !os.IsNotExist(err) {
		t.Errorf("an upload aborted before any data left its metadata: %v", err)
	}
	checkUsage(t, f, base, "u", 0)

	u = begin(t, f, "f", 10, srcMtime, true)
	u.Write([]byte("abc"))
	u.Abort()
	// A resumed upload aborted before any new data keeps what was there.
	u = begin(t, f, "f", 10, srcMtime, true)
	if u.Offset() != 3 {
		t.Fatalf("Offset() = %d, want 3", u.Offset())
	}
	u.Abort()
	if p := partialFiles(t, home); len(p) != 1 {
		t.Errorf("partials %v, want the 3-byte one kept", p)
	}
	if _, err := os.Stat(metaFile); err != nil {
		t.Errorf("the kept partial lost its metadata: %v", err)
	}
	checkUsage(t, f, base, "u", 3)
	if _, err := u.Commit(md5hex([]byte("abc"))); err == nil {
		t.Error("Commit after Abort succeeded")
	}
	checkUsage(t, f, base, "u", 3)
}

// An unfinished upload left by a server from before the storage backends (its description in
// .myftp/partial, records in .myftp/sums) is resumed by this one, and the old records go.
func TestResumeLegacyPartial(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	home := filepath.Join(base, "u")
	content := randomBytes(3<<20, 4)
	meta, _ := json.Marshal(partialMeta{Path: "big.bin", Size: int64(len(content)), Mtime: srcMtime})
	writeFile(t, filepath.Join(home, filepath.FromSlash(partialPath("big.bin"))), content[:2<<20])
	writeFile(t, filepath.Join(home, filepath.FromSlash(partialPath("big.bin")+".json")), meta)
	writeFile(t, filepath.Join(home, reserved, "sums", key("a.txt")+".json"), []byte(`{"md5":"x"}`))
	writeFile(t, filepath.Join(home, reserved, "id"), []byte("0123"))
	_, f := openHome(t, base, "u", 1<<30, Options{})
	if _, err := os.Stat(filepath.Join(home, reserved, "sums")); !os.IsNotExist(err) {
		t.Errorf("the old records are left: %v", err)
	}
	checkUsage(t, f, base, "u", 2<<20)
	u := begin(t, f, "big.bin", int64(len(content)), srcMtime, true)
	if u.Offset() != 2<<20 || u.PrefixSum() != md5hex(content[:2<<20]) {
		t.Fatalf("resumed at %d (%q), want 2 MiB", u.Offset(), u.Restart())
	}
	if _, err := u.Write(content[2<<20:]); err != nil {
		t.Fatal(err)
	}
	if _, err := u.Commit(md5hex(content)); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(home, "big.bin")); !bytes.Equal(got, content) {
		t.Error("the resumed file differs")
	}
	checkUsage(t, f, base, "u", int64(len(content)))
}
