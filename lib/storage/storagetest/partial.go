package storagetest

import (
	"context"
	"crypto/sha256"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/myftp/myftp/lib/storage"
)

// newPartial starts the unfinished upload id of target, or fails the test.
func newPartial(t testing.TB, h storage.Home, id, target string, resume bool) storage.Partial {
	t.Helper()
	p, err := h.Partial(context.Background(), id, target, storage.PartialOptions{Resume: resume})
	if err != nil {
		t.Fatalf("Partial %s (resume %v): %v", id, resume, err)
	}
	return p
}

func write(t testing.TB, p storage.Partial, data []byte) {
	t.Helper()
	if n, err := p.Write(data); n != len(data) || err != nil {
		t.Fatalf("Write: %d, %v", n, err)
	}
}

// An upload, written and synced, is nowhere to be seen until Publish; then its name holds exactly
// its bytes. Publishing onto a file replaces it whole.
func testAtomicPublish(t *testing.T, s *suite) {
	ctx := context.Background()
	h, _ := s.home(t, s.backend(t))
	data := randomBytes(100_000)
	p := newPartial(t, h, "up", "t", false)
	write(t, p, data)
	if err := p.Sync(); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	if p.Size() != int64(len(data)) {
		t.Errorf("Size %d after writing %d bytes", p.Size(), len(data))
	}
	wantMissing(t, h, "t")
	_, err := h.Stat(ctx, "t")
	wantErr(t, "Stat of an unpublished upload", err, storage.ErrNotExist)
	_, err = h.Open(ctx, "t")
	wantErr(t, "Open of an unpublished upload", err, storage.ErrNotExist)
	if got := list(t, h, "."); len(got) != 0 {
		t.Errorf("with an unpublished upload the home lists %q", got)
	}
	if got := walk(t, h, "."); len(got) != 0 {
		t.Errorf("with an unpublished upload the home walks %q", got)
	}
	info, err := p.Publish(ctx, time.Time{}, nil)
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	if info.Size != int64(len(data)) || info.Kind != storage.File || info.Name != "t" {
		t.Errorf("Publish returned %+v", info)
	}
	wantContent(t, h, "t", data)
	if got := partials(t, h); len(got) != 0 {
		t.Errorf("after Publish the partial uploads are %v", got)
	}

	smaller := randomBytes(1000)
	q := newPartial(t, h, "up2", "t", false)
	write(t, q, smaller)
	wantContent(t, h, "t", data) // until Publish
	if _, err := q.Publish(ctx, time.Time{}, nil); err != nil {
		t.Fatalf("Publish onto a file: %v", err)
	}
	wantContent(t, h, "t", smaller)
	if got := list(t, h, "."); !slices.Equal(got, []string{"t"}) {
		t.Errorf("after two uploads the home lists %q", got)
	}
}

// Publish into a missing directory or onto a directory fails, and leaves the directory be.
func testPublishRefused(t *testing.T, s *suite) {
	ctx := context.Background()
	h, _ := s.home(t, s.backend(t))
	if err := h.Mkdir(ctx, "d"); err != nil {
		t.Fatal(err)
	}
	put(t, h, "d/kept", []byte("kept"), time.Time{})
	for target, want := range map[string]error{"missing/f": storage.ErrNotExist, "d": storage.ErrIsDir} {
		id := randomID()
		p := newPartial(t, h, id, target, false)
		write(t, p, []byte("data"))
		_, err := p.Publish(ctx, time.Time{}, nil)
		wantErr(t, "Publish to "+target, err, want)
		// What is left of the upload is the backend's to say: remove it if it is kept.
		if err := h.RemovePartial(ctx, id); err != nil && !errors.Is(err, storage.ErrNotExist) {
			t.Errorf("RemovePartial after a failed Publish: %v", err)
		}
	}
	if info, err := h.Stat(ctx, "d"); err != nil || info.Kind != storage.Dir {
		t.Errorf("the directory after a refused Publish: %+v, %v", info, err)
	}
	wantContent(t, h, "d/kept", []byte("kept"))
	wantMissing(t, h, "missing")
}

// resumeUnit is the size of the upload pieces the resume test writes: Caps.ResumeUnit, at least
// 1 MiB.
func resumeUnit(c storage.Caps) int64 { return max(c.ResumeUnit, 1<<20) }

// kept is how many of written bytes a resumed upload holds after Sync and Close.
func kept(c storage.Caps, written int64) int64 {
	if c.ResumeUnit <= 1 {
		return written
	}
	return written / c.ResumeUnit * c.ResumeUnit
}

// An upload synced and closed on one backend resumes on another one of the same store, with what
// Caps.ResumeUnit says it keeps, and completes with the right bytes.
func testResume(t *testing.T, s *suite) {
	ctx := context.Background()
	b := s.backend(t)
	caps := b.Caps()
	h, name := s.home(t, b)
	unit := resumeUnit(caps)
	data := randomBytes(int(unit*7/2 + 17))
	written := unit*5/2 + 3
	p := newPartial(t, h, "up", "dir/file", true)
	if p.Size() != 0 {
		t.Errorf("a new upload opened with resume: Size %d", p.Size())
	}
	write(t, p, data[:unit])
	write(t, p, data[unit:written])
	if err := p.Sync(); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	want := kept(caps, written)
	if got := partials(t, h)["up"]; got.Target != "dir/file" || got.Size != want || got.Mtime.IsZero() {
		t.Errorf("Partials: %+v, want target dir/file, %d bytes, a time", got, want)
	}

	// Another node.
	h2, err := s.backend(t).OpenHome(ctx, name, false)
	if err != nil {
		t.Fatalf("OpenHome on a second backend: %v", err)
	}
	defer h2.Close()
	q := newPartial(t, h2, "up", "dir/file", true)
	if q.Size() != want {
		q.Discard()
		t.Fatalf("resumed upload holds %d bytes, want %d", q.Size(), want)
	}
	write(t, q, data[want:])
	if err := h2.Mkdir(ctx, "dir"); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Publish(ctx, time.Time{}, nil); err != nil {
		t.Fatalf("Publish of a resumed upload: %v", err)
	}
	if got := sha256.Sum256(get(t, h, "dir/file")); got != sha256.Sum256(data) {
		t.Errorf("the resumed upload published other bytes than those sent")
	}
	if got := partials(t, h2); len(got) != 0 {
		t.Errorf("after Publish the partial uploads are %v", got)
	}
}

// Partials lists the unfinished uploads; RemovePartial and Discard delete them, and a new one
// (without resume) replaces one of its id.
func testPartialsList(t *testing.T, s *suite) {
	ctx := context.Background()
	b := s.backend(t)
	h, _ := s.home(t, b)
	unit := resumeUnit(b.Caps())
	for _, id := range []string{"a", "b", "c"} {
		p := newPartial(t, h, id, "target-"+id, false)
		write(t, p, randomBytes(int(unit)))
		if err := p.Sync(); err != nil {
			t.Fatal(err)
		}
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
	}
	got := partials(t, h)
	for _, id := range []string{"a", "b", "c"} {
		if p := got[id]; p.ID != id || p.Target != "target-"+id || p.Size != kept(b.Caps(), unit) {
			t.Errorf("Partials: %s is %+v", id, p)
		}
	}
	if len(got) != 3 {
		t.Errorf("Partials lists %d uploads, want 3", len(got))
	}
	if pi, err := h.StatPartial(ctx, "b"); err != nil || pi != got["b"] {
		t.Errorf("StatPartial b = %+v, %v; Partials says %+v", pi, err, got["b"])
	}
	_, err := h.StatPartial(ctx, "nothing")
	wantErr(t, "StatPartial of a missing upload", err, storage.ErrNotExist)
	if err := h.RemovePartial(ctx, "a"); err != nil {
		t.Errorf("RemovePartial: %v", err)
	}
	wantErr(t, "RemovePartial of a removed upload", h.RemovePartial(ctx, "a"), storage.ErrNotExist)
	p := newPartial(t, h, "b", "target-b", false)
	if p.Size() != 0 {
		t.Errorf("a new upload of an existing id holds %d bytes", p.Size())
	}
	if err := p.Discard(); err != nil {
		t.Errorf("Discard: %v", err)
	}
	if got := partials(t, h); len(got) != 1 || got["c"].ID != "c" {
		t.Errorf("after RemovePartial and Discard the uploads are %v, want c only", got)
	}
	if got := list(t, h, "."); len(got) != 0 {
		t.Errorf("with unpublished uploads only, the home lists %q", got)
	}
}

// With Caps.RandomWrites an upload takes writes anywhere, reads back and truncates.
func testRandomWrites(t *testing.T, s *suite) {
	ctx := context.Background()
	b := s.backend(t)
	if !b.Caps().RandomWrites {
		t.Skip("no random writes")
	}
	h, _ := s.home(t, b)
	p := newPartial(t, h, "r", "r", false)
	steps := []struct {
		off  int64
		data string
	}{{5, "fghij"}, {0, "abcde"}, {10, "klm"}, {2, "CD"}}
	for _, st := range steps {
		if n, err := p.WriteAt([]byte(st.data), st.off); n != len(st.data) || err != nil {
			t.Fatalf("WriteAt %d: %d, %v", st.off, n, err)
		}
	}
	buf := make([]byte, 13)
	if n, err := p.ReadAt(buf, 0); n != 13 || string(buf) != "abCDefghijklm" {
		t.Errorf("ReadAt: %q, %v", buf[:n], err)
	}
	if p.Size() != 13 {
		t.Errorf("Size %d, want 13", p.Size())
	}
	if err := p.Truncate(8); err != nil || p.Size() != 8 {
		t.Fatalf("Truncate: %v, Size %d", err, p.Size())
	}
	write(t, p, []byte("XY"))
	if _, err := p.Publish(ctx, time.Time{}, nil); err != nil {
		t.Fatal(err)
	}
	wantContent(t, h, "r", []byte("abCDefghXY"))
}
