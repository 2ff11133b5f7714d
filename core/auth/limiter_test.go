package auth

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// fakeClock is a clock that moves only when told to.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

const ms = time.Millisecond

// failOnce begins an attempt on k, which must be allowed, and fails it.
func failOnce(t *testing.T, l *Limiter, k Key) {
	t.Helper()
	if w, ok := l.Begin(k); !ok {
		t.Fatalf("Begin(%s) refused, wait %v", k.Name, w)
	}
	l.Fail(k)
}

func TestLimiterPenaltyDoublesUpToMax(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	l := NewLimiter(time.Hour, 100*ms, time.Second, clock.Now)
	k := Key{Name: "k", After: 3}
	// The wait owed after each failure; each attempt comes as soon as it may.
	want := []time.Duration{0, 0, 100 * ms, 200 * ms, 400 * ms, 800 * ms, time.Second, time.Second}
	for i, w := range want {
		failOnce(t, l, k)
		got, ok := l.Begin(k)
		if got != w || ok != (w == 0) {
			t.Fatalf("after failure %d: Begin = %v, %v; want %v, %v", i+1, got, ok, w, w == 0)
		}
		if ok {
			l.Release(k)
		}
		clock.Advance(got)
	}
	// Another key has its own count.
	if w, ok := l.Begin(Key{Name: "other", After: 3}); !ok {
		t.Fatalf("another key refused, wait %v", w)
	}
}

// TestLimiterRefusalCostsNothing: while a key must wait, Begin refuses with the time left and
// records nothing, so hammering neither extends the wait nor shortens it.
func TestLimiterRefusalCostsNothing(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	l := NewLimiter(time.Hour, 8*time.Second, time.Minute, clock.Now)
	k := Key{Name: "k", After: 1}
	failOnce(t, l, k)
	for i := range 80 {
		left := 8*time.Second - time.Duration(i)*100*ms
		if w, ok := l.Begin(k); ok || w != left {
			t.Fatalf("refused attempt %d: Begin = %v, %v; want %v, false", i+1, w, ok, left)
		}
		clock.Advance(100 * ms)
	}
	if w, ok := l.Begin(k); !ok {
		t.Fatalf("Begin once the wait has passed refused, wait %v", w)
	}
	// The attempt is in flight: another may not start before its verdict.
	if w, ok := l.Begin(k); ok || w != 16*time.Second {
		t.Fatalf("second attempt while one is in flight: Begin = %v, %v; want 16s (the wait if it fails), false", w, ok)
	}
	l.Fail(k)
	if w, ok := l.Begin(k); ok || w != 16*time.Second {
		t.Fatalf("after the 2nd failure: Begin = %v, %v; want 16s, false", w, ok)
	}
}

// TestLimiterParallelAttempts: below the threshold, parallel attempts all begin (several sessions
// of one user log in at once); once the key is throttled, one attempt at a time.
func TestLimiterParallelAttempts(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	l := NewLimiter(time.Hour, time.Second, time.Minute, clock.Now)
	k := Key{Name: "k", After: 3}
	for i := range 8 {
		if w, ok := l.Begin(k); !ok {
			t.Fatalf("parallel attempt %d refused below the threshold, wait %v", i+1, w)
		}
	}
	l.Release(k, k, k, k, k)
	l.Fail(k, k, k)
	if w, ok := l.Begin(k); ok || w != time.Second {
		t.Fatalf("after 3 failures: Begin = %v, %v; want 1s, false", w, ok)
	}
	clock.Advance(time.Second)
	if w, ok := l.Begin(k); !ok {
		t.Fatalf("attempt after the wait refused, wait %v", w)
	}
	if w, ok := l.Begin(k); ok || w != 2*time.Second {
		t.Fatalf("a second attempt while the throttled key has one in flight: Begin = %v, %v; want 2s, false", w, ok)
	}
}

func TestLimiterNoDelayConfigured(t *testing.T) {
	t.Parallel()
	l := NewLimiter(time.Minute, 0, 0, newFakeClock().Now)
	k := Key{Name: "k", After: 1}
	for i := range 10 {
		if w, ok := l.Begin(k); w != 0 || !ok {
			t.Fatalf("attempt %d: Begin = %v, %v with throttling off", i+1, w, ok)
		}
		l.Fail(k)
	}
	if n := l.Len(); n != 0 {
		t.Fatalf("Len = %d with throttling off, want 0", n)
	}
}

func TestLimiterWindowExpiry(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	l := NewLimiter(time.Minute, 100*ms, time.Second, clock.Now)
	k := Key{Name: "k", After: 2}
	failOnce(t, l, k)
	failOnce(t, l, k)
	// Within the window, after the wait: the count goes on.
	clock.Advance(30 * time.Second)
	failOnce(t, l, k)
	if w, _ := l.Begin(k); w != 200*ms {
		t.Fatalf("3rd failure within the window: wait %v, want 200ms", w)
	}
	// The window has passed since the first failure, and the wait is over: a fresh start.
	clock.Advance(31 * time.Second)
	failOnce(t, l, k)
	if w, ok := l.Begin(k); !ok {
		t.Fatalf("1st failure of a new window: wait %v, want none", w)
	}
	l.Fail(k)
	if w, _ := l.Begin(k); w != 100*ms {
		t.Fatalf("2nd failure of the new window: wait %v, want 100ms", w)
	}
}

func TestLimiterWindowWaitsForPendingDelay(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	// A wait longer than the window: the key is kept until it is served.
	l := NewLimiter(time.Second, 5*time.Second, 5*time.Second, clock.Now)
	k := Key{Name: "k", After: 1}
	failOnce(t, l, k)
	clock.Advance(2 * time.Second) // window over, wait not yet served
	if w, ok := l.Begin(k); ok || w != 3*time.Second {
		t.Fatalf("Begin after the window but within the wait = %v, %v; want 3s, false", w, ok)
	}
	clock.Advance(time.Minute)
	if w, ok := l.Begin(k); !ok {
		t.Fatalf("Begin long after refused, wait %v", w)
	}
	l.Release(k)
	if n := l.Len(); n != 0 {
		t.Fatalf("expired key still tracked: Len = %d", n)
	}
}

func TestLimiterReleaseAndReset(t *testing.T) {
	t.Parallel()
	l := NewLimiter(time.Minute, 100*ms, time.Second, newFakeClock().Now)
	k := Key{Name: "k", After: 2}
	failOnce(t, l, k)
	if _, ok := l.Begin(k); !ok {
		t.Fatal("2nd attempt refused")
	}
	l.Release(k) // a success that does not clear the key: its failure still counts
	failOnce(t, l, k)
	if w, ok := l.Begin(k); ok || w != 100*ms {
		t.Fatalf("after 2 failures and a release: Begin = %v, %v; want 100ms, false", w, ok)
	}
	l.Reset(k)
	if w, ok := l.Begin(k); !ok {
		t.Fatalf("Begin after Reset refused, wait %v", w)
	}
	l.Release(k)
	if n := l.Len(); n != 0 {
		t.Fatalf("Len = %d after Reset and a release, want 0", n)
	}
}

func TestLimiterBoundedUnderFlood(t *testing.T) {
	t.Parallel()
	l := NewLimiter(time.Minute, 100*ms, time.Second, newFakeClock().Now)
	l.maxEntries = 64 // the real bound is 10000; the eviction is the same
	for i := range 5000 {
		failOnce(t, l, Key{Name: fmt.Sprintf("user%d", i), After: 3})
		if n := l.Len(); n > l.maxEntries {
			t.Fatalf("after %d distinct keys: %d tracked, bound %d", i+1, n, l.maxEntries)
		}
	}
}

// TestLimiterEvictionKeepsThrottled floods a full table with distinct keys: the keys that must
// wait stay, and so do keys with more failures than the flood's.
func TestLimiterEvictionKeepsThrottled(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	l := NewLimiter(time.Hour, time.Minute, time.Hour, clock.Now)
	l.maxEntries = 64
	throttled := Key{Name: "throttled", After: 3}
	almost := Key{Name: "almost", After: 3}
	expired := Key{Name: "expired", After: 3}
	failOnce(t, l, expired)
	clock.Advance(2 * time.Hour)
	for range 3 {
		failOnce(t, l, throttled)
	}
	failOnce(t, l, almost)
	failOnce(t, l, almost)
	for i := range 5000 {
		failOnce(t, l, Key{Name: fmt.Sprintf("flood%d", i), After: 3})
	}
	if w, ok := l.Begin(throttled); ok || w != time.Minute {
		t.Fatalf("throttled key after the flood: Begin = %v, %v; want 1m, false", w, ok)
	}
	if l.entries[almost.Name] == nil {
		t.Fatal("a key with 2 failures was evicted before keys with 1")
	}
	if l.entries[expired.Name] != nil {
		t.Fatal("an expired key was kept")
	}
}

// TestLimiterEvictionLastResort fills the table with keys that must wait: the ones whose wait
// ends soonest go.
func TestLimiterEvictionLastResort(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	l := NewLimiter(time.Hour, time.Minute, time.Hour, clock.Now)
	l.maxEntries = 10
	for i := range 10 {
		failOnce(t, l, Key{Name: fmt.Sprintf("k%d", i), After: 1})
		clock.Advance(time.Second)
	}
	failOnce(t, l, Key{Name: "new", After: 1})
	if n := l.Len(); n != 10 {
		t.Fatalf("Len = %d, want 10", n)
	}
	if l.entries["k0"] != nil || l.entries["k1"] == nil || l.entries["k9"] == nil {
		t.Fatal("want k0 (the wait ending soonest) evicted, k1 to k9 kept")
	}
}

func TestLimiterConcurrentUse(t *testing.T) {
	t.Parallel()
	l := NewLimiter(time.Minute, ms, 10*ms, nil)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				k := Key{Name: fmt.Sprintf("k%d", (g+i)%5), After: 2}
				if _, ok := l.Begin(k); !ok {
					continue
				}
				switch i % 3 {
				case 0:
					l.Fail(k)
				case 1:
					l.Release(k)
				default:
					l.Reset(k)
				}
			}
		})
	}
	wg.Wait()
	if n := l.Len(); n > 5 {
		t.Fatalf("Len = %d, want at most 5 keys", n)
	}
	for _, e := range l.entries {
		if e.pending != 0 {
			t.Fatalf("attempts still in flight after all ended: %+v", e)
		}
	}
}
