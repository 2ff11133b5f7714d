package auth

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/myftp/myftp/lib/account"
)

// cheap is an argon2id cost that keeps the tests fast; the code paths are those of any cost.
var cheap = account.Params{Memory: 64, Time: 1, Threads: 1}

// memAccounts is an account table in memory.
type memAccounts struct {
	mu   sync.Mutex
	m    map[string]account.Account
	gets atomic.Int64 // calls of Get
	// updateErr, if set, is the error of every Update.
	updateErr error
}

var errNoAccount = errors.New("no such account")

func (a *memAccounts) Get(name string) (account.Account, error) {
	a.gets.Add(1)
	a.mu.Lock()
	defer a.mu.Unlock()
	acct, ok := a.m[name]
	if !ok {
		return acct, fmt.Errorf("%w %q", errNoAccount, name)
	}
	return acct, nil
}

// List returns every account, ordered by name.
func (a *memAccounts) List() ([]account.Account, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var list []account.Account
	for _, acct := range a.m {
		list = append(list, acct)
	}
	slices.SortFunc(list, func(x, y account.Account) int { return strings.Compare(x.Name, y.Name) })
	return list, nil
}

// Update changes an account as db.DB.Update does, or fails with updateErr if set.
func (a *memAccounts) Update(name string, fn func(*account.Account) error) (account.Account, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	acct, ok := a.m[name]
	switch {
	case !ok:
		return acct, fmt.Errorf("%w %q", errNoAccount, name)
	case a.updateErr != nil:
		return acct, a.updateErr
	}
	if err := fn(&acct); err != nil {
		return acct, err
	}
	a.m[name] = acct
	return acct, nil
}

func (a *memAccounts) set(acct account.Account) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.m[acct.Name] = acct
}

func newAccounts(t *testing.T, users map[string]string) *memAccounts {
	t.Helper()
	a := &memAccounts{m: map[string]account.Account{}}
	for name, pw := range users {
		hash, err := account.HashPassword(pw, cheap)
		if err != nil {
			t.Fatal(err)
		}
		a.set(account.Account{Name: name, PasswordHash: hash, Home: name, Quota: 1 << 20})
	}
	return a
}

// newAuth returns an Authenticator of c, with Params cheap if c has none.
func newAuth(t *testing.T, c Config) *Authenticator {
	t.Helper()
	if c.Params == (account.Params{}) {
		c.Params = cheap
	}
	a, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestLoginOutcomes(t *testing.T) {
	t.Parallel()
	accts := newAccounts(t, map[string]string{"alice": "alice-pw", "dis": "dis-pw", "broken": "x"})
	d, _ := accts.Get("dis")
	d.Disabled = true
	accts.set(d)
	b, _ := accts.Get("broken")
	b.PasswordHash = "not a hash"
	accts.set(b)
	a := newAuth(t, Config{Accounts: accts, MaxHashers: 2, ThrottleAfter: 100, ThrottleWindow: time.Minute,
		ThrottleDelay: time.Second, ThrottleMaxDelay: time.Second})
	ctx := context.Background()

	acct, err := a.Login(ctx, "alice", "alice-pw", "10.0.0.1")
	if err != nil || acct.Name != "alice" || acct.Home != "alice" {
		t.Fatalf("correct password: %+v, %v", acct, err)
	}
	acct, err = a.Login(ctx, "ALICE", "alice-pw", "10.0.0.1")
	if err != nil || acct.Name != "alice" {
		t.Fatalf("name in upper case: %+v, %v", acct, err)
	}
	for _, tc := range []struct{ what, name, pw string }{
		{"wrong password", "alice", "alice-PW"},
		{"empty password", "alice", ""},
		{"unknown account", "bob", "alice-pw"},
		{"disabled account", "dis", "dis-pw"},
		{"invalid name", "../alice", "alice-pw"},
		{"unusable hash", "broken", "x"},
	} {
		acct, err := a.Login(ctx, tc.name, tc.pw, "10.0.0.2")
		if !errors.Is(err, ErrLoginIncorrect) {
			t.Errorf("%s: err = %v, want ErrLoginIncorrect", tc.what, err)
		}
		if !reflect.DeepEqual(acct, account.Account{}) {
			t.Errorf("%s: returned account %+v, want none", tc.what, acct)
		}
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	accts := newAccounts(t, map[string]string{"alice": "pw"})
	a := newAuth(t, Config{Accounts: accts, MaxHashers: 1})
	acct, err := a.Check("alice")
	if err != nil || acct.Quota != 1<<20 {
		t.Fatalf("Check(alice) = %+v, %v", acct, err)
	}
	acct.Quota = 5 << 20
	accts.set(acct)
	if got, err := a.Check("alice"); err != nil || got.Quota != 5<<20 {
		t.Fatalf("Check after a quota change = %+v, %v; want the new quota", got, err)
	}
	acct.Disabled = true
	accts.set(acct)
	if _, err := a.Check("alice"); err == nil {
		t.Fatal("Check of a disabled account succeeded")
	}
	if _, err := a.Check("nobody"); !errors.Is(err, errNoAccount) {
		t.Fatalf("Check of a missing account: %v", err)
	}
}

// TestHashersCapped takes every hashing slot and checks that a login then waits for one (until
// its context ends) instead of hashing, and goes through once a slot is free. The slots are the
// Authenticator's semaphore; filling it from the test stands in for other logins that are hashing,
// which could not be held mid-hash from outside.
func TestHashersCapped(t *testing.T) {
	t.Parallel()
	accts := newAccounts(t, map[string]string{"alice": "pw"})
	a := newAuth(t, Config{Accounts: accts, MaxHashers: 2})
	if c := cap(a.hashers); c != 2 {
		t.Fatalf("hashing slots = %d, want MaxHashers = 2", c)
	}
	if z := newAuth(t, Config{Accounts: accts}); cap(z.hashers) != 1 {
		t.Fatalf("MaxHashers 0 gives %d slots, want 1", cap(z.hashers))
	}
	hashes := countHashes(a)
	a.hashers <- struct{}{}
	a.hashers <- struct{}{}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := a.Login(ctx, "alice", "pw", "10.0.0.1"); !errors.Is(err, context.Canceled) {
		t.Fatalf("login with every hasher busy: %v, want it waiting until its context ended", err)
	}
	if n := hashes.Load(); n != 0 {
		t.Fatalf("%d hashes with every hasher busy", n)
	}
	<-a.hashers
	if _, err := a.Login(context.Background(), "alice", "pw", "10.0.0.1"); err != nil {
		t.Fatalf("login with one hasher free: %v", err)
	}
	<-a.hashers
	if n := len(a.hashers); n != 0 {
		t.Fatalf("%d hashing slots still taken after the logins", n)
	}
	if n := a.Tracked(); n != 0 {
		t.Fatalf("%d throttle keys left after an abandoned and a right login, want 0", n)
	}
}

// TestParallelLogins runs many logins at once, right and wrong, and checks each result: the cap
// on hashers serialises them without mixing them up.
func TestParallelLogins(t *testing.T) {
	t.Parallel()
	accts := newAccounts(t, map[string]string{"alice": "a-pw", "bob": "b-pw"})
	a := newAuth(t, Config{Accounts: accts, MaxHashers: 2, ThrottleAfter: 1000, ThrottleWindow: time.Minute,
		ThrottleDelay: ms, ThrottleMaxDelay: ms})
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 40 {
		wg.Go(func() {
			name, pw := "alice", "a-pw"
			if i%2 == 1 {
				name, pw = "bob", "b-pw"
			}
			wrong := i%3 == 0
			if wrong {
				pw += "!"
			}
			acct, err := a.Login(context.Background(), name, pw, fmt.Sprintf("10.0.1.%d", i))
			switch {
			case wrong && !errors.Is(err, ErrLoginIncorrect):
				errs <- fmt.Errorf("%s wrong password: %v", name, err)
			case !wrong && (err != nil || acct.Name != name):
				errs <- fmt.Errorf("%s right password: %+v, %v", name, acct, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := len(a.hashers); n != 0 {
		t.Fatalf("%d hashing slots still taken", n)
	}
}

func mustAccount(t *testing.T, name, pw string) account.Account {
	t.Helper()
	hash, err := account.HashPassword(pw, cheap)
	if err != nil {
		t.Fatal(err)
	}
	return account.Account{Name: name, PasswordHash: hash, Home: name, Quota: 1 << 20}
}

// countHashes makes a count its password hashes.
func countHashes(a *Authenticator) *atomic.Int64 {
	var n atomic.Int64
	a.verify = func(hash, password string) (bool, error) {
		n.Add(1)
		return account.VerifyPassword(hash, password)
	}
	return &n
}
