package homefs

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"time"

	"github.com/myftp/myftp/lib/checksum"
	"github.com/myftp/myftp/lib/storage/local"
)

// key names the partial upload and the md5 record of a path: a hash, so that any path maps to one
// short, safe file name.
func key(rel string) string {
	sum := sha256.Sum256([]byte(rel))
	return hex.EncodeToString(sum[:16])
}

// partialPath is the partial upload of rel, relative to the home.
func partialPath(rel string) string { return path.Join(reserved, partialDir, key(rel)) }

// sumRecord holds the checksums of a stored file, by algorithm, valid while the file keeps the
// same size, modification time and file id (inode, where the platform has one). Records written
// before other algorithms were kept hold only the md5, in the md5 field, which every record still
// has when the md5 is known.
type sumRecord struct {
	MD5   string            `json:"md5,omitempty"`
	Sums  map[string]string `json:"sums,omitempty"` // algorithms other than md5
	Size  int64             `json:"size"`
	Mtime time.Time         `json:"mtime"`
	ID    uint64            `json:"id,omitempty"`
}

func (r sumRecord) matches(fi fs.FileInfo) bool {
	return r.Size == fi.Size() && r.Mtime.Equal(fi.ModTime()) && r.ID == fileID(fi)
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

// readSums returns the record of the file at rel if it is still true of fi.
func readSums(sums *os.Root, rel string, fi fs.FileInfo) (sumRecord, bool) {
	data, err := sums.ReadFile(key(rel) + ".json")
	if err != nil {
		return sumRecord{}, false
	}
	var r sumRecord
	if json.Unmarshal(data, &r) != nil || !r.matches(fi) {
		return sumRecord{}, false
	}
	return r, true
}

// sumsTag is the extended attribute that holds a file's record where the filesystem keeps them:
// the record then travels with the file through renames, goes with it when it is removed, and
// costs no file of its own (creating one costs more than the rest of a small upload on some
// filesystems).
const sumsTag = "user.myftp.sums"

// getTag and setTag read and write a file's record attribute, unless the store keeps none.
func (f *FS) getTag(file *os.File) ([]byte, bool) {
	if f.store.noTags {
		return nil, false
	}
	return local.GetTag(file, sumsTag)
}

func (f *FS) setTag(file *os.File, data []byte) error {
	if f.store.noTags {
		return errors.New("homefs: records kept in .myftp/sums")
	}
	return local.SetTag(file, sumsTag, data)
}

// loadRecord returns the record of the file open as file, at rel, as fi describes it, if it is
// still true of the file: from the file's extended attribute, else from .myftp/sums (records
// written before attributes were used, or where the filesystem keeps none).
func (f *FS) loadRecord(file *os.File, rel string, fi fs.FileInfo) (sumRecord, bool) {
	if data, ok := f.getTag(file); ok {
		var r sumRecord
		if json.Unmarshal(data, &r) == nil && r.matches(fi) {
			return r, true
		}
	}
	sums, err := f.metaRoot(sumsDir)
	if err != nil {
		return sumRecord{}, false
	}
	return readSums(sums, rel, fi)
}

// storeRecord records a checksum (hex) of the file open as file, at rel, as fi describes it,
// beside those already recorded for it: in the file's extended attribute, else in .myftp/sums.
// The record is a cache, written without fsync: a lost, torn or stale record only means that the
// next download or HASH computes the checksum again.
func (f *FS) storeRecord(file *os.File, rel string, fi fs.FileInfo, algo, sum string) error {
	r, ok := f.loadRecord(file, rel, fi)
	if !ok {
		r = sumRecord{Size: fi.Size(), Mtime: fi.ModTime(), ID: fileID(fi)}
	}
	r.set(algo, sum)
	return f.saveRecord(file, rel, r)
}

// saveRecord writes the record r of the file open as file, at rel: in its extended attribute,
// else in .myftp/sums.
func (f *FS) saveRecord(file *os.File, rel string, r sumRecord) error {
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	sums, serr := f.metaRoot(sumsDir)
	if f.setTag(file, data) == nil {
		if serr == nil {
			sums.Remove(key(rel) + ".json") // an older record of the path, if any
		}
		return nil
	}
	if serr != nil {
		return serr
	}
	return sums.WriteFile(key(rel)+".json", data, 0o600)
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
	f.record(d, algo, sum)
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

// record stores a checksum of d computed from its content, unless the file changed meanwhile,
// and reports whether it did.
func (f *FS) record(d *Download, algo, sum string) bool {
	fi, err := f.root.Stat(d.rel)
	if err != nil || !os.SameFile(fi, d.info) || fi.Size() != d.Info.Size || !fi.ModTime().Equal(d.Info.Mtime) {
		return false
	}
	f.h.mu.Lock()
	defer f.h.mu.Unlock()
	return f.storeRecord(d.File, d.rel, fi, algo, sum) == nil
}

// metaRoot returns the root of the reserved directory name (partialDir or sumsDir) of the home,
// creating it on first use and keeping it open for the session: operations on it then resolve one
// path element instead of three.
func (f *FS) metaRoot(name string) (*os.Root, error) {
	f.metaMu.Lock()
	defer f.metaMu.Unlock()
	r := &f.partials
	if name == sumsDir {
		r = &f.sums
	}
	if *r != nil {
		return *r, nil
	}
	dir := path.Join(reserved, name)
	if err := f.root.MkdirAll(dir, 0o700); err != nil {
		return nil, metaError(err)
	}
	sub, err := f.root.OpenRoot(dir)
	if err != nil {
		return nil, metaError(err)
	}
	*r = sub
	return sub, nil
}

// metaError is the failure to make or open the reserved directory: the disk is full, or something
// that is not a directory is in its way. Without it, uploads cannot begin.
func metaError(err error) error {
	kind := ErrIO
	if kindOf(err) == ErrNoSpace {
		kind = ErrNoSpace
	}
	return &Error{Kind: kind, Detail: "the server cannot make its directory for unfinished uploads in this home", Err: err}
}
