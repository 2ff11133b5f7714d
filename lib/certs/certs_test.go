package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestLoadOrCreate(t *testing.T) {
	dir := t.TempDir()
	crt, key := filepath.Join(dir, "conf", "server.crt"), filepath.Join(dir, "conf", "server.key")
	c1, created, err := LoadOrCreate(crt, key, nil)
	if err != nil || !created {
		t.Fatalf("first start: created=%v, %v", created, err)
	}
	leaf, err := x509.ParseCertificate(c1.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	pub, ok := leaf.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		t.Errorf("key is %T, want ECDSA P-256", leaf.PublicKey)
	}
	if runtime.GOOS != "windows" {
		fi, _ := os.Stat(key)
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("key mode %v, want 0600", fi.Mode().Perm())
		}
	}
	c2, created, err := LoadOrCreate(crt, key, nil)
	if err != nil || created {
		t.Fatalf("second start: created=%v, %v", created, err)
	}
	if Fingerprint(c1.Certificate[0]) != Fingerprint(c2.Certificate[0]) {
		t.Error("the certificate changed between starts")
	}
}

func TestLoadOrCreateRefusesHalfAPair(t *testing.T) {
	dir := t.TempDir()
	crt, key := filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key")
	os.WriteFile(crt, []byte("junk"), 0o644)
	if _, _, err := LoadOrCreate(crt, key, nil); err == nil {
		t.Fatal("a certificate without its key was accepted or silently replaced")
	}
}

func TestFingerprint(t *testing.T) {
	der := []byte("certificate bytes")
	sum := sha256.Sum256(der)
	want := "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])
	if got := Fingerprint(der); got != want || strings.HasSuffix(got, "=") {
		t.Errorf("Fingerprint = %q, want %q", got, want)
	}
}
