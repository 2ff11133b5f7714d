package homefs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// jailTree builds, under a new base directory:
//
//	base/secret.txt             outside every home
//	base/al/x                   another user's home, sharing a prefix with alice
//	base/alice/docs/a.txt       alice's home
//	base/alice/etc    -> /etc
//	base/alice/other  -> ../al        (relative, to another home)
//	base/alice/abs    -> <base>/al    (absolute)
//	base/alice/inside -> docs         (stays inside: allowed)
//	base/alice/up     -> ..
//
// and returns base and the path of alice's home.
func jailTree(t *testing.T) (base, alice string) {
	t.Helper()
	base = t.TempDir()
	alice = filepath.Join(base, "alice")
	writeFile(t, filepath.Join(base, "secret.txt"), []byte("top secret"))
	writeFile(t, filepath.Join(base, "al", "x"), []byte("al's file"))
	writeFile(t, filepath.Join(alice, "docs", "a.txt"), []byte("hello"))
	for name, target := range map[string]string{
		"etc":    "/etc",
		"other":  "../al",
		"abs":    filepath.Join(base, "al"),
		"inside": "docs",
		"up":     "..",
	} {
		if err := os.Symlink(target, filepath.Join(alice, name)); err != nil {
			t.Skipf("symbolic links unavailable: %v", err)
		}
	}
	return base, alice
}

// snapshot describes every file under dir without following symbolic links: type, permissions,
// size, modification time, and the content of files or the target of links.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	snap := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		desc := fmt.Sprintf("%v %d %d", fi.Mode(), fi.Size(), fi.ModTime().UnixNano())
		switch {
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			desc += " " + md5hex(b)
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			desc += " -> " + target
		}
		snap[p] = desc
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

// outsideSnapshot describes everything under base except alice's home, and /etc/passwd, which
// alice's "etc" link points at.
func outsideSnapshot(t *testing.T, base, alice string) map[string]string {
	t.Helper()
	snap := snapshot(t, base)
	for p := range snap {
		if p == alice || strings.HasPrefix(p, alice+string(filepath.Separator)) {
			delete(snap, p)
		}
	}
	if fi, err := os.Stat("/etc/passwd"); err == nil {
		snap["/etc/passwd"] = fmt.Sprintf("%d %d", fi.Size(), fi.ModTime().UnixNano())
	}
	return snap
}

func diffSnapshots(t *testing.T, before, after map[string]string) {
	t.Helper()
	for p, d := range before {
		if a, ok := after[p]; !ok {
			t.Errorf("%s disappeared", p)
		} else if a != d {
			t.Errorf("%s changed: %s -> %s", p, d, a)
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok {
			t.Errorf("%s appeared", p)
		}
	}
}

// checkMessage fails if err's message reveals where the files live on the server.
func checkMessage(t *testing.T, what string, err error, base string) {
	t.Helper()
	if err != nil && strings.Contains(err.Error(), base) {
		t.Errorf("%s: error message %q reveals the server path %s", what, err, base)
	}
}

// escapeCases are the paths a user may try to leave the home with. kind is what every operation
// must fail with; cd (Chdir, which stops ".." at "/" as a shell does) may differ: cdKind nil means
// it succeeds at cdPwd.
var escapeCases = []struct {
	name   string
	p      string
	kind   error
	cdKind error
	cdPwd  string
}{
	{"parent file", "../secret.txt", ErrOutside, ErrNotFound, ""},
	{"parent etc", "../../etc/passwd", ErrOutside, ErrOutside, ""}, // cd clamps to /etc/passwd, through the etc link
	{"down and up", "docs/../../al/x", ErrOutside, ErrNotFound, ""},
	{"root parent", "/../al", ErrOutside, ErrNotFound, ""},
	{"dotdot", "..", ErrOutside, nil, "/"},
	{"NUL", "a\x00b", ErrInvalidPath, ErrInvalidPath, ""},
	{"newline", "a\nb", ErrInvalidPath, ErrInvalidPath, ""},
	{"DEL", "a\x7fb", ErrInvalidPath, ErrInvalidPath, ""},
	{"NEL", "a\u0085b", ErrInvalidPath, ErrInvalidPath, ""},
	{"line separator", "a\u2028b", ErrInvalidPath, ErrInvalidPath, ""},
	{"paragraph separator", "a\u2029b", ErrInvalidPath, ErrInvalidPath, ""},
	{"bidi override", "invoice-\u202efdp.exe", ErrInvalidPath, ErrInvalidPath, ""},
	{"bidi isolate", "docs/\u2067a.txt\u2069", ErrInvalidPath, ErrInvalidPath, ""},
	{"bidi mark", "a\u200fb", ErrInvalidPath, ErrInvalidPath, ""},
	{"backslash", `..\al`, ErrInvalidPath, ErrInvalidPath, ""},
	{"long name", strings.Repeat("n", 256), ErrInvalidPath, ErrInvalidPath, ""},
	{"long path", strings.Repeat("d/", 2500), ErrInvalidPath, ErrInvalidPath, ""},
	{"invalid UTF-8", "a\xff\xfeb", ErrInvalidPath, ErrInvalidPath, ""},
	{"reserved partial", "/.myftp/partial", ErrInvalidPath, ErrInvalidPath, ""},
	{"reserved", ".myftp", ErrInvalidPath, ErrInvalidPath, ""},
	{"reserved via dot", "./.myftp/sums", ErrInvalidPath, ErrInvalidPath, ""},
	{"reserved via docs", "docs/../.myftp", ErrInvalidPath, ErrInvalidPath, ""},
	{"absolute link", "etc/passwd", ErrOutside, ErrOutside, ""},
	{"relative link to other home", "other/x", ErrOutside, ErrOutside, ""},
	{"absolute link to other home", "abs/x", ErrOutside, ErrOutside, ""},
	{"link to parent", "up/al", ErrOutside, ErrOutside, ""},
	{"link to parent file", "up/secret.txt", ErrOutside, ErrOutside, ""},
}

// jailOps are all operations that take a path, each trying p in one of its arguments.
var jailOps = []struct {
	name string
	do   func(f *FS, p string) error
}{
	{"Stat", func(f *FS, p string) error { _, err := f.Stat(p); return err }},
	{"List", func(f *FS, p string) error {
		return f.List(p, true, func(e Entry) error { return fmt.Errorf("listed %q", e.Name) })
	}},
	{"List short", func(f *FS, p string) error {
		return f.List(p, false, func(e Entry) error { return fmt.Errorf("listed %q", e.Name) })
	}},
	{"Mkdir", func(f *FS, p string) error { _, err := f.Mkdir(p, false); return err }},
	{"Mkdir -p", func(f *FS, p string) error { _, err := f.Mkdir(p, true); return err }},
	{"Mkdir -p below", func(f *FS, p string) error { _, err := f.Mkdir(p+"/sub/dir", true); return err }},
	{"Rmdir", func(f *FS, p string) error { return f.Rmdir(p) }},
	{"Remove", func(f *FS, p string) error { return f.Remove(p) }},
	{"Rename from", func(f *FS, p string) error { return f.Rename(p, "/docs/moved") }},
	{"Rename to", func(f *FS, p string) error { return f.Rename("/docs/a.txt", p) }},
	{"BeginUpload", func(f *FS, p string) error { return tryUpload(f, p, false) }},
	{"BeginUpload resume", func(f *FS, p string) error { return tryUpload(f, p, true) }},
	{"OpenDownload", func(f *FS, p string) error {
		d, err := f.OpenDownload(p)
		if err == nil {
			b, _ := io.ReadAll(d)
			d.Close()
			return fmt.Errorf("opened, read %q", b)
		}
		return err
	}},
}

func tryUpload(f *FS, p string, resume bool) error {
	u, err := f.BeginUpload(p, 3, srcMtime, resume, "")
	if err != nil {
		return err
	}
	u.Abort()
	return fmt.Errorf("upload to %s began", u.Path())
}

func TestJail(t *testing.T) {
	t.Parallel()
	base, alice := jailTree(t)
	before := outsideSnapshot(t, base, alice)
	_, f := openHome(t, base, "alice", 1<<20, Options{})
	beforeHome := snapshot(t, alice) // after Open, which writes the server's own .myftp/id

	// "Mkdir -p below" appends "/sub/dir" to the path: an escaping, reserved or invalid path
	// stays so with more elements.
	for _, op := range jailOps {
		for _, tc := range escapeCases {
			err := op.do(f, tc.p)
			what := fmt.Sprintf("%s(%q) [%s]", op.name, tc.p, tc.name)
			wantKind(t, what, err, tc.kind)
			checkMessage(t, what, err, base)
			if f.Pwd() != "/" {
				t.Fatalf("%s moved the current directory to %q", what, f.Pwd())
			}
		}
	}
	for _, tc := range escapeCases {
		pwd, err := f.Chdir(tc.p)
		what := fmt.Sprintf("Chdir(%q) [%s]", tc.p, tc.name)
		checkMessage(t, what, err, base)
		if tc.cdKind == nil {
			if err != nil || pwd != tc.cdPwd || f.Pwd() != tc.cdPwd {
				t.Errorf("%s = %q, %v (Pwd %q), want %q", what, pwd, err, f.Pwd(), tc.cdPwd)
			}
			continue
		}
		wantKind(t, what, err, tc.cdKind)
		if pwd != "" || f.Pwd() != "/" {
			t.Errorf("%s = %q, Pwd %q after a failure, want \"\" and \"/\"", what, pwd, f.Pwd())
		}
	}

	diffSnapshots(t, before, outsideSnapshot(t, base, alice))
	diffSnapshots(t, beforeHome, snapshot(t, alice))
}

// The same escapes from a subdirectory: ".." is relative to the current directory.
func TestJailFromSubdir(t *testing.T) {
	t.Parallel()
	base, alice := jailTree(t)
	before := outsideSnapshot(t, base, alice)
	_, f := openHome(t, base, "alice", 1<<20, Options{})
	if _, err := f.Chdir("docs"); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"../../secret.txt", "../../al/x", "../..", "./../../al", "../up/al", "../other/x", "../.myftp"} {
		for _, op := range jailOps {
			err := op.do(f, p)
			what := fmt.Sprintf("in /docs, %s(%q)", op.name, p)
			if !errors.Is(err, ErrOutside) && !errors.Is(err, ErrInvalidPath) {
				t.Errorf("%s: %v, want ErrOutside or ErrInvalidPath", what, err)
			}
			checkMessage(t, what, err, base)
		}
	}
	diffSnapshots(t, before, outsideSnapshot(t, base, alice))
}

// The links themselves, when followed, lead out; when acted on (remove, rename) they are entries
// of the home like any other, and removing them leaves their targets alone.
func TestJailLinks(t *testing.T) {
	t.Parallel()
	base, alice := jailTree(t)
	before := outsideSnapshot(t, base, alice)
	_, f := openHome(t, base, "alice", 1<<20, Options{})

	for _, p := range []string{"etc", "other", "abs", "up", "/up/", "up/."} {
		if _, err := f.Stat(p); !errors.Is(err, ErrOutside) {
			t.Errorf("Stat(%q) = %v, want ErrOutside", p, err)
		}
		if _, err := f.Chdir(p); !errors.Is(err, ErrOutside) {
			t.Errorf("Chdir(%q) = %v, want ErrOutside", p, err)
		}
		if err := f.List(p, false, func(Entry) error { return nil }); !errors.Is(err, ErrOutside) {
			t.Errorf("List(%q) = %v, want ErrOutside", p, err)
		}
		if _, err := f.OpenDownload(p); !errors.Is(err, ErrOutside) {
			t.Errorf("OpenDownload(%q) = %v, want ErrOutside", p, err)
		}
	}
	// Listing the home shows the links as links, without following them.
	got := map[string]byte{}
	if err := f.List("/", true, func(e Entry) error { got[e.Name] = e.Type; return nil }); err != nil {
		t.Fatal(err)
	}
	want := map[string]byte{"docs": 'd', "etc": 'l', "other": 'l', "abs": 'l', "inside": 'l', "up": 'l'}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("List(/) = %v, want %v", got, want)
	}

	// Uploading over a link replaces the link, not its target.
	put(t, f, "abs", []byte("now a file"))
	if fi, err := os.Lstat(filepath.Join(alice, "abs")); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("after an upload to abs: %v, %v; want a regular file", fi, err)
	}
	if err := f.Rename("other", "renamed"); err != nil {
		t.Errorf("Rename(other, renamed) = %v", err)
	}
	for _, p := range []string{"etc", "renamed", "up", "abs"} {
		if err := f.Remove(p); err != nil {
			t.Errorf("Remove(%q) = %v", p, err)
		}
	}
	diffSnapshots(t, before, outsideSnapshot(t, base, alice))
}

// A link that stays inside the home is followed.
func TestJailInsideLink(t *testing.T) {
	t.Parallel()
	base, alice := jailTree(t)
	before := outsideSnapshot(t, base, alice)
	_, f := openHome(t, base, "alice", 1<<20, Options{})

	if e, err := f.Stat("inside"); err != nil || e.Type != 'd' || e.Name != "inside" {
		t.Errorf("Stat(inside) = %+v, %v; want directory", e, err)
	}
	if e, err := f.Stat("inside/a.txt"); err != nil || e.Size != 5 {
		t.Errorf("Stat(inside/a.txt) = %+v, %v; want a 5-byte file", e, err)
	}
	d, err := f.OpenDownload("/inside/a.txt")
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(d)
	d.Close()
	if err != nil || string(b) != "hello" {
		t.Errorf("download of inside/a.txt = %q, %v", b, err)
	}
	put(t, f, "inside/new.txt", []byte("via the link"))
	if b := readFile(t, filepath.Join(alice, "docs", "new.txt")); string(b) != "via the link" {
		t.Errorf("docs/new.txt = %q", b)
	}
	// The same file under two names: renaming one onto the other changes nothing, frees nothing.
	if err := f.Rename("inside/new.txt", "docs/new.txt"); err != nil {
		t.Errorf("Rename(inside/new.txt, docs/new.txt) = %v", err)
	}
	if b := readFile(t, filepath.Join(alice, "docs", "new.txt")); string(b) != "via the link" {
		t.Errorf("docs/new.txt = %q after renaming it onto itself", b)
	}
	if _, err := f.Mkdir("inside/sub", false); err != nil {
		t.Errorf("Mkdir(inside/sub) = %v", err)
	}
	if fi, err := os.Stat(filepath.Join(alice, "docs", "sub")); err != nil || !fi.IsDir() {
		t.Errorf("docs/sub: %v, %v", fi, err)
	}
	if pwd, err := f.Chdir("inside"); err != nil || pwd != "/inside" {
		t.Errorf("Chdir(inside) = %q, %v", pwd, err)
	}
	var names []string
	if err := f.List("", false, func(e Entry) error { names = append(names, e.Name); return nil }); err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	if want := []string{"a.txt", "new.txt", "sub"}; !slices.Equal(names, want) {
		t.Errorf("List in /inside = %v, want %v", names, want)
	}
	// ".." is lexical: from /inside it is the home, not the link target's parent.
	if pwd, err := f.Chdir(".."); err != nil || pwd != "/" {
		t.Errorf("Chdir(..) from /inside = %q, %v", pwd, err)
	}
	used, _ := f.Usage()
	if used != int64(len("hello")+len("via the link")) {
		t.Errorf("used = %d; a followed link must not be counted twice", used)
	}
	if m := measured(t, base, "alice"); m != used {
		t.Errorf("restart measures %d, running count %d", m, used)
	}
	diffSnapshots(t, before, outsideSnapshot(t, base, alice))
}

func TestChdirPwd(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	writeFile(t, filepath.Join(base, "u", "docs", "2024", "a.txt"), []byte("x"))
	_, f := openHome(t, base, "u", 1<<20, Options{})

	steps := []struct {
		p       string
		want    string // Pwd afterwards
		wantErr error
	}{
		{"", "/", nil},
		{"..", "/", nil},
		{"../../..", "/", nil},
		{"/", "/", nil},
		{"/docs", "/docs", nil},
		{"2024", "/docs/2024", nil},
		{"..", "/docs", nil},
		{"./2024/", "/docs/2024", nil},
		{"../../docs/./2024/..", "/docs", nil},
		{"2024/a.txt", "/docs", ErrNotDir},
		{"missing", "/docs", ErrNotFound},
		{"/../../docs/2024", "/docs/2024", nil},
		{"", "/", nil},
		{"docs//2024", "/docs/2024", nil},
		{"/.myftp", "/docs/2024", ErrInvalidPath},
		{"../../../..", "/", nil},
	}
	for _, s := range steps {
		got, err := f.Chdir(s.p)
		if s.wantErr != nil {
			wantKind(t, fmt.Sprintf("Chdir(%q)", s.p), err, s.wantErr)
		} else if err != nil || got != s.want {
			t.Errorf("Chdir(%q) = %q, %v; want %q", s.p, got, err, s.want)
		}
		if f.Pwd() != s.want {
			t.Fatalf("after Chdir(%q): Pwd() = %q, want %q", s.p, f.Pwd(), s.want)
		}
	}
}

// Relative paths are taken from the current directory, absolute ones from the home.
func TestRelativeToCwd(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	writeFile(t, filepath.Join(base, "u", "docs", "a.txt"), []byte("in docs"))
	writeFile(t, filepath.Join(base, "u", "a.txt"), []byte("at top"))
	_, f := openHome(t, base, "u", 1<<20, Options{})
	if _, err := f.Chdir("docs"); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]int64{"a.txt": 7, "/a.txt": 6, "../a.txt": 6, "/docs/a.txt": 7, "./a.txt": 7} {
		if e, err := f.Stat(p); err != nil || e.Size != want {
			t.Errorf("in /docs, Stat(%q) = %+v, %v; want size %d", p, e, err, want)
		}
	}
	put(t, f, "b.txt", []byte("b"))
	if _, err := os.Stat(filepath.Join(base, "u", "docs", "b.txt")); err != nil {
		t.Errorf("upload in /docs: %v", err)
	}
	if _, err := f.Mkdir("/top", false); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(base, "u", "top")); err != nil {
		t.Errorf("Mkdir(/top) in /docs: %v", err)
	}
}

// An absolute user path names a file in the home, never the server's file of that name.
func TestAbsolutePathsStayInHome(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	_, f := openHome(t, base, "bob", 1<<20, Options{})
	for _, p := range []string{"/etc/passwd", "/etc", "//etc//passwd", "/tmp", "/proc/self/environ"} {
		_, err := f.Stat(p)
		wantKind(t, "Stat("+p+")", err, ErrNotFound)
		_, err = f.OpenDownload(p)
		wantKind(t, "OpenDownload("+p+")", err, ErrNotFound)
		checkMessage(t, p, err, base)
	}
	writeFile(t, filepath.Join(base, "bob", "etc", "passwd"), []byte("bob's own"))
	d, err := f.OpenDownload("/etc/passwd")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if b, _ := io.ReadAll(d); string(b) != "bob's own" {
		t.Errorf("OpenDownload(/etc/passwd) read %q, want the home's own file", b)
	}
}

// The reserved directory never shows, however the home is named, even with partial uploads and
// md5 records in it.
func TestListHidesReserved(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	_, f := openHome(t, base, "u", 1<<20, Options{})
	put(t, f, "done.txt", []byte("done"))
	u, err := f.BeginUpload("half.txt", 10, srcMtime, false, "")
	if err != nil {
		t.Fatal(err)
	}
	u.Write([]byte("12345"))
	u.Abort()
	if _, err := os.Stat(filepath.Join(base, "u", reserved, partialDir)); err != nil {
		t.Fatalf("the test expects a partial upload: %v", err)
	}
	if _, err := f.Mkdir("docs", false); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"", ".", "/", "docs/..", "//", "/./"} {
		for _, long := range []bool{false, true} {
			var names []string
			err := f.List(p, long, func(e Entry) error { names = append(names, e.Name); return nil })
			slices.Sort(names)
			if err != nil || !slices.Equal(names, []string{"docs", "done.txt"}) {
				t.Errorf("List(%q, %v) = %v, %v; want [docs done.txt]", p, long, names, err)
			}
		}
	}
	// A user's own ".myftp" below the top is an ordinary name.
	if _, err := f.Mkdir("docs/.myftp", false); err != nil {
		t.Errorf("Mkdir(docs/.myftp) = %v", err)
	}
	var names []string
	f.List("docs", false, func(e Entry) error { names = append(names, e.Name); return nil })
	if !slices.Equal(names, []string{".myftp"}) {
		t.Errorf("List(docs) = %v, want [.myftp]", names)
	}
}

// Error messages name the path as the user sees it.
func TestErrorMessages(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	_, f := openHome(t, base, "u", 1<<20, Options{})
	if _, err := f.Mkdir("docs", false); err != nil {
		t.Fatal(err)
	}
	f.Chdir("docs")
	_, err := f.Stat("missing.txt")
	var e *Error
	if !errors.As(err, &e) || e.Path != "/docs/missing.txt" || err.Error() != "no such file or directory: /docs/missing.txt" {
		t.Errorf("Stat(missing.txt) in /docs = %v (%#v)", err, e)
	}
	if e != nil && (e.Err == nil || !strings.Contains(e.Err.Error(), "missing.txt")) {
		t.Errorf("the cause for the log is %v, want the os error", e.Err)
	}
	checkMessage(t, "Stat", err, base)
	if err := f.Rmdir("/"); !errors.Is(err, ErrPermission) {
		t.Errorf("Rmdir(/) = %v, want ErrPermission", err)
	}
	if _, err := f.Mkdir("/", false); !errors.Is(err, ErrExists) {
		t.Errorf("Mkdir(/) = %v, want ErrExists", err)
	}
}
