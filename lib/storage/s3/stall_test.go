package s3_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/myftp/myftp/lib/storage"
	"github.com/myftp/myftp/lib/storage/s3"
	"github.com/myftp/myftp/lib/storage/s3/s3test"
)

// hung is how long a call into a black hole may take before the test calls it hung: far beyond
// the deadlines of a second the backends of these tests have, and far below what a hundred
// retries of a request that is cut would take if they were made.
const hung = 30 * time.Second

// throughHole returns a backend on a bucket of the test server that it reaches through a black
// hole (forwarding until told otherwise), with deadlines of a second and a hundred retries.
func throughHole(t *testing.T) (*s3.Backend, *s3test.BlackHole) {
	t.Helper()
	opts := bucket(t)
	hole := s3test.NewBlackHole(t, strings.TrimPrefix(opts.Endpoint, "http://"))
	opts.Endpoint = hole.Endpoint()
	opts.RequestTimeout, opts.StallTimeout = time.Second, time.Second
	opts.MaxRetries = 100
	opts.Transport = s3test.SmallBuffers()
	return open(t, opts), hole
}

// returns runs f and returns its error, failing the test at once if f does not return within
// hung.
func returns(t *testing.T, what string, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(hung):
		t.Fatalf("%s: still waiting on the black hole after %v", what, hung)
		return nil
	}
}

// wantTimeout checks that err says the store did not answer, as a store that may come back.
func wantTimeout(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, s3.ErrTimeout) || !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("%s with the store silent: %v, want s3.ErrTimeout and storage.ErrUnavailable", what, err)
	}
}

// TestStallMetadata: requests that carry no file data (a HEAD, a listing, a record read and
// written) fail with ErrTimeout when the store stops answering, whatever the retries allowed;
// once it answers again, the same backend works.
func TestStallMetadata(t *testing.T) {
	b, hole := throughHole(t)
	ctx := context.Background()
	h := home(t, b, "hank")
	put(t, h, "a.txt", []byte("hello"))
	hole.Swallow(true)
	calls := []struct {
		what string
		call func() error
	}{
		{"stat", func() error { _, err := h.Stat(ctx, "a.txt"); return err }},
		{"list", func() error { return h.List(ctx, ".", func([]storage.Info) error { return nil }) }},
		{"read a record", func() error { _, err := h.Meta(ctx, "note"); return err }},
		{"write a record", func() error { return h.SetMeta(ctx, "note", []byte("x")) }},
		{"open a home", func() error { _, err := b.OpenHome(ctx, "ida", true); return err }},
	}
	for _, c := range calls {
		wantTimeout(t, c.what, returns(t, c.what, c.call))
	}
	hole.Swallow(false)
	if fi, err := h.Stat(ctx, "a.txt"); err != nil || fi.Size != 5 {
		t.Fatalf("stat once the store answers again: %+v, %v", fi, err)
	}
	if err := h.SetMeta(ctx, "note", []byte("x")); err != nil {
		t.Fatalf("write a record once the store answers again: %v", err)
	}
}

// TestStallPartUpload: a part being stored when the store stops answering fails the upload
// with ErrTimeout and publishes nothing; once the store answers again, the same backend resumes
// the upload from its last whole part and publishes the exact file.
func TestStallPartUpload(t *testing.T) {
	b, hole := throughHole(t)
	ctx := context.Background()
	h := home(t, b, "ivan")
	data := make([]byte, 3*s3.MinPartSize+77)
	rand.Read(data)
	p, err := h.Partial(ctx, "up", "big.bin", storage.PartialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Write(data[:s3.MinPartSize]); err != nil {
		t.Fatal(err)
	}
	if err := p.Sync(); err != nil {
		t.Fatal(err)
	}
	hole.Swallow(true)
	err = returns(t, "storing the second part", func() error {
		if _, err := p.Write(data[s3.MinPartSize : 2*s3.MinPartSize]); err != nil {
			return err
		}
		return p.Sync()
	})
	wantTimeout(t, "storing a part", err)
	p.Close()
	hole.Swallow(false)

	if _, err := h.Stat(ctx, "big.bin"); !errors.Is(err, storage.ErrNotExist) {
		t.Fatalf("after the cut upload, the file: %v, want ErrNotExist", err)
	}
	p, err = h.Partial(ctx, "up", "big.bin", storage.PartialOptions{Resume: true})
	if err != nil {
		t.Fatal(err)
	}
	if p.Size() != s3.MinPartSize {
		t.Fatalf("resumed at %d, want the part stored before the store went silent (%d)", p.Size(), s3.MinPartSize)
	}
	if _, err := p.Write(data[p.Size():]); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Publish(ctx, time.Time{}, nil); err != nil {
		t.Fatal(err)
	}
	if got := read(t, h, "big.bin"); !bytes.Equal(got, data) {
		t.Fatalf("published %d bytes that differ from the %d sent", len(got), len(data))
	}
}

// TestStallDownload: a download stream whose store stops sending mid-file fails with
// ErrTimeout instead of waiting forever (and is not opened again: the store does not answer);
// once the store answers again, the same backend reads the file whole.
func TestStallDownload(t *testing.T) {
	b, hole := throughHole(t)
	ctx := context.Background()
	h := home(t, b, "jane")
	data := make([]byte, 2<<20)
	rand.Read(data)
	put(t, h, "f.bin", data)
	r, err := h.Open(ctx, "f.bin")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := io.ReadFull(r, make([]byte, 256<<10)); err != nil {
		t.Fatal(err)
	}
	hole.Swallow(true)
	err = returns(t, "reading on", func() error { _, err := io.Copy(io.Discard, r); return err })
	wantTimeout(t, "a download stream", err)
	hole.Swallow(false)
	if got := read(t, h, "f.bin"); !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes that differ from the %d stored", len(got), len(data))
	}
}
