// Package homefs is a user's jailed file tree: every path a user names is resolved inside the home
// and checked against the limits of names (resolve), and every file operation goes to the home
// through a storage backend (package storage: the local disk on an *os.Root per home, or an
// S3-compatible object store), so "..", absolute paths and symbolic links cannot leave it. It also
// keeps each home's quota accounting, unfinished uploads and checksum records: these rules are
// written once here, whatever the backend.
//
// A Store holds the state shared by all sessions of all accounts on this server (uploads in
// progress and what they reserved); an FS is one session's view of one home, with its own
// current directory. The quota accounting of each home (its bytes, reserved bytes, entries and
// unfinished uploads) is in a Ledger (Options.Ledger; in memory by default), measured at the first
// Open of the home and then changed by one call per operation: a change that makes a count grow
// (an upload's claim, each growth of a streamed upload, mkdir) is applied whole or refused whole
// for the quota it would pass, so that a ledger shared by several servers keeps each home within
// its quotas across them.
//
// The backend keeps an unfinished upload's data (storage.Partial, by a key derived from the target
// path) and, as records the server keeps beside the files (storage.Home.Meta), its description
// ("partial/KEY.json", written once it holds a MiB or stops unfinished) and the mark of a measured
// home ("id"). A stored file's checksum record, with the checksum states that speed up resumes of
// large files, is the file's own record (storage.Home.Record), checked against the file's size,
// modification time and version before use. Users cannot list, name or download any of it; the
// partial uploads count toward the quota.
//
// A home has two quotas: bytes (of files and unfinished uploads) and entries (files, directories,
// links, anything that takes an inode; an unfinished upload counts two, its data and its
// description, whether or not the description is written yet). It also keeps at most
// Options.MaxPartials unfinished uploads.
package homefs

import (
	"context"
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
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/myftp/myftp/lib/checksum"
	"github.com/myftp/myftp/lib/storage"
	"github.com/myftp/myftp/lib/storage/local"
)

// Options configure a Store.
type Options struct {
	// Fsync makes every finished upload reach stable storage before it is renamed into place,
	// and the rename before the upload is reported stored. Uploads that finish at about the same
	// time, in any homes, share the flushes (package durable). It is the local disk's setting
	// (NewStore); a backend given to New keeps its own.
	Fsync bool
	// PartialTTL is how long an unfinished upload is kept for resuming. Zero means 7 days.
	PartialTTL time.Duration
	// Now returns the current time; nil means time.Now. Tests set it to age partial uploads.
	Now func() time.Time
	// FormatSize renders sizes in error messages; nil means plain byte counts.
	FormatSize func(int64) string
	// WrapWriter, if set, wraps what every upload writes to. Tests use it to inject write
	// errors such as a full disk.
	WrapWriter func(io.Writer) io.Writer
	// StreamChecksum is the checksum algorithm (package checksum) the server computes and records
	// for uploads of unknown size (FTP, SFTP), where the client sends none, unless a session's FS
	// chooses another (FS.SetStreamChecksum: the SFTP door records blake3). Empty means sha256,
	// which FTP clients ask HASH for.
	StreamChecksum string
	// StateEvery is how far apart the checksum states kept for resumes are (see FS.PrefixSum): a
	// resume reads at most this much of a file to check a prefix. Zero means 64 MiB; on a
	// backend that resumes uploads only at whole parts (storage.Caps.ResumeUnit), the part size.
	StateEvery int64
	// DefaultMaxFiles is the file count quota of a home whose account sets none (see
	// FS.SetMaxFiles): the most files, directories and other entries it may hold, each
	// unfinished upload counting two. Zero means 100,000.
	DefaultMaxFiles int64
	// MaxPartials is the most unfinished uploads a home keeps, those in progress included: a new
	// one beyond it is refused with ErrQuota. Zero means 100.
	MaxPartials int64
	// Ledger keeps the homes' quota accounting (usage, entries, unfinished uploads and
	// reservations); nil means one in memory, for this Store alone. Several Stores (nodes) that
	// serve the same homes share one, so that together they keep each home within its quotas.
	Ledger Ledger
	// QuotaRefused, if set, is called each time an upload, a directory or a write is refused
	// for a quota (bytes, entries or unfinished uploads), for the server's metrics.
	QuotaRefused func()
	// Log receives what the server's administrator should know and the user need not: a home
	// that could not be marked as measured (a full disk), partial uploads that could not be
	// expired. Nil discards it.
	Log *slog.Logger
}

// Store manages the homes of one storage backend. It is safe for concurrent use.
type Store struct {
	backend storage.Backend
	caps    storage.Caps
	opts    Options
	ledger  Ledger
	holder  Holder // the ledger, if it keeps the uploads in progress of several nodes

	mu    sync.Mutex
	homes map[string]*home
}

// home is the state of one home shared by all its sessions on this Store. Its counts are in the
// store's ledger; what is kept here is this node's own: its uploads in progress and what they
// reserved, the quotas as the account last said, and when to measure the home again.
type home struct {
	rel string // the home's name in the backend, and in the ledger

	mu       sync.Mutex
	loaded   bool
	stale    bool   // the count may be wrong (the backend could not say what it kept): measure again
	token    string // the record "id" the counts were loaded under; "" if it could not be written
	last     Counts // the counts the ledger last returned, for Usage when it cannot be read
	reserved int64  // bytes promised to this node's uploads in progress, the sum of their slots'
	// quota and maxFiles come from the account: quota refreshed at every Open, both by the
	// sessions' rechecks (SetQuota, SetMaxFiles) at every command. Atomic rather than under mu,
	// so that a command never waits for a session of the home that holds mu (a ledger call to a
	// database or a completion on S3 that does not answer) only to say the quota is unchanged.
	quota    atomic.Int64
	maxFiles atomic.Int64 // 0: the store's default
	// uploading holds the uploads in progress on this node, by relative path. Each holds two
	// entries of the counts (its data and its description) from its claim on.
	uploading map[string]*slot
}

// NewStore returns a Store for the homes under the directory base of the local disk.
func NewStore(base string, opts Options) *Store {
	return New(local.New(base, local.Options{Fsync: opts.Fsync}), opts)
}

// New returns a Store for the homes of the backend b.
func New(b storage.Backend, opts Options) *Store {
	caps := b.Caps()
	if opts.PartialTTL <= 0 {
		opts.PartialTTL = 7 * 24 * time.Hour
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.StreamChecksum == "" {
		opts.StreamChecksum = checksum.SHA256
	}
	if caps.ResumeUnit > 1 {
		opts.StateEvery = caps.ResumeUnit // a resume starts at a part: a state must be there
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
	ledger := opts.Ledger
	if ledger == nil {
		ledger = newMemLedger()
	}
	holder, _ := ledger.(Holder)
	return &Store{backend: b, caps: caps, opts: opts, ledger: ledger, holder: holder, homes: map[string]*home{}}
}

// Open returns a session's view of the home at homeRel (relative to the store's base, as stored in
// the account), creating it if it is missing. quota is the account's current quota in bytes; its
// file count quota is the one last set with SetMaxFiles on the home, else the store's default.
// The first Open of a home since the Store was made loads its counts from the ledger, which
// measures it with one walk of the tree when it has none under the home's mark (the in-memory
// ledger always, once); later ones reuse the running count. Every Open removes partial uploads
// older than the TTL. Open fails if the ledger does.
//
// Open needs no new file in a home that exists: if the mark that tells a measured home from one
// made anew (the record "id") cannot be written, a full disk for instance, the home is measured
// again at its next Open, and the failure is logged (Options.Log). A mark that is there is kept,
// so that the Stores sharing a ledger agree on it.
func (s *Store) Open(homeRel string, quota int64) (*FS, error) {
	h, err := s.home(homeRel)
	if err != nil {
		return nil, err
	}
	hm, err := s.backend.OpenHome(context.Background(), h.rel, true)
	if err != nil {
		return nil, fmt.Errorf("open home %s: %w", homeRel, err)
	}
	f := &FS{store: s, h: h, home: hm, cwd: "/"}
	if err := h.load(f, quota); err != nil {
		hm.Close()
		return nil, err
	}
	return f, nil
}

func (s *Store) home(homeRel string) (*home, error) {
	rel := filepath.ToSlash(filepath.Clean(filepath.FromSlash(homeRel)))
	if !filepath.IsLocal(filepath.FromSlash(rel)) || rel == "." {
		return nil, fmt.Errorf("home %q: not a relative path inside the store", homeRel)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.homes[rel]
	if h == nil {
		h = &home{rel: rel, uploading: map[string]*slot{}}
		s.homes[rel] = h
	}
	return h, nil
}

// load sets the quota, loads the counts (measured the first time), and expires old partial
// uploads. It fails only if the home cannot be measured, or its counts not loaded.
func (h *home) load(f *FS, quota int64) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := f.store
	h.quota.Store(quota)
	if err := h.loadCounts(f); err != nil {
		return err
	}
	if err := h.expirePartials(f, s.opts.Now().Add(-s.opts.PartialTTL)); err != nil {
		s.opts.Log.Warn("expire partial uploads", "home", h.rel, "err", err)
	}
	return nil
}

// loadCounts loads the home's counts from the ledger, under the token of the home's record "id":
// the ledger measures the home when it has no counts under it. This node has the home measured
// again when it finds the token changed (the home was made anew), or the count stale, and no
// upload of its own runs into the home: its uploads in progress are then cut off from the new
// count. h.mu is held.
func (h *home) loadCounts(f *FS) error {
	ctx, ledger := f.ctx(), f.store.ledger
	if h.loaded && (!h.current(f) || h.stale && len(h.uploading) == 0) {
		for _, rel := range h.orphanUploads() {
			f.unhold(rel)
		}
		h.loaded, h.stale = false, true
	}
	token := h.token
	var unmarked error
	if !h.loaded {
		if token, unmarked = readToken(f); h.stale && token == h.token {
			// The same token, or none: only the ledger's mark makes it measure again.
			if err := ledger.Stale(ctx, h.rel); err != nil {
				return fmt.Errorf("measure home %s: %w", h.rel, err)
			}
		}
	}
	// The ledger measures under this node's uploads in progress too, when another node marked
	// the home stale: what they reserved stays reserved.
	c, err := ledger.Load(ctx, h.rel, token, func(ctx context.Context) (Counts, error) {
		u, partials, err := scan(ctx, f.home)
		return Counts{Bytes: u.Bytes, Reserved: h.reserved, Files: u.Files, Partials: partials}, err
	})
	if err != nil {
		return fmt.Errorf("measure home %s: %w", h.rel, err)
	}
	if !h.loaded && unmarked != nil {
		f.store.opts.Log.Warn("home measured but not marked; it is measured again at its next login", "home", h.rel, "err", unmarked)
	}
	h.last, h.token, h.loaded, h.stale = c, token, true, false
	return nil
}

// current reports whether the count this node loaded is still the home's. A home removed and
// made again (an account deleted with its files and created anew) has lost the token its count
// was loaded under: it is measured again, and uploads still running into the old one are cut off
// from the new count. A home whose token could not be written is measured again too, unless
// uploads are running into it: measuring it under them would count their data twice. h.mu is
// held.
func (h *home) current(f *FS) bool {
	if h.token == "" {
		return len(h.uploading) > 0
	}
	token, err := f.home.Meta(f.ctx(), tokenKey)
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

// Measure returns what the home directory dir of the local disk holds against its quotas, counted
// as a server counts it when it opens the home: entries and the sizes of regular files (symbolic
// links are not followed) and unfinished uploads. It changes nothing (a missing dir is an error
// wrapping fs.ErrNotExist), and a dir that is itself a symbolic link is not followed either: it
// holds nothing. Its memory grows with the depth of the tree, not its square, so a
// tree deeper than users can make is counted too.
func Measure(dir string) (Usage, error) {
	if fi, err := os.Lstat(dir); err != nil {
		return Usage{}, fmt.Errorf("disk usage: %w", err)
	} else if fi.Mode()&fs.ModeSymlink != 0 {
		return Usage{}, nil // a home that is a link holds nothing of its own
	}
	b := local.New(filepath.Dir(dir), local.Options{})
	hm, err := b.OpenHome(context.Background(), filepath.Base(dir), false)
	if err != nil {
		return Usage{}, fmt.Errorf("disk usage: %w", err)
	}
	defer hm.Close()
	u, _, err := scan(context.Background(), hm)
	return u, err
}

// MeasureHome is Measure for the home home of the backend b: a missing home is an error wrapping
// fs.ErrNotExist.
func MeasureHome(b storage.Backend, home string) (Usage, error) {
	hm, err := b.OpenHome(context.Background(), home, false)
	if err != nil {
		return Usage{}, fmt.Errorf("disk usage: %w", err)
	}
	defer hm.Close()
	u, _, err := scan(context.Background(), hm)
	return u, err
}

// DiskUsage returns the bytes that Measure counts.
func DiskUsage(dir string) (int64, error) {
	u, err := Measure(dir)
	return u.Bytes, err
}

// scan measures the home in one walk of its tree, without following symbolic links: every entry
// counts one file and a regular file its size; then each unfinished upload counts two entries
// (which partials counts alone) and its size. A directory that cannot be read is left out of the
// count (its own entry counts); only the home itself must be readable.
func scan(ctx context.Context, hm storage.Home) (u Usage, partials int64, err error) {
	err = hm.Walk(ctx, ".", func(e storage.WalkEntry, err error) error {
		if err != nil {
			return nil // an unreadable corner does not stop the count (its entry was counted)
		}
		info := e.Info()
		u.Files++
		if info.Kind == storage.File {
			u.Bytes += info.Size
		}
		return nil
	})
	if err != nil {
		return u, 0, err
	}
	err = hm.Partials(ctx, func(ps []storage.PartialInfo) error {
		for _, p := range ps {
			partials += 2
			u.Files += 2
			u.Bytes += p.Size
		}
		return nil
	})
	return u, partials, err
}

// expirePartials removes partial uploads last written before cutoff and not in progress, and
// returns their space and their entries. h.mu is held.
func (h *home) expirePartials(f *FS, cutoff time.Time) error {
	var old []storage.PartialInfo
	err := f.home.Partials(f.ctx(), func(ps []storage.PartialInfo) error {
		for _, p := range ps {
			if p.Mtime.Before(cutoff) && !h.inProgress(p.ID) {
				old = append(old, p)
			}
		}
		return nil
	})
	for _, p := range old {
		h.dropPartial(f, p)
	}
	if err != nil {
		return fmt.Errorf("expire partial uploads: %w", err)
	}
	return nil
}

// inProgress reports whether an upload in progress has the partial upload id. h.mu is held.
func (h *home) inProgress(id string) bool {
	_, _, ok := h.uploadingKey(id)
	return ok
}

// dropPartial removes the partial upload p and its description, takes what they held out of the
// counts, and reports whether the data was removed. h.mu is held.
func (h *home) dropPartial(f *FS, p storage.PartialInfo) bool {
	f.home.RemoveMeta(f.ctx(), metaKey(p.ID)) // first: data without description is still found, and expires
	if err := f.home.RemovePartial(f.ctx(), p.ID); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false
	}
	f.settle(Counts{Bytes: -p.Size}.Plus(partialEntries(-2)))
	return true
}

// partialEntries is n entries of unfinished uploads (taken out for n < 0).
func partialEntries(n int64) Counts { return Counts{Files: n, Partials: n} }

// tokenKey is the record that marks a measured home.
const tokenKey = "id"

// readToken returns the token of the home's record "id", writing a fresh one if it has none. It
// returns "" and why if none can be written.
func readToken(f *FS) (string, error) {
	token, err := f.home.Meta(f.ctx(), tokenKey)
	switch {
	case err == nil && len(token) > 0:
		return string(token), nil
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return "", err // it may be there: a new one would have every node measure the home again
	case err == nil: // an empty record (none is written so): replaced
		return writeToken(f, f.home.SetMeta)
	}
	fresh, err := writeToken(f, f.home.CreateMeta)
	if errors.Is(err, storage.ErrExist) { // another node marked it meanwhile: its mark is the home's
		token, err = f.home.Meta(f.ctx(), tokenKey)
		return string(token), err
	}
	return fresh, err
}

// writeToken marks a measured home with a fresh random token, written with write, and returns
// it. Home.CreateMeta fails if the home has a mark already (ErrExist): two nodes opening a new
// home at once must agree on one mark, or each would take the other's for the mark of a home
// made anew, and cut off its own uploads there.
func writeToken(f *FS, write func(context.Context, string, []byte) error) (string, error) {
	var b [16]byte
	rand.Read(b[:])
	token := hex.EncodeToString(b[:])
	if err := write(f.ctx(), tokenKey, []byte(token)); err != nil {
		return "", err
	}
	return token, nil
}

// partialMeta is an unfinished upload's description (the record metaKey(KEY)).
type partialMeta struct {
	Path  string    `json:"path"`  // target, relative to the home
	Size  int64     `json:"size"`  // declared by the client; -1 for a stream
	Mtime time.Time `json:"mtime"` // of the client's source file
	// Algo, Every and States are the checksum states of the data the partial upload holds (see
	// stateHash), written when an upload stops, once that data is stored.
	Algo   string   `json:"algo,omitempty"`
	Every  int64    `json:"every,omitempty"`
	States []string `json:"states,omitempty"`
}

// metaKey is the record of the description of the partial upload k.
func metaKey(k string) string { return "partial/" + k + ".json" }

// saveStates records in the description of the partial upload of rel the checksum states of its
// first n bytes, once they are stored. Best effort: without states, a resume hashes the whole
// prefix (or, on a backend that cannot read an unfinished upload back, starts again).
func (f *FS) saveStates(part storage.Partial, rel string, h hash.Hash, n int64) {
	sh, ok := h.(*stateHash)
	if !ok || sh == nil || n < sh.every || part == nil {
		return
	}
	if part.Sync() != nil {
		return
	}
	k := key(rel)
	meta, err := readMeta(f, k)
	if err != nil || meta.Path != rel {
		return
	}
	meta.Algo, meta.Every, meta.States = sh.algo, sh.every, sh.encoded(n)
	if data, err := json.Marshal(meta); err == nil {
		f.home.SetMeta(f.ctx(), metaKey(k), data)
	}
}

// readMeta reads the description of the partial upload k.
func readMeta(f *FS, k string) (partialMeta, error) {
	var m partialMeta
	data, err := f.home.Meta(f.ctx(), metaKey(k))
	if err != nil {
		return m, err
	}
	return m, json.Unmarshal(data, &m)
}

// refused reports a refusal for a quota (Options.QuotaRefused) and returns err, which says why.
func (s *Store) refused(err error) error {
	if s.opts.QuotaRefused != nil {
		s.opts.QuotaRefused()
	}
	return err
}

// metaError is the failure to begin an unfinished upload in the backend: the disk is full, or
// something that is not a directory is in the way of the server's own. Without it, uploads cannot
// begin.
func metaError(err error) error {
	kind := ErrIO
	if kindOf(err) == ErrNoSpace {
		kind = ErrNoSpace
	}
	return &Error{Kind: kind, Detail: "the server cannot make its directory for unfinished uploads in this home", Err: err}
}
