package homefs

import (
	"errors"
	"io/fs"
	"os"
	"path"
	"time"
)

// finishPartial makes the finished partial file of rel durable (when the store syncs), closes it
// and gives it the modification time mtime (unless zero). The file is closed whatever happens.
func (f *FS) finishPartial(file *os.File, rel, vpath string, mtime time.Time) error {
	if f.store.opts.Fsync {
		if err := f.store.durable.Sync(file); err != nil {
			file.Close()
			return wrapOS(err, vpath)
		}
	}
	if err := file.Close(); err != nil {
		return wrapOS(err, vpath)
	}
	if !mtime.IsZero() {
		if err := f.partials.Chtimes(key(rel), time.Time{}, mtime); err != nil {
			return wrapOS(err, vpath)
		}
	}
	return nil
}

// publish renames the finished partial file of rel into place under the home's lock, settles the
// accounting of the upload's slot (the file holds added bytes more than its partial file held
// when the upload began; the file it replaces, if any, is freed; the partial file and its
// description become one entry of the tree), and records its checksum sum and the states of h.
// Then, when the store syncs, it makes the rename durable, outside the lock so that the other
// uploads of the home can share the flush. When the file cannot be published (the home was made
// anew, a directory took its name, the rename failed), fail settles the upload as aborted, under
// the same lock.
func (f *FS) publish(rel, vpath string, sl *slot, added int64, sum string, h *stateHash, fail func()) (Entry, error) {
	e, err := f.rename(rel, vpath, sl, added, sum, h, fail)
	if err != nil || !f.store.opts.Fsync {
		return e, err
	}
	if err := f.syncDir(path.Dir(rel)); err != nil {
		// The file is in place, but whether its name survives a crash is not known: the client
		// hears of a failure and sends it again.
		f.store.opts.Log.Error("flushing a directory after an upload", "path", vpath, "err", err)
		return Entry{}, &Error{Kind: ErrIO, Path: vpath, Err: err}
	}
	return e, nil
}

// rename is publish's work under the home's lock.
func (f *FS) rename(rel, vpath string, sl *slot, added int64, sum string, h *stateHash, fail func()) (Entry, error) {
	hm := f.h
	hm.mu.Lock()
	defer hm.mu.Unlock()
	if sl.orphan.Load() {
		fail()
		return Entry{}, errHomeGone(vpath)
	}
	var replaced, replacedEntry int64
	if fi, err := f.root.Lstat(rel); err == nil {
		if fi.IsDir() {
			fail()
			return Entry{}, newErr(ErrIsDir, vpath, "")
		}
		if fi.Mode().IsRegular() {
			replaced = fi.Size()
		}
		replacedEntry = 1
	}
	if err := f.root.Rename(partialPath(rel), rel); err != nil {
		fail()
		return Entry{}, wrapOS(err, vpath)
	}
	hm.reserved -= sl.reserved
	hm.used += added - replaced
	hm.forget(rel, sl)
	// The data file left .myftp/partial for the tree, where it takes the replaced entry's place;
	// its description, if it was written, goes.
	hm.files += 1 - replacedEntry
	if err := f.partials.Remove(key(rel) + ".json"); err == nil || errors.Is(err, fs.ErrNotExist) {
		hm.settlePartialTo(sl, 0)
	} else {
		hm.settlePartial(f.partials, key(rel), sl)
	}
	// Under the lock the file at rel is the one just renamed: nothing else renames in the home.
	file, err := f.root.Open(rel)
	if err != nil {
		return Entry{}, wrapOS(err, vpath)
	}
	defer file.Close()
	fi, err := file.Stat()
	if err != nil {
		return Entry{}, wrapOS(err, vpath)
	}
	r := sumRecord{Size: fi.Size(), Mtime: fi.ModTime(), ID: fileID(fi)} // a new file: no record to add to
	r.set(h.algo, sum)
	f.saveRecord(file, rel, r)
	if sums, err := f.metaRoot(sumsDir); err == nil {
		writeStates(sums, rel, h, fi)
	}
	return entryOf(path.Base(vpath), fi), nil
}
