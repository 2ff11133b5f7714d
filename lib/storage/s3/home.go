package s3

import (
	"context"
	"errors"
	"io/fs"
	"path"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/myftp/myftp/lib/storage"
)

// private is the top-level prefix of a home that holds the server's records.
const private = ".myftp"

// mtimeKey is the metadata that holds a file's modification time (x-amz-meta-mtime).
const mtimeKey = "Mtime"

// Home is one home: the keys under its prefix.
type Home struct {
	b    *Backend
	name string
	root string // the home's prefix, ending in "/"
}

var _ storage.Home = (*Home)(nil)

// SyncName does nothing: what the store acknowledged is durable.
func (h *Home) SyncName(ctx context.Context, name string) error { return check("sync", name) }

// Close does nothing: a home holds no resource of its own.
func (h *Home) Close() error { return nil }

// check refuses names storage.CheckName refuses and those in the server's private area.
func check(op, name string) error {
	if err := storage.CheckName(name); err != nil {
		return &fs.PathError{Op: op, Path: name, Err: storage.ErrInvalid}
	}
	if name == private || strings.HasPrefix(name, private+"/") {
		return &fs.PathError{Op: op, Path: name, Err: storage.ErrInvalid}
	}
	return nil
}

// key is the object key of the file name; dirKey the prefix (and marker) of the directory name.
func (h *Home) key(name string) string {
	if name == "." {
		return h.root
	}
	return h.root + name
}

func (h *Home) dirKey(name string) string {
	if name == "." {
		return h.root
	}
	return h.root + name + "/"
}

// Stat describes the entry at name: a file if its object exists, else a directory if its marker
// or anything under its prefix exists.
func (h *Home) Stat(ctx context.Context, name string) (storage.Info, error) {
	if err := check("stat", name); err != nil {
		return storage.Info{}, err
	}
	return h.stat(ctx, name)
}

// Lstat is Stat: an object store has no links.
func (h *Home) Lstat(ctx context.Context, name string) (storage.Info, error) {
	return h.Stat(ctx, name)
}

func (h *Home) stat(ctx context.Context, name string) (storage.Info, error) {
	if name == "." {
		return storage.Info{Name: ".", Kind: storage.Dir, Mode: fs.ModeDir | 0o700}, nil
	}
	oi, err := h.b.statObject(ctx, h.key(name))
	if err == nil {
		return fileInfo(path.Base(name), oi), nil
	}
	if classify(err) != storage.ErrNotExist {
		return storage.Info{}, pathErr("stat", name, err)
	}
	if ok, err := h.hasAny(ctx, h.dirKey(name)); err != nil {
		return storage.Info{}, pathErr("stat", name, err)
	} else if ok {
		return dirInfo(path.Base(name)), nil
	}
	return storage.Info{}, pathErr("stat", name, storage.ErrNotExist)
}

// statDir returns nil if name is a directory, else why not.
func (h *Home) statDir(ctx context.Context, op, name string) error {
	fi, err := h.stat(ctx, name)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return &fs.PathError{Op: op, Path: name, Err: storage.ErrNotDir}
	}
	return nil
}

// fileInfo describes an object; its modification time is the one its metadata keeps, else the
// time it was stored.
func fileInfo(name string, oi minio.ObjectInfo) storage.Info {
	mtime := oi.LastModified
	if s := oi.UserMetadata[mtimeKey]; s != "" {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			mtime = t
		}
	}
	return storage.Info{Name: name, Kind: storage.File, Size: oi.Size, Mode: 0o600, Mtime: mtime, Version: strings.Trim(oi.ETag, `"`)}
}

func dirInfo(name string) storage.Info {
	return storage.Info{Name: name, Kind: storage.Dir, Mode: fs.ModeDir | 0o700}
}

// hasAny reports whether any object has the key prefix p.
func (h *Home) hasAny(ctx context.Context, p string) (bool, error) {
	ois, err := h.b.firstObjects(ctx, p, 1)
	return len(ois) > 0, err
}

// putEmpty stores an empty object (a marker) at key.
func (h *Home) putEmpty(ctx context.Context, key string, mtime time.Time) error {
	return h.b.putSmall(ctx, key, nil, mtime)
}

// putOptions are the options of a PUT of a file with the modification time mtime.
func putOptions(mtime time.Time) minio.PutObjectOptions {
	o := minio.PutObjectOptions{ContentType: "application/octet-stream", DisableContentSha256: true}
	if !mtime.IsZero() {
		o.UserMetadata = map[string]string{mtimeKey: mtime.UTC().Format(time.RFC3339Nano)}
	}
	return o
}

// List calls fn with the directory's entries, a page at a time, in key order.
func (h *Home) List(ctx context.Context, name string, fn func([]storage.Info) error) error {
	if err := check("list", name); err != nil {
		return err
	}
	if err := h.statDir(ctx, "list", name); err != nil {
		return err
	}
	dir := h.dirKey(name)
	page := make([]storage.Info, 0, storage.ListPage)
	for oi := range h.b.objects(ctx, minio.ListObjectsOptions{Prefix: dir, WithMetadata: true, MaxKeys: storage.ListPage}) {
		if oi.Err != nil {
			return pathErr("list", name, oi.Err)
		}
		rest := strings.TrimPrefix(oi.Key, dir)
		switch {
		case rest == "" || (name == "." && (rest == private+"/" || rest == private)):
			continue // the directory's own marker; the server's records
		case strings.HasSuffix(rest, "/"):
			page = append(page, dirInfo(strings.TrimSuffix(rest, "/")))
		default:
			page = append(page, fileInfo(rest, oi))
		}
		if len(page) == storage.ListPage {
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

// Walk lists every key under the directory in one recursive listing, in key order, and calls fn
// for each entry, a directory (marked or not) when it is first met, before its contents.
// A listing that fails ends the walk with its error: a store has no directory that cannot be
// read while others can.
func (h *Home) Walk(ctx context.Context, name string, fn func(storage.WalkEntry, error) error) error {
	if err := check("walk", name); err != nil {
		return err
	}
	if err := h.statDir(ctx, "walk", name); err != nil {
		return err
	}
	w := walker{fn: fn}
	if name != "." {
		w.dirs = []string{name} // every key listed is under it: it is never left
		w.top = strings.Count(name, "/") + 1
	}
	top := h.dirKey(name)
	for oi := range h.b.objects(ctx, minio.ListObjectsOptions{Prefix: top, Recursive: true, WithMetadata: true}) {
		if oi.Err != nil {
			return pathErr("walk", name, oi.Err)
		}
		rel := strings.TrimPrefix(oi.Key, top)
		if rel == "" || (name == "." && (rel == private || strings.HasPrefix(rel, private+"/"))) {
			continue
		}
		full := rel
		if name != "." {
			full = name + "/" + rel
		}
		err := w.visit(full, oi)
		if errors.Is(err, fs.SkipAll) {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return ctx.Err()
}

// walker turns a recursive listing (keys in order) into a walk: it remembers the directories it
// has shown, one per level of the key it is at, and the one being skipped.
type walker struct {
	fn   func(storage.WalkEntry, error) error
	dirs []string // directories shown, outermost first, each a parent of the next
	skip string   // a directory whose contents are left out ("" for none)
	top  int      // the depth of the walked directory below the home
}

// walkEntry is an entry of a walk: its key has its whole path already.
type walkEntry struct {
	info  storage.Info
	path  string
	depth int
}

func (e walkEntry) Info() storage.Info { return e.info }
func (e walkEntry) Path() string       { return e.path }
func (e walkEntry) Depth() int         { return e.depth }

// entry is the walk entry of full, described by info.
func (w *walker) entry(full string, info storage.Info) walkEntry {
	return walkEntry{info: info, path: full, depth: strings.Count(full, "/") + 1 - w.top}
}

func (w *walker) visit(full string, oi minio.ObjectInfo) error {
	isDir := strings.HasSuffix(full, "/")
	full = strings.TrimSuffix(full, "/")
	if w.skip != "" && strings.HasPrefix(full, w.skip+"/") {
		return nil
	}
	w.skip = ""
	// Close the directories this key is not in, then show those it is in that are new.
	for len(w.dirs) > 0 && !strings.HasPrefix(full, w.dirs[len(w.dirs)-1]+"/") {
		w.dirs = w.dirs[:len(w.dirs)-1]
	}
	start := 0
	if len(w.dirs) > 0 {
		start = len(w.dirs[len(w.dirs)-1]) + 1
	}
	for i := start; i < len(full); i++ {
		if full[i] != '/' {
			continue
		}
		if err := w.enter(full[:i]); err != nil || w.skip != "" {
			return err
		}
	}
	if isDir {
		if len(w.dirs) > 0 && w.dirs[len(w.dirs)-1] == full {
			return nil // shown already, before an object under it came in key order
		}
		return w.enter(full)
	}
	err := w.fn(w.entry(full, fileInfo(path.Base(full), oi)), nil)
	if errors.Is(err, fs.SkipDir) { // from a file: the rest of its directory is left out
		if len(w.dirs) == 0 {
			return fs.SkipAll
		}
		w.skip = w.dirs[len(w.dirs)-1]
		w.dirs = w.dirs[:len(w.dirs)-1]
		return nil
	}
	return err
}

// enter shows the directory dir and, unless fn skips it, goes into it.
func (w *walker) enter(dir string) error {
	err := w.fn(w.entry(dir, dirInfo(path.Base(dir))), nil)
	if errors.Is(err, fs.SkipDir) {
		w.skip = dir
		return nil
	}
	if err != nil {
		return err
	}
	w.dirs = append(w.dirs, dir)
	return nil
}

// Mkdir stores the directory's marker, once its parent is a directory and nothing has its name.
func (h *Home) Mkdir(ctx context.Context, name string) error {
	if err := check("mkdir", name); err != nil {
		return err
	}
	if name == "." {
		return &fs.PathError{Op: "mkdir", Path: name, Err: storage.ErrExist}
	}
	if err := h.statDir(ctx, "mkdir", parentOf(name)); err != nil {
		return err
	}
	if _, err := h.stat(ctx, name); err == nil {
		return &fs.PathError{Op: "mkdir", Path: name, Err: storage.ErrExist}
	} else if !errors.Is(err, storage.ErrNotExist) {
		return err
	}
	if err := h.putEmpty(ctx, h.dirKey(name), time.Now()); err != nil {
		return pathErr("mkdir", name, err)
	}
	return nil
}

// Remove deletes the file's object, or the empty directory's marker.
func (h *Home) Remove(ctx context.Context, name string) error {
	if err := check("remove", name); err != nil {
		return err
	}
	if name == "." {
		return &fs.PathError{Op: "remove", Path: name, Err: storage.ErrInvalid}
	}
	fi, err := h.stat(ctx, name)
	if err != nil {
		return err
	}
	key := h.key(name)
	if fi.IsDir() {
		key = h.dirKey(name)
		ois, err := h.b.firstObjects(ctx, key, 2)
		if err != nil {
			return pathErr("remove", name, err)
		}
		for _, oi := range ois {
			if oi.Key != key {
				return &fs.PathError{Op: "remove", Path: name, Err: storage.ErrNotEmpty}
			}
		}
	}
	if err := h.b.removeObject(ctx, key); err != nil {
		return pathErr("remove", name, err)
	}
	if !fi.IsDir() {
		return h.dropRecord(ctx, name)
	}
	return nil
}

// Chtimes sets the modification time in the file's metadata, by copying the object onto itself
// (the store copies it without sending its data). A directory keeps none.
func (h *Home) Chtimes(ctx context.Context, name string, mtime time.Time) error {
	if err := check("chtimes", name); err != nil {
		return err
	}
	fi, err := h.stat(ctx, name)
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return nil
	}
	if err := h.copy(ctx, h.key(name), h.key(name), fi.Size, mtime); err != nil {
		return pathErr("chtimes", name, err)
	}
	return nil
}

// Meta reads the record key.
func (h *Home) Meta(ctx context.Context, key string) ([]byte, error) {
	k, err := h.metaKey("meta", key)
	if err != nil {
		return nil, err
	}
	data, err := h.b.getSmall(ctx, k)
	if err != nil {
		return nil, pathErr("meta", key, err)
	}
	return data, nil
}

// SetMeta writes the record key with one PUT: readers see the old or the new record.
func (h *Home) SetMeta(ctx context.Context, key string, data []byte) error {
	k, err := h.metaKey("set meta", key)
	if err != nil {
		return err
	}
	if err := h.b.putSmall(ctx, k, data, time.Time{}); err != nil {
		return pathErr("set meta", key, err)
	}
	return nil
}

// CreateMeta writes the record key with one conditional PUT (If-None-Match: *), which the store
// refuses if the object exists.
func (h *Home) CreateMeta(ctx context.Context, key string, data []byte) error {
	k, err := h.metaKey("create meta", key)
	if err != nil {
		return err
	}
	if err := h.b.putSmallIfAbsent(ctx, k, data); err != nil {
		return pathErr("create meta", key, err)
	}
	return nil
}

// RemoveMeta deletes the record key.
func (h *Home) RemoveMeta(ctx context.Context, key string) error {
	k, err := h.metaKey("remove meta", key)
	if err != nil {
		return err
	}
	if err := h.b.removeObject(ctx, k); err != nil && classify(err) != storage.ErrNotExist {
		return pathErr("remove meta", key, err)
	}
	return nil
}

// metaKey is the object key of the record key.
func (h *Home) metaKey(op, key string) (string, error) {
	if err := check(op, key); err != nil || key == "." {
		return "", &fs.PathError{Op: op, Path: key, Err: storage.ErrInvalid}
	}
	return h.root + private + "/meta/" + key, nil
}

// recordKey is the key of the record kept with the file name: under the server's area, at the
// file's own name, so that a directory's records move with it as one prefix.
func (h *Home) recordKey(name string) string { return h.root + private + "/records/" + name }

// Record returns the record kept with the file name (package homefs checks it is still true of
// the file: a record is a cache).
func (h *Home) Record(ctx context.Context, name string) ([]byte, error) {
	if err := check("record", name); err != nil {
		return nil, err
	}
	data, err := h.b.getSmall(ctx, h.recordKey(name))
	if err != nil {
		return nil, pathErr("record", name, err)
	}
	return data, nil
}

// SetRecord stores the record of the file name, which must exist.
func (h *Home) SetRecord(ctx context.Context, name string, data []byte) error {
	if err := check("set record", name); err != nil {
		return err
	}
	fi, err := h.stat(ctx, name)
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return &fs.PathError{Op: "set record", Path: name, Err: storage.ErrIsDir}
	}
	return h.putRecord(ctx, name, data)
}

func (h *Home) putRecord(ctx context.Context, name string, data []byte) error {
	return pathErr2("set record", name, h.b.putSmall(ctx, h.recordKey(name), data, time.Time{}))
}

// dropRecord removes the record of the file name, if it has one.
func (h *Home) dropRecord(ctx context.Context, name string) error {
	err := h.b.removeObject(ctx, h.recordKey(name))
	if err != nil && classify(err) != storage.ErrNotExist {
		return pathErr("remove record", name, err)
	}
	return nil
}
