package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sync"

	"github.com/minio/minio-go/v7"

	"github.com/myftp/myftp/lib/storage"
)

// skipAhead is how far forward a read may start from where the open stream is and still use it
// (reading and dropping the bytes between): SFTP clients read ahead in many small requests that
// arrive a little out of order.
const skipAhead = 1 << 20

// Open opens the file for reading: its version (ETag) is fixed here, and every later read asks
// for that version only, so a reader never mixes two contents; once the file is replaced, reads
// fail with storage.ErrNotExist.
func (h *Home) Open(ctx context.Context, name string) (storage.Reader, error) {
	if err := check("open", name); err != nil {
		return nil, err
	}
	if name == "." {
		return nil, &fs.PathError{Op: "open", Path: name, Err: storage.ErrIsDir}
	}
	oi, err := h.b.statObject(ctx, h.key(name))
	if err != nil {
		if classify(err) == storage.ErrNotExist {
			if _, serr := h.stat(ctx, name); serr == nil {
				return nil, &fs.PathError{Op: "open", Path: name, Err: storage.ErrIsDir}
			}
		}
		return nil, pathErr("open", name, err)
	}
	return &reader{h: h, ctx: ctx, name: name, key: h.key(name), info: fileInfo(path.Base(name), oi), etag: oi.ETag}, nil
}

// reader reads one version of an object: sequential reads (and ReadAt calls that follow one
// another) share one streaming GET; a read elsewhere starts a ranged GET there.
type reader struct {
	h    *Home
	ctx  context.Context
	name string
	key  string
	info storage.Info
	etag string

	mu     sync.Mutex
	body   *stream // the open GET, nil if none
	bodyAt int64   // the offset body reads next
	pos    int64   // where Read continues
	closed bool
}

func (r *reader) Info() storage.Info { return r.info }

// Record reads the file's record, an object of its own.
func (r *reader) Record() ([]byte, error) { return r.h.Record(r.ctx, r.name) }

// Read reads on from where the last Read stopped.
func (r *reader) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n, err := r.readAt(p, r.pos, false)
	r.pos += int64(n)
	return n, err
}

// ReadAt reads len(p) bytes at off, or fewer at the end of the file with io.EOF.
func (r *reader) ReadAt(p []byte, off int64) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.readAt(p, off, true)
}

// readAt reads at off: all of p (full) or what one read gives.
func (r *reader) readAt(p []byte, off int64, full bool) (int, error) {
	if r.closed {
		return 0, &fs.PathError{Op: "read", Path: r.name, Err: fs.ErrClosed}
	}
	if off < 0 {
		return 0, &fs.PathError{Op: "read", Path: r.name, Err: storage.ErrInvalid}
	}
	if off >= r.info.Size {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	p = p[:min(int64(len(p)), r.info.Size-off)]
	n := 0
	for retried := false; ; retried = true {
		if err := r.seek(off + int64(n)); err != nil {
			return n, err
		}
		k, err := r.body.read(p[n:], full)
		n += k
		r.bodyAt += int64(k)
		if err == io.EOF && k > 0 {
			err = nil
		}
		if err == nil {
			break
		}
		// A stream cut off (the store or the network closed a connection that stood open, say
		// while a client paused) is opened again, once, where it stopped: the ETag it asks for
		// makes sure it is the same content. One that stalled is not: the store does not answer.
		r.drop()
		if retried || (!full && n > 0) || errors.Is(err, context.Canceled) || errors.Is(err, ErrTimeout) {
			if n > 0 && !full {
				return n, nil
			}
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				err = fmt.Errorf("the object ended early: %w", io.ErrUnexpectedEOF)
			}
			return n, pathErr("read", r.name, err)
		}
	}
	if r.bodyAt == r.info.Size {
		r.drop()
	}
	if off+int64(n) == r.info.Size && full {
		return n, io.EOF
	}
	return n, nil
}

// seek makes body read at off: the open stream if it is there or a little before, else a new
// GET of this version from off to the end.
func (r *reader) seek(off int64) error {
	if r.body != nil && off >= r.bodyAt && off-r.bodyAt <= skipAhead {
		if err := r.body.skip(off - r.bodyAt); err == nil {
			r.bodyAt = off
			return nil
		}
	}
	r.drop()
	opts := minio.GetObjectOptions{}
	if err := opts.SetMatchETag(r.etag); err != nil {
		return pathErr("read", r.name, err)
	}
	if off > 0 {
		if err := opts.SetRange(off, 0); err != nil {
			return pathErr("read", r.name, err)
		}
	}
	body, err := r.h.b.getStream(r.ctx, r.key, opts)
	if err != nil {
		return pathErr("read", r.name, err)
	}
	r.body, r.bodyAt = body, off
	return nil
}

func (r *reader) drop() {
	if r.body != nil {
		r.body.close()
		r.body = nil
	}
}

// Close ends the open GET, if any.
func (r *reader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.drop()
	r.closed = true
	return nil
}
