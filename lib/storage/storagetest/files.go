package storagetest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/myftp/myftp/lib/storage"
)

// Directories: made once, with their parent; removed only empty.
func testDirs(t *testing.T, s *suite) {
	ctx := context.Background()
	h, _ := s.home(t, s.backend(t))
	_, err := h.Stat(ctx, "d")
	wantErr(t, "Stat of a missing name", err, storage.ErrNotExist)
	wantErr(t, "List of a missing directory", h.List(ctx, "d", func([]storage.Info) error { return nil }), storage.ErrNotExist)
	wantErr(t, "Remove of a missing name", h.Remove(ctx, "d"), storage.ErrNotExist)
	wantErr(t, "Mkdir with a missing parent", h.Mkdir(ctx, "m/x"), storage.ErrNotExist)
	if err := h.Mkdir(ctx, "d"); err != nil {
		t.Fatalf("Mkdir: %v", err)
	}
	wantErr(t, "Mkdir of an existing directory", h.Mkdir(ctx, "d"), storage.ErrExist)
	if info, err := h.Stat(ctx, "d"); err != nil || info.Kind != storage.Dir || !info.IsDir() || info.Name != "d" {
		t.Errorf("Stat of a directory: %+v, %v", info, err)
	}
	if info, err := h.Stat(ctx, "."); err != nil || info.Kind != storage.Dir {
		t.Errorf("Stat of the home: %+v, %v", info, err)
	}
	if err := h.Mkdir(ctx, "d/e"); err != nil {
		t.Fatalf("Mkdir in a directory: %v", err)
	}
	put(t, h, "d/f", []byte("f"), time.Time{})
	wantErr(t, "Mkdir onto a file", h.Mkdir(ctx, "d/f"), storage.ErrExist)
	wantErr(t, "Remove of a directory that is not empty", h.Remove(ctx, "d"), storage.ErrNotEmpty)
	if got := list(t, h, "d"); !slices.Equal(got, []string{"e", "f"}) {
		t.Errorf("after a refused Remove the directory lists %q", got)
	}
	for _, n := range []string{"d/f", "d/e", "d"} {
		if err := h.Remove(ctx, n); err != nil {
			t.Errorf("Remove %s: %v", n, err)
		}
		wantMissing(t, h, n)
	}
	if got := list(t, h, "."); len(got) != 0 {
		t.Errorf("an emptied home lists %q", got)
	}
}

// Stat describes a file as Publish made it; its modification time is kept to the second at
// least, and its version changes when another file replaces it.
func testFileInfo(t *testing.T, s *suite) {
	ctx := context.Background()
	h, _ := s.home(t, s.backend(t))
	mtime := time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)
	published := put(t, h, "f", []byte("hello"), mtime)
	info, err := h.Stat(ctx, "f")
	if err != nil {
		t.Fatal(err)
	}
	if info.Name != "f" || info.Kind != storage.File || info.Size != 5 || info.IsDir() {
		t.Errorf("Stat of a file: %+v", info)
	}
	if !info.Mtime.Truncate(time.Second).Equal(mtime) {
		t.Errorf("Stat: modification time %v, published with %v", info.Mtime, mtime)
	}
	if published.Name != "f" || published.Size != 5 || published.Kind != storage.File {
		t.Errorf("Publish returned %+v", published)
	}
	if l, err := h.Lstat(ctx, "f"); err != nil || l.Kind != storage.File || l.Size != 5 {
		t.Errorf("Lstat of a file: %+v, %v", l, err)
	}
	// Below the second: kept, or cut to the second.
	fine := time.Date(2022, 1, 2, 3, 4, 5, 678_000_000, time.UTC)
	put(t, h, "g", nil, fine)
	if g, err := h.Stat(ctx, "g"); err != nil || !g.Mtime.Truncate(time.Second).Equal(fine.Truncate(time.Second)) {
		t.Errorf("Stat: modification time %v, published with %v", g.Mtime, fine)
	}
	put(t, h, "f", []byte("other"), mtime)
	again, err := h.Stat(ctx, "f")
	if err != nil {
		t.Fatal(err)
	}
	if info.Version != "" && again.Version == info.Version {
		t.Errorf("a file replaced by another keeps its version %q", info.Version)
	}
}

// specialNames are names that take escaping somewhere: URLs, shells, object keys.
var specialNames = []string{
	"with space.txt", " lead", "ünïcødé 文件", "100%", "50%25", "what?", "#hash", "a+b", "a&b=c", "~tilde", "x.",
}

// Names with spaces, unicode and characters that URLs escape work as any other.
func testNames(t *testing.T, s *suite) {
	ctx := context.Background()
	h, _ := s.home(t, s.backend(t))
	if err := h.Mkdir(ctx, "dir %?#"); err != nil {
		t.Fatalf("Mkdir: %v", err)
	}
	for i, n := range specialNames {
		for _, name := range []string{n, "dir %?#/" + n} {
			data := []byte(fmt.Sprint(i, name))
			put(t, h, name, data, time.Time{})
			if info, err := h.Stat(ctx, name); err != nil || info.Name != n || info.Size != int64(len(data)) {
				t.Errorf("Stat %q: %+v, %v", name, info, err)
			}
			wantContent(t, h, name, data)
		}
	}
	want := append(slices.Clone(specialNames), "dir %?#")
	slices.Sort(want)
	if got := list(t, h, "."); !slices.Equal(got, want) {
		t.Errorf("List: %q, want %q", got, want)
	}
	if err := h.Rename(ctx, "dir %?#", "dir &+~"); err != nil {
		t.Fatalf("Rename: %v", err)
	}
	for _, n := range specialNames {
		if err := h.Rename(ctx, "dir &+~/"+n, "dir &+~/"+n+"%2"); err != nil {
			t.Errorf("Rename %q: %v", n, err)
		}
		if err := h.Remove(ctx, "dir &+~/"+n+"%2"); err != nil {
			t.Errorf("Remove %q: %v", n, err)
		}
	}
	if got := list(t, h, "dir &+~"); len(got) != 0 {
		t.Errorf("a directory emptied lists %q", got)
	}
}

// Rename moves a file, replacing a file at its new name.
func testRename(t *testing.T, s *suite) {
	ctx := context.Background()
	h, _ := s.home(t, s.backend(t))
	put(t, h, "a", []byte("aaa"), time.Time{})
	if err := h.Rename(ctx, "a", "b"); err != nil {
		t.Fatalf("Rename: %v", err)
	}
	wantMissing(t, h, "a")
	wantContent(t, h, "b", []byte("aaa"))
	put(t, h, "c", []byte("c"), time.Time{})
	if err := h.Rename(ctx, "b", "c"); err != nil {
		t.Fatalf("Rename onto a file: %v", err)
	}
	wantMissing(t, h, "b")
	wantContent(t, h, "c", []byte("aaa"))
	wantErr(t, "Rename of a missing name", h.Rename(ctx, "a", "x"), storage.ErrNotExist)
	wantErr(t, "Rename into a missing directory", h.Rename(ctx, "c", "no/c"), storage.ErrNotExist)
	wantContent(t, h, "c", []byte("aaa"))
	if got := list(t, h, "."); !slices.Equal(got, []string{"c"}) {
		t.Errorf("after the renames the home lists %q", got)
	}
}

// Rename moves a directory with everything in it, only to a free name, never into itself.
func testRenameDir(t *testing.T, s *suite) {
	ctx := context.Background()
	h, _ := s.home(t, s.backend(t))
	for _, d := range []string{"d", "d/e", "d/e/f", "other"} {
		if err := h.Mkdir(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	put(t, h, "d/e/f/x", []byte("x"), time.Time{})
	put(t, h, "d/y", []byte("y"), time.Time{})
	put(t, h, "file", []byte("file"), time.Time{})
	if err := h.Rename(ctx, "d", "d2"); err != nil {
		t.Fatalf("Rename of a directory: %v", err)
	}
	wantMissing(t, h, "d")
	want := []string{"d2/e/", "d2/e/f/", "d2/e/f/x", "d2/y"}
	if got := walk(t, h, "d2"); !sameSet(got, want) {
		t.Errorf("the moved directory holds %q, want %q", got, want)
	}
	wantContent(t, h, "d2/e/f/x", []byte("x"))
	wantErr(t, "Rename of a directory into itself", h.Rename(ctx, "d2", "d2/e/f/d3"), storage.ErrInvalid)
	for _, to := range []string{"other", "file"} {
		wantErr(t, "Rename of a directory onto "+to, h.Rename(ctx, "d2", to), storage.ErrExist)
	}
	if got := walk(t, h, "d2"); !sameSet(got, want) {
		t.Errorf("after refused renames the directory holds %q, want %q", got, want)
	}
	wantContent(t, h, "file", []byte("file"))
}

// A directory of more entries than Caps.MaxRenameObjects is not renamed, and nothing of it moves.
func testRenameTooMany(t *testing.T, s *suite) {
	ctx := context.Background()
	b := s.backend(t)
	limit := b.Caps().MaxRenameObjects
	if limit == 0 || limit > 2000 {
		t.Skipf("MaxRenameObjects %d", limit)
	}
	h, _ := s.home(t, b)
	if err := h.Mkdir(ctx, "big"); err != nil {
		t.Fatal(err)
	}
	err := parallel(limit+1, 16, func(i int) error {
		_, err := tryPut(h, fmt.Sprintf("big/%05d", i), []byte{1}, time.Time{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, "Rename of too big a directory", h.Rename(ctx, "big", "moved"), storage.ErrTooMany)
	wantMissing(t, h, "moved")
	if got := list(t, h, "big"); len(got) != limit+1 {
		t.Errorf("after a refused Rename the directory holds %d entries, want %d", len(got), limit+1)
	}
}

// Chtimes sets a file's modification time.
func testChtimes(t *testing.T, s *suite) {
	ctx := context.Background()
	h, _ := s.home(t, s.backend(t))
	put(t, h, "f", []byte("f"), time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC))
	mtime := time.Date(2019, 6, 7, 8, 9, 10, 0, time.UTC)
	if err := h.Chtimes(ctx, "f", mtime); err != nil {
		t.Fatalf("Chtimes: %v", err)
	}
	if info, err := h.Stat(ctx, "f"); err != nil || !info.Mtime.Truncate(time.Second).Equal(mtime) {
		t.Errorf("after Chtimes: %v, %v; want %v", info.Mtime, err, mtime)
	}
	wantContent(t, h, "f", []byte("f"))
	wantErr(t, "Chtimes of a missing name", h.Chtimes(ctx, "g", mtime), storage.ErrNotExist)
}
