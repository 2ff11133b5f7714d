package local

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path"

	"github.com/myftp/myftp/lib/storage"
)

// Record returns the record of the file name: its extended attribute, else the file that keeps
// it in .myftp/records (where the filesystem has no extended attributes for users).
func (h *Home) Record(ctx context.Context, name string) ([]byte, error) {
	if err := check("record", name); err != nil {
		return nil, err
	}
	f, err := h.root.OpenFile(name, os.O_RDONLY|noPoll, 0)
	if err != nil {
		return nil, mapErr(err, "record", name)
	}
	defer f.Close()
	if data, ok := h.getTag(f); ok {
		return data, nil
	}
	return h.recordFile(name)
}

// recordFile reads the record file of name.
func (h *Home) recordFile(name string) ([]byte, error) {
	if !h.mayHaveRecordFiles() {
		return nil, &fs.PathError{Op: "record", Path: name, Err: fs.ErrNotExist}
	}
	data, err := h.root.ReadFile(recordDir + "/" + name)
	if err != nil {
		return nil, mapErr(err, "record", name)
	}
	return data, nil
}

// SetRecord replaces the record of the file name: as its extended attribute where the filesystem
// keeps them, else in a file of .myftp/records. Records are caches: they are not flushed.
func (h *Home) SetRecord(ctx context.Context, name string, data []byte) error {
	if err := check("set record", name); err != nil {
		return err
	}
	f, err := h.root.OpenFile(name, os.O_RDONLY|noPoll, 0)
	if err != nil {
		return mapErr(err, "set record", name)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return mapErr(err, "set record", name)
	} else if fi.IsDir() {
		return &fs.PathError{Op: "set record", Path: name, Err: storage.ErrIsDir}
	}
	if h.setTag(f, data) == nil {
		h.dropRecordFile(name)
		return nil
	}
	return h.writeRecordFile(name, data)
}

func (h *Home) getTag(f *os.File) ([]byte, bool) {
	if h.b.opts.NoXattrs {
		return nil, false
	}
	return GetTag(f, recordTag)
}

func (h *Home) setTag(f *os.File, data []byte) error {
	if h.b.opts.NoXattrs {
		return errNoXattrs
	}
	return SetTag(f, recordTag, data)
}

// errNoXattrs is setTag's error when the backend keeps no records as extended attributes.
var errNoXattrs = errors.New("local: records kept in files")

// dropRecordFile removes the record file of name (and, for a directory, those of everything that
// was in it), if there is one.
func (h *Home) dropRecordFile(name string) {
	if h.mayHaveRecordFiles() {
		h.root.RemoveAll(recordDir + "/" + name)
	}
}

// mayHaveRecordFiles reports whether .myftp/records may hold record files: where extended
// attributes work it never exists, and the removals and renames that keep it in step with the
// tree cost nothing.
func (h *Home) mayHaveRecordFiles() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.records == 0 {
		h.records = -1
		if _, err := h.root.Lstat(recordDir); err == nil {
			h.records = 1
		}
	}
	return h.records > 0
}

// writeRecordFile writes the record file of name.
func (h *Home) writeRecordFile(name string, data []byte) error {
	h.mu.Lock()
	h.records = 1
	h.mu.Unlock()
	return h.writeWhole(recordDir+"/"+name, name, data)
}

// moveRecordFiles moves the record files of from (a file, or a directory's tree of them) to to,
// after a rename; those left at to belonged to the file it replaced.
func (h *Home) moveRecordFiles(from, to string) {
	if !h.mayHaveRecordFiles() {
		return
	}
	src, dst := recordDir+"/"+from, recordDir+"/"+to
	if _, err := h.root.Lstat(src); err != nil {
		if _, err := h.root.Lstat(dst); err == nil {
			h.root.RemoveAll(dst)
		}
		return
	}
	h.root.RemoveAll(dst)
	if h.root.MkdirAll(path.Dir(dst), dirPerm) == nil {
		h.root.Rename(src, dst)
	}
}
