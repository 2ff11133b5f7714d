package auth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/myftp/myftp/lib/account"
	"github.com/myftp/myftp/lib/db"
)

// current is the cost of the tests after a cost change from cheap; both stay fast.
var current = account.Params{Memory: 64, Time: 2, Threads: 1}

// hashLog records the parameters of every hash an Authenticator computes, through its verify and
// hash functions.
type hashLog struct {
	mu       sync.Mutex
	verified []account.Params // a password checked against a hash with these
	hashed   []account.Params // a password hashed with these
}

func recordHashes(a *Authenticator) *hashLog {
	h := &hashLog{}
	a.verify = func(hash, password string) (bool, error) {
		p, _ := account.ParamsOf(hash)
		h.mu.Lock()
		h.verified = append(h.verified, p)
		h.mu.Unlock()
		return account.VerifyPassword(hash, password)
	}
	a.hash = func(password string, p account.Params) (string, error) {
		h.mu.Lock()
		h.hashed = append(h.hashed, p)
		h.mu.Unlock()
		return account.HashPassword(password, p)
	}
	return h
}

// take returns what was recorded since the last take, as "verified [..] hashed [..]".
func (h *hashLog) take() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := fmt.Sprintf("verified %v hashed %v", h.verified, h.hashed)
	h.verified, h.hashed = nil, nil
	return s
}

// hashes returns what take returns after hashes with the given parameters.
func hashes(verified []account.Params, hashed ...account.Params) string {
	return fmt.Sprintf("verified %v hashed %v", verified, hashed)
}

func one(p account.Params) []account.Params { return []account.Params{p} }

// getOnly hides every method of Accounts but Get.
type getOnly struct{ Accounts }

func paramsOf(t *testing.T, accts *memAccounts, name string) account.Params {
	t.Helper()
	acct, err := accts.Get(name)
	if err != nil {
		t.Fatal(err)
	}
	p, err := account.ParamsOf(acct.PasswordHash)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func login(t *testing.T, a *Authenticator, name, pw string, ok bool) {
	t.Helper()
	_, err := a.Login(context.Background(), name, pw, "10.0.0.1")
	if ok && err != nil || !ok && !errors.Is(err, ErrLoginIncorrect) {
		t.Fatalf("login %s with %q: %v, want success %v", name, pw, err, ok)
	}
}

// TestRehashAfterCostChange: after Params change, a right password stored with the old ones is
// hashed again with the new ones and stored, once; the next login verifies against the new hash.
// Wrong passwords and disabled accounts are not rehashed.
func TestRehashAfterCostChange(t *testing.T) {
	t.Parallel()
	accts := newAccounts(t, map[string]string{"alice": "alice-pw", "bob": "bob-pw", "dis": "dis-pw"})
	dis, _ := accts.Get("dis")
	dis.Disabled = true
	accts.set(dis)
	var logs bytes.Buffer
	a := newAuth(t, Config{Accounts: accts, Params: current, MaxHashers: 1, ThrottleAfter: 100,
		Log: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	h := recordHashes(a)
	for _, st := range []struct {
		what, name, pw string
		ok             bool
		want           string
	}{
		{"wrong password", "alice", "x", false, hashes(one(cheap))},
		{"disabled account", "dis", "dis-pw", false, hashes(one(cheap))},
		{"right password", "alice", "alice-pw", true, hashes(one(cheap), current)},
		{"right password again", "alice", "alice-pw", true, hashes(one(current))},
		{"wrong password after the rehash", "alice", "bob-pw", false, hashes(one(current))},
	} {
		login(t, a, st.name, st.pw, st.ok)
		if got := h.take(); got != st.want {
			t.Errorf("%s: %s, want %s", st.what, got, st.want)
		}
	}
	for name, want := range map[string]account.Params{"alice": current, "bob": cheap, "dis": cheap} {
		if p := paramsOf(t, accts, name); p != want {
			t.Errorf("%s's hash has %+v, want %+v", name, p, want)
		}
	}
	if n := strings.Count(logs.String(), `level=INFO msg="password rehashed with the current parameters" account=alice`); n != 1 {
		t.Errorf("%d rehash lines, want 1:\n%s", n, logs.String())
	}
	if n := len(a.hashers); n != 0 {
		t.Fatalf("%d hashing slots still taken", n)
	}
}

// TestRehashKeepsChangedPassword changes the password between the check and the store of its
// rehash: the new password stays, and is rehashed at its own next login.
func TestRehashKeepsChangedPassword(t *testing.T) {
	t.Parallel()
	accts := newAccounts(t, map[string]string{"alice": "alice-pw"})
	a := newAuth(t, Config{Accounts: accts, Params: current, MaxHashers: 1, ThrottleAfter: 100})
	h := recordHashes(a)
	changed := mustAccount(t, "alice", "new-pw")
	rehash := a.hash
	a.hash = func(password string, p account.Params) (string, error) {
		accts.set(changed) // create_user passwd, meanwhile
		return rehash(password, p)
	}
	login(t, a, "alice", "alice-pw", true)
	if got, want := h.take(), hashes(one(cheap), current); got != want {
		t.Fatalf("login: %s, want %s", got, want)
	}
	if acct, _ := accts.Get("alice"); acct.PasswordHash != changed.PasswordHash {
		t.Fatal("the rehash of the old password overwrote the new one")
	}
	a.hash = rehash
	login(t, a, "alice", "alice-pw", false)
	login(t, a, "alice", "new-pw", true)
	if p := paramsOf(t, accts, "alice"); p != current {
		t.Fatalf("new password stored with %+v after its login, want %+v", p, current)
	}
}

// TestRehashNotStored: a store that fails, or accounts that cannot be updated, do not fail the
// login; the first is logged and tried again at the next login, the second costs no hash.
func TestRehashNotStored(t *testing.T) {
	t.Parallel()
	accts := newAccounts(t, map[string]string{"alice": "alice-pw"})
	old, _ := accts.Get("alice")
	accts.updateErr = errors.New("disk full")
	var logs bytes.Buffer
	a := newAuth(t, Config{Accounts: accts, Params: current, MaxHashers: 1,
		Log: slog.New(slog.NewTextHandler(&logs, nil))})
	h := recordHashes(a)
	for range 2 {
		login(t, a, "alice", "alice-pw", true)
		if got, want := h.take(), hashes(one(cheap), current); got != want {
			t.Fatalf("login with a failing store: %s, want %s", got, want)
		}
	}
	if acct, _ := accts.Get("alice"); acct.PasswordHash != old.PasswordHash {
		t.Fatal("hash changed although the store failed")
	}
	if n := strings.Count(logs.String(), `level=WARN msg="password not rehashed" account=alice err="disk full"`); n != 2 {
		t.Errorf("%d warnings, want 2:\n%s", n, logs.String())
	}

	b := newAuth(t, Config{Accounts: getOnly{newAccounts(t, map[string]string{"alice": "alice-pw"})}, Params: current, MaxHashers: 1})
	h = recordHashes(b)
	login(t, b, "alice", "alice-pw", true)
	if got, want := h.take(), hashes(one(cheap)); got != want {
		t.Fatalf("login with accounts that cannot be updated: %s, want %s", got, want)
	}
}

// TestOneHashOfTheAccountsCost: a wrong password costs one hash, with the parameters of the
// account for a known name, and of the accounts for an unknown or invalid one: the old ones
// while every account has them, although Params changed.
func TestOneHashOfTheAccountsCost(t *testing.T) {
	t.Parallel()
	accts := newAccounts(t, map[string]string{"alice": "alice-pw", "bob": "bob-pw"})
	a := newAuth(t, Config{Accounts: accts, Params: current, MaxHashers: 1, ThrottleAfter: 100})
	h := recordHashes(a)
	for _, name := range []string{"alice", "bob", "carol", "dave", "ALICE", "Carol", "../alice", ""} {
		login(t, a, name, "guess", false)
		if got, want := h.take(), hashes(one(cheap)); got != want {
			t.Errorf("wrong password for %q: %s, want %s", name, got, want)
		}
	}

	empty := newAuth(t, Config{Accounts: newAccounts(t, nil), Params: current, MaxHashers: 1, ThrottleAfter: 100})
	h = recordHashes(empty)
	login(t, empty, "carol", "guess", false)
	if got, want := h.take(), hashes(one(current)); got != want {
		t.Errorf("no accounts at all: %s, want %s", got, want)
	}
}

// standInOf returns the parameters that an unknown name is checked with.
func standInOf(t *testing.T, a *Authenticator, h *hashLog, name string) account.Params {
	t.Helper()
	login(t, a, name, "guess", false)
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.verified) != 1 || len(h.hashed) != 0 {
		t.Fatalf("unknown %s: verified %v, hashed %v; want one verification", name, h.verified, h.hashed)
	}
	p := h.verified[0]
	h.verified = nil
	return p
}

// TestStandInsFollowTheAccounts: with accounts on three parameter sets, each unknown name gets
// the same set at every attempt, the names get the sets about in the accounts' proportions, and as
// accounts are rehashed, names move to the current set, never away from it.
func TestStandInsFollowTheAccounts(t *testing.T) {
	t.Parallel()
	heavy := account.Params{Memory: 128, Time: 1, Threads: 1} // sorts after current: it is in the middle
	accts := newAccounts(t, map[string]string{"u1": "pw", "u2": "pw", "u3": "pw"})
	for name, p := range map[string]account.Params{"u4": current, "u5": heavy} {
		acct := mustAccount(t, name, "pw")
		acct.PasswordHash, _ = account.HashPassword("pw", p)
		accts.set(acct)
	}
	a := newAuth(t, Config{Accounts: accts, Params: current, MaxHashers: 1, ThrottleAfter: 1 << 20})
	h := recordHashes(a)
	const names = 400
	first := map[string]account.Params{}
	count := map[account.Params]int{}
	for i := range names {
		name := fmt.Sprintf("nobody%d", i)
		p := standInOf(t, a, h, name)
		first[name] = p
		count[p]++
	}
	// 3, 1 and 1 accounts of 5: 240, 80 and 80 names expected, standard deviations 10, 8 and 8.
	for p, want := range map[account.Params]int{cheap: 240, current: 80, heavy: 80} {
		if n := count[p]; n < want-50 || n > want+50 {
			t.Errorf("%d names of %d checked with %+v, want about %d", n, names, p, want)
		}
	}
	if len(count) != 3 {
		t.Errorf("names checked with %v, want only the accounts' 3 sets", count)
	}
	for name, p := range first {
		if again := standInOf(t, a, h, name); again != p {
			t.Fatalf("%s checked with %+v, then %+v", name, p, again)
		}
	}

	for _, acct := range []string{"u5", "u1"} {
		login(t, a, acct, "pw", true) // rehashed: 2, then 3 accounts of 5 on the current set
		h.take()
		moved := 0
		for name, p := range first {
			now := standInOf(t, a, h, name)
			switch {
			case p == now:
			case now != current:
				t.Fatalf("after %s's rehash, %s moved from %+v to %+v, not to the current set", acct, name, p, now)
			default:
				moved++
			}
			first[name] = now
		}
		if moved == 0 || moved > 140 {
			t.Errorf("%d names of %d moved to the current set when 1 account of 5 did, want about 80", moved, names)
		}
	}
}

// TestStandInsLearnt: without List, the parameters of the accounts are learnt as they are looked
// up, and forgotten with the account.
func TestStandInsLearnt(t *testing.T) {
	t.Parallel()
	accts := newAccounts(t, map[string]string{"alice": "alice-pw"})
	a := newAuth(t, Config{Accounts: getOnly{accts}, Params: current, MaxHashers: 1, ThrottleAfter: 1 << 20})
	h := recordHashes(a)
	if p := standInOf(t, a, h, "bob"); p != current {
		t.Fatalf("no account known yet: %+v, want the current %+v", p, current)
	}
	login(t, a, "alice", "x", false)
	h.take()
	if p := standInOf(t, a, h, "bob"); p != cheap {
		t.Fatalf("alice known, on the old parameters: %+v, want %+v", p, cheap)
	}
	accts.mu.Lock()
	delete(accts.m, "alice")
	accts.mu.Unlock()
	for _, name := range []string{"alice", "bob"} {
		if p := standInOf(t, a, h, name); p != current {
			t.Fatalf("%s, alice deleted: %+v, want the current %+v", name, p, current)
		}
	}
}

// TestStandInsBounded: unknown names are spread over the 8 most common parameter sets.
func TestStandInsBounded(t *testing.T) {
	t.Parallel()
	s := newStandIns(current)
	for i := range 12 {
		p := account.Params{Memory: 64 + uint32(i), Time: 1, Threads: 1}
		n := 1 + i%3
		if i >= 10 {
			n += 10 // sets 10 and 11 are the most common
		}
		for j := range n {
			s.observe(fmt.Sprintf("u%d.%d", i, j), account.StandInHash(p, [account.StandInSeedLen]byte{}))
		}
	}
	seen := map[account.Params]bool{}
	for i := range 2000 {
		seen[s.params(fmt.Sprint("n", i))] = true
	}
	if len(seen) != maxStandIns {
		t.Fatalf("%d parameter sets used, want %d: %v", len(seen), maxStandIns, seen)
	}
	for _, i := range []int{10, 11, 2, 5, 8} { // the most common, and those with 3 accounts
		if p := (account.Params{Memory: 64 + uint32(i), Time: 1, Threads: 1}); !seen[p] {
			t.Errorf("set %+v, of the most common, never used", p)
		}
	}
}

// TestNewRefusesImpossibleParams: parameters that no hash can hold are refused at New, not at the
// first login.
func TestNewRefusesImpossibleParams(t *testing.T) {
	t.Parallel()
	for _, p := range []account.Params{{}, {Memory: 64, Time: 0, Threads: 1}, {Memory: 64, Time: 1, Threads: 0}, {Memory: 4, Time: 1, Threads: 1}} {
		if _, err := New(Config{Accounts: newAccounts(t, nil), Params: p}); err == nil {
			t.Errorf("New with Params %+v succeeded", p)
		}
	}
}

// TestStandInHash: a stand-in holds its parameters and matches no password; one unknown name has
// the same stand-in at every attempt, and two names different ones.
func TestStandInHash(t *testing.T) {
	t.Parallel()
	s := newStandIns(cheap)
	h := s.hash("nobody")
	if p, err := account.ParamsOf(h); err != nil || p != cheap {
		t.Fatalf("ParamsOf(stand-in) = %+v, %v; want %+v", p, err, cheap)
	}
	for _, pw := range []string{"", "x", "myftp stand-in password"} {
		if ok, err := account.VerifyPassword(h, pw); ok || err != nil {
			t.Errorf("stand-in and %q: %v, %v; want no match and no error", pw, ok, err)
		}
	}
	if again := s.hash("nobody"); again != h {
		t.Fatalf("one name, two stand-ins:\n%s\n%s", h, again)
	}
	if other := s.hash("nobody2"); other == h {
		t.Fatal("two names have the same stand-in")
	}
	if other := newStandIns(cheap).hash("nobody"); other == h {
		t.Fatal("two servers (two secret keys) give one name the same stand-in")
	}
}

// TestRehashInTheDatabase: with *db.DB, New sees the accounts' parameters and Login stores the
// rehash, as with the table in memory.
func TestRehashInTheDatabase(t *testing.T) {
	t.Parallel()
	d, err := db.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Create(mustAccount(t, "alice", "alice-pw")); err != nil {
		t.Fatal(err)
	}
	a := newAuth(t, Config{Accounts: d, Params: current, MaxHashers: 1})
	h := recordHashes(a)
	login(t, a, "nobody", "guess", false)
	login(t, a, "alice", "alice-pw", true)
	login(t, a, "alice", "alice-pw", true)
	if got, want := h.take(), hashes([]account.Params{cheap, cheap, current}, current); got != want {
		t.Fatalf("unknown name, then alice twice: %s, want %s", got, want)
	}
	if acct, err := d.Get("alice"); err != nil || !strings.Contains(acct.PasswordHash, "$m=64,t=2,p=1$") {
		t.Fatalf("alice in the database: %+v, %v; want a hash with the current parameters", acct, err)
	}
}
