//go:build !unix

package homefs

import "io/fs"

// fileID is 0 where the platform gives no inode in FileInfo; records then rely on size and time.
func fileID(fs.FileInfo) uint64 { return 0 }
