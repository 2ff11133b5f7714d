package homefs

import (
	"encoding/json"
	"path"
	"time"

	"github.com/myftp/myftp/lib/storage"
)

// publish publishes the finished partial upload part of rel under the home's lock, as the file
// rel with the modification time mtime and its checksum record (sum of h's algorithm, and h's
// states), and settles the accounting of the upload's slot (the file holds added bytes more than
// its partial upload held when the upload began; the file it replaces, if any, is freed; the
// partial upload's two entries become one entry of the tree). Then, when the store syncs, it makes
// the new name durable, outside the lock so that the other uploads of the home can share the
// flush. described says whether the upload's description was written. When the file cannot be
// published (the home was made anew, a directory took its name, the ledger or the backend
// failed), fail settles the upload as aborted, under the same lock.
func (f *FS) publish(rel, vpath string, sl *slot, added int64, mtime time.Time, sum string, h *stateHash, fail func(), part storage.Partial, described bool) (Entry, error) {
	e, err := f.rename(rel, vpath, sl, added, mtime, sum, h, fail, part, described)
	if err != nil {
		return e, err
	}
	if err := f.home.SyncName(f.ctx(), rel); err != nil {
		// The file is in place, but whether its name survives a crash is not known: the client
		// hears of a failure and sends it again.
		f.store.opts.Log.Error("flushing a directory after an upload", "path", vpath, "err", err)
		return Entry{}, &Error{Kind: ErrIO, Path: vpath, Err: err}
	}
	return e, nil
}

// rename is publish's work under the home's lock.
func (f *FS) rename(rel, vpath string, sl *slot, added int64, mtime time.Time, sum string, h *stateHash, fail func(), part storage.Partial, described bool) (Entry, error) {
	hm := f.h
	hm.mu.Lock()
	defer hm.mu.Unlock()
	if sl.orphan.Load() {
		part.Close()
		fail()
		return Entry{}, errHomeGone(vpath)
	}
	var replaced, replacedEntry int64
	if fi, err := f.home.Lstat(f.ctx(), rel); err == nil {
		if fi.IsDir() {
			part.Close()
			fail()
			return Entry{}, newErr(ErrIsDir, vpath, "")
		}
		if fi.Kind == storage.File {
			replaced = fi.Size
		}
		replacedEntry = 1
	}
	record := func(i storage.Info) []byte {
		r := newRecord(i)
		r.set(h.algo, sum)
		r.setStates(h)
		data, _ := json.Marshal(r)
		return data
	}
	// Counted first, in one change: the reservation becomes use, and the data leaves the
	// unfinished uploads for the tree, where it takes the replaced entry's place (its
	// description goes). A ledger that fails leaves the upload kept for a resume.
	d := Counts{Bytes: added - replaced, Reserved: -sl.reserved, Files: 1 - replacedEntry}.Plus(partialEntries(-sl.entries))
	if err := f.change(vpath, d, Limits{}, 0); err != nil {
		part.Close()
		fail()
		return Entry{}, err
	}
	// The description goes first: a crash after the publish must not leave one that a later
	// upload of the name could take for its own.
	if described {
		f.home.RemoveMeta(f.ctx(), metaKey(key(rel)))
	}
	fi, err := part.Publish(f.ctx(), mtime, record)
	if err != nil {
		// The backend closed the partial upload, kept (without its description: it expires);
		// fail settles it as counted before the change.
		f.settle(neg(d))
		fail()
		return Entry{}, wrapOS(err, vpath)
	}
	hm.reserved -= sl.reserved
	f.forget(rel, sl)
	sl.entries = 0
	return entryOf(path.Base(vpath), fi), nil
}
