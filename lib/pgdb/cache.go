package pgdb

import (
	"context"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/myftp/myftp/lib/account"
)

// A server asks for the account of a session at every command. So that this costs no round trip
// to the database, a DB keeps the accounts it read, but only while a connection of its own
// listens on the channel that every change of the accounts notifies (migration 2): any
// notification drops them all, and so does the loss of that connection, after which nothing is
// kept until it listens again. A change committed on any node reaches the others as soon as
// PostgreSQL delivers the notification, a fraction of a millisecond on a local network.

// channel is the channel the triggers of migration 2 notify.
const channel = "myftp_accounts"

// maxCached bounds the accounts kept: beyond it, all are dropped and read again as needed.
const maxCached = 100_000

// checkEvery is how long the listener waits for a notification before it checks that its
// connection still answers: a connection lost without a word would otherwise keep stale accounts.
const checkEvery = 10 * time.Second

// cache is the accounts read while the listener listens.
type cache struct {
	mu      sync.Mutex
	on      bool   // the listener listens: what is read may be kept
	gen     uint64 // changes at every notification and every change of on
	entries map[string]account.Account
}

// get returns the cached account called name, if any, and the generation to pass to put.
func (c *cache) get(name string) (account.Account, uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	a, ok := c.entries[name]
	return a, c.gen, ok
}

// put keeps a, read when the generation was gen, unless something changed since.
func (c *cache) put(a account.Account, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.on || gen != c.gen {
		return
	}
	if len(c.entries) >= maxCached {
		clear(c.entries)
	}
	c.entries[a.Name] = a
}

// flush drops every account and sets whether new ones may be kept.
func (c *cache) flush(on bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.on = on
	c.gen++
	clear(c.entries)
}

// invalidate drops every account: this DB changed one.
func (c *cache) invalidate() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	clear(c.entries)
}

// listen keeps a connection listening on the channel until ctx ends, reconnecting after a loss
// with a growing pause (at most 5 s); the cache is off while it does not listen.
func (d *DB) listen(ctx context.Context, cfg *pgx.ConnConfig) {
	defer close(d.listening)
	pause := 100 * time.Millisecond
	for ctx.Err() == nil {
		heard := d.listenOnce(ctx, cfg)
		d.cache.flush(false)
		if heard {
			pause = 100 * time.Millisecond
		}
		select {
		case <-ctx.Done():
		case <-time.After(pause):
		}
		pause = min(2*pause, 5*time.Second)
	}
}

// listenOnce connects, listens and flushes the cache at each notification until the connection
// fails or ctx ends. It reports whether it listened at all.
func (d *DB) listenOnce(ctx context.Context, cfg *pgx.ConnConfig) bool {
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return false
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+channel); err != nil {
		return false
	}
	d.cache.flush(true) // every change from now on is heard
	for {
		wctx, cancel := context.WithTimeout(ctx, checkEvery)
		_, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			d.cache.flush(true)
		case ctx.Err() != nil:
			return true
		case pgconn.Timeout(err):
			if !d.answers(ctx, conn) {
				return true
			}
		default:
			return true
		}
	}
}

// answers reports whether conn answers a ping within the DB's timeout.
func (d *DB) answers(ctx context.Context, conn *pgx.Conn) bool {
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	return conn.Ping(ctx) == nil
}
