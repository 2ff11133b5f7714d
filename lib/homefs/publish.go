package homefs

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path"
	"runtime"
	"time"
)

// finished is a partial file whose data is complete and verified, on its way into place.
type finished struct {
	file   *os.File // still open (so that publish need not open it again); nil where an open file cannot be renamed (Windows)
	info   fs.FileInfo
	tagged bool // its checksum record is set as its extended attribute already
}

// close closes the file, if it is still open.
func (fin *finished) close() {
	if fin.file != nil {
		fin.file.Close()
		fin.file = nil
	}
}

// finishPartial makes the finished partial file of rel durable (when the store syncs), gives it
// the modification time mtime (unless zero) and, where the filesystem allows, its checksum record
// (sum of algo) as an extended attribute, all through the open file. The file stays open for
// publish, except on Windows, where an open file cannot be renamed; on an error it is closed.
func (f *FS) finishPartial(file *os.File, rel, vpath string, mtime time.Time, algo, sum string) (*finished, error) {
	fail := func(err error) (*finished, error) {
		file.Close()
		return nil, wrapOS(err, vpath)
	}
	if f.store.opts.Fsync {
		if err := f.store.durable.Sync(file); err != nil {
			return fail(err)
		}
	}
	if !mtime.IsZero() {
		if err := f.partials.Chtimes(key(rel), time.Time{}, mtime); err != nil {
			return fail(err)
		}
	}
	fi, err := file.Stat()
	if err != nil {
		return fail(err)
	}
	fin := &finished{file: file, info: fi}
	r := sumRecord{Size: fi.Size(), Mtime: fi.ModTime(), ID: fileID(fi)} // a new file: no record to add to
	r.set(algo, sum)
	if data, err := json.Marshal(r); err == nil {
		fin.tagged = f.setTag(file, data) == nil
	}
	if runtime.GOOS == "windows" {
		if err := file.Close(); err != nil {
			return nil, wrapOS(err, vpath)
		}
		fin.file = nil
	}
	return fin, nil
}

// publish renames the finished partial file of rel into place under the home's lock, settles the
// accounting of the upload's slot (the file holds added bytes more than its partial file held
// when the upload began; the file it replaces, if any, is freed; the partial file and its
// description become one entry of the tree), and records its checksum sum (unless fin carries it
// already) and the states of h. Then, when the store syncs, it makes the rename durable, outside
// the lock so that the other uploads of the home can share the flush. When the file cannot be
// published (the home was made anew, a directory took its name, the rename failed), fail settles
// the upload as aborted, under the same lock. fin is closed in every case.
func (f *FS) publish(rel, vpath string, sl *slot, added int64, sum string, h *stateHash, fail func(), fin *finished) (Entry, error) {
	defer fin.close()
	e, err := f.rename(rel, vpath, sl, added, sum, h, fail, fin)
	if err != nil || !f.store.opts.Fsync {
		return e, err
	}
	if fin.file != nil && f.store.durable.WholeFilesystem() {
		err = f.store.durable.Sync(fin.file) // one flush of the filesystem holds the rename too
	} else {
		err = f.syncDir(path.Dir(rel))
	}
	if err != nil {
		// The file is in place, but whether its name survives a crash is not known: the client
		// hears of a failure and sends it again.
		f.store.opts.Log.Error("flushing a directory after an upload", "path", vpath, "err", err)
		return Entry{}, &Error{Kind: ErrIO, Path: vpath, Err: err}
	}
	return e, nil
}

// rename is publish's work under the home's lock.
func (f *FS) rename(rel, vpath string, sl *slot, added int64, sum string, h *stateHash, fail func(), fin *finished) (Entry, error) {
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
	fi := fin.info
	sums, serr := f.metaRoot(sumsDir)
	switch {
	case fin.tagged && serr == nil:
		sums.Remove(key(rel) + ".json") // an older record of the path, if any
	case !fin.tagged:
		// Under the lock the file at rel is the one just renamed: nothing else renames in the
		// home. Its record goes to .myftp/sums.
		file, err := f.root.Open(rel)
		if err != nil {
			return Entry{}, wrapOS(err, vpath)
		}
		defer file.Close()
		if fi, err = file.Stat(); err != nil {
			return Entry{}, wrapOS(err, vpath)
		}
		r := sumRecord{Size: fi.Size(), Mtime: fi.ModTime(), ID: fileID(fi)}
		r.set(h.algo, sum)
		f.saveRecord(file, rel, r)
	}
	if serr == nil {
		writeStates(sums, rel, h, fi)
	}
	return entryOf(path.Base(vpath), fi), nil
}
