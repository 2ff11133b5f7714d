package door_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/myftp/myftp/core/auth"
	"github.com/myftp/myftp/core/door"
	"github.com/myftp/myftp/lib/account"
	"github.com/myftp/myftp/lib/homefs"
	"github.com/myftp/myftp/lib/pgdb"
	"github.com/myftp/myftp/lib/pgdb/pgtest"
	"github.com/myftp/myftp/lib/storage"
)

// TestRecheckDatabaseGone: with the accounts in PostgreSQL, Recheck lets a session go on and
// applies a changed quota; once the database is cut away, it fails with an error that the doors
// answer "account database unavailable, try again later" (account.ErrUnavailable), and not with
// ErrAccountGone, which would end the session: nothing says the account is gone.
func TestRecheckDatabaseGone(t *testing.T) {
	proxy := pgtest.NewProxy(t, pgtest.Database(t))
	db, err := pgdb.Open(context.Background(), pgdb.Options{DSN: proxy.DSN, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	acct, err := db.Create(account.Account{Name: "alice", PasswordHash: "h", Quota: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	a, err := auth.New(auth.Config{Accounts: db, Params: account.Params{Memory: 64, Time: 1, Threads: 1}, MaxHashers: 1})
	if err != nil {
		t.Fatal(err)
	}
	s := door.Services{Auth: a, Homes: homefs.NewStore(t.TempDir(), homefs.Options{})}
	fs, err := s.OpenHome(acct)
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	if _, err := db.Update("alice", func(a *account.Account) error { a.Quota = 2 << 20; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Recheck(acct, fs); err != nil {
		t.Fatalf("recheck with the database answering: %v", err)
	}
	if _, quota := fs.Usage(); quota != 2<<20 {
		t.Errorf("quota after the recheck: %d, want the new %d", quota, 2<<20)
	}

	proxy.Cut()
	// The database's connections through the proxy close at once, but pgdb's listener, which lets
	// it answer from memory, sees its own end a moment later.
	deadline := time.Now().Add(20 * time.Second)
	for _, err = s.Recheck(acct, fs); err == nil && time.Now().Before(deadline); _, err = s.Recheck(acct, fs) {
		time.Sleep(time.Millisecond)
	}
	if errors.Is(err, door.ErrAccountGone) || !errors.Is(err, account.ErrUnavailable) {
		t.Fatalf("recheck with the database gone: %v; want account.ErrUnavailable, not ErrAccountGone", err)
	}
	if msg, ok := door.TryAgain(err); !ok || msg != "account database unavailable, try again later" {
		t.Errorf("TryAgain(%v) = %q, %v", err, msg, ok)
	}
}

// TestTryAgain: the failures of what the server depends on are told apart from the others, and
// named for the user, with the path when there is one.
func TestTryAgain(t *testing.T) {
	stalled := fmt.Errorf("put part 2: %w: context deadline exceeded", storage.ErrUnavailable)
	ledger := fmt.Errorf("quota ledger: change: %w", account.ErrUnavailable)
	for _, c := range []struct {
		err  error
		want string // "": not a failure to try again
	}{
		{&homefs.Error{Kind: homefs.ErrIO, Path: "/a.bin", Err: stalled}, "storage unavailable, try again later: /a.bin"},
		{fmt.Errorf("open the home of alice: %w", stalled), "storage unavailable, try again later"},
		{&homefs.Error{Kind: homefs.ErrIO, Path: "/d/b", Detail: "the server cannot reach its quota accounting", Err: ledger},
			"quota accounting unavailable, try again later: /d/b"},
		{fmt.Errorf("account %q: %w", "alice", account.ErrUnavailable), "account database unavailable, try again later"},
		{&homefs.Error{Kind: homefs.ErrIO, Path: "/a.bin", Err: errors.New("disk on fire")}, ""},
		{&homefs.Error{Kind: homefs.ErrQuota, Path: "/a.bin"}, ""},
		{fmt.Errorf("%w: %w", door.ErrAccountGone, account.ErrNotFound), ""},
		{nil, ""},
	} {
		msg, ok := door.TryAgain(c.err)
		if msg != c.want || ok != (c.want != "") {
			t.Errorf("TryAgain(%v) = %q, %v; want %q", c.err, msg, ok, c.want)
		}
	}
}
