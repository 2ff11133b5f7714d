// Package local is the storage backend of the local disk: each home is a directory under one
// base directory, and every operation on it goes through an *os.Root opened on that directory, so
// that no name, ".." or symbolic link reaches outside the home.
//
// Inside each home, the directory .myftp belongs to the server and is never listed or walked:
// partial/ID holds the data of the unfinished upload ID, targets/ID the name it will be published
// as, and meta/KEY the record KEY (see storage.Home.Meta).
//
// WalkTree, the walk every tree-wide operation uses, is exported for package homefs.
package local

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/myftp/myftp/lib/durable"
	"github.com/myftp/myftp/lib/storage"
)

// Reserved is the directory at the top of every home where the backend keeps unfinished uploads
// and records. A name in it is refused with storage.ErrInvalid.
const Reserved = ".myftp"

// Places in Reserved.
const (
	partialDir = Reserved + "/partial" // the data of unfinished uploads, by id
	targetDir  = Reserved + "/targets" // the target of each unfinished upload, by id
	metaDir    = Reserved + "/meta"    // records, by key
	recordDir  = Reserved + "/records" // the records of files, by name, where files keep no xattrs
)

// recordTag is the extended attribute that holds a file's record (see storage.Home.Record): it
// follows the file through renames, goes with it, and costs no file of its own.
const recordTag = "user.myftp.sums"

// Permissions of what the backend makes: only the server's user reads a home.
const (
	dirPerm  = 0o700
	filePerm = 0o600
)

// Options configure a Backend.
type Options struct {
	// Fsync makes Partial.Sync and Partial.Publish flush to stable storage (package durable,
	// which lets the uploads that finish together share a flush), and Publish flush the
	// renamed name too. Without it they return once the data is with the operating system.
	Fsync bool
	// NoXattrs keeps the records of files in .myftp/records even where the filesystem has
	// extended attributes (tests of filesystems without them).
	NoXattrs bool
}

// Backend holds the homes under a base directory. It is safe for concurrent use.
type Backend struct {
	base    string
	opts    Options
	durable *durable.Syncer
}

var _ storage.Backend = (*Backend)(nil)

// New returns the backend of the homes under the directory base, which OpenHome makes if it is
// missing.
func New(base string, opts Options) *Backend {
	return &Backend{base: base, opts: opts, durable: durable.New()}
}

// Caps: the local disk renames in one step, writes anywhere and keeps every byte written.
func (b *Backend) Caps() storage.Caps {
	return storage.Caps{AtomicRename: true, RandomWrites: true, ResumeUnit: 1, Links: true}
}

// Close releases nothing: each home holds its own descriptor until its Close.
func (b *Backend) Close() error { return nil }

// homeDir returns the directory of home, relative to base, refusing a name that leaves base or is
// base itself.
func homeDir(home string) (string, error) {
	rel := filepath.Clean(filepath.FromSlash(home))
	if home == "" || !filepath.IsLocal(rel) || rel == "." {
		return "", &fs.PathError{Op: "home", Path: home, Err: storage.ErrInvalid}
	}
	return rel, nil
}

// OpenHome opens the home directory home (relative to the base), making it and the base (mode
// 0700) if create is set.
func (b *Backend) OpenHome(ctx context.Context, home string, create bool) (storage.Home, error) {
	rel, err := homeDir(home)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(b.base, rel)
	if create {
		if err := os.MkdirAll(dir, dirPerm); err != nil {
			return nil, fmt.Errorf("create home: %w", renamed(err, "mkdir", home))
		}
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("open home: %w", renamed(err, "open", home))
	}
	h := &Home{b: b, root: root}
	if create {
		h.upgrade()
	}
	return h, nil
}

// legacySums is where servers before the storage backends kept checksum records and, on the way
// into .myftp/partial, the descriptions of unfinished uploads. A home that has it was written by
// such a server.
const legacySums = Reserved + "/sums"

// upgrade moves what an older server kept in the home to where this one keeps it, once: the
// descriptions of unfinished uploads (.myftp/partial/KEY.json) go to the records of
// .myftp/meta/partial, so that those uploads stay resumable; the checksum records kept as files
// of .myftp/sums, named by a hash of the file's name, are caches and are dropped (recomputed when
// next needed), as is the old mark of a measured home (the home is measured again). Best effort:
// what cannot be moved expires with its upload.
func (h *Home) upgrade() {
	if _, err := h.root.Lstat(legacySums); err != nil {
		return
	}
	if dir, err := h.root.Open(partialDir); err == nil {
		names, _ := dir.Readdirnames(-1)
		dir.Close()
		for _, n := range names {
			if !strings.HasSuffix(n, ".json") {
				continue
			}
			if h.root.MkdirAll(metaDir+"/partial", dirPerm) == nil {
				h.root.Rename(partialDir+"/"+n, metaDir+"/partial/"+n)
			}
		}
	}
	h.root.Remove(Reserved + "/id")
	h.root.RemoveAll(legacySums)
}

// RemoveHome deletes the home directory home and everything in it, through a root on the base: a
// symbolic link on the way is not followed out of it. A missing home is not an error.
func (b *Backend) RemoveHome(ctx context.Context, home string) error {
	rel, err := homeDir(home)
	if err != nil {
		return err
	}
	base, err := os.OpenRoot(b.base)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("remove home %s: %w", home, renamed(err, "open", "."))
	}
	defer base.Close()
	if err := base.RemoveAll(rel); err != nil {
		return fmt.Errorf("remove home: %w", renamed(err, "remove", home))
	}
	return nil
}

// Home is one home directory. Its methods may be called from several goroutines at once.
type Home struct {
	b    *Backend
	root *os.Root

	mu       sync.Mutex
	partials *os.Root // .myftp/partial, opened on first use: one element to resolve, not three
	pdir     *os.File // .myftp/partial again, as a directory to rename out of (see partialsDir)
	dir      *os.File // the home directory, opened on first use, to flush the filesystem through
	records  int8     // whether .myftp/records may hold anything: 0 not known yet, 1 yes, -1 no
}

var _ storage.Home = (*Home)(nil)

// Close releases the home's descriptors.
func (h *Home) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.partials != nil {
		h.partials.Close()
	}
	if h.pdir != nil {
		h.pdir.Close()
	}
	if h.dir != nil {
		h.dir.Close()
	}
	return h.root.Close()
}

// partialRoot returns the root of .myftp/partial, making the directory on first use.
func (h *Home) partialRoot() (*os.Root, error) { return h.openPartials(true) }

// openPartials returns the root of .myftp/partial, making the directory if create is set; else a
// missing directory is an error wrapping fs.ErrNotExist: listing a home changes nothing in it.
func (h *Home) openPartials(create bool) (*os.Root, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.partials != nil {
		return h.partials, nil
	}
	if create {
		if err := h.root.MkdirAll(partialDir, dirPerm); err != nil {
			return nil, err
		}
	}
	r, err := h.root.OpenRoot(partialDir)
	if err != nil {
		return nil, err
	}
	h.partials = r
	return r, nil
}

// partialsDir returns .myftp/partial, open, made on first use, for renames out of it.
func (h *Home) partialsDir() (*os.File, error) {
	pr, err := h.partialRoot()
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.pdir == nil {
		d, err := pr.OpenFile(".", os.O_RDONLY|noPoll, 0)
		if err != nil {
			return nil, err
		}
		h.pdir = d
	}
	return h.pdir, nil
}

// homeDir returns the home directory, open, for flushes of the whole filesystem and renames into
// it.
func (h *Home) homeDir() (*os.File, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.dir == nil {
		d, err := h.root.OpenFile(".", os.O_RDONLY|noPoll, 0)
		if err != nil {
			return nil, err
		}
		h.dir = d
	}
	return h.dir, nil
}

// check refuses, with storage.ErrInvalid, a name that storage.CheckName refuses, one in Reserved,
// and one the platform does not take as a name inside a directory (on Windows: "a:b", "NUL").
func check(op, name string) error {
	if err := storage.CheckName(name); err != nil {
		return &fs.PathError{Op: op, Path: name, Err: storage.ErrInvalid}
	}
	first, _, _ := strings.Cut(name, "/")
	if first == Reserved || (name != "." && !filepath.IsLocal(filepath.FromSlash(name))) {
		return &fs.PathError{Op: op, Path: name, Err: storage.ErrInvalid}
	}
	return nil
}

// checkElem refuses what check refuses and any name of more than one element, or ".": partial
// upload ids.
func checkElem(op, id string) error {
	if err := check(op, id); err != nil {
		return err
	}
	if id == "." || strings.Contains(id, "/") {
		return &fs.PathError{Op: op, Path: id, Err: storage.ErrInvalid}
	}
	return nil
}

// Stat describes the entry at name, following a symbolic link inside the home.
func (h *Home) Stat(ctx context.Context, name string) (storage.Info, error) {
	if err := check("stat", name); err != nil {
		return storage.Info{}, err
	}
	fi, err := h.root.Stat(name)
	if err != nil {
		return storage.Info{}, mapErr(err, "stat", name)
	}
	return infoOf(path.Base(name), fi), nil
}

// Lstat describes the entry at name; a symbolic link is described, not followed.
func (h *Home) Lstat(ctx context.Context, name string) (storage.Info, error) {
	if err := check("lstat", name); err != nil {
		return storage.Info{}, err
	}
	fi, err := h.root.Lstat(name)
	if err != nil {
		return storage.Info{}, mapErr(err, "lstat", name)
	}
	return infoOf(path.Base(name), fi), nil
}

// Mkdir makes the directory name (mode 0700).
func (h *Home) Mkdir(ctx context.Context, name string) error {
	if err := check("mkdir", name); err != nil {
		return err
	}
	return mapErr(h.root.Mkdir(name, dirPerm), "mkdir", name)
}

// Remove deletes the file, link or empty directory at name.
func (h *Home) Remove(ctx context.Context, name string) error {
	if err := check("remove", name); err != nil {
		return err
	}
	if name == "." {
		return &fs.PathError{Op: "remove", Path: name, Err: storage.ErrInvalid}
	}
	err := h.root.Remove(name)
	if isNotEmpty(err) { // rmdir says ENOTEMPTY, or EEXIST on some systems
		return &fs.PathError{Op: "remove", Path: name, Err: storage.ErrNotEmpty}
	}
	if err != nil {
		return mapErr(err, "remove", name)
	}
	h.dropRecordFile(name)
	return nil
}

// Rename moves from to to, in one rename(2): a file replaces a file, a directory moves whole and
// only to a name that does not exist, and never into itself.
func (h *Home) Rename(ctx context.Context, from, to string) error {
	if err := check("rename", from); err != nil {
		return err
	}
	if err := check("rename", to); err != nil {
		return err
	}
	if from == "." || to == "." {
		return &fs.PathError{Op: "rename", Path: from, Err: storage.ErrInvalid}
	}
	fi, err := h.root.Lstat(from)
	if err != nil {
		return mapErr(err, "rename", from)
	}
	if fi.IsDir() {
		// rename(2) would replace an empty directory: the contract wants a free name.
		if _, err := h.root.Lstat(to); err == nil {
			return &fs.PathError{Op: "rename", Path: to, Err: storage.ErrExist}
		}
	}
	err = h.root.Rename(from, to)
	if isNotEmpty(err) {
		return &fs.PathError{Op: "rename", Path: to, Err: storage.ErrExist}
	}
	if err != nil {
		return mapErr(err, "rename", to)
	}
	h.moveRecordFiles(from, to)
	return nil
}

// Chtimes sets the modification time of the entry at name (following a link inside the home),
// leaving its access time.
func (h *Home) Chtimes(ctx context.Context, name string, mtime time.Time) error {
	if err := check("chtimes", name); err != nil {
		return err
	}
	return mapErr(h.root.Chtimes(name, time.Time{}, mtime), "chtimes", name)
}

// Open opens the file at name for reading; a directory is storage.ErrIsDir.
func (h *Home) Open(ctx context.Context, name string) (storage.Reader, error) {
	if err := check("open", name); err != nil {
		return nil, err
	}
	f, err := h.root.OpenFile(name, os.O_RDONLY|noPoll, 0)
	if err != nil {
		return nil, mapErr(err, "open", name)
	}
	fi, err := f.Stat()
	if err == nil && fi.IsDir() {
		err = &fs.PathError{Op: "open", Path: name, Err: storage.ErrIsDir}
	}
	if err != nil {
		f.Close()
		return nil, mapErr(err, "open", name)
	}
	return &reader{h: h, f: f, name: name, info: infoOf(path.Base(name), fi)}, nil
}

// reader is a file open for reading; its errors name the file as the home does.
type reader struct {
	h    *Home
	f    *os.File
	name string
	info storage.Info
}

// Record reads the record of the open file: its extended attribute, else its record file.
func (r *reader) Record() ([]byte, error) {
	if data, ok := r.h.getTag(r.f); ok {
		return data, nil
	}
	return r.h.recordFile(r.name)
}

func (r *reader) Read(p []byte) (int, error) {
	n, err := r.f.Read(p)
	return n, ioErr(err, "read", r.name)
}

func (r *reader) ReadAt(p []byte, off int64) (int, error) {
	n, err := r.f.ReadAt(p, off)
	return n, ioErr(err, "read", r.name)
}

func (r *reader) Info() storage.Info { return r.info }

func (r *reader) Close() error { return mapErr(r.f.Close(), "close", r.name) }

// infoOf describes fi under the name name.
func infoOf(name string, fi fs.FileInfo) storage.Info {
	info := storage.Info{Name: name, Kind: kindOfMode(fi.Mode()), Mode: fi.Mode(), Mtime: fi.ModTime()}
	switch info.Kind {
	case storage.File:
		info.Size = fi.Size()
		info.Version = version(fi)
	case storage.Symlink:
		info.Size = fi.Size() // the length of its target's name, as ls -l shows
	}
	return info
}

func kindOfMode(m fs.FileMode) storage.Kind {
	switch {
	case m.IsRegular():
		return storage.File
	case m.IsDir():
		return storage.Dir
	case m&fs.ModeSymlink != 0:
		return storage.Symlink
	}
	return storage.Other
}
