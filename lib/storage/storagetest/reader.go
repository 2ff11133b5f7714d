package storagetest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/myftp/myftp/lib/storage"
)

// A Reader reads at any offset, to io.EOF, and sequentially to the end.
func testReader(t *testing.T, s *suite) {
	ctx := context.Background()
	h, _ := s.home(t, s.backend(t))
	data := randomBytes(10_000)
	mtime := time.Date(2020, 2, 3, 4, 5, 6, 0, time.UTC)
	put(t, h, "f", data, mtime)
	r, err := h.Open(ctx, "f")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if info := r.Info(); info.Size != 10_000 || info.Kind != storage.File || !info.Mtime.Truncate(time.Second).Equal(mtime) {
		t.Errorf("Reader.Info: %+v", info)
	}
	for _, c := range []struct {
		off  int64
		size int
	}{{0, 100}, {5000, 1000}, {9999, 1}, {1, 9999}, {9990, 100}, {10_000, 10}, {20_000, 1}, {0, 0}} {
		buf := make([]byte, c.size)
		n, err := r.ReadAt(buf, c.off)
		end := min(c.off+int64(c.size), int64(len(data)))
		want := data[min(c.off, end):end]
		if !bytes.Equal(buf[:n], want) {
			t.Errorf("ReadAt(%d bytes at %d): %d bytes, not the file's %d", c.size, c.off, n, len(want))
		}
		switch {
		case n < c.size && err != io.EOF:
			t.Errorf("ReadAt(%d bytes at %d): %d bytes and %v, want io.EOF", c.size, c.off, n, err)
		case n == c.size && err != nil && err != io.EOF:
			t.Errorf("ReadAt(%d bytes at %d): %v", c.size, c.off, err)
		}
	}
	var got bytes.Buffer
	buf := make([]byte, 3000)
	for {
		n, err := r.Read(buf)
		got.Write(buf[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("Read after %d bytes: %v", got.Len(), err)
		}
	}
	if !bytes.Equal(got.Bytes(), data) {
		t.Errorf("Read to the end: %d bytes, not the file's", got.Len())
	}
	_, err = h.Open(ctx, "missing")
	wantErr(t, "Open of a missing file", err, storage.ErrNotExist)
	if err := h.Mkdir(ctx, "d"); err != nil {
		t.Fatal(err)
	}
	if r, err := h.Open(ctx, "d"); err == nil { // a directory is not a file, whatever its error
		r.Close()
		t.Errorf("Open of a directory: no error")
	}
}

// A Reader open on a file that another upload replaces reads the original bytes or fails with
// ErrNotExist: never the new ones, nor a mix.
func testReaderReplaced(t *testing.T, s *suite) {
	ctx := context.Background()
	h, _ := s.home(t, s.backend(t))
	old := randomBytes(200_000)
	put(t, h, "f", old, time.Time{})
	r, err := h.Open(ctx, "f")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	head := make([]byte, 1000)
	if _, err := io.ReadFull(r, head); err != nil || !bytes.Equal(head, old[:1000]) {
		t.Fatalf("first read: %v", err)
	}
	replacement := randomBytes(300_000)
	put(t, h, "f", replacement, time.Time{})
	rest, err := io.ReadAll(r)
	switch {
	case errors.Is(err, storage.ErrNotExist):
	case err != nil:
		t.Errorf("reading on after the file was replaced: %v; want the old bytes or ErrNotExist", err)
	case !bytes.Equal(rest, old[1000:]):
		t.Errorf("reading on after the file was replaced: %d bytes, not the old file's", len(rest))
	}
	buf := make([]byte, 5000)
	n, err := r.ReadAt(buf, 100_000)
	switch {
	case errors.Is(err, storage.ErrNotExist):
	case err != nil && err != io.EOF:
		t.Errorf("ReadAt after the file was replaced: %v", err)
	case !bytes.Equal(buf[:n], old[100_000:105_000]):
		t.Errorf("ReadAt after the file was replaced: %d bytes, not the old file's", n)
	}
	wantContent(t, h, "f", replacement)
}
