package local

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/myftp/myftp/lib/storage"
)

// Partial creates, or with resume opens again, the unfinished upload id: the file
// .myftp/partial/id, whose target is recorded in .myftp/targets/id. A resumed one keeps every
// byte written to it.
func (h *Home) Partial(ctx context.Context, id, target string, opts storage.PartialOptions) (storage.Partial, error) {
	if err := checkElem("partial", id); err != nil {
		return nil, err
	}
	if err := check("partial", target); err != nil {
		return nil, err
	}
	if target == "." {
		return nil, &fs.PathError{Op: "partial", Path: target, Err: storage.ErrInvalid}
	}
	pr, err := h.partialRoot()
	if err != nil {
		return nil, mapErr(err, "partial", id)
	}
	flags := os.O_RDWR | os.O_CREATE | noPoll
	if !opts.Resume {
		flags |= os.O_TRUNC
	}
	f, err := pr.OpenFile(id, flags, filePerm)
	if err != nil {
		return nil, mapErr(err, "partial", id)
	}
	var size int64 // truncated unless resumed
	if opts.Resume {
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, mapErr(err, "partial", id)
		}
		size = fi.Size()
	}
	return &partial{h: h, f: f, id: id, target: target, size: size, dirty: size > 0}, nil
}

// StatPartial describes the unfinished upload id.
func (h *Home) StatPartial(ctx context.Context, id string) (storage.PartialInfo, error) {
	if err := checkElem("stat partial", id); err != nil {
		return storage.PartialInfo{}, err
	}
	page := h.partialInfos([]string{id})
	if len(page) == 0 {
		return storage.PartialInfo{}, &fs.PathError{Op: "stat partial", Path: id, Err: fs.ErrNotExist}
	}
	return page[0], nil
}

// setTarget records the target of the partial upload id, unless it is recorded already. It is
// written only when the upload is kept (Close, Sync): one that is published never needs it, and
// a small upload then creates no file but its own.
func (h *Home) setTarget(id, target string) error {
	p := targetDir + "/" + id
	if old, err := h.root.ReadFile(p); err == nil && string(old) == target {
		return nil
	}
	return h.writeWhole(p, id, []byte(target))
}

// Partials calls fn with the unfinished uploads of the home, reading .myftp/partial a page at a
// time. An upload whose target record is missing has an empty Target.
func (h *Home) Partials(ctx context.Context, fn func([]storage.PartialInfo) error) error {
	dir, err := h.root.Open(partialDir)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return nil // none yet; or something not a directory is in the way, and none can be made
	}
	if err != nil {
		return mapErr(err, "partials", ".")
	}
	defer dir.Close()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		names, rerr := dir.Readdirnames(storage.ListPage)
		if rerr != nil && !errors.Is(rerr, io.EOF) {
			return mapErr(rerr, "partials", ".")
		}
		if page := h.partialInfos(names); len(page) > 0 {
			if err := fn(page); err != nil {
				return err
			}
		}
		if rerr != nil {
			return nil
		}
	}
}

// partialInfos describes the partial uploads ids; one that vanished meanwhile is left out.
func (h *Home) partialInfos(ids []string) []storage.PartialInfo {
	page := make([]storage.PartialInfo, 0, len(ids))
	pr, err := h.openPartials(false)
	if err != nil {
		return page
	}
	for _, id := range ids {
		fi, err := pr.Lstat(id)
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		target, _ := h.root.ReadFile(targetDir + "/" + id)
		page = append(page, storage.PartialInfo{ID: id, Target: string(target), Size: fi.Size(), Mtime: fi.ModTime()})
	}
	return page
}

// RemovePartial deletes the unfinished upload id and its target record.
func (h *Home) RemovePartial(ctx context.Context, id string) error {
	if err := checkElem("remove partial", id); err != nil {
		return err
	}
	pr, err := h.openPartials(false)
	if err == nil {
		err = pr.Remove(id)
	}
	if err != nil {
		return mapErr(err, "remove partial", id)
	}
	return h.removeTarget(id)
}

func (h *Home) removeTarget(id string) error {
	err := h.root.Remove(targetDir + "/" + id)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return mapErr(err, "remove partial", id)
}

// partial is an unfinished upload: its file, open.
type partial struct {
	h      *Home
	f      *os.File // nil once published, closed or discarded
	id     string
	target string
	kept   bool // its target is recorded

	mu    sync.Mutex // WriteAt may run on several goroutines at once
	size  int64      // of the file: the largest end written, or the last Truncate
	dirty bool       // written since the last flush
}

// keep records the upload's target, once.
func (p *partial) keep() error {
	if p.kept {
		return nil
	}
	if err := p.h.setTarget(p.id, p.target); err != nil {
		return err
	}
	p.kept = true
	return nil
}

func (p *partial) file() (*os.File, error) {
	if p.f == nil {
		return nil, &fs.PathError{Op: "partial", Path: p.id, Err: fs.ErrClosed}
	}
	return p.f, nil
}

func (p *partial) Size() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.size
}

// Write appends at Size().
func (p *partial) Write(b []byte) (int, error) { return p.WriteAt(b, p.Size()) }

func (p *partial) WriteAt(b []byte, off int64) (int, error) {
	f, err := p.file()
	if err != nil {
		return 0, err
	}
	n, err := f.WriteAt(b, off)
	p.mu.Lock()
	p.size = max(p.size, off+int64(n))
	p.dirty = true
	p.mu.Unlock()
	return n, ioErr(err, "write", p.id)
}

func (p *partial) ReadAt(b []byte, off int64) (int, error) {
	f, err := p.file()
	if err != nil {
		return 0, err
	}
	n, err := f.ReadAt(b, off)
	return n, ioErr(err, "read", p.id)
}

func (p *partial) Truncate(n int64) error {
	f, err := p.file()
	if err != nil {
		return err
	}
	if err := f.Truncate(n); err != nil {
		return mapErr(err, "truncate", p.id)
	}
	p.mu.Lock()
	p.size, p.dirty = n, true
	p.mu.Unlock()
	return nil
}

// Sync flushes the file to stable storage if the backend syncs (Options.Fsync). The upload's
// target is recorded only when it is kept (Close): an upload that a crash cut off is found by
// its id all the same.
func (p *partial) Sync() error {
	f, err := p.file()
	if err != nil {
		return err
	}
	return p.flush(f)
}

// flush flushes the file if the backend syncs and it was written since the last flush.
func (p *partial) flush(f *os.File) error {
	p.mu.Lock()
	dirty := p.dirty
	p.dirty = false
	p.mu.Unlock()
	if !p.h.b.opts.Fsync || !dirty {
		return nil
	}
	if err := p.h.b.durable.Sync(f); err != nil {
		p.mu.Lock()
		p.dirty = true
		p.mu.Unlock()
		return mapErr(err, "sync", p.id)
	}
	return nil
}

// Close keeps the file for a resume, with its target recorded.
func (p *partial) Close() error {
	f, err := p.file()
	if err != nil {
		return err
	}
	p.f = nil
	kerr := p.keep()
	if err := f.Close(); err != nil {
		return mapErr(err, "close", p.id)
	}
	return kerr
}

// Discard deletes the file and its target record.
func (p *partial) Discard() error {
	if p.f != nil {
		p.f.Close()
		p.f = nil
	}
	pr, err := p.h.partialRoot()
	if err == nil {
		err = pr.Remove(p.id)
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return mapErr(err, "discard", p.id)
	}
	if !p.kept {
		return nil
	}
	return p.h.removeTarget(p.id)
}

// Publish gives the file its time and record, and renames it to its target, after flushing it
// when the backend syncs and it was written since it was last flushed. If it fails, the upload is
// closed, as by Close, and kept.
func (p *partial) Publish(ctx context.Context, mtime time.Time, record func(storage.Info) []byte) (storage.Info, error) {
	f, err := p.file()
	if err != nil {
		return storage.Info{}, err
	}
	p.f = nil
	defer f.Close()
	fail := func(err error) (storage.Info, error) {
		p.keep()
		return storage.Info{}, err
	}
	if err := p.flush(f); err != nil {
		return fail(err)
	}
	if !mtime.IsZero() {
		pr, err := p.h.partialRoot()
		if err == nil {
			err = pr.Chtimes(p.id, time.Time{}, mtime)
		}
		if err != nil {
			return fail(mapErr(err, "publish", p.target))
		}
	}
	fi, err := f.Stat() // the file as it is published: a rename keeps all of it
	if err != nil {
		return fail(mapErr(err, "publish", p.target))
	}
	info := infoOf(path.Base(p.target), fi)
	var rec []byte
	if record != nil {
		rec = record(info)
	}
	tagged := rec != nil && p.h.setTag(f, rec) == nil // the record goes with the file
	if runtime.GOOS == "windows" {                    // an open file cannot be renamed there
		f.Close()
	}
	if err := p.rename(); err != nil {
		return fail(err)
	}
	if p.kept {
		p.h.removeTarget(p.id) // best effort: a record without data is never listed
	}
	if tagged || rec == nil {
		p.h.dropRecordFile(p.target) // the replaced file's, if it was kept in a file
	} else if err := p.h.writeRecordFile(p.target, rec); err != nil {
		p.h.dropRecordFile(p.target) // a stale record must not stay; a missing one is only recomputed
	}
	return info, nil
}

// SyncName flushes the entry name when the backend syncs: where a flush covers the whole
// filesystem, any descriptor on it carries it (names flushed at once share one flush);
// otherwise name's directory is flushed, except on Windows, where directories cannot be.
func (h *Home) SyncName(ctx context.Context, name string) error {
	if err := check("sync", name); err != nil {
		return err
	}
	if !h.b.opts.Fsync || runtime.GOOS == "windows" {
		return nil
	}
	if h.b.durable.WholeFilesystem() { // any descriptor on the filesystem carries the flush
		d, err := h.homeDir()
		if err != nil {
			return mapErr(err, "sync", ".")
		}
		return mapErr(h.b.durable.Sync(d), "sync", path.Dir(name))
	}
	d, err := h.root.Open(path.Dir(name))
	if err != nil {
		return mapErr(err, "sync", path.Dir(name))
	}
	defer d.Close()
	return mapErr(h.b.durable.Sync(d), "sync", path.Dir(name))
}

// rename moves the file onto its target, refusing a directory there. The rename itself refuses to
// replace a directory (EISDIR, EEXIST or ENOTEMPTY, as the system has it), so the target is looked
// at only when it fails, to say why.
func (p *partial) rename() error {
	err := p.h.renameFromPartials(p.id, p.target)
	if err == nil {
		return nil
	}
	if fi, serr := p.h.root.Lstat(p.target); serr == nil && fi.IsDir() {
		return &fs.PathError{Op: "publish", Path: p.target, Err: storage.ErrIsDir}
	}
	return mapErr(err, "publish", p.target)
}

// checkKey refuses a record key that is not a clean relative name below the records' directory.
func checkKey(op, key string) error {
	if err := check(op, key); err != nil {
		return err
	}
	if key == "." {
		return &fs.PathError{Op: op, Path: key, Err: storage.ErrInvalid}
	}
	return nil
}

// Meta reads the record key, the file .myftp/meta/key.
func (h *Home) Meta(ctx context.Context, key string) ([]byte, error) {
	if err := checkKey("meta", key); err != nil {
		return nil, err
	}
	data, err := h.root.ReadFile(metaDir + "/" + key)
	if err != nil {
		return nil, mapErr(err, "meta", key)
	}
	return data, nil
}

// SetMeta writes the record key whole, making the directories of a nested key. Records are
// caches: they are not flushed to stable storage.
func (h *Home) SetMeta(ctx context.Context, key string, data []byte) error {
	if err := checkKey("set meta", key); err != nil {
		return err
	}
	if err := h.writeWhole(metaDir+"/"+key, key, data); err != nil {
		return fmt.Errorf("set meta: %w", err)
	}
	return nil
}

// CreateMeta writes the record key whole if there is none: it writes a temporary file and
// links it to the record's name, which fails if the name exists.
func (h *Home) CreateMeta(ctx context.Context, key string, data []byte) error {
	if err := checkKey("create meta", key); err != nil {
		return err
	}
	name := metaDir + "/" + key
	tmp, err := h.writeTemp(name, key, data)
	if err != nil {
		return fmt.Errorf("create meta: %w", err)
	}
	defer h.root.Remove(tmp)
	if err := h.root.Link(tmp, name); err != nil {
		return fmt.Errorf("create meta: %w", mapErr(err, "link", key))
	}
	return nil
}

// RemoveMeta deletes the record key; a missing one is not an error.
func (h *Home) RemoveMeta(ctx context.Context, key string) error {
	if err := checkKey("remove meta", key); err != nil {
		return err
	}
	err := h.root.Remove(metaDir + "/" + key)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return mapErr(err, "remove meta", key)
}

// writeWhole replaces the file name (in Reserved; label in errors) with data, so that a reader sees the old data
// or the new, never a mix: it writes a temporary file in the same directory and renames it.
func (h *Home) writeWhole(name, label string, data []byte) error {
	tmp, err := h.writeTemp(name, label, data)
	if err != nil {
		return err
	}
	if err := h.root.Rename(tmp, name); err != nil {
		h.root.Remove(tmp)
		return mapErr(err, "write", label)
	}
	return nil
}

// writeTemp writes data to a new temporary file in the directory of name (in Reserved, made if
// needed; label in errors) and returns the temporary file's name.
func (h *Home) writeTemp(name, label string, data []byte) (string, error) {
	dir := path.Dir(name)
	if err := h.root.MkdirAll(dir, dirPerm); err != nil {
		return "", mapErr(err, "mkdir", label)
	}
	var r [8]byte
	rand.Read(r[:])
	tmp := dir + "/.tmp-" + hex.EncodeToString(r[:])
	f, err := h.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL|noPoll, filePerm)
	if err != nil {
		return "", mapErr(err, "create", label)
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		h.root.Remove(tmp)
		return "", mapErr(err, "write", label)
	}
	return tmp, nil
}
