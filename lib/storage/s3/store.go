package s3

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"iter"
	"net/http"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/myftp/myftp/lib/storage"
)

// The requests the backend sends, each under its guard (see deadline.go): nothing else in this
// package calls minio-go, so that no request can go out without a deadline.

// statObject describes the object key (HEAD).
func (b *Backend) statObject(ctx context.Context, key string) (minio.ObjectInfo, error) {
	g := b.request(ctx, 0)
	defer g.stop()
	oi, err := b.client.StatObject(g.ctx, b.bucket, key, minio.StatObjectOptions{})
	return oi, g.check(err)
}

// putSmall stores data, a record or a marker (not a file's data), as the object key.
func (b *Backend) putSmall(ctx context.Context, key string, data []byte, mtime time.Time) error {
	g := b.request(ctx, 0)
	defer g.stop()
	_, err := b.client.PutObject(g.ctx, b.bucket, key, bytes.NewReader(data), int64(len(data)), putOptions(mtime))
	return g.check(err)
}

// putSmallIfAbsent stores data as the object key unless the object exists: then the error wraps
// storage.ErrExist. (A store that sees two such PUTs at once may refuse one as a conflict,
// 409, rather than let it fail its condition: that one lost too.)
func (b *Backend) putSmallIfAbsent(ctx context.Context, key string, data []byte) error {
	g := b.request(ctx, 0)
	defer g.stop()
	opts := putOptions(time.Time{})
	opts.SetMatchETagExcept("*")
	_, err := b.client.PutObject(g.ctx, b.bucket, key, bytes.NewReader(data), int64(len(data)), opts)
	if resp := minio.ToErrorResponse(err); resp.StatusCode == http.StatusPreconditionFailed || resp.StatusCode == http.StatusConflict {
		return fmt.Errorf("%w: %w", storage.ErrExist, err)
	}
	return g.check(err)
}

// putFile stores data, a file smaller than a part, as the object key in one PUT, cut if it
// stalls.
func (b *Backend) putFile(ctx context.Context, key string, data []byte, mtime time.Time) (minio.UploadInfo, error) {
	g := b.transfer(ctx)
	defer g.stop()
	ui, err := b.client.PutObject(g.ctx, b.bucket, key, &moving{r: bytes.NewReader(data), g: g}, int64(len(data)), putOptions(mtime))
	return ui, g.check(err)
}

// getSmall reads the object key, a record of at most 16 MiB, whole.
func (b *Backend) getSmall(ctx context.Context, key string) ([]byte, error) {
	g := b.request(ctx, 0)
	defer g.stop()
	obj, err := b.client.GetObject(g.ctx, b.bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, g.check(err)
	}
	defer obj.Close()
	data, err := io.ReadAll(io.LimitReader(obj, 16<<20))
	return data, g.check(err)
}

// removeObject deletes the object key.
func (b *Backend) removeObject(ctx context.Context, key string) error {
	g := b.request(ctx, 0)
	defer g.stop()
	return g.check(b.client.RemoveObject(g.ctx, b.bucket, key, minio.RemoveObjectOptions{}))
}

// objects lists the objects opts asks for, page by page. The store must answer each wait for
// the next entry (the next page, in effect) within RequestTimeout; the clock stops while the
// caller handles an entry. A listing cut short ends with an entry that holds the error, never
// quietly: a short listing must not pass for a whole one.
func (b *Backend) objects(ctx context.Context, opts minio.ListObjectsOptions) iter.Seq[minio.ObjectInfo] {
	return func(yield func(minio.ObjectInfo) bool) {
		g := b.request(ctx, 0)
		defer g.stop()
		ch := b.client.ListObjects(g.ctx, b.bucket, opts)
		for {
			oi, ok := <-ch
			g.pause()
			if !ok {
				if g.cut() {
					yield(minio.ObjectInfo{Err: g.cause})
				}
				return
			}
			oi.Err = g.check(oi.Err)
			if !yield(oi) || oi.Err != nil {
				return
			}
			g.restart()
		}
	}
}

// firstObjects returns the first n objects whose keys start with prefix, in key order.
func (b *Backend) firstObjects(ctx context.Context, prefix string, n int) ([]minio.ObjectInfo, error) {
	var ois []minio.ObjectInfo
	for oi := range b.objects(ctx, minio.ListObjectsOptions{Prefix: prefix, Recursive: true, MaxKeys: n}) {
		if oi.Err != nil {
			return nil, oi.Err
		}
		if ois = append(ois, oi); len(ois) == n {
			break
		}
	}
	return ois, ctx.Err()
}

// removeAll deletes every object whose key starts with prefix, a batch of keys per request. The
// store must take each key (list it, or take it into a batch) within RequestTimeout.
func (b *Backend) removeAll(ctx context.Context, prefix string) error {
	g := b.request(ctx, 0)
	defer g.stop()
	objects := b.client.ListObjects(g.ctx, b.bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true})
	var listErr error
	keys := make(chan minio.ObjectInfo)
	go func() {
		defer close(keys)
		for oi := range objects {
			if oi.Err != nil {
				listErr = oi.Err
				return
			}
			select {
			case keys <- oi:
				g.restart()
			case <-g.ctx.Done():
				return
			}
		}
	}()
	var err error
	for e := range b.client.RemoveObjects(g.ctx, b.bucket, keys, minio.RemoveObjectsOptions{}) {
		if e.Err != nil && classify(e.Err) != storage.ErrNotExist && err == nil {
			err = e.Err
			g.cancel(err) // the lister and the removal end
		}
	}
	for range keys { // the lister has ended when keys is closed
	}
	if err == nil {
		err = listErr
	}
	if err == nil && g.cut() {
		err = g.cause
	}
	return g.check(err)
}

// newUpload starts a multipart upload of the object key.
func (b *Backend) newUpload(ctx context.Context, key string, mtime time.Time) (string, error) {
	g := b.request(ctx, 0)
	defer g.stop()
	id, err := b.core.NewMultipartUpload(g.ctx, b.bucket, key, putOptions(mtime))
	return id, g.check(err)
}

// putPart stores data as part n of the multipart upload of key, cut if it stalls.
func (b *Backend) putPart(ctx context.Context, key, upload string, n int, data []byte) (minio.ObjectPart, error) {
	g := b.transfer(ctx)
	defer g.stop()
	part, err := b.core.PutObjectPart(g.ctx, b.bucket, key, upload, n, &moving{r: bytes.NewReader(data), g: g},
		int64(len(data)), minio.PutObjectPartOptions{DisableContentSha256: true})
	return part, g.check(err)
}

// complete completes the multipart upload of key, of size bytes, from its parts.
func (b *Backend) complete(ctx context.Context, key, upload string, parts []minio.CompletePart, size int64) error {
	g := b.request(ctx, size)
	defer g.stop()
	_, err := b.core.CompleteMultipartUpload(g.ctx, b.bucket, key, upload, parts, putOptions(time.Time{}))
	return g.check(err)
}

// abort aborts the multipart upload of key.
func (b *Backend) abort(ctx context.Context, key, upload string) error {
	g := b.request(ctx, 0)
	defer g.stop()
	return g.check(b.core.AbortMultipartUpload(g.ctx, b.bucket, key, upload))
}

// listParts lists a page of the stored parts of the multipart upload of key, after marker.
func (b *Backend) listParts(ctx context.Context, key, upload string, marker int) (minio.ListObjectPartsResult, error) {
	g := b.request(ctx, 0)
	defer g.stop()
	res, err := b.core.ListObjectParts(g.ctx, b.bucket, key, upload, marker, 1000)
	return res, g.check(err)
}

// listUploads lists a page of the multipart uploads in progress of keys under prefix.
func (b *Backend) listUploads(ctx context.Context, prefix, keyMarker, idMarker string) (minio.ListMultipartUploadsResult, error) {
	g := b.request(ctx, 0)
	defer g.stop()
	res, err := b.core.ListMultipartUploads(g.ctx, b.bucket, prefix, keyMarker, idMarker, "", 1000)
	return res, g.check(err)
}

// copyObject copies, on the store, size bytes as dst asks from src: one request, or several
// (composed) above maxCopy.
func (b *Backend) copyObject(ctx context.Context, dst minio.CopyDestOptions, src minio.CopySrcOptions, size int64) error {
	g := b.request(ctx, size)
	defer g.stop()
	var err error
	if size > maxCopy {
		_, err = b.client.ComposeObject(g.ctx, dst, src)
	} else {
		_, err = b.client.CopyObject(g.ctx, dst, src)
	}
	return g.check(err)
}

// stream is an open GET of an object's data: its body, and the guard that cuts it when no byte
// comes for StallTimeout while the reader waits.
type stream struct {
	body io.ReadCloser
	g    *guard
}

// getStream opens a GET of the object key as opts asks; its guard's clock is stopped once the
// answer has come.
func (b *Backend) getStream(ctx context.Context, key string, opts minio.GetObjectOptions) (*stream, error) {
	g := b.transfer(ctx)
	body, _, _, err := b.core.GetObject(g.ctx, b.bucket, key, opts)
	if err != nil {
		err = g.check(err)
		g.stop()
		return nil, err
	}
	g.pause()
	return &stream{body: body, g: g}, nil
}

// read reads from the stream, with the guard's clock running (restarted by every byte that
// comes) while it waits: all of p with full, else what one read gives.
func (s *stream) read(p []byte, full bool) (int, error) {
	s.g.restart()
	defer s.g.pause()
	var n int
	var err error
	if full {
		n, err = io.ReadFull(readerFunc(s.readOnce), p)
	} else {
		n, err = s.readOnce(p)
	}
	return n, s.g.check(err)
}

// skip reads and drops n bytes of the stream, as read does.
func (s *stream) skip(n int64) error {
	s.g.restart()
	defer s.g.pause()
	_, err := io.CopyN(io.Discard, readerFunc(s.readOnce), n)
	return s.g.check(err)
}

// readOnce is one read of the body, which restarts the clock if bytes came.
func (s *stream) readOnce(p []byte) (int, error) {
	n, err := s.body.Read(p)
	if n > 0 {
		s.g.restart()
	}
	return n, err
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// close ends the GET.
func (s *stream) close() {
	s.body.Close()
	s.g.stop()
}
