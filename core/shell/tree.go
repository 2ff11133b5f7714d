package shell

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/myftp/myftp/lib/client"
	"github.com/myftp/myftp/lib/proto"
	"github.com/myftp/myftp/lib/transfer"
)

// maxDepth bounds the depth of a walk: the server refuses paths more than 256 levels deep.
const maxDepth = 256

// tree is what a walk of a directory found, by paths relative to it ("/"-separated), a directory
// before what it holds and the names of a directory in order.
type tree struct {
	order   []string             // every path found, left-out ones included
	entries map[string]destEntry // what each path is: 'f' (with its size), 'd', or 'x' (left out)
	skipped []string             // what was left out, and why
}

func newTree() *tree { return &tree{entries: map[string]destEntry{}} }

func (t *tree) add(rel string, kind byte, size int64) {
	t.order = append(t.order, rel)
	t.entries[rel] = destEntry{kind: kind, size: size}
}

// leave records a path left out of the walk.
func (t *tree) leave(rel, why string) {
	t.add(rel, 'x', 0)
	t.skipped = append(t.skipped, rel+": "+why)
}

// kind returns what the walk found at rel: 0 for nothing.
func (t *tree) kind(rel string) byte { return t.entries[rel].kind }

// walkLocal walks the local directory root. Symbolic links are followed only where they lead
// inside the tree, and never into a directory that holds them (a loop); the others are left out,
// and so are partial downloads (.NAME.myftp-partial) and what is neither a regular file nor a
// directory.
func walkLocal(root string) (*tree, error) {
	fi, err := os.Stat(root)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("%s: not a directory", root)
	}
	real, err := filepath.EvalSymlinks(root)
	if err != nil {
		return nil, err
	}
	w := localWalker{t: newTree(), real: real}
	if err := w.dir(root, "", []fs.FileInfo{fi}); err != nil {
		return nil, err
	}
	return w.t, nil
}

type localWalker struct {
	t    *tree
	real string // the root with its symbolic links resolved
}

// dir walks the directory abs, at rel in the tree, below the directories of stack.
func (w *localWalker) dir(abs, rel string, stack []fs.FileInfo) error {
	entries, err := os.ReadDir(abs) // sorted by name
	if err != nil {
		if rel == "" {
			return err
		}
		w.t.leave(rel, fmt.Sprintf("cannot be read (%v)", err))
		return nil
	}
	for _, e := range entries {
		if transfer.IsPartial(e.Name()) {
			continue
		}
		crel, cabs := path.Join(rel, e.Name()), filepath.Join(abs, e.Name())
		fi, why := w.follow(cabs, e)
		switch {
		case why != "":
			w.t.leave(crel, why)
		case fi.IsDir() && slices.ContainsFunc(stack, func(up fs.FileInfo) bool { return os.SameFile(up, fi) }):
			w.t.leave(crel, "a symbolic link to a directory that holds it: not followed")
		case fi.IsDir() && len(stack) >= maxDepth:
			w.t.leave(crel, fmt.Sprintf("more than %d levels deep", maxDepth))
		case fi.IsDir():
			w.t.add(crel, 'd', 0)
			if err := w.dir(cabs, crel, append(stack, fi)); err != nil {
				return err
			}
		case fi.Mode().IsRegular():
			w.t.add(crel, 'f', fi.Size())
		default:
			w.t.leave(crel, "not a regular file or a directory")
		}
	}
	return nil
}

// follow returns what an entry is, or for a symbolic link what it leads to; or why it is left
// out: a link that leads out of the tree or nowhere.
func (w *localWalker) follow(abs string, e fs.DirEntry) (fs.FileInfo, string) {
	if e.Type()&fs.ModeSymlink == 0 {
		fi, err := e.Info()
		if err != nil {
			return nil, fmt.Sprintf("cannot be read (%v)", err)
		}
		return fi, ""
	}
	target, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return nil, "a symbolic link that leads nowhere: not followed"
	}
	if !within(w.real, target) {
		return nil, "a symbolic link that leads out of the tree: not followed"
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Sprintf("cannot be read (%v)", err)
	}
	return fi, ""
}

// within reports whether the path p is root or inside it (both with their links resolved).
func within(root, p string) bool {
	rel, err := filepath.Rel(root, p)
	return err == nil && (rel == "." || filepath.IsLocal(rel))
}

// walkRemote walks the remote directory root with listings. Symbolic links on the server are
// left out (its listings do not say where they lead), and so is what is neither a regular file
// nor a directory.
func walkRemote(c *client.Client, root string) (*tree, error) {
	t := newTree()
	return t, remoteDir(c, t, root, "", 0)
}

func remoteDir(c *client.Client, t *tree, abs, rel string, depth int) error {
	var entries []proto.Entry
	err := c.List(abs, true, func(e proto.Entry) error {
		entries = append(entries, e)
		return nil
	})
	if err != nil {
		if rel == "" || c.Err() != nil {
			return fmt.Errorf("list %s: %w", abs, err)
		}
		t.leave(rel, fmt.Sprintf("cannot be listed (%s)", describe(err)))
		return nil
	}
	slices.SortFunc(entries, func(a, b proto.Entry) int { return strings.Compare(a.Name, b.Name) })
	for _, e := range entries {
		if e.Name == "" || e.Name == "." || e.Name == ".." || strings.Contains(e.Name, "/") {
			continue // not a name in a directory: the server misbehaves
		}
		crel := path.Join(rel, e.Name)
		switch e.Type {
		case proto.EntryDir:
			if depth+1 >= maxDepth {
				t.leave(crel, fmt.Sprintf("more than %d levels deep", maxDepth))
				continue
			}
			t.add(crel, 'd', 0)
			if err := remoteDir(c, t, path.Join(abs, e.Name), crel, depth+1); err != nil {
				return err
			}
		case proto.EntryFile:
			t.add(crel, 'f', e.Size)
		case proto.EntryLink:
			t.leave(crel, "a symbolic link on the server: not followed")
		default:
			t.leave(crel, "not a regular file or a directory")
		}
	}
	return nil
}

// localName reports whether a remote name can be a local file name, in a directory and not
// elsewhere: not ".", "..", nor a name with a separator (on Windows, "..\x" holds no "/").
func localName(name string) bool {
	return name != "." && name != ".." && !strings.ContainsAny(name, `/\`) && filepath.IsLocal(name)
}
