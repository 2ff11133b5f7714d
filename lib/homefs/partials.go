package homefs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"syscall"
	"time"
)

// fitFiles refuses, for vpath, n more entries in a home whose file count quota has no room for
// them. h.mu is held.
func (f *FS) fitFiles(vpath string, n int64) error {
	limit := f.maxFiles()
	if n <= 0 || n <= limit-f.h.files {
		return nil
	}
	return newErr(ErrQuota, vpath, fmt.Sprintf("file count quota: %d of %d files and directories used, "+
		"an unfinished upload counting two", f.h.files, limit))
}

// fitPartial checks that the home has room for the unfinished upload k of vpath, two entries of
// .myftp/partial (its data and its description), of which pr may hold some already, and returns
// how many more it needs. It refuses with ErrQuota a new one that the file count quota or the
// limit of unfinished uploads has no room for. h.mu is held.
func (f *FS) fitPartial(pr *os.Root, k, vpath string) (int64, error) {
	need := 2 - pairEntries(pr, k)
	if err := f.fitFiles(vpath, need); err != nil {
		return 0, err
	}
	if limit := f.store.opts.MaxPartials; need > 0 && f.h.partials+need > 2*limit {
		return 0, newErr(ErrQuota, vpath, fmt.Sprintf("%d unfinished uploads kept, at most %d: "+
			"resume or remove them (myftpc: partials, rm --partial NAME)", (f.h.partials+1)/2, limit))
	}
	return need, nil
}

// holdPartial counts the need entries that fitPartial found missing, and makes the slot sl hold
// both entries of its unfinished upload while it runs. h.mu is held.
func (h *home) holdPartial(sl *slot, need int64) {
	h.countPartial(need)
	sl.entries = 2
}

// settlePartial counts what pr holds now of the two entries of the unfinished upload k of the
// slot sl, in place of what the slot held. It may be called again after more of them went. h.mu
// is held.
func (h *home) settlePartial(pr *os.Root, k string, sl *slot) {
	n := pairEntries(pr, k)
	h.countPartial(n - sl.entries)
	sl.entries = n
}

// settlePartialTo counts n entries of the slot sl's unfinished upload, known to be what is left of
// them, in place of what the slot held. h.mu is held.
func (h *home) settlePartialTo(sl *slot, n int64) {
	h.countPartial(n - sl.entries)
	sl.entries = n
}

// pairEntries returns how many of the data file k and its description pr holds.
func pairEntries(pr *os.Root, k string) int64 {
	var n int64
	for _, name := range [...]string{k, k + ".json"} {
		if _, err := pr.Lstat(name); err == nil {
			n++
		}
	}
	return n
}

// PartialInfo describes an unfinished upload.
type PartialInfo struct {
	Path  string    // the file it is for, as the user names it: "/docs/big.iso"
	Size  int64     // bytes it holds
	Total int64     // the size the upload declared; -1 when it declared none (FTP, SFTP)
	Mtime time.Time // when it last grew
}

// Partials calls fn for each unfinished upload the home keeps, uploads in progress included, in
// directory order, reading the directory in batches. They are what counts toward
// Options.MaxPartials; a partial upload whose description a crash lost is not listed, and expires.
func (f *FS) Partials(fn func(PartialInfo) error) error {
	dir, err := f.root.Open(path.Join(reserved, partialDir))
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return nil
	}
	if err != nil {
		return &Error{Kind: kindOf(err), Detail: "reading the unfinished uploads", Err: err}
	}
	defer dir.Close()
	for {
		names, err := dir.Readdirnames(listBatch)
		for _, n := range names {
			if p, ok := f.partialInfo(n); ok {
				if err := fn(p); err != nil {
					return err
				}
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return &Error{Kind: kindOf(err), Detail: "reading the unfinished uploads", Err: err}
		}
	}
}

// partialInfo describes the entry name of .myftp/partial if it is the data file of an unfinished
// upload with a valid description.
func (f *FS) partialInfo(name string) (PartialInfo, bool) {
	if strings.HasSuffix(name, ".json") {
		return PartialInfo{}, false
	}
	p := path.Join(reserved, partialDir, name)
	meta, err := readMeta(f.root, p+".json")
	if err != nil || meta.Path == "" || key(meta.Path) != name {
		// An upload in progress may not have written its description yet.
		f.h.mu.Lock()
		rel, sl, ok := f.h.uploadingKey(name)
		if ok {
			meta = partialMeta{Path: rel, Size: sl.declared}
		}
		f.h.mu.Unlock()
		if !ok {
			return PartialInfo{}, false
		}
	}
	fi, err := f.root.Lstat(p)
	if err != nil || !fi.Mode().IsRegular() {
		return PartialInfo{}, false
	}
	return PartialInfo{Path: "/" + meta.Path, Size: fi.Size(), Total: meta.Size, Mtime: fi.ModTime()}, true
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
	pp := partialPath(rel)
	fi, err := f.root.Lstat(pp)
	switch {
	case err == nil:
		if !h.dropPartial(f.root, pp, fi) {
			return newErr(ErrIO, vpath, "the unfinished upload could not be removed")
		}
	case !errors.Is(err, fs.ErrNotExist):
		return wrapOS(err, vpath)
	case f.root.Remove(pp+".json") == nil: // a description whose data a crash lost
		h.countPartial(-1)
	default:
		return newErr(ErrNotFound, vpath, "no unfinished upload")
	}
	return nil
}
