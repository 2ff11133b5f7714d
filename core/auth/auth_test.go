package auth

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/myftp/myftp/lib/account"
)

// cheap is an argon2id cost that keeps the tests fast; the code paths are those of any cost.
var cheap = account.Params{Memory: 64, Time: 1, Threads: 1}

// memAccounts is an account table in memory.
type memAccounts struct {
	mu sync.Mutex
	m  map[string]account.Account
}

var errNoAccount = errors.New("no such account")

func (a *memAccounts) Get(name string) (account.Account, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	acct, ok := a.m[name]
	if !ok {
		return acct, fmt.Errorf("%w %q", errNoAccount, name)
	}
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

func newAuth(t *testing.T, c Config) *Authenticator {
	t.Helper()
	c.Params = cheap
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
		if acct != (account.Account{}) {
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

// TestThrottledFarOver fails one account repeatedly at a frozen instant: each attempt books the
// next slot one delay later, and once the slot is further away than the maximum delay the attempt
// fails at once with ErrThrottled, whatever the password, without taking a hasher. When the clock
// passes the booked slots, the right password works again and clears the account.
func TestThrottledFarOver(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	accts := newAccounts(t, map[string]string{"alice": "pw"})
	a := newAuth(t, Config{Accounts: accts, MaxHashers: 1, ThrottleAfter: 2, ThrottleWindow: time.Minute,
		ThrottleDelay: 2 * ms, ThrottleMaxDelay: 8 * ms, Now: clock.Now})
	ctx := context.Background()
	var throttled int
	for i := range 20 {
		_, err := a.Login(ctx, "alice", "wrong", "10.0.0.1")
		if errors.Is(err, ErrThrottled) {
			throttled = i + 1
			break
		}
		if !errors.Is(err, ErrLoginIncorrect) {
			t.Fatalf("attempt %d: %v", i+1, err)
		}
	}
	// Frozen clock, after=2, delay 2ms doubling to 8ms: attempts 4 to 6 wait 2, 4 and 8ms for
	// their slots; the 7th slot is 16ms away, past the 8ms maximum.
	if throttled != 7 {
		t.Fatalf("first ErrThrottled at attempt %d, want 7", throttled)
	}
	// While throttled, even the right password is refused, and refused without hashing: all
	// hashers are taken, yet the answer comes at once.
	a.hashers <- struct{}{}
	tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	_, err := a.Login(tctx, "alice", "pw", "10.0.0.9")
	cancel()
	<-a.hashers
	if !errors.Is(err, ErrThrottled) {
		t.Fatalf("right password while throttled: %v, want ErrThrottled", err)
	}
	// Another account is not affected.
	accts.set(mustAccount(t, "bob", "bob-pw"))
	if _, err := a.Login(ctx, "bob", "bob-pw", "10.0.0.9"); err != nil {
		t.Fatalf("another account during the throttle: %v", err)
	}
	clock.Advance(time.Second)
	if _, err := a.Login(ctx, "alice", "pw", "10.0.0.9"); err != nil {
		t.Fatalf("right password after the delay: %v", err)
	}
	// The success cleared the account: without that, the second of these would be throttled.
	for i := range 3 {
		if _, err := a.Login(ctx, "alice", "wrong", "10.0.0.5"); !errors.Is(err, ErrLoginIncorrect) {
			t.Fatalf("failure %d after the reset: %v", i+1, err)
		}
	}
}

// TestAddressDelayOnlyForFailures: an address that failed too often waits before each further
// failure is answered, but a right password from that address is answered at once.
func TestAddressDelayOnlyForFailures(t *testing.T) {
	t.Parallel()
	accts := newAccounts(t, map[string]string{"alice": "pw"})
	a := newAuth(t, Config{Accounts: accts, MaxHashers: 1, ThrottleAfter: 1, ThrottleWindow: time.Minute,
		ThrottleDelay: 10 * time.Second, ThrottleMaxDelay: 10 * time.Second})
	ctx := context.Background()
	// Different account names, so only the address counts the failures.
	if _, err := a.Login(ctx, "u1", "x", "10.0.0.7"); !errors.Is(err, ErrLoginIncorrect) {
		t.Fatal(err)
	}
	start := time.Now()
	tctx, cancel := context.WithTimeout(ctx, 50*ms)
	_, err := a.Login(tctx, "u2", "x", "10.0.0.7")
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("2nd failure from the address: %v, want it still waiting out the 10s delay when its context ended", err)
	}
	if el := time.Since(start); el < 50*ms {
		t.Fatalf("2nd failure answered after %v, before its context ended", el)
	}
	start = time.Now()
	if _, err := a.Login(ctx, "alice", "pw", "10.0.0.7"); err != nil {
		t.Fatalf("right password from the throttled address: %v", err)
	}
	// The address owes 10 s per failure; a right password must not pay it. 5 s leaves room for
	// any slow machine while staying far below the delay.
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("right password from the throttled address took %v", el)
	}
}

// TestHashersCapped takes every hashing slot and checks that a login then waits (until its
// context ends) instead of hashing, and goes through once a slot is free. The slots are the
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
	a.hashers <- struct{}{}
	a.hashers <- struct{}{}
	ctx, cancel := context.WithTimeout(context.Background(), 100*ms)
	_, err := a.Login(ctx, "alice", "pw", "10.0.0.1")
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("login with every hasher busy: %v, want it waiting until its context ended", err)
	}
	<-a.hashers
	done := make(chan error, 1)
	go func() {
		_, err := a.Login(context.Background(), "alice", "pw", "10.0.0.1")
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("login with one hasher free: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("login with one hasher free did not finish")
	}
	<-a.hashers
	if n := len(a.hashers); n != 0 {
		t.Fatalf("%d hashing slots still taken after the logins", n)
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
