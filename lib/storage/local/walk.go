package local

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"strings"
)

// walkBatch is how many entries of one directory a walk holds at a time.
const walkBatch = 256

// WalkTree calls visit for every entry below the directory dir of root, depth first, a directory
// before its contents, each directory in the order it lists. Symbolic links are visited, never
// followed.
//
// It costs memory in proportion to the depth of the tree, never more: it keeps one open directory
// (one file descriptor, one batch of up to walkBatch entries) per level it is in, and opens each
// directory relative to its parent's descriptor by its own name, so that no path from the top is
// resolved or built. (fs.WalkDir over root.FS() opens every directory by its path from the root:
// for a tree of depth d that is d² path elements resolved and allocated.)
//
// visit is called with a nil error for each entry. For a directory, it returns fs.SkipDir to leave
// the directory's contents out, fs.SkipAll to end the walk with no error, any other error to end
// it with that error. If a directory below dir cannot be opened or read, visit is called a second
// time with its entry and the error: nil goes on without it (or without the rest of it), anything
// else ends the walk. Failing to open or read dir itself ends the walk with that error.
//
// The WalkEntry is valid only during the call to visit.
func WalkTree(root *os.Root, dir string, visit func(WalkEntry, error) error) error {
	top, err := openStart(root, dir)
	if err != nil {
		return err
	}
	w := &treeWalk{levels: []walkLevel{{dir: top}}}
	defer w.closeAll()
	for len(w.levels) > 0 {
		lv := &w.levels[len(w.levels)-1]
		if len(lv.batch) == 0 {
			if err := w.fill(lv); err != nil {
				if len(w.levels) == 0 {
					return err // dir itself
				}
				if err := visit(WalkEntry{d: lv.entry, w: w}, err); err != nil {
					return skipAll(err)
				}
			}
			continue
		}
		d := lv.batch[0]
		lv.batch[0] = nil
		lv.batch = lv.batch[1:]
		err := visit(WalkEntry{d: d, w: w}, nil)
		if errors.Is(err, fs.SkipDir) || (err == nil && !d.IsDir()) {
			continue
		}
		if err != nil {
			return skipAll(err)
		}
		if err := w.descend(lv, d); err != nil {
			if err := visit(WalkEntry{d: d, w: w}, err); err != nil {
				return skipAll(err)
			}
		}
	}
	return nil
}

func skipAll(err error) error {
	if errors.Is(err, fs.SkipAll) {
		return nil
	}
	return err
}

// treeWalk is the stack of directories a walk is in: levels[0] is the one it started from.
type treeWalk struct {
	levels []walkLevel
}

type walkLevel struct {
	dir     dirHandle
	entry   fs.DirEntry   // of this directory in the level above; nil for the start
	pathLen int           // bytes of its path from the start ("a/b" is 3); 0 for the start
	batch   []fs.DirEntry // read and not yet visited
	eof     bool          // read to its end
}

// fill reads the next batch of lv, the last level. At the end of the directory, or on an error,
// it closes lv and pops it; the error is for the caller to report.
func (w *treeWalk) fill(lv *walkLevel) error {
	var err error
	if !lv.eof {
		lv.batch, err = lv.dir.readDir(walkBatch)
		if errors.Is(err, io.EOF) {
			lv.eof, err = true, nil
		}
	}
	if len(lv.batch) == 0 || err != nil {
		lv.batch = nil
		lv.dir.close()
		w.levels = w.levels[:len(w.levels)-1]
	}
	return err
}

// descend opens the directory d of lv, the last level, and pushes it.
func (w *treeWalk) descend(lv *walkLevel, d fs.DirEntry) error {
	child, err := lv.dir.openDir(d.Name())
	if err != nil {
		return err
	}
	n := lv.pathLen + len(d.Name())
	if lv.entry != nil {
		n++ // the separator
	}
	w.levels = append(w.levels, walkLevel{dir: child, entry: d, pathLen: n})
	return nil
}

func (w *treeWalk) closeAll() {
	for i := range w.levels {
		w.levels[i].dir.close()
	}
	w.levels = nil
}

// WalkEntry is an entry met by WalkTree: its name and type as its directory lists them (a symbolic
// link has type fs.ModeSymlink), and where it lies. It does not offer the fs.DirEntry's Info, which
// may stat a path from the top.
type WalkEntry struct {
	d fs.DirEntry
	w *treeWalk
}

func (e WalkEntry) Name() string      { return e.d.Name() }
func (e WalkEntry) Type() fs.FileMode { return e.d.Type() }
func (e WalkEntry) IsDir() bool       { return e.d.IsDir() }

// Depth is the number of path elements from the walk's start to the entry: 1 for an entry of the
// start directory.
func (e WalkEntry) Depth() int { return len(e.w.levels) }

// PathLen is the length in bytes of Path(), computed without building it.
func (e WalkEntry) PathLen() int {
	lv := e.w.levels[len(e.w.levels)-1]
	if lv.entry == nil {
		return len(e.Name())
	}
	return lv.pathLen + 1 + len(e.Name())
}

// Ancestor is the name of the i-th directory on the way from the start to the entry: 0 is the
// one in the start directory, Depth()-2 the entry's own directory.
func (e WalkEntry) Ancestor(i int) string { return e.w.levels[i+1].entry.Name() }

// Path is the entry's path from the walk's start, slash-separated ("a/b/c.txt"). It is built at
// each call: use it where the path is needed, not to find out where the entry lies.
func (e WalkEntry) Path() string {
	var b strings.Builder
	b.Grow(e.PathLen())
	for _, lv := range e.w.levels[1:] {
		b.WriteString(lv.entry.Name())
		b.WriteByte('/')
	}
	b.WriteString(e.Name())
	return b.String()
}

// Size returns the size of the entry if it is (still) a regular file. It stats the name in the
// entry's directory, without following a symbolic link.
func (e WalkEntry) Size() (int64, bool) {
	return e.w.levels[len(e.w.levels)-1].dir.regularSize(e.Name())
}

// Info describes the entry, without following a symbolic link. It stats the name in the entry's
// directory, so it costs the same at any depth.
func (e WalkEntry) Info() (fs.FileInfo, error) {
	return e.w.levels[len(e.w.levels)-1].dir.lstat(e.Name())
}
