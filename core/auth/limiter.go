package auth

import (
	"cmp"
	"slices"
	"sync"
	"time"
)

// Limiter counts login failures per key within a window and turns them into penalties. Once a key
// has failed Key.After times, its next attempt must wait the delay, and each further failure
// doubles the wait up to maxDelay. An attempt is begun with Begin and ended with exactly one of
// Fail, Release or Reset; while a key must wait, Begin refuses at once and records nothing, so
// refused attempts neither cost the caller anything nor push the penalty further out. Below After
// failures, attempts may run in parallel (a correct password must never be refused because the
// same user logs in on several connections at once, as lftp and myftpc -P do); once a key is
// throttled, its attempts run one at a time.
//
// A Limiter is safe for concurrent use. It keeps at most maxEntries keys besides those with
// attempts in flight; when full it forgets expired keys first, then those with the fewest
// failures, and a key that must wait only when nothing else is left.
type Limiter struct {
	window     time.Duration
	delay      time.Duration
	maxDelay   time.Duration
	maxEntries int
	now        func() time.Time

	mu      sync.Mutex
	entries map[string]*entry
}

// A Key is what failures are counted against, such as a remote address, with the number of
// failures it tolerates within the window. A given Name must always come with the same After.
type Key struct {
	Name  string
	After int // values below 1 count as 1
}

type entry struct {
	failures int       // within the window that began at first
	pending  int       // attempts begun and not yet ended
	first    time.Time // time of the first failure of the window
	next     time.Time // no attempt may begin before
}

// NewLimiter returns a Limiter. A delay of 0 turns throttling off: Begin always succeeds. A
// maxDelay below delay counts as delay. now may be nil for time.Now.
func NewLimiter(window, delay, maxDelay time.Duration, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{window: window, delay: delay, maxDelay: max(maxDelay, delay), maxEntries: 10000,
		now: now, entries: map[string]*entry{}}
}

func (k Key) after() int { return max(k.After, 1) }

// penalty is the wait owed after failures failures of a key tolerating after: 0 below after,
// then delay, doubling with each further failure up to maxDelay.
func (l *Limiter) penalty(failures, after int) time.Duration {
	if failures < after || l.delay <= 0 {
		return 0
	}
	d := l.delay
	for i := after; i < failures && d < l.maxDelay; i++ {
		d *= 2
	}
	return min(d, l.maxDelay)
}

// expired reports whether e holds nothing worth keeping: its wait is over and its window has
// passed (or it has no failures).
func (l *Limiter) expired(e *entry, now time.Time) bool {
	return !now.Before(e.next) && (e.failures == 0 || now.Sub(e.first) > l.window)
}

// live returns the entry of name with an expired window cleared, or nil. l.mu is held.
func (l *Limiter) live(name string, now time.Time) *entry {
	e := l.entries[name]
	if e == nil || !l.expired(e, now) {
		return e
	}
	if e.pending == 0 {
		delete(l.entries, name)
		return nil
	}
	e.failures = 0
	return e
}

// wait returns how long k must wait before it may begin an attempt. l.mu is held.
func (l *Limiter) wait(k Key, now time.Time) time.Duration {
	e := l.live(k.Name, now)
	switch {
	case e == nil:
		return 0
	case now.Before(e.next):
		return e.next.Sub(now)
	case e.pending > 0 && e.failures >= k.after():
		// Throttled: one attempt at a time. The one in flight decides; if it fails, this is
		// the wait it leaves.
		return l.penalty(e.failures+e.pending, k.after())
	}
	return 0
}

// Begin begins an attempt on all of keys if none of them must wait, and returns ok. Otherwise it
// records nothing and returns the longest wait: once it has passed, Begin succeeds unless other
// failures came in between.
func (l *Limiter) Begin(keys ...Key) (wait time.Duration, ok bool) {
	if l.delay <= 0 {
		return 0, true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	for _, k := range keys {
		wait = max(wait, l.wait(k, now))
	}
	if wait > 0 {
		return wait, false
	}
	for _, k := range keys {
		l.entry(k.Name, now).pending++
	}
	return 0, true
}

// entry returns the live entry of name, adding it if there is none. l.mu is held.
func (l *Limiter) entry(name string, now time.Time) *entry {
	if e := l.live(name, now); e != nil {
		return e
	}
	l.makeRoom(now)
	e := &entry{}
	l.entries[name] = e
	return e
}

// Fail ends an attempt begun on keys as a failure of each, which sets the wait owed before the
// next attempt.
func (l *Limiter) Fail(keys ...Key) {
	if l.delay <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	for _, k := range keys {
		e := l.entry(k.Name, now)
		e.pending = max(e.pending-1, 0)
		if e.failures == 0 {
			e.first = now
		}
		e.failures++
		if t := now.Add(l.penalty(e.failures, k.after())); t.After(e.next) {
			e.next = t
		}
	}
}

// Release ends an attempt begun on keys without counting it: it succeeded (for keys that a
// success must not clear, such as an address), or it was abandoned.
func (l *Limiter) Release(keys ...Key) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range keys {
		e := l.entries[k.Name]
		if e == nil {
			continue
		}
		e.pending = max(e.pending-1, 0)
		if e.pending == 0 && e.failures == 0 {
			delete(l.entries, k.Name)
		}
	}
}

// Reset forgets key (it ends an attempt that succeeded, and every failure before it).
func (l *Limiter) Reset(k Key) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.entries, k.Name)
}

// Len returns the number of keys tracked.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.entries)
}

// makeRoom makes room for one more key when the table is full, down to nine tenths of the limit
// so that the scan and sort are paid once per many new keys. Expired keys go first, then keys
// that need not wait, fewest failures first, and only then keys that must wait, those whose wait
// ends soonest first. Keys with attempts in flight stay. l.mu is held.
func (l *Limiter) makeRoom(now time.Time) {
	if len(l.entries) < l.maxEntries {
		return
	}
	type victim struct {
		name string
		e    *entry
	}
	var victims []victim
	for name, e := range l.entries {
		switch {
		case e.pending > 0:
		case l.expired(e, now):
			delete(l.entries, name)
		default:
			victims = append(victims, victim{name, e})
		}
	}
	excess := len(l.entries) - l.maxEntries*9/10
	if excess <= 0 {
		return
	}
	slices.SortFunc(victims, func(a, b victim) int {
		aWaits, bWaits := now.Before(a.e.next), now.Before(b.e.next)
		switch {
		case aWaits != bWaits && aWaits:
			return 1
		case aWaits != bWaits:
			return -1
		case aWaits:
			return a.e.next.Compare(b.e.next)
		}
		return cmp.Compare(a.e.failures, b.e.failures)
	})
	for _, v := range victims[:min(excess, len(victims))] {
		delete(l.entries, v.name)
	}
}
