//go:build unix

package homefs

import (
	"io/fs"
	"syscall"
)

// fileID returns the inode number of fi, which survives renames but not replacement.
func fileID(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Ino)
	}
	return 0
}
