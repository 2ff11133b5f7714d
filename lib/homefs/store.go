// Package homefs is a user's jailed file tree: every path a user names is resolved inside the home
// directory and every file operation goes through an *os.Root opened on it, so "..", absolute paths
// and symbolic links cannot leave it. It also keeps each home's quota accounting, unfinished
// uploads and checksum records.
//
// A Store holds the state shared by all sessions of all accounts (usage, reservations, uploads in
// progress); an FS is one session's view of one home, with its own current directory.
//
// Inside each home, the directory ".myftp" belongs to the server: partial/ holds unfinished uploads
// (KEY, and KEY.json describing it once it holds a MiB or stops unfinished; KEY is derived from the
// target path), and sums/ holds the states that speed up resumes of large files (KEY.states) and,
// where the filesystem keeps no extended attributes, the checksum records of stored files
// (KEY.json). Elsewhere a file's record is its extended attribute user.myftp.sums, which follows
// it through renames. Records are checked against the file's size, modification time and identity
// before use. Users cannot list, name or download anything in .myftp; its partial uploads count
// toward the quota.
//
// A home has two quotas: bytes (of files and unfinished uploads) and entries (files, directories,
// links, anything that takes an inode; an unfinished upload counts two, its data and its
// description, whether or not the description is written yet). It also keeps at most
// Options.MaxPartials unfinished uploads.
package homefs

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/myftp/myftp/lib/checksum"
	"github.com/myftp/myftp/lib/durable"
	"github.com/myftp/myftp/lib/storage/local"
)

// Options configure a Store.
type Options struct {
	// Fsync makes every finished upload reach stable storage before it is renamed into place,
	// and the rename before the upload is reported stored. Uploads that finish at about the same
	// time, in any homes, share the flushes (package durable).
	Fsync bool
	// PartialTTL is how long an unfinished upload is kept for resuming. Zero means 7 days.
	PartialTTL time.Duration
	// Now returns the current time; nil means time.Now. Tests set it to age partial uploads.
	Now func() time.Time
	// FormatSize renders sizes in error messages; nil means plain byte counts.
	FormatSize func(int64) string
	// WrapWriter, if set, wraps the file every upload writes to. Tests use it to inject write
	// errors such as a full disk.
	WrapWriter func(io.Writer) io.Writer
	// StreamChecksum is the checksum algorithm (package checksum) the server computes and records
	// for uploads of unknown size (FTP, SFTP), where the client sends none. Empty means sha256,
	// which FTP clients ask HASH for.
	StreamChecksum string
	// StateEvery is how far apart the md5 states kept for resumes are (see FS.PrefixMD5): a
	// resume reads at most this much of a file to check a prefix. Zero means 64 MiB.
	StateEvery int64
	// DefaultMaxFiles is the file count quota of a home whose account sets none (see
	// FS.SetMaxFiles): the most files, directories and other entries it may hold, each
	// unfinished upload counting two. Zero means 100,000.
	DefaultMaxFiles int64
	// MaxPartials is the most unfinished uploads a home keeps, those in progress included: a new
	// one beyond it is refused with ErrQuota. Zero means 100.
	MaxPartials int64
	// Log receives what the server's administrator should know and the user need not: a home
	// that could not be marked as measured (a full disk), partial uploads that could not be
	// expired. Nil discards it.
	Log *slog.Logger
}

// Store manages the homes under one directory. It is safe for concurrent use.
type Store struct {
	base    string
	opts    Options
	durable *durable.Syncer // flushes finished uploads, in groups
	noTags  bool            // keep checksum records in .myftp/sums only (tests of filesystems without xattrs)

	mu    sync.Mutex
	homes map[string]*home // by home path relative to base
}

// home is the state of one home shared by all its sessions.
type home struct {
	rel string // relative to the store's base
	dir string // absolute

	mu       sync.Mutex
	loaded   bool
	token    string      // content of .myftp/id when the home was measured; "" if it could not be written
	dirInfo  fs.FileInfo // of the home directory when it was measured
	used     int64       // bytes of files and partial uploads
	reserved int64       // bytes promised to uploads in progress
	quota    int64       // from the account, refreshed at every Open
	// files counts the entries of the home's tree (files, directories, links, anything with an
	// inode) and those of .myftp/partial (each unfinished upload's data and description), which
	// partials counts alone. Uploads in progress hold their two entries from their claim on.
	files, partials int64
	maxFiles        int64            // from the account (SetMaxFiles); 0: the store's default
	uploading       map[string]*slot // uploads in progress, by relative path
}

// NewStore returns a Store for the homes under base.
func NewStore(base string, opts Options) *Store {
	if opts.PartialTTL <= 0 {
		opts.PartialTTL = 7 * 24 * time.Hour
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.StreamChecksum == "" {
		opts.StreamChecksum = checksum.SHA256
	}
	if opts.StateEvery <= 0 {
		opts.StateEvery = 64 << 20
	}
	if opts.FormatSize == nil {
		opts.FormatSize = func(n int64) string { return fmt.Sprintf("%d bytes", n) }
	}
	if opts.DefaultMaxFiles <= 0 {
		opts.DefaultMaxFiles = 100_000
	}
	if opts.MaxPartials <= 0 {
		opts.MaxPartials = 100
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	return &Store{base: base, opts: opts, durable: durable.New(), homes: map[string]*home{}}
}

// Open returns a session's view of the home at homeRel (relative to the store's base, as stored in
// the account), creating the directory (mode 0700) if it is missing. quota is the account's current
// quota in bytes; its file count quota is the one last set with SetMaxFiles on the home, else the
// store's default. The first Open of a home since the Store was made measures its usage with one
// walk of the tree; later ones reuse the running count. Every Open removes partial uploads older
// than the TTL.
//
// Open needs no new file or directory in a home that exists: if the mark that tells a measured
// home from one made anew (.myftp/id) cannot be written, a full disk for instance, the home is
// measured again at its next Open, and the failure is logged (Options.Log).
func (s *Store) Open(homeRel string, quota int64) (*FS, error) {
	h, err := s.home(homeRel)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(h.dir, 0o700); err != nil {
		return nil, fmt.Errorf("create home %s: %w", homeRel, err)
	}
	root, err := os.OpenRoot(h.dir)
	if err != nil {
		return nil, fmt.Errorf("open home %s: %w", homeRel, err)
	}
	f := &FS{store: s, h: h, root: root, cwd: "/"}
	if err := h.load(root, quota, s); err != nil {
		root.Close()
		return nil, err
	}
	return f, nil
}

func (s *Store) home(homeRel string) (*home, error) {
	rel := filepath.ToSlash(filepath.Clean(filepath.FromSlash(homeRel)))
	if !filepath.IsLocal(filepath.FromSlash(rel)) || rel == "." {
		return nil, fmt.Errorf("home %q: not a relative path inside %s", homeRel, s.base)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.homes[rel]
	if h == nil {
		h = &home{rel: rel, dir: filepath.Join(s.base, filepath.FromSlash(rel)), uploading: map[string]*slot{}}
		s.homes[rel] = h
	}
	return h, nil
}

// load sets the quota, measures usage the first time, and expires old partial uploads. It fails
// only if the home cannot be measured.
func (h *home) load(root *os.Root, quota int64, s *Store) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.quota = quota
	if h.loaded && !h.current(root) {
		h.loaded = false
	}
	if !h.loaded {
		u, partials, err := scan(root)
		if err != nil {
			return fmt.Errorf("measure home %s: %w", h.rel, err)
		}
		h.orphanUploads()
		h.used, h.files, h.partials, h.loaded = u.Bytes, u.Files, partials, true
		h.dirInfo, _ = root.Stat(".")
		if h.token, err = writeToken(root); err != nil {
			h.token = ""
			s.opts.Log.Warn("home measured but not marked; it is measured again at its next login", "home", h.rel, "err", err)
		}
	}
	if err := h.expirePartials(root, s.opts.Now().Add(-s.opts.PartialTTL)); err != nil {
		s.opts.Log.Warn("expire partial uploads", "home", h.rel, "err", err)
	}
	return nil
}

// current reports whether the running count is still the home's. A home removed and made again
// (an account deleted with its files and created anew) has lost the token written when it was
// measured: it is measured again, and uploads still running into the old one are cut off from
// the new count. A home whose token could not be written is measured again too, unless uploads
// are running into it and it is still the same directory: measuring it under them would count
// their data twice. h.mu is held.
func (h *home) current(root *os.Root) bool {
	if h.token == "" {
		fi, err := root.Stat(".")
		return len(h.uploading) > 0 && err == nil && h.dirInfo != nil && os.SameFile(fi, h.dirInfo)
	}
	token, err := root.ReadFile(tokenPath)
	return err == nil && string(token) == h.token
}

// Usage is what a home holds against its quotas.
type Usage struct {
	// Bytes is the size of its regular files and unfinished uploads.
	Bytes int64
	// Files is the number of its files, directories, symbolic links and other entries, each
	// unfinished upload counting two (its data and its description).
	Files int64
}

// Measure returns what the home directory dir holds against its quotas, counted as a server
// counts it when it opens the home: entries and the sizes of regular files (symbolic links are
// not followed) and, of the reserved .myftp directory at its top, only unfinished uploads. It
// changes nothing (a missing dir is an error wrapping fs.ErrNotExist), and a dir that is itself a
// symbolic link is not followed either: it holds nothing. Its memory grows with the depth of the
// tree, not its square (see local.WalkTree), so a tree deeper than users can make is counted too.
func Measure(dir string) (Usage, error) {
	if fi, err := os.Lstat(dir); err != nil {
		return Usage{}, fmt.Errorf("disk usage: %w", err)
	} else if fi.Mode()&fs.ModeSymlink != 0 {
		return Usage{}, nil
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return Usage{}, fmt.Errorf("disk usage: %w", err)
	}
	defer root.Close()
	u, _, err := scan(root)
	return u, err
}

// DiskUsage returns the bytes that Measure counts.
func DiskUsage(dir string) (int64, error) {
	u, err := Measure(dir)
	return u.Bytes, err
}

// scan measures the home in one walk, without following symbolic links: every entry counts one
// file and a regular file its size, except in the reserved directory, where only the entries of
// partial/ count (an unfinished upload's data, with its size, and its description), which
// partials counts alone. A directory that cannot be read is left out of the count; only the home
// itself must be readable.
func scan(root *os.Root) (u Usage, partials int64, err error) {
	err = local.WalkTree(root, ".", func(e local.WalkEntry, err error) error {
		switch {
		case err != nil:
			return nil // an unreadable corner does not stop the count (its entry was counted)
		case e.Depth() == 1 && e.Name() == reserved:
			return nil // a directory is looked into; a file does not count
		case e.Depth() == 2 && e.Ancestor(0) == reserved:
			if e.Name() == partialDir && e.IsDir() {
				return nil
			}
			return skipDirs(e) // the id and the md5 records are the server's
		case e.Depth() == 3 && e.Ancestor(0) == reserved: // in partial/, the only directory looked into
			partials++
			u.Files++
			if !strings.HasSuffix(e.Name(), ".json") {
				u.Bytes += bytesOf(e)
			}
			return skipDirs(e)
		}
		u.Files++
		u.Bytes += bytesOf(e)
		return nil
	})
	return u, partials, err
}

// bytesOf is the size of e if it is a regular file, else 0.
func bytesOf(e local.WalkEntry) int64 {
	if !e.Type().IsRegular() {
		return 0
	}
	n, _ := e.Size()
	return n
}

// skipDirs keeps a walk out of e if it is a directory.
func skipDirs(e local.WalkEntry) error {
	if e.IsDir() {
		return fs.SkipDir
	}
	return nil
}

// expireBatch is how many entries of .myftp/partial expirePartials reads at a time.
const expireBatch = 256

// expirePartials removes partial uploads last written before cutoff and not in progress, and
// returns their space and their entries. It reads the directory in batches: a home keeps at most
// Options.MaxPartials unfinished uploads, but one filled before that limit existed may hold many
// more until they expire. h.mu is held.
func (h *home) expirePartials(root *os.Root, cutoff time.Time) error {
	dir, err := root.Open(path.Join(reserved, partialDir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("expire partial uploads: %w", err)
	}
	defer dir.Close()
	for {
		names, err := dir.Readdirnames(expireBatch)
		for _, n := range names {
			h.expire(root, path.Join(reserved, partialDir, n), cutoff)
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("expire partial uploads: %w", err)
		}
	}
}

// expire removes the partial upload p (or, for a .json, the description of a partial upload whose
// data is gone) if it was last written before cutoff and is not in progress. h.mu is held.
func (h *home) expire(root *os.Root, p string, cutoff time.Time) {
	if strings.HasSuffix(p, ".json") {
		h.expireOrphanMeta(root, p, cutoff)
		return
	}
	meta, _ := readMeta(root, p+".json")
	fi, err := root.Lstat(p)
	if err != nil || fi.ModTime().After(cutoff) || h.uploading[meta.Path] != nil {
		return
	}
	if _, _, ok := h.uploadingKey(path.Base(p)); ok { // in progress, not described yet
		return
	}
	// A complete upload whose commit failed or was cut by a crash carries the source's time,
	// maybe years old; its description was written when the upload began.
	if mi, err := root.Lstat(p + ".json"); err == nil && mi.ModTime().After(cutoff) {
		return
	}
	h.dropPartial(root, p, fi)
}

// dropPartial removes the partial upload p (relative to root), whose data file fi describes, and
// then its description, takes what they held out of the counts, and reports whether the data file
// was removed. h.mu is held.
func (h *home) dropPartial(root *os.Root, p string, fi fs.FileInfo) bool {
	if root.Remove(p) != nil {
		return false
	}
	if fi.Mode().IsRegular() {
		h.used -= fi.Size()
	}
	h.countPartial(-1)
	if root.Remove(p+".json") == nil {
		h.countPartial(-1)
	}
	return true
}

// countPartial adds n entries of .myftp/partial to the counts (takes them out for n < 0). h.mu is
// held.
func (h *home) countPartial(n int64) {
	h.files += n
	h.partials += n
}

// expireOrphanMeta removes the description p of a partial upload whose data file is gone (a crash
// between the two files' creation or removal left it) once it is older than cutoff.
func (h *home) expireOrphanMeta(root *os.Root, p string, cutoff time.Time) {
	if _, err := root.Lstat(strings.TrimSuffix(p, ".json")); !errors.Is(err, fs.ErrNotExist) {
		return
	}
	mi, err := root.Lstat(p)
	if meta, _ := readMeta(root, p); err != nil || mi.ModTime().After(cutoff) || h.uploading[meta.Path] != nil {
		return
	}
	if root.Remove(p) == nil {
		h.countPartial(-1)
	}
}

const (
	partialDir = "partial"
	sumsDir    = "sums"
	tokenPath  = reserved + "/id" // written when a home is measured
)

// writeToken marks a measured home with a fresh random token and returns it.
func writeToken(root *os.Root) (string, error) {
	var b [16]byte
	rand.Read(b[:])
	token := hex.EncodeToString(b[:])
	if err := root.MkdirAll(reserved, 0o700); err != nil {
		return "", err
	}
	return token, root.WriteFile(tokenPath, []byte(token), 0o600)
}

// partialMeta is stored beside an unfinished upload as KEY.json.
type partialMeta struct {
	Path  string    `json:"path"`  // target, relative to the home
	Size  int64     `json:"size"`  // declared by the client; -1 for a stream
	Mtime time.Time `json:"mtime"` // of the client's source file
	// Algo, Every and States are the checksum states of the data the partial file holds (see
	// stateHash), written when an upload stops, once that data is on disk.
	Algo   string   `json:"algo,omitempty"`
	Every  int64    `json:"every,omitempty"`
	States []string `json:"states,omitempty"`
}

// saveStates records in the description of the partial file of rel the md5 states of its first n
// bytes, after making them durable when the store syncs. Best effort: without states, a resume
// hashes the whole prefix.
func (f *FS) saveStates(file *os.File, rel string, h hash.Hash, n int64) {
	sh, ok := h.(*stateHash)
	if !ok || n < sh.every || file == nil {
		return
	}
	if f.store.opts.Fsync && f.store.durable.Sync(file) != nil {
		return
	}
	p := key(rel) + ".json"
	meta, err := readMeta(f.partials, p)
	if err != nil || meta.Path != rel {
		return
	}
	meta.Algo, meta.Every, meta.States = sh.algo, sh.every, sh.encoded(n)
	if data, err := json.Marshal(meta); err == nil {
		f.partials.WriteFile(p, data, 0o600)
	}
}

func readMeta(root *os.Root, p string) (partialMeta, error) {
	var m partialMeta
	data, err := root.ReadFile(p)
	if err != nil {
		return m, err
	}
	return m, json.Unmarshal(data, &m)
}
