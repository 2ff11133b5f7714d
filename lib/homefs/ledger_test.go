package homefs

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"testing"
)

// mapLedger is a Ledger written for the tests, apart from the Store's own: a map under a lock,
// which several Stores (nodes) may share.
type mapLedger struct {
	mu       sync.Mutex
	homes    map[string]*memHome
	measures int
}

func newMapLedger() *mapLedger { return &mapLedger{homes: map[string]*memHome{}} }

func (m *mapLedger) Load(ctx context.Context, home, token string, measure func(context.Context) (Counts, error)) (Counts, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e := m.homes[home]; e != nil && !e.stale && e.token == token {
		return e.c, nil
	}
	m.measures++
	c, err := measure(ctx)
	if err != nil {
		return Counts{}, err
	}
	c.Reserved = 0
	m.homes[home] = &memHome{token: token, c: c}
	return c, nil
}

func (m *mapLedger) Change(_ context.Context, home string, d Counts, lim Limits) (Counts, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.homes[home]
	if e == nil {
		return Counts{}, ErrNotLoaded
	}
	if err := lim.Check(e.c, d); err != nil {
		return e.c, err
	}
	e.c = e.c.Plus(d)
	return e.c, nil
}

func (m *mapLedger) Stale(_ context.Context, home string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e := m.homes[home]; e != nil {
		e.stale = true
	}
	return nil
}

// held returns the counts the ledger holds for home.
func (m *mapLedger) held(home string) Counts {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e := m.homes[home]; e != nil {
		return e.c
	}
	return Counts{}
}

// countingLedger counts the changes a Store asks of the ledger it wraps (reads apart), and can
// be told to refuse those that have limits, or to fail every call, as a ledger whose database is
// down.
type countingLedger struct {
	Ledger
	mu      sync.Mutex
	changes []Counts
	refuse  Count // refuse, for this count, every change that has limits; 0: none
	down    error // fail every call with it; nil: none
}

func (l *countingLedger) Load(ctx context.Context, home, token string, measure func(context.Context) (Counts, error)) (Counts, error) {
	if err := l.failing(); err != nil {
		return Counts{}, err
	}
	return l.Ledger.Load(ctx, home, token, measure)
}

func (l *countingLedger) Change(ctx context.Context, home string, d Counts, lim Limits) (Counts, error) {
	l.mu.Lock()
	read := d == Counts{} && lim == Limits{}
	if !read {
		l.changes = append(l.changes, d)
	}
	refuse, down := l.refuse, l.down
	l.mu.Unlock()
	switch {
	case down != nil:
		return Counts{}, down
	case refuse != 0 && lim != Limits{}:
		c, err := l.Ledger.Change(ctx, home, Counts{}, Limits{})
		if err != nil {
			return c, err
		}
		return c, fmt.Errorf("the test's ledger: %w", &LimitError{Count: refuse, Max: 7, Seen: c})
	}
	return l.Ledger.Change(ctx, home, d, lim)
}

func (l *countingLedger) Stale(ctx context.Context, home string) error {
	if err := l.failing(); err != nil {
		return err
	}
	return l.Ledger.Stale(ctx, home)
}

func (l *countingLedger) failing() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.down
}

// take returns the changes asked since the last take.
func (l *countingLedger) take() []Counts {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.changes
	l.changes = nil
	return c
}

func (l *countingLedger) set(refuse Count, down error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.refuse, l.down = refuse, down
}

// What every Ledger must do, checked on the Store's own and on the tests' one.
func TestLedgerContract(t *testing.T) {
	t.Parallel()
	for name, newLedger := range map[string]func() Ledger{
		"memory": func() Ledger { return newMemLedger() },
		"map":    func() Ledger { return newMapLedger() },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			checkLedger(t, newLedger())
		})
	}
}

func checkLedger(t *testing.T, l Ledger) {
	ctx := context.Background()
	measured := 0
	measure := func(c Counts, err error) func(context.Context) (Counts, error) {
		return func(context.Context) (Counts, error) { measured++; return c, err }
	}
	if _, err := l.Change(ctx, "u", Counts{Files: 1}, Limits{}); !errors.Is(err, ErrNotLoaded) {
		t.Errorf("Change of a home never loaded: %v, want ErrNotLoaded", err)
	}
	down := errors.New("disk gone")
	if _, err := l.Load(ctx, "u", "t1", measure(Counts{}, down)); !errors.Is(err, down) {
		t.Errorf("Load with a failing measure: %v", err)
	}
	start := Counts{Bytes: 90, Files: 3, Partials: 2}
	if c, err := l.Load(ctx, "u", "t1", measure(start, nil)); c != start || err != nil {
		t.Fatalf("Load = %+v, %v; want the measured %+v", c, err, start)
	}
	if c, err := l.Load(ctx, "u", "t1", measure(Counts{}, nil)); c != start || err != nil || measured != 2 {
		t.Errorf("Load again = %+v, %v after %d measures; want %+v kept, 2 measures", c, err, measured, start)
	}

	lim := Limits{Bytes: AtMost(100), Files: AtMost(5), Partials: AtMost(4)}
	if c, err := l.Change(ctx, "u", Counts{Reserved: 10, Files: 2, Partials: 2}, lim); err != nil || c != (Counts{90, 10, 5, 4}) {
		t.Errorf("a change that fits exactly = %+v, %v", c, err)
	}
	for _, tc := range []struct {
		d     Counts
		lim   Limits
		count Count
	}{
		{Counts{Reserved: 1}, lim, CountBytes},
		{Counts{}, Limits{Bytes: AtMost(99)}, CountBytes}, // a quota lowered below use: no growth is checked too
		{Counts{Bytes: -5, Reserved: 6}, lim, CountBytes},
		{Counts{Reserved: math.MaxInt64}, lim, CountBytes},
		{Counts{Files: 1}, Limits{Files: AtMost(5)}, CountFiles},
		{Counts{Partials: 1}, Limits{Partials: AtMost(4)}, CountPartials},
	} {
		_, err := l.Change(ctx, "u", tc.d, tc.lim)
		var le *LimitError
		if !errors.As(err, &le) || le.Count != tc.count || le.Seen != (Counts{90, 10, 5, 4}) || !errors.Is(err, ErrQuota) {
			t.Errorf("Change(%+v, %+v) = %v; want a *LimitError of %s with the counts seen", tc.d, tc.lim, err, tc.count)
		}
	}
	if c, err := l.Change(ctx, "u", Counts{}, Limits{}); c != (Counts{90, 10, 5, 4}) || err != nil {
		t.Errorf("after refusals, a read = %+v, %v; want nothing changed", c, err)
	}
	if c, _ := l.Change(ctx, "u", Counts{Bytes: -90, Reserved: -10, Files: -5, Partials: -4}, Limits{}); c != (Counts{}) {
		t.Errorf("giving everything back leaves %+v", c)
	}

	// Stale or another token: measured again, with nothing reserved.
	l.Change(ctx, "u", Counts{Reserved: 5}, Limits{})
	if err := l.Stale(ctx, "u"); err != nil {
		t.Fatal(err)
	}
	if c, _ := l.Load(ctx, "u", "t1", measure(start, nil)); c != start || measured != 3 {
		t.Errorf("Load after Stale = %+v after %d measures; want %+v measured again", c, measured, start)
	}
	if c, _ := l.Load(ctx, "u", "t2", measure(Counts{Bytes: 1}, nil)); c != (Counts{Bytes: 1}) || measured != 4 {
		t.Errorf("Load under a new token = %+v after %d measures; want measured again", c, measured)
	}
}
