package homefs

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// A Ledger keeps the quota accounting of homes: what each holds against its quotas and the bytes
// promised to uploads in progress (Counts). A Store changes it for every operation that adds to
// a home or takes from it, each time with one call of Change that either applies the whole change
// or, if it would take a count past its limit, none of it: an implementation shared by several
// nodes (a database) does each call as one atomic conditional statement, never a read and then a
// write, so that two uploads on two nodes cannot pass a quota together.
//
// A Ledger value is one process's view: the bytes it reserves are its own (they come back with
// negative Reserved changes through the same value), so that a shared implementation can record
// them by process and give back those of a process that died, after a lease. The limits are not
// kept in the ledger: they come with each Change, from the account as the Store knows it.
//
// Options.Ledger selects the Store's ledger; nil means one in memory, for one process.
type Ledger interface {
	// Load returns the counts of home. When the ledger has none for it under token (never
	// measured, marked stale, or measured under another token: a home removed and made anew),
	// it calls measure once and keeps the result. The result's Reserved is what the caller's
	// uploads in progress into home still hold: it replaces whatever the caller had reserved
	// there, so that a home measured under a running upload keeps it counted (another node may
	// have marked it stale). A failed measure keeps nothing.
	Load(ctx context.Context, home, token string, measure func(context.Context) (Counts, error)) (Counts, error)
	// Change adds d to the counts of home if every limit set in lim holds for the result (see
	// Limits.Check), and returns the new counts. Otherwise it changes nothing and returns an
	// error wrapping a *LimitError that holds the counts it saw. A zero d with zero Limits is a
	// read. A home that was never loaded is an error wrapping ErrNotLoaded.
	Change(ctx context.Context, home string, d Counts, lim Limits) (Counts, error)
	// Stale makes the next Load of home measure it again; Change goes on with the counts held
	// until then.
	Stale(ctx context.Context, home string) error
}

// A Holder is a Ledger shared by several nodes that also keeps which paths have an upload in
// progress, so that no node starts an upload of a path that another node is uploading: it would
// take over the unfinished upload the other writes to. (On one node, a Store keeps that itself.)
// A Store whose ledger is a Holder holds each path from the claim of its upload until the upload
// is published, aborted or cut off from the count.
type Holder interface {
	// Hold claims path of home for this node. It fails with an error wrapping ErrBusy while
	// another node holds it; a node that holds it already may hold it again.
	Hold(ctx context.Context, home, path string) error
	// Release gives path back. A release that fails is the Holder's to retry: the hold must not
	// outlive the upload for long. The holds of a node that died end when its lease does.
	Release(ctx context.Context, home, path string)
}

// ErrNotLoaded is the error of a Change of a home the ledger holds no counts for.
var ErrNotLoaded = errors.New("homefs: the quota ledger holds no counts for the home")

// Counts is what a home holds against its quotas, or a change of it.
type Counts struct {
	// Bytes is the size of its files and unfinished uploads.
	Bytes int64
	// Reserved is the bytes promised to uploads in progress and not yet counted in Bytes.
	Reserved int64
	// Files is the number of entries of its tree (files, directories, links, anything with an
	// inode), and two for each unfinished upload: its data and its description. An upload in
	// progress holds its two from its start.
	Files int64
	// Partials is the entries of unfinished uploads alone: two for each.
	Partials int64
}

// Plus returns c with d added.
func (c Counts) Plus(d Counts) Counts {
	return Counts{Bytes: c.Bytes + d.Bytes, Reserved: c.Reserved + d.Reserved, Files: c.Files + d.Files, Partials: c.Partials + d.Partials}
}

// neg is -d.
func neg(d Counts) Counts {
	return Counts{Bytes: -d.Bytes, Reserved: -d.Reserved, Files: -d.Files, Partials: -d.Partials}
}

// A Limit is the most a count may reach after a Change. The zero Limit is not checked.
type Limit struct {
	Max int64
	On  bool // whether the limit is checked
}

// AtMost returns the Limit n.
func AtMost(n int64) Limit { return Limit{Max: n, On: true} }

// Limits bound the counts a Change may leave. Each limit that is set is checked on the result,
// even when the Change does not make its count grow (a claim of no bytes is refused in a home
// already past its quota); the zero Limits let any change through.
type Limits struct {
	Bytes    Limit // of Bytes+Reserved
	Files    Limit
	Partials Limit
}

// Check returns nil if c+d is within l, else a *LimitError for the first limit it passes, in the
// order bytes, files, unfinished uploads. It is written so that a huge d does not overflow.
func (l Limits) Check(c, d Counts) error {
	switch {
	case l.Bytes.On && d.Bytes+d.Reserved > l.Bytes.Max-c.Bytes-c.Reserved:
		return &LimitError{Count: CountBytes, Max: l.Bytes.Max, Seen: c}
	case l.Files.On && d.Files > l.Files.Max-c.Files:
		return &LimitError{Count: CountFiles, Max: l.Files.Max, Seen: c}
	case l.Partials.On && d.Partials > l.Partials.Max-c.Partials:
		return &LimitError{Count: CountPartials, Max: l.Partials.Max, Seen: c}
	}
	return nil
}

// Count names one of the counts that have a limit.
type Count int

// The counts that have a limit.
const (
	CountBytes    Count = iota + 1 // Bytes+Reserved
	CountFiles                     // Files
	CountPartials                  // Partials
)

func (c Count) String() string {
	switch c {
	case CountBytes:
		return "bytes"
	case CountFiles:
		return "entries"
	case CountPartials:
		return "unfinished uploads"
	}
	return fmt.Sprintf("count %d", int(c))
}

// A LimitError is a Change refused because it would take a count past its limit. It matches
// ErrQuota.
type LimitError struct {
	Count Count  // the count that would pass its limit
	Max   int64  // the limit
	Seen  Counts // the counts the ledger held, which the Change left as they were
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("homefs: quota ledger: %s past the limit of %d (held: %+v)", e.Count, e.Max, e.Seen)
}

// Is reports whether target is ErrQuota.
func (e *LimitError) Is(target error) bool { return target == ErrQuota }

// memLedger is the Ledger of one process: a map under a lock.
type memLedger struct {
	mu    sync.Mutex
	homes map[string]*memHome
}

// memHome is what a memLedger holds of one home.
type memHome struct {
	token string
	stale bool
	c     Counts
}

func newMemLedger() *memLedger { return &memLedger{homes: map[string]*memHome{}} }

// NewLedger returns a ledger in this process's memory, the one a Store uses when Options.Ledger
// is nil: for homes that one process serves.
func NewLedger() Ledger { return newMemLedger() }

func (m *memLedger) Load(ctx context.Context, home, token string, measure func(context.Context) (Counts, error)) (Counts, error) {
	if c, ok := m.held(home, token); ok {
		return c, nil
	}
	c, err := measure(ctx) // outside the lock: the other homes go on meanwhile
	if err != nil {
		return Counts{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if e := m.homes[home]; e != nil && !e.stale && e.token == token {
		return e.c, nil // measured meanwhile, and changed since, maybe
	}
	m.homes[home] = &memHome{token: token, c: c}
	return c, nil
}

// held returns the counts of home if they are current under token.
func (m *memLedger) held(home, token string) (Counts, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.homes[home]
	if e == nil || e.stale || e.token != token {
		return Counts{}, false
	}
	return e.c, true
}

func (m *memLedger) Change(_ context.Context, home string, d Counts, lim Limits) (Counts, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.homes[home]
	if e == nil {
		return Counts{}, fmt.Errorf("change the counts of %s: %w", home, ErrNotLoaded)
	}
	if err := lim.Check(e.c, d); err != nil {
		return e.c, err
	}
	e.c = e.c.Plus(d)
	return e.c, nil
}

func (m *memLedger) Stale(_ context.Context, home string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e := m.homes[home]; e != nil {
		e.stale = true
	}
	return nil
}
