package homefs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/myftp/myftp/lib/storage"
)

// dirHome is a home with a few files and directories, made through the API.
func dirHome(t *testing.T) (base string, f *FS) {
	t.Helper()
	base = t.TempDir()
	_, f = openHome(t, base, "u", 1<<20, Options{})
	for _, d := range []string{"docs", "docs/sub", "empty"} {
		if _, err := f.Mkdir(d, false); err != nil {
			t.Fatal(err)
		}
	}
	put(t, f, "a.txt", []byte("aaaa"))
	put(t, f, "b.txt", []byte("bb"))
	put(t, f, "docs/c.txt", []byte("cccccc"))
	return base, f
}

func TestMkdir(t *testing.T) {
	t.Parallel()
	tests := []struct {
		p       string
		parents bool
		want    string
		wantErr error
	}{
		{"new", false, "/new", nil},
		{"/docs/new", false, "/docs/new", nil},
		{"x/y/z", false, "", ErrNotFound},
		{"x/y/z", true, "/x/y/z", nil},
		{"docs", false, "", ErrExists},
		{"docs", true, "/docs", nil},
		{"docs/sub", true, "/docs/sub", nil},
		{"/", false, "", ErrExists},
		{"/", true, "/", nil},
		{"a.txt", false, "", ErrExists},
		{"a.txt", true, "", ErrExists}, // a file is not a directory, even with -p
		{"a.txt/d", false, "", ErrNotDir},
		{"a.txt/d", true, "", ErrNotDir},
		{"dir with space/中文目录", true, "/dir with space/中文目录", nil},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s,%v", tc.p, tc.parents), func(t *testing.T) {
			t.Parallel()
			base, f := dirHome(t)
			got, err := f.Mkdir(tc.p, tc.parents)
			if tc.wantErr != nil {
				wantKind(t, "Mkdir", err, tc.wantErr)
				checkMessage(t, "Mkdir", err, base)
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Mkdir(%q, %v) = %q, %v; want %q", tc.p, tc.parents, got, err, tc.want)
			}
			fi, err := os.Stat(filepath.Join(base, "u", filepath.FromSlash(tc.want)))
			if err != nil || !fi.IsDir() {
				t.Fatalf("after Mkdir: %v, %v", fi, err)
			}
			if e, err := f.Stat(tc.want); err != nil || e.Mode != "drwx------" {
				t.Errorf("Stat(%q) = %+v, %v; want mode drwx------", tc.want, e, err)
			}
		})
	}
}

func TestRmdir(t *testing.T) {
	t.Parallel()
	tests := []struct {
		p       string
		wantErr error
	}{
		{"empty", nil},
		{"/docs/sub", nil},
		{"docs", ErrNotEmpty},
		{"a.txt", ErrNotDir},
		{"missing", ErrNotFound},
		{"/", ErrPermission},
		{".", ErrPermission},
		{"docs/..", ErrPermission},
	}
	for _, tc := range tests {
		t.Run(tc.p, func(t *testing.T) {
			t.Parallel()
			base, f := dirHome(t)
			err := f.Rmdir(tc.p)
			checkMessage(t, "Rmdir", err, base)
			real := filepath.Join(base, "u", filepath.FromSlash(tc.p))
			_, statErr := os.Lstat(real)
			if tc.wantErr == nil {
				if err != nil || !os.IsNotExist(statErr) {
					t.Errorf("Rmdir(%q) = %v, then Lstat: %v", tc.p, err, statErr)
				}
				return
			}
			wantKind(t, "Rmdir("+tc.p+")", err, tc.wantErr)
			if tc.wantErr != ErrNotFound && statErr != nil {
				t.Errorf("Rmdir(%q) failed but removed it: %v", tc.p, statErr)
			}
		})
	}
}

func TestRemove(t *testing.T) {
	t.Parallel()
	tests := []struct {
		p       string
		freed   int64
		wantErr error
	}{
		{"a.txt", 4, nil},
		{"/docs/c.txt", 6, nil},
		{"docs", 0, ErrIsDir},
		{"empty", 0, ErrIsDir},
		{"/", 0, ErrIsDir},
		{"missing", 0, ErrNotFound},
		{"a.txt/x", 0, ErrNotDir},
	}
	for _, tc := range tests {
		t.Run(tc.p, func(t *testing.T) {
			t.Parallel()
			base, f := dirHome(t)
			before, _ := f.Usage()
			err := f.Remove(tc.p)
			checkMessage(t, "Remove", err, base)
			if tc.wantErr != nil {
				wantKind(t, "Remove("+tc.p+")", err, tc.wantErr)
			} else if err != nil {
				t.Fatalf("Remove(%q) = %v", tc.p, err)
			}
			_, err = f.Stat(tc.p)
			switch tc.wantErr {
			case nil:
				wantKind(t, "Stat after Remove", err, ErrNotFound)
			case ErrIsDir:
				if err != nil {
					t.Errorf("Remove(%q) failed but Stat = %v", tc.p, err)
				}
			}
			checkUsage(t, f, base, "u", before-tc.freed)
		})
	}
}

func TestRename(t *testing.T) {
	t.Parallel()
	tests := []struct {
		from, to string
		freed    int64
		wantErr  error
		// files (name -> content) expected afterwards, by real path under the home
		want map[string]string
	}{
		{from: "a.txt", to: "new.txt", want: map[string]string{"new.txt": "aaaa", "b.txt": "bb"}},
		{from: "a.txt", to: "b.txt", freed: 2, want: map[string]string{"b.txt": "aaaa"}},
		{from: "a.txt", to: "/docs/c.txt", freed: 6, want: map[string]string{"docs/c.txt": "aaaa", "b.txt": "bb"}},
		{from: "a.txt", to: "docs/sub/a.txt", want: map[string]string{"docs/sub/a.txt": "aaaa"}},
		{from: "a.txt", to: "a.txt", want: map[string]string{"a.txt": "aaaa"}},
		{from: "docs", to: "documents", want: map[string]string{"documents/c.txt": "cccccc"}},
		{from: "empty", to: "docs/sub/empty", want: map[string]string{"docs/c.txt": "cccccc"}},
		{from: "a.txt", to: "docs", wantErr: ErrExists, want: map[string]string{"a.txt": "aaaa"}},
		{from: "a.txt", to: "empty", wantErr: ErrExists, want: map[string]string{"a.txt": "aaaa"}},
		{from: "docs", to: "empty", wantErr: ErrExists, want: map[string]string{"docs/c.txt": "cccccc"}},
		{from: "docs", to: "b.txt", wantErr: ErrNotDir, want: map[string]string{"b.txt": "bb", "docs/c.txt": "cccccc"}},
		{from: "/", to: "home", wantErr: ErrPermission},
		{from: ".", to: "home", wantErr: ErrPermission},
		{from: "a.txt", to: "/", wantErr: ErrPermission, want: map[string]string{"a.txt": "aaaa"}},
		{from: "missing", to: "x", wantErr: ErrNotFound},
		{from: "a.txt", to: "nodir/x", wantErr: ErrNotFound, want: map[string]string{"a.txt": "aaaa"}},
		{from: "docs", to: "docs/sub/docs", wantErr: ErrInvalidPath, want: map[string]string{"docs/c.txt": "cccccc"}},
	}
	for _, tc := range tests {
		t.Run(tc.from+"->"+tc.to, func(t *testing.T) {
			t.Parallel()
			base, f := dirHome(t)
			before, _ := f.Usage()
			err := f.Rename(tc.from, tc.to)
			checkMessage(t, "Rename", err, base)
			if tc.wantErr != nil {
				wantKind(t, "Rename", err, tc.wantErr)
			} else if err != nil {
				t.Fatalf("Rename(%q, %q) = %v", tc.from, tc.to, err)
			}
			for name, content := range tc.want {
				if b, err := os.ReadFile(filepath.Join(base, "u", name)); err != nil || string(b) != content {
					t.Errorf("%s = %q, %v; want %q", name, b, err, content)
				}
			}
			checkUsage(t, f, base, "u", before-tc.freed)
		})
	}
}

// A file renamed over another keeps its md5 record; the replaced file's record is gone.
func TestRenameMovesMD5Record(t *testing.T) {
	t.Parallel()
	_, f := dirHome(t)
	for _, r := range [][2]string{{"a.txt", "b.txt"}, {"b.txt", "b.txt"}, {"b.txt", "/docs/b.txt"}} {
		if err := f.Rename(r[0], r[1]); err != nil {
			t.Fatal(err)
		}
		d, err := f.OpenDownload(r[1])
		if err != nil {
			t.Fatal(err)
		}
		d.Close()
		if d.Recorded("md5") != md5hex([]byte("aaaa")) {
			t.Errorf("MD5 after Rename(%s, %s) = %q, want the md5 of the moved file", r[0], r[1], d.Recorded("md5"))
		}
	}
}

func TestStat(t *testing.T) {
	t.Parallel()
	base, f := dirHome(t)
	tests := []struct {
		p    string
		want Entry
	}{
		{"a.txt", Entry{Name: "a.txt", Type: 'f', Size: 4, Mode: "-rw-------", Mtime: srcMtime}},
		{"/docs/c.txt", Entry{Name: "c.txt", Type: 'f', Size: 6, Mode: "-rw-------", Mtime: srcMtime}},
		{"docs", Entry{Name: "docs", Type: 'd', Mode: "drwx------"}},
		{"docs/sub/..", Entry{Name: "docs", Type: 'd', Mode: "drwx------"}},
		{"/", Entry{Name: "/", Type: 'd', Mode: "drwx------"}},
	}
	for _, tc := range tests {
		got, err := f.Stat(tc.p)
		if err != nil {
			t.Errorf("Stat(%q) = %v", tc.p, err)
			continue
		}
		if got.Type == 'd' {
			got.Size, got.Mtime = 0, tc.want.Mtime // directory sizes and times vary
		}
		if got.Name != tc.want.Name || got.Type != tc.want.Type || got.Size != tc.want.Size ||
			got.Mode != tc.want.Mode || !got.Mtime.Equal(tc.want.Mtime) {
			t.Errorf("Stat(%q) = %+v, want %+v", tc.p, got, tc.want)
		}
	}
	_, err := f.Stat("missing")
	wantKind(t, "Stat(missing)", err, ErrNotFound)
	checkMessage(t, "Stat", err, base)
	_, err = f.Stat("a.txt/x")
	wantKind(t, "Stat(a.txt/x)", err, ErrNotDir)
}

func TestListLong(t *testing.T) {
	t.Parallel()
	base, f := dirHome(t)
	if err := os.Symlink("a.txt", filepath.Join(base, "u", "link")); err != nil {
		t.Skip(err)
	}
	if err := os.Chmod(filepath.Join(base, "u", "b.txt"), 0o640); err != nil {
		t.Fatal(err)
	}
	type row struct {
		typ  byte
		size int64
		mode string
	}
	want := map[string]row{
		"a.txt": {'f', 4, "-rw-------"},
		"b.txt": {'f', 2, "-rw-r-----"},
		"docs":  {'d', -1, "drwx------"},
		"empty": {'d', -1, "drwx------"},
		"link":  {'l', 5, "lrwxrwxrwx"},
	}
	got := map[string]row{}
	err := f.List("/", true, func(e Entry) error {
		if _, dup := got[e.Name]; dup {
			t.Errorf("%s listed twice", e.Name)
		}
		r := row{e.Type, e.Size, e.Mode}
		if e.Type == 'd' {
			r.size = -1
		}
		got[e.Name] = r
		if e.Type == 'f' && !e.Mtime.Equal(srcMtime) {
			t.Errorf("%s: Mtime %v, want %v", e.Name, e.Mtime, srcMtime)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("List long =\n%v\nwant\n%v", got, want)
	}

	// Short listings have names and types only.
	got2 := map[string]byte{}
	err = f.List("", false, func(e Entry) error {
		if e.Size != 0 || e.Mode != "" || !e.Mtime.IsZero() {
			t.Errorf("short listing of %s has %+v", e.Name, e)
		}
		got2[e.Name] = e.Type
		return nil
	})
	if err != nil || fmt.Sprint(got2) != fmt.Sprint(map[string]byte{"a.txt": 'f', "b.txt": 'f', "docs": 'd', "empty": 'd', "link": 'l'}) {
		t.Errorf("List short = %v, %v", got2, err)
	}
}

func TestListFile(t *testing.T) {
	t.Parallel()
	_, f := dirHome(t)
	for _, p := range []string{"docs/c.txt", "/docs/c.txt", "docs/sub/../c.txt"} {
		var got []Entry
		if err := f.List(p, true, func(e Entry) error { got = append(got, e); return nil }); err != nil {
			t.Fatalf("List(%q) = %v", p, err)
		}
		if len(got) != 1 || got[0].Name != "c.txt" || got[0].Type != 'f' || got[0].Size != 6 || got[0].Mode != "-rw-------" {
			t.Errorf("List(%q) = %+v, want the file itself", p, got)
		}
	}
	err := f.List("missing", true, func(Entry) error { return nil })
	wantKind(t, "List(missing)", err, ErrNotFound)
}

// An error from the callback stops the listing and is returned as it is.
func TestListCallbackError(t *testing.T) {
	t.Parallel()
	_, f := dirHome(t)
	stop := fmt.Errorf("client went away")
	n := 0
	err := f.List("/", false, func(Entry) error { n++; return stop })
	if err != stop || n != 1 {
		t.Errorf("List = %v after %d calls, want the callback's error after 1", err, n)
	}
}

// A large directory is listed whole, each entry once, across several batches.
func TestListLarge(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	dir := filepath.Join(base, "u", "big")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	const n = 3000
	// Hard links of one empty file: much faster to make than 3000 files on some disks.
	src := filepath.Join(base, "src")
	writeFile(t, src, nil)
	for i := range n {
		name := filepath.Join(dir, fmt.Sprintf("f%04d", i))
		if err := os.Link(src, name); err != nil {
			if err := os.WriteFile(name, nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	_, f := openHome(t, base, "u", 1<<20, Options{})
	for _, long := range []bool{false, true} {
		seen := make(map[string]int, n)
		if err := f.List("big", long, func(e Entry) error { seen[e.Name]++; return nil }); err != nil {
			t.Fatal(err)
		}
		var bad []string
		for i := range n {
			if name := fmt.Sprintf("f%04d", i); seen[name] != 1 {
				bad = append(bad, fmt.Sprintf("%s:%d", name, seen[name]))
			}
		}
		if len(seen) != n || len(bad) > 0 {
			t.Errorf("long=%v: %d names listed; wrong counts: %s", long, len(seen), strings.Join(bad[:min(len(bad), 10)], " "))
		}
	}
	// The batch size is smaller than the directory, so this checks more than one batch.
	if storage.ListPage >= n {
		t.Fatalf("storage.ListPage %d: the test needs more entries", storage.ListPage)
	}
}

// TestRenameNamesMissingDirectory: a rename into a directory that does not exist names that
// directory, not the source, which is there.
func TestRenameNamesMissingDirectory(t *testing.T) {
	t.Parallel()
	_, f := dirHome(t)
	err := f.Rename("a.txt", "nodir/x")
	var e *Error
	if !errors.As(err, &e) || e.Path != "/nodir" {
		t.Fatalf("Rename(a.txt, nodir/x) = %v, want an error about /nodir", err)
	}
}
