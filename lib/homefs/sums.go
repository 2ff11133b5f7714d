package homefs

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"os"
	"path"
	"time"
)

// key names the partial upload and the md5 record of a path: a hash, so that any path maps to one
// short, safe file name.
func key(rel string) string {
	sum := sha256.Sum256([]byte(rel))
	return hex.EncodeToString(sum[:16])
}

// partialPath is the partial upload of rel, relative to the home.
func partialPath(rel string) string { return path.Join(reserved, partialDir, key(rel)) }

// sumRecord is the md5 of a stored file, valid while the file keeps the same size, modification
// time and file id (inode, where the platform has one).
type sumRecord struct {
	MD5   string    `json:"md5"`
	Size  int64     `json:"size"`
	Mtime time.Time `json:"mtime"`
	ID    uint64    `json:"id,omitempty"`
}

func (r sumRecord) matches(fi fs.FileInfo) bool {
	return r.Size == fi.Size() && r.Mtime.Equal(fi.ModTime()) && r.ID == fileID(fi)
}

// storedMD5 returns the recorded md5 (hex) of the file at rel if the record is still true of fi,
// else "". sums is the root of the home's .myftp/sums.
func storedMD5(sums *os.Root, rel string, fi fs.FileInfo) string {
	data, err := sums.ReadFile(key(rel) + ".json")
	if err != nil {
		return ""
	}
	var r sumRecord
	if json.Unmarshal(data, &r) != nil || !r.matches(fi) {
		return ""
	}
	return r.MD5
}

// writeSum records the md5 of the file at rel in sums, the root of the home's .myftp/sums. The
// record is a cache, written in place without fsync: a torn record is not valid JSON, and a lost,
// torn or stale record only means the next download hashes while it sends.
func writeSum(sums *os.Root, rel, md5hex string, fi fs.FileInfo) error {
	data, err := json.Marshal(sumRecord{MD5: md5hex, Size: fi.Size(), Mtime: fi.ModTime(), ID: fileID(fi)})
	if err != nil {
		return err
	}
	return sums.WriteFile(key(rel)+".json", data, 0o600)
}

// metaRoot returns the root of the reserved directory name (partialDir or sumsDir) of the home,
// creating it on first use and keeping it open for the session: operations on it then resolve one
// path element instead of three.
func (f *FS) metaRoot(name string) (*os.Root, error) {
	r := &f.partials
	if name == sumsDir {
		r = &f.sums
	}
	if *r != nil {
		return *r, nil
	}
	dir := path.Join(reserved, name)
	if err := f.root.MkdirAll(dir, 0o700); err != nil {
		return nil, wrapOS(err, "")
	}
	sub, err := f.root.OpenRoot(dir)
	if err != nil {
		return nil, wrapOS(err, "")
	}
	*r = sub
	return sub, nil
}
