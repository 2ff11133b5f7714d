package client

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// ErrHostKeyMismatch is returned when a server presents another certificate than the one recorded
// for its address.
var ErrHostKeyMismatch = errors.New("client: server certificate changed")

// KnownHosts is a trust-on-first-use store of server certificate fingerprints, one
// "HOST:PORT SHA256:..." line per server, like ssh's known_hosts.
type KnownHosts struct {
	Path string
}

// Lookup returns the recorded fingerprint for addr, or "".
func (k KnownHosts) Lookup(addr string) (string, error) {
	f, err := os.Open(k.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("known hosts: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == addr && !strings.HasPrefix(fields[0], "#") {
			return fields[1], nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("known hosts %s: %w", k.Path, err)
	}
	return "", nil
}

// Add records fingerprint for addr on a line of its own, creating the file (0600) and its
// directory (0700) if needed. A file whose last line has no newline (edited by hand) gets one
// first, so that the new entry is not glued onto it.
func (k KnownHosts) Add(addr, fingerprint string) error {
	if err := os.MkdirAll(filepath.Dir(k.Path), 0o700); err != nil {
		return fmt.Errorf("known hosts: %w", err)
	}
	f, err := os.OpenFile(k.Path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("known hosts: %w", err)
	}
	line := addr + " " + fingerprint + "\n"
	ended, err := endsLine(f)
	if err == nil {
		if !ended {
			line = "\n" + line
		}
		_, err = f.WriteString(line)
	}
	if err != nil {
		f.Close()
		return fmt.Errorf("known hosts %s: %w", k.Path, err)
	}
	return f.Close()
}

// endsLine reports whether f is empty or ends in a newline: whether a line appended to it starts
// a line of its own.
func endsLine(f *os.File) (bool, error) {
	fi, err := f.Stat()
	if err != nil {
		return false, err
	}
	if fi.Size() == 0 {
		return true, nil
	}
	last := make([]byte, 1)
	if _, err := f.ReadAt(last, fi.Size()-1); err != nil {
		return false, err
	}
	return last[0] == '\n', nil
}

// Check verifies fingerprint for addr. An unknown server is recorded and reported through added;
// a different fingerprint is ErrHostKeyMismatch, naming the file and both fingerprints.
func (k KnownHosts) Check(addr, fingerprint string) (added bool, err error) {
	known, err := k.Lookup(addr)
	if err != nil {
		return false, err
	}
	switch known {
	case fingerprint:
		return false, nil
	case "":
		return true, k.Add(addr, fingerprint)
	}
	return false, k.mismatch(addr, known, fingerprint)
}

// mismatch is the ErrHostKeyMismatch of a server recorded with known that presented fingerprint.
func (k KnownHosts) mismatch(addr, known, fingerprint string) error {
	return fmt.Errorf("%w: %s is recorded in %s with fingerprint %s, but the server presented %s; "+
		"if the server's certificate was replaced on purpose, remove its line from %s",
		ErrHostKeyMismatch, addr, k.Path, known, fingerprint, k.Path)
}
