package homefs

import (
	"context"
	"errors"
	"io/fs"
	"path"
	"strings"
	"time"

	"github.com/myftp/myftp/lib/storage"
)

// FS is one session's view of a home: the home appears as "/", and the session has its own current
// directory. Its methods may be called from several goroutines at once (the channels of an SFTP
// session are served in parallel), except Chdir, which must not run beside anything else;
// several FS values on the same home (sessions of one account) share its quota accounting.
type FS struct {
	store *Store
	h     *home
	home  storage.Home
	cwd   string // virtual, always clean and absolute
	// stream is the checksum of the streams this FS receives (SetStreamChecksum); "": the store's.
	stream string
}

// Close releases the home. An upload still open on it should be aborted first.
func (f *FS) Close() error { return f.home.Close() }

// ctx is the context of the backend's operations.
func (f *FS) ctx() context.Context { return context.Background() }

// Pwd returns the current directory as the user sees it: "/" or "/docs/2024".
func (f *FS) Pwd() string { return f.cwd }

// Entry describes one file or directory.
type Entry struct {
	Name     string
	Type     byte // 'f' file, 'd' directory, 'l' symbolic link, 'o' other
	Size     int64
	Mode     string // like ls -l: "drwx------"
	FileMode fs.FileMode
	Mtime    time.Time
}

// Info returns the entry as an fs.FileInfo (for the FTP and SFTP engines).
func (e Entry) Info() fs.FileInfo { return entryInfo{e} }

type entryInfo struct{ e Entry }

func (i entryInfo) Name() string       { return i.e.Name }
func (i entryInfo) Size() int64        { return i.e.Size }
func (i entryInfo) Mode() fs.FileMode  { return i.e.FileMode }
func (i entryInfo) ModTime() time.Time { return i.e.Mtime }
func (i entryInfo) IsDir() bool        { return i.e.Type == 'd' }
func (i entryInfo) Sys() any           { return nil }

func entryOf(name string, i storage.Info) Entry {
	return Entry{Name: name, Size: i.Size, Mtime: i.Mtime, Mode: modeString(i.Mode), FileMode: i.Mode, Type: typeOf(i.Kind)}
}

// typeOf is the Entry.Type of a kind of entry.
func typeOf(k storage.Kind) byte {
	switch k {
	case storage.File:
		return 'f'
	case storage.Dir:
		return 'd'
	case storage.Symlink:
		return 'l'
	}
	return 'o'
}

// modeString renders a mode as ls -l does: a type letter and nine permission letters.
func modeString(m fs.FileMode) string {
	t := byte('-')
	switch {
	case m.IsDir():
		t = 'd'
	case m&fs.ModeSymlink != 0:
		t = 'l'
	case m&fs.ModeNamedPipe != 0:
		t = 'p'
	case m&fs.ModeSocket != 0:
		t = 's'
	case m&fs.ModeDevice != 0:
		t = 'b'
	}
	b := []byte{t}
	const rwx = "rwxrwxrwx"
	for i := range 9 {
		if m.Perm()&(1<<(8-i)) != 0 {
			b = append(b, rwx[i])
		} else {
			b = append(b, '-')
		}
	}
	return string(b)
}

// Chdir changes the current directory and returns the new one. With p == "" it goes to "/". ".."
// at "/" stays at "/".
func (f *FS) Chdir(p string) (string, error) {
	if p == "" {
		p = "/"
	}
	rel, vpath, err := resolve(f.cwd, p, true)
	if err != nil {
		return "", err
	}
	fi, err := f.home.Stat(f.ctx(), rel)
	if err != nil {
		return "", wrapOS(err, vpath)
	}
	if !fi.IsDir() {
		return "", newErr(ErrNotDir, vpath, "")
	}
	f.cwd = vpath
	return vpath, nil
}

// Stat describes the file or directory at p (following symbolic links that stay in the home).
func (f *FS) Stat(p string) (Entry, error) {
	rel, vpath, err := resolve(f.cwd, p, false)
	if err != nil {
		return Entry{}, err
	}
	fi, err := f.home.Stat(f.ctx(), rel)
	if err != nil {
		return Entry{}, wrapOS(err, vpath)
	}
	return entryOf(path.Base(vpath), fi), nil
}

// List calls fn for each entry of the directory at p (the current directory if p is ""), in
// the backend's order, a page at a time: a listing uses memory for one page, whatever the size of
// the directory. For a file, fn is called once with the file itself. Symbolic links are listed as
// links, not followed. With long unset, only Name and Type are filled.
func (f *FS) List(p string, long bool, fn func(Entry) error) error {
	if p == "" {
		p = "."
	}
	rel, vpath, err := resolve(f.cwd, p, false)
	if err != nil {
		return err
	}
	fi, err := f.home.Stat(f.ctx(), rel)
	if err != nil {
		return wrapOS(err, vpath)
	}
	short := func(e Entry) Entry {
		if long {
			return e
		}
		return Entry{Name: e.Name, Type: e.Type}
	}
	if !fi.IsDir() {
		return fn(short(entryOf(path.Base(vpath), fi)))
	}
	var fnErr error
	err = f.home.List(f.ctx(), rel, func(page []storage.Info) error {
		for _, i := range page {
			if err := fn(short(entryOf(i.Name, i))); err != nil {
				fnErr = err
				return err
			}
		}
		return nil
	})
	if fnErr != nil {
		return fnErr
	}
	return wrapOS(err, vpath)
}

// Mkdir creates the directory p and returns its virtual path. With parents, missing parents are
// created too and an existing directory is not an error (mkdir -p).
func (f *FS) Mkdir(p string, parents bool) (string, error) {
	rel, vpath, err := resolve(f.cwd, p, false)
	if err != nil {
		return "", err
	}
	if rel == "." {
		if parents {
			return vpath, nil
		}
		return "", newErr(ErrExists, vpath, "")
	}
	// Under h.mu, as Rename is: a directory made in one that Rename has found small enough to
	// move could otherwise end deeper than MaxDepth. And the file count must see every one.
	f.h.mu.Lock()
	defer f.h.mu.Unlock()
	before := f.missingDirs(rel)
	missing := before
	if !parents {
		missing = min(missing, 1) // the parent is there, or Mkdir fails
	}
	if missing > 0 {
		if err := f.change(vpath, Counts{Files: missing}, f.entriesLimit(Limits{}, missing, false), 0); err != nil {
			return "", err
		}
	}
	if parents {
		err = f.mkdirAll(rel)
	} else {
		err = f.home.Mkdir(f.ctx(), rel)
	}
	f.settle(Counts{Files: before - f.missingDirs(rel) - missing}) // what was made, even if not all of it
	return vpath, wrapOS(err, vpath)
}

// mkdirAll makes the directory rel and its missing parents, from the top.
func (f *FS) mkdirAll(rel string) error {
	var missing []string
	for p := rel; p != "."; p = path.Dir(p) {
		fi, err := f.home.Stat(f.ctx(), p)
		if err == nil {
			switch {
			case fi.IsDir():
			case p == rel:
				return &fs.PathError{Op: "mkdir", Path: p, Err: fs.ErrExist}
			default:
				return &fs.PathError{Op: "mkdir", Path: p, Err: storage.ErrNotDir}
			}
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		missing = append(missing, p)
	}
	for i := len(missing) - 1; i >= 0; i-- {
		if err := f.home.Mkdir(f.ctx(), missing[i]); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
	}
	return nil
}

// missingDirs returns how many directories MkdirAll would make for rel: rel and its parents up to
// the first that exists. h.mu is held.
func (f *FS) missingDirs(rel string) int64 {
	var n int64
	for p := rel; p != "."; p = path.Dir(p) {
		if _, err := f.home.Lstat(f.ctx(), p); err == nil {
			break
		}
		n++
	}
	return n
}

// Rmdir removes the empty directory p.
func (f *FS) Rmdir(p string) error {
	rel, vpath, err := resolve(f.cwd, p, false)
	if err != nil {
		return err
	}
	if rel == "." {
		return newErr(ErrPermission, vpath, "the home directory cannot be removed")
	}
	f.h.mu.Lock()
	defer f.h.mu.Unlock()
	fi, err := f.home.Lstat(f.ctx(), rel)
	if err != nil {
		return wrapOS(err, vpath)
	}
	if !fi.IsDir() {
		return newErr(ErrNotDir, vpath, "")
	}
	if err := f.home.Remove(f.ctx(), rel); err != nil {
		return wrapOS(err, vpath)
	}
	f.settle(Counts{Files: -1})
	return nil
}

// Remove deletes the file (or symbolic link) p and frees its space at once. A name that has only
// an unfinished upload (see StatHeld) loses that upload.
func (f *FS) Remove(p string) error {
	rel, vpath, err := resolve(f.cwd, p, false)
	if err != nil {
		return err
	}
	// Lock before looking: an upload committing meanwhile could replace the file with one of
	// another size, and the count must drop by the size of the file actually removed.
	f.h.mu.Lock()
	defer f.h.mu.Unlock()
	fi, err := f.home.Lstat(f.ctx(), rel)
	if errors.Is(err, fs.ErrNotExist) && f.removeUnfinished(rel) {
		return nil
	}
	if err != nil {
		return wrapOS(err, vpath)
	}
	if fi.IsDir() {
		return newErr(ErrIsDir, vpath, "use rmdir")
	}
	if err := f.home.Remove(f.ctx(), rel); err != nil {
		return wrapOS(err, vpath)
	}
	d := Counts{Files: -1}
	if fi.Kind == storage.File {
		d.Bytes = -fi.Size
	}
	sls, credit := f.h.revoking(rel)
	d.Reserved = credit
	c, ok := f.settle(d)
	f.h.revoke(sls, credit, c, ok)
	return nil
}

// removeUnfinished deletes the unfinished upload of rel, a name that has nothing else, unless it
// is in progress, and reports whether there was one. h.mu is held.
func (f *FS) removeUnfinished(rel string) bool {
	if f.h.uploading[rel] != nil {
		return false
	}
	p, err := f.home.StatPartial(f.ctx(), key(rel))
	return err == nil && f.h.dropPartial(f, p)
}

// Rename moves from to to, both inside the home. An existing file at to is replaced (its space is
// freed); an existing directory at to is an error.
func (f *FS) Rename(from, to string) error {
	relFrom, vFrom, err := resolve(f.cwd, from, false)
	if err != nil {
		return err
	}
	relTo, vTo, err := resolve(f.cwd, to, false)
	if err != nil {
		return err
	}
	if relFrom == "." || relTo == "." {
		return newErr(ErrPermission, "/", "the home directory cannot be renamed")
	}
	f.h.mu.Lock()
	defer f.h.mu.Unlock()
	src, err := f.home.Lstat(f.ctx(), relFrom)
	if err != nil {
		return wrapOS(err, vFrom)
	}
	var freed, replaced int64
	if dst, err := f.home.Lstat(f.ctx(), relTo); err == nil {
		if dst.IsDir() {
			return newErr(ErrExists, vTo, "a directory is in the way")
		}
		if src.IsDir() {
			return newErr(ErrNotDir, vTo, "cannot replace a file with a directory")
		}
		if relFrom != relTo && (src.Version == "" || src.Version != dst.Version) { // a file onto itself (or a link to it) frees nothing
			replaced = 1
			if dst.Kind == storage.File {
				freed = dst.Size
			}
		}
	}
	if src.IsDir() {
		if err := f.fitsAt(relFrom, vFrom, vTo); err != nil {
			return err
		}
	}
	if err := f.home.Rename(f.ctx(), relFrom, relTo); err != nil {
		switch {
		case errors.Is(err, fs.ErrNotExist): // the source is there (Lstat above): the target's directory is not
			return wrapOS(err, path.Dir(vTo))
		case errors.Is(err, storage.ErrOutside): // the source resolved inside the home (Lstat above): the target does not
			return wrapOS(err, vTo)
		case errors.Is(err, storage.ErrTooMany):
			return &Error{Kind: ErrPermission, Path: vFrom, Detail: "the directory holds too many files to be renamed on this server's storage", Err: err}
		}
		return wrapOS(err, vFrom)
	}
	rels := []string{relFrom, relTo}
	if src.IsDir() { // uploads replacing files in the directory lose those files too
		for rel := range f.h.uploading {
			if strings.HasPrefix(rel, relFrom+"/") {
				rels = append(rels, rel)
			}
		}
	}
	sls, credit := f.h.revoking(rels...)
	c, ok := f.settle(Counts{Bytes: -freed, Files: -replaced, Reserved: credit})
	f.h.revoke(sls, credit, c, ok)
	return nil
}

// fitsAt refuses to move the directory rel (vFrom to the user) to vTo if a path in it would then
// be longer than MaxPathLen or deeper than MaxDepth. It walks the directory no further than the
// first path that would be; h.mu is held.
func (f *FS) fitsAt(rel, vFrom, vTo string) error {
	room := MaxPathLen - len(vTo) - 1 // for the path inside, after a separator
	levels := MaxDepth - strings.Count(vTo, "/")
	var tooBig error
	prefix := len(rel) + 1
	err := f.home.Walk(f.ctx(), rel, func(e storage.WalkEntry, err error) error {
		switch {
		case err != nil:
			return err // what cannot be read cannot be measured
		case e.Depth() > levels:
			tooBig = newErr(ErrInvalidPath, vTo, "a path in the directory would be more than 256 levels deep")
		case len(e.Path())-prefix > room: // built only this deep: at most 256 levels
			tooBig = newErr(ErrInvalidPath, vTo, "a path in the directory would be longer than 4096 bytes")
		default:
			return nil
		}
		return fs.SkipAll
	})
	if err != nil {
		return wrapOS(err, vFrom)
	}
	return tooBig
}

// Chtimes sets the modification time of the file or directory p (FTP's MFMT, SFTP's setstat).
// The file keeps its content, and its recorded checksums stay true of it.
func (f *FS) Chtimes(p string, mtime time.Time) error {
	rel, vpath, err := resolve(f.cwd, p, false)
	if err != nil {
		return err
	}
	if rel == "." {
		return newErr(ErrPermission, vpath, "the home directory keeps its time")
	}
	f.h.mu.Lock()
	defer f.h.mu.Unlock()
	before, err := f.home.Stat(f.ctx(), rel)
	if err != nil {
		return wrapOS(err, vpath)
	}
	// The content does not change: a file's checksum record stays true under its new time (FTP
	// clients date an upload with MFMT once it is stored).
	var rec sumRecord
	kept := false
	if before.Kind == storage.File {
		rec, kept = f.loadRecord(rel, before)
	}
	if err := f.home.Chtimes(f.ctx(), rel, mtime); err != nil {
		return wrapOS(err, vpath)
	}
	if after, err := f.home.Stat(f.ctx(), rel); err == nil && kept && after.Size == before.Size {
		rec.Mtime, rec.Version = after.Mtime, after.Version
		f.saveRecord(rel, rec)
	}
	return nil
}

// Usage returns the bytes used by the home (files and partial uploads) and its quota.
func (f *FS) Usage() (used, quota int64) {
	f.h.mu.Lock()
	defer f.h.mu.Unlock()
	return f.counts().Bytes, f.h.quota.Load()
}

// SetQuota updates the home's quota (an account's quota may change while its sessions run). A quota
// below the current use blocks new uploads but deletes nothing.
func (f *FS) SetQuota(quota int64) { f.h.quota.Store(quota) }

// FileCount returns how many entries the home holds (files, directories, symbolic links and other
// entries, each unfinished upload counting two: its data and its description) and how many it
// may hold.
func (f *FS) FileCount() (files, maxFiles int64) {
	f.h.mu.Lock()
	defer f.h.mu.Unlock()
	return f.counts().Files, f.maxFiles()
}

// SetMaxFiles sets the home's file count quota, for every session of the home; 0 means the
// store's Options.DefaultMaxFiles. Like SetQuota, a limit below the current count blocks new
// entries but deletes nothing.
func (f *FS) SetMaxFiles(n int64) { f.h.maxFiles.Store(max(n, 0)) }

// maxFiles is the home's file count quota.
func (f *FS) maxFiles() int64 {
	if n := f.h.maxFiles.Load(); n > 0 {
		return n
	}
	return f.store.opts.DefaultMaxFiles
}
