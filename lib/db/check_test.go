package db

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// mustCreate creates the accounts called names, in order, and fails the test on any error.
func mustCreate(t *testing.T, d *DB, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := d.Create(newAccount(n)); err != nil {
			t.Fatal(err)
		}
	}
}

// problemsAbout returns the problems Check reports whose path ends in file.
func problemsAbout(t *testing.T, d *DB, file string) []Problem {
	t.Helper()
	probs, err := d.Check()
	if err != nil {
		t.Fatal(err)
	}
	var about []Problem
	for _, p := range probs {
		if filepath.Base(p.Path) == file {
			about = append(about, p)
		}
	}
	return about
}

// TestCheckLastID breaks db/last_id in each way a hand edit or a lost file can, and checks that
// Check reports it, that Repair rewrites it, and that the next account gets an id never given.
func TestCheckLastID(t *testing.T) {
	for _, tc := range []struct {
		name    string
		content string // "" removes the file
		reason  string
	}{
		{"garbage", "garbage\n", "unreadable"},
		{"missing", "", "missing"},
		{"below the highest id", "1\n", "below"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			d, _ := Open(dir)
			mustCreate(t, d, "a", "b", "c")
			if _, err := d.Delete("a"); err != nil { // id 1 is gone from files and mapping
				t.Fatal(err)
			}
			path := filepath.Join(dir, lastIDFile)
			if tc.content == "" {
				os.Remove(path)
			} else if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			probs := problemsAbout(t, d, lastIDFile)
			if len(probs) != 1 || !strings.Contains(probs[0].Reason, tc.reason) {
				t.Fatalf("Check on last_id: %v; want one problem saying %q", probs, tc.reason)
			}
			if err := d.Repair(); err != nil {
				t.Fatal(err)
			}
			if probs, err := d.Check(); err != nil || len(probs) != 0 {
				t.Errorf("Check after Repair: %v, %v", probs, err)
			}
			if data, _ := os.ReadFile(path); string(data) != "3\n" {
				t.Errorf("last_id after Repair = %q, want the highest id seen, 3", data)
			}
			got, err := d.Create(newAccount("d"))
			if err != nil || got.ID != 4 {
				t.Errorf("next account: id %d, %v; want 4", got.ID, err)
			}
		})
	}
}

// TestCheckLastIDEmptyDatabase checks that a database without any account needs no last_id.
func TestCheckLastIDEmptyDatabase(t *testing.T) {
	d, _ := Open(t.TempDir())
	if probs, err := d.Check(); err != nil || len(probs) != 0 {
		t.Errorf("Check of an empty database: %v, %v", probs, err)
	}
}

// TestCheckLastIDCountsMapping checks that ids seen only in the mapping count: Repair must not
// write a last_id that lets a mapped id be given again.
func TestCheckLastIDCountsMapping(t *testing.T) {
	dir := t.TempDir()
	d, _ := Open(dir)
	mustCreate(t, d, "a")
	if err := os.WriteFile(filepath.Join(dir, mappingFile), []byte(`{"1":"a","9":"ghost"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if probs := problemsAbout(t, d, lastIDFile); len(probs) != 1 || !strings.Contains(probs[0].Reason, "below") {
		t.Errorf("Check on last_id: %v; want it reported below id 9 of the mapping", probs)
	}
	if err := d.Repair(); err != nil {
		t.Fatal(err)
	}
	if got, err := d.Create(newAccount("b")); err != nil || got.ID != 10 {
		t.Errorf("next account: id %d, %v; want 10", got.ID, err)
	}
}

// TestCorruptAccountBlocksCreate truncates an account file and checks that no account can be
// created while it is unreadable (its home and id are unknown, so no new home or id can be proven
// free), that Check calls it unreadable and not missing, and that Repair keeps its mapping entry.
func TestCorruptAccountBlocksCreate(t *testing.T) {
	dir := t.TempDir()
	d, _ := Open(dir)
	mustCreate(t, d, "a", "p1n1")
	path := filepath.Join(dir, accountsDir, "p1n1.json")
	if err := os.WriteFile(path, []byte(`{"id": 2, "name": "p1n1", "home": `), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, home := range []string{"p1n1", "elsewhere"} {
		o := newAccount("other")
		o.Home = home
		_, err := d.Create(o)
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), path) {
			t.Errorf("Create with home %q: %v; want ErrCorrupt naming %s", home, err, path)
		}
	}
	if _, err := d.Get("other"); !errors.Is(err, ErrNotFound) {
		t.Errorf("a failed Create left an account: %v", err)
	}
	probs, err := d.Check()
	if err != nil {
		t.Fatal(err)
	}
	if len(probs) != 1 || probs[0].Path != path || !strings.Contains(probs[0].Reason, "unreadable") {
		t.Errorf("Check = %v; want only %s reported unreadable", probs, path)
	}
	if err := d.Repair(); err != nil {
		t.Fatal(err)
	}
	if m, err := d.Mapping(); err != nil || m[2] != "p1n1" || m[1] != "a" {
		t.Errorf("mapping after Repair = %v, %v; want id 2 kept for p1n1, whose file exists", m, err)
	}
	if err := os.Remove(path); err != nil { // the administrator gives up on p1n1
		t.Fatal(err)
	}
	if got, err := d.Create(newAccount("other")); err != nil || got.ID != 3 {
		t.Errorf("Create once the file is gone: id %d, %v; want 3", got.ID, err)
	}
}

// TestDeleteWithCorruptMapping checks that a corrupt id_user_rs.json does not stop a delete: the
// account file goes, Delete says the mapping is stale, and Repair rebuilds it.
func TestDeleteWithCorruptMapping(t *testing.T) {
	dir := t.TempDir()
	d, _ := Open(dir)
	mustCreate(t, d, "alice", "bob")
	if err := os.WriteFile(filepath.Join(dir, mappingFile), []byte(`{"1": "al`), 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := d.Delete("alice")
	if !errors.Is(err, ErrMappingStale) || a.Name != "alice" || a.Home != "alice" {
		t.Fatalf("Delete = %+v, %v; want the account and ErrMappingStale", a, err)
	}
	if _, err := d.Get("alice"); !errors.Is(err, ErrNotFound) {
		t.Errorf("alice after Delete: %v, want ErrNotFound", err)
	}
	if err := d.Repair(); err != nil {
		t.Fatal(err)
	}
	if m, err := d.Mapping(); err != nil || len(m) != 1 || m[2] != "bob" {
		t.Errorf("mapping after Repair = %v, %v; want only bob", m, err)
	}
	if probs, err := d.Check(); err != nil || len(probs) != 0 {
		t.Errorf("Check after Repair: %v, %v", probs, err)
	}
}

// TestCheckDuringCreates runs Check again and again while accounts are being created and checks
// that it never reports a problem: it must not see a write in progress.
func TestCheckDuringCreates(t *testing.T) {
	d, _ := Open(t.TempDir())
	const accounts, maxChecks = 40, 100000
	done := make(chan error, 1)
	go func() {
		var err error
		for i := 0; i < accounts && err == nil; i++ {
			_, err = d.Create(newAccount(fmt.Sprintf("u%d", i)))
		}
		done <- err
	}()
	checks, finished := 0, false
	for ; !finished && checks < maxChecks; checks++ {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			finished = true
		default:
		}
		probs, err := d.Check()
		if err != nil {
			t.Fatal(err)
		}
		if len(probs) != 0 {
			t.Fatalf("check %d during creates: %v", checks, probs)
		}
	}
	if !finished {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d checks during %d creates", checks, accounts)
}
