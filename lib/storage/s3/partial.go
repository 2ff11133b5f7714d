package s3

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/myftp/myftp/lib/storage"
)

// manifest describes an unfinished multipart upload, at HOME/.myftp/partial/ID, so that any node
// sharing the bucket can resume it, list it and expire it.
type manifest struct {
	Target string    `json:"target"` // the name it is published as
	Upload string    `json:"upload"` // the store's id of the multipart upload (of the target's key)
	Mtime  time.Time `json:"mtime"`  // the modification time given to the upload when it began
}

// partial is an upload: data is gathered in memory up to a part, then stored as the next part of
// a multipart upload of the target's key, started with the first whole part. An upload smaller
// than a part is stored with one PUT by Publish.
type partial struct {
	h      *Home
	id     string
	target string
	mtime  time.Time
	upload string               // "" until the first part is stored
	parts  []minio.CompletePart // stored or being stored, numbered from 1, each of PartSize bytes
	buf    []byte               // data after the parts, less than a part
	done   bool

	// One part is stored in the background while the next one fills: inflight delivers its
	// result, and its buffer comes back to fill again.
	inflight chan partResult
	err      error // a part could not be stored: the upload is broken
}

// partResult is the end of a part's storing.
type partResult struct {
	etag string
	buf  []byte
	err  error
}

// partialKey is the key of the manifest of the unfinished upload id.
func (h *Home) partialKey(id string) string { return h.root + private + "/partial/" + id }

// checkID refuses an id that is not one plain name.
func checkID(op, id string) error {
	if err := check(op, id); err != nil || id == "." || strings.Contains(id, "/") {
		return &fs.PathError{Op: op, Path: id, Err: storage.ErrInvalid}
	}
	return nil
}

// Partial starts the upload id of target, or with opts.Resume continues it from its last whole
// part.
func (h *Home) Partial(ctx context.Context, id, target string, opts storage.PartialOptions) (storage.Partial, error) {
	if err := checkID("partial", id); err != nil {
		return nil, err
	}
	if err := check("partial", target); err != nil {
		return nil, err
	}
	if target == "." {
		return nil, &fs.PathError{Op: "partial", Path: target, Err: storage.ErrIsDir}
	}
	p := &partial{h: h, id: id, target: target, mtime: opts.Mtime}
	m, err := h.manifest(ctx, id)
	switch {
	case errors.Is(err, storage.ErrNotExist):
		return p, nil
	case err != nil:
		return nil, err
	case opts.Resume && m.Target == target && m.Upload != "":
		p.upload, p.mtime = m.Upload, m.Mtime
		if err := p.loadParts(ctx); err != nil {
			return nil, err
		}
		return p, nil
	}
	if err := h.dropUpload(ctx, id, m); err != nil {
		return nil, err
	}
	return p, nil
}

// manifest reads the manifest of the unfinished upload id.
func (h *Home) manifest(ctx context.Context, id string) (manifest, error) {
	var m manifest
	data, err := h.b.getSmall(ctx, h.partialKey(id))
	if err != nil {
		return m, pathErr("partial", id, err)
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return m, pathErr("partial", id, err)
	}
	return m, nil
}

// dropUpload aborts the multipart upload m describes and removes its manifest. A manifest that
// names no upload (a crash came while it began) has every upload of its target's key aborted.
func (h *Home) dropUpload(ctx context.Context, id string, m manifest) error {
	var err error
	if m.Upload != "" {
		err = h.b.abort(ctx, h.key(m.Target), m.Upload)
	} else {
		key := h.key(m.Target)
		err = h.eachUpload(ctx, key, func(u minio.ObjectMultipartInfo) error {
			if u.Key != key {
				return nil
			}
			return h.b.abort(ctx, u.Key, u.UploadID)
		})
	}
	if err != nil && classify(err) != storage.ErrNotExist {
		return pathErr("remove partial", id, err)
	}
	if err := h.b.removeObject(ctx, h.partialKey(id)); err != nil {
		return pathErr("remove partial", id, err)
	}
	return nil
}

// loadParts takes the parts the store holds for the upload: those numbered from 1 without a gap,
// each a whole part. Anything after them (a short part, one after a gap) is sent again by the
// resume and replaced.
func (p *partial) loadParts(ctx context.Context) error {
	parts, err := p.h.listParts(ctx, p.target, p.upload)
	if err != nil {
		return pathErr("partial", p.id, err)
	}
	for i, part := range parts {
		if part.PartNumber != i+1 || part.Size != p.h.b.opts.PartSize {
			break
		}
		p.parts = append(p.parts, minio.CompletePart{PartNumber: part.PartNumber, ETag: part.ETag})
	}
	return nil
}

// listParts returns the stored parts of the upload of target, in order.
func (h *Home) listParts(ctx context.Context, target, upload string) ([]minio.ObjectPart, error) {
	var parts []minio.ObjectPart
	marker := 0
	for {
		res, err := h.b.listParts(ctx, h.key(target), upload, marker)
		if err != nil {
			return nil, err
		}
		parts = append(parts, res.ObjectParts...)
		if !res.IsTruncated {
			return parts, nil
		}
		marker = res.NextPartNumberMarker
	}
}

func (p *partial) stored() int64 { return int64(len(p.parts)) * p.h.b.opts.PartSize }

// Size is the bytes stored as parts plus those gathered after them.
func (p *partial) Size() int64 { return p.stored() + int64(len(p.buf)) }

// Write gathers p, storing each whole part as it fills.
func (p *partial) Write(b []byte) (int, error) {
	if p.done {
		return 0, &fs.PathError{Op: "write", Path: p.target, Err: fs.ErrClosed}
	}
	if p.err != nil {
		return 0, p.err
	}
	size := int(p.h.b.opts.PartSize)
	written := 0
	for len(b) > 0 {
		if p.buf == nil {
			p.buf = make([]byte, 0, min(size, max(len(b), 64<<10)))
		}
		n := min(len(b), size-len(p.buf))
		p.buf = append(p.buf, b[:n]...)
		b, written = b[n:], written+n
		if len(p.buf) == size {
			if err := p.storePart(context.Background()); err != nil {
				return written - n, err
			}
		}
	}
	return written, nil
}

// storePart starts storing the gathered data as the next part, in the background, once the part
// before it is stored; the first starts the multipart upload (and writes its manifest).
func (p *partial) storePart(ctx context.Context) error {
	if err := p.wait(); err != nil {
		return err
	}
	if p.upload == "" {
		if err := p.begin(ctx); err != nil {
			return err
		}
	}
	n := len(p.parts) + 1
	p.parts = append(p.parts, minio.CompletePart{PartNumber: n})
	buf, key, upload := p.buf, p.h.key(p.target), p.upload
	p.buf = nil
	done := make(chan partResult, 1)
	p.inflight = done
	go func() {
		part, err := p.h.b.putPart(ctx, key, upload, n, buf)
		done <- partResult{etag: part.ETag, buf: buf[:0], err: err}
	}()
	return nil
}

// wait waits for the part being stored, if any, and returns the error that broke the upload.
func (p *partial) wait() error {
	if p.inflight != nil {
		r := <-p.inflight
		p.inflight = nil
		last := &p.parts[len(p.parts)-1]
		if r.err != nil {
			p.parts = p.parts[:len(p.parts)-1]
			p.err = pathErr("write", p.target, r.err)
		} else {
			last.ETag = r.etag
		}
		if p.buf == nil {
			p.buf = r.buf
		}
	}
	return p.err
}

// begin starts the multipart upload, between two writes of its manifest: the first, without the
// upload's id, makes sure that an upload begun just before a crash is found (by its key) and
// aborted when its unfinished upload is removed or expires, since not every store lists the
// multipart uploads under a prefix.
func (p *partial) begin(ctx context.Context) error {
	if err := p.writeManifest(ctx, ""); err != nil {
		return err
	}
	upload, err := p.h.b.newUpload(ctx, p.h.key(p.target), p.mtime)
	if err != nil {
		return pathErr("write", p.target, err)
	}
	if err := p.writeManifest(ctx, upload); err != nil {
		p.h.b.abort(ctx, p.h.key(p.target), upload)
		return err
	}
	p.upload = upload
	return nil
}

// writeManifest writes the upload's manifest, naming the multipart upload upload ("" before it
// is begun).
func (p *partial) writeManifest(ctx context.Context, upload string) error {
	data, err := json.Marshal(manifest{Target: p.target, Upload: upload, Mtime: p.mtime})
	if err == nil {
		err = p.h.b.putSmall(ctx, p.h.partialKey(p.id), data, time.Time{})
	}
	return pathErr2("write", p.target, err)
}

// WriteAt appends, and refuses any other offset: data reaches an object store in order.
func (p *partial) WriteAt(b []byte, off int64) (int, error) {
	if off != p.Size() {
		return 0, &fs.PathError{Op: "write", Path: p.target, Err: fmt.Errorf("%w: write at %d, not at the end (%d)", storage.ErrInvalid, off, p.Size())}
	}
	return p.Write(b)
}

// ReadAt is refused: the parts of an unfinished multipart upload cannot be read.
func (p *partial) ReadAt([]byte, int64) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: p.target, Err: fmt.Errorf("%w: an unfinished upload cannot be read back", storage.ErrInvalid)}
}

// Truncate keeps the first n bytes: the size itself, or a whole number of stored parts.
func (p *partial) Truncate(n int64) error {
	if err := p.wait(); err != nil {
		return err
	}
	if n == p.Size() {
		return nil
	}
	unit := p.h.b.opts.PartSize
	if n < 0 || n%unit != 0 || n > p.stored() {
		return &fs.PathError{Op: "truncate", Path: p.target, Err: fmt.Errorf("%w: %d is not a whole number of stored parts", storage.ErrInvalid, n)}
	}
	p.parts, p.buf = p.parts[:n/unit], p.buf[:0]
	return nil
}

// Sync waits for the part being stored: whole parts are stored as they fill, and the rest cannot
// be.
func (p *partial) Sync() error { return p.wait() }

// Publish stores the upload under its target: one PUT for an upload smaller than a part, else the
// last part and the completion of the multipart upload, which makes the object appear whole.
// The record follows, as its own object: until it is written, the file's old record (if any) is
// found stale by its reader, or there is none.
func (p *partial) Publish(ctx context.Context, mtime time.Time, record func(storage.Info) []byte) (storage.Info, error) {
	fi, err := p.publish(ctx, mtime)
	if err != nil {
		return fi, err
	}
	var rec []byte
	if record != nil {
		rec = record(fi)
	}
	if rec == nil {
		err = p.h.dropRecord(ctx, p.target)
	} else {
		err = p.h.putRecord(ctx, p.target, rec)
	}
	return fi, err
}

func (p *partial) publish(ctx context.Context, mtime time.Time) (storage.Info, error) {
	if p.done {
		return storage.Info{}, &fs.PathError{Op: "publish", Path: p.target, Err: fs.ErrClosed}
	}
	h := p.h
	if err := p.wait(); err != nil {
		return storage.Info{}, err
	}
	if err := h.statDir(ctx, "publish", parentOf(p.target)); err != nil {
		return storage.Info{}, err
	}
	if dir, err := h.hasAny(ctx, h.dirKey(p.target)); err != nil {
		return storage.Info{}, pathErr("publish", p.target, err)
	} else if dir {
		return storage.Info{}, &fs.PathError{Op: "publish", Path: p.target, Err: storage.ErrIsDir}
	}
	if p.upload == "" {
		ui, err := h.b.putFile(ctx, h.key(p.target), p.buf, mtime)
		if err != nil {
			return storage.Info{}, pathErr("publish", p.target, err)
		}
		p.done = true
		if !mtime.IsZero() && ui.ETag != "" { // all the Info there is to know, without asking
			return storage.Info{Name: path.Base(p.target), Kind: storage.File, Size: int64(len(p.buf)), Mode: 0o600,
				Mtime: mtime, Version: strings.Trim(ui.ETag, `"`)}, nil
		}
		return p.info(ctx)
	}
	if len(p.buf) > 0 {
		if err := p.storePart(ctx); err != nil {
			return storage.Info{}, err
		}
		if err := p.wait(); err != nil {
			return storage.Info{}, err
		}
	}
	if err := h.b.complete(ctx, h.key(p.target), p.upload, p.parts, p.Size()); err != nil {
		return storage.Info{}, pathErr("publish", p.target, err)
	}
	p.done = true
	h.b.removeObject(ctx, h.partialKey(p.id)) // a stale manifest is dropped by the next Partial or expiry
	if !mtime.IsZero() && !mtime.Equal(p.mtime) {
		if err := h.copy(ctx, h.key(p.target), h.key(p.target), p.Size(), mtime); err != nil {
			return storage.Info{}, pathErr("publish", p.target, err)
		}
	}
	return p.info(ctx)
}

func (p *partial) info(ctx context.Context) (storage.Info, error) {
	oi, err := p.h.b.statObject(ctx, p.h.key(p.target))
	if err != nil {
		return storage.Info{}, pathErr("publish", p.target, err)
	}
	return fileInfo(path.Base(p.target), oi), nil
}

// Close keeps the stored parts for a resume, once the part being stored is; the data gathered
// after them is dropped.
func (p *partial) Close() error {
	p.wait()
	p.done, p.buf = true, nil
	return nil
}

// Discard aborts the multipart upload, if one began, and removes its manifest.
func (p *partial) Discard() error {
	p.wait()
	p.done, p.buf = true, nil
	if p.upload == "" {
		return nil
	}
	return p.h.dropUpload(context.Background(), p.id, manifest{Target: p.target, Upload: p.upload})
}

// Partials lists the manifests of the home's unfinished uploads, with what a resume would keep.
func (h *Home) Partials(ctx context.Context, fn func([]storage.PartialInfo) error) error {
	dir := h.root + private + "/partial/"
	var page []storage.PartialInfo
	for oi := range h.b.objects(ctx, minio.ListObjectsOptions{Prefix: dir, MaxKeys: storage.ListPage}) {
		if oi.Err != nil {
			return pathErr("partials", ".", oi.Err)
		}
		id := strings.TrimPrefix(oi.Key, dir)
		pi, err := h.partialInfo(ctx, id, oi.LastModified)
		if errors.Is(err, storage.ErrNotExist) {
			continue // finished or removed meanwhile
		}
		if err != nil {
			return err
		}
		if page = append(page, pi); len(page) == storage.ListPage {
			if err := fn(page); err != nil {
				return err
			}
			page = page[:0]
		}
	}
	if len(page) > 0 {
		return fn(page)
	}
	return ctx.Err()
}

// partialInfo describes the unfinished upload id, whose manifest was written at written.
func (h *Home) partialInfo(ctx context.Context, id string, written time.Time) (storage.PartialInfo, error) {
	m, err := h.manifest(ctx, id)
	if err != nil {
		return storage.PartialInfo{}, err
	}
	p := &partial{h: h, id: id, target: m.Target, upload: m.Upload}
	if m.Upload == "" { // begun just before a crash: nothing of it can be resumed
		return storage.PartialInfo{ID: id, Target: m.Target, Mtime: written}, nil
	}
	parts, err := h.listParts(ctx, m.Target, m.Upload)
	if err != nil {
		return storage.PartialInfo{}, pathErr("partials", id, err)
	}
	mtime := written
	for i, part := range parts {
		if part.PartNumber != i+1 || part.Size != h.b.opts.PartSize {
			break
		}
		p.parts = append(p.parts, minio.CompletePart{PartNumber: part.PartNumber})
		if part.LastModified.After(mtime) {
			mtime = part.LastModified
		}
	}
	return storage.PartialInfo{ID: id, Target: m.Target, Size: p.stored(), Mtime: mtime}, nil
}

// StatPartial describes the unfinished upload id from its manifest and its stored parts.
func (h *Home) StatPartial(ctx context.Context, id string) (storage.PartialInfo, error) {
	if err := checkID("stat partial", id); err != nil {
		return storage.PartialInfo{}, err
	}
	oi, err := h.b.statObject(ctx, h.partialKey(id))
	if err != nil {
		return storage.PartialInfo{}, pathErr("stat partial", id, err)
	}
	return h.partialInfo(ctx, id, oi.LastModified)
}

// RemovePartial aborts the unfinished upload id and removes its manifest.
func (h *Home) RemovePartial(ctx context.Context, id string) error {
	if err := checkID("remove partial", id); err != nil {
		return err
	}
	m, err := h.manifest(ctx, id)
	if err != nil {
		return err
	}
	return h.dropUpload(ctx, id, m)
}

// abortUploads aborts the multipart uploads of keys under prefix begun before cutoff (all of them
// for a zero cutoff): those of a home being removed.
func (h *Home) abortUploads(ctx context.Context, prefix string, cutoff time.Time) error {
	return h.eachUpload(ctx, prefix, func(u minio.ObjectMultipartInfo) error {
		if !cutoff.IsZero() && !u.Initiated.Before(cutoff) {
			return nil
		}
		if err := h.b.abort(ctx, u.Key, u.UploadID); err != nil && classify(err) != storage.ErrNotExist {
			return err
		}
		return nil
	})
}

// eachUpload calls fn for each multipart upload in progress of a key under prefix.
func (h *Home) eachUpload(ctx context.Context, prefix string, fn func(minio.ObjectMultipartInfo) error) error {
	keyMarker, idMarker := "", ""
	for {
		res, err := h.b.listUploads(ctx, prefix, keyMarker, idMarker)
		if err != nil {
			return err
		}
		for _, u := range res.Uploads {
			if err := fn(u); err != nil {
				return err
			}
		}
		if !res.IsTruncated {
			return nil
		}
		keyMarker, idMarker = res.NextKeyMarker, res.NextUploadIDMarker
	}
}
