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

func TestLimiterPenaltyDoublesUpToMax(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	l := NewLimiter(3, time.Minute, 100*ms, time.Second, clock.Now)
	want := []time.Duration{0, 0, 0, 100 * ms, 200 * ms, 400 * ms, 800 * ms, time.Second, time.Second, time.Second}
	for i, w := range want {
		if got := l.Fail("account:alice"); got != w {
			t.Errorf("failure %d: delay %v, want %v", i+1, got, w)
		}
	}
	// Another key has its own count.
	if got := l.Fail("address:10.0.0.1"); got != 0 {
		t.Errorf("first failure of another key: delay %v, want 0", got)
	}
	if n := l.Len(); n != 2 {
		t.Errorf("Len = %d, want 2", n)
	}
}

func TestLimiterNoDelayConfigured(t *testing.T) {
	t.Parallel()
	l := NewLimiter(0, time.Minute, 0, 0, newFakeClock().Now)
	for i := range 10 {
		if d := l.Fail("k"); d != 0 {
			t.Fatalf("failure %d: delay %v with throttling off", i+1, d)
		}
		if w, ok := l.Reserve("k", time.Second); w != 0 || !ok {
			t.Fatalf("Reserve = %v, %v with throttling off", w, ok)
		}
	}
}

func TestLimiterWindowExpiry(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	l := NewLimiter(2, time.Minute, 100*ms, time.Second, clock.Now)
	for range 5 {
		l.Fail("k")
	}
	// Still within the window, after the delay has passed: the count goes on.
	clock.Advance(30 * time.Second)
	if d := l.Fail("k"); d != 800*ms {
		t.Fatalf("6th failure within the window: delay %v, want 800ms", d)
	}
	// The window has passed since the first failure, and the delay is over: a fresh start.
	clock.Advance(31 * time.Second)
	if d := l.Fail("k"); d != 0 {
		t.Fatalf("failure after the window: delay %v, want 0 (count restarted)", d)
	}
	if d := l.Fail("k"); d != 0 {
		t.Fatalf("2nd failure of the new window: delay %v, want 0", d)
	}
	if d := l.Fail("k"); d != 100*ms {
		t.Fatalf("3rd failure of the new window: delay %v, want 100ms", d)
	}
}

func TestLimiterWindowWaitsForPendingDelay(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	// A delay longer than the window: the entry lives until the delay is served.
	l := NewLimiter(0, time.Second, 5*time.Second, 5*time.Second, clock.Now)
	if d := l.Fail("k"); d != 5*time.Second {
		t.Fatalf("delay %v, want 5s", d)
	}
	clock.Advance(2 * time.Second) // window over, delay not yet served
	if w, ok := l.Reserve("k", time.Minute); !ok || w != 3*time.Second {
		t.Fatalf("Reserve after the window but within the delay = %v, %v; want 3s, true", w, ok)
	}
	clock.Advance(time.Minute)
	if w, ok := l.Reserve("k", time.Minute); !ok || w != 0 {
		t.Fatalf("Reserve long after = %v, %v; want 0, true", w, ok)
	}
	if n := l.Len(); n != 0 {
		t.Fatalf("expired entry still tracked: Len = %d", n)
	}
}

func TestLimiterReserveSpacesParallelAttempts(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	l := NewLimiter(1, time.Minute, 100*ms, time.Second, clock.Now)
	if w, ok := l.Reserve("k", time.Second); w != 0 || !ok {
		t.Fatalf("Reserve of an unknown key = %v, %v; want 0, true", w, ok)
	}
	l.Fail("k")
	if w, ok := l.Reserve("k", time.Second); w != 0 || !ok {
		t.Fatalf("Reserve below the threshold = %v, %v; want 0, true", w, ok)
	}
	if d := l.Fail("k"); d != 100*ms {
		t.Fatalf("2nd failure: delay %v, want 100ms", d)
	}
	// Five attempts at the same instant (say from five connections): each gets a slot one delay
	// after the previous, so together they go no faster than one after the other.
	for i := range 5 {
		want := time.Duration(i+1) * 100 * ms
		if w, ok := l.Reserve("k", time.Second); w != want || !ok {
			t.Fatalf("parallel attempt %d: wait %v, %v; want %v, true", i+1, w, ok, want)
		}
	}
	// The next slot (600ms away) is beyond a 550ms limit: refused, and nothing is booked.
	for range 3 {
		if w, ok := l.Reserve("k", 550*ms); ok || w != 600*ms {
			t.Fatalf("Reserve beyond the limit = %v, %v; want 600ms, false", w, ok)
		}
	}
	clock.Advance(600 * ms)
	if w, ok := l.Reserve("k", 550*ms); !ok || w != 0 {
		t.Fatalf("Reserve once the booked slots passed = %v, %v; want 0, true", w, ok)
	}
}

func TestLimiterReset(t *testing.T) {
	t.Parallel()
	l := NewLimiter(1, time.Minute, 100*ms, time.Second, newFakeClock().Now)
	for range 4 {
		l.Fail("k")
	}
	l.Reset("k")
	if w, ok := l.Reserve("k", 0); w != 0 || !ok {
		t.Fatalf("Reserve after Reset = %v, %v; want 0, true", w, ok)
	}
	if d := l.Fail("k"); d != 0 {
		t.Fatalf("first failure after Reset: delay %v, want 0", d)
	}
}

func TestLimiterBoundedUnderFlood(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	l := NewLimiter(3, time.Minute, 100*ms, time.Second, clock.Now)
	l.maxEntries = 64 // the real bound is 10000; the eviction is the same
	for i := range 5000 {
		l.Fail(fmt.Sprintf("account:user%d", i))
		if n := l.Len(); n > l.maxEntries {
			t.Fatalf("after %d distinct keys: %d tracked, bound %d", i+1, n, l.maxEntries)
		}
	}
}

func TestLimiterEvictsExpiredFirst(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	l := NewLimiter(1, time.Minute, 100*ms, time.Second, clock.Now)
	l.maxEntries = 4
	for _, k := range []string{"a", "b", "c"} {
		l.Fail(k)
	}
	clock.Advance(2 * time.Minute) // a, b and c expire
	for range 3 {
		l.Fail("attacker")
	}
	l.Fail("d") // the table is full: the expired keys go, the live one stays
	if n := l.Len(); n != 2 {
		t.Fatalf("Len = %d, want 2 (attacker and d)", n)
	}
	if d := l.Fail("attacker"); d != 400*ms {
		t.Fatalf("attacker's 4th failure: delay %v, want 400ms (its count survived the eviction)", d)
	}
}

func TestLimiterConcurrentUse(t *testing.T) {
	t.Parallel()
	l := NewLimiter(2, time.Minute, ms, 10*ms, nil)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				k := fmt.Sprintf("k%d", (g+i)%5)
				l.Reserve(k, time.Second)
				l.Fail(k)
				if i%50 == 0 {
					l.Reset(k)
				}
			}
		})
	}
	wg.Wait()
	if n := l.Len(); n > 5 {
		t.Fatalf("Len = %d, want at most 5 keys", n)
	}
}
