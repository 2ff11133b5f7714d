package auth

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/myftp/myftp/lib/account"
)

// throttled returns err as a *ThrottledError, or fails the test.
func throttled(t *testing.T, what string, err error) *ThrottledError {
	t.Helper()
	var te *ThrottledError
	if !errors.As(err, &te) || !errors.Is(err, ErrThrottled) || errors.Is(err, ErrLoginIncorrect) {
		t.Fatalf("%s: %v, want a *ThrottledError", what, err)
	}
	return te
}

// TestOthersFailuresDoNotLockOut is the red team's attack: wrong passwords for one account from
// many addresses. The owner's right password still works from any address that has not failed
// too often itself.
func TestOthersFailuresDoNotLockOut(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	accts := newAccounts(t, map[string]string{"alice": "alice-pw"})
	a := newAuth(t, Config{Accounts: accts, MaxHashers: 1, ThrottleAfter: 3, ThrottleWindow: 15 * time.Minute,
		ThrottleDelay: 10 * time.Second, ThrottleMaxDelay: time.Minute, Now: clock.Now})
	ctx := context.Background()
	for i := range 20 {
		if _, err := a.Login(ctx, "alice", "guess", fmt.Sprintf("10.0.1.%d", i)); !errors.Is(err, ErrLoginIncorrect) {
			t.Fatalf("wrong password %d: %v", i+1, err)
		}
	}
	for i := range 3 { // this address reaches the threshold itself
		if _, err := a.Login(ctx, "alice", "guess", "10.0.2.1"); !errors.Is(err, ErrLoginIncorrect) {
			t.Fatalf("wrong password %d from 10.0.2.1: %v", i+1, err)
		}
	}
	for _, tc := range []struct {
		what, remote string
		ok           bool
	}{
		{"a 21st address", "10.0.3.1", true},
		{"one of the 20, with one failure", "10.0.1.7", true},
		{"the address with 3 failures", "10.0.2.1", false},
		{"a 21st address again", "10.0.3.1", true},
	} {
		acct, err := a.Login(ctx, "alice", "alice-pw", tc.remote)
		if tc.ok && (err != nil || acct.Name != "alice") {
			t.Errorf("%s: %+v, %v; want alice logged in", tc.what, acct, err)
		}
		if !tc.ok {
			throttled(t, tc.what, err)
		}
	}
}

// TestThrottleOneAddress follows one address failing on one account: refusals come at once,
// before any look-up or hash, with the time left; each allowed failure doubles the wait up to the
// maximum; hammering changes nothing; a right password clears the account's failures.
func TestThrottleOneAddress(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	accts := newAccounts(t, map[string]string{"alice": "alice-pw", "bob": "bob-pw"})
	a := newAuth(t, Config{Accounts: accts, MaxHashers: 1, ThrottleAfter: 3, ThrottleWindow: 15 * time.Minute,
		ThrottleDelay: 8 * time.Second, ThrottleMaxDelay: 30 * time.Second, Now: clock.Now})
	hashes := countHashes(a)
	ctx := context.Background()
	const from = "127.0.0.5"
	steps := []struct {
		what    string
		advance time.Duration
		pw      string
		retry   time.Duration // 0: checked, want ErrLoginIncorrect (or success for alice-pw)
	}{
		{"failure 1", 0, "x", 0},
		{"failure 2", 0, "x", 0},
		{"failure 3", 0, "x", 0},
		{"right password at once", 0, "alice-pw", 8 * time.Second},
		{"7.5 s later", 7500 * ms, "x", time.Second},
		{"8 s later", 500 * ms, "x", 0},
		{"again at once", 0, "x", 16 * time.Second},
		{"15 s later", 15 * time.Second, "alice-pw", time.Second},
		{"16 s later", time.Second, "x", 0},
		{"after failure 5", 0, "x", 30 * time.Second},
		{"30 s later", 30 * time.Second, "x", 0},
		{"after failure 6", 0, "x", 30 * time.Second},
		{"30 s later, right", 30 * time.Second, "alice-pw", 0},
		{"cleared: failure 1", 0, "x", 0},
		{"cleared: failure 2", 0, "x", 0},
	}
	for _, st := range steps {
		clock.Advance(st.advance)
		gets, hashed := accts.gets.Load(), hashes.Load()
		_, err := a.Login(ctx, "alice", st.pw, from)
		if st.retry == 0 {
			if st.pw == "alice-pw" && err != nil || st.pw != "alice-pw" && !errors.Is(err, ErrLoginIncorrect) {
				t.Fatalf("%s: %v", st.what, err)
			}
			if accts.gets.Load() != gets+1 || hashes.Load() != hashed+1 {
				t.Fatalf("%s: %d look-ups and %d hashes, want 1 each", st.what, accts.gets.Load()-gets, hashes.Load()-hashed)
			}
			continue
		}
		te := throttled(t, st.what, err)
		if te.Addr != from || te.RetryAfter != st.retry {
			t.Fatalf("%s: %+v, want Addr %s and RetryAfter %v", st.what, te, from, st.retry)
		}
		if accts.gets.Load() != gets || hashes.Load() != hashed {
			t.Fatalf("%s: a throttled attempt looked the account up or hashed", st.what)
		}
		if st.what == "right password at once" {
			if want := "auth: too many failed logins from 127.0.0.5, retry in 8 s"; err.Error() != want {
				t.Fatalf("message %q, want %q", err, want)
			}
			// Hammering while throttled is refused every time and does not move the wait.
			for range 100 {
				if _, err := a.Login(ctx, "alice", "x", from); throttled(t, "hammering", err).RetryAfter != 8*time.Second {
					t.Fatalf("hammering moved the wait: %v", err)
				}
			}
			// Another account from this address, and this account from elsewhere, go on.
			if _, err := a.Login(ctx, "bob", "bob-pw", from); err != nil {
				t.Fatalf("another account from the throttled address: %v", err)
			}
			if _, err := a.Login(ctx, "alice", "alice-pw", "127.0.0.6"); err != nil {
				t.Fatalf("the account from another address: %v", err)
			}
		}
	}
}

// TestPasswordSpraying: one address trying one password on many names is throttled as a whole
// after 4 x ThrottleAfter failures, whatever name it tries next; a right password on the way does
// not clear the address; other addresses are not affected.
func TestPasswordSpraying(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	accts := newAccounts(t, map[string]string{"alice": "alice-pw"})
	a := newAuth(t, Config{Accounts: accts, MaxHashers: 1, ThrottleAfter: 2, ThrottleWindow: 15 * time.Minute,
		ThrottleDelay: 5 * time.Second, ThrottleMaxDelay: time.Minute, Now: clock.Now})
	ctx := context.Background()
	const sprayer = "192.0.2.9"
	for i := range 7 {
		if _, err := a.Login(ctx, fmt.Sprintf("user%d", i), "Summer2025", sprayer); !errors.Is(err, ErrLoginIncorrect) {
			t.Fatalf("spray %d: %v", i+1, err)
		}
	}
	if _, err := a.Login(ctx, "alice", "alice-pw", sprayer); err != nil {
		t.Fatalf("right password after 7 failures (the address tolerates 8): %v", err)
	}
	if _, err := a.Login(ctx, "user7", "Summer2025", sprayer); !errors.Is(err, ErrLoginIncorrect) {
		t.Fatalf("8th failure: %v", err)
	}
	for _, name := range []string{"alice", "user99", "ALICE", "../etc"} {
		_, err := a.Login(ctx, name, "alice-pw", sprayer)
		if te := throttled(t, name+" from the sprayer", err); te.RetryAfter != 5*time.Second {
			t.Fatalf("%s from the sprayer: retry %v, want 5s", name, te.RetryAfter)
		}
	}
	if _, err := a.Login(ctx, "alice", "alice-pw", "192.0.2.10"); err != nil {
		t.Fatalf("alice from another address: %v", err)
	}
	clock.Advance(5 * time.Second)
	if _, err := a.Login(ctx, "alice", "alice-pw", sprayer); err != nil {
		t.Fatalf("right password from the sprayer once the wait passed: %v", err)
	}
}

// TestUnknownNamesLikeKnown runs the same attempts against a known account with a wrong password
// and against an unknown, a disabled and an invalid name: the errors, the hashes and the
// throttle are the same.
func TestUnknownNamesLikeKnown(t *testing.T) {
	t.Parallel()
	type outcome struct {
		err    string
		hashes int64
		keys   int
	}
	run := func(name, pw string) []outcome {
		clock := newFakeClock()
		accts := newAccounts(t, map[string]string{"alice": "alice-pw", "dis": "dis-pw"})
		dis, _ := accts.Get("dis")
		dis.Disabled = true
		accts.set(dis)
		a := newAuth(t, Config{Accounts: accts, MaxHashers: 1, ThrottleAfter: 2, ThrottleWindow: time.Minute,
			ThrottleDelay: 1500 * ms, ThrottleMaxDelay: 10 * time.Second, Now: clock.Now})
		hashes := countHashes(a)
		var got []outcome
		for _, advance := range []time.Duration{0, 0, 0, time.Second, 500 * ms, 0, 3 * time.Second, 0} {
			clock.Advance(advance)
			_, err := a.Login(context.Background(), name, pw, "10.9.9.9")
			got = append(got, outcome{fmt.Sprint(err), hashes.Load(), a.Tracked()})
		}
		return got
	}
	want := run("alice", "wrong")
	t.Logf("known account, wrong password: %v", want)
	for _, tc := range []struct{ what, name, pw string }{
		{"unknown", "bob", "alice-pw"},
		{"disabled", "dis", "dis-pw"},
		{"invalid", "../alice", "alice-pw"},
	} {
		if got := run(tc.name, tc.pw); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s name: %v\nwant %v", tc.what, got, want)
		}
	}
}

// TestParallelLoginsOfOneUser holds ThrottleAfter wrong logins in their hash and checks that a
// correct one from the same address and account, at the same time, succeeds: a user's parallel
// sessions (lftp, myftpc -P) are not throttled for failures that have not happened.
func TestParallelLoginsOfOneUser(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	accts := newAccounts(t, map[string]string{"alice": "alice-pw"})
	a := newAuth(t, Config{Accounts: accts, MaxHashers: 8, ThrottleAfter: 3, ThrottleWindow: time.Minute,
		ThrottleDelay: 2 * time.Second, ThrottleMaxDelay: time.Minute, Now: clock.Now})
	entered, release := make(chan struct{}), make(chan struct{})
	a.verify = func(hash, password string) (bool, error) {
		select {
		case <-release: // released: later attempts do not wait
		default:
			entered <- struct{}{}
			<-release
		}
		return account.VerifyPassword(hash, password)
	}
	errs := make(chan error, 4)
	for i := range 4 {
		go func() {
			pw := fmt.Sprint("guess", i) // distinct: identical attempts would share one hash
			if i == 3 {
				pw = "alice-pw"
			}
			_, err := a.Login(context.Background(), "alice", pw, "10.0.0.3")
			errs <- err
		}()
		<-entered
	}
	close(release)
	var failed, ok int
	for range 4 {
		switch err := <-errs; {
		case err == nil:
			ok++
		case errors.Is(err, ErrLoginIncorrect):
			failed++
		default:
			t.Fatalf("parallel attempt: %v", err)
		}
	}
	if ok != 1 || failed != 3 {
		t.Fatalf("%d succeeded and %d failed, want 1 and 3", ok, failed)
	}
}

func TestThrottledErrorMessage(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	a := newAuth(t, Config{Accounts: newAccounts(t, nil), MaxHashers: 1, ThrottleAfter: 1, ThrottleWindow: time.Minute,
		ThrottleDelay: 2500 * ms, ThrottleMaxDelay: time.Minute, Now: clock.Now})
	ctx := context.Background()
	a.Login(ctx, "bob", "x", "::ffff:10.1.2.3")
	for _, tc := range []struct {
		advance time.Duration
		remote  string
		want    string
	}{
		{0, "10.1.2.3", "auth: too many failed logins from 10.1.2.3, retry in 3 s"},
		{500 * ms, "::ffff:10.1.2.3", "auth: too many failed logins from 10.1.2.3, retry in 2 s"},
		{1999 * ms, "10.1.2.3", "auth: too many failed logins from 10.1.2.3, retry in 1 s"},
	} {
		clock.Advance(tc.advance)
		if _, err := a.Login(ctx, "bob", "x", tc.remote); err == nil || err.Error() != tc.want {
			t.Errorf("after %v: %v, want %q", tc.advance, err, tc.want)
		}
	}
}

// TestThrottleIPv6Prefix: failures from many addresses of one IPv6 /64 (what one host usually
// holds) count as one source, and the refusal names the prefix; another /64 is not affected.
func TestThrottleIPv6Prefix(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	accts := newAccounts(t, map[string]string{"alice": "alice-pw"})
	a := newAuth(t, Config{Accounts: accts, MaxHashers: 1, ThrottleAfter: 3, ThrottleWindow: 15 * time.Minute,
		ThrottleDelay: 10 * time.Second, ThrottleMaxDelay: time.Minute, Now: clock.Now})
	ctx := context.Background()
	for i := range 3 {
		if _, err := a.Login(ctx, "alice", "guess", fmt.Sprintf("2001:db8:0:1::%x", i+1)); !errors.Is(err, ErrLoginIncorrect) {
			t.Fatalf("wrong password %d: %v", i+1, err)
		}
	}
	_, err := a.Login(ctx, "alice", "alice-pw", "2001:db8:0:1:ffff::9")
	if te := throttled(t, "a fourth address of the /64", err); te.Addr != "2001:db8:0:1::/64" {
		t.Errorf("throttled source %q, want the /64", te.Addr)
	}
	if acct, err := a.Login(ctx, "alice", "alice-pw", "2001:db8:0:2::1"); err != nil || acct.Name != "alice" {
		t.Errorf("another /64: %v", err)
	}
	each := newAuth(t, Config{Accounts: accts, MaxHashers: 1, ThrottleAfter: 1, ThrottleWindow: time.Minute,
		ThrottleDelay: 10 * time.Second, ThrottleMaxDelay: time.Minute, Now: clock.Now, IPv6Prefix: 128})
	each.Login(ctx, "alice", "guess", "2001:db8::1")
	if _, err := each.Login(ctx, "alice", "alice-pw", "2001:db8::2"); err != nil {
		t.Errorf("with a prefix of 128, another address of the /64: %v", err)
	}
}
