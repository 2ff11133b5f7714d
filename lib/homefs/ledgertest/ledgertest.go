// Package ledgertest is the contract every quota ledger (homefs.Ledger) must keep, checked on
// homefs's own in memory and on the PostgreSQL one (package pgdb), as one table of steps.
package ledgertest

import (
	"context"
	"errors"
	"math"
	"testing"

	"github.com/myftp/myftp/lib/homefs"
)

// Run checks the contract of homefs.Ledger on l, which must hold no home called "u".
func Run(t *testing.T, l homefs.Ledger) {
	ctx := context.Background()
	measured := 0
	measure := func(c homefs.Counts, err error) func(context.Context) (homefs.Counts, error) {
		return func(context.Context) (homefs.Counts, error) { measured++; return c, err }
	}
	if _, err := l.Change(ctx, "u", homefs.Counts{Files: 1}, homefs.Limits{}); !errors.Is(err, homefs.ErrNotLoaded) {
		t.Errorf("Change of a home never loaded: %v, want homefs.ErrNotLoaded", err)
	}
	down := errors.New("disk gone")
	if _, err := l.Load(ctx, "u", "t1", measure(homefs.Counts{}, down)); !errors.Is(err, down) {
		t.Errorf("Load with a failing measure: %v", err)
	}
	start := homefs.Counts{Bytes: 90, Files: 3, Partials: 2}
	if c, err := l.Load(ctx, "u", "t1", measure(start, nil)); c != start || err != nil {
		t.Fatalf("Load = %+v, %v; want the measured %+v", c, err, start)
	}
	if c, err := l.Load(ctx, "u", "t1", measure(homefs.Counts{}, nil)); c != start || err != nil || measured != 2 {
		t.Errorf("Load again = %+v, %v after %d measures; want %+v kept, 2 measures", c, err, measured, start)
	}

	lim := homefs.Limits{Bytes: homefs.AtMost(100), Files: homefs.AtMost(5), Partials: homefs.AtMost(4)}
	if c, err := l.Change(ctx, "u", homefs.Counts{Reserved: 10, Files: 2, Partials: 2}, lim); err != nil || c != (homefs.Counts{Bytes: 90, Reserved: 10, Files: 5, Partials: 4}) {
		t.Errorf("a change that fits exactly = %+v, %v", c, err)
	}
	for _, tc := range []struct {
		d     homefs.Counts
		lim   homefs.Limits
		count homefs.Count
	}{
		{homefs.Counts{Reserved: 1}, lim, homefs.CountBytes},
		{homefs.Counts{}, homefs.Limits{Bytes: homefs.AtMost(99)}, homefs.CountBytes}, // a quota lowered below use: no growth is checked too
		{homefs.Counts{Bytes: -5, Reserved: 6}, lim, homefs.CountBytes},
		{homefs.Counts{Reserved: math.MaxInt64}, lim, homefs.CountBytes},
		{homefs.Counts{Files: 1}, homefs.Limits{Files: homefs.AtMost(5)}, homefs.CountFiles},
		{homefs.Counts{Partials: 1}, homefs.Limits{Partials: homefs.AtMost(4)}, homefs.CountPartials},
	} {
		_, err := l.Change(ctx, "u", tc.d, tc.lim)
		var le *homefs.LimitError
		if !errors.As(err, &le) || le.Count != tc.count || le.Seen != (homefs.Counts{Bytes: 90, Reserved: 10, Files: 5, Partials: 4}) || !errors.Is(err, homefs.ErrQuota) {
			t.Errorf("Change(%+v, %+v) = %v; want a *homefs.LimitError of %s with the counts seen", tc.d, tc.lim, err, tc.count)
		}
	}
	if c, err := l.Change(ctx, "u", homefs.Counts{}, homefs.Limits{}); c != (homefs.Counts{Bytes: 90, Reserved: 10, Files: 5, Partials: 4}) || err != nil {
		t.Errorf("after refusals, a read = %+v, %v; want nothing changed", c, err)
	}
	if c, _ := l.Change(ctx, "u", homefs.Counts{Bytes: -90, Reserved: -10, Files: -5, Partials: -4}, homefs.Limits{}); c != (homefs.Counts{}) {
		t.Errorf("giving everything back leaves %+v", c)
	}

	// Stale or another token: measured again, with nothing reserved.
	l.Change(ctx, "u", homefs.Counts{Reserved: 5}, homefs.Limits{})
	if err := l.Stale(ctx, "u"); err != nil {
		t.Fatal(err)
	}
	if c, _ := l.Load(ctx, "u", "t1", measure(start, nil)); c != start || measured != 3 {
		t.Errorf("Load after Stale = %+v after %d measures; want %+v measured again", c, measured, start)
	}
	if c, _ := l.Load(ctx, "u", "t2", measure(homefs.Counts{Bytes: 1}, nil)); c != (homefs.Counts{Bytes: 1}) || measured != 4 {
		t.Errorf("Load under a new token = %+v after %d measures; want measured again", c, measured)
	}

	// Measured under uploads in progress of the caller: what they hold stays reserved, and is
	// given back through the same ledger.
	l.Change(ctx, "u", homefs.Counts{Reserved: 3}, homefs.Limits{})
	if err := l.Stale(ctx, "u"); err != nil {
		t.Fatal(err)
	}
	running := homefs.Counts{Bytes: 1, Reserved: 7}
	if c, _ := l.Load(ctx, "u", "t2", measure(running, nil)); c != running || measured != 5 {
		t.Errorf("Load after Stale under running uploads = %+v after %d measures; want %+v", c, measured, running)
	}
	if c, _ := l.Change(ctx, "u", homefs.Counts{Reserved: -7}, homefs.Limits{}); c != (homefs.Counts{Bytes: 1}) {
		t.Errorf("the running uploads' reservation given back leaves %+v", c)
	}
}
