package main

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/myftp/myftp/lib/account"
	"github.com/myftp/myftp/lib/db"
)

// TestCrashCreateUser runs many create_user processes at once, each creating an account, and kills
// about half of them with SIGKILL at random moments of their short lives. Afterwards every account
// file parses, the only problems are the ones an interrupted write may leave (temporary files and
// gaps in the id mapping), "create_user check --repair" makes the database clean, every process
// that said it created an account did, with its password, and no id is given twice.
func TestCrashCreateUser(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("SIGKILL is a Unix signal")
	}
	t.Parallel()
	procs := 60
	if os.Getenv("MYFTP_LONG") == "1" {
		procs = 400
	}
	const parallel = 6
	bin := crashBuild(t)
	root := t.TempDir()
	if err := os.Mkdir(filepath.Join(root, "conf"), 0o700); err != nil {
		t.Fatal(err)
	}
	settings := "[auth]\nargon2_memory = \"64KiB\"\nargon2_time = 1\n"
	if err := os.WriteFile(filepath.Join(root, "conf", "settings.toml"), []byte(settings), 0o600); err != nil {
		t.Fatal(err)
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)

	// A first, unharmed run measures how long a process lives, to aim the kills inside that time.
	start := time.Now()
	if out, err := crashCreate(bin, root, "first"); err != nil {
		t.Fatalf("create_user: %v\n%s", err, out)
	}
	life := time.Since(start)

	type run struct {
		name   string
		killAt time.Duration // 0: not killed
		err    error
		out    string
	}
	runs := make([]run, procs)
	rng := rand.New(rand.NewPCG(seed, 1))
	for i := range runs {
		runs[i].name = fmt.Sprintf("u%03d", i)
		if rng.IntN(2) == 0 {
			runs[i].killAt = time.Duration(rng.Int64N(int64(life)*3/2)) + 1
		}
	}
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i := range runs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			r := &runs[i]
			r.out, r.err = crashCreateKilled(bin, root, r.name, r.killAt)
		})
	}
	wg.Wait()

	d, err := db.Open(filepath.Join(root, "db"))
	if err != nil {
		t.Fatal(err)
	}
	var killed, created int
	for _, r := range runs {
		var ee *exec.ExitError
		switch {
		case r.err == nil:
			created++
			a, err := d.Get(r.name)
			if err != nil {
				t.Errorf("%s: create_user succeeded, but: %v", r.name, err)
				continue
			}
			if ok, err := account.VerifyPassword(a.PasswordHash, "password-"+r.name); !ok || err != nil {
				t.Errorf("%s: the stored password does not verify: %v", r.name, err)
			}
		case errors.As(r.err, &ee) && ee.ProcessState.Sys().(syscall.WaitStatus).Signal() == syscall.SIGKILL:
			killed++
		default:
			t.Errorf("%s: %v\n%s", r.name, r.err, r.out)
		}
	}
	t.Logf("%d processes (a life of about %v): %d killed, %d completed", procs, life, killed, created)

	probs, err := d.Check()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range probs {
		if !strings.Contains(p.Reason, "leftover temporary file") && !strings.Contains(p.Reason, "is missing from") &&
			!strings.Contains(p.Reason, "which has no account file") {
			t.Errorf("problem a crash must not cause: %s", p)
		}
	}
	for _, p := range probs {
		t.Logf("after the kills: %s: %s", filepath.Base(p.Path), p.Reason)
	}
	crashNoDuplicateIDs(t, d)

	out, err := exec.Command(bin, "--root", root, "check", "--repair").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "database ok") {
		t.Fatalf("check --repair: %v\n%s", err, out)
	}
	if out, err := exec.Command(bin, "--root", root, "check").CombinedOutput(); err != nil || string(out) != "database ok\n" {
		t.Fatalf("check after the repair: %v\n%s", err, out)
	}
	if probs, err := d.Check(); err != nil || len(probs) != 0 {
		t.Fatalf("db.Check after the repair: %v, %v", probs, err)
	}
	// A new account after all that gets an id of its own.
	if out, err := crashCreate(bin, root, "last"); err != nil {
		t.Fatalf("create_user after the repair: %v\n%s", err, out)
	}
	crashNoDuplicateIDs(t, d)
}

// crashNoDuplicateIDs checks that no two accounts, and no two entries of the id mapping, share an id,
// and that the mapping names only accounts with that id.
func crashNoDuplicateIDs(t *testing.T, d *db.DB) {
	t.Helper()
	list, err := d.List()
	if err != nil {
		t.Fatal(err)
	}
	ids := map[int64]string{}
	for _, a := range list {
		if other, dup := ids[a.ID]; dup {
			t.Errorf("id %d is given to %q and %q", a.ID, other, a.Name)
		}
		ids[a.ID] = a.Name
	}
	m, err := d.Mapping()
	if err != nil {
		t.Fatal(err)
	}
	for id, name := range m {
		if owner, ok := ids[id]; ok && owner != name {
			t.Errorf("the mapping gives id %d to %q, the account file to %q", id, name, owner)
		}
	}
}

// crashCreate runs create_user to make the account name with the password "password-"+name.
func crashCreate(bin, root, name string) (string, error) {
	return crashCreateKilled(bin, root, name, 0)
}

// crashCreateKilled is createUser, killing the process with SIGKILL after killAt if that is not 0.
func crashCreateKilled(bin, root, name string, killAt time.Duration) (string, error) {
	cmd := exec.Command(bin, "--root", root, "--account", name, "--password-stdin")
	cmd.Stdin = strings.NewReader("password-" + name + "\n")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return "", err
	}
	if killAt > 0 {
		kill := time.AfterFunc(killAt, func() { cmd.Process.Signal(syscall.SIGKILL) })
		defer kill.Stop()
	}
	err := cmd.Wait()
	return out.String(), err
}

// crashBuild builds this program into a temporary directory with the go command that runs the
// tests (go test puts its GOROOT/bin first on PATH).
func crashBuild(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command on PATH to build create_user: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "create_user")
	if out, err := exec.Command(goTool, "build", "-o", bin, "github.com/myftp/myftp/bin/create_user").CombinedOutput(); err != nil {
		t.Fatalf("build create_user: %v\n%s", err, out)
	}
	return bin
}
