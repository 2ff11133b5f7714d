//go:build !linux

package durable

import (
	"os"
	"runtime"
)

// flusher returns how this machine makes a group of files durable (not a whole filesystem): an
// fsync of each, several at once. Windows cannot flush a directory, so directories are left out
// there: a rename is as durable as NTFS makes it.
func flusher() (flush func([]*os.File) error, whole bool) {
	return func(files []*os.File) error {
		if runtime.GOOS == "windows" {
			kept := files[:0:0]
			for _, f := range files {
				if fi, err := f.Stat(); err == nil && !fi.IsDir() {
					kept = append(kept, f)
				}
			}
			files = kept
		}
		if len(files) == 0 {
			return nil
		}
		return fsyncAll(files, 8)
	}, false
}
