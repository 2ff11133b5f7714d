package pgdb

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/myftp/myftp/lib/account"
	"github.com/myftp/myftp/lib/homefs"
)

// ErrLeaseLost is the error of a change that would reserve or release space while this node's
// lease has run out: the other nodes may have given back its reservations already, so it makes
// none until its lease is renewed. It comes wrapped with account.ErrUnavailable.
var ErrLeaseLost = errors.New("pgdb: quota lease not renewed")

// Quotas is the quota ledger of homes (homefs.Ledger) in the database, shared by every node that
// opens one on it: a change is one conditional statement, so that two uploads on two nodes never
// pass a quota together. It also holds the paths with an upload in progress (homefs.Holder), so
// that two nodes never upload one path at once. Each Quotas is one node: it records the bytes it reserves under its
// name and renews a lease on that name; once a node's lease has expired (the node died, or lost
// the database for longer than the lease), any other node gives its reservations back and marks
// the homes they were in to be measured again, which counts whatever its unfinished uploads kept.
type Quotas struct {
	db    *DB
	node  string
	lease time.Duration
	log   *slog.Logger

	mu         sync.Mutex
	validUntil time.Time              // the lease, as this node knows it, with a margin
	tokens     map[hold]string        // the token of each hold this node took, to release it by
	unreleased map[heldToken]struct{} // upload holds whose release failed, tried again with the lease

	stop    context.CancelFunc
	stopped chan struct{}
}

// Quotas returns the quota ledger of this node, whose reservations are given back by the other
// nodes once it has not renewed its lease for lease (at least 3 s). It renews the lease, and
// gives back the reservations of expired nodes, every lease/4 until Close. log, if not nil,
// receives what the administrator should know: reservations given back, a renewal that failed.
func (d *DB) Quotas(ctx context.Context, lease time.Duration, log *slog.Logger) (*Quotas, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	q := &Quotas{db: d, node: nodeName(), lease: max(lease, 3*time.Second), log: log,
		tokens: map[hold]string{}, unreleased: map[heldToken]struct{}{}}
	if err := q.renew(ctx); err != nil {
		return nil, err
	}
	hctx, stop := context.WithCancel(context.Background())
	q.stop, q.stopped = stop, make(chan struct{})
	go q.heartbeat(hctx)
	return q, nil
}

// nodeName names this process among the nodes: its host, its PID and a random part.
func nodeName() string {
	host, _ := os.Hostname()
	var b [4]byte
	rand.Read(b[:])
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

// Node returns the name this node's reservations are recorded under.
func (q *Quotas) Node() string { return q.node }

// Close stops renewing the lease and removes it, giving back this node's reservations at once
// (a node that stops has no upload in progress left).
func (q *Quotas) Close() {
	q.stop()
	<-q.stopped
	err := q.db.tx(func(ctx context.Context, tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE quota_nodes SET expires = '-infinity' WHERE node = $1`, q.node); err != nil {
			return err
		}
		return sweep(ctx, tx)
	})
	if err != nil {
		q.log.Warn("quota lease not removed; the other nodes give back its reservations when it expires", "node", q.node, "err", err)
	}
}

// heartbeat renews the lease and sweeps expired ones until ctx ends.
func (q *Quotas) heartbeat(ctx context.Context) {
	defer close(q.stopped)
	t := time.NewTicker(q.lease / 4)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := q.renew(ctx); err != nil && ctx.Err() == nil {
			q.log.Warn("quota lease not renewed", "node", q.node, "err", err)
			continue
		}
		q.releaseLeft(ctx)
	}
}

// renew extends this node's lease, then gives back the reservations of nodes whose lease expired.
func (q *Quotas) renew(ctx context.Context) error {
	start := time.Now()
	var swept []string
	err := q.db.tx(func(tctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(tctx, `INSERT INTO quota_nodes (node, expires) VALUES ($1, now() + $2::interval)
			ON CONFLICT (node) DO UPDATE SET expires = EXCLUDED.expires`, q.node, q.lease.String())
		if err != nil {
			return err
		}
		swept, err = sweepHomes(tctx, tx)
		return err
	})
	if err != nil {
		return q.db.fail("renew the quota lease", err)
	}
	q.mu.Lock()
	q.validUntil = start.Add(q.lease * 3 / 4) // a quarter of margin for clocks and delays
	q.mu.Unlock()
	if len(swept) > 0 {
		q.log.Warn("reservations of nodes whose lease expired given back; their homes are measured again at the next login",
			"homes", swept)
	}
	return nil
}

// sweep gives back the reservations of expired nodes.
func sweep(ctx context.Context, tx pgx.Tx) error {
	_, err := sweepHomes(ctx, tx)
	return err
}

// sweepHomes removes the expired nodes, subtracts their reservations from their homes, marks
// those homes stale, and returns them.
func sweepHomes(ctx context.Context, tx pgx.Tx) ([]string, error) {
	rows, err := tx.Query(ctx, `WITH dead AS (
			DELETE FROM quota_nodes WHERE expires < now() RETURNING node
		), gone AS (
			DELETE FROM home_reservations r USING dead WHERE r.node = dead.node RETURNING r.home, r.bytes
		), sums AS (
			SELECT home, sum(bytes)::bigint AS bytes FROM gone GROUP BY home
		)
		UPDATE home_usage u SET reserved = u.reserved - sums.bytes, stale = true FROM sums WHERE u.home = sums.home
		RETURNING u.home`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// leased fails with ErrLeaseLost if this node's lease may have run out.
func (q *Quotas) leased() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if time.Now().After(q.validUntil) {
		return fmt.Errorf("node %s: %w", q.node, ErrLeaseLost)
	}
	return nil
}

// changeSQL applies a change to a home if its limits hold, in one statement. A negative change of
// the reserved bytes gives back at most what this node holds there (reservations given back by a
// sweep are not given back twice). It returns the counts after the change and true, or the counts
// as they were and false when a limit refused it; no row when the home was never loaded.
const changeSQL = `WITH held AS (
		SELECT coalesce((SELECT bytes FROM home_reservations WHERE home = $1 AND node = $6), 0) AS bytes
	), d AS (
		SELECT CASE WHEN $3::bigint < 0 THEN greatest($3::bigint, -held.bytes) ELSE $3::bigint END AS res FROM held
	), u AS (
		UPDATE home_usage h SET bytes = h.bytes + $2, reserved = h.reserved + d.res, files = h.files + $4, partials = h.partials + $5
		FROM d
		WHERE h.home = $1
			AND (NOT $7 OR $2::numeric + d.res <= $8::numeric - h.bytes - h.reserved)
			AND (NOT $9 OR $4::numeric <= $10::numeric - h.files)
			AND (NOT $11 OR $5::numeric <= $12::numeric - h.partials)
		RETURNING h.bytes, h.reserved, h.files, h.partials
	), r AS (
		INSERT INTO home_reservations (home, node, bytes) SELECT $1, $6, d.res FROM u, d WHERE d.res <> 0
		ON CONFLICT (home, node) DO UPDATE SET bytes = home_reservations.bytes + EXCLUDED.bytes
	)
	SELECT bytes, reserved, files, partials, true FROM u
	UNION ALL
	SELECT bytes, reserved, files, partials, false FROM home_usage WHERE home = $1 AND NOT EXISTS (SELECT 1 FROM u)`

// Change adds d to the counts of home if the limits lim hold for the result (homefs.Ledger).
func (q *Quotas) Change(ctx context.Context, home string, d homefs.Counts, lim homefs.Limits) (homefs.Counts, error) {
	if d == (homefs.Counts{}) && lim == (homefs.Limits{}) { // a read: no new row version for it
		c, found, err := q.read(ctx, home)
		if err == nil && !found {
			err = fmt.Errorf("read the counts of %s: %w", home, homefs.ErrNotLoaded)
		}
		return c, err
	}
	if d.Reserved != 0 {
		if err := q.leased(); err != nil { // the database was out of reach for a while: try again
			return homefs.Counts{}, fmt.Errorf("%w: %w", account.ErrUnavailable, err)
		}
	}
	var c homefs.Counts
	var done bool
	err := q.db.callCtx(ctx, func(ctx context.Context) error {
		return q.db.pool.QueryRow(ctx, changeSQL, home, d.Bytes, d.Reserved, d.Files, d.Partials, q.node,
			lim.Bytes.On, lim.Bytes.Max, lim.Files.On, lim.Files.Max, lim.Partials.On, lim.Partials.Max).
			Scan(&c.Bytes, &c.Reserved, &c.Files, &c.Partials, &done)
	})
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return c, fmt.Errorf("change the counts of %s: %w", home, homefs.ErrNotLoaded)
	case err != nil:
		return c, q.db.fail("change the counts of "+home, err)
	case !done:
		// The statement saw the counts of its snapshot, from before the change that made it
		// refuse, if another node's came first: read them again for the user.
		if now, found, err := q.read(ctx, home); err == nil && found {
			c = now
		}
		return c, limitError(c, d, lim)
	}
	return c, nil
}

// limitError is the error of a change d refused by the database, which saw the counts c: the
// first limit the change passes on them, or, if none does (the counts changed between the check
// and the read of them, or the reserved bytes given back were fewer than asked), the first limit
// set.
func limitError(c, d homefs.Counts, lim homefs.Limits) error {
	if err := lim.Check(c, d); err != nil {
		return err
	}
	e := &homefs.LimitError{Seen: c}
	switch {
	case lim.Bytes.On:
		e.Count, e.Max = homefs.CountBytes, lim.Bytes.Max
	case lim.Files.On:
		e.Count, e.Max = homefs.CountFiles, lim.Files.Max
	default:
		e.Count, e.Max = homefs.CountPartials, lim.Partials.Max
	}
	return e
}

// Stale makes the next Load of home measure it again (homefs.Ledger).
func (q *Quotas) Stale(ctx context.Context, home string) error {
	err := q.db.callCtx(ctx, func(ctx context.Context) error {
		_, err := q.db.pool.Exec(ctx, `UPDATE home_usage SET stale = true WHERE home = $1`, home)
		return err
	})
	if err != nil {
		return q.db.fail("mark "+home+" to be measured", err)
	}
	return nil
}

// Load returns the counts of home, measuring it when the database has none under token or they
// are stale (homefs.Ledger). A measurement replaces the bytes and entries; it keeps what other
// nodes reserved (their uploads go on, and when they finish they count in full what the
// measurement may have counted in part: a home can be counted over, never under) and sets what
// this node reserved to the measurement's Reserved, what its uploads in progress still hold
// (what a failed change left is dropped). Under a new token (a home made anew) nothing that
// other nodes reserved is kept.
func (q *Quotas) Load(ctx context.Context, home, token string, measure func(context.Context) (homefs.Counts, error)) (homefs.Counts, error) {
	c, ok, err := q.current(ctx, home, token)
	if err != nil || ok {
		return c, err
	}
	m, err := measure(ctx)
	if err != nil {
		return homefs.Counts{}, err
	}
	err = q.db.txCtx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		c, err = q.store(ctx, tx, home, token, m)
		return err
	})
	if err != nil {
		return homefs.Counts{}, q.db.fail("store the counts of "+home, err)
	}
	return c, nil
}

// current returns the counts of home if they are current under token.
func (q *Quotas) current(ctx context.Context, home, token string) (homefs.Counts, bool, error) {
	var c homefs.Counts
	var ok bool
	err := q.db.callCtx(ctx, func(ctx context.Context) error {
		return q.db.pool.QueryRow(ctx, `SELECT bytes, reserved, files, partials, token = $2 AND NOT stale
			FROM home_usage WHERE home = $1`, home, token).Scan(&c.Bytes, &c.Reserved, &c.Files, &c.Partials, &ok)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return c, false, nil
	}
	if err != nil {
		return c, false, q.db.fail("read the counts of "+home, err)
	}
	return c, ok, nil
}

// read returns the counts of home, and whether it has any.
func (q *Quotas) read(ctx context.Context, home string) (homefs.Counts, bool, error) {
	var c homefs.Counts
	err := q.db.callCtx(ctx, func(ctx context.Context) error {
		return q.db.pool.QueryRow(ctx, `SELECT bytes, reserved, files, partials FROM home_usage WHERE home = $1`, home).
			Scan(&c.Bytes, &c.Reserved, &c.Files, &c.Partials)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return c, false, nil
	}
	if err != nil {
		return c, false, q.db.fail("read the counts of "+home, err)
	}
	return c, true, nil
}

// store writes the measured counts m of home under token, unless another node stored current
// ones meanwhile, and returns the counts the database holds.
func (q *Quotas) store(ctx context.Context, tx pgx.Tx, home, token string, m homefs.Counts) (homefs.Counts, error) {
	tag, err := tx.Exec(ctx, `INSERT INTO home_usage (home, token, bytes, files, partials) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (home) DO NOTHING`, home, token, m.Bytes, m.Files, m.Partials)
	if err != nil {
		return m, err
	}
	inserted := tag.RowsAffected() == 1
	var oldToken string
	var stale bool
	var c homefs.Counts
	err = tx.QueryRow(ctx, `SELECT token, stale, bytes, reserved, files, partials FROM home_usage WHERE home = $1 FOR UPDATE`, home).
		Scan(&oldToken, &stale, &c.Bytes, &c.Reserved, &c.Files, &c.Partials)
	if err != nil || oldToken == token && !stale && (!inserted || m.Reserved == 0) {
		return c, err // just inserted, or measured by another node meanwhile
	}
	drop := `DELETE FROM home_reservations WHERE home = $1 AND node = $2`
	if oldToken != token {
		drop = `DELETE FROM home_reservations WHERE home = $1 AND $2::text IS NOT NULL`
	}
	if _, err := tx.Exec(ctx, drop, home, q.node); err != nil {
		return c, err
	}
	if m.Reserved > 0 { // this node's uploads in progress: still reserved
		if _, err := tx.Exec(ctx, `INSERT INTO home_reservations (home, node, bytes) VALUES ($1, $2, $3)`, home, q.node, m.Reserved); err != nil {
			return c, err
		}
	}
	err = tx.QueryRow(ctx, `UPDATE home_usage SET token = $2, stale = false, bytes = $3, files = $4, partials = $5,
			reserved = (SELECT coalesce(sum(bytes), 0) FROM home_reservations WHERE home = $1)
		WHERE home = $1 RETURNING bytes, reserved, files, partials`, home, token, m.Bytes, m.Files, m.Partials).
		Scan(&c.Bytes, &c.Reserved, &c.Files, &c.Partials)
	return c, err
}

var _ homefs.Ledger = (*Quotas)(nil)
