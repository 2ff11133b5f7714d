package local_test

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/myftp/myftp/lib/storage"
	"github.com/myftp/myftp/lib/storage/local"
)

// openHome makes the home "h" under a new base directory and returns it and the home's directory.
func openHome(t *testing.T) (storage.Home, string) {
	t.Helper()
	base := t.TempDir()
	h, err := local.New(base, local.Options{}).OpenHome(context.Background(), "h", true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h, filepath.Join(base, "h")
}

func publish(t *testing.T, h storage.Home, name, data string) storage.Info {
	t.Helper()
	ctx := context.Background()
	p, err := h.Partial(ctx, "id", name, storage.PartialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(p, data); err != nil {
		t.Fatal(err)
	}
	info, err := p.Publish(ctx, time.Time{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// Symbolic links are listed and described, and followed only inside the home: one that leads out
// of it reads nothing there.
func TestLinks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h, dir := openHome(t)
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	publish(t, h, "in", "inside")
	links := map[string]string{"out": filepath.Join(outside, "secret"), "outdir": outside, "up": "../..", "in-link": "in"}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Skipf("no symbolic links: %v", err)
		}
	}
	for _, name := range []string{"out", "outdir", "up"} {
		if info, err := h.Stat(ctx, name); err == nil {
			t.Errorf("Stat %s, a link out of the home: %+v", name, info)
		}
		if info, err := h.Lstat(ctx, name); err != nil || info.Kind != storage.Symlink {
			t.Errorf("Lstat %s: %+v, %v; want a link", name, info, err)
		}
		if r, err := h.Open(ctx, name); err == nil {
			data, _ := io.ReadAll(r)
			r.Close()
			t.Errorf("Open %s, a link out of the home, read %q", name, data)
		}
		if err := h.List(ctx, name, func([]storage.Info) error { return nil }); err == nil {
			t.Errorf("List %s, a link out of the home: no error", name)
		}
		if err := h.List(ctx, name+"/secret", func([]storage.Info) error { return nil }); err == nil {
			t.Errorf("List through %s: no error", name)
		}
		if err := h.Chtimes(ctx, name, time.Unix(1, 0)); err == nil {
			t.Errorf("Chtimes %s, a link out of the home: no error", name)
		}
	}
	for _, name := range []string{"outdir/new", "up/new"} { // an upload published through a link out
		p, err := h.Partial(ctx, "through", name, storage.PartialOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(p, "planted"); err != nil {
			t.Fatal(err)
		}
		if info, err := p.Publish(ctx, time.Time{}, nil); err == nil {
			t.Errorf("Publish to %s, through a link out of the home: %+v", name, info)
		}
		p.Close()
	}
	if _, err := os.Lstat(filepath.Join(outside, "new")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a file published through a link appeared outside the home: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(outside, "secret")); err != nil || fi.ModTime().Equal(time.Unix(1, 0)) {
		t.Errorf("the file outside: %v, %v", fi, err)
	}
	publish(t, h, "out", "replaced") // a link published onto is replaced, not followed
	if data, err := os.ReadFile(filepath.Join(outside, "secret")); err != nil || string(data) != "secret" {
		t.Errorf("the file outside after a publish onto the link to it: %q, %v", data, err)
	}
	if data, err := os.ReadFile(filepath.Join(dir, "out")); err != nil || string(data) != "replaced" {
		t.Errorf("published onto a link: %q, %v; want the file in its place", data, err)
	}
	if info, err := h.Stat(ctx, "in-link"); err != nil || info.Kind != storage.File || info.Size != 6 {
		t.Errorf("Stat of a link inside the home: %+v, %v; want the file", info, err)
	}
	kinds := map[string]storage.Kind{}
	err := h.Walk(ctx, ".", func(e storage.WalkEntry, err error) error {
		name, info := e.Path(), e.Info()
		kinds[name] = info.Kind
		return nil
	})
	want := map[string]storage.Kind{"in": storage.File, "out": storage.File, "outdir": storage.Symlink, "up": storage.Symlink, "in-link": storage.Symlink}
	if err != nil || !maps.Equal(kinds, want) {
		t.Errorf("Walk: %v, %v; want %v, links not followed", kinds, err, want)
	}
}

// Errors name files as the home does, never by where the home lies on the server, and wrap the
// *fs.PathError they come from with the storage error they mean, and no other.
func TestErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h, dir := openHome(t)
	publish(t, h, "f", "f")
	if err := h.Mkdir(ctx, "d"); err != nil {
		t.Fatal(err)
	}
	publish(t, h, "d/x", "x")
	_, statErr := h.Stat(ctx, "missing")
	_, openErr := h.Open(ctx, "d")
	_, metaErr := h.Meta(ctx, "none")
	cases := []struct {
		what     string
		err      error
		want     error
		wantPath string
	}{
		{"Stat missing", statErr, storage.ErrNotExist, "missing"},
		{"Remove not empty", h.Remove(ctx, "d"), storage.ErrNotEmpty, "d"},
		{"Mkdir under a file", h.Mkdir(ctx, "f/g"), storage.ErrNotDir, "f/g"},
		{"Open a directory", openErr, storage.ErrIsDir, "d"},
		{"Meta missing", metaErr, storage.ErrNotExist, "none"},
		{"Rename into itself", h.Rename(ctx, "d", "d/e"), storage.ErrInvalid, "d/e"},
		{"Mkdir existing", h.Mkdir(ctx, "d"), storage.ErrExist, "d"},
	}
	kinds := []error{storage.ErrNotExist, storage.ErrExist, storage.ErrInvalid, storage.ErrNotDir, storage.ErrIsDir, storage.ErrNotEmpty}
	for _, c := range cases {
		var pe *fs.PathError
		if !errors.As(c.err, &pe) || pe.Path != c.wantPath {
			t.Errorf("%s: %v; want a *fs.PathError on %s", c.what, c.err, c.wantPath)
		}
		for _, k := range kinds {
			if errors.Is(c.err, k) != (k == c.want) {
				t.Errorf("%s: %v: errors.Is(%v) = %v", c.what, c.err, k, !(k == c.want))
			}
		}
		if c.err != nil && strings.Contains(c.err.Error(), dir) {
			t.Errorf("%s: %v names the server's directory", c.what, c.err)
		}
	}
}

// Version is the file's identity: kept through a rename, new for a new file, the same from Walk.
func TestVersion(t *testing.T) {
	t.Parallel()
	if runtime.GOOS == "windows" {
		t.Skip("no file identity in FileInfo")
	}
	ctx := context.Background()
	h, _ := openHome(t)
	v1 := publish(t, h, "a", "one").Version
	if err := h.Rename(ctx, "a", "b"); err != nil {
		t.Fatal(err)
	}
	info, err := h.Stat(ctx, "b")
	if err != nil || v1 == "" || info.Version != v1 {
		t.Errorf("version %q, after a rename %q (%v)", v1, info.Version, err)
	}
	var walked string
	h.Walk(ctx, ".", func(e storage.WalkEntry, err error) error {
		info := e.Info()
		walked = info.Version
		return nil
	})
	if walked != v1 {
		t.Errorf("Walk's version %q, Stat's %q", walked, v1)
	}
	if v2 := publish(t, h, "b", "two").Version; v2 == v1 {
		t.Errorf("a new file under the name keeps version %q", v1)
	}
}

// The unfinished uploads live in .myftp/partial, their targets in .myftp/targets; the home lists
// neither, and a resume from another Backend finds both.
func TestPartialLayout(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h, dir := openHome(t)
	p, err := h.Partial(ctx, "k1", "docs/a b.txt", storage.PartialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(p, "12345")
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if data, err := os.ReadFile(filepath.Join(dir, ".myftp", "partial", "k1")); err != nil || string(data) != "12345" {
		t.Errorf("the partial file: %q, %v", data, err)
	}
	var got []storage.PartialInfo
	h.Partials(ctx, func(page []storage.PartialInfo) error { got = append(got, page...); return nil })
	if len(got) != 1 || got[0].ID != "k1" || got[0].Target != "docs/a b.txt" || got[0].Size != 5 {
		t.Errorf("Partials: %+v", got)
	}
	if err := h.RemovePartial(ctx, "k1"); err != nil {
		t.Fatal(err)
	}
	for _, sub := range []string{"partial", "targets"} {
		names, err := os.ReadDir(filepath.Join(dir, ".myftp", sub))
		if err != nil || len(names) != 0 {
			t.Errorf(".myftp/%s after RemovePartial: %v, %v", sub, names, err)
		}
	}
}

// A home is a directory under the base, named by a relative name that stays inside it.
func TestHomeNames(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	base := t.TempDir()
	b := local.New(filepath.Join(base, "homes"), local.Options{})
	h, err := b.OpenHome(ctx, "users/ann", true)
	if err != nil {
		t.Fatal(err)
	}
	h.Close()
	if fi, err := os.Stat(filepath.Join(base, "homes", "users", "ann")); err != nil || !fi.IsDir() {
		t.Errorf("the home directory: %v", err)
	}
	for _, n := range []string{"users/../../x", "/etc", "."} {
		if _, err := b.OpenHome(ctx, n, true); !errors.Is(err, storage.ErrInvalid) {
			t.Errorf("OpenHome %q: %v, want ErrInvalid", n, err)
		}
	}
	entries, _ := os.ReadDir(base)
	if names := dirNames(entries); !slices.Equal(names, []string{"homes"}) {
		t.Errorf("the base's parent holds %q", names)
	}
	if err := b.RemoveHome(ctx, "users/ann"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(base, "homes", "users")); err != nil {
		t.Errorf("RemoveHome removed the home's parent: %v", err)
	}
}

func dirNames(entries []os.DirEntry) []string {
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}
