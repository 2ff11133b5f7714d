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
	case err == nil && (dst.IsDir() || src.IsDir()):
		return &fs.PathError{Op: "rename", Path: to, Err: storage.ErrExist}
	case err != nil && !errors.Is(err, storage.ErrNotExist):
		return err
	}
	if !src.IsDir() {
		return h.renameFile(ctx, from, to, src.Size)
	}
	if strings.HasPrefix(to, from+"/") {
		return &fs.PathError{Op: "rename", Path: to, Err: storage.ErrInvalid}
	}
	return h.renameDir(ctx, from, to)
}

// renameFile copies the file from, and its record, to to, then removes them at from.
func (h *Home) renameFile(ctx context.Context, from, to string, size int64) error {
	if err := h.copy(ctx, h.key(from), h.key(to), size, time.Time{}); err != nil {
		return pathErr("rename", from, err)
	}
	err := h.copy(ctx, h.recordKey(from), h.recordKey(to), 0, time.Time{})
	switch {
	case classify(err) == storage.ErrNotExist:
		err = h.dropRecord(ctx, to) // the file at to had one, and the new file has none
	case err != nil:
		err = pathErr("rename", from, err)
	}
	if err != nil {
		return err
	}
	if err := h.b.removeObject(ctx, h.key(from)); err != nil {
		return pathErr("rename", from, err)
	}
	return h.dropRecord(ctx, from)
}

// pathErr2 is pathErr, or nil for a nil err.
func pathErr2(op, name string, err error) error {
	if err == nil {
		return nil
	}
	return pathErr(op, name, err)
}

// move is one object of a directory rename: its key, and the key it is copied to.
type move struct {
	from, to string
	size     int64
}

// renameDir moves every object under the directory from, and the records of its files, to the
// directory to: it lists them all first (refusing more than the limit), copies each, then deletes
// each.
func (h *Home) renameDir(ctx context.Context, from, to string) error {
	var moves []move
	for _, tree := range [][2]string{{h.dirKey(from), h.dirKey(to)}, {h.recordKey(from) + "/", h.recordKey(to) + "/"}} {
		var err error
		if moves, err = h.listMoves(ctx, from, tree[0], tree[1], moves); err != nil {
			return err
		}
	}
	if len(moves) == 0 { // a directory known only from... nothing: give it a marker
		return pathErr2("rename", to, h.putEmpty(ctx, h.dirKey(to), time.Time{}))
	}
	for _, m := range moves {
		if err := h.copy(ctx, m.from, m.to, m.size, time.Time{}); err != nil {
			return pathErr("rename", from, err)
		}
	}
	for _, m := range moves {
		if err := h.b.removeObject(ctx, m.from); err != nil {
			return pathErr("rename", from, err)
		}
	}
	return nil
}

// listMoves adds to moves the objects under prefix, each to go under newPrefix, refusing more
// than the limit in all.
func (h *Home) listMoves(ctx context.Context, from, prefix, newPrefix string, moves []move) ([]move, error) {
	for oi := range h.b.objects(ctx, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if oi.Err != nil {
			return nil, pathErr("rename", from, oi.Err)
		}
		if len(moves) == h.b.opts.MaxRenameObjects {
			return nil, &fs.PathError{Op: "rename", Path: from, Err: storage.ErrTooMany}
		}
		moves = append(moves, move{from: oi.Key, to: newPrefix + strings.TrimPrefix(oi.Key, prefix), size: oi.Size})
	}
	return moves, nil
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
	if size > maxCopy && mtime.IsZero() { // a composed object gets no metadata of its own: carry it over
		oi, err := h.b.statObject(ctx, src)
		if err != nil {
			return err
		}
		if t := oi.UserMetadata[mtimeKey]; t != "" {
			dstOpts.ReplaceMetadata = true
			dstOpts.UserMetadata = map[string]string{mtimeKey: t}
		}
	}
	return h.b.copyObject(ctx, dstOpts, minio.CopySrcOptions{Bucket: h.b.bucket, Object: src}, size)
}
