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
	"sync"
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

// TestLoadOrCreateAtOnce: servers starting on a new root at the same moment end with one pair:
// one creates it, every other loads it, and all serve the same certificate.
func TestLoadOrCreateAtOnce(t *testing.T) {
	for round := range 5 {
		dir := t.TempDir()
		crt, key := filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key")
		const starts = 6
		type result struct {
			fp      string
			created bool
			err     error
		}
		results := make(chan result, starts)
		var wg sync.WaitGroup
		for range starts {
			wg.Go(func() {
				c, created, err := LoadOrCreate(crt, key, nil)
				r := result{created: created, err: err}
				if err == nil {
					r.fp = Fingerprint(c.Certificate[0])
				}
				results <- r
			})
		}
		wg.Wait()
		close(results)
		creators, fps := 0, map[string]bool{}
		for r := range results {
			if r.err != nil {
				t.Fatalf("round %d: a start failed: %v", round, r.err)
			}
			if r.created {
				creators++
			}
			fps[r.fp] = true
		}
		disk, err := Load(crt, key)
		if err != nil {
			t.Fatalf("round %d: the pair on disk: %v", round, err)
		}
		if creators != 1 || len(fps) != 1 || !fps[Fingerprint(disk.Certificate[0])] {
			t.Fatalf("round %d: %d creators, %d certificates served, want 1 and 1, the one on disk", round, creators, len(fps))
		}
	}
}
