package homefs

import (
	"errors"
	"fmt"
	"math"
)

// change adds d to the home's counts, in one Change of the ledger, if they stay within lim; the
// operation on vpath that needs it (need more bytes, for the message) has not happened yet. A
// refusal is ErrQuota with the counts the ledger saw; a ledger that fails fails the operation
// (ErrIO). h.mu is held.
func (f *FS) change(vpath string, d Counts, lim Limits, need int64) error {
	c, err := f.store.ledger.Change(f.ctx(), f.h.rel, d, lim)
	if err == nil {
		f.h.last = c
		return nil
	}
	var le *LimitError
	if errors.As(err, &le) {
		f.h.last = le.Seen
		return f.store.refused(f.refusal(vpath, le, d, need))
	}
	return &Error{Kind: ErrIO, Path: vpath, Detail: "the server cannot reach its quota accounting", Err: fmt.Errorf("quota ledger: %w", err)}
}

// settle adds d, which frees bytes or entries or turns a reservation into use and so is never
// refused, to the home's counts, after the operation it counts has happened, and returns the new
// counts. When the ledger fails, the operation stands: the failure is logged and the home is
// measured again at its next Open with no upload running (ok is false). h.mu is held.
func (f *FS) settle(d Counts) (c Counts, ok bool) {
	if d == (Counts{}) {
		return f.h.last, true
	}
	c, err := f.store.ledger.Change(f.ctx(), f.h.rel, d, Limits{})
	if err != nil {
		f.h.stale = true
		f.store.opts.Log.Warn("quota accounting not updated; the home is measured again at its next login", "home", f.h.rel, "err", err)
		return c, false
	}
	f.h.last = c
	return c, true
}

// counts returns the home's counts: the ledger's, or the last this node knew when it cannot be
// read (the failure is logged). h.mu is held.
func (f *FS) counts() Counts {
	c, err := f.store.ledger.Change(f.ctx(), f.h.rel, Counts{}, Limits{})
	if err != nil {
		f.store.opts.Log.Warn("quota accounting unreadable; showing the last counts known", "home", f.h.rel, "err", err)
		return f.h.last
	}
	f.h.last = c
	return c
}

// refusal is the error for the user of a change d refused by the ledger: which quota, and the
// counts the ledger saw (with the part of d that frees bytes applied, as an upload that drops
// what a resume cannot keep sees them). h.mu is held.
func (f *FS) refusal(vpath string, le *LimitError, d Counts, need int64) error {
	seen := le.Seen
	switch le.Count {
	case CountFiles:
		return newErr(ErrQuota, vpath, fmt.Sprintf("file count quota: %d of %d files and directories used, "+
			"an unfinished upload counting two", seen.Files, f.maxFiles()))
	case CountPartials:
		return newErr(ErrQuota, vpath, fmt.Sprintf("%d unfinished uploads kept, at most %d: "+
			"resume or remove them (myftpc: partials, rm --partial NAME)", (seen.Partials+1)/2, f.store.opts.MaxPartials))
	}
	return quotaError(vpath, seen.Bytes+min(d.Bytes, 0)+seen.Reserved, f.h.quota.Load(), need, f.store.opts.FormatSize)
}

// bytesLimit is the limit of a change that needs room for its bytes in the home's quota.
// h.mu is held.
func (f *FS) bytesLimit() Limits { return Limits{Bytes: AtMost(f.h.quota.Load())} }

// entriesLimit adds to lim the limits of a change that makes n more entries: the file count
// quota, and for an unfinished upload (partial), the most unfinished uploads kept. It adds none
// for n <= 0. h.mu is held.
func (f *FS) entriesLimit(lim Limits, n int64, partial bool) Limits {
	if n <= 0 {
		return lim
	}
	lim.Files = AtMost(f.maxFiles())
	if partial {
		lim.Partials = AtMost(2 * f.store.opts.MaxPartials)
	}
	return lim
}

// revoking returns the uploads in progress to the paths rels (each once), whose files are
// removed, replaced or moved away, and the bytes of those files they counted on (see revoke).
// h.mu is held.
func (h *home) revoking(rels ...string) (sls []*slot, credit int64) {
	for _, rel := range rels {
		if u := h.uploading[rel]; u != nil && !containsSlot(sls, u) {
			sls = append(sls, u)
			credit += u.credit
		}
	}
	return sls, credit
}

func containsSlot(sls []*slot, s *slot) bool {
	for _, x := range sls {
		if x == s {
			return true
		}
	}
	return false
}

// revoke is called when the files the uploads sls replace are removed, replaced or moved away:
// they can no longer count on their space, so they reserve their full size; the settled change
// that took the files out of the counts (ok) reserved it already, and left the counts c. An
// upload for which it does not fit (the file was moved, not freed) is marked over quota, as is
// every one of them when the change could not be settled. h.mu is held.
func (h *home) revoke(sls []*slot, credit int64, c Counts, ok bool) {
	used := c.Bytes + c.Reserved - credit // before the reservations, one after the other
	for _, u := range sls {
		u.creditLeft = 0
		if u.credit == 0 {
			continue
		}
		if !ok || u.credit > h.quota.Load()-used {
			u.overQuota.Store(true)
		}
		if ok {
			used += u.credit
			h.reserved += u.credit
			u.reserved += u.credit
			u.credit = 0
		}
	}
}

// satAdd is a+b, or the largest int64 where that overflows (both are not negative).
func satAdd(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}
