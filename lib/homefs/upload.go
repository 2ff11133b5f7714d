package homefs

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"path"
	"sync/atomic"
	"time"

	"github.com/myftp/myftp/lib/checksum"
	"github.com/myftp/myftp/lib/storage"
	"github.com/myftp/myftp/lib/transfer"
)

// Upload is a file being received. Its bytes go to a partial upload of the backend and are hashed
// on the way with the upload's checksum algorithm; Commit verifies the checksum and publishes the
// file, Abort keeps the partial upload for a later resume. Exactly one of them must be called.
type Upload struct {
	slot
	f          *FS
	rel, vpath string
	part       storage.Partial
	w          io.Writer
	hash       *stateHash
	size       int64 // declared total
	offset     int64 // where this upload started
	written    int64 // bytes now in the partial file
	mtime      time.Time
	restart    string
	algo       string // the checksum algorithm (package checksum)
	prefixSum  string
	sum        string // the hex checksum of the whole file, once Verify computed it
	closed     bool
	sink       *transfer.Sink
	drained    bool
	every      int64    // the checksum states of the partial file's data, from its description
	states     []string //
	// describe is set while the partial file's description is still to be written: a new
	// upload writes it only once it holds describeAfter bytes, or when it stops unfinished, so
	// that a small upload that completes creates one file, not two.
	describe bool
	saved    int64 // bytes whose checksum states the description holds (see checkpoint)
}

// describeAfter is how many bytes an upload holds before its description is written. A server
// killed while a smaller upload runs leaves a partial file without description, which is not
// resumed (the upload starts again) and expires.
const describeAfter = 1 << 20

// slot is the share of its home's quota accounting that an upload in progress holds, and its
// place in home.uploading. Its int64 fields are guarded by the home's lock.
type slot struct {
	reserved int64 // quota reserved for bytes written or still to come
	credit   int64 // bytes taken from the space of the file the upload replaces, not reserved
	// creditLeft is how much more of that space a streamed upload may take as it grows.
	creditLeft int64
	// overQuota is set when the file the upload replaces went away without freeing its space and
	// the upload no longer fits: the upload fails and its partial file is deleted.
	overQuota atomic.Bool
	// orphan is set when the home was measured anew under the upload (it was removed and made
	// again): the upload fails, and nothing of it counts in the new home's accounting.
	orphan atomic.Bool
	// entries is how many entries the home's counts hold for the upload's unfinished upload: two
	// (its data and its description) while it runs, whether or not they are there yet; two or
	// none once it has ended.
	entries int64
	// publishing is made when the upload has all its data, verified, and is closed once its
	// publishing has ended, stored or not. A new upload of the same path waits for it instead of
	// being refused as busy: a client that pipelines two uploads of one name meets its own.
	publishing chan struct{}
	// declared is the size the upload declared, -1 for a stream: Partials reports it for an
	// upload in progress whose description is not written yet.
	declared int64
}

// uploadingKey returns the path and slot of the upload in progress whose partial file is named
// k, if any. h.mu is held.
func (h *home) uploadingKey(k string) (string, *slot, bool) {
	for rel, sl := range h.uploading {
		if key(rel) == k {
			return rel, sl, true
		}
	}
	return "", nil, false
}

// busy returns the error for a new upload of a path that s is uploading, or, while s is being
// published, the channel to wait on before trying again. h.mu is held.
func (s *slot) busy(vpath string) (chan struct{}, error) {
	if s.publishing != nil {
		return s.publishing, nil
	}
	return nil, newErr(ErrBusy, vpath, "")
}

// errHomeGone is the error of an upload whose home was removed (and made again) under it.
func errHomeGone(vpath string) error {
	return newErr(ErrNotFound, vpath, "the home directory was removed during the upload")
}

// forget takes the slot out of the home's uploads, and gives the path back to the other nodes,
// unless another upload holds rel now. h.mu is held.
func (f *FS) forget(rel string, s *slot) {
	if f.h.uploading[rel] == s {
		delete(f.h.uploading, rel)
		f.unhold(rel)
	}
}

// orphanUploads detaches the uploads in progress from a home being measured anew: they fail at
// their next write and their reservations are dropped. It returns their paths. h.mu is held.
func (h *home) orphanUploads() []string {
	var rels []string
	for rel, s := range h.uploading {
		s.orphan.Store(true)
		delete(h.uploading, rel)
		rels = append(rels, rel)
	}
	h.reserved = 0
	return rels
}

// hold claims rel for an upload across the nodes, when the ledger is shared by several (a
// Holder); on one node the home's uploads in progress are enough. h.mu is held.
func (f *FS) hold(rel, vpath string) error {
	if f.store.holder == nil {
		return nil
	}
	err := f.store.holder.Hold(f.ctx(), f.h.rel, rel)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrBusy):
		return newErr(ErrBusy, vpath, "")
	}
	return &Error{Kind: ErrIO, Path: vpath, Detail: "the server cannot reach its quota accounting", Err: fmt.Errorf("hold the upload: %w", err)}
}

// unhold gives rel back to the other nodes. h.mu is held.
func (f *FS) unhold(rel string) {
	if f.store.holder != nil {
		f.store.holder.Release(context.WithoutCancel(f.ctx()), f.h.rel, rel)
	}
}

// Offset is the byte at which the client must start sending.
func (u *Upload) Offset() int64 { return u.offset }

// PrefixSum is the hex checksum (in the upload's algorithm) of the bytes the server already has
// (before Offset); "" when Offset is 0.
func (u *Upload) PrefixSum() string { return u.prefixSum }

// Checksum is the upload's checksum algorithm.
func (u *Upload) Checksum() string { return u.algo }

// Restart says why the upload starts at 0 although resuming was asked for; "" otherwise.
func (u *Upload) Restart() string { return u.restart }

// Written is the number of bytes the partial file holds.
func (u *Upload) Written() int64 { return u.written }

// Path is the target as the user sees it.
func (u *Upload) Path() string { return u.vpath }

// BeginUpload starts receiving size bytes for the file p, verified with the checksum algo (package
// checksum; "" means md5). mtime is the source file's modification time; the stored file gets it.
// With resume, an unfinished upload of the same path, size and mtime continues where it stopped;
// otherwise any partial file is discarded. The upload is refused
// before any data flows if it would take the home past its quota (replacing a file counts only the
// difference), and with ErrBusy if another session is uploading the same path.
func (f *FS) BeginUpload(p string, size int64, mtime time.Time, resume bool, algo string) (*Upload, error) {
	if algo == "" {
		algo = checksum.MD5
	}
	if checksum.Size(algo) == 0 { // every algorithm it knows saves its state (newStateHash)
		return nil, newErr(ErrInvalidPath, "", "unknown checksum algorithm "+algo)
	}
	rel, vpath, err := resolve(f.cwd, p, false)
	if err != nil {
		return nil, err
	}
	if rel == "." {
		return nil, newErr(ErrIsDir, vpath, "")
	}
	if size < 0 {
		return nil, newErr(ErrSize, vpath, "negative size")
	}
	if err := f.checkParent(rel, vpath); err != nil {
		return nil, err
	}
	u := &Upload{f: f, rel: rel, vpath: vpath, size: size, mtime: mtime, algo: algo}
	if err := f.claim(u, resume); err != nil {
		return nil, err
	}
	if err := u.open(); err != nil {
		u.Abort()
		return nil, err
	}
	return u, nil
}

// checkParent makes sure the upload can end in a rename: the parent is a directory.
func (f *FS) checkParent(rel, vpath string) error {
	if fi, err := f.home.Stat(f.ctx(), path.Dir(rel)); err != nil {
		return wrapOS(err, path.Dir(vpath))
	} else if !fi.IsDir() {
		return newErr(ErrNotDir, path.Dir(vpath), "")
	}
	return nil
}

// claim marks the path as being uploaded, decides the offset, and reserves quota, all under the
// home's lock; the reservation is one change of the ledger, refused whole when the quota has no
// room for it, so that concurrent uploads of one account, on any nodes, cannot together pass the
// quota. The file the upload would replace is measured under the lock too: a Remove just before
// must not leave the upload a credit for space that is already free.
func (f *FS) claim(u *Upload, resume bool) error {
	for {
		wait, err := f.tryClaim(u, resume)
		if wait == nil {
			return err
		}
		<-wait
	}
}

// tryClaim is claim, unless the path's last upload is still being published: then it returns the
// channel to wait on before trying again.
func (f *FS) tryClaim(u *Upload, resume bool) (chan struct{}, error) {
	h := f.h
	h.mu.Lock()
	defer h.mu.Unlock()
	var replacement int64 // size of the regular file the upload would replace
	if fi, err := f.home.Lstat(f.ctx(), u.rel); err == nil {
		if fi.IsDir() {
			return nil, newErr(ErrIsDir, u.vpath, "")
		}
		if fi.Kind == storage.File {
			replacement = fi.Size
		}
	}
	if sl := h.uploading[u.rel]; sl != nil {
		return sl.busy(u.vpath)
	}
	if err := f.hold(u.rel, u.vpath); err != nil {
		return nil, err
	}
	claimed := false
	defer func() {
		if !claimed {
			f.unhold(u.rel)
		}
	}()
	k := key(u.rel)
	held, drop := false, int64(0)
	if pi, err := f.home.StatPartial(f.ctx(), k); err == nil {
		meta, merr := readMeta(f, k)
		same := merr == nil && meta.Path == u.rel && meta.Size == u.size && meta.Mtime.Equal(u.mtime) && pi.Size <= u.size
		if meta.Algo == u.algo || meta.Algo == "" && u.algo == checksum.MD5 {
			u.every, u.states = meta.Every, meta.States
		}
		offset := f.resumable(pi.Size, u.every, u.states)
		if resume && same && (offset > 0 || pi.Size == 0) {
			u.offset, held = offset, true
			drop = pi.Size - offset // what a resume cannot keep is dropped at open
		} else {
			if resume {
				u.restart = "the source changed since the interrupted upload (size or modification time differ)"
				if same {
					u.restart = "the interrupted upload cannot be continued on this server's storage"
				}
			}
			if err := f.home.RemovePartial(f.ctx(), k); err != nil {
				return nil, wrapOS(err, u.vpath)
			}
			f.home.RemoveMeta(f.ctx(), metaKey(k))
			f.settle(Counts{Bytes: -pi.Size}.Plus(partialEntries(-2)))
		}
	}
	// Replacing a file counts only the difference: the file's size is credited, not reserved, for
	// as long as the file stays (revoke). The reservation, the two entries of a new unfinished
	// upload and the drop are one change, refused whole if a quota has no room for it.
	need := u.size - u.offset
	credit := min(replacement, need)
	entries := partialNeed(held)
	d := Counts{Bytes: -drop, Reserved: need - credit}.Plus(partialEntries(entries))
	if err := f.change(u.vpath, d, f.entriesLimit(f.bytesLimit(), entries, true), need-credit); err != nil {
		return nil, err
	}
	h.reserved += need - credit
	u.reserved, u.credit, u.declared = need-credit, credit, u.size
	u.entries = 2
	h.uploading[u.rel] = &u.slot
	claimed = true
	return nil, nil
}

// resumable is how much of a partial upload of size bytes, whose description holds states every
// every bytes, a resume keeps: all of it where the backend can read it back to hash it, else only
// what the states cover (the checksum cannot be computed again from the data).
func (f *FS) resumable(size, every int64, states []string) int64 {
	if f.store.caps.RandomWrites {
		return size
	}
	if every != f.store.opts.StateEvery {
		return 0
	}
	return min(size, int64(len(states))*every)
}

// open opens the partial upload, and hashes the prefix already there.
func (u *Upload) open() error {
	k := key(u.rel)
	u.describe = u.offset == 0 // a resumed upload's description is there already
	part, err := u.f.home.Partial(u.f.ctx(), k, u.rel, storage.PartialOptions{Resume: u.offset > 0, Mtime: u.mtime})
	if err != nil {
		return metaError(err)
	}
	u.part, u.w = part, io.Writer(part)
	if part.Size() != u.offset {
		if err := part.Truncate(u.offset); err != nil {
			return wrapOS(err, u.vpath)
		}
	}
	h, err := u.f.hashPrefix(u.algo, part, u.offset, u.every, u.states, u.size)
	if err != nil {
		return &Error{Kind: ErrIO, Path: u.vpath, Detail: fmt.Sprintf("reading the first %d bytes of the partial upload", u.offset), Err: err}
	}
	u.hash = h
	u.written = u.offset
	if u.offset > 0 {
		u.prefixSum = hex.EncodeToString(u.hash.Sum(nil))
	}
	if wrap := u.f.store.opts.WrapWriter; wrap != nil {
		u.w = wrap(part)
	}
	// Writing and hashing run beside the network reads, on goroutines of the sink.
	u.sink = transfer.NewSink(u.w, u.hash, u.size-u.offset)
	return nil
}

// accept checks that n more bytes may be written.
func (u *Upload) accept(n int64) error {
	if u.closed {
		return newErr(ErrIO, u.vpath, "upload already finished")
	}
	if u.orphan.Load() {
		return errHomeGone(u.vpath)
	}
	if u.overQuota.Load() {
		return errMovedAway(u.vpath)
	}
	if n > u.size-u.written {
		return newErr(ErrSize, u.vpath, fmt.Sprintf("more data than the declared %d bytes", u.size))
	}
	if err := u.sink.Err(); err != nil {
		return wrapOS(err, u.vpath)
	}
	return nil
}

// Write appends p to the partial file and returns once it is written. Data beyond the declared
// size is refused whole. After a disk error, Written is what reached the file.
func (u *Upload) Write(p []byte) (int, error) {
	if err := u.accept(int64(len(p))); err != nil {
		return 0, err
	}
	if err := u.describeOnce(int64(len(p))); err != nil {
		return 0, err
	}
	for rest := p; len(rest) > 0; {
		b := u.sink.Buffer()
		n := copy(b, rest)
		rest = rest[n:]
		u.sink.Submit(b[:n])
	}
	before := u.written
	u.written += int64(len(p))
	if err := u.sink.Flush(); err != nil {
		u.written = u.part.Size()
		return int(max(u.written-before, 0)), wrapOS(err, u.vpath)
	}
	return len(p), u.checkpoint()
}

// checkpoint, on a backend that resumes only from stored parts and the checksum states beside
// them, records the states each time the upload has passed another part, so that a resume after a
// crash (on any node) continues from there.
func (u *Upload) checkpoint() error {
	if u.f.store.caps.RandomWrites || u.describe {
		return nil
	}
	every := u.f.store.opts.StateEvery
	if u.written/every == u.saved/every {
		return nil
	}
	if err := u.drainTo(); err != nil {
		return err
	}
	u.f.saveStates(u.part, u.rel, u.hash, u.written)
	u.saved = u.written
	return nil
}

// drainTo waits for every accepted byte to be written and hashed.
func (u *Upload) drainTo() error {
	if err := u.sink.Flush(); err != nil {
		return wrapOS(err, u.vpath)
	}
	return nil
}

// Receive appends the next n bytes of r (a data frame on the network) to the partial file,
// reading them straight into the sink's buffers. Like Write, it refuses data beyond the declared
// size before reading any of it, and reports disk errors late.
func (u *Upload) Receive(r io.Reader, n int64) error {
	if err := u.accept(n); err != nil {
		return err
	}
	if err := u.describeOnce(n); err != nil {
		return err
	}
	for n > 0 {
		b := u.sink.Buffer()
		k, err := io.ReadFull(r, b[:min(int64(len(b)), n)])
		if k > 0 {
			u.sink.Submit(b[:k])
			u.written += int64(k)
			n -= int64(k)
		}
		if err != nil {
			return fmt.Errorf("receive %s: %w", u.vpath, err)
		}
	}
	return u.checkpoint()
}

// describeOnce writes the partial file's description when n more bytes take the upload to
// describeAfter bytes or more, so that a server killed from then on leaves it resumable.
func (u *Upload) describeOnce(n int64) error {
	if !u.describe || u.written+n < describeAfter {
		return nil
	}
	u.describe = false
	return u.writeDescription()
}

// writeDescription writes the partial upload's description: what it is for, for resumes,
// listings and expiry, as one whole record.
func (u *Upload) writeDescription() error {
	meta, err := json.Marshal(partialMeta{Path: u.rel, Size: u.size, Mtime: u.mtime})
	if err != nil {
		return fmt.Errorf("upload %s: %w", u.vpath, err)
	}
	if err := u.f.home.SetMeta(u.f.ctx(), metaKey(key(u.rel)), meta); err != nil {
		return wrapOS(err, u.vpath)
	}
	return nil
}

// drain waits for every accepted byte to be written and hashed and returns the first disk error.
func (u *Upload) drain() error {
	if u.drained || u.sink == nil {
		return nil
	}
	u.drained = true
	if err := u.sink.Close(); err != nil {
		return wrapOS(err, u.vpath)
	}
	return nil
}

// Commit finishes the upload: Verify, then Publish.
func (u *Upload) Commit(want string) (Entry, error) {
	if err := u.Verify(want); err != nil {
		return Entry{}, err
	}
	return u.Publish()
}

// Verify checks that all declared bytes arrived, are written, and that their checksum is want
// (hex). On a checksum mismatch the partial file is deleted (its content is known to be wrong); on
// a short upload it is kept for a resume; either way the upload is over. After a nil error the
// upload must be finished with Publish, which may run on another goroutine: until it ends, a new
// upload of the same path waits.
func (u *Upload) Verify(want string) error {
	if u.closed || u.publishing != nil {
		return newErr(ErrIO, u.vpath, "upload already finished")
	}
	if u.orphan.Load() {
		u.Abort()
		return errHomeGone(u.vpath)
	}
	if u.overQuota.Load() {
		u.Abort()
		return errMovedAway(u.vpath)
	}
	if u.written != u.size {
		err := newErr(ErrSize, u.vpath, fmt.Sprintf("received %d of %d bytes", u.written, u.size))
		u.Abort()
		return err
	}
	if err := u.drain(); err != nil {
		u.Abort()
		return err
	}
	got := hex.EncodeToString(u.hash.Sum(nil))
	if got != want {
		u.discard()
		return newErr(ErrChecksum, u.vpath, fmt.Sprintf("%s: client sent %s, server computed %s", u.algo, want, got))
	}
	u.sum = got
	u.f.h.mu.Lock()
	u.publishing = make(chan struct{})
	u.f.h.mu.Unlock()
	return nil
}

// Publish ends a verified upload (see Verify): it makes the file durable when the store's Fsync is
// set, gives it the source's modification time, renames it into place, records its checksum, and
// makes the rename durable. Uploads that publish at the same time share their flushes.
func (u *Upload) Publish() (Entry, error) {
	if u.publishing == nil || u.closed {
		return Entry{}, newErr(ErrIO, u.vpath, "upload not verified, or already finished")
	}
	defer close(u.publishing)
	if err := u.part.Sync(); err != nil { // outside the home's lock: uploads that finish together share the flush
		u.Abort()
		return Entry{}, wrapOS(err, u.vpath)
	}
	part := u.part
	u.part = nil
	e, err := u.f.publish(u.rel, u.vpath, &u.slot, u.size-u.offset, u.mtime, u.sum, u.hash, u.abortLocked, part, !u.describe)
	if err == nil {
		u.closed = true
	}
	return e, err
}

// Abort stops the upload and keeps what arrived for a later resume (an empty partial is removed,
// and so is the partial of an upload that no longer fits its quota).
// It is safe to call more than once and after Commit, but not after a successful Verify until
// Publish has returned: Publish settles a failed upload itself.
func (u *Upload) Abort() {
	u.drain() // outside the home's lock: a slow disk must not stall the account's other sessions
	if !u.closed && !u.overQuota.Load() && !u.orphan.Load() {
		if u.describe && u.written > 0 { // kept for a resume, which needs the description
			u.describe = u.writeDescription() != nil
		}
		u.f.saveStates(u.part, u.rel, u.hash, u.written)
	}
	u.f.h.mu.Lock()
	defer u.f.h.mu.Unlock()
	u.abortLocked()
}

// abortLocked closes the upload. What the partial upload really holds (less than accepted, after
// a write error; on an object store, its whole parts) is what stays counted.
func (u *Upload) abortLocked() {
	if u.closed {
		return
	}
	u.closed = true
	u.drain()
	drop := u.written == 0 || u.overQuota.Load() || u.orphan.Load()
	if u.part != nil {
		if drop {
			u.part.Discard()
		} else {
			u.part.Close()
		}
		u.part = nil
	}
	if u.orphan.Load() { // its home's accounting started afresh without it
		u.f.home.RemoveMeta(u.f.ctx(), metaKey(key(u.rel)))
		return
	}
	h := u.f.h
	h.reserved -= u.reserved
	u.f.forget(u.rel, &u.slot)
	d := Counts{Bytes: -u.offset, Reserved: -u.reserved} // and what is kept, in one change
	if drop {
		u.f.home.RemoveMeta(u.f.ctx(), metaKey(key(u.rel)))
		u.f.settle(d.Plus(settlePartialTo(&u.slot, 0)))
		return
	}
	// What is kept: what reached the disk after a write error; an object store's whole parts.
	kept, ok := u.f.keptOf(key(u.rel), u.written)
	if !ok {
		u.f.home.RemovePartial(u.f.ctx(), key(u.rel))
		u.f.home.RemoveMeta(u.f.ctx(), metaKey(key(u.rel)))
		u.f.settle(d.Plus(settlePartialTo(&u.slot, 0)))
		return
	}
	if u.describe {
		// Kept for a resume: it needs its description now. Without it (a full disk) the data
		// is not resumable and expires.
		u.describe = false
		u.writeDescription()
	}
	d.Bytes += kept
	u.f.settle(d.Plus(settlePartialTo(&u.slot, 2)))
}

// keptOf returns how many bytes the backend keeps of the unfinished upload k, to which written
// bytes were written, once it is closed: what reached the disk after a write error, an object
// store's whole parts. ok is false when it keeps nothing. When the backend cannot tell (a store
// that is down), it is taken to keep its whole parts of what was written, and the home is
// measured again at its next open. h.mu is held.
func (f *FS) keptOf(k string, written int64) (kept int64, ok bool) {
	pi, err := f.home.StatPartial(f.ctx(), k)
	switch {
	case err == nil:
		return pi.Size, pi.Size > 0
	case errors.Is(err, fs.ErrNotExist):
		return 0, false
	}
	f.store.opts.Log.Warn("the storage could not say what it kept of an unfinished upload; the home is measured again at its next login", "home", f.h.rel, "err", err)
	f.h.stale = true
	unit := max(f.store.caps.ResumeUnit, 1)
	kept = written - written%unit
	return kept, kept > 0
}

// errMovedAway is the error of an upload marked over quota by revoke.
func errMovedAway(vpath string) error {
	return newErr(ErrQuota, vpath, "the file this upload replaces was moved away, and the upload no longer fits")
}

// discard aborts and deletes the partial upload: its content is known to be wrong.
func (u *Upload) discard() {
	u.drain()
	h := u.f.h
	h.mu.Lock()
	defer h.mu.Unlock()
	u.overQuota.Store(true) // abortLocked deletes it; under the same lock, so no session resumes it
	u.abortLocked()
}

// Download is a stored file opened for sending: Read, ReadAt and Seek read the file as it was
// opened, even if an upload replaces it meanwhile.
type Download struct {
	*io.SectionReader
	r storage.Reader
	// Info describes the file as it was opened.
	Info Entry
	// Path is the file as the user sees it ("/docs/a.txt").
	Path string
	rel  string
	info storage.Info
	sums sumRecord // the record of the file as it was opened
}

// Close releases the file.
func (d *Download) Close() error { return d.r.Close() }

// Recorded returns the recorded hex checksum of algo of the file, or "" if there is no up-to-date
// record and the sender must hash while sending.
func (d *Download) Recorded(algo string) string { return d.sums.get(algo) }

// OpenDownload opens the file p for reading. The file stays readable as it was even if an upload
// replaces it meanwhile (on an object store, reads then fail rather than mix two files).
func (f *FS) OpenDownload(p string) (*Download, error) {
	rel, vpath, err := resolve(f.cwd, p, false)
	if err != nil {
		return nil, err
	}
	r, err := f.home.Open(f.ctx(), rel)
	if err != nil {
		return nil, wrapOS(err, vpath)
	}
	i := r.Info()
	if i.Kind != storage.File {
		r.Close()
		return nil, newErr(ErrIsDir, vpath, "not a regular file")
	}
	d := &Download{SectionReader: io.NewSectionReader(r, 0, i.Size), r: r, Info: entryOf(path.Base(vpath), i), Path: vpath, rel: rel, info: i}
	if data, err := r.Record(); err == nil {
		d.sums, _ = parseRecord(data, i)
	}
	return d, nil
}

// Record stores the checksum that h (from FS.NewHash or PrefixSum) computed of the whole of d
// while it was sent, and the states a later resume needs, so that the next download need not
// hash. It is ignored if the file changed meanwhile.
func (f *FS) Record(d *Download, h hash.Hash) {
	if sh, ok := h.(*stateHash); ok {
		f.record(d, sh.algo, hex.EncodeToString(h.Sum(nil)), h)
	}
}
