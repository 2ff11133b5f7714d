package homefs

import (
	"context"
	"fmt"
	"sync"
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
