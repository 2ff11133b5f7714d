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

func sumPath(rel string) string     { return path.Join(reserved, sumsDir, key(rel)+".json") }
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
// else "".
func storedMD5(root *os.Root, rel string, fi fs.FileInfo) string {
	data, err := root.ReadFile(sumPath(rel))
	if err != nil {
		return ""
	}
	var r sumRecord
	if json.Unmarshal(data, &r) != nil || !r.matches(fi) {
		return ""
	}
	return r.MD5
}

// writeSum records the md5 of the file at rel. The record is a cache: it is written without fsync,
// and a lost or stale record only means the next download hashes while it sends.
func writeSum(root *os.Root, rel, md5hex string, fi fs.FileInfo) error {
	data, err := json.Marshal(sumRecord{MD5: md5hex, Size: fi.Size(), Mtime: fi.ModTime(), ID: fileID(fi)})
	if err != nil {
		return err
	}
	if err := root.MkdirAll(path.Join(reserved, sumsDir), 0o700); err != nil {
		return err
	}
	tmp := sumPath(rel) + ".tmp"
	if err := root.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return root.Rename(tmp, sumPath(rel))
}
