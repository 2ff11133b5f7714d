package homefs

import (
	"errors"
	"io/fs"
	"time"

	"github.com/myftp/myftp/lib/storage"
)

// partialNeed is how many entries the unfinished upload of a claim adds to the counts: its two
// (its data and its description), unless held (it exists already).
func partialNeed(held bool) int64 {
	if held {
		return 0
	}
	return 2
}

// settlePartialTo is the change of the counts when the slot sl's unfinished upload counts n
// entries (2 if it is kept, 0 if it is gone) in place of what the slot held, which it then holds.
func settlePartialTo(sl *slot, n int64) Counts {
	d := partialEntries(n - sl.entries)
	sl.entries = n
	return d
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
