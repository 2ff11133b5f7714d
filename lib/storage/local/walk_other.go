//go:build !unix

package local

import (
	"io/fs"
	"os"
)

// dirHandle is one open directory of a walk: an *os.Root, so that the next level opens relative
// to it, and the directory read from it. Without openat in the os package, each Root carries its
// path from the top: on these platforms a walk's memory grows with the square of the depth.
type dirHandle struct {
	root *os.Root
	f    *os.File
}

// openStart opens the directory dir of root, where a walk starts.
func openStart(root *os.Root, dir string) (dirHandle, error) {
	r, err := root.OpenRoot(dir)
	if err != nil {
		return dirHandle{}, err
	}
	return fromRoot(r)
}

func fromRoot(r *os.Root) (dirHandle, error) {
	f, err := r.Open(".")
	if err != nil {
		r.Close()
		return dirHandle{}, err
	}
	return dirHandle{root: r, f: f}, nil
}

func (d dirHandle) readDir(n int) ([]fs.DirEntry, error) { return d.f.ReadDir(n) }

func (d dirHandle) close() {
	if d.f != nil {
		d.f.Close()
		d.root.Close()
	}
}

// openDir opens the directory name in d. (Root.OpenRoot would follow a symbolic link put in its
// place since it was listed, within d.)
func (d dirHandle) openDir(name string) (dirHandle, error) {
	r, err := d.root.OpenRoot(name)
	if err != nil {
		return dirHandle{}, err
	}
	return fromRoot(r)
}

// regularSize returns the size of the file name in d if it is a regular file.
func (d dirHandle) regularSize(name string) (int64, bool) {
	fi, err := d.root.Lstat(name)
	if err != nil || !fi.Mode().IsRegular() {
		return 0, false
	}
	return fi.Size(), true
}

// lstat describes the entry name in d, without following a symbolic link.
func (d dirHandle) lstat(name string) (fs.FileInfo, error) { return d.root.Lstat(name) }
