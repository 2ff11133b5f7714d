// Package pgdb keeps myftp accounts and their SSH keys in PostgreSQL, so that several servers
// (nodes) serve the same accounts: an account created, changed, disabled or deleted by create_user
// on any machine is what every node sees at its next lookup.
//
// A DB has the methods and the contract of package db's (Get, Create, Update, Delete, List,
// ListAll), with the same errors from package account. Ids come from an identity sequence and are
// never reused. Every change is one transaction; the homes of all accounts are checked for
// overlap under one advisory lock, so two nodes creating accounts at once cannot give out one home
// twice. Open creates or migrates the schema (package migrations under the advisory lock of
// golang-migrate, so that nodes starting together apply each migration once).
//
// A database that cannot be reached, or does not answer within Options.Timeout, is an error
// wrapping account.ErrUnavailable, so that a server tells its clients to try again rather than
// that their password is wrong.
package pgdb

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/myftp/myftp/lib/account"
	"github.com/myftp/myftp/lib/homefs"
)

// Options configure Open.
type Options struct {
	// DSN is the connection string, a URL ("postgres://user@host:5432/myftp") or key=value pairs.
	// Empty means $DATABASE_URL, else the standard PG* variables (PGHOST, PGPORT, PGDATABASE,
	// PGUSER, PGPASSWORD, PGSSLMODE...) and ~/.pgpass, as psql reads them.
	DSN string
	// Timeout bounds each call, connecting included; zero means 10 s.
	Timeout time.Duration
	// MaxConns is the most connections the DB keeps open; zero means pgxpool's default (the
	// larger of 4 and the number of CPUs).
	MaxConns int32
}

// DB is a PostgreSQL account database. Its methods are safe for concurrent use, by goroutines and
// by processes on any number of machines.
type DB struct {
	pool    *pgxpool.Pool
	timeout time.Duration
	where   string

	cache     cache
	stop      context.CancelFunc // ends the listener
	listening chan struct{}      // closed when the listener has ended
}

// Open connects to the database o names, creates or migrates its schema, and returns it. Close
// releases it.
func Open(ctx context.Context, o Options) (*DB, error) {
	dsn := o.DSN
	if dsn == "" {
		dsn = os.Getenv("DATABASE_URL")
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: invalid connection string: %w", err)
	}
	if o.MaxConns > 0 {
		cfg.MaxConns = o.MaxConns
	}
	d := &DB{timeout: o.Timeout, where: fmt.Sprintf("PostgreSQL database %s on %s:%d", cfg.ConnConfig.Database, cfg.ConnConfig.Host, cfg.ConnConfig.Port)}
	if d.timeout <= 0 {
		d.timeout = 10 * time.Second
	}
	if cfg.ConnConfig.ConnectTimeout == 0 || cfg.ConnConfig.ConnectTimeout > d.timeout {
		cfg.ConnConfig.ConnectTimeout = d.timeout
	}
	if d.pool, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if err := migrateSchema(ctx, d.pool); err != nil {
		d.pool.Close()
		return nil, d.fail("migrate the schema of the "+d.where, err)
	}
	d.cache.entries = map[string]account.Account{}
	lctx, stop := context.WithCancel(context.Background())
	d.stop, d.listening = stop, make(chan struct{})
	go d.listen(lctx, cfg.ConnConfig.Copy())
	return d, nil
}

// Close closes the database's connections.
func (d *DB) Close() {
	d.stop()
	<-d.listening
	d.pool.Close()
}

// Where names the database for people: "PostgreSQL database myftp on 127.0.0.1:5432".
func (d *DB) Where() string { return d.where }

// Ping checks that the database answers.
func (d *DB) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	if err := d.pool.Ping(ctx); err != nil {
		return d.fail("ping", err)
	}
	return nil
}

// call runs fn with a context bounded by the DB's timeout.
func (d *DB) call(fn func(ctx context.Context) error) error {
	return d.callCtx(context.Background(), fn)
}

// callCtx runs fn with ctx bounded by the DB's timeout.
func (d *DB) callCtx(ctx context.Context, fn func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	return fn(ctx)
}

// tx runs fn in a transaction, committed if fn returns nil.
func (d *DB) tx(fn func(ctx context.Context, tx pgx.Tx) error) error {
	return d.txCtx(context.Background(), fn)
}

// txCtx is tx under ctx.
func (d *DB) txCtx(ctx context.Context, fn func(ctx context.Context, tx pgx.Tx) error) error {
	return d.callCtx(ctx, func(ctx context.Context) error {
		return pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error { return fn(ctx, tx) })
	})
}

// fail wraps err with what was being done; an error that is not the server refusing a statement
// (no connection, a timeout, a server shutting down) also wraps account.ErrUnavailable.
func (d *DB) fail(what string, err error) error {
	if unavailable(err) {
		return fmt.Errorf("%s: %w: %w", what, account.ErrUnavailable, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// unavailable reports whether err means the database could not answer, as opposed to an answer
// that refuses: errors of package account are answers, and so are the server's errors, but for
// its classes of connection failures, shutdown and exhausted resources.
func unavailable(err error) bool {
	for _, domain := range []error{ErrSchema, ErrLeaseLost, homefs.ErrNotLoaded, homefs.ErrQuota, account.ErrNotFound, account.ErrExists, account.ErrHomeTaken,
		account.ErrInvalidName, account.ErrInvalidHome, account.ErrQuota, account.ErrEmptyPassword} {
		if errors.Is(err, domain) {
			return false
		}
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return true
	}
	switch pe.Code[:2] {
	case "08", "53", "57", "58": // connection exception, insufficient resources, operator intervention, system error
		return true
	}
	return false
}
