// Package accounttest is the conformance suite of account databases: the same table of tests runs
// against every backend (package db's files, package pgdb's PostgreSQL), so that create_user and a
// server behave the same on either.
package accounttest

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/myftp/myftp/lib/account"
)

// Store is what the suite tests: an account database as packages db and pgdb define it.
type Store interface {
	Get(name string) (account.Account, error)
	Create(a account.Account) (account.Account, error)
	Update(name string, fn func(*account.Account) error) (account.Account, error)
	Delete(name string) (account.Account, error)
	List() ([]account.Account, error)
	ListAll() ([]account.Account, error)
}

// Run runs the suite; open returns an empty database for one subtest.
func Run(t *testing.T, open func(t *testing.T) Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s Store)
	}{
		{"CreateGet", testCreateGet},
		{"NameTaken", testNameTaken},
		{"HomeTaken", testHomeTaken},
		{"Invalid", testInvalid},
		{"NotFound", testNotFound},
		{"Update", testUpdate},
		{"UpdateRefused", testUpdateRefused},
		{"DeleteNeverReusesID", testDelete},
		{"List", testList},
		{"ConcurrentCreates", testConcurrentCreates},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, open(t))
		})
	}
}

// hash is a password hash for tests: the stores keep it as they get it.
const hash = "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"

// key is an SSH public key for tests.
var key = account.Key{Type: "ssh-ed25519", Key: "AAAAC3NzaC1lZDI1NTE5AAAAIGQ1b3J0ZXN0a2V5Zm9ybXlmdHBhY2NvdW50dGVzdA", Comment: "alice@laptop"}

func mustCreate(t *testing.T, s Store, a account.Account) account.Account {
	t.Helper()
	if a.PasswordHash == "" {
		a.PasswordHash = hash
	}
	got, err := s.Create(a)
	if err != nil {
		t.Fatalf("create %s: %v", a.Name, err)
	}
	return got
}

func testCreateGet(t *testing.T, s Store) {
	made := mustCreate(t, s, account.Account{Name: "Alice", Quota: 1 << 30, MaxFiles: 500, Keys: []account.Key{key}})
	if made.Name != "alice" || made.Home != "alice" || made.ID <= 0 || made.Created.IsZero() {
		t.Fatalf("created %+v: want name and home alice, an id and a creation time", made)
	}
	got, err := s.Get("ALICE")
	if err != nil {
		t.Fatal(err)
	}
	if !same(got, made) {
		t.Fatalf("get returned %+v, want what create returned, %+v", got, made)
	}
	if got.PasswordHash != hash || got.Quota != 1<<30 || got.MaxFiles != 500 || got.Disabled {
		t.Fatalf("stored %+v: fields lost", got)
	}
}

// same compares two records field by field (keys by value).
func same(a, b account.Account) bool {
	return fmt.Sprintf("%+v", a) == fmt.Sprintf("%+v", b) && a.Created.Equal(b.Created)
}

func testNameTaken(t *testing.T, s Store) {
	mustCreate(t, s, account.Account{Name: "alice"})
	_, err := s.Create(account.Account{Name: "ALICE", Home: "other", PasswordHash: hash})
	if !errors.Is(err, account.ErrExists) {
		t.Fatalf("second alice: %v, want ErrExists", err)
	}
}

func testHomeTaken(t *testing.T, s Store) {
	mustCreate(t, s, account.Account{Name: "alice", Home: "team/alice"})
	for _, home := range []string{"team/alice", "team/alice/sub", "team"} {
		_, err := s.Create(account.Account{Name: "bob", Home: home, PasswordHash: hash})
		if !errors.Is(err, account.ErrHomeTaken) {
			t.Errorf("home %s beside team/alice: %v, want ErrHomeTaken", home, err)
		}
	}
	// A sibling whose name starts the same is another directory.
	mustCreate(t, s, account.Account{Name: "bob", Home: "team/alice2"})
	mustCreate(t, s, account.Account{Name: "carol", Home: "team/ali"})
}

func testInvalid(t *testing.T, s Store) {
	cases := []struct {
		a    account.Account
		want error
	}{
		{account.Account{Name: "-x", PasswordHash: hash}, account.ErrInvalidName},
		{account.Account{Name: "x", Home: "../etc", PasswordHash: hash}, account.ErrInvalidHome},
		{account.Account{Name: "x", Home: "/abs", PasswordHash: hash}, account.ErrInvalidHome},
		{account.Account{Name: "x", Quota: -1, PasswordHash: hash}, account.ErrQuota},
		{account.Account{Name: "x"}, account.ErrEmptyPassword},
	}
	for _, c := range cases {
		if _, err := s.Create(c.a); !errors.Is(err, c.want) {
			t.Errorf("create %+v: %v, want %v", c.a, err, c.want)
		}
	}
	if list, err := s.List(); err != nil || len(list) != 0 {
		t.Fatalf("after refused creates: %d accounts, %v; want none", len(list), err)
	}
}

func testNotFound(t *testing.T, s Store) {
	for _, name := range []string{"nobody", "not a name", ""} {
		if _, err := s.Get(name); !errors.Is(err, account.ErrNotFound) {
			t.Errorf("get %q: %v, want ErrNotFound", name, err)
		}
		if _, err := s.Delete(name); !errors.Is(err, account.ErrNotFound) {
			t.Errorf("delete %q: %v, want ErrNotFound", name, err)
		}
		_, err := s.Update(name, func(*account.Account) error { return nil })
		if !errors.Is(err, account.ErrNotFound) {
			t.Errorf("update %q: %v, want ErrNotFound", name, err)
		}
	}
}

func testUpdate(t *testing.T, s Store) {
	mustCreate(t, s, account.Account{Name: "alice", Keys: []account.Key{key}})
	up, err := s.Update("alice", func(a *account.Account) error {
		a.Quota, a.MaxFiles, a.Disabled, a.Home = 5<<20, 7, true, "moved/alice"
		a.Keys = append(a.Keys, account.Key{Type: key.Type, Key: key.Key + "x", Comment: ""})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Get("alice")
	if err != nil {
		t.Fatal(err)
	}
	if !same(got, up) || got.Quota != 5<<20 || got.MaxFiles != 7 || !got.Disabled || got.Home != "moved/alice" || len(got.Keys) != 2 {
		t.Fatalf("after update: %+v", got)
	}
	if _, err := s.Update("alice", func(a *account.Account) error { a.Keys = nil; return nil }); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Get("alice"); len(got.Keys) != 0 {
		t.Fatalf("keys removed, still %d", len(got.Keys))
	}
}

func testUpdateRefused(t *testing.T, s Store) {
	before := mustCreate(t, s, account.Account{Name: "alice", Quota: 100})
	mustCreate(t, s, account.Account{Name: "bob"})
	stop := errors.New("changed my mind")
	refusals := []struct {
		fn   func(a *account.Account) error
		want error // nil: any error
	}{
		{func(a *account.Account) error { a.Quota = 1; return stop }, stop},
		{func(a *account.Account) error { a.Home = "bob/inside"; return nil }, account.ErrHomeTaken},
		{func(a *account.Account) error { a.Quota = -5; return nil }, account.ErrQuota},
		{func(a *account.Account) error { a.Name = "mallory"; return nil }, nil},
		{func(a *account.Account) error { a.ID++; return nil }, nil},
	}
	for i, r := range refusals {
		_, err := s.Update("alice", r.fn)
		if err == nil || r.want != nil && !errors.Is(err, r.want) {
			t.Errorf("refusal %d: %v, want %v", i, err, r.want)
		}
	}
	if got, err := s.Get("alice"); err != nil || !same(got, before) {
		t.Fatalf("after refused updates: %+v, %v; want it unchanged, %+v", got, err, before)
	}
}

func testDelete(t *testing.T, s Store) {
	a := mustCreate(t, s, account.Account{Name: "alice", Keys: []account.Key{key}})
	gone, err := s.Delete("alice")
	if err != nil || !same(gone, a) {
		t.Fatalf("delete: %+v, %v; want %+v", gone, err, a)
	}
	if _, err := s.Get("alice"); !errors.Is(err, account.ErrNotFound) {
		t.Fatalf("get after delete: %v", err)
	}
	again := mustCreate(t, s, account.Account{Name: "alice"})
	if again.ID <= a.ID {
		t.Fatalf("new alice has id %d, the deleted one had %d: ids must never be reused", again.ID, a.ID)
	}
	if len(again.Keys) != 0 {
		t.Fatalf("the new alice inherited keys %v", again.Keys)
	}
}

func testList(t *testing.T, s Store) {
	for _, n := range []string{"carol", "alice", "bob"} {
		mustCreate(t, s, account.Account{Name: n, Keys: []account.Key{{Type: key.Type, Key: key.Key, Comment: n}}})
	}
	for _, list := range listings(t, s) {
		if len(list) != 3 || list[0].Name != "carol" || list[1].Name != "alice" || list[2].Name != "bob" {
			t.Fatalf("list: %+v, want carol, alice, bob in the order of their ids", list)
		}
		for _, a := range list {
			if len(a.Keys) != 1 || a.Keys[0].Comment != a.Name {
				t.Fatalf("list: %s has keys %+v", a.Name, a.Keys)
			}
		}
	}
}

func listings(t *testing.T, s Store) [][]account.Account {
	t.Helper()
	l, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	all, err := s.ListAll()
	if err != nil {
		t.Fatal(err)
	}
	return [][]account.Account{l, all}
}

// testConcurrentCreates: of accounts created at once for one home, exactly one gets it; accounts
// created at once get distinct ids.
func testConcurrentCreates(t *testing.T, s Store) {
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			_, errs[i] = s.Create(account.Account{Name: fmt.Sprintf("user%d", i), Home: "shared", PasswordHash: hash})
		})
	}
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, account.ErrHomeTaken):
			t.Errorf("user%d: %v, want success or ErrHomeTaken", i, err)
		}
	}
	if won != 1 {
		t.Fatalf("%d accounts got the home \"shared\", want exactly 1", won)
	}
	for i := range n {
		wg.Go(func() { _, errs[i] = s.Create(account.Account{Name: fmt.Sprintf("other%d", i), PasswordHash: hash}) })
	}
	wg.Wait()
	list, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	ids := map[int64]bool{}
	for _, a := range list {
		ids[a.ID] = true
	}
	if len(list) != n+1 || len(ids) != n+1 {
		t.Fatalf("%d accounts with %d distinct ids, want %d of each (errors: %v)", len(list), len(ids), n+1, errs)
	}
}
