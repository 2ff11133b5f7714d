package auth

import (
	"sync"
	"time"
)

// Limiter counts login failures per key (an account, a remote address) within a window and turns
// them into delays: after `after` failures, each further failure costs delay, doubling up to
// maxDelay. It is safe for concurrent use and keeps at most maxEntries keys, so a flood of distinct
// names or addresses cannot grow it without bound.
type Limiter struct {
	after      int
	window     time.Duration
	delay      time.Duration
	maxDelay   time.Duration
	maxEntries int
	now        func() time.Time

	mu      sync.Mutex
	entries map[string]*entry
}

type entry struct {
	failures int
	first    time.Time // start of the current window
	next     time.Time // earliest time of the next attempt
}

// NewLimiter returns a Limiter. now may be nil for time.Now.
func NewLimiter(after int, window, delay, maxDelay time.Duration, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{after: after, window: window, delay: delay, maxDelay: maxDelay, maxEntries: 10000,
		now: now, entries: map[string]*entry{}}
}

// get returns the live entry for key, or nil. l.mu is held.
func (l *Limiter) get(key string, now time.Time) *entry {
	e := l.entries[key]
	if e != nil && now.Sub(e.first) > l.window && !now.Before(e.next) {
		delete(l.entries, key)
		return nil
	}
	return e
}

// penalty is the delay owed after failures failures.
func (l *Limiter) penalty(failures int) time.Duration {
	over := failures - l.after
	if over <= 0 || l.delay <= 0 {
		return 0
	}
	d := l.delay
	for i := 1; i < over && d < l.maxDelay; i++ {
		d *= 2
	}
	return min(d, l.maxDelay)
}

// Fail records a failure for key and returns the delay it now owes before its next attempt.
func (l *Limiter) Fail(key string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	e := l.get(key, now)
	if e == nil {
		l.evict(now)
		e = &entry{first: now}
		l.entries[key] = e
	}
	e.failures++
	d := l.penalty(e.failures)
	if t := now.Add(d); t.After(e.next) {
		e.next = t
	}
	return d
}

// Reserve books the next attempt slot for key and returns how long to wait for it: 0 when key is
// not throttled; otherwise attempts are spaced by the current delay, so parallel attempts do not
// go faster than serial ones. If the slot is more than limit away, nothing is booked and ok is
// false.
func (l *Limiter) Reserve(key string, limit time.Duration) (wait time.Duration, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	e := l.get(key, now)
	if e == nil {
		return 0, true
	}
	d := l.penalty(e.failures)
	if d == 0 {
		return 0, true
	}
	start := now
	if e.next.After(now) {
		start = e.next
	}
	if wait = start.Sub(now); wait > limit {
		return wait, false
	}
	e.next = start.Add(d)
	return wait, true
}

// Reset forgets key (after a successful login).
func (l *Limiter) Reset(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.entries, key)
}

// Len returns the number of keys tracked.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.entries)
}

// evict makes room when the table is full: expired keys go first, then arbitrary ones, down to
// nine tenths of the limit, so that the scan is paid once per many new keys. l.mu is held.
func (l *Limiter) evict(now time.Time) {
	if len(l.entries) < l.maxEntries {
		return
	}
	for k := range l.entries {
		l.get(k, now)
	}
	for k := range l.entries {
		if len(l.entries) < l.maxEntries*9/10 {
			return
		}
		delete(l.entries, k)
	}
}
