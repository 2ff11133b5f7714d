package s3_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/myftp/myftp/lib/homefs"
	"github.com/myftp/myftp/lib/storage"
	"github.com/myftp/myftp/lib/storage/s3"
	"github.com/myftp/myftp/lib/storage/s3/s3test"
)

// bucket is a bucket of the test's own on the test server (package s3test).
func bucket(t testing.TB) s3.Options { return s3test.Bucket(t) }

func open(t *testing.T, opts s3.Options) *s3.Backend {
	t.Helper()
	b, err := s3.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// TestPrefixesDoNotMeet: two servers on one bucket with different prefixes see nothing of each
// other, even for the same home name.
func TestPrefixesDoNotMeet(t *testing.T) {
	opts := bucket(t)
	ctx := context.Background()
	opts.Prefix = "a"
	ha := home(t, open(t, opts), "alice")
	opts.Prefix = "a/b"
	hb := home(t, open(t, opts), "alice")
	put(t, ha, "x", []byte("from a"))
	if _, err := hb.Stat(ctx, "x"); !errors.Is(err, storage.ErrNotExist) {
		t.Fatalf("prefix a/b sees a's file: %v", err)
	}
	if _, err := ha.Stat(ctx, "b"); !errors.Is(err, storage.ErrNotExist) {
		t.Fatalf("prefix a sees the prefix a/b as a directory: %v", err)
	}
}

// TestSmallUploadIsOnePut: an upload smaller than a part leaves no multipart upload and no
// manifest behind, and a larger one that is published leaves none either.
func TestUploadsLeaveNothing(t *testing.T) {
	opts := bucket(t)
	b := open(t, opts)
	h := home(t, b, "carol")
	ctx := context.Background()
	for _, size := range []int{0, 10, 2*s3.MinPartSize + 3} {
		data := make([]byte, size)
		rand.Read(data)
		put(t, h, "f", data)
		var n int
		if err := h.Partials(ctx, func(ps []storage.PartialInfo) error { n += len(ps); return nil }); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Fatalf("after a published upload of %d bytes: %d partials", size, n)
		}
	}
	client, _ := minio.New(strings.TrimPrefix(opts.Endpoint, "http://"), &minio.Options{Creds: opts.Credentials, BucketLookup: minio.BucketLookupPath})
	for u := range client.ListIncompleteUploads(ctx, opts.Bucket, "", true) {
		t.Errorf("incomplete upload left: %s (err %v)", u.Key, u.Err)
	}
}

// TestResumeDropsShortPart: an upload stopped after a short last part resumes at the last whole
// part, and the published object is exact.
func TestResumeDropsShortPart(t *testing.T) {
	opts := bucket(t)
	ctx := context.Background()
	h := home(t, open(t, opts), "dave")
	data := make([]byte, 3*s3.MinPartSize)
	rand.Read(data)
	p, err := h.Partial(ctx, "id1", "big", storage.PartialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Write(data[:s3.MinPartSize+100]); err != nil {
		t.Fatal(err)
	}
	if err := p.Sync(); err != nil {
		t.Fatal(err)
	}
	p.Close()
	h2 := home(t, open(t, opts), "dave") // another node
	p, err = h2.Partial(ctx, "id1", "big", storage.PartialOptions{Resume: true})
	if err != nil {
		t.Fatal(err)
	}
	if p.Size() != s3.MinPartSize {
		t.Fatalf("resumed at %d, want %d", p.Size(), s3.MinPartSize)
	}
	if _, err := p.WriteAt(data[5:10], 5); !errors.Is(err, storage.ErrInvalid) {
		t.Fatalf("write before the end: %v, want ErrInvalid", err)
	}
	if _, err := p.Write(data[p.Size():]); err != nil {
		t.Fatal(err)
	}
	mtime := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	fi, err := p.Publish(ctx, mtime, nil)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size != int64(len(data)) || !fi.Mtime.Equal(mtime) {
		t.Fatalf("published %+v, want %d bytes dated %v", fi, len(data), mtime)
	}
	if got := read(t, h, "big"); !bytes.Equal(got, data) {
		t.Fatal("content differs")
	}
}

func home(t *testing.T, b storage.Backend, name string) storage.Home {
	t.Helper()
	h, err := b.OpenHome(context.Background(), name, true)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func put(t *testing.T, h storage.Home, name string, data []byte) {
	t.Helper()
	p, err := h.Partial(context.Background(), "put-"+strings.ReplaceAll(name, "/", "-"), name, storage.PartialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Write(data); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Publish(context.Background(), time.Time{}, nil); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, h storage.Home, name string) []byte {
	t.Helper()
	r, err := h.Open(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// BenchmarkPutGet stores and reads back one file of MYFTP_BENCH_S3_SIZE (default 64 MiB) through
// the backend, for profiling: the whole-program figures are those of core/serve.
func BenchmarkPutGet(b *testing.B) {
	size := int64(64 << 20)
	if s := os.Getenv("MYFTP_BENCH_S3_SIZE"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			b.Fatal(err)
		}
		size = n
	}
	opts := bucket(b)
	opts.PartSize = 16 << 20
	bk, err := s3.New(opts)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	h, err := bk.OpenHome(ctx, "bench", true)
	if err != nil {
		b.Fatal(err)
	}
	chunk := make([]byte, 256<<10)
	mtime := time.Now()
	rand.Read(chunk)
	b.Run("put", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			p, err := h.Partial(ctx, "bench", "f", storage.PartialOptions{Mtime: mtime})
			if err != nil {
				b.Fatal(err)
			}
			for n := int64(0); n < size; n += int64(len(chunk)) {
				if _, err := p.Write(chunk[:min(int64(len(chunk)), size-n)]); err != nil {
					b.Fatal(err)
				}
			}
			if _, err := p.Publish(ctx, mtime, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("get", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			r, err := h.Open(ctx, "f")
			if err != nil {
				b.Fatal(err)
			}
			if n, err := io.CopyBuffer(io.Discard, r, chunk); err != nil || n != size {
				b.Fatal(n, err)
			}
			r.Close()
		}
	})
}

// TestUploadBegunBeforeCrash: a multipart upload begun just before a crash, whose manifest does
// not name it yet, is listed as an unfinished upload holding nothing, and removing it (as expiry
// does) aborts it on the store; an unfinished upload with its manifest stays, resumable.
func TestUploadBegunBeforeCrash(t *testing.T) {
	opts := bucket(t)
	ctx := context.Background()
	b := open(t, opts)
	h := home(t, b, "frank")
	data := make([]byte, s3.MinPartSize+10)
	rand.Read(data)
	p, err := h.Partial(ctx, "kept", "kept.bin", storage.PartialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p.Write(data)
	if err := p.Sync(); err != nil {
		t.Fatal(err)
	}
	p.Close()
	client, err := minio.New(strings.TrimPrefix(opts.Endpoint, "http://"), &minio.Options{Creds: opts.Credentials, BucketLookup: minio.BucketLookupPath})
	if err != nil {
		t.Fatal(err)
	}
	// What begin leaves when the server dies between its first manifest and the upload's id.
	manifest := []byte(`{"target":"lost.bin","upload":"","mtime":"0001-01-01T00:00:00Z"}`)
	if _, err := client.PutObject(ctx, opts.Bucket, "frank/.myftp/partial/lost", bytes.NewReader(manifest), int64(len(manifest)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := (minio.Core{Client: client}).NewMultipartUpload(ctx, opts.Bucket, "frank/lost.bin", minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if pi, err := h.StatPartial(ctx, "lost"); err != nil || pi.Size != 0 || pi.Target != "lost.bin" {
		t.Fatalf("StatPartial of the upload begun before the crash: %+v, %v", pi, err)
	}
	if err := h.RemovePartial(ctx, "lost"); err != nil {
		t.Fatal(err)
	}
	var left []string
	for u := range client.ListIncompleteUploads(ctx, opts.Bucket, "frank/lost.bin", false) {
		left = append(left, u.Key)
	}
	for u := range client.ListIncompleteUploads(ctx, opts.Bucket, "frank/kept.bin", false) {
		left = append(left, u.Key)
	}
	if len(left) != 1 || left[0] != "frank/kept.bin" {
		t.Errorf("uploads left: %q, want frank/kept.bin only", left)
	}
	p, err = h.Partial(ctx, "kept", "kept.bin", storage.PartialOptions{Resume: true})
	if err != nil || p.Size() != s3.MinPartSize {
		t.Fatalf("the kept upload: %v, size %d", err, p.Size())
	}
	p.Close()
	// Removing the home aborts the uploads it kept, too.
	if err := b.RemoveHome(ctx, "frank"); err != nil {
		t.Fatal(err)
	}
	for u := range client.ListIncompleteUploads(ctx, opts.Bucket, "frank/kept.bin", false) {
		t.Errorf("after RemoveHome, an upload is left: %s", u.Key)
	}
}

// cutOnce is a transport whose first GET of an object's data is cut off after cut bytes, as a
// connection reset would; it counts the GETs.
type cutOnce struct {
	cut  int64
	mu   sync.Mutex
	done bool
	gets int
}

func (c *cutOnce) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil || req.Method != http.MethodGet || !strings.Contains(req.URL.Path, "/cut/") {
		return resp, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gets++
	if !c.done {
		c.done = true
		resp.Body = &cutBody{r: io.LimitReader(resp.Body, c.cut), c: resp.Body}
	}
	return resp, nil
}

type cutBody struct {
	r io.Reader
	c io.Closer
}

func (b *cutBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err == io.EOF {
		err = syscall.ECONNRESET
	}
	return n, err
}

func (b *cutBody) Close() error { return b.c.Close() }

// TestReaderResumesCutStream: a download whose stream is cut off is opened again where it
// stopped, once, and the reader sees the whole file.
func TestReaderResumesCutStream(t *testing.T) {
	opts := bucket(t)
	data := make([]byte, 3<<20)
	rand.Read(data)
	put(t, home(t, open(t, opts), "cut"), "f.bin", data)
	rt := &cutOnce{cut: 1 << 20}
	opts.Transport = rt
	r, err := home(t, open(t, opts), "cut").Open(context.Background(), "f.bin")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes, %v; want the %d bytes stored", len(got), err, len(data))
	}
	if rt.gets != 2 {
		t.Errorf("%d GETs, want 2: the first cut off, the second from where it stopped", rt.gets)
	}
}

// TestStreamResumesOnAnotherNode: an FTP or SFTP upload (a homefs stream) on S3 whose server died
// mid-upload (it is neither committed nor aborted) is continued by a server started afresh on the
// bucket, from the last part whose checksum state was recorded, and the file is exact.
func TestStreamResumesOnAnotherNode(t *testing.T) {
	opts := bucket(t)
	data := make([]byte, 2*s3.MinPartSize+s3.MinPartSize/2)
	rand.Read(data)
	node1, err := homefs.New(open(t, opts), homefs.Options{}).Open("gina", 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	s, err := node1.BeginStream("big.bin", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReadFrom(bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	// node1 dies here: the stream is never committed or aborted.
	node2, err := homefs.New(open(t, opts), homefs.Options{}).Open("gina", 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	held, unfinished, err := node2.Held("big.bin")
	if err != nil || !unfinished || held != 2*s3.MinPartSize {
		t.Fatalf("another node holds %d bytes (unfinished %v, %v), want the two parts stored", held, unfinished, err)
	}
	s2, err := node2.BeginStream("big.bin", homefs.Append)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s2.ReadFrom(bytes.NewReader(data[held:])); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s2.Commit(); err != nil {
		t.Fatal(err)
	}
	d, err := node2.OpenDownload("big.bin")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	got, err := io.ReadAll(d)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("the file after the resume: %d bytes, %v; want the %d sent", len(got), err, len(data))
	}
}
