package storagetest

import (
	"context"
	"testing"
	"time"

	"github.com/myftp/myftp/lib/storage"
)

// record returns the record of name, or "" if it has none (ErrNotExist).
func record(t testing.TB, h storage.Home, name string) string {
	t.Helper()
	data, err := h.Record(context.Background(), name)
	if err != nil {
		wantErr(t, "Record "+name, err, storage.ErrNotExist)
		return ""
	}
	return string(data)
}

// publishWith stores data as the file name with the record rec.
func publishWith(t testing.TB, h storage.Home, name string, data []byte, rec []byte) {
	t.Helper()
	p := newPartial(t, h, randomID(), name, false)
	write(t, p, data)
	var record func(storage.Info) []byte
	if rec != nil {
		record = func(storage.Info) []byte { return rec }
	}
	if _, err := p.Publish(context.Background(), time.Time{}, record); err != nil {
		t.Fatalf("Publish %s: %v", name, err)
	}
}

// testRecords: a file's record is set by Publish or SetRecord, follows the file through renames
// (of the file, and of its directory), and goes when the file is removed or replaced.
func testRecords(t *testing.T, s *suite) {
	ctx := context.Background()
	h, _ := s.home(t, s.backend(t))
	if err := h.Mkdir(ctx, "d"); err != nil {
		t.Fatal(err)
	}
	publishWith(t, h, "d/a", []byte("aaa"), []byte("rec-a"))
	if got := record(t, h, "d/a"); got != "rec-a" {
		t.Fatalf("record after Publish: %q, want rec-a", got)
	}
	var seen storage.Info
	p := newPartial(t, h, randomID(), "d/seen", false)
	write(t, p, []byte("12345"))
	mtime := time.Date(2022, 2, 2, 2, 2, 2, 0, time.UTC)
	published, err := p.Publish(ctx, mtime, func(i storage.Info) []byte { seen = i; return []byte("x") })
	if err != nil {
		t.Fatal(err)
	}
	fi, err := h.Stat(ctx, "d/seen")
	if err != nil {
		t.Fatal(err)
	}
	if seen.Size != 5 || !seen.Mtime.Truncate(time.Second).Equal(mtime) || seen.Version != fi.Version || published.Version != fi.Version {
		t.Errorf("the record was made for %+v (Publish returned %+v); the published file is %+v", seen, published, fi)
	}
	if err := h.SetRecord(ctx, "d/a", []byte("rec-a2")); err != nil {
		t.Fatal(err)
	}
	if got := record(t, h, "d/a"); got != "rec-a2" {
		t.Fatalf("record after SetRecord: %q, want rec-a2", got)
	}
	wantErr(t, "SetRecord of a missing file", h.SetRecord(ctx, "d/missing", []byte("x")), storage.ErrNotExist)
	wantErr(t, "SetRecord of a directory", h.SetRecord(ctx, "d", []byte("x")), storage.ErrIsDir)
	if err := h.Rename(ctx, "d/a", "d/b"); err != nil {
		t.Fatal(err)
	}
	if got := record(t, h, "d/b"); got != "rec-a2" {
		t.Fatalf("record after a rename: %q, want rec-a2", got)
	}
	if err := h.Rename(ctx, "d", "e"); err != nil {
		t.Fatal(err)
	}
	if got := record(t, h, "e/b"); got != "rec-a2" {
		t.Fatalf("record after its directory's rename: %q, want rec-a2", got)
	}

	put(t, h, "e/c", []byte("c"), time.Time{}) // no record
	if got := record(t, h, "e/c"); got != "" {
		t.Fatalf("a file published without a record has %q", got)
	}
	if err := h.Rename(ctx, "e/c", "e/b"); err != nil { // replaces b, whose record must go
		t.Fatal(err)
	}
	if got := record(t, h, "e/b"); got != "" {
		t.Fatalf("a file renamed over one with a record has %q", got)
	}

	publishWith(t, h, "e/r", []byte("r1"), []byte("rec-r1"))
	publishWith(t, h, "e/r", []byte("r2"), nil) // replaced without a record
	if got := record(t, h, "e/r"); got != "" {
		t.Fatalf("a replaced file kept the record of the old one: %q", got)
	}
	publishWith(t, h, "e/r", []byte("r3"), []byte("rec-r3"))
	if err := h.Remove(ctx, "e/r"); err != nil {
		t.Fatal(err)
	}
	put(t, h, "e/r", []byte("r4"), time.Time{})
	if got := record(t, h, "e/r"); got != "" {
		t.Fatalf("a file made after a removal has the removed one's record: %q", got)
	}
	for _, n := range []string{"d/a", "d/b", "e/c"} {
		wantErr(t, "Record of the moved-away "+n, func() error { _, err := h.Record(ctx, n); return err }(), storage.ErrNotExist)
	}
}

// testMtimeAtStart: the modification time given when an upload begins is the file's when it is
// published with the same time, and a different time at Publish wins.
func testMtimeAtStart(t *testing.T, s *suite) {
	ctx := context.Background()
	b := s.backend(t)
	h, _ := s.home(t, b)
	want := time.Date(2021, 6, 7, 8, 9, 10, 0, time.UTC)
	for i, at := range []time.Time{want, want.Add(-time.Hour)} {
		p, err := h.Partial(ctx, randomID(), "f", storage.PartialOptions{Mtime: at})
		if err != nil {
			t.Fatal(err)
		}
		write(t, p, randomBytes(int(resumeUnit(b.Caps()))+100))
		info, err := p.Publish(ctx, want, nil)
		if err != nil {
			t.Fatal(err)
		}
		fi, err := h.Stat(ctx, "f")
		if err != nil {
			t.Fatal(err)
		}
		if !info.Mtime.Truncate(time.Second).Equal(want) || !fi.Mtime.Truncate(time.Second).Equal(want) {
			t.Errorf("case %d: Publish says %v, Stat %v; want %v", i, info.Mtime, fi.Mtime, want)
		}
	}
}
