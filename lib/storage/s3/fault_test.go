package s3_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/myftp/myftp/lib/storage"
	"github.com/myftp/myftp/lib/storage/s3"
	"github.com/myftp/myftp/lib/storage/s3/s3test"
)

// TestStoreRestartedMidUpload: the store is killed while an upload is being stored; the upload
// fails with ErrUnavailable and nothing is published; once the store is back, a resume from
// another backend continues at the last whole part and publishes the exact file.
func TestStoreRestartedMidUpload(t *testing.T) {
	m := s3test.StartMinIO(t)
	opts := m.Bucket(t, "fault")
	ctx := context.Background()
	data := make([]byte, 4*s3.MinPartSize+1234)
	rand.Read(data)

	h := home(t, open(t, opts), "erin")
	p, err := h.Partial(ctx, "up", "file.bin", storage.PartialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Write(data[:2*s3.MinPartSize]); err != nil {
		t.Fatal(err)
	}
	if err := p.Sync(); err != nil {
		t.Fatal(err)
	}
	m.Stop()
	_, werr := p.Write(data[2*s3.MinPartSize : 3*s3.MinPartSize])
	if werr == nil {
		werr = p.Sync()
	}
	if !errors.Is(werr, storage.ErrUnavailable) {
		t.Fatalf("writing with the store down: %v, want ErrUnavailable", werr)
	}
	p.Close()

	m.Start(t)
	if _, err := h.Stat(ctx, "file.bin"); !errors.Is(err, storage.ErrNotExist) {
		t.Fatalf("after the failure the file is visible: %v", err)
	}
	h2 := home(t, open(t, opts), "erin")
	p, err = h2.Partial(ctx, "up", "file.bin", storage.PartialOptions{Resume: true})
	if err != nil {
		t.Fatal(err)
	}
	if p.Size() != 2*s3.MinPartSize {
		t.Fatalf("resumed at %d, want the 2 parts stored before the failure (%d)", p.Size(), 2*s3.MinPartSize)
	}
	if _, err := p.Write(data[p.Size():]); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Publish(ctx, time.Time{}, nil); err != nil {
		t.Fatal(err)
	}
	if got := read(t, h2, "file.bin"); !bytes.Equal(got, data) {
		t.Fatalf("published %d bytes that differ from the %d sent", len(got), len(data))
	}
}
