package client

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

const (
	fpA = "SHA256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	fpB = "SHA256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

func TestKnownHostsTrustOnFirstUse(t *testing.T) {
	k := KnownHosts{Path: filepath.Join(t.TempDir(), "dir", "known_hosts")}
	if fp, err := k.Lookup("h:1"); err != nil || fp != "" {
		t.Fatalf("Lookup in a missing file = %q, %v", fp, err)
	}
	added, err := k.Check("h:1", fpA)
	if err != nil || !added {
		t.Fatalf("first Check = %v, %v; want recorded", added, err)
	}
	data, err := os.ReadFile(k.Path)
	if err != nil || string(data) != "h:1 "+fpA+"\n" {
		t.Fatalf("known_hosts = %q, %v", data, err)
	}
	if runtime.GOOS != "windows" {
		if fi, _ := os.Stat(k.Path); fi.Mode().Perm() != 0o600 {
			t.Errorf("known_hosts mode %v, want 0600", fi.Mode().Perm())
		}
	}
	if added, err := k.Check("h:1", fpA); err != nil || added {
		t.Errorf("second Check with the same fingerprint = %v, %v; want a silent pass", added, err)
	}
	if added, err := k.Check("h:2", fpB); err != nil || !added {
		t.Errorf("Check of another server = %v, %v", added, err)
	}
	if fp, err := k.Lookup("h:2"); err != nil || fp != fpB {
		t.Errorf("Lookup(h:2) = %q, %v", fp, err)
	}
}

func TestKnownHostsMismatch(t *testing.T) {
	k := KnownHosts{Path: filepath.Join(t.TempDir(), "known_hosts")}
	os.WriteFile(k.Path, []byte("# a comment\nother:9 "+fpB+"\nh:1 "+fpA+"\n"), 0o600)
	added, err := k.Check("h:1", fpB)
	if !errors.Is(err, ErrHostKeyMismatch) || added {
		t.Fatalf("Check with another fingerprint = %v, %v; want ErrHostKeyMismatch", added, err)
	}
	for _, want := range []string{k.Path, fpA, fpB, "h:1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	if data, _ := os.ReadFile(k.Path); strings.Count(string(data), "h:1") != 1 {
		t.Errorf("a mismatch changed the file: %q", data)
	}
}

func TestKnownHostsUnreadable(t *testing.T) {
	k := KnownHosts{Path: t.TempDir()} // a directory
	if _, err := k.Check("h:1", fpA); err == nil {
		t.Fatal("Check with a directory as known_hosts succeeded")
	}
}

// TestKnownHostsAddAfterLineWithoutNewline: a file whose last line has no newline (edited by hand)
// gets the new entry on a line of its own, and both servers are then recognised.
func TestKnownHostsAddAfterLineWithoutNewline(t *testing.T) {
	k := KnownHosts{Path: filepath.Join(t.TempDir(), "known_hosts")}
	if err := os.WriteFile(k.Path, []byte("other:9 "+fpB), 0o600); err != nil {
		t.Fatal(err)
	}
	if added, err := k.Check("h:1", fpA); err != nil || !added {
		t.Fatalf("Check of a new server = %v, %v; want recorded", added, err)
	}
	if data, _ := os.ReadFile(k.Path); string(data) != "other:9 "+fpB+"\nh:1 "+fpA+"\n" {
		t.Errorf("known_hosts = %q, want the new entry on its own line", data)
	}
	for addr, fp := range map[string]string{"other:9": fpB, "h:1": fpA} {
		if added, err := k.Check(addr, fp); err != nil || added {
			t.Errorf("Check(%s) after the append = %v, %v; want a silent pass", addr, added, err)
		}
	}
}
