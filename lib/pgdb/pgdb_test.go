package pgdb_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/myftp/myftp/lib/account"
	"github.com/myftp/myftp/lib/db"

	"github.com/myftp/myftp/lib/account/accounttest"
	"github.com/myftp/myftp/lib/pgdb"
	"github.com/myftp/myftp/lib/pgdb/pgtest"
)

// open returns a DB on a fresh database of the test server.
func open(t *testing.T) *pgdb.DB {
	t.Helper()
	d, err := pgdb.Open(context.Background(), pgdb.Options{DSN: pgtest.Database(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	return d
}

func TestConformance(t *testing.T) {
	accounttest.Run(t, func(t *testing.T) accounttest.Store { return open(t) })
}

// TestImport copies a db/ directory: ids, hashes, keys and states are kept, an id the files gave
// to a deleted account is not given again, a second import changes nothing, and a clash imports
// nothing.
func TestImport(t *testing.T) {
	files, err := db.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	key := account.Key{Type: "ssh-ed25519", Key: "AAAAC3NzaC1lZDI1NTE5AAAAIGltcG9ydGVka2V5Zm9ybXlmdHBhY2NvdW50dGVzdA"}
	for _, n := range []string{"alice", "bob", "gone"} {
		if _, err := files.Create(account.Account{Name: n, PasswordHash: "hash-of-" + n, Quota: 1 << 20, Keys: []account.Key{key}}); err != nil {
			t.Fatal(err)
		}
	}
	files.Update("bob", func(a *account.Account) error { a.Disabled = true; return nil })
	files.Delete("gone")
	list, err := files.List()
	if err != nil {
		t.Fatal(err)
	}
	d := open(t)
	if n, err := d.Import(list, 3); err != nil || n != 2 {
		t.Fatalf("import: %d, %v; want 2 accounts", n, err)
	}
	for _, want := range list {
		got, err := d.Get(want.Name)
		if err != nil || fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) {
			t.Errorf("imported %+v, %v\nwant %+v", got, err, want)
		}
	}
	if n, err := d.Import(list, 3); err != nil || n != 0 {
		t.Fatalf("second import: %d, %v; want nothing added", n, err)
	}
	carol, err := d.Create(account.Account{Name: "carol", PasswordHash: "h"})
	if err != nil || carol.ID != 4 {
		t.Fatalf("create after import: id %d, %v; want 4, past the deleted account's 3", carol.ID, err)
	}
	clash := []account.Account{{ID: 10, Name: "dave", Home: "dave", PasswordHash: "h", Created: time.Now()},
		{ID: 11, Name: "erin", Home: "alice", PasswordHash: "h", Created: time.Now()}}
	if n, err := d.Import(clash, 11); !errors.Is(err, account.ErrHomeTaken) || n != 0 {
		t.Fatalf("import with a home clash: %d, %v; want ErrHomeTaken", n, err)
	}
	if _, err := d.Get("dave"); !errors.Is(err, account.ErrNotFound) {
		t.Fatalf("dave after a failed import: %v; want no account", err)
	}
}

// TestOpenTogether: nodes that start at once on an empty database all get the schema, made once.
func TestOpenTogether(t *testing.T) {
	dsn := pgtest.Database(t)
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		wg.Go(func() {
			d, err := pgdb.Open(context.Background(), pgdb.Options{DSN: dsn})
			if err == nil {
				_, err = d.Create(account.Account{Name: fmt.Sprintf("node%d", i), PasswordHash: "h"})
				d.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("node %d: %v", i, err)
		}
	}
}

// TestNewerSchemaRefused: a program older than the schema does not touch it.
func TestNewerSchemaRefused(t *testing.T) {
	dsn := pgtest.Database(t)
	d, err := pgdb.Open(context.Background(), pgdb.Options{DSN: dsn})
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), `UPDATE myftp_schema_migrations SET version = 99`); err != nil {
		t.Fatal(err)
	}
	if _, err := pgdb.Open(context.Background(), pgdb.Options{DSN: dsn}); !errors.Is(err, pgdb.ErrSchema) || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("open a schema at version 99: %v; want a refusal", err)
	}
}

// TestUnavailable: a database that cannot be reached, or stops answering, is ErrUnavailable, not
// an unknown account.
func TestUnavailable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().(*net.TCPAddr)
	l.Close() // nobody listens there now
	_, err = pgdb.Open(context.Background(), pgdb.Options{DSN: fmt.Sprintf("host=127.0.0.1 port=%d user=x dbname=x sslmode=disable", addr.Port), Timeout: 5 * time.Second})
	if !errors.Is(err, account.ErrUnavailable) {
		t.Fatalf("open with no server: %v; want ErrUnavailable", err)
	}

	p := pgtest.NewProxy(t, pgtest.Database(t))
	d, err := pgdb.Open(context.Background(), pgdb.Options{DSN: p.DSN, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.Create(account.Account{Name: "alice", PasswordHash: "h"}); err != nil {
		t.Fatal(err)
	}
	p.Cut()
	if _, err := d.Get("alice"); !errors.Is(err, account.ErrUnavailable) {
		t.Fatalf("get with the server gone: %v; want ErrUnavailable", err)
	}
}

// eventually calls cond until it holds, at most 10 s: for what reaches a node asynchronously,
// as a notification from PostgreSQL does.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10 s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestNodesHearChanges: a node that keeps accounts in memory drops them when another node, or
// someone with psql, changes them; and with its database gone it answers nothing from memory.
func TestNodesHearChanges(t *testing.T) {
	dsn := pgtest.Database(t)
	p := pgtest.NewProxy(t, dsn)
	a, err := pgdb.Open(context.Background(), pgdb.Options{DSN: p.DSN, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := pgdb.Open(context.Background(), pgdb.Options{DSN: dsn}) // the other node, straight to the database
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := b.Create(account.Account{Name: "alice", PasswordHash: "h", Quota: 1}); err != nil {
		t.Fatal(err)
	}
	quota := func(want int64) func() bool {
		return func() bool { got, err := a.Get("alice"); return err == nil && got.Quota == want }
	}
	eventually(t, "node a sees alice", quota(1))
	if _, err := b.Update("alice", func(x *account.Account) error { x.Quota = 2; return nil }); err != nil {
		t.Fatal(err)
	}
	eventually(t, "node a sees the quota node b set", quota(2))

	conn, err := pgx.Connect(context.Background(), p.DSN)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(context.Background(), `UPDATE accounts SET quota = 3 WHERE name = 'alice'`); err != nil {
		t.Fatal(err)
	}
	conn.Close(context.Background())
	eventually(t, "node a sees the quota set with SQL", quota(3))

	p.Cut()
	eventually(t, "node a with its database gone", func() bool {
		_, err := a.Get("alice")
		return errors.Is(err, account.ErrUnavailable)
	})
}
