package db

import (
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/myftp/myftp/lib/account"
)

// TestCheckKeys checks that a record with SSH keys passes Check, and that a key broken by a hand
// edit is reported with its number and fingerprint.
func TestCheckKeys(t *testing.T) {
	d, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	mustCreate(t, d, "alice")
	edPub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ssh.NewPublicKey(edPub)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := account.ParseKeys(ssh.MarshalAuthorizedKey(pub))
	if err != nil {
		t.Fatal(err)
	}
	good := keys[0]
	setKeys := func(keys ...account.Key) {
		t.Helper()
		if _, err := d.Update("alice", func(a *account.Account) error { a.Keys = keys; return nil }); err != nil {
			t.Fatal(err)
		}
	}

	setKeys(good)
	if probs := problemsAbout(t, d, "alice.json"); len(probs) != 0 {
		t.Errorf("a record with a valid key: %v", probs)
	}

	truncated := account.Key{Type: good.Type, Key: good.Key[:len(good.Key)-8], Comment: "cut"}
	setKeys(good, truncated, account.Key{Type: "ssh-ed25519", Key: "%%%"})
	probs := problemsAbout(t, d, "alice.json")
	if len(probs) != 2 {
		t.Fatalf("got %d problems, want 2 (keys 2 and 3): %v", len(probs), probs)
	}
	want := []string{"key 2 (" + truncated.Fingerprint() + ") cannot log in: ", "key 3 (no fingerprint) cannot log in: "}
	for i, p := range probs {
		if !strings.HasPrefix(p.Reason, want[i]) || !strings.Contains(p.Reason, "not an SSH public key") {
			t.Errorf("problem %d: %q, want it to start with %q", i, p.Reason, want[i])
		}
	}
}
