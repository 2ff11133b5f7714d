package local

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"

	"github.com/myftp/myftp/lib/storage"
)

// List calls fn with the entries of the directory name (following a link inside the home), a
// page of at most storage.ListPage at a time, in the order the directory lists them. Each entry is
// described relative to the directory's descriptor; one that vanishes meanwhile is left out.
func (h *Home) List(ctx context.Context, name string, fn func([]storage.Info) error) error {
	if err := check("list", name); err != nil {
		return err
	}
	dir, err := h.root.OpenRoot(name)
	if err != nil {
		return mapErr(err, "list", name)
	}
	defer dir.Close()
	f, err := dir.OpenFile(".", os.O_RDONLY|noPoll, 0)
	if err != nil {
		return mapErr(err, "list", name)
	}
	defer f.Close()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		names, rerr := f.Readdirnames(storage.ListPage)
		if rerr != nil && !errors.Is(rerr, io.EOF) {
			return mapErr(rerr, "list", name)
		}
		if page := describe(dir, names, name == "."); len(page) > 0 {
			if err := fn(page); err != nil {
				return err
			}
		}
		if rerr != nil {
			return nil
		}
	}
}

// describe returns the entries names of dir, without Reserved if dir is the home.
func describe(dir *os.Root, names []string, top bool) []storage.Info {
	page := make([]storage.Info, 0, len(names))
	for _, n := range names {
		if top && n == Reserved {
			continue
		}
		if fi, err := dir.Lstat(n); err == nil {
			page = append(page, infoOf(n, fi))
		}
	}
	return page
}

// Walk calls fn for every entry below the directory name, with WalkTree: its memory grows with the
// depth of the tree, every directory is opened relative to its parent, and an entry's path is
// built only when fn asks for it. A directory below name that cannot be read is given to fn a
// second time with the error; an entry that vanishes meanwhile is left out.
func (h *Home) Walk(ctx context.Context, name string, fn func(e storage.WalkEntry, err error) error) error {
	if err := check("walk", name); err != nil {
		return err
	}
	err := WalkTree(h.root, name, func(e WalkEntry, err error) error {
		if err != nil { // the directory e could not be read
			info := storage.Info{Name: e.Name(), Kind: storage.Dir, Mode: fs.ModeDir}
			if fi, ierr := e.Info(); ierr == nil {
				info = infoOf(e.Name(), fi)
			}
			return pass(fn(walkEntry{e, name, info}, mapErr(err, "walk", join(name, e.Path()))))
		}
		if err := ctx.Err(); err != nil {
			return passed{err}
		}
		if name == "." && e.Depth() == 1 && e.Name() == Reserved {
			return fs.SkipDir
		}
		fi, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return fs.SkipDir // gone since it was listed
		}
		if err != nil {
			return pass(fn(walkEntry{e, name, storage.Info{Name: e.Name()}}, mapErr(err, "walk", join(name, e.Path()))))
		}
		return pass(fn(walkEntry{e, name, infoOf(e.Name(), fi)}, nil))
	})
	if p, ok := err.(passed); ok {
		return p.err
	}
	return mapErr(err, "walk", name) // the directory name itself
}

// walkEntry is a storage.WalkEntry of a WalkTree below the directory top.
type walkEntry struct {
	e    WalkEntry
	top  string
	info storage.Info
}

func (w walkEntry) Info() storage.Info { return w.info }
func (w walkEntry) Path() string       { return join(w.top, w.e.Path()) }
func (w walkEntry) Depth() int         { return w.e.Depth() }

// pass returns fn's error for WalkTree: skips as they are, others to be returned as they are.
func pass(err error) error {
	if err != nil && !isSkip(err) {
		return passed{err}
	}
	return err
}

// passed carries an error that Walk returns as it is through WalkTree, which returns the others
// unmapped.
type passed struct{ err error }

func (p passed) Error() string { return p.err.Error() }

func isSkip(err error) bool { return errors.Is(err, fs.SkipDir) || errors.Is(err, fs.SkipAll) }

// join is the name of p, relative to the directory dir of the home, relative to the home.
func join(dir, p string) string {
	if dir == "." {
		return p
	}
	return dir + "/" + p
}
