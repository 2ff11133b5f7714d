// Package storagetest is the conformance suite of storage backends: Run checks, against any
// storage.Backend, what package storage promises homefs (the jail of names, atomic publishing,
// resumes from another node, paged listings, records), reading the backend's Caps for what it
// may do differently. Every backend's tests call it.
//
// Precision: a backend keeps modification times to the second at least; the suite compares them
// truncated to the second.
package storagetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/myftp/myftp/lib/storage"
)

// Open returns a backend on the store under test. Every call must return one on the same store,
// as a second server node would see it: the suite resumes uploads from a fresh backend.
type Open func(t *testing.T) storage.Backend

// Run runs the suite against the backend open returns, in parallel subtests. Each subtest works in
// homes of its own, named after it with a random suffix, and removes them when it ends, so runs
// may share a store. Set the environment variable MYFTP_STORAGE_BIG=1 to list a directory of
// 100,000 files instead of 2,500.
func Run(t *testing.T, open Open) {
	s := &suite{open: open}
	tests := []struct {
		name string
		fn   func(*testing.T, *suite)
	}{
		{"Jail", testJail},
		{"HomesApart", testHomesApart},
		{"HomeNames", testHomeNames},
		{"Dirs", testDirs},
		{"FileInfo", testFileInfo},
		{"Names", testNames},
		{"AtomicPublish", testAtomicPublish},
		{"PublishRefused", testPublishRefused},
		{"Resume", testResume},
		{"PartialsList", testPartialsList},
		{"RandomWrites", testRandomWrites},
		{"Reader", testReader},
		{"ReaderReplaced", testReaderReplaced},
		{"Rename", testRename},
		{"RenameDir", testRenameDir},
		{"RenameTooMany", testRenameTooMany},
		{"Chtimes", testChtimes},
		{"ListPages", testListPages},
		{"Walk", testWalk},
		{"Records", testRecords},
		{"MtimeAtStart", testMtimeAtStart},
		{"Meta", testMeta},
		{"MetaWhole", testMetaWhole},
		{"MetaCreatedOnce", testMetaCreatedOnce},
		{"RemoveHome", testRemoveHome},
		{"Concurrent", testConcurrent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, s)
		})
	}
}

type suite struct {
	open Open
}

// backend opens a backend, closed when the test ends.
func (s *suite) backend(t *testing.T) storage.Backend {
	t.Helper()
	b := s.open(t)
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return b
}

// home makes a home for the test, removed when it ends, and returns it and its name.
func (s *suite) home(t *testing.T, b storage.Backend) (storage.Home, string) {
	t.Helper()
	name := homeName(t)
	return s.openHome(t, b, name), name
}

// openHome opens (making it if needed) the home name of b, closed and removed when the test ends.
func (s *suite) openHome(t *testing.T, b storage.Backend, name string) storage.Home {
	t.Helper()
	ctx := context.Background()
	h, err := b.OpenHome(ctx, name, true)
	if err != nil {
		t.Fatalf("OpenHome %s: %v", name, err)
	}
	t.Cleanup(func() {
		h.Close()
		if err := b.RemoveHome(ctx, name); err != nil {
			t.Errorf("RemoveHome %s: %v", name, err)
		}
	})
	return h
}

// homeName is a name for a home of the test: its name, cut short, and a random suffix.
func homeName(t *testing.T) string {
	clean := strings.Map(func(r rune) rune {
		if 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' {
			return r
		}
		return '-'
	}, t.Name())
	if len(clean) > 48 {
		clean = clean[len(clean)-48:]
	}
	return clean + "-" + randomID()
}

// randomID is a fresh partial upload id.
func randomID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// put stores data as the file name, through a partial upload published with mtime.
func put(t testing.TB, h storage.Home, name string, data []byte, mtime time.Time) storage.Info {
	t.Helper()
	info, err := tryPut(h, name, data, mtime)
	if err != nil {
		t.Fatalf("put %s: %v", name, err)
	}
	return info
}

func tryPut(h storage.Home, name string, data []byte, mtime time.Time) (storage.Info, error) {
	ctx := context.Background()
	p, err := h.Partial(ctx, randomID(), name, storage.PartialOptions{})
	if err != nil {
		return storage.Info{}, err
	}
	if _, err := p.Write(data); err != nil {
		p.Discard()
		return storage.Info{}, err
	}
	return p.Publish(ctx, mtime, nil)
}

// get reads the whole file name.
func get(t testing.TB, h storage.Home, name string) []byte {
	t.Helper()
	r, err := h.Open(context.Background(), name)
	if err != nil {
		t.Fatalf("Open %s: %v", name, err)
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return data
}

// wantContent fails the test unless the file name holds data.
func wantContent(t testing.TB, h storage.Home, name string, data []byte) {
	t.Helper()
	if got := get(t, h, name); !bytes.Equal(got, data) {
		t.Errorf("%s holds %d bytes, not the %d stored", name, len(got), len(data))
	}
}

// wantErr fails the test unless err wraps target.
func wantErr(t testing.TB, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: %v, want %v", what, err, target)
	}
}

// wantMissing fails the test unless name does not exist.
func wantMissing(t testing.TB, h storage.Home, name string) {
	t.Helper()
	_, err := h.Lstat(context.Background(), name)
	wantErr(t, "Lstat "+name, err, storage.ErrNotExist)
}

// list returns the names in the directory dir, sorted, checking the pages' sizes.
func list(t testing.TB, h storage.Home, dir string) []string {
	t.Helper()
	var names []string
	err := h.List(context.Background(), dir, func(page []storage.Info) error {
		if len(page) > storage.ListPage {
			t.Errorf("List %s: a page of %d entries", dir, len(page))
		}
		for _, i := range page {
			names = append(names, i.Name)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("List %s: %v", dir, err)
	}
	slices.Sort(names)
	return names
}

// walk returns the names Walk gives below dir, in its order, directories marked with a "/".
func walk(t testing.TB, h storage.Home, dir string) []string {
	t.Helper()
	var names []string
	err := h.Walk(context.Background(), dir, func(e storage.WalkEntry, err error) error {
		name, info := e.Path(), e.Info()
		if err != nil {
			return err
		}
		if info.IsDir() {
			name += "/"
		}
		names = append(names, name)
		return nil
	})
	if err != nil {
		t.Fatalf("Walk %s: %v", dir, err)
	}
	return names
}

// partials returns the unfinished uploads of h, by id.
func partials(t testing.TB, h storage.Home) map[string]storage.PartialInfo {
	t.Helper()
	m := map[string]storage.PartialInfo{}
	err := h.Partials(context.Background(), func(page []storage.PartialInfo) error {
		if len(page) > storage.ListPage {
			t.Errorf("Partials: a page of %d", len(page))
		}
		for _, p := range page {
			if _, dup := m[p.ID]; dup {
				t.Errorf("Partials: %s twice", p.ID)
			}
			m[p.ID] = p
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Partials: %v", err)
	}
	return m
}

// parallel runs fn(i) for i in [0, n), on at most workers goroutines, and returns the first error.
func parallel(n, workers int, fn func(i int) error) error {
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	next := make(chan int)
	for range workers {
		wg.Go(func() {
			for i := range next {
				if err := fn(i); err != nil {
					once.Do(func() { first = err })
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return first
}

// bigList reports whether the environment asks for the big listing.
func bigList() bool { return os.Getenv("MYFTP_STORAGE_BIG") == "1" }
