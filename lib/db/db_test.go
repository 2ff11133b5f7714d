package db

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/myftp/myftp/lib/account"
	"github.com/myftp/myftp/lib/account/accounttest"
)

func newAccount(name string) account.Account {
	return account.Account{Name: name, PasswordHash: "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5", Quota: 1 << 20}
}

func TestRoundTrip(t *testing.T) {
	d, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	a := newAccount("Alice")
	a.Quota = 10 << 20
	got, err := d.Create(a)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != 1 || got.Name != "alice" || got.Home != "alice" || got.Created.IsZero() {
		t.Errorf("created %+v", got)
	}
	back, err := d.Get("ALICE")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, got) {
		t.Errorf("Get = %+v\nwant %+v", back, got)
	}
	upd, err := d.Update("alice", func(a *account.Account) error { a.Quota = 5; a.Disabled = true; return nil })
	if err != nil || upd.Quota != 5 || !upd.Disabled {
		t.Fatalf("Update = %+v, %v", upd, err)
	}
	if back, _ := d.Get("alice"); !reflect.DeepEqual(back, upd) {
		t.Errorf("after update Get = %+v", back)
	}
	m, err := d.Mapping()
	if err != nil || len(m) != 1 || m[1] != "alice" {
		t.Errorf("mapping = %v, %v", m, err)
	}
	if probs, err := d.Check(); err != nil || len(probs) != 0 {
		t.Errorf("Check = %v, %v", probs, err)
	}
}

func TestFileModes(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix modes")
	}
	dir := filepath.Join(t.TempDir(), "db")
	d, _ := Open(dir)
	if _, err := d.Create(newAccount("alice")); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{
		dir: 0o700, filepath.Join(dir, "accounts"): 0o700,
		filepath.Join(dir, "accounts", "alice.json"): 0o600, filepath.Join(dir, "id_user_rs.json"): 0o600,
	} {
		fi, err := os.Stat(path)
		if err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, %v; want %v", path, fi.Mode().Perm(), err, want)
		}
	}
}

func TestCreateErrors(t *testing.T) {
	d, _ := Open(t.TempDir())
	if _, err := d.Create(newAccount("alice")); err != nil {
		t.Fatal(err)
	}
	team := newAccount("bob")
	team.Home = "team"
	if _, err := d.Create(team); err != nil {
		t.Fatal(err)
	}
	dup := newAccount("ALICE")
	if _, err := d.Create(dup); !errors.Is(err, ErrExists) {
		t.Errorf("duplicate: %v", err)
	}
	for _, home := range []string{"alice", "alice/sub", "team/carol"} {
		c := newAccount("carol")
		c.Home = home
		if _, err := d.Create(c); !errors.Is(err, ErrHomeTaken) {
			t.Errorf("home %q: %v, want ErrHomeTaken", home, err)
		}
	}
	al := newAccount("al") // shares a prefix with alice but not a directory
	if _, err := d.Create(al); err != nil {
		t.Errorf("home al next to alice: %v", err)
	}
	bad := newAccount("-x")
	if _, err := d.Create(bad); !errors.Is(err, account.ErrInvalidName) {
		t.Errorf("bad name: %v", err)
	}
	nopw := newAccount("dave")
	nopw.PasswordHash = ""
	if _, err := d.Create(nopw); !errors.Is(err, account.ErrEmptyPassword) {
		t.Errorf("no password: %v", err)
	}
	if _, err := d.Get("nobody"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get missing: %v", err)
	}
	if _, err := d.Get("../../etc/passwd"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get of a path: %v", err)
	}
}

func TestIDsAreNeverReused(t *testing.T) {
	d, _ := Open(t.TempDir())
	a, _ := d.Create(newAccount("a"))
	b, _ := d.Create(newAccount("b"))
	if _, err := d.Delete("b"); err != nil {
		t.Fatal(err)
	}
	c, err := d.Create(newAccount("c"))
	if err != nil {
		t.Fatal(err)
	}
	if a.ID != 1 || b.ID != 2 || c.ID != 3 {
		t.Errorf("ids %d %d %d, want 1 2 3", a.ID, b.ID, c.ID)
	}
	if _, err := d.Get("b"); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleted account still found: %v", err)
	}
	m, _ := d.Mapping()
	if _, ok := m[2]; ok || len(m) != 2 {
		t.Errorf("mapping after delete = %v", m)
	}
}

// TestCrashLeftoversAreTolerated builds the states a crash can leave (a temporary file, an account
// file missing from the mapping, a mapping entry without a file, a truncated record) and checks that
// the database keeps working, Check names each, and Repair fixes what it can.
func TestCrashLeftoversAreTolerated(t *testing.T) {
	dir := t.TempDir()
	d, _ := Open(dir)
	if _, err := d.Create(newAccount("alice")); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Create(newAccount("bob")); err != nil {
		t.Fatal(err)
	}
	write := func(rel, content string) {
		if err := os.WriteFile(filepath.Join(dir, rel), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("accounts/.carol.json.tmp-123", `{"id":`)
	write("id_user_rs.json", `{"1":"alice","7":"ghost"}`) // bob missing, ghost has no file
	write("accounts/eve.json", `{"id": 9, "na`)

	if a, err := d.Get("bob"); err != nil || a.Name != "bob" {
		t.Errorf("bob after crash: %v", err)
	}
	if _, err := d.Get("eve"); !errors.Is(err, ErrCorrupt) {
		t.Errorf("truncated record: %v, want ErrCorrupt", err)
	}
	list, err := d.List()
	if err != nil || len(list) != 2 {
		t.Errorf("List = %v, %v; want alice and bob", list, err)
	}
	probs, err := d.Check()
	if err != nil {
		t.Fatal(err)
	}
	text := fmt.Sprint(probs)
	for _, want := range []string{".carol.json.tmp-123", "id 2 is missing", "ghost", "eve.json"} {
		if !strings.Contains(text, want) {
			t.Errorf("Check does not report %q: %s", want, text)
		}
	}
	if _, err := d.Create(newAccount("carol")); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Create while eve.json is unreadable: %v, want ErrCorrupt", err)
	}
	if err := d.Repair(); err != nil {
		t.Fatal(err)
	}
	probs, _ = d.Check()
	if len(probs) != 1 || !strings.Contains(probs[0].Path, "eve.json") {
		t.Errorf("after Repair: %v; want only the unreadable eve.json", probs)
	}
	if err := os.Remove(filepath.Join(dir, "accounts", "eve.json")); err != nil {
		t.Fatal(err)
	}
	c, err := d.Create(newAccount("carol"))
	if err != nil {
		t.Fatal(err)
	}
	if c.ID <= 7 {
		t.Errorf("new id %d reuses an id seen in the mapping before Repair", c.ID)
	}
}

// TestConcurrentProcesses runs two processes that create 50 accounts each at the same time, plus
// goroutines in this one, and checks that every account exists once with a distinct id.
func TestConcurrentProcesses(t *testing.T) {
	dir := t.TempDir()
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for p := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperCreate$")
			cmd.Env = append(os.Environ(), "MYFTP_DB_HELPER="+dir, "MYFTP_DB_PREFIX=p"+strconv.Itoa(p))
			if out, err := cmd.CombinedOutput(); err != nil {
				errs <- fmt.Errorf("helper %d: %v\n%s", p, err, out)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	d, _ := Open(dir)
	list, err := d.List()
	if err != nil {
		t.Fatal(err)
	}
	ids := map[int64]bool{}
	for _, a := range list {
		ids[a.ID] = true
	}
	if len(list) != 100 || len(ids) != 100 {
		t.Fatalf("%d accounts with %d distinct ids, want 100", len(list), len(ids))
	}
	m, _ := d.Mapping()
	if len(m) != 100 {
		t.Errorf("mapping has %d entries, want 100", len(m))
	}
	if probs, _ := d.Check(); len(probs) != 0 {
		t.Errorf("Check: %v", probs)
	}
}

// TestHelperCreate is the child process of TestConcurrentProcesses.
func TestHelperCreate(t *testing.T) {
	dir := os.Getenv("MYFTP_DB_HELPER")
	if dir == "" {
		t.Skip("helper process only")
	}
	d, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		if _, err := d.Create(newAccount(fmt.Sprintf("%s-%d", os.Getenv("MYFTP_DB_PREFIX"), i))); err != nil {
			t.Fatal(err)
		}
	}
}

// TestConformance runs the suite every account database passes (package accounttest).
func TestConformance(t *testing.T) {
	accounttest.Run(t, func(t *testing.T) accounttest.Store {
		d, err := Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return d
	})
}
