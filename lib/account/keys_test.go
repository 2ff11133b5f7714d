package account

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

// newPublicKeys returns an ed25519, an ECDSA P-256 and a 2048-bit RSA public key, made afresh.
func newPublicKeys(t *testing.T) []ssh.PublicKey {
	t.Helper()
	edPub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	var pubs []ssh.PublicKey
	for _, k := range []any{edPub, &ec.PublicKey, &rs.PublicKey} {
		pub, err := ssh.NewPublicKey(k)
		if err != nil {
			t.Fatal(err)
		}
		pubs = append(pubs, pub)
	}
	return pubs
}

// authorizedLine returns pub as ssh-keygen writes it in a .pub file, with comment if not "".
func authorizedLine(pub ssh.PublicKey, comment string) string {
	line := strings.TrimSuffix(string(ssh.MarshalAuthorizedKey(pub)), "\n")
	if comment != "" {
		line += " " + comment
	}
	return line
}

func TestParseKeys(t *testing.T) {
	pubs := newPublicKeys(t)
	file := "# alice's keys\n\n" +
		authorizedLine(pubs[0], "alice@laptop") + "\n" +
		"   \t\n" +
		"  " + authorizedLine(pubs[1], "") + "  \r\n" +
		"#" + authorizedLine(pubs[2], "commented out") + "\n" +
		authorizedLine(pubs[2], "work key  2024") // no newline at the end
	keys, err := ParseKeys([]byte(file))
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ typ, comment string }{
		{ssh.KeyAlgoED25519, "alice@laptop"},
		{ssh.KeyAlgoECDSA256, ""},
		{ssh.KeyAlgoRSA, "work key  2024"},
	}
	if len(keys) != len(want) {
		t.Fatalf("got %d keys, want %d: %+v", len(keys), len(want), keys)
	}
	for i, k := range keys {
		if k.Type != want[i].typ || k.Comment != want[i].comment {
			t.Errorf("key %d: type %q, comment %q; want %q, %q", i, k.Type, k.Comment, want[i].typ, want[i].comment)
		}
		pub, err := k.PublicKey()
		if err != nil {
			t.Errorf("key %d: PublicKey: %v", i, err)
			continue
		}
		if string(pub.Marshal()) != string(pubs[i].Marshal()) {
			t.Errorf("key %d: PublicKey is not the key parsed", i)
		}
		if got, want := k.Fingerprint(), ssh.FingerprintSHA256(pubs[i]); got != want {
			t.Errorf("key %d: Fingerprint %q, want %q", i, got, want)
		}
	}
}

func TestParseKeysNone(t *testing.T) {
	for _, in := range []string{"", "\n\n", "# only a comment\n", "  \r\n"} {
		if keys, err := ParseKeys([]byte(in)); err != nil || len(keys) != 0 {
			t.Errorf("ParseKeys(%q) = %v, %v; want no keys and no error", in, keys, err)
		}
	}
}

func TestParseKeysRefuses(t *testing.T) {
	pubs := newPublicKeys(t)
	good := authorizedLine(pubs[0], "ok") + "\n"
	key := authorizedLine(pubs[1], "c")
	cert := &ssh.Certificate{Key: pubs[0], CertType: ssh.UserCert, ValidBefore: ssh.CertTimeInfinity}
	signer, err := ssh.NewSignerFromKey(newEd25519(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := cert.SignCert(rand.Reader, signer); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, line string
		err        error
		detail     string // in the message
	}{
		{"command", `command="ls -l",no-pty ` + key, ErrKeyOptions, `"command", "no-pty"; give the key alone`},
		{"from", `from="10.0.0.0/8" ` + key, ErrKeyOptions, `"from"`},
		{"restrict", "restrict " + key, ErrKeyOptions, `"restrict"`},
		{"cert-authority", "cert-authority " + key, ErrKeyOptions, `"cert-authority"`},
		{"garbage", "hello world", ErrNotKey, ""},
		{"one word", "ssh-ed25519", ErrNotKey, ""},
		{"bad base64", "ssh-ed25519 AAAA!!!! x", ErrNotKey, ""},
		{"truncated", key[:len(key)/2], ErrNotKey, ""},
		{"private key", "-----BEGIN OPENSSH PRIVATE KEY-----", ErrNotKey, "private key"},
		{"certificate", authorizedLine(cert, "cert"), ErrNotKey, "certificate"},
	}
	for _, tt := range tests {
		keys, err := ParseKeys([]byte(good + "# comment\n" + tt.line + "\n" + good))
		var le *LineError
		if !errors.As(err, &le) || !errors.Is(err, tt.err) || le.Line != 3 || keys != nil {
			t.Errorf("%s: %v, %d keys; want a LineError of line 3 wrapping %v, no keys", tt.name, err, len(keys), tt.err)
			continue
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, "account: line 3: ") || !strings.Contains(msg, tt.detail) {
			t.Errorf("%s: message %q; want it to start with \"account: line 3: \" and hold %q", tt.name, msg, tt.detail)
		}
		if strings.Count(msg, "account: ") != 1 {
			t.Errorf("%s: message %q repeats the package prefix", tt.name, msg)
		}
		if strings.Contains(msg, "ls -l") || strings.Contains(msg, "10.0.0.0") || strings.Contains(msg, "hello") {
			t.Errorf("%s: message %q quotes the line", tt.name, msg)
		}
	}
}

func newEd25519(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return priv
}

func TestParseKeysLongLine(t *testing.T) {
	_, err := ParseKeys([]byte(strings.Repeat("A", 2<<20)))
	if err == nil || errors.Is(err, ErrNotKey) {
		t.Errorf("a 2 MiB line: %v; want a read error", err)
	}
}

func TestHasKey(t *testing.T) {
	pubs := newPublicKeys(t)
	keys, err := ParseKeys([]byte(authorizedLine(pubs[0], "a") + "\n" + authorizedLine(pubs[2], "b")))
	if err != nil {
		t.Fatal(err)
	}
	a := Account{Name: "alice", Keys: append([]Key{{Type: "ssh-ed25519", Key: "not base64!"}}, keys...)}
	for i, want := range []bool{true, false, true} {
		if got := a.HasKey(pubs[i]); got != want {
			t.Errorf("HasKey(key %d) = %v, want %v", i, got, want)
		}
	}
	if (Account{}).HasKey(pubs[0]) {
		t.Error("an account without keys has a key")
	}
}

func TestAddRemoveKeys(t *testing.T) {
	pubs := newPublicKeys(t)
	first, err := ParseKeys([]byte(authorizedLine(pubs[0], "a") + "\n" + authorizedLine(pubs[1], "b")))
	if err != nil {
		t.Fatal(err)
	}
	// The same key under another comment, a new key, and that new key again.
	second, err := ParseKeys([]byte(authorizedLine(pubs[0], "a again") + "\n" + authorizedLine(pubs[2], "c") + "\n" + authorizedLine(pubs[2], "c")))
	if err != nil {
		t.Fatal(err)
	}
	var a Account
	if added, present := a.AddKeys(first); len(added) != 2 || len(present) != 0 {
		t.Fatalf("first AddKeys: added %d, present %d; want 2, 0", len(added), len(present))
	}
	added, present := a.AddKeys(second)
	if len(added) != 1 || added[0].Comment != "c" || len(present) != 2 || present[0].Comment != "a again" {
		t.Fatalf("second AddKeys: added %+v, present %+v", added, present)
	}
	if len(a.Keys) != 3 || a.Keys[0].Comment != "a" {
		t.Fatalf("keys %+v; want a, b, c", a.Keys)
	}

	fp := ssh.FingerprintSHA256(pubs[1])
	if k, ok := a.RemoveKey(fp); !ok || k.Comment != "b" {
		t.Fatalf("RemoveKey(b) = %+v, %v", k, ok)
	}
	if _, ok := a.RemoveKey(fp); ok {
		t.Error("removed b twice")
	}
	if _, ok := a.RemoveKey(""); ok {
		t.Error(`RemoveKey("") removed a key`)
	}
	if len(a.Keys) != 2 || a.Keys[0].Comment != "a" || a.Keys[1].Comment != "c" || a.HasKey(pubs[1]) {
		t.Errorf("keys after removing b: %+v", a.Keys)
	}
}

// TestBrokenStoredKey checks a hand-edited key that no longer parses: PublicKey says why, and it
// keeps a fingerprint by which it can be removed.
func TestBrokenStoredKey(t *testing.T) {
	pubs := newPublicKeys(t)
	keys, err := ParseKeys([]byte(authorizedLine(pubs[0], "")))
	if err != nil {
		t.Fatal(err)
	}
	good := keys[0]
	truncated := Key{Type: good.Type, Key: good.Key[:len(good.Key)-8]}
	mistyped := Key{Type: ssh.KeyAlgoRSA, Key: good.Key}
	for _, k := range []Key{truncated, mistyped, {Type: "ssh-ed25519", Key: "%%%"}, {}} {
		if _, err := k.PublicKey(); !errors.Is(err, ErrNotKey) {
			t.Errorf("PublicKey of %+v: %v; want ErrNotKey", k, err)
		}
	}
	if fp := truncated.Fingerprint(); !strings.HasPrefix(fp, "SHA256:") {
		t.Errorf("Fingerprint of a truncated key = %q, want SHA256:...", fp)
	}
	a := Account{Keys: []Key{truncated, {Type: "x", Key: "%%%"}}}
	if _, ok := a.RemoveKey(truncated.Fingerprint()); !ok || len(a.Keys) != 1 {
		t.Errorf("a broken key could not be removed: %+v", a.Keys)
	}
	if fp := a.Keys[0].Fingerprint(); fp != "" {
		t.Errorf("Fingerprint of a key that is not base64 = %q, want \"\"", fp)
	}
}
