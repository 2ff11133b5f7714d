package homefs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// measuredFiles is the file count a freshly started server measures for home.
func measuredFiles(t testing.TB, base, home string) int64 {
	t.Helper()
	f, err := NewStore(base, Options{}).Open(home, 1<<40)
	if err != nil {
		t.Fatalf("Open(%q) on a new store: %v", home, err)
	}
	defer f.Close()
	files, _ := f.FileCount()
	return files
}

// checkFiles fails unless the running file count of f equals want and what a restart would
// measure.
func checkFiles(t testing.TB, f *FS, base, home string, want int64) {
	t.Helper()
	files, _ := f.FileCount()
	if files != want {
		t.Errorf("FileCount() = %d, want %d", files, want)
	}
	if m := measuredFiles(t, base, home); m != files {
		t.Errorf("a restarted store measures %d files, the running count is %d", m, files)
	}
}

// An aborted upload keeps a partial file and its description: two entries.
func keepPartial(t testing.TB, f *FS, p string, data []byte, size int64) {
	t.Helper()
	u := begin(t, f, p, size, srcMtime, true)
	if _, err := u.Write(data); err != nil {
		t.Fatal(err)
	}
	u.Abort()
}

func TestFileCountMeasured(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	home := filepath.Join(base, "u")
	meta, _ := json.Marshal(partialMeta{Path: "big.iso", Size: 100, Mtime: srcMtime})
	for _, name := range []string{"a.txt", "dir/sub/b.bin", "docs/.myftp/x", recordPath("a.txt"), recordPath("gone.txt"), ".myftp/id"} {
		writeFile(t, filepath.Join(home, filepath.FromSlash(name)), []byte("xyz"))
	}
	writeFile(t, filepath.Join(home, filepath.FromSlash(partialPath("big.iso"))), []byte("0123456789"))
	writeFile(t, filepath.Join(home, filepath.FromSlash(descPath("big.iso"))), meta)
	writeFile(t, filepath.Join(home, filepath.FromSlash(descPath("lost.bin"))), meta) // its data is gone
	for _, d := range []string{"empty", "dir/empty"} {
		if err := os.MkdirAll(filepath.Join(home, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("a.txt", filepath.Join(home, "link")); err != nil {
		t.Fatal(err)
	}
	// a.txt dir dir/sub dir/sub/b.bin docs docs/.myftp docs/.myftp/x empty dir/empty link: 10,
	// and two for the unfinished upload; not the id, the records, a description whose upload is
	// gone or the directories of .myftp.
	const want = 12
	_, f := openHome(t, base, "u", 1000, Options{})
	if files, limit := f.FileCount(); files != want || limit != 100_000 {
		t.Errorf("FileCount() = %d, %d; want %d, the default 100000", files, limit, want)
	}
	if u, err := Measure(home); err != nil || u != (Usage{Bytes: 3*3 + 10, Files: want}) {
		t.Errorf("Measure = %+v, %v; want %d bytes, %d files", u, err, 3*3+10, want)
	}
}

// Every operation keeps the count, as a restart would measure it.
func TestFileCountFollowsOperations(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	_, f := openHome(t, base, "u", 1<<20, Options{})
	n := int64(0)
	step := func(what string, delta int64, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		n += delta
		checkFiles(t, f, base, "u", n)
	}
	_, err := f.Mkdir("d", false)
	step("mkdir d", 1, err)
	_, err = f.Mkdir("a/b/c", true)
	step("mkdir -p a/b/c", 3, err)
	_, err = f.Mkdir("a/b/c/d", true)
	step("mkdir -p a/b/c/d", 1, err)
	_, err = f.Mkdir("a/b", true)
	step("mkdir -p of an existing directory", 0, err)
	step("rmdir a/b/c/d", -1, f.Rmdir("a/b/c/d"))
	put(t, f, "f1", []byte("one"))
	step("put f1", 1, nil)
	put(t, f, "f1", []byte("one again"))
	step("put replacing f1", 0, nil)
	put(t, f, "d/f2", []byte("two"))
	step("put d/f2", 1, nil)
	step("rename d/f2 onto f1", -1, f.Rename("d/f2", "f1"))
	step("rename a to d/a", 0, f.Rename("a", "d/a"))
	step("rm f1", -1, f.Remove("f1"))

	keepPartial(t, f, "p", []byte("12345"), 10)
	step("an interrupted upload", 2, nil)
	u := begin(t, f, "p", 10, srcMtime, true)
	u.Write([]byte("67890"))
	_, err = u.Commit(md5hex([]byte("1234567890")))
	step("the resumed upload published", -1, err)
	keepPartial(t, f, "q", []byte("12"), 10)
	step("another interrupted upload", 2, nil)
	u = begin(t, f, "q", 10, srcMtime, false) // starts again: the data file is made anew
	u.Write([]byte("xxxxxxxxxx"))
	_, err = u.Commit(md5hex([]byte("not this")))
	wantKind(t, "Commit with the wrong md5", err, ErrChecksum)
	step("an upload discarded", -2, nil)
	keepPartial(t, f, "r", []byte("12"), 10)
	step("a third interrupted upload", 2, nil)
	step("rm of a name with only an unfinished upload", -2, f.Remove("r"))

	s, err := f.BeginStream("s", 0)
	if err != nil {
		t.Fatal(err)
	}
	s.Write([]byte("abc"))
	s.Abort()
	step("an interrupted stream", 2, nil)
	s, err = f.BeginStream("s", Append)
	if err != nil {
		t.Fatal(err)
	}
	s.Write([]byte("def"))
	_, _, err = s.Commit()
	step("the stream continued and published", -1, err)
	s, err = f.BeginStream("s", 0)
	if err != nil {
		t.Fatal(err)
	}
	s.Abort() // nothing written: nothing kept
	step("an empty stream aborted", 0, nil)
	if p := partialFiles(t, filepath.Join(base, "u")); len(p) != 0 {
		t.Errorf("partial files left: %v", p)
	}
}

func TestFileCountExpiry(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	now := time.Now()
	opts := Options{Now: func() time.Time { return now }}
	s, f := openHome(t, base, "u", 1<<20, opts)
	keepPartial(t, f, "old", []byte("12"), 10)
	keepPartial(t, f, "new", []byte("12"), 10)
	checkFiles(t, f, base, "u", 4)
	old := now.Add(-8 * 24 * time.Hour)
	for _, p := range []string{partialPath("old"), descPath("old")} {
		if err := os.Chtimes(filepath.Join(base, "u", filepath.FromSlash(p)), old, old); err != nil {
			t.Fatal(err)
		}
	}
	g := openAgain(t, s, "u", 1<<20)
	checkFiles(t, g, base, "u", 2)
}

func TestFileQuota(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	_, f := openHome(t, base, "u", 1<<20, Options{})
	f.SetMaxFiles(5)
	if _, limit := f.FileCount(); limit != 5 {
		t.Fatalf("FileCount limit %d after SetMaxFiles(5)", limit)
	}
	put(t, f, "a", []byte("a"))
	if _, err := f.Mkdir("x/y/z", true); err != nil { // 4 of 5
		t.Fatal(err)
	}
	_, err := f.Mkdir("x/y/w/v", true)
	wantKind(t, "mkdir -p of two more directories with room for one", err, ErrQuota)
	if err != nil && !strings.Contains(err.Error(), "file count quota: 4 of 5 files and directories used") {
		t.Errorf("the refusal does not say why: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(base, "u", "x", "y", "w")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the refused mkdir -p made a directory: %v", err)
	}
	_, err = f.BeginUpload("b", 1, srcMtime, false, "")
	wantKind(t, "an upload, which needs two entries while it runs, with room for one", err, ErrQuota)
	_, err = f.BeginStream("b", 0)
	wantKind(t, "a stream with room for one entry", err, ErrQuota)
	if _, err := f.Mkdir("x/y/w", false); err != nil {
		t.Fatalf("the fifth entry: %v", err)
	}
	_, err = f.Mkdir("x/v", false)
	wantKind(t, "mkdir beyond the quota", err, ErrQuota)
	if _, err := f.Mkdir("x/y", true); err != nil {
		t.Errorf("mkdir -p of directories that exist needs nothing: %v", err)
	}
	_, err = f.Mkdir("x", false)
	wantKind(t, "mkdir of a directory that exists, at the quota", err, ErrExists)
	checkFiles(t, f, base, "u", 5)

	// Removing makes room; an unfinished upload kept at the quota can still be resumed.
	if err := f.Rmdir("x/y/w"); err != nil {
		t.Fatal(err)
	}
	if err := f.Rmdir("x/y/z"); err != nil {
		t.Fatal(err)
	}
	keepPartial(t, f, "b", []byte("12"), 4)
	checkFiles(t, f, base, "u", 5)
	u := begin(t, f, "b", 4, srcMtime, true)
	u.Write([]byte("34"))
	if _, err := u.Commit(md5hex([]byte("1234"))); err != nil {
		t.Fatal(err)
	}
	checkFiles(t, f, base, "u", 4)

	// A lower limit blocks new entries and deletes nothing; 0 is the store's default again.
	f.SetMaxFiles(2)
	_, err = f.Mkdir("z", false)
	wantKind(t, "mkdir over a lowered quota", err, ErrQuota)
	checkFiles(t, f, base, "u", 4)
	f.SetMaxFiles(0)
	if _, limit := f.FileCount(); limit != 100_000 {
		t.Errorf("SetMaxFiles(0): limit %d, want the default 100000", limit)
	}
}

// Options.DefaultMaxFiles is the limit of homes whose account sets none.
func TestDefaultMaxFiles(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	_, f := openHome(t, base, "u", 1<<20, Options{DefaultMaxFiles: 2})
	put(t, f, "a", nil)
	if _, err := f.Mkdir("b", false); err != nil {
		t.Fatal(err)
	}
	_, err := f.Mkdir("c", false)
	wantKind(t, "a third entry with DefaultMaxFiles 2", err, ErrQuota)
	f.SetMaxFiles(3)
	if _, err := f.Mkdir("c", false); err != nil {
		t.Errorf("the account's own limit: %v", err)
	}
}

// 1,000 empty directories in a home limited to 100: the hundred-first is refused.
func TestFileQuotaStopsAFlood(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	_, f := openHome(t, base, "u", 1<<20, Options{DefaultMaxFiles: 100})
	made := 0
	for i := range 1000 {
		if _, err := f.Mkdir(fmt.Sprintf("d%d", i), false); err != nil {
			wantKind(t, "mkdir", err, ErrQuota)
			break
		}
		made++
	}
	if made != 100 {
		t.Errorf("%d directories made, want 100", made)
	}
	checkFiles(t, f, base, "u", 100)
}

func TestMaxPartials(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	s, f := openHome(t, base, "u", 1<<20, Options{MaxPartials: 3})
	for _, p := range []string{"a", "b", "c"} {
		keepPartial(t, f, p, []byte("12"), 10)
	}
	_, err := f.BeginUpload("d", 10, srcMtime, false, "")
	wantKind(t, "a fourth unfinished upload", err, ErrQuota)
	if err != nil && !strings.Contains(err.Error(), "3 unfinished uploads kept, at most 3") ||
		err != nil && !strings.Contains(err.Error(), "partials, rm --partial NAME") {
		t.Errorf("the refusal does not say why and what to do: %v", err)
	}
	_, err = f.BeginStream("d", 0)
	wantKind(t, "a fourth unfinished upload, streamed", err, ErrQuota)
	if _, err := f.Mkdir("dir", false); err != nil {
		t.Errorf("the limit is on unfinished uploads only: %v", err)
	}
	// Those kept can be resumed or started again; uploads in progress count.
	u := begin(t, f, "a", 10, srcMtime, true)
	g := openAgain(t, s, "u", 1<<20)
	_, err = g.BeginUpload("d", 10, srcMtime, false, "")
	wantKind(t, "a fourth unfinished upload while one of the three is resumed", err, ErrQuota)
	u.Write([]byte("34567890"))
	if _, err := u.Commit(md5hex([]byte("1234567890"))); err != nil {
		t.Fatal(err)
	}
	keepPartial(t, g, "d", []byte("12"), 10)
	_, err = g.BeginUpload("e", 10, srcMtime, false, "")
	wantKind(t, "a fourth one again", err, ErrQuota)
	if err := g.RemovePartial("b"); err != nil {
		t.Fatal(err)
	}
	keepPartial(t, g, "e", []byte("12"), 10)
	checkFiles(t, g, base, "u", 1+1+6)
	checkUsage(t, g, base, "u", 10+6)
}

func TestPartialsListAndRemove(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	_, f := openHome(t, base, "u", 1<<20, Options{})
	if _, err := f.Mkdir("docs", false); err != nil {
		t.Fatal(err)
	}
	put(t, f, "docs/stored.txt", []byte("the stored version"))
	keepPartial(t, f, "docs/stored.txt", []byte("new"), 10)
	keepPartial(t, f, "/big.iso", []byte("12345"), 100)
	s, err := f.BeginStream("docs/streamed", 0)
	if err != nil {
		t.Fatal(err)
	}
	s.Write([]byte("ab"))
	s.Abort()
	if _, err := f.Chdir("docs"); err != nil {
		t.Fatal(err)
	}

	var got []PartialInfo
	if err := f.Partials(func(p PartialInfo) error { got = append(got, p); return nil }); err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(got, func(a, b PartialInfo) int { return strings.Compare(a.Path, b.Path) })
	want := []PartialInfo{{Path: "/big.iso", Size: 5, Total: 100}, {Path: "/docs/stored.txt", Size: 3, Total: 10},
		{Path: "/docs/streamed", Size: 2, Total: -1}}
	if len(got) != len(want) {
		t.Fatalf("Partials = %+v, want %+v", got, want)
	}
	for i := range got {
		if got[i].Mtime.IsZero() || time.Since(got[i].Mtime) > time.Hour {
			t.Errorf("%s: Mtime %v, want when it last grew", got[i].Path, got[i].Mtime)
		}
		got[i].Mtime = time.Time{}
		if got[i] != want[i] {
			t.Errorf("Partials[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
	checkFiles(t, f, base, "u", 1+1+6)

	// A name with a stored file and an unfinished upload: the upload goes, the file stays.
	if err := f.RemovePartial("stored.txt"); err != nil {
		t.Fatal(err)
	}
	if b := readFile(t, filepath.Join(base, "u", "docs", "stored.txt")); string(b) != "the stored version" {
		t.Errorf("the stored file is now %q", b)
	}
	err = f.RemovePartial("stored.txt")
	wantKind(t, "RemovePartial of a name without one", err, ErrNotFound)
	if err != nil && !strings.Contains(err.Error(), "/docs/stored.txt (no unfinished upload)") {
		t.Errorf("message %q", err)
	}
	wantKind(t, "RemovePartial outside the home", f.RemovePartial("../../x"), ErrOutside)
	if err := f.RemovePartial("/big.iso"); err != nil {
		t.Fatal(err)
	}
	// An upload in progress is not removed.
	u := begin(t, f, "streamed", 10, srcMtime, false)
	wantKind(t, "RemovePartial of an upload in progress", f.RemovePartial("streamed"), ErrBusy)
	u.Abort() // nothing written: nothing kept
	checkFiles(t, f, base, "u", 2)
	checkUsage(t, f, base, "u", int64(len("the stored version")))
	got = nil
	f.Partials(func(p PartialInfo) error { got = append(got, p); return nil })
	if len(got) != 0 {
		t.Errorf("Partials after removing them all: %+v", got)
	}
}

// A first login needs no new inode: when the home cannot be marked as measured, it opens all the
// same, the failure is logged, and the next Open measures it again.
func TestOpenUnmarkedHome(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	home := filepath.Join(base, "u")
	writeFile(t, filepath.Join(home, "a.txt"), []byte("12345"))
	writeFile(t, filepath.Join(home, reserved), []byte("in the way of the directory")) // MkdirAll fails
	var logged bytes.Buffer
	s := NewStore(base, Options{Log: slog.New(slog.NewTextHandler(&logged, nil))})
	f, err := s.Open("u", 100)
	if err != nil {
		t.Fatalf("Open of a home whose mark cannot be written: %v", err)
	}
	defer f.Close()
	if !strings.Contains(logged.String(), "not marked") || !strings.Contains(logged.String(), "home=u") {
		t.Errorf("the failure was not logged: %q", logged.String())
	}
	if used, _ := f.Usage(); used != 5 {
		t.Errorf("used %d, want 5", used)
	}
	if files, _ := f.FileCount(); files != 1 {
		t.Errorf("files %d, want 1", files)
	}
	if _, err := f.Mkdir("d", false); err != nil {
		t.Errorf("mkdir: %v", err)
	}
	_, err = f.BeginUpload("b", 3, srcMtime, false, "")
	wantKind(t, "an upload with no room for the reserved directory", err, ErrIO)
	if err != nil && !strings.Contains(err.Error(), "cannot make its directory for unfinished uploads") {
		t.Errorf("message %q", err)
	}
	// Not marked: the next Open measures again, and sees what changed meanwhile.
	writeFile(t, filepath.Join(home, "b.txt"), []byte("123"))
	g, err := s.Open("u", 100)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if used, _ := g.Usage(); used != 8 {
		t.Errorf("the next Open: used %d, want 8, measured again", used)
	}
	if files, _ := g.FileCount(); files != 3 {
		t.Errorf("the next Open: files %d, want 3", files)
	}
}

// A home whose mark cannot be written is not measured again under an upload in progress: that
// would count its data twice.
func TestOpenUnmarkedHomeDuringUpload(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	home := filepath.Join(base, "u")
	if err := os.MkdirAll(filepath.Join(home, reserved, "meta", tokenKey), 0o700); err != nil { // writing it fails
		t.Fatal(err)
	}
	s, f := openHome(t, base, "u", 100, Options{})
	u := begin(t, f, "a", 10, srcMtime, false)
	u.Write([]byte("12345"))
	g := openAgain(t, s, "u", 100)
	u.Write([]byte("67890"))
	if _, err := u.Commit(md5hex([]byte("1234567890"))); err != nil {
		t.Fatalf("the upload after another session opened the home: %v", err)
	}
	if used, _ := g.Usage(); used != 10 {
		t.Errorf("used %d, want 10", used)
	}
	if files, _ := g.FileCount(); files != 1 {
		t.Errorf("files %d, want 1", files)
	}
}
