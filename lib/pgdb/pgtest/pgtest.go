// Package pgtest gives tests a database of their own on a real PostgreSQL server on loopback: the
// one .ci/run starts, named by the environment variable MYFTP_TEST_PG_DSN (a connection string as
// a superuser, "postgres://myftp@127.0.0.1:PORT/postgres"). Without it a test that asks for a
// database is skipped, saying how to run it, unless MYFTP_REQUIRE_PG is set (CI), when it fails.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// The variables that name the test server.
const (
	EnvDSN     = "MYFTP_TEST_PG_DSN"
	EnvRequire = "MYFTP_REQUIRE_PG"
)

// Server returns the connection string of the test server, or skips the test.
func Server(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(EnvDSN)
	if dsn == "" {
		msg := "no PostgreSQL server: bash .ci/run starts one on loopback and sets " + EnvDSN
		if os.Getenv(EnvRequire) != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatalf("%s: %v", EnvDSN, err)
	}
	if cfg.Host != "localhost" && !isLoopback(cfg.Host) {
		t.Fatalf("%s names host %q: tests only use a server on loopback", EnvDSN, cfg.Host)
	}
	return dsn
}

func isLoopback(host string) bool {
	return len(host) > 4 && host[:4] == "127." || host == "::1"
}

// Database makes an empty database of the test's own on the test server, dropped when the test
// ends, and returns its connection string.
func Database(t testing.TB) string {
	t.Helper()
	dsn, drop, err := NewDatabase(Server(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := drop(); err != nil {
			t.Error(err)
		}
	})
	return dsn
}

// NewDatabase makes an empty database on the server of the superuser's connection string admin,
// for tests that have no testing.TB at hand (a testscript's Setup), and returns its connection
// string and the function that drops it.
func NewDatabase(admin string) (dsn string, drop func() error, err error) {
	var b [6]byte
	rand.Read(b[:])
	name := "myftp_test_" + hex.EncodeToString(b[:])
	if err := exec(admin, `CREATE DATABASE `+name); err != nil {
		return "", nil, err
	}
	return withDatabase(admin, name), func() error { return exec(admin, `DROP DATABASE `+name+` WITH (FORCE)`) }, nil
}

// withDatabase returns the connection string dsn with the database name instead of its own.
func withDatabase(dsn, name string) string {
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		u.Path = "/" + name
		return u.String()
	}
	return dsn + " dbname=" + name // in key=value form, the last value of a key wins
}

// exec runs one statement on the server named by dsn.
func exec(dsn, sql string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return fmt.Errorf("connect to the test PostgreSQL: %w", err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, sql); err != nil {
		return fmt.Errorf("%s: %w", sql, err)
	}
	return nil
}
