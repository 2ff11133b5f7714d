package homefs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestOpenMeasuresUsage(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	home := filepath.Join(base, "u")
	meta, _ := json.Marshal(partialMeta{Path: "big.iso", Size: 100, Mtime: srcMtime})
	files := []struct {
		name    string
		size    int
		counted bool
	}{
		{"a.txt", 10, true},
		{"dir/sub/b.bin", 20, true},
		{"notes.json", 3, true}, // a user's .json is a file like any other
		{"docs/.myftp/x", 4, true},
		{partialPath("big.iso"), 30, true}, // an unfinished upload takes space
		{descPath("big.iso"), len(meta), false},
		{recordPath("a.txt"), 7, false},
		{recordPath("gone.txt"), 9, false},
		{recordPath("b.txt") + ".tmp", 11, false}, // left by a record write that was interrupted
	}
	var want int64
	for _, fl := range files {
		data := bytes.Repeat([]byte("x"), fl.size)
		if strings.HasSuffix(fl.name, descPath("big.iso")) {
			data = meta
		}
		writeFile(t, filepath.Join(home, filepath.FromSlash(fl.name)), data)
		if fl.counted {
			want += int64(fl.size)
		}
	}
	if err := os.MkdirAll(filepath.Join(home, "empty"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("a.txt", filepath.Join(home, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("dir", filepath.Join(home, "dirlink")); err != nil {
		t.Fatal(err)
	}
	_, f := openHome(t, base, "u", 1000, Options{})
	used, quota := f.Usage()
	if used != want || quota != 1000 {
		t.Errorf("Usage() = %d, %d; want %d, 1000", used, quota, want)
	}
	// Another session of the same store reuses the count, with the quota it is opened with.
	s2, _ := openHome(t, base, "u", 1000, Options{})
	g := openAgain(t, s2, "u", 2000)
	if used, quota := g.Usage(); used != want || quota != 2000 {
		t.Errorf("second session: Usage() = %d, %d; want %d, 2000", used, quota, want)
	}
}

func TestOpenHome(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	s := NewStore(base, Options{})
	f, err := s.Open("homes/new", 10)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	fi, err := os.Stat(filepath.Join(base, "homes", "new"))
	if err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Errorf("the new home: %v, %v; want a 0700 directory", fi, err)
	}
	for _, bad := range []string{"", ".", "..", "../x", "/abs", "a/../../x"} {
		if f, err := s.Open(bad, 10); err == nil {
			f.Close()
			t.Errorf("Open(%q) succeeded", bad)
		}
	}
	// Spellings of one home share one count.
	a := openAgain(t, s, "homes/new", 100)
	b := openAgain(t, s, "./homes//new/", 100)
	put(t, a, "f", []byte("12345"))
	if used, _ := b.Usage(); used != 5 {
		t.Errorf("the other session of the home sees %d bytes used, want 5", used)
	}
}

func TestQuotaExactFit(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	_, f := openHome(t, base, "u", 100, Options{FormatSize: func(n int64) string { return fmt.Sprintf("%dB", n) }})
	put(t, f, "old", make([]byte, 40))

	_, err := f.BeginUpload("big", 61, srcMtime, false, "")
	wantKind(t, "BeginUpload of one byte more than free", err, ErrQuota)
	if err != nil {
		msg := err.Error()
		for _, part := range []string{"/big", "used 40B", "of 100B", "needs 61B"} {
			if !strings.Contains(msg, part) {
				t.Errorf("quota message %q does not say %q", msg, part)
			}
		}
	}
	if _, err := os.Lstat(filepath.Join(base, "u", "big")); !os.IsNotExist(err) {
		t.Errorf("the refused upload created its target: %v", err)
	}
	if p := partialFiles(t, filepath.Join(base, "u")); len(p) != 0 {
		t.Errorf("the refused upload left partial files %v", p)
	}
	checkUsage(t, f, base, "u", 40)

	put(t, f, "big", make([]byte, 60))
	checkUsage(t, f, base, "u", 100)
	put(t, f, "empty", nil) // nothing more needed: a full home still takes empty files
	_, err = f.BeginUpload("one", 1, srcMtime, false, "")
	wantKind(t, "BeginUpload on a full home", err, ErrQuota)
	checkUsage(t, f, base, "u", 100)
}

func TestQuotaReplace(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	_, f := openHome(t, base, "u", 100, Options{})
	put(t, f, "f", make([]byte, 50))

	// Replacing a 50-byte file with 100 bytes needs 50 more: it fits.
	put(t, f, "f", bytes.Repeat([]byte("n"), 100))
	checkUsage(t, f, base, "u", 100)
	if b := readFile(t, filepath.Join(base, "u", "f")); len(b) != 100 || b[0] != 'n' {
		t.Errorf("f after replacement: %d bytes", len(b))
	}
	// One byte more than the file it replaces does not fit.
	_, err := f.BeginUpload("f", 101, srcMtime, false, "")
	wantKind(t, "BeginUpload(f, 101)", err, ErrQuota)
	if err != nil && !strings.Contains(err.Error(), "needs 1 bytes") {
		t.Errorf("message %q: the upload needs 1 byte more", err)
	}
	// A smaller replacement frees the difference.
	put(t, f, "f", make([]byte, 30))
	checkUsage(t, f, base, "u", 30)
}

func TestRemoveFreesAtOnce(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	_, f := openHome(t, base, "u", 100, Options{})
	put(t, f, "f", make([]byte, 100))
	_, err := f.BeginUpload("g", 10, srcMtime, false, "")
	wantKind(t, "BeginUpload on a full home", err, ErrQuota)
	if err := f.Remove("f"); err != nil {
		t.Fatal(err)
	}
	checkUsage(t, f, base, "u", 0)
	put(t, f, "g", make([]byte, 100))
	checkUsage(t, f, base, "u", 100)
}

func TestSetQuotaBelowUse(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	s, f := openHome(t, base, "u", 100, Options{})
	put(t, f, "a", make([]byte, 30))
	put(t, f, "b", make([]byte, 20))
	g := openAgain(t, s, "u", 100)

	f.SetQuota(20)
	if used, quota := g.Usage(); used != 50 || quota != 20 {
		t.Errorf("other session: Usage() = %d, %d; want 50, 20", used, quota)
	}
	for _, size := range []int64{0, 1, 10} {
		_, err := g.BeginUpload("c", size, srcMtime, false, "")
		wantKind(t, fmt.Sprintf("BeginUpload(%d) over quota", size), err, ErrQuota)
	}
	// Replacing a file with a smaller one is still refused: the home stays over its quota.
	_, err := g.BeginUpload("a", 1, srcMtime, false, "")
	wantKind(t, "smaller replacement over quota", err, ErrQuota)
	for _, n := range []string{"a", "b"} {
		if _, err := f.Stat(n); err != nil {
			t.Errorf("SetQuota deleted %s: %v", n, err)
		}
	}
	checkUsage(t, f, base, "u", 50)
	if err := g.Remove("a"); err != nil {
		t.Fatal(err)
	}
	put(t, f, "b", make([]byte, 20)) // same size: fits exactly again
	checkUsage(t, f, base, "u", 20)
}

// Two sessions racing for the last free space: exactly one reservation wins.
func TestConcurrentReservations(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	s, _ := openHome(t, base, "u", 100, Options{})
	const sessions = 4
	var fss [sessions]*FS
	for i := range fss {
		fss[i] = openAgain(t, s, "u", 100)
	}
	for round := range 100 {
		var (
			start   = make(chan struct{})
			wg      sync.WaitGroup
			uploads [sessions]*Upload
			errs    [sessions]error
		)
		// 4 x 30 bytes against a quota of 100: three fit, one does not.
		for i := range sessions {
			wg.Go(func() {
				<-start
				uploads[i], errs[i] = fss[i].BeginUpload(fmt.Sprintf("f%d", i), 30, srcMtime, false, "")
			})
		}
		close(start)
		wg.Wait()
		refused := 0
		for i, err := range errs {
			switch {
			case errors.Is(err, ErrQuota):
				refused++
			case err != nil:
				t.Fatalf("round %d: session %d: %v", round, i, err)
			}
		}
		if refused != 1 {
			t.Fatalf("round %d: %d of %d uploads refused, want exactly 1", round, refused, sessions)
		}
		// Alternate between giving the space back and using it, so that the rounds differ.
		for i, u := range uploads {
			if u == nil {
				continue
			}
			if round%2 == 0 {
				u.Abort()
				continue
			}
			u.Write(make([]byte, 30))
			if _, err := u.Commit(md5hex(make([]byte, 30))); err != nil {
				t.Fatal(err)
			}
			if err := fss[i].Remove(u.Path()); err != nil {
				t.Fatal(err)
			}
		}
	}
	f := fss[0]
	checkUsage(t, f, base, "u", 0)
	if f.h.reserved != 0 || len(f.h.uploading) != 0 {
		t.Errorf("after all uploads ended: reserved %d, uploading %v", f.h.reserved, f.h.uploading)
	}
}

// filesSize adds up the regular files of a home outside the reserved directory.
func filesSize(t *testing.T, home string) int64 {
	t.Helper()
	var n int64
	err := filepath.WalkDir(home, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == reserved {
			return filepath.SkipDir
		}
		if d.Type().IsRegular() {
			fi, err := d.Info()
			if err != nil {
				return err
			}
			n += fi.Size()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// A session removing or renaming a file while another one's upload replaces it: the count follows
// the files actually removed or replaced, whichever comes first.
func TestChangeWhileReplacing(t *testing.T) {
	t.Parallel()
	ops := []struct {
		name string
		do   func(g *FS) error
	}{
		{"remove", func(g *FS) error { return g.Remove("f") }},
		{"rename away", func(g *FS) error { return g.Rename("f", "g") }},
		{"rename over", func(g *FS) error { return g.Rename("a", "f") }},
	}
	for _, op := range ops {
		t.Run(op.name, func(t *testing.T) {
			t.Parallel()
			base := t.TempDir()
			s, f := openHome(t, base, "u", 1<<20, Options{})
			g := openAgain(t, s, "u", 1<<20)
			old, fresh := make([]byte, 1000), make([]byte, 10)
			for i := range 60 {
				put(t, f, "f", old)
				put(t, f, "a", make([]byte, 100))
				u, err := f.BeginUpload("f", int64(len(fresh)), srcMtime, false, "")
				if err != nil {
					t.Fatal(err)
				}
				u.Write(fresh)
				done := make(chan error)
				go func() { done <- op.do(g) }()
				if _, err := u.Commit(md5hex(fresh)); err != nil {
					t.Fatal(err)
				}
				if err := <-done; err != nil {
					t.Fatal(err)
				}
				if used, _ := f.Usage(); used != filesSize(t, filepath.Join(base, "u")) {
					t.Fatalf("round %d: used %d, the files left have %d bytes", i, used, filesSize(t, filepath.Join(base, "u")))
				}
			}
		})
	}
}

// After every kind of change, the running count equals what a restarted server measures.
func TestUsageSurvivesRestart(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	_, f := openHome(t, base, "u", 1<<20, Options{})
	steps := []struct {
		name string
		do   func(t *testing.T)
	}{
		{"mkdir", func(t *testing.T) {
			if _, err := f.Mkdir("d/e", true); err != nil {
				t.Fatal(err)
			}
		}},
		{"upload", func(t *testing.T) { put(t, f, "d/a", make([]byte, 1000)) }},
		{"upload 2", func(t *testing.T) { put(t, f, "b", make([]byte, 300)) }},
		{"replace bigger", func(t *testing.T) { put(t, f, "b", make([]byte, 700)) }},
		{"replace smaller", func(t *testing.T) { put(t, f, "d/a", make([]byte, 10)) }},
		{"rename over", func(t *testing.T) {
			if err := f.Rename("b", "d/a"); err != nil {
				t.Fatal(err)
			}
		}},
		{"rename dir", func(t *testing.T) {
			if err := f.Rename("d", "dd"); err != nil {
				t.Fatal(err)
			}
		}},
		{"aborted partial", func(t *testing.T) {
			u, err := f.BeginUpload("p", 500, srcMtime, false, "")
			if err != nil {
				t.Fatal(err)
			}
			u.Write(make([]byte, 123))
			u.Abort()
		}},
		{"resumed and aborted again", func(t *testing.T) {
			u, err := f.BeginUpload("p", 500, srcMtime, true, "")
			if err != nil || u.Offset() != 123 {
				t.Fatalf("resume: %v", err)
			}
			u.Write(make([]byte, 77))
			u.Abort()
		}},
		{"short commit", func(t *testing.T) {
			u := begin(t, f, "q", 50, srcMtime, false)
			u.Write(make([]byte, 20))
			if _, err := u.Commit(md5hex(make([]byte, 50))); !errors.Is(err, ErrSize) {
				t.Fatalf("short commit: %v", err)
			}
		}},
		{"wrong md5", func(t *testing.T) {
			u := begin(t, f, "r", 50, srcMtime, false)
			u.Write(make([]byte, 50))
			if _, err := u.Commit(md5hex(nil)); !errors.Is(err, ErrChecksum) {
				t.Fatalf("wrong md5: %v", err)
			}
		}},
		{"wrong md5 after resume", func(t *testing.T) {
			u := begin(t, f, "p", 500, srcMtime, true)
			u.Write(make([]byte, 300))
			if _, err := u.Commit(md5hex(nil)); !errors.Is(err, ErrChecksum) {
				t.Fatalf("wrong md5: %v", err)
			}
		}},
		{"restart over the old partial", func(t *testing.T) {
			u := begin(t, f, "q", 50, srcMtime.Add(time.Hour), true)
			u.Write(make([]byte, 5))
			u.Abort()
		}},
		{"remove", func(t *testing.T) {
			if err := f.Remove("dd/a"); err != nil {
				t.Fatal(err)
			}
		}},
		{"empty upload aborted", func(t *testing.T) {
			u := begin(t, f, "z", 10, srcMtime, false)
			u.Abort()
		}},
	}
	for _, st := range steps {
		st.do(t)
		used, _ := f.Usage()
		if m := measured(t, base, "u"); m != used {
			t.Fatalf("after %s: a restarted store measures %d bytes, the running count is %d", st.name, m, used)
		}
	}
	used, _ := f.Usage()
	if used != 5 { // only the restarted partial of q is left
		t.Errorf("used = %d at the end, want 5", used)
	}
}

// TestQuotaHugeSize checks that a declared size near 2^63 is refused, not wrapped around into a
// negative sum that passes the check.
func TestQuotaHugeSize(t *testing.T) {
	t.Parallel()
	_, f := openHome(t, t.TempDir(), "u", 1<<30, Options{})
	put(t, f, "small", make([]byte, 100))
	for _, size := range []int64{math.MaxInt64, math.MaxInt64 - 50, 1<<62 + 1} {
		u, err := f.BeginUpload("huge", size, srcMtime, false, "")
		if u != nil {
			u.Abort()
		}
		wantKind(t, "BeginUpload of a huge size", err, ErrQuota)
	}
}

// TestReplacementCredit checks that an upload replacing a file reserves only the difference, so
// that other uploads are not refused for space the replacement will free, and that it reserves
// its full size once the file it replaces is removed meanwhile.
func TestReplacementCredit(t *testing.T) {
	t.Parallel()
	s, f := openHome(t, t.TempDir(), "u", 100, Options{})
	put(t, f, "a", make([]byte, 60))
	u, err := f.BeginUpload("a", 60, srcMtime, false, "")
	if err != nil {
		t.Fatal(err)
	}
	defer u.Abort()
	g := openAgain(t, s, "u", 100)
	b, err := g.BeginUpload("b", 30, srcMtime, false, "")
	if err != nil {
		t.Fatalf("30 bytes beside a same-size replacement (60 + 30 <= 100 once done): %v", err)
	}
	b.Abort()

	if err := g.Remove("a"); err != nil {
		t.Fatal(err)
	}
	if f.h.reserved != 60 {
		t.Fatalf("reserved %d after the replaced file was removed, want the upload's full 60", f.h.reserved)
	}
	if _, err := g.BeginUpload("c", 41, srcMtime, false, ""); !errors.Is(err, ErrQuota) {
		t.Fatalf("41 bytes with 0 used and 60 reserved of 100: %v, want ErrQuota", err)
	}
	if _, err := u.Write(make([]byte, 60)); err != nil {
		t.Fatal(err)
	}
	if _, err := u.Commit(md5hex(make([]byte, 60))); err != nil {
		t.Fatal(err)
	}
	if used, _ := f.Usage(); used != 60 || f.h.reserved != 0 {
		t.Errorf("after the commit: used %d, reserved %d; want 60 and 0", used, f.h.reserved)
	}
}

// TestHomeRecreatedIsMeasuredAgain: an account deleted with its files and created anew while the
// server runs starts from what its new home holds, not from the old count.
func TestHomeRecreatedIsMeasuredAgain(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	s, f := openHome(t, base, "u", 100, Options{})
	put(t, f, "a", make([]byte, 80))
	f.Close()
	if err := os.RemoveAll(filepath.Join(base, "u")); err != nil {
		t.Fatal(err)
	}
	g := openAgain(t, s, "u", 100)
	if used, _ := g.Usage(); used != 0 {
		t.Fatalf("a new empty home counts %d bytes", used)
	}
	if _, err := g.BeginUpload("b", 50, srcMtime, false, ""); err != nil {
		t.Fatalf("50 bytes into the new empty home: %v", err)
	}
}

// TestReplacedFileMovedAway: an upload replacing a file counts on that file's space; when the file
// (or a directory holding it) is renamed away, the space stays taken, so an upload that no longer
// fits fails with ErrQuota, its partial file is deleted, and the home never ends above its quota.
// One that still fits goes on.
func TestReplacedFileMovedAway(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, target string
		move         func(f *FS) error
	}{
		{"file", "x", func(f *FS) error { return f.Rename("x", "y") }},
		{"its directory", "d/x", func(f *FS) error {
			if err := f.Rename("d", "e"); err != nil {
				return err
			}
			_, err := f.Mkdir("d", false)
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			base := t.TempDir()
			_, f := openHome(t, base, "u", 150, Options{})
			if _, err := f.Mkdir("d", false); err != nil {
				t.Fatal(err)
			}
			put(t, f, tt.target, bytes.Repeat([]byte("a"), 100))
			fresh := bytes.Repeat([]byte("b"), 100)
			u := begin(t, f, tt.target, 100, srcMtime, false) // fits only as a replacement
			if _, err := u.Write(fresh[:40]); err != nil {
				t.Fatal(err)
			}
			if err := tt.move(f); err != nil {
				t.Fatal(err)
			}
			if _, err := u.Write(fresh[40:]); !errors.Is(err, ErrQuota) {
				t.Errorf("write after the replaced file moved away: %v, want ErrQuota", err)
			}
			if _, err := u.Commit(md5hex(fresh)); !errors.Is(err, ErrQuota) {
				t.Errorf("commit after the replaced file moved away: %v, want ErrQuota", err)
			}
			if p := partialFiles(t, filepath.Join(base, "u")); len(p) != 0 {
				t.Errorf("partial files left: %v", p)
			}
			checkUsage(t, f, base, "u", 100)

			// With room for the full size, the same move leaves the upload alone.
			f.SetQuota(1000)
			put(t, f, "d/z", bytes.Repeat([]byte("z"), 100))
			u = begin(t, f, "d/z", 100, srcMtime, false)
			if err := f.Rename("d", "e2"); err != nil {
				t.Fatal(err)
			}
			if _, err := f.Mkdir("d", false); err != nil {
				t.Fatal(err)
			}
			if _, err := u.Write(fresh); err != nil {
				t.Fatal(err)
			}
			if _, err := u.Commit(md5hex(fresh)); err != nil {
				t.Fatalf("an upload that fits in full after its file moved away: %v", err)
			}
			checkUsage(t, f, base, "u", 300)
		})
	}
}

// TestReplacedFileRemovedBeforeClaim: a file removed by another session while an upload of the
// same path begins must not leave the upload a credit for space that is already free, or both
// sessions together pass the quota. The window is narrow, so the test tries many times (bounded
// in count and time); before the fix it was hit within about a hundred tries.
func TestReplacedFileRemovedBeforeClaim(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	const size = 100
	s, f := openHome(t, base, "u", size+10, Options{})
	g := openAgain(t, s, "u", size+10)
	old := bytes.Repeat([]byte("o"), size)
	target := filepath.Join(base, "u", "x")
	deadline := time.Now().Add(5 * time.Second)
	for i := 0; i < 2000 && time.Now().Before(deadline); i++ {
		put(t, f, "x", old)
		removed := make(chan error, 1)
		go func() { removed <- g.Remove("x") }()
		u, err := f.BeginUpload("x", size, srcMtime, false, "")
		if rerr := <-removed; rerr != nil {
			t.Fatal(rerr)
		}
		if err != nil { // the file was gone and the full size did not fit: right
			continue
		}
		if _, serr := os.Lstat(target); errors.Is(serr, fs.ErrNotExist) && u.credit > 0 {
			t.Fatalf("try %d: x was removed, yet the upload replacing it keeps a credit of %d bytes", i, u.credit)
		}
		u.Abort()
	}
	checkUsage(t, f, base, "u", 0)
}
