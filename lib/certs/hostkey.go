package certs

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/crypto/ssh"

	"github.com/myftp/myftp/lib/atomicfile"
)

// LoadHostKey reads an SSH host key (a private key in OpenSSH or PEM format).
func LoadHostKey(file string) (ssh.Signer, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("load host key: %w", err)
	}
	signer, err := ssh.ParsePrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("load host key %s: %w", file, err)
	}
	return signer, nil
}

// LoadOrCreateHostKey reads the SSH host key at file or, when there is none, creates an ed25519
// key there (OpenSSH format, mode 0600) and returns it with created set. Of several processes
// starting on a new root at once, one creates the key and the others load it: every one ends
// with the same key.
func LoadOrCreateHostKey(file string) (signer ssh.Signer, created bool, err error) {
	if _, err := os.Stat(file); !errors.Is(err, fs.ErrNotExist) {
		signer, err := LoadHostKey(file)
		return signer, false, err
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, false, fmt.Errorf("create host key: %w", err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		return nil, false, fmt.Errorf("create host key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return nil, false, fmt.Errorf("create host key: %w", err)
	}
	if err := atomicfile.Create(file, pem.EncodeToMemory(block), 0o600); errors.Is(err, fs.ErrExist) {
		signer, err := LoadHostKey(file) // another process created it first; it is complete
		return signer, false, err
	} else if err != nil {
		return nil, false, fmt.Errorf("create host key: %w", err)
	}
	signer, err = ssh.NewSignerFromKey(priv)
	return signer, true, err
}
