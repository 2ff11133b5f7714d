package homefs

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"slices"
	"sync"
	"time"

	"github.com/myftp/myftp/lib/storage"
	"github.com/myftp/myftp/lib/transfer"
)

// Append, as the offset of BeginStream, continues at the end of what the server holds for the
// name (see Held): FTP's APPE and SFTP's append flag.
const Append = -1

// maxRanges bounds the pieces a stream may hold beyond a gap, so that a client writing every
// other byte cannot make the server keep an ever longer list.
const maxRanges = 4096

// maxEarly bounds the bytes a stream holds in memory for pieces written beyond a gap: SFTP
// clients keep many writes in flight, and some send them out of order. A backend
// that takes data in order only must hold them; on one that takes writes anywhere, holding them
// until the gap is filled lets them be written and hashed in order, beside the next read, instead
// of written apart and read back to be hashed.
const maxEarly = 64 << 20

// Stream is a file being received whose size is not known in advance: FTP's STOR and APPE, SFTP's
// writes. Its bytes go to a partial file in the home's reserved directory, and quota is reserved
// as the file grows: a write that would take the home past its quota fails with ErrQuota and
// nothing of it is kept. Writes may come at any offset and from several goroutines at once
// (WriteAt); the data written without a gap from the start is hashed as it arrives. Commit
// publishes the file under its name, with its md5 recorded, only if it has no gap; Abort keeps
// what arrived for a resume. Exactly one of them must be called; both are safe to call again.
type Stream struct {
	slot
	f          *FS
	rel, vpath string
	start      int64 // bytes the partial file held when the stream began

	mu      sync.Mutex
	part    storage.Partial
	w       *atWriter      // where the sink writes: the end of the gap-free data
	sink    *transfer.Sink // writes and hashes the gap-free data in order
	hash    *stateHash
	contig  int64  // end of the data written without a gap from byte 0
	end     int64  // end of the furthest write: the partial file's size
	ranges  []span // pieces written beyond contig, sorted, not touching
	rehash  bool   // data before contig was written again: the hash must be computed anew
	mtime   time.Time
	closed  bool
	discard bool // Abort deletes the partial file: its content can never be published
	// early holds pieces written beyond a gap, by offset, until the gap is filled; earlyBytes
	// is their size. On a backend that takes writes anywhere, they are spilled to the partial
	// file when held pieces would not do (see holdable): ranges then lists pieces on disk only.
	early      map[int64][]byte
	earlyBytes int64
	spare      [][]byte // buffers of held pieces that went through, for the next ones
	// describe is set while the partial upload's description is still to be written: it is
	// written once the stream holds describeAfter bytes, or when it stops unfinished, so that a
	// small upload that completes writes no record but its data.
	describe bool
	saved    int64 // bytes whose checksum states the description holds (see checkpoint)
}

// span is a written piece [from, to) of a stream.
type span struct{ from, to int64 }

// Path is the target as the user sees it.
func (s *Stream) Path() string { return s.vpath }

// Offset is where this stream began: the bytes the server already held for the name.
func (s *Stream) Offset() int64 { return s.start }

// Checksum is the algorithm of the checksum Commit returns: the FS's StreamChecksum.
func (s *Stream) Checksum() string { return s.f.StreamChecksum() }

// Size is the size of the file received so far (the end of the furthest write).
func (s *Stream) Size() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.end
}

// Held returns how many bytes the server holds for the file p, as a client resuming an upload
// needs to know: the size of its unfinished upload if there is one (what a resume can continue
// from), else the size of the stored file, else 0; unfinished reports which. A directory is
// ErrIsDir.
func (f *FS) Held(p string) (size int64, unfinished bool, err error) {
	rel, vpath, err := resolve(f.cwd, p, false)
	if err != nil {
		return 0, false, err
	}
	if rel == "." {
		return 0, false, newErr(ErrIsDir, vpath, "")
	}
	if pi, ok := f.heldPartial(rel); ok {
		return pi.Size, true, nil
	}
	fi, err := f.home.Stat(f.ctx(), rel)
	switch {
	case err != nil:
		return 0, false, wrapOS(err, vpath)
	case fi.IsDir():
		return 0, false, newErr(ErrIsDir, vpath, "")
	}
	return fi.Size, false, nil
}

// heldPartial describes the unfinished upload of rel, if there is one, with the size a stream
// can continue from.
func (f *FS) heldPartial(rel string) (storage.PartialInfo, bool) {
	pi, err := f.home.StatPartial(f.ctx(), key(rel))
	if err != nil {
		return pi, false
	}
	if !f.store.caps.RandomWrites {
		meta, _ := readMeta(f, key(rel))
		if meta.Algo != f.StreamChecksum() {
			meta.States = nil
		}
		pi.Size = f.resumable(pi.Size, meta.Every, meta.States)
	}
	return pi, true
}

// StatHeld is Stat for clients that resume uploads by asking a name's size (FTP SIZE and MLST,
// SFTP stat): while an upload of the file p is unfinished, the entry says the file holds the bytes
// received so far (and is dated when they last grew), whether or not an older complete version is
// stored; a name that has only an unfinished upload is reported as such a file. Listings and
// downloads still see only complete files.
func (f *FS) StatHeld(p string) (Entry, error) {
	e, serr := f.Stat(p)
	if serr == nil && e.Type == 'd' {
		return e, nil
	}
	rel, vpath, err := resolve(f.cwd, p, false)
	if err != nil {
		return Entry{}, err
	}
	pi, ok := f.heldPartial(rel)
	if !ok {
		return e, serr
	}
	return entryOf(path.Base(vpath), storage.Info{Kind: storage.File, Size: pi.Size, Mtime: pi.Mtime, Mode: 0o600}), nil
}

// BeginStream starts receiving the file p at offset: 0 starts afresh (an unfinished upload of p is
// discarded), Append or the number of bytes the server holds for p (see Held) continues them: an
// unfinished upload is continued, and a stored file is copied into a new partial file to be
// continued. Any other offset is refused with ErrOffset. It fails with ErrBusy if another session
// is uploading p, and with ErrQuota if the home has no room left at all.
func (f *FS) BeginStream(p string, offset int64) (*Stream, error) {
	rel, vpath, err := resolve(f.cwd, p, false)
	if err != nil {
		return nil, err
	}
	if rel == "." {
		return nil, newErr(ErrIsDir, vpath, "")
	}
	if err := f.checkParent(rel, vpath); err != nil {
		return nil, err
	}
	s := &Stream{f: f, rel: rel, vpath: vpath}
	copyFrom, err := f.claimStream(s, offset)
	if err != nil {
		return nil, err
	}
	if err := s.open(copyFrom); err != nil {
		s.Abort()
		return nil, err
	}
	return s, nil
}

// claimStream marks the path as being uploaded and decides where the stream starts, under the
// home's lock. It returns the size of the stored file to copy into the partial file first, or 0.
// An upload of the same path that is being published is waited for.
func (f *FS) claimStream(s *Stream, offset int64) (copyFrom int64, err error) {
	for {
		wait, copyFrom, err := f.tryClaimStream(s, offset)
		if wait == nil {
			return copyFrom, err
		}
		<-wait
	}
}

// tryClaimStream is claimStream, unless the path's last upload is still being published: then it
// returns the channel to wait on before trying again.
func (f *FS) tryClaimStream(s *Stream, offset int64) (wait chan struct{}, copyFrom int64, err error) {
	h := f.h
	h.mu.Lock()
	defer h.mu.Unlock()
	var stored int64 = -1 // size of the regular file the stream would replace, if any
	if fi, err := f.home.Lstat(f.ctx(), s.rel); err == nil {
		if fi.IsDir() {
			return nil, 0, newErr(ErrIsDir, s.vpath, "")
		}
		if fi.Kind == storage.File {
			stored = fi.Size
		}
	}
	if sl := h.uploading[s.rel]; sl != nil {
		wait, err := sl.busy(s.vpath)
		return wait, 0, err
	}
	if err := f.hold(s.rel, s.vpath); err != nil {
		return nil, 0, err
	}
	claimed := false
	defer func() {
		if !claimed {
			f.unhold(s.rel)
		}
	}()
	k := key(s.rel)
	held, unfinished, partialSize := max(stored, 0), false, int64(0)
	if pi, ok := f.heldPartial(s.rel); ok {
		held, unfinished = pi.Size, true
		if raw, err := f.home.StatPartial(f.ctx(), k); err == nil {
			partialSize = raw.Size
		}
	}
	if offset == Append {
		offset = held
	}
	if offset != 0 && offset != held {
		return nil, 0, newErr(ErrOffset, s.vpath, fmt.Sprintf("the server holds %d bytes of this file, not %d: resume from %d, or start again from 0", held, offset, held))
	}
	if unfinished && offset == 0 {
		if err := f.home.RemovePartial(f.ctx(), k); err != nil {
			return nil, 0, wrapOS(err, s.vpath)
		}
		f.home.RemoveMeta(f.ctx(), metaKey(k))
		f.settle(Counts{Bytes: -partialSize}.Plus(partialEntries(-2)))
		unfinished = false
	}
	var drop int64
	if unfinished {
		s.start = held
		drop = partialSize - held // what a resume cannot keep is dropped at open
	} else if offset > 0 {
		copyFrom = offset
	}
	// Not one more byte fits, unless in the space of the file the stream replaces: refused, in
	// the change that counts the two entries of a new unfinished upload and the drop.
	entries := partialNeed(unfinished)
	lim := f.entriesLimit(Limits{Bytes: AtMost(satAdd(h.quota.Load(), max(stored, 0)) - 1)}, entries, true)
	if err := f.change(s.vpath, Counts{Bytes: -drop}.Plus(partialEntries(entries)), lim, 1); err != nil {
		return nil, 0, err
	}
	s.creditLeft, s.declared = max(stored, 0), -1
	s.entries = 2
	h.uploading[s.rel] = &s.slot
	claimed = true
	return nil, copyFrom, nil
}

// open opens the partial upload, records what it is for, hashes what it holds already, and copies
// the first copyFrom bytes of the stored file into it.
func (s *Stream) open(copyFrom int64) error {
	k := key(s.rel)
	var old partialMeta // its checksum states, if the stream continues the partial upload
	s.describe = true
	if s.start > 0 {
		var err error
		old, err = readMeta(s.f, k)
		s.describe = err != nil
	}
	var err error
	if s.part, err = s.f.home.Partial(s.f.ctx(), k, s.rel, storage.PartialOptions{Resume: s.start > 0}); err != nil {
		return metaError(err)
	}
	if s.part.Size() != s.start {
		if err := s.part.Truncate(s.start); err != nil {
			return wrapOS(err, s.vpath)
		}
	}
	states := old.States
	if old.Algo != s.f.StreamChecksum() {
		states = nil
	}
	if s.hash, err = s.f.hashPrefix(s.f.StreamChecksum(), s.part, s.start, old.Every, states, -1); err != nil {
		return &Error{Kind: ErrIO, Path: s.vpath, Detail: fmt.Sprintf("reading the first %d bytes of the partial upload", s.start), Err: err}
	}
	s.contig, s.end = s.start, s.start
	var w io.WriterAt = s.part
	if wrap := s.f.store.opts.WrapWriter; wrap != nil {
		w = wrapAt{s.part, wrap}
	}
	s.w = &atWriter{w: w, off: s.start}
	s.sink = transfer.NewSink(s.w, s.hash, -1) // the size is not known: small until it is not
	if copyFrom > 0 {
		return s.copyStored(copyFrom)
	}
	return nil
}

// describeOnce writes the description once the stream holds describeAfter bytes. s.mu is held.
func (s *Stream) describeOnce() error {
	if !s.describe || s.end < describeAfter {
		return nil
	}
	return s.writeDescription()
}

// writeDescription writes the partial upload's description, as one whole record.
func (s *Stream) writeDescription() error {
	meta, err := json.Marshal(partialMeta{Path: s.rel, Size: -1})
	if err != nil {
		return fmt.Errorf("upload %s: %w", s.vpath, err)
	}
	if err := s.f.home.SetMeta(s.f.ctx(), metaKey(key(s.rel)), meta); err != nil {
		return metaError(err)
	}
	s.describe = false
	return nil
}

// copyStored copies the first n bytes of the stored file into the stream, which began empty.
func (s *Stream) copyStored(n int64) error {
	src, err := s.f.home.Open(s.f.ctx(), s.rel)
	if err != nil {
		return wrapOS(err, s.vpath)
	}
	defer src.Close()
	got, err := s.ReadFrom(io.LimitReader(src, n))
	if err == nil && got != n {
		err = newErr(ErrOffset, s.vpath, fmt.Sprintf("the stored file changed while it was being continued (%d of %d bytes)", got, n))
	}
	return err
}

// Write appends p at the end of the file received so far.
func (s *Stream) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.writeAtLocked(p, s.end); err != nil {
		return 0, err
	}
	return len(p), nil
}

// ReadFrom appends everything r yields, reading it straight into the buffers that are written
// and hashed beside the next read. It returns the bytes appended, and r's error unless it is
// io.EOF.
func (s *Stream) ReadFrom(r io.Reader) (int64, error) {
	var total int64
	for {
		s.mu.Lock()
		if err := s.usable(); err != nil {
			s.mu.Unlock()
			return total, err
		}
		b := s.sink.Buffer()
		s.mu.Unlock()
		n, rerr := io.ReadFull(r, b)
		if n > 0 {
			s.mu.Lock()
			err := s.appendLocked(b[:n], s.end)
			s.mu.Unlock()
			if err != nil {
				return total, err
			}
			total += int64(n)
		}
		switch {
		case rerr == io.EOF || rerr == io.ErrUnexpectedEOF:
			return total, nil
		case rerr != nil:
			return total, rerr
		}
	}
}

// WriteAt writes p at off. Pieces may come in any order and from several goroutines.
func (s *Stream) WriteAt(p []byte, off int64) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.writeAtLocked(p, off); err != nil {
		return 0, err
	}
	return len(p), nil
}

// usable returns why nothing more may be written, or nil. s.mu is held.
func (s *Stream) usable() error {
	if s.closed {
		return newErr(ErrIO, s.vpath, "upload already finished")
	}
	if s.orphan.Load() {
		return errHomeGone(s.vpath)
	}
	if s.overQuota.Load() {
		s.discard = true
		return errMovedAway(s.vpath)
	}
	if err := s.sink.Err(); err != nil {
		return wrapOS(err, s.vpath)
	}
	return nil
}

// writeAtLocked writes p at off. s.mu is held.
func (s *Stream) writeAtLocked(p []byte, off int64) error {
	if err := s.usable(); err != nil {
		return err
	}
	if off < 0 {
		return newErr(ErrOffset, s.vpath, "negative offset")
	}
	if len(p) == 0 {
		return nil
	}
	if off == s.contig && !s.rehash {
		if s.f.store.caps.RandomWrites && s.overlapsEarly(off, off+int64(len(p))) {
			if err := s.spill(); err != nil {
				return err
			}
		}
		for rest := p; len(rest) > 0; {
			b := s.sink.Buffer()
			n := copy(b, rest)
			if err := s.appendLocked(b[:n], off); err != nil {
				return err
			}
			rest, off = rest[n:], off+int64(n)
		}
		return nil
	}
	return s.pieceLocked(p, off)
}

// appendLocked queues b, a buffer of the sink, to be written at off, which is the end of the
// gap-free data, after reserving quota for what it adds. s.mu is held.
func (s *Stream) appendLocked(b []byte, off int64) error {
	if err := s.usable(); err != nil {
		return err
	}
	if off != s.contig || s.rehash {
		return s.pieceLocked(b, off)
	}
	end := off + int64(len(b))
	if err := s.grow(end); err != nil {
		return err
	}
	if err := s.sink.Submit(b); err != nil {
		return wrapOS(err, s.vpath)
	}
	s.contig = end
	s.end = max(s.end, end)
	if err := s.describeOnce(); err != nil {
		return err
	}
	if !s.f.store.caps.RandomWrites || len(s.early) > 0 {
		return s.absorbEarly()
	}
	return s.absorb()
}

// pieceLocked writes p at off directly, outside the gap-free data: after a gap, or over data
// already written. s.mu is held.
func (s *Stream) pieceLocked(p []byte, off int64) error {
	end := off + int64(len(p))
	if !s.f.store.caps.RandomWrites || s.holdable(off, end) {
		return s.earlyLocked(p, off)
	}
	if err := s.spill(); err != nil {
		return err
	}
	if off < s.contig {
		// Written again: the hash so far may be wrong. The sink must be done with that part.
		if err := s.sink.Flush(); err != nil {
			return wrapOS(err, s.vpath)
		}
		s.rehash = true
	}
	if len(s.ranges) >= maxRanges {
		return newErr(ErrOffset, s.vpath, fmt.Sprintf("more than %d pieces written after a gap", maxRanges))
	}
	if err := s.grow(end); err != nil {
		return err
	}
	if _, err := s.w.WriteAt(p, off); err != nil {
		return wrapOS(err, s.vpath)
	}
	s.end = max(s.end, end)
	s.addRange(span{off, end})
	return s.absorb()
}

// earlyLocked keeps in memory a piece written beyond a gap, on a backend that takes data in order
// only, until the gap is filled. Data written again, or pieces that overlap, are refused: the
// backend cannot take them. s.mu is held.
func (s *Stream) earlyLocked(p []byte, off int64) error {
	end := off + int64(len(p))
	if off < s.contig || s.overlapsEarly(off, end) {
		return newErr(ErrOffset, s.vpath, fmt.Sprintf("bytes %d to %d were written already; this server's storage takes each byte once", off, end))
	}
	if s.earlyBytes+int64(len(p)) > maxEarly || len(s.early) >= maxRanges {
		return newErr(ErrOffset, s.vpath, fmt.Sprintf("more than %d bytes written beyond a gap", maxEarly))
	}
	if err := s.grow(end); err != nil {
		return err
	}
	if s.early == nil {
		s.early = map[int64][]byte{}
	}
	s.early[off] = append(s.spareBuffer(len(p)), p...)
	s.earlyBytes += int64(len(p))
	s.end = max(s.end, end)
	s.addRange(span{off, end})
	return s.absorbEarly()
}

// holdable reports whether, on a backend that takes writes anywhere, the piece [off, end) may be
// held in memory: it is beyond the gap-free data and overlaps nothing written, the pieces beyond
// the gap are all held (none was written to the file), and there is room. s.mu is held.
func (s *Stream) holdable(off, end int64) bool {
	return off > s.contig && !s.rehash && (len(s.ranges) == 0 || len(s.early) > 0) && !s.overlapsEarly(off, end) &&
		s.earlyBytes+(end-off) <= maxEarly && len(s.early) < maxRanges
}

// spill writes the pieces held in memory to the partial file, on a backend that takes writes
// anywhere: ranges still lists them, now as pieces on disk. s.mu is held.
func (s *Stream) spill() error {
	for off, p := range s.early {
		if _, err := s.w.WriteAt(p, off); err != nil {
			return wrapOS(err, s.vpath)
		}
		delete(s.early, off)
		s.earlyBytes -= int64(len(p))
		s.keepSpare(p)
	}
	return nil
}

// maxSpare is how many buffers of held pieces a stream keeps for the next ones: enough for a
// client that sends a few pieces ahead of a gap at a time.
const maxSpare = 8

// spareBuffer returns an empty buffer for a held piece of n bytes: a kept one if it is large
// enough. s.mu is held.
func (s *Stream) spareBuffer(n int) []byte {
	for i, b := range s.spare {
		if cap(b) >= n {
			s.spare = append(s.spare[:i], s.spare[i+1:]...)
			return b[:0]
		}
	}
	return make([]byte, 0, n)
}

// keepSpare keeps the buffer of a held piece that went through, for the next one. s.mu is held.
func (s *Stream) keepSpare(b []byte) {
	if len(s.spare) < maxSpare {
		s.spare = append(s.spare, b)
	}
}

// overlapsEarly reports whether [off, end) overlaps a piece written beyond the gap.
func (s *Stream) overlapsEarly(off, end int64) bool {
	for _, r := range s.ranges {
		if r.from < end && off < r.to {
			return true
		}
	}
	return false
}

// absorbEarly sends through the sink, in order, the pieces held in memory that now follow the
// gap-free data. s.mu is held.
func (s *Stream) absorbEarly() error {
	for {
		p, ok := s.early[s.contig]
		if !ok {
			break
		}
		delete(s.early, s.contig)
		s.earlyBytes -= int64(len(p))
		for rest := p; len(rest) > 0; {
			b := s.sink.Buffer()
			n := copy(b, rest)
			rest = rest[n:]
			if err := s.sink.Submit(b[:n]); err != nil {
				return wrapOS(err, s.vpath)
			}
			s.contig += int64(n) // the sink's writer moves on by itself
		}
		s.keepSpare(p)
	}
	for len(s.ranges) > 0 && s.ranges[0].to <= s.contig {
		s.ranges = s.ranges[1:]
	}
	if len(s.ranges) == 0 {
		s.ranges = nil
	}
	return s.checkpoint()
}

// checkpoint, on a backend that resumes only from stored parts and the checksum states beside
// them, records the states each time the gap-free data has passed another part, so that a
// resume after the server died (on any node) continues from there, as native uploads do.
// s.mu is held.
func (s *Stream) checkpoint() error {
	every := s.f.store.opts.StateEvery
	if s.f.store.caps.RandomWrites || s.rehash || s.contig/every == s.saved/every {
		return nil
	}
	if s.describe {
		if err := s.writeDescription(); err != nil {
			return err
		}
	}
	if err := s.sink.Flush(); err != nil { // the hasher must have taken every byte before contig
		return wrapOS(err, s.vpath)
	}
	s.f.saveStates(s.part, s.rel, s.hash, s.contig)
	s.saved = s.contig
	return nil
}

// addRange records a written piece beyond contig, merging it with those it touches.
func (s *Stream) addRange(r span) {
	if r.to <= s.contig {
		return
	}
	r.from = max(r.from, s.contig)
	i, _ := slices.BinarySearchFunc(s.ranges, r.from, func(x span, from int64) int {
		switch {
		case x.to < from:
			return -1
		case x.from > from:
			return 1
		}
		return 0
	})
	j := i
	for j < len(s.ranges) && s.ranges[j].from <= r.to {
		r.from, r.to = min(r.from, s.ranges[j].from), max(r.to, s.ranges[j].to)
		j++
	}
	s.ranges = slices.Replace(s.ranges, i, j, r)
}

// absorb moves contig over the pieces that now follow it without a gap, hashing them from the
// file (they were written directly, not through the sink). s.mu is held.
func (s *Stream) absorb() error {
	for len(s.ranges) > 0 && s.ranges[0].from <= s.contig {
		r := s.ranges[0]
		s.ranges = s.ranges[1:]
		if r.to <= s.contig {
			continue
		}
		if !s.rehash {
			if err := s.sink.Flush(); err != nil { // the hasher must be idle, and the data on disk
				return wrapOS(err, s.vpath)
			}
			if _, err := io.Copy(s.hash, io.NewSectionReader(s.part, s.contig, r.to-s.contig)); err != nil {
				return &Error{Kind: ErrIO, Path: s.vpath, Err: err}
			}
		}
		s.contig = r.to
		s.w.off = r.to
	}
	if len(s.ranges) == 0 {
		s.ranges = nil
	}
	return nil
}

// grow reserves quota for the file to reach end bytes: first from the space of the file it
// replaces, then from what is free. It fails with ErrQuota, reserving nothing, if that is not
// enough; the stream's partial file is then deleted by Abort.
func (s *Stream) grow(end int64) error {
	n := end - s.end
	if n <= 0 {
		return nil
	}
	h := s.f.h
	h.mu.Lock()
	defer h.mu.Unlock()
	if s.orphan.Load() {
		return errHomeGone(s.vpath)
	}
	credit := min(n, s.creditLeft)
	if err := s.f.change(s.vpath, Counts{Reserved: n - credit}, s.f.bytesLimit(), n-credit); err != nil {
		s.discard = true // the write is lost: what comes after it is not the file
		return err
	}
	s.creditLeft -= credit
	s.credit += credit
	s.reserved += n - credit
	h.reserved += n - credit
	return nil
}

// SetMtime sets the modification time the file gets when it is published (SFTP's setstat during
// an upload, as scp -p and sftp -p send).
func (s *Stream) SetMtime(t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mtime = t
}

// Commit publishes the file: it checks that no byte was left unwritten, makes the file durable
// when the store's Fsync is set, renames it into place, records its checksum (the store's
// StreamChecksum), which it returns, and makes the rename durable.
// A file with a gap is kept for a resume and fails with ErrSize.
func (s *Stream) Commit() (Entry, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usable(); err != nil {
		s.abortLocked()
		return Entry{}, "", err
	}
	if s.discard { // a write was refused for the quota: what came before it is not the file
		s.abortLocked()
		return Entry{}, "", newErr(ErrQuota, s.vpath, "a write was refused for the quota; the file is not stored")
	}
	if len(s.ranges) > 0 {
		err := newErr(ErrSize, s.vpath, fmt.Sprintf("bytes %d to %d were never written", s.contig, s.ranges[0].from))
		s.abortLocked()
		return Entry{}, "", err
	}
	if err := s.sink.Close(); err != nil {
		s.sink = nil
		s.abortLocked()
		return Entry{}, "", wrapOS(err, s.vpath)
	}
	s.sink = nil
	sum, err := s.sum()
	if err == nil {
		s.f.h.mu.Lock()
		s.publishing = make(chan struct{}) // a new upload of the path waits for the end of this one
		s.f.h.mu.Unlock()
		defer close(s.publishing)
		err = wrapOS(s.part.Sync(), s.vpath) // outside the home's lock: uploads that finish together share the flush
	}
	if err != nil {
		s.abortLocked()
		return Entry{}, "", err
	}
	part := s.part
	s.part = nil
	e, err := s.f.publish(s.rel, s.vpath, &s.slot, s.end-s.start, s.mtime, sum, s.hash, s.settleLocked, part, !s.describe)
	if err == nil {
		s.closed = true
	}
	return e, sum, err
}

// sum returns the md5 of the whole file: the running hash, or a new one if parts were written
// twice.
func (s *Stream) sum() (string, error) {
	if s.rehash {
		s.hash.Reset()
		if _, err := io.Copy(s.hash, io.NewSectionReader(s.part, 0, s.end)); err != nil {
			return "", &Error{Kind: ErrIO, Path: s.vpath, Err: err}
		}
	}
	return hex.EncodeToString(s.hash.Sum(nil)), nil
}

// Abort stops the stream and keeps what arrived before the first gap for a resume, unless it can
// never be published: an empty file, or one that passed the quota. It is safe to call more than once and after
// Commit.
func (s *Stream) Abort() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.abortLocked()
}

// abortLocked closes the stream. s.mu is held, not the home's lock.
func (s *Stream) abortLocked() {
	if s.closed {
		return
	}
	if s.sink != nil { // outside the home's lock: a slow disk must not stall other sessions
		s.sink.Close()
		s.sink = nil
	}
	if !s.discard && !s.overQuota.Load() && !s.orphan.Load() && s.end > 0 {
		if s.describe { // kept for a resume, which lists and expires it by its description
			s.writeDescription()
		}
		if !s.rehash {
			s.f.saveStates(s.part, s.rel, s.hash, s.contig)
		}
	}
	h := s.f.h
	h.mu.Lock()
	defer h.mu.Unlock()
	s.settleLocked()
}

// settleLocked gives back the stream's reservation and counts what the partial upload keeps (or
// deletes it). s.mu and the home's lock are held; the sink is closed.
func (s *Stream) settleLocked() {
	if s.closed {
		return
	}
	s.closed = true
	k := key(s.rel)
	drop := s.end == 0 || s.discard || s.overQuota.Load() || s.orphan.Load()
	if s.part != nil {
		if s.contig < s.end && s.f.store.caps.RandomWrites && !drop {
			// Only the data before the first gap may be continued: a resume starts at the end
			// of what is kept, and must not leave a hole of zeros in the file.
			s.part.Truncate(s.contig)
		}
		if drop {
			s.part.Discard()
		} else {
			s.part.Close()
		}
		s.part = nil
	}
	if s.orphan.Load() { // its home's accounting started afresh without it
		s.f.home.RemoveMeta(s.f.ctx(), metaKey(k))
		return
	}
	h := s.f.h
	h.reserved -= s.reserved
	s.f.forget(s.rel, &s.slot)
	d := Counts{Bytes: -s.start, Reserved: -s.reserved} // and what is kept, in one change
	if drop {
		s.f.home.RemoveMeta(s.f.ctx(), metaKey(k))
		s.f.settle(d.Plus(settlePartialTo(&s.slot, 0)))
		return
	}
	// What is kept: what reached the disk after a write error; an object store's whole parts.
	kept, ok := s.f.keptOf(k, s.contig)
	if !ok {
		s.f.home.RemovePartial(s.f.ctx(), k)
		s.f.home.RemoveMeta(s.f.ctx(), metaKey(k))
		s.f.settle(d.Plus(settlePartialTo(&s.slot, 0)))
		return
	}
	d.Bytes += kept
	s.f.settle(d.Plus(settlePartialTo(&s.slot, 2)))
}

// atWriter writes sequentially at off through a WriterAt: the sink's writer, which absorb moves
// forward over pieces written directly.
type atWriter struct {
	w   io.WriterAt
	off int64
}

func (a *atWriter) Write(p []byte) (int, error) {
	n, err := a.w.WriteAt(p, a.off)
	a.off += int64(n)
	return n, err
}

func (a *atWriter) WriteAt(p []byte, off int64) (int, error) { return a.w.WriteAt(p, off) }

// wrapAt applies Options.WrapWriter (tests inject disk errors) to positioned writes.
type wrapAt struct {
	f    io.WriterAt
	wrap func(io.Writer) io.Writer
}

func (w wrapAt) WriteAt(p []byte, off int64) (int, error) {
	return w.wrap(io.NewOffsetWriter(w.f, off)).Write(p)
}
