//go:build unix

package local

import (
	"io/fs"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// version is the device and inode numbers of fi ("dev:ino"): a file keeps them through renames
// and a new file, even under the same name, has others.
func version(fi fs.FileInfo) string {
	var dev, ino uint64
	switch st := fi.Sys().(type) {
	case *syscall.Stat_t:
		dev, ino = uint64(st.Dev), uint64(st.Ino)
	case *unix.Stat_t: // from WalkEntry.Info
		dev, ino = uint64(st.Dev), uint64(st.Ino)
	default:
		return ""
	}
	return strconv.FormatUint(dev, 10) + ":" + strconv.FormatUint(ino, 10)
}
