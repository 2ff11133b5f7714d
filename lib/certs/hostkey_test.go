package certs

import (
	"bytes"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"
)

// TestHostKeyCreatedOnce: processes starting at once on a new root all end with one key, mode
// 0600, which the next start loads.
func TestHostKeyCreatedOnce(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "conf", "ssh_host_ed25519_key")
	const n = 8
	keys := make([]ssh.PublicKey, n)
	created := make([]bool, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			s, c, err := LoadOrCreateHostKey(file)
			if err != nil {
				t.Error(err)
				return
			}
			keys[i], created[i] = s.PublicKey(), c
		})
	}
	wg.Wait()
	makers := 0
	for i := range n {
		if created[i] {
			makers++
		}
		if keys[i] == nil || !bytes.Equal(keys[i].Marshal(), keys[0].Marshal()) {
			t.Fatalf("start %d ended with another key", i)
		}
	}
	if makers != 1 {
		t.Fatalf("%d starts created the key, want 1", makers)
	}
	fi, err := os.Stat(file)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v; want mode 0600", fi, err)
	}
	again, c, err := LoadOrCreateHostKey(file)
	if err != nil || c || !bytes.Equal(again.PublicKey().Marshal(), keys[0].Marshal()) || again.PublicKey().Type() != ssh.KeyAlgoED25519 {
		t.Fatalf("next start: %v, created %v, %v", again, c, err)
	}
}
