package homefs

import (
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/myftp/myftp/lib/storage"
)

// fitFiles refuses, for vpath, n more entries in a home whose file count quota has no room for
// them. h.mu is held.
func (f *FS) fitFiles(vpath string, n int64) error {
	limit := f.maxFiles()
	if n <= 0 || n <= limit-f.h.files {
		return nil
	}
	return f.store.refused(newErr(ErrQuota, vpath, fmt.Sprintf("file count quota: %d of %d files and directories used, "+
		"an unfinished upload counting two", f.h.files, limit)))
}

// fitPartial checks that the home has room for the unfinished upload of vpath, two entries (its
// data and its description), unless held (it exists already), and returns how many more it needs.
// It refuses with ErrQuota a new one that the file count quota or the limit of unfinished uploads
// has no room for. h.mu is held.
func (f *FS) fitPartial(held bool, vpath string) (int64, error) {
	need := int64(2)
	if held {
		need = 0
	}
	if err := f.fitFiles(vpath, need); err != nil {
		return 0, err
	}
	if limit := f.store.opts.MaxPartials; need > 0 && f.h.partials+need > 2*limit {
		return 0, f.store.refused(newErr(ErrQuota, vpath, fmt.Sprintf("%d unfinished uploads kept, at most %d: "+
			"resume or remove them (myftpc: partials, rm --partial NAME)", (f.h.partials+1)/2, limit)))
	}
	return need, nil
}

// holdPartial counts the need entries that fitPartial found missing, and makes the slot sl hold
// both entries of its unfinished upload while it runs. h.mu is held.
func (h *home) holdPartial(sl *slot, need int64) {
	h.countPartial(need)
	sl.entries = 2
}

// settlePartialTo counts n entries of the slot sl's unfinished upload (2 if it is kept, 0 if it
// is gone), in place of what the slot held. h.mu is held.
func (h *home) settlePartialTo(sl *slot, n int64) {
	h.countPartial(n - sl.entries)
	sl.entries = n
}

// PartialInfo describes an unfinished upload.
type PartialInfo struct {
	Path  string    // the file it is for, as the user names it: "/docs/big.iso"
	Size  int64     // bytes it holds
	Total int64     // the size the upload declared; -1 when it declared none (FTP, SFTP)
	Mtime time.Time // when it last grew
}

// Partials calls fn for each unfinished upload the home keeps, uploads in progress included, in
// the backend's order, a page at a time. They are what counts toward Options.MaxPartials; a
// partial upload whose description a crash lost is not listed, and expires.
func (f *FS) Partials(fn func(PartialInfo) error) error {
	var fnErr error
	err := f.home.Partials(f.ctx(), func(page []storage.PartialInfo) error {
		for _, pi := range page {
			if p, ok := f.partialInfo(pi); ok {
				if err := fn(p); err != nil {
					fnErr = err
					return err
				}
			}
		}
		return nil
	})
	if fnErr != nil {
		return fnErr
	}
	if err != nil {
		return &Error{Kind: kindOf(err), Detail: "reading the unfinished uploads", Err: err}
	}
	return nil
}

// partialInfo describes the unfinished upload pi if it has a valid description, or is in
// progress.
func (f *FS) partialInfo(pi storage.PartialInfo) (PartialInfo, bool) {
	meta, err := readMeta(f, pi.ID)
	if err != nil || meta.Path == "" || key(meta.Path) != pi.ID {
		// An upload in progress may not have written its description yet.
		f.h.mu.Lock()
		rel, sl, ok := f.h.uploadingKey(pi.ID)
		if ok {
			meta = partialMeta{Path: rel, Size: sl.declared}
		}
		f.h.mu.Unlock()
		if !ok {
			return PartialInfo{}, false
		}
	}
	return PartialInfo{Path: "/" + meta.Path, Size: pi.Size, Total: meta.Size, Mtime: pi.Mtime}, true
}

// RemovePartial deletes the unfinished upload of the file p, whether or not a file p is stored
// (it stays), and gives its space and its entries back to the quotas. It fails with ErrBusy while
// the upload is in progress, and with ErrNotFound if p has no unfinished upload.
func (f *FS) RemovePartial(p string) error {
	rel, vpath, err := resolve(f.cwd, p, false)
	if err != nil {
		return err
	}
	h := f.h
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.uploading[rel] != nil {
		return newErr(ErrBusy, vpath, "")
	}
	pi, err := f.home.StatPartial(f.ctx(), key(rel))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return newErr(ErrNotFound, vpath, "no unfinished upload")
	case err != nil:
		return wrapOS(err, vpath)
	case !h.dropPartial(f, pi):
		return newErr(ErrIO, vpath, "the unfinished upload could not be removed")
	}
	return nil
}
