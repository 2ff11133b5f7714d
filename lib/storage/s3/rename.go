package s3

import (
	"context"
	"errors"
	"io/fs"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/myftp/myftp/lib/storage"
)

// maxCopy is the largest object one CopyObject request copies; bigger ones are copied in parts.
const maxCopy = 5 << 30

// Rename copies then deletes: a file as one object (a reader sees the old name until the copy is
// complete, then both, then the new one), a directory object by object, at most
// Options.MaxRenameObjects of them, refused before anything moves when it holds more.
func (h *Home) Rename(ctx context.Context, from, to string) error {
	for _, n := range []string{from, to} {
		if err := check("rename", n); err != nil {
			return err
		}
		if n == "." {
			return &fs.PathError{Op: "rename", Path: n, Err: storage.ErrInvalid}
		}
	}
	src, err := h.stat(ctx, from)
	if err != nil {
		return err
	}
	if from == to {
		return nil
	}
	if err := h.statDir(ctx, "rename", parentOf(to)); err != nil {
		return err
	}
	dst, err := h.stat(ctx, to)
	switch {
	case err == nil && dst.IsDir():
		return &fs.PathError{Op: "rename", Path: to, Err: storage.ErrExist}
	case err == nil && src.IsDir():
		return &fs.PathError{Op: "rename", Path: to, Err: storage.ErrNotDir}
	case err != nil && !errors.Is(err, storage.ErrNotExist):
		return err
	}
	if !src.IsDir() {
		if err := h.copy(ctx, h.key(from), h.key(to), src.Size, time.Time{}); err != nil {
			return pathErr("rename", from, err)
		}
		return pathErr2("rename", from, h.b.client.RemoveObject(ctx, h.b.bucket, h.key(from), minio.RemoveObjectOptions{}))
	}
	if strings.HasPrefix(to, from+"/") {
		return &fs.PathError{Op: "rename", Path: to, Err: storage.ErrInvalid}
	}
	return h.renameDir(ctx, from, to)
}

// pathErr2 is pathErr, or nil for a nil err.
func pathErr2(op, name string, err error) error {
	if err == nil {
		return nil
	}
	return pathErr(op, name, err)
}

// renameDir moves every object under the directory from to the directory to: it lists them all
// first (refusing more than the limit), copies each, then deletes each.
func (h *Home) renameDir(ctx context.Context, from, to string) error {
	limit := h.b.opts.MaxRenameObjects
	prefix := h.dirKey(from)
	var objects []minio.ObjectInfo
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for oi := range h.b.client.ListObjects(lctx, h.b.bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if oi.Err != nil {
			return pathErr("rename", from, oi.Err)
		}
		if len(objects) == limit {
			return &fs.PathError{Op: "rename", Path: from, Err: storage.ErrTooMany}
		}
		objects = append(objects, oi)
	}
	newPrefix := h.dirKey(to)
	if len(objects) == 0 { // a directory known only from... nothing: give it a marker
		return pathErr2("rename", to, h.putEmpty(ctx, newPrefix, time.Time{}))
	}
	for _, oi := range objects {
		if err := h.copy(ctx, oi.Key, newPrefix+strings.TrimPrefix(oi.Key, prefix), oi.Size, time.Time{}); err != nil {
			return pathErr("rename", from, err)
		}
	}
	for _, oi := range objects {
		if err := h.b.client.RemoveObject(ctx, h.b.bucket, oi.Key, minio.RemoveObjectOptions{}); err != nil {
			return pathErr("rename", from, err)
		}
	}
	return nil
}

// copy copies the object src (of size bytes) to dst within the bucket, on the store. With a
// non-zero mtime the copy gets it as its modification time; otherwise it keeps src's metadata.
func (h *Home) copy(ctx context.Context, src, dst string, size int64, mtime time.Time) error {
	dstOpts := minio.CopyDestOptions{Bucket: h.b.bucket, Object: dst}
	if !mtime.IsZero() {
		dstOpts.ReplaceMetadata = true
		dstOpts.UserMetadata = map[string]string{mtimeKey: mtime.UTC().Format(time.RFC3339Nano)}
		dstOpts.ContentType = "application/octet-stream"
	}
	srcOpts := minio.CopySrcOptions{Bucket: h.b.bucket, Object: src}
	var err error
	if size > maxCopy {
		if mtime.IsZero() { // a composed object gets no metadata of its own: carry it over
			oi, serr := h.b.client.StatObject(ctx, h.b.bucket, src, minio.StatObjectOptions{})
			if serr != nil {
				return serr
			}
			if t := oi.UserMetadata[mtimeKey]; t != "" {
				dstOpts.ReplaceMetadata = true
				dstOpts.UserMetadata = map[string]string{mtimeKey: t}
			}
		}
		_, err = h.b.client.ComposeObject(ctx, dstOpts, srcOpts)
	} else {
		_, err = h.b.client.CopyObject(ctx, dstOpts, srcOpts)
	}
	return err
}
