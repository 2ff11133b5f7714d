// Package homefs is a user's jailed file tree: every path a user names is resolved inside the home
// directory and every file operation goes through an *os.Root opened on it, so "..", absolute paths
// and symbolic links cannot leave it. It also keeps each home's quota accounting, unfinished
// uploads and md5 records.
//
// A Store holds the state shared by all sessions of all accounts (usage, reservations, uploads in
// progress); an FS is one session's view of one home, with its own current directory.
//
// Inside each home, the directory ".myftp" belongs to the server: partial/ holds unfinished uploads
// (KEY and KEY.json, where KEY is derived from the target path) and sums/ holds the md5 of every
// stored file (KEY.json, checked against the file's size and modification time before use).
// Users cannot list, name or download anything in it; its partial uploads count toward the quota.
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
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Options configure a Store.
type Options struct {
	// Fsync makes every finished upload reach stable storage before it is renamed into place.
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
	// StateEvery is how far apart the md5 states kept for resumes are (see FS.PrefixMD5): a
	// resume reads at most this much of a file to check a prefix. Zero means 64 MiB.
	StateEvery int64
}

// Store manages the homes under one directory. It is safe for concurrent use.
type Store struct {
	base string
	opts Options

	mu    sync.Mutex
	homes map[string]*home // by home path relative to base
}

// home is the state of one home shared by all its sessions.
type home struct {
	rel string // relative to the store's base
	dir string // absolute

	mu        sync.Mutex
	loaded    bool
	token     string           // content of .myftp/id when the home was measured
	used      int64            // bytes of files and partial uploads
	reserved  int64            // bytes promised to uploads in progress
	quota     int64            // from the account, refreshed at every Open
	uploading map[string]*slot // uploads in progress, by relative path
}

// NewStore returns a Store for the homes under base.
func NewStore(base string, opts Options) *Store {
	if opts.PartialTTL <= 0 {
		opts.PartialTTL = 7 * 24 * time.Hour
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.StateEvery <= 0 {
		opts.StateEvery = 64 << 20
	}
	if opts.FormatSize == nil {
		opts.FormatSize = func(n int64) string { return fmt.Sprintf("%d bytes", n) }
	}
	return &Store{base: base, opts: opts, homes: map[string]*home{}}
}

// Open returns a session's view of the home at homeRel (relative to the store's base, as stored in
// the account), creating the directory (mode 0700) if it is missing. quota is the account's current
// quota. The first Open of a home since the Store was made measures its usage with one walk of the
// tree; later ones reuse the running count. Every Open removes partial uploads older than the TTL.
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

// load sets the quota, measures usage the first time, and expires old partial uploads.
func (h *home) load(root *os.Root, quota int64, s *Store) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.quota = quota
	// A home removed and made again (an account deleted with its files and created anew) has
	// lost the token written when it was measured, so it is measured again, and uploads still
	// running into the old one are cut off from the new count; otherwise the running count
	// stands.
	if h.loaded {
		if token, err := root.ReadFile(tokenPath); err != nil || string(token) != h.token {
			h.loaded = false
		}
	}
	if !h.loaded {
		used, err := scan(root)
		if err != nil {
			return fmt.Errorf("measure home %s: %w", h.rel, err)
		}
		h.orphanUploads()
		if h.token, err = writeToken(root); err != nil {
			return fmt.Errorf("measure home %s: %w", h.rel, err)
		}
		h.used, h.loaded = used, true
	}
	return h.expirePartials(root, s.opts.Now().Add(-s.opts.PartialTTL))
}

// DiskUsage returns what the home directory dir holds against its quota, counted as a server
// counts it when it opens the home: regular files (symbolic links are not followed) and, of the
// reserved .myftp directory at its top, only unfinished uploads. It changes nothing (a missing
// dir is an error wrapping fs.ErrNotExist), and a dir that is itself a symbolic link is not
// followed either: it holds nothing. Its memory grows with the depth of the tree, not its square
// (see walkTree), so a tree deeper than users can make is counted too.
func DiskUsage(dir string) (int64, error) {
	if fi, err := os.Lstat(dir); err != nil {
		return 0, fmt.Errorf("disk usage: %w", err)
	} else if fi.Mode()&fs.ModeSymlink != 0 {
		return 0, nil
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return 0, fmt.Errorf("disk usage: %w", err)
	}
	defer root.Close()
	return scan(root)
}

// scan adds up the sizes of the regular files in the home and its partial uploads, without
// following symbolic links. Nothing else of the reserved directory counts. A directory that
// cannot be read is left out of the count; only the home itself must be readable.
func scan(root *os.Root) (int64, error) {
	var used int64
	err := walkTree(root, ".", func(e walkEntry, err error) error {
		switch {
		case err != nil:
			return nil // an unreadable corner does not stop the count
		case e.depth() == 1 && e.Name() == reserved:
			return nil // a directory is looked into; a file does not count
		case e.depth() > 1 && e.ancestor(0) == reserved:
			// Of the reserved directory, only the uploads in partial/ count, not their .json.
			switch {
			case e.depth() == 2 && e.Name() == partialDir && e.IsDir():
				return nil
			case e.IsDir():
				return fs.SkipDir
			case e.depth() != 3 || strings.HasSuffix(e.Name(), ".json"):
				return nil
			}
		}
		if !e.Type().IsRegular() {
			return nil
		}
		if n, ok := e.size(); ok {
			used += n
		}
		return nil
	})
	return used, err
}

// expirePartials removes partial uploads last written before cutoff and not in progress, and
// returns their space. h.mu is held.
func (h *home) expirePartials(root *os.Root, cutoff time.Time) error {
	dir, err := root.Open(path.Join(reserved, partialDir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("expire partial uploads: %w", err)
	}
	defer dir.Close()
	names, err := dir.Readdirnames(-1)
	if err != nil {
		return fmt.Errorf("expire partial uploads: %w", err)
	}
	for _, n := range names {
		if strings.HasSuffix(n, ".json") {
			h.expireOrphanMeta(root, path.Join(reserved, partialDir, n), cutoff)
			continue
		}
		p := path.Join(reserved, partialDir, n)
		meta, _ := readMeta(root, p+".json")
		fi, err := root.Lstat(p)
		if err != nil || fi.ModTime().After(cutoff) || h.uploading[meta.Path] != nil {
			continue
		}
		// A complete upload whose commit failed or was cut by a crash carries the source's time,
		// maybe years old; its description was written when the upload began.
		if mi, err := root.Lstat(p + ".json"); err == nil && mi.ModTime().After(cutoff) {
			continue
		}
		if root.Remove(p) == nil {
			h.used -= fi.Size()
		}
		root.Remove(p + ".json")
	}
	return nil
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
	root.Remove(p)
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
	// Every and States are the md5 states of the data the partial file holds (see stateHash),
	// written when an upload stops, once that data is on disk.
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
	if f.store.opts.Fsync && file.Sync() != nil {
		return
	}
	p := key(rel) + ".json"
	meta, err := readMeta(f.partials, p)
	if err != nil || meta.Path != rel {
		return
	}
	meta.Every, meta.States = sh.every, sh.encoded(n)
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
