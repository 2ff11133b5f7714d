package homefs

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"time"

	"github.com/myftp/myftp/lib/checksum"
	"github.com/myftp/myftp/lib/storage"
)

// key names the partial upload of a path: a hash, so that any path maps to one short, safe name.
func key(rel string) string {
	sum := sha256.Sum256([]byte(rel))
	return hex.EncodeToString(sum[:16])
}

// sumRecord is a stored file's record (storage.Home.Record): its checksums, by algorithm, and the
// checksum states a resume of a download starts from (see stateHash), valid while the file keeps
// the same size, modification time and version. Records written before other algorithms were kept
// hold only the md5, in the md5 field, which every record still has when the md5 is known.
type sumRecord struct {
	MD5     string              `json:"md5,omitempty"`
	Sums    map[string]string   `json:"sums,omitempty"` // algorithms other than md5
	Size    int64               `json:"size"`
	Mtime   time.Time           `json:"mtime"`
	Version string              `json:"version,omitempty"`
	Every   int64               `json:"every,omitempty"`  // bytes between two states
	States  map[string][]string `json:"states,omitempty"` // by algorithm
}

// newRecord is an empty record of the file as i describes it.
func newRecord(i storage.Info) sumRecord {
	return sumRecord{Size: i.Size, Mtime: i.Mtime, Version: i.Version}
}

func (r sumRecord) matches(i storage.Info) bool {
	return r.Size == i.Size && r.Mtime.Equal(i.Mtime) && r.Version == i.Version
}

func (r sumRecord) get(algo string) string {
	if algo == checksum.MD5 {
		return r.MD5
	}
	return r.Sums[algo]
}

func (r *sumRecord) set(algo, sum string) {
	if algo == checksum.MD5 {
		r.MD5 = sum
		return
	}
	if r.Sums == nil {
		r.Sums = map[string]string{}
	}
	r.Sums[algo] = sum
}

// setStates keeps the states h kept of the whole file (none for a file shorter than one interval).
func (r *sumRecord) setStates(h hash.Hash) {
	sh, ok := h.(*stateHash)
	if !ok || len(sh.states) == 0 {
		return
	}
	if r.Every != sh.every {
		r.Every, r.States = sh.every, nil
	}
	if r.States == nil {
		r.States = map[string][]string{}
	}
	r.States[sh.algo] = sh.encoded(r.Size)
}

// loadRecord returns the record of the file at rel, as i describes it, if it is still true of
// the file.
func (f *FS) loadRecord(rel string, i storage.Info) (sumRecord, bool) {
	data, err := f.home.Record(f.ctx(), rel)
	if err != nil {
		return sumRecord{}, false
	}
	return parseRecord(data, i)
}

// parseRecord decodes a record, if it is still true of the file as i describes it.
func parseRecord(data []byte, i storage.Info) (sumRecord, bool) {
	var r sumRecord
	if json.Unmarshal(data, &r) != nil || !r.matches(i) {
		return sumRecord{}, false
	}
	return r, true
}

// saveRecord writes the record r of the file at rel. The record is a cache, written without a
// flush: a lost, torn or stale record only means that the next download or HASH computes the
// checksum again.
func (f *FS) saveRecord(rel string, r sumRecord) error {
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return f.home.SetRecord(f.ctx(), rel, data)
}

// storeRecord records a checksum (hex) of the file at rel, as i describes it, beside those already
// recorded for it, and the states of h if it kept any.
func (f *FS) storeRecord(rel string, i storage.Info, algo, sum string, h hash.Hash) error {
	r, ok := f.loadRecord(rel, i)
	if !ok {
		r = newRecord(i)
	}
	r.set(algo, sum)
	r.setStates(h)
	return f.saveRecord(rel, r)
}

// Checksum returns the hex checksum of the file p with the named algorithm (see NewHash): the
// recorded one if the record is still true of the file, else computed by reading the file, and
// then recorded for the next time. It fails with ErrInvalidPath for an unknown algorithm, and
// ErrIsDir for anything but a regular file.
func (f *FS) Checksum(p, algo string) (string, error) {
	h := checksum.New(algo)
	if h == nil {
		return "", newErr(ErrInvalidPath, "", "unknown checksum algorithm "+algo)
	}
	d, err := f.OpenDownload(p)
	if err != nil {
		return "", err
	}
	defer d.Close()
	if sum := d.Recorded(algo); sum != "" {
		return sum, nil
	}
	if _, err := io.Copy(h, io.NewSectionReader(d, 0, d.Info.Size)); err != nil {
		return "", &Error{Kind: ErrIO, Path: d.Info.Name, Err: err}
	}
	sum := hex.EncodeToString(h.Sum(nil))
	f.record(d, algo, sum, nil)
	return sum, nil
}

// ChecksumRange returns the hex checksum of the bytes from start up to end of the file p, computed
// (a part of a file is not recorded). It fails with ErrOffset unless 0 <= start <= end <= size.
func (f *FS) ChecksumRange(p, algo string, start, end int64) (string, error) {
	h := checksum.New(algo)
	if h == nil {
		return "", newErr(ErrInvalidPath, "", "unknown checksum algorithm "+algo)
	}
	d, err := f.OpenDownload(p)
	if err != nil {
		return "", err
	}
	defer d.Close()
	if start < 0 || start > end || end > d.Info.Size {
		return "", newErr(ErrOffset, d.Info.Name, fmt.Sprintf("range %d-%d of a file of %d bytes", start, end, d.Info.Size))
	}
	if _, err := io.Copy(h, io.NewSectionReader(d, start, end-start)); err != nil {
		return "", &Error{Kind: ErrIO, Path: d.Info.Name, Err: err}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// record stores a checksum of d computed from its content (and the states of h, if not nil),
// unless the file changed meanwhile, and reports whether it did.
func (f *FS) record(d *Download, algo, sum string, h hash.Hash) bool {
	i, err := f.home.Stat(f.ctx(), d.rel)
	if err != nil || i.Version != d.info.Version || i.Size != d.info.Size || !i.Mtime.Equal(d.info.Mtime) {
		return false
	}
	f.h.mu.Lock()
	defer f.h.mu.Unlock()
	return f.storeRecord(d.rel, i, algo, sum, h) == nil
}
