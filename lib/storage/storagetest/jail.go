package storagetest

import (
	"context"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/myftp/myftp/lib/storage"
)

// badNames are names no Home method takes: not clean, not relative, not inside the home, or in
// the backend's own area.
var badNames = []string{
	"", "/", "/a", "..", "../a", "a/../b", "a//b", "a/", "./a", "a\\b", "a\x00b", ".myftp", ".myftp/x",
}

// nameCalls are the calls of a Home that take a name, each with the name at one place.
func nameCalls(h storage.Home) map[string]func(name string) error {
	ctx := context.Background()
	return map[string]func(string) error{
		"Stat":  func(n string) error { _, err := h.Stat(ctx, n); return err },
		"Lstat": func(n string) error { _, err := h.Lstat(ctx, n); return err },
		"List":  func(n string) error { return h.List(ctx, n, func([]storage.Info) error { return nil }) },
		"Walk": func(n string) error {
			return h.Walk(ctx, n, func(storage.WalkEntry, error) error { return nil })
		},
		"Mkdir":       func(n string) error { return h.Mkdir(ctx, n) },
		"Remove":      func(n string) error { return h.Remove(ctx, n) },
		"Rename from": func(n string) error { return h.Rename(ctx, n, "moved") },
		"Rename to":   func(n string) error { return h.Rename(ctx, "ok", n) },
		"Chtimes":     func(n string) error { return h.Chtimes(ctx, n, time.Unix(1e9, 0)) },
		"Open": func(n string) error {
			r, err := h.Open(ctx, n)
			if err == nil {
				r.Close()
			}
			return err
		},
		"Partial target": func(n string) error {
			p, err := h.Partial(ctx, randomID(), n, storage.PartialOptions{})
			if err == nil {
				p.Discard()
			}
			return err
		},
		"Partial id": func(n string) error {
			p, err := h.Partial(ctx, n, "target", storage.PartialOptions{})
			if err == nil {
				p.Discard()
			}
			return err
		},
		"RemovePartial": func(n string) error { return h.RemovePartial(ctx, n) },
		"StatPartial":   func(n string) error { _, err := h.StatPartial(ctx, n); return err },
		"SyncName":      func(n string) error { return h.SyncName(ctx, n) },
		"Meta":          func(n string) error { _, err := h.Meta(ctx, n); return err },
		"SetMeta":       func(n string) error { return h.SetMeta(ctx, n, []byte("x")) },
		"RemoveMeta":    func(n string) error { return h.RemoveMeta(ctx, n) },
	}
}

// Every name outside the rules is refused with ErrInvalid by every call, and changes nothing.
func testJail(t *testing.T, s *suite) {
	ctx := context.Background()
	h, _ := s.home(t, s.backend(t))
	put(t, h, "ok", []byte("ok"), time.Time{})
	if err := h.Mkdir(ctx, "d"); err != nil {
		t.Fatal(err)
	}
	if err := h.SetMeta(ctx, "k", []byte("kept")); err != nil {
		t.Fatal(err)
	}
	for call, fn := range nameCalls(h) {
		names := badNames
		if call == "Partial id" || call == "RemovePartial" {
			names = append(slices.Clone(badNames), ".", "a/b") // ids are single elements
		}
		for _, n := range names {
			wantErr(t, call+" "+strconv.Quote(n), fn(n), storage.ErrInvalid)
		}
	}
	wantContent(t, h, "ok", []byte("ok"))
	if got, want := walk(t, h, "."), []string{"d/", "ok"}; !sameSet(got, want) {
		t.Errorf("after the refused calls the home holds %q, want %q", got, want)
	}
	if data, err := h.Meta(ctx, "k"); err != nil || string(data) != "kept" {
		t.Errorf("record after the refused calls: %q, %v", data, err)
	}
	if got := partials(t, h); len(got) != 0 {
		t.Errorf("partial uploads after the refused calls: %v", got)
	}
}

// Homes whose names share a prefix do not see each other's files, uploads or records.
func testHomesApart(t *testing.T, s *suite) {
	ctx := context.Background()
	b := s.backend(t)
	name := homeName(t)
	h1 := s.openHome(t, b, name)
	h2 := s.openHome(t, b, name+"x")
	put(t, h1, "x", []byte("1"), time.Time{})
	put(t, h2, "y", []byte("2"), time.Time{})
	wantMissing(t, h2, "x")
	wantMissing(t, h1, "y")
	if got := list(t, h1, "."); !slices.Equal(got, []string{"x"}) {
		t.Errorf("home %s lists %q", name, got)
	}
	if err := h1.SetMeta(ctx, "m", []byte("1")); err != nil {
		t.Fatal(err)
	}
	_, err := h2.Meta(ctx, "m")
	wantErr(t, "a record of another home", err, storage.ErrNotExist)
	p, err := h2.Partial(ctx, "p", "z", storage.PartialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Discard()
	if got := partials(t, h1); len(got) != 0 {
		t.Errorf("home %s lists another home's uploads: %v", name, got)
	}
}

// Home names that leave the store, or are the store itself, are refused.
func testHomeNames(t *testing.T, s *suite) {
	ctx := context.Background()
	b := s.backend(t)
	for _, n := range []string{"", ".", "..", "../x", "/x"} {
		_, err := b.OpenHome(ctx, n, true)
		wantErr(t, "OpenHome "+strconv.Quote(n), err, storage.ErrInvalid)
		wantErr(t, "RemoveHome "+strconv.Quote(n), b.RemoveHome(ctx, n), storage.ErrInvalid)
	}
	_, err := b.OpenHome(ctx, homeName(t), false)
	wantErr(t, "OpenHome of a missing home", err, storage.ErrNotExist)
	if err := b.RemoveHome(ctx, homeName(t)); err != nil {
		t.Errorf("RemoveHome of a missing home: %v", err)
	}
}

// sameSet reports whether a and b hold the same strings, in any order.
func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
