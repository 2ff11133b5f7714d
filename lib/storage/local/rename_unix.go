//go:build unix

package local

import (
	"os"
	"path"

	"golang.org/x/sys/unix"
)

// renameFromPartials moves the partial file id onto target, a checked name in the home, with one
// renameat from the partial directory, held open, into the target's directory, opened through the
// home's root (one element less to resolve when the target is at the top: the home's directory is
// held open too). os.Root.Rename resolves both directories again for every upload: three system
// calls more, and two more for a target in a subdirectory. Both names are single elements below
// directories opened inside the home, so the rename cannot reach out of it; a symbolic link at the
// target is replaced, not followed, as by os.Root.Rename.
func (h *Home) renameFromPartials(id, target string) error {
	from, err := h.partialsDir()
	if err != nil {
		return err
	}
	dir, name := path.Split(target)
	var to *os.File
	if dir == "" {
		if to, err = h.homeDir(); err != nil {
			return err
		}
	} else {
		if to, err = h.root.OpenFile(path.Clean(dir), os.O_RDONLY|noPoll, 0); err != nil {
			return err
		}
		defer to.Close()
	}
	return control(from, func(fromFD uintptr) error {
		return control(to, func(toFD uintptr) error {
			if err := unix.Renameat(int(fromFD), id, int(toFD), name); err != nil {
				return &os.LinkError{Op: "renameat", Old: partialDir + "/" + id, New: target, Err: err}
			}
			return nil
		})
	})
}

// control runs fn with the descriptor of f, which stays open meanwhile. (f.Fd would set a
// descriptor opened O_NONBLOCK back to blocking: two more system calls.)
func control(f *os.File, fn func(fd uintptr) error) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = fn(fd) }); err != nil {
		return err
	}
	return ferr
}
