// Package storage is the contract between the homes (package homefs: the jail's path rules, quotas,
// partial uploads, checksum records, resume) and the place their bytes live: the local disk, through
// an *os.Root per home (package storage/local), or an S3-compatible object store (package
// storage/s3). A backend only stores bytes and names; every rule about which names a user may use,
// how much may be stored and when an upload may be published is homefs's, written once.
//
// Names given to a Home are clean, slash-separated and relative to the home ("." is the home
// itself, "docs/a.txt" a file in it), as homefs resolves them: a backend refuses any other with
// ErrInvalid, so that a mistake above it cannot address anything outside the home.
//
// A backend says what it can do with Caps, as sftpgo's vfs.Fs does, and homefs picks its strategy
// from that, never from the backend's type: the local disk renames in one step, accepts writes at
// any offset and reads an unfinished upload back; an object store renames by copying, accepts
// upload data in order only and resumes an upload at the end of its last stored part.
package storage

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"path"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"
)

// Errors a backend returns, wrapped with context (test with errors.Is). Errors from the local disk
// also wrap the *fs.PathError they come from.
var (
	ErrNotExist = fs.ErrNotExist
	ErrExist    = fs.ErrExist
	ErrInvalid  = errors.New("storage: invalid name")
	ErrNotDir   = errors.New("storage: not a directory")
	ErrIsDir    = errors.New("storage: is a directory")
	ErrNotEmpty = errors.New("storage: directory not empty")
	// ErrOutside is the error of a name that leads out of the home through a symbolic link.
	ErrOutside = errors.New("storage: name leads out of the home")
	// ErrTooMany is the error of an operation that would touch more objects than the backend does
	// in one step (Caps.MaxRenameObjects).
	ErrTooMany = errors.New("storage: too many objects")
	// ErrUnavailable is the error of a store that could not be reached or answered with a server
	// error: the operation may succeed if tried again.
	ErrUnavailable = errors.New("storage: store unavailable")
)

// Kind is what an entry is.
type Kind uint8

// Kinds of entries.
const (
	File Kind = iota + 1
	Dir
	Symlink
	Other // a device, pipe or socket: only the local disk has them
)

// Info describes one entry.
type Info struct {
	Name  string // the last element of its name
	Kind  Kind
	Size  int64 // bytes of a file; of a symbolic link, the length of its target's name; else 0
	Mode  fs.FileMode
	Mtime time.Time
	// Version changes whenever the content under the name may have changed (a new file, a
	// rename onto it): the local disk's device and inode numbers, an object's ETag. Checksum
	// records are trusted only while the size, modification time and version they were made
	// for are the file's.
	Version string
}

// IsDir reports whether the entry is a directory.
func (i Info) IsDir() bool { return i.Kind == Dir }

// Caps says what a backend can do; homefs picks its strategy from it.
type Caps struct {
	// AtomicRename: Rename moves a file or a whole directory in one step that nothing sees
	// half done. Without it a file is copied then deleted, and a directory object by object.
	AtomicRename bool
	// MaxRenameObjects is the most entries Rename moves when renaming a directory; a bigger
	// one is refused with ErrTooMany before anything moves. 0: no limit.
	MaxRenameObjects int
	// RandomWrites: a partial upload accepts writes at any offset (Partial.WriteAt) and can be
	// read back and truncated anywhere. Without it data must come in order, and homefs holds
	// pieces that arrive early.
	RandomWrites bool
	// ResumeUnit is the granularity of resumed uploads: an interrupted upload keeps a multiple
	// of it (the parts stored before the interruption), and a resume starts there. 1 for the
	// local disk, where every byte written is kept.
	ResumeUnit int64
	// Links: the backend has symbolic links (listed, never followed out of the home).
	Links bool
}

// Backend holds the homes of every account.
type Backend interface {
	// Caps says what the backend can do.
	Caps() Caps
	// OpenHome opens the home at the name home (relative, as an account stores it), creating it
	// if create is set and it is missing; otherwise a missing home is ErrNotExist.
	OpenHome(ctx context.Context, home string, create bool) (Home, error)
	// RemoveHome deletes the home and everything in it, unfinished uploads included. A missing
	// home is not an error.
	RemoveHome(ctx context.Context, home string) error
	// Close releases what the backend holds (connections); homes opened from it are unusable.
	Close() error
}

// Home is one home. Its methods may be called from several goroutines at once.
type Home interface {
	// Stat describes the entry at name; a symbolic link is followed, inside the home only.
	Stat(ctx context.Context, name string) (Info, error)
	// Lstat describes the entry at name; a symbolic link is described, not followed.
	Lstat(ctx context.Context, name string) (Info, error)
	// List calls fn with the entries of the directory name, a page at a time (at most
	// ListPage entries, in an order of the backend's), until there are no more or fn returns an
	// error, which List returns. A listing of any size costs the memory of one page.
	List(ctx context.Context, name string, fn func([]Info) error) error
	// Walk calls fn for every entry below the directory name (not name itself) with a nil
	// error, each directory before its contents, without following links. fn returns fs.SkipDir
	// to leave a directory's contents out, fs.SkipAll to stop. If a directory below name cannot
	// be read, fn is called a second time with its entry and the error: nil goes on without (the
	// rest of) it, anything else ends the walk with that error. The memory it holds grows with
	// the depth of the tree, not its size, and so does the work per entry unless fn asks for its
	// Path.
	Walk(ctx context.Context, name string, fn func(e WalkEntry, err error) error) error
	// Mkdir makes the directory name; its parent must exist. An existing entry is ErrExist.
	Mkdir(ctx context.Context, name string) error
	// Remove deletes the file, link or empty directory at name; a directory that is not empty
	// is ErrNotEmpty.
	Remove(ctx context.Context, name string) error
	// Rename moves from to to: a file replaces a file at to; a directory moves with everything
	// in it, and to must not exist. See Caps.AtomicRename and Caps.MaxRenameObjects.
	Rename(ctx context.Context, from, to string) error
	// Chtimes sets the modification time of the entry at name.
	Chtimes(ctx context.Context, name string, mtime time.Time) error
	// Open opens the file at name for reading.
	Open(ctx context.Context, name string) (Reader, error)
	// SyncName makes the entry name (a file just published or renamed) survive a crash, as far
	// as the backend makes anything durable: the local disk flushes its directory (or the
	// whole filesystem, which lets names flushed at once share one flush) when its Fsync option
	// is set; an object store has nothing to do.
	SyncName(ctx context.Context, name string) error

	// Partial creates, or with opts.Resume opens again, the unfinished upload id of the file
	// target (id is homefs's: one element, derived from target; target is the name Publish will
	// give it, which an object store uploads to directly). A resumed one holds what was stored
	// before (a multiple of Caps.ResumeUnit), and a missing one is made; a new one replaces any
	// other of the same id.
	Partial(ctx context.Context, id, target string, opts PartialOptions) (Partial, error)
	// Partials calls fn with the unfinished uploads of the home, a page at a time.
	Partials(ctx context.Context, fn func([]PartialInfo) error) error
	// StatPartial describes the unfinished upload id; a missing one is ErrNotExist.
	StatPartial(ctx context.Context, id string) (PartialInfo, error)
	// RemovePartial deletes the unfinished upload id; a missing one is ErrNotExist.
	RemovePartial(ctx context.Context, id string) error

	// Record returns the record kept with the file name (its checksum record): small data that
	// follows the file through Rename and goes when the file is removed or replaced. A record
	// is a cache: the caller keeps in it what tells whether it is still true of the file (size,
	// modification time, Version). A file without one is ErrNotExist.
	Record(ctx context.Context, name string) ([]byte, error)
	// SetRecord replaces the record of the file name.
	SetRecord(ctx context.Context, name string, data []byte) error

	// Meta reads the record key: small data the server keeps beside the files (descriptions
	// of unfinished uploads, checksum states), never visible to users. A missing record is
	// ErrNotExist.
	Meta(ctx context.Context, key string) ([]byte, error)
	// SetMeta writes the record key whole: a reader sees the old or the new data, never a mix.
	SetMeta(ctx context.Context, key string, data []byte) error
	// CreateMeta writes the record key whole if there is none: of several creators at once, in
	// one process or in several servers sharing the store, one succeeds and the others get an
	// error wrapping ErrExist and change nothing (a home's mark, which the servers must agree on).
	CreateMeta(ctx context.Context, key string, data []byte) error
	// RemoveMeta deletes the record key; a missing one is not an error.
	RemoveMeta(ctx context.Context, key string) error

	// Close releases the home.
	Close() error
}

// WalkEntry is an entry met by Home.Walk, valid only during the call of fn.
type WalkEntry interface {
	// Info describes the entry; its Name is the entry's own.
	Info() Info
	// Path is the entry's name relative to the home ("docs/a.txt"), built anew at each call.
	Path() string
	// Depth is how far below the walked directory the entry is: 1 for its own entries.
	Depth() int
}

// ListPage is the most entries a List or Partials page holds.
const ListPage = 1000

// Reader is a stored file open for reading. It keeps reading the content it was opened on even
// if the name is replaced meanwhile (the local disk keeps the file open; an object store reads
// the version it opened, and fails with ErrNotExist once that version is gone).
type Reader interface {
	io.ReaderAt
	io.Reader
	// Info describes the file as it was opened.
	Info() Info
	// Record returns the file's record (see Home.Record), as Home.Record would; ErrNotExist
	// when it has none.
	Record() ([]byte, error)
	Close() error
}

// Partial is an unfinished upload. Data goes in with Write (in order); with Caps.RandomWrites,
// WriteAt, ReadAt and Truncate work anywhere too. Publish makes it a file under a name in one
// step, so that nothing ever sees it half written; Close keeps it for a resume; Discard deletes
// it. Exactly one of the three must be called. A Partial is used by one goroutine at a time,
// except that with Caps.RandomWrites, WriteAt, ReadAt and Size may run on several at once.
type Partial interface {
	io.Writer
	// Size is how many bytes the partial upload holds: those of a resumed one, plus those
	// written since.
	Size() int64
	// WriteAt writes p at off (Caps.RandomWrites only; otherwise ErrInvalid unless off is
	// Size()).
	WriteAt(p []byte, off int64) (int, error)
	// ReadAt reads back what was written (Caps.RandomWrites only).
	ReadAt(p []byte, off int64) (int, error)
	// Truncate cuts the partial upload to n bytes (Caps.RandomWrites: any n; otherwise a
	// multiple of Caps.ResumeUnit).
	Truncate(n int64) error
	// Sync makes what was written survive a crash of the server, as far as the backend makes
	// anything durable (the local disk flushes only when its Fsync option is set): on the local
	// disk all of it; on an object store, the whole parts of Caps.ResumeUnit bytes, which a
	// resume on any node finds (the rest stays in memory until Publish, and a resume sends it
	// again).
	Sync() error
	// Publish makes the upload the file target, with the modification time mtime (unless
	// zero), replacing any file there, in one step; the partial upload is gone. record, if not
	// nil, is called with the file as it is published and returns its record (see Home.Record;
	// nil for none). Data written since the last Sync is made durable first (when the backend
	// syncs); the new name is durable once Home.SyncName returns. It fails with ErrNotExist if
	// target's directory is missing and ErrIsDir if a directory has its name; a failed Publish
	// leaves the upload closed (as by Close), kept for a resume.
	Publish(ctx context.Context, mtime time.Time, record func(Info) []byte) (Info, error)
	// Close stops the upload, keeping what Sync stored (on the local disk, everything written)
	// for a resume.
	Close() error
	// Discard stops the upload and deletes it.
	Discard() error
}

// PartialOptions are how Home.Partial starts an upload.
type PartialOptions struct {
	// Resume continues the unfinished upload of the same id and target, if there is one.
	Resume bool
	// Mtime is the modification time the file will most likely be published with, if it is
	// known when the upload begins: an object store keeps it from the start, so that Publish
	// with the same time needs no copy.
	Mtime time.Time
}

// PartialInfo describes an unfinished upload.
type PartialInfo struct {
	ID     string
	Target string    // the name it will be published as
	Size   int64     // bytes a resume would keep
	Mtime  time.Time // when it last grew
}

// CheckName refuses, with ErrInvalid, a name that is not clean, relative, valid UTF-8 and inside
// the home on this system (filepath.IsLocal: on Windows, names such as "NUL" or "a:b" are not):
// every backend checks the names it is given with it, so that a bug above cannot reach outside a
// home.
func CheckName(name string) error {
	if name == "." {
		return nil
	}
	if name == "" || path.Clean(name) != name || path.IsAbs(name) || name == ".." ||
		strings.HasPrefix(name, "../") || strings.ContainsAny(name, "\\\x00") ||
		!utf8.ValidString(name) || !filepath.IsLocal(filepath.FromSlash(name)) {
		return &fs.PathError{Op: "check", Path: name, Err: ErrInvalid}
	}
	return nil
}
