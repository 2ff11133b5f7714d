package auth

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/myftp/myftp/lib/account"
)

// TestPasswordCache checks what a remembered password spares and what it never does: a second
// login with the same password costs no hash within the cache's time, and one after it, a wrong
// password, another account or a changed password each cost one.
func TestPasswordCache(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	accts := newAccounts(t, map[string]string{"alice": "alice-pw", "bob": "bob-pw"})
	a := newAuth(t, Config{Accounts: accts, PasswordCache: time.Minute, Now: clock.Now,
		ThrottleAfter: 100, ThrottleWindow: time.Minute, ThrottleDelay: ms, ThrottleMaxDelay: ms})
	hashes := countHashes(a)
	login := func(name, pw string, wantHashes int64) error {
		t.Helper()
		before := hashes.Load()
		_, err := a.Login(context.Background(), name, pw, "10.0.0.1")
		if got := hashes.Load() - before; got != wantHashes {
			t.Fatalf("login %s/%s cost %d hashes, want %d", name, pw, got, wantHashes)
		}
		return err
	}
	mustLogin := func(name, pw string, wantHashes int64) {
		t.Helper()
		if err := login(name, pw, wantHashes); err != nil {
			t.Fatalf("login %s with its password: %v", name, err)
		}
	}
	mustFail := func(name, pw string) {
		t.Helper()
		if err := login(name, pw, 1); !errors.Is(err, ErrLoginIncorrect) {
			t.Fatalf("login %s/%s: %v, want ErrLoginIncorrect", name, pw, err)
		}
	}
	mustLogin("alice", "alice-pw", 1)
	mustLogin("alice", "alice-pw", 0)
	mustFail("alice", "alice-pw!")
	mustFail("alice", "alice-p")
	mustLogin("bob", "bob-pw", 1)
	mustLogin("alice", "alice-pw", 0) // bob's login did not push alice out

	clock.Advance(time.Minute)
	mustLogin("alice", "alice-pw", 1) // expired: verified again, and remembered again
	mustLogin("alice", "alice-pw", 0)

	accts.set(mustAccount(t, "alice", "new-pw"))
	mustFail("alice", "alice-pw") // the old password matches nothing remembered
	mustLogin("alice", "new-pw", 1)
	mustLogin("alice", "new-pw", 0)

	dis, _ := accts.Get("alice")
	dis.Disabled = true
	accts.set(dis)
	if err := login("alice", "new-pw", 0); !errors.Is(err, ErrLoginIncorrect) {
		t.Fatalf("disabled account with a remembered password: %v, want ErrLoginIncorrect", err)
	}
	accts.mu.Lock()
	delete(accts.m, "alice")
	accts.mu.Unlock()
	mustFail("alice", "new-pw") // a deleted account is an unknown name, checked against its stand-in
}

// TestPasswordCacheOff checks that PasswordCache 0 remembers nothing.
func TestPasswordCacheOff(t *testing.T) {
	t.Parallel()
	a := newAuth(t, Config{Accounts: newAccounts(t, map[string]string{"alice": "alice-pw"})})
	hashes := countHashes(a)
	for range 3 {
		if _, err := a.Login(context.Background(), "alice", "alice-pw", "10.0.0.1"); err != nil {
			t.Fatal(err)
		}
	}
	if n := hashes.Load(); n != 3 {
		t.Fatalf("3 logins without a cache cost %d hashes, want 3", n)
	}
	a.verified.mu.Lock()
	n := len(a.verified.remembered)
	a.verified.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d accounts remembered with the cache off", n)
	}
}

// blockingHashes makes every hash of a wait until release is closed, and counts them.
func blockingHashes(a *Authenticator) (release chan struct{}, count func() int) {
	release = make(chan struct{})
	var mu sync.Mutex
	n := 0
	a.verify = func(hash, password string) (bool, error) {
		mu.Lock()
		n++
		mu.Unlock()
		<-release
		return account.VerifyPassword(hash, password)
	}
	return release, func() int { mu.Lock(); defer mu.Unlock(); return n }
}

// TestOverlappingLoginsShareOneHash starts logins of one account at once, the right password
// and a wrong one from several connections each, and of an unknown name: each distinct attempt
// costs one hash, however many connections make it, and each gets its own right answer.
func TestOverlappingLoginsShareOneHash(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		accts := newAccounts(t, map[string]string{"alice": "alice-pw"})
		a := newAuth(t, Config{Accounts: accts, MaxHashers: 8, ThrottleAfter: 100, ThrottleWindow: time.Minute,
			ThrottleDelay: ms, ThrottleMaxDelay: ms})
		release, hashes := blockingHashes(a)
		type attempt struct{ name, pw string }
		attempts := []attempt{{"alice", "alice-pw"}, {"alice", "wrong"}, {"nobody", "alice-pw"}}
		errs := make(map[attempt][]error)
		var mu sync.Mutex
		var wg sync.WaitGroup
		for i := range 5 {
			for _, at := range attempts {
				wg.Go(func() {
					_, err := a.Login(context.Background(), at.name, at.pw, fmt.Sprintf("10.0.0.%d", i+1))
					mu.Lock()
					errs[at] = append(errs[at], err)
					mu.Unlock()
				})
			}
		}
		synctest.Wait() // every attempt is either hashing or waiting for the hash it shares
		if n := hashes(); n != len(attempts) {
			t.Errorf("%d overlapping attempts of %d kinds started %d hashes, want %d", 5*len(attempts), len(attempts), n, len(attempts))
		}
		close(release)
		wg.Wait()
		for at, list := range errs {
			for _, err := range list {
				if wantOK := at.pw == "alice-pw" && at.name == "alice"; wantOK != (err == nil) || (!wantOK && !errors.Is(err, ErrLoginIncorrect)) {
					t.Errorf("login %s/%s: %v", at.name, at.pw, err)
				}
			}
		}
		if n := len(a.hashers); n != 0 {
			t.Fatalf("%d hashing slots still taken", n)
		}
	})
}

// TestSharedHashOutlivesItsFirstCaller checks that a connection that gives up while waiting for
// a hasher does not fail the identical attempt of another connection that waited with it.
func TestSharedHashOutlivesItsFirstCaller(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		accts := newAccounts(t, map[string]string{"alice": "alice-pw"})
		a := newAuth(t, Config{Accounts: accts, MaxHashers: 1})
		a.hashers <- struct{}{} // every hasher busy
		ctx, cancel := context.WithCancel(context.Background())
		first, second := make(chan error, 1), make(chan error, 1)
		go func() { _, err := a.Login(ctx, "alice", "alice-pw", "10.0.0.1"); first <- err }()
		synctest.Wait()
		go func() { _, err := a.Login(context.Background(), "alice", "alice-pw", "10.0.0.2"); second <- err }()
		synctest.Wait()
		cancel()
		if err := <-first; !errors.Is(err, context.Canceled) {
			t.Fatalf("the attempt whose context ended: %v, want context.Canceled", err)
		}
		<-a.hashers // the hasher is free again
		if err := <-second; err != nil {
			t.Fatalf("the attempt that shared its hash: %v, want a login", err)
		}
	})
}
