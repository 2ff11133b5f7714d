package storagetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/myftp/myftp/lib/storage"
)

// A big directory is listed in pages of at most storage.ListPage entries, each entry once; an
// error from fn stops the listing.
func testListPages(t *testing.T, s *suite) {
	ctx := context.Background()
	h, _ := s.home(t, s.backend(t))
	n := 2500
	if bigList() {
		n = 100_000
	}
	if err := h.Mkdir(ctx, "big"); err != nil {
		t.Fatal(err)
	}
	err := parallel(n, 16, func(i int) error {
		_, err := tryPut(h, fmt.Sprintf("big/%06d", i), []byte{byte(i)}, time.Time{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	seen := make([]bool, n)
	pages := 0
	err = h.List(ctx, "big", func(page []storage.Info) error {
		pages++
		if len(page) > storage.ListPage {
			t.Errorf("a page of %d entries", len(page))
		}
		for _, info := range page {
			var i int
			if _, err := fmt.Sscanf(info.Name, "%06d", &i); err != nil || i >= n || seen[i] || info.Size != 1 {
				t.Errorf("listed %+v: unknown, or twice", info)
				continue
			}
			seen[i] = true
		}
		return nil
	})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if missed := slices.Index(seen, false); missed >= 0 || pages < n/storage.ListPage {
		t.Errorf("List in %d pages; first entry not listed: %d", pages, missed)
	}
	stop := errors.New("stop")
	calls := 0
	err = h.List(ctx, "big", func([]storage.Info) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("List whose fn fails: %d calls, %v", calls, err)
	}
}

// Walk visits every entry below a directory, with its name from the home, each directory before
// its contents, and honours SkipDir and SkipAll; it never shows the backend's own records.
func testWalk(t *testing.T, s *suite) {
	ctx := context.Background()
	h, _ := s.home(t, s.backend(t))
	for _, d := range []string{"a", "a/b", "a/b/c", "e", "empty"} {
		if err := h.Mkdir(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"a/b/c/x", "a/y", "e/z", "top"} {
		put(t, h, f, []byte(f), time.Time{})
	}
	if err := h.SetMeta(ctx, "sums/r.json", []byte("{}")); err != nil {
		t.Fatal(err)
	}
	p := newPartial(t, h, "hidden", "a/hidden", false)
	write(t, p, []byte("unpublished"))
	defer p.Discard()

	all := []string{"a/", "a/b/", "a/b/c/", "a/b/c/x", "a/y", "e/", "e/z", "empty/", "top"}
	got := walk(t, h, ".")
	if !sameSet(got, all) {
		t.Errorf("Walk: %q, want %q", got, all)
	}
	for i, name := range got { // each directory before its contents
		if dir := path.Dir(strings.TrimSuffix(name, "/")); dir != "." && !slices.Contains(got[:i], dir+"/") {
			t.Errorf("Walk: %s before its directory", name)
		}
	}
	if got, want := walk(t, h, "a/b"), []string{"a/b/c/", "a/b/c/x"}; !sameSet(got, want) {
		t.Errorf("Walk a/b: %q, want %q", got, want)
	}
	var skipped []string
	err := h.Walk(ctx, ".", func(e storage.WalkEntry, err error) error {
		name := e.Path()
		if err != nil {
			return err
		}
		skipped = append(skipped, name)
		if name == "a" {
			return fs.SkipDir
		}
		return nil
	})
	if want := []string{"a", "e", "e/z", "empty", "top"}; err != nil || !sameSet(skipped, want) {
		t.Errorf("Walk skipping a: %q, %v; want %q", skipped, err, want)
	}
	calls := 0
	err = h.Walk(ctx, ".", func(storage.WalkEntry, error) error { calls++; return fs.SkipAll })
	if err != nil || calls != 1 {
		t.Errorf("Walk returning SkipAll: %d calls, %v", calls, err)
	}
	stop := errors.New("stop")
	err = h.Walk(ctx, ".", func(storage.WalkEntry, error) error { return stop })
	wantErr(t, "Walk whose fn fails", err, stop)
	err = h.Walk(ctx, "missing", func(storage.WalkEntry, error) error { return nil })
	wantErr(t, "Walk of a missing directory", err, storage.ErrNotExist)
}

// Records are set whole, read, replaced and removed; they are never listed or walked.
func testMeta(t *testing.T, s *suite) {
	ctx := context.Background()
	h, _ := s.home(t, s.backend(t))
	_, err := h.Meta(ctx, "k")
	wantErr(t, "Meta of a missing record", err, storage.ErrNotExist)
	if err := h.RemoveMeta(ctx, "k"); err != nil {
		t.Errorf("RemoveMeta of a missing record: %v", err)
	}
	for _, v := range []string{"one", "two, longer", "", "3"} {
		for _, key := range []string{"k", "sums/x.json", "partial/deep/er"} {
			if err := h.SetMeta(ctx, key, []byte(v)); err != nil {
				t.Fatalf("SetMeta %s: %v", key, err)
			}
			if got, err := h.Meta(ctx, key); err != nil || string(got) != v {
				t.Errorf("Meta %s: %q, %v; want %q", key, got, err, v)
			}
		}
	}
	_, err = h.Meta(ctx, "sums/missing.json")
	wantErr(t, "Meta of a missing nested record", err, storage.ErrNotExist)
	put(t, h, "f", []byte("f"), time.Time{})
	if got := list(t, h, "."); !slices.Equal(got, []string{"f"}) {
		t.Errorf("with records the home lists %q", got)
	}
	if got := walk(t, h, "."); !slices.Equal(got, []string{"f"}) {
		t.Errorf("with records the home walks %q", got)
	}
	if err := h.RemoveMeta(ctx, "sums/x.json"); err != nil {
		t.Errorf("RemoveMeta: %v", err)
	}
	_, err = h.Meta(ctx, "sums/x.json")
	wantErr(t, "Meta of a removed record", err, storage.ErrNotExist)
	if got, err := h.Meta(ctx, "k"); err != nil || string(got) != "3" {
		t.Errorf("Meta k after removing another record: %q, %v", got, err)
	}
}

// A record read while it is rewritten is the old data or the new, whole.
func testMetaWhole(t *testing.T, s *suite) {
	ctx := context.Background()
	h, _ := s.home(t, s.backend(t))
	values := [][]byte{bytes.Repeat([]byte("a"), 64<<10), bytes.Repeat([]byte("b"), 32<<10)}
	if err := h.SetMeta(ctx, "r", values[0]); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range 50 {
			if err := h.SetMeta(ctx, "r", values[i%2]); err != nil {
				t.Errorf("SetMeta: %v", err)
				return
			}
		}
	})
	for range 50 {
		got, err := h.Meta(ctx, "r")
		if err != nil || !(bytes.Equal(got, values[0]) || bytes.Equal(got, values[1])) {
			t.Errorf("Meta during SetMeta: %d bytes, %v; want one value whole", len(got), err)
			break
		}
	}
	wg.Wait()
}

// CreateMeta creates a record only if there is none: of two servers creating one at once, one
// succeeds, the other is told it exists (ErrExist), and both then read the winner's; a record
// written with SetMeta is not replaced either.
func testMetaCreatedOnce(t *testing.T, s *suite) {
	ctx := context.Background()
	h, name := s.home(t, s.backend(t))
	h2, err := s.backend(t).OpenHome(ctx, name, false)
	if err != nil {
		t.Fatalf("OpenHome on a second backend: %v", err)
	}
	defer h2.Close()
	homes := [2]storage.Home{h, h2}
	for round := range 20 {
		key := fmt.Sprintf("ids/%d", round)
		var errs [2]error
		var wg sync.WaitGroup
		for i, hm := range homes {
			wg.Go(func() { errs[i] = hm.CreateMeta(ctx, key, []byte{byte('a' + i)}) })
		}
		wg.Wait()
		won := slices.IndexFunc(errs[:], func(err error) bool { return err == nil })
		if won < 0 || !errors.Is(errs[1-won], storage.ErrExist) {
			t.Fatalf("round %d: CreateMeta from two servers at once: %v; want one to succeed, the other ErrExist", round, errs)
		}
		for i, hm := range homes {
			if got, err := hm.Meta(ctx, key); err != nil || !bytes.Equal(got, []byte{byte('a' + won)}) {
				t.Fatalf("round %d: server %d reads %q, %v; want the winner's %q", round, i, got, err, []byte{byte('a' + won)})
			}
		}
	}
	if err := h.SetMeta(ctx, "set", []byte("old")); err != nil {
		t.Fatal(err)
	}
	if err := h2.CreateMeta(ctx, "set", []byte("new")); !errors.Is(err, storage.ErrExist) {
		t.Errorf("CreateMeta over a record SetMeta wrote: %v, want ErrExist", err)
	}
	if got, err := h.Meta(ctx, "set"); err != nil || string(got) != "old" {
		t.Errorf("the record after a refused CreateMeta: %q, %v; want \"old\"", got, err)
	}
}

// RemoveHome deletes files, unfinished uploads and records; a home made again is empty.
func testRemoveHome(t *testing.T, s *suite) {
	ctx := context.Background()
	b := s.backend(t)
	h, name := s.home(t, b)
	if err := h.Mkdir(ctx, "d"); err != nil {
		t.Fatal(err)
	}
	put(t, h, "d/f", []byte("f"), time.Time{})
	p := newPartial(t, h, "p", "d/g", false)
	write(t, p, []byte("partial"))
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := h.SetMeta(ctx, "sums/x", []byte("x")); err != nil {
		t.Fatal(err)
	}
	h.Close()
	if err := b.RemoveHome(ctx, name); err != nil {
		t.Fatalf("RemoveHome: %v", err)
	}
	_, err := b.OpenHome(ctx, name, false)
	wantErr(t, "OpenHome of a removed home", err, storage.ErrNotExist)
	if err := b.RemoveHome(ctx, name); err != nil {
		t.Errorf("RemoveHome of a removed home: %v", err)
	}
	h2 := s.openHome(t, b, name)
	if got := walk(t, h2, "."); len(got) != 0 {
		t.Errorf("a home made again holds %q", got)
	}
	if got := partials(t, h2); len(got) != 0 {
		t.Errorf("a home made again has uploads %v", got)
	}
	_, err = h2.Meta(ctx, "sums/x")
	wantErr(t, "a record of a removed home", err, storage.ErrNotExist)
}

// Uploads to different names and listings run at once.
func testConcurrent(t *testing.T, s *suite) {
	ctx := context.Background()
	h, _ := s.home(t, s.backend(t))
	if err := h.Mkdir(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	const workers, each = 8, 20
	done := make(chan struct{})
	var lister sync.WaitGroup
	lister.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
			}
			if err := h.List(ctx, "c", func([]storage.Info) error { return nil }); err != nil {
				t.Errorf("List during uploads: %v", err)
				return
			}
		}
	})
	err := parallel(workers*each, workers, func(i int) error {
		name := fmt.Sprintf("c/%d", i)
		if _, err := tryPut(h, name, []byte(name), time.Time{}); err != nil {
			return fmt.Errorf("upload %s: %w", name, err)
		}
		return nil
	})
	close(done)
	lister.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if got := list(t, h, "c"); len(got) != workers*each {
		t.Errorf("after %d uploads the directory lists %d entries", workers*each, len(got))
	}
	for i := range workers * each {
		if i%37 == 0 {
			name := fmt.Sprintf("c/%d", i)
			wantContent(t, h, name, []byte(name))
		}
	}
}
