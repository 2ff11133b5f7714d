package account

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/ssh"
)

// Key is an SSH public key that may log in as the account (the SFTP door), kept in the account
// record as the type, key and comment of an authorized_keys line.
type Key struct {
	Type    string `json:"type"` // "ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa"...
	Key     string `json:"key"`  // base64 of the key in the SSH wire format
	Comment string `json:"comment,omitempty"`
}

// Errors of ParseKeys, wrapped in a *LineError that names the line.
var (
	// ErrKeyOptions is a line with options (command=, from=...): the server honours none of them,
	// so it takes no key whose line asks for one.
	ErrKeyOptions = errors.New("account: options are not supported")
	// ErrNotKey is a line that is not an SSH public key, or is a certificate.
	ErrNotKey = errors.New("account: not an SSH public key")
)

// LineError is a line of an authorized_keys file that ParseKeys refuses. It never quotes the
// line: a pasted private key must not end up on a terminal or in a log.
type LineError struct {
	Line   int    // from 1
	Err    error  // ErrKeyOptions or ErrNotKey
	Detail string // what more can be said, such as the names of the options; may be ""
}

func (e *LineError) Error() string {
	msg := fmt.Sprintf("account: line %d: %s", e.Line, strings.TrimPrefix(e.Err.Error(), "account: "))
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	return msg
}

func (e *LineError) Unwrap() error { return e.Err }

// ParseKeys reads keys in the authorized_keys format, one a line; blank lines and lines starting
// with '#' are skipped. A line that is not a public key (a certificate is not one), or has options
// such as command= or from=, is a *LineError wrapping ErrNotKey or ErrKeyOptions, and no key is
// returned.
func ParseKeys(data []byte) ([]Key, error) {
	var keys []Key
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, err := parseKeyLine(line)
		if err != nil {
			err.Line = n
			return nil, err
		}
		keys = append(keys, k)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("account: read keys: %w", err)
	}
	return keys, nil
}

// parseKeyLine parses one line that is neither blank nor a comment.
func parseKeyLine(line string) (Key, *LineError) {
	pub, comment, options, _, err := ssh.ParseAuthorizedKey([]byte(line))
	switch {
	case err != nil && strings.HasPrefix(line, "-----BEGIN"):
		return Key{}, &LineError{Err: ErrNotKey, Detail: "it looks like a private key; give the .pub file"}
	case err != nil:
		return Key{}, &LineError{Err: ErrNotKey}
	case len(options) > 0:
		return Key{}, &LineError{Err: ErrKeyOptions, Detail: optionNames(options) + "; give the key alone"}
	}
	if _, ok := pub.(*ssh.Certificate); ok {
		return Key{}, &LineError{Err: ErrNotKey, Detail: "it is a certificate; give the key itself"}
	}
	return Key{Type: pub.Type(), Key: base64.StdEncoding.EncodeToString(pub.Marshal()), Comment: comment}, nil
}

// optionNames returns the names of options ("command", "no-pty"), without their values.
func optionNames(options []string) string {
	names := make([]string, len(options))
	for i, o := range options {
		name, _, _ := strings.Cut(o, "=")
		names[i] = fmt.Sprintf("%+q", name)
	}
	return strings.Join(names, ", ")
}

// wire returns the key in the SSH wire format, or false if Key is not base64.
func (k Key) wire() ([]byte, bool) {
	b, err := base64.StdEncoding.DecodeString(k.Key)
	return b, err == nil && len(b) > 0
}

// PublicKey parses the key. It fails, wrapping ErrNotKey, if the key does not parse, is a
// certificate, or is not of its Type: a record edited by hand.
func (k Key) PublicKey() (ssh.PublicKey, error) {
	wire, ok := k.wire()
	if !ok {
		return nil, fmt.Errorf("%w: %+q key is not base64", ErrNotKey, k.Type)
	}
	pub, err := ssh.ParsePublicKey(wire)
	if err != nil {
		return nil, fmt.Errorf("%w: %+q key: %w", ErrNotKey, k.Type, err)
	}
	if _, ok := pub.(*ssh.Certificate); ok {
		return nil, fmt.Errorf("%w: %+q key is a certificate", ErrNotKey, k.Type)
	}
	if pub.Type() != k.Type {
		return nil, fmt.Errorf("%w: %+q key holds a key of type %s", ErrNotKey, k.Type, pub.Type())
	}
	return pub, nil
}

// Fingerprint returns the key's SHA256 fingerprint as OpenSSH prints it ("SHA256:..."), the same
// as ssh.FingerprintSHA256 of the parsed key. It is also given for a stored key that does not
// parse, so that the key can still be named and removed; it is "" only if Key is not base64.
func (k Key) Fingerprint() string {
	wire, ok := k.wire()
	if !ok {
		return ""
	}
	sum := sha256.Sum256(wire)
	return "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])
}

// HasKey reports whether pub is one of the account's keys.
func (a Account) HasKey(pub ssh.PublicKey) bool {
	wire := pub.Marshal()
	for _, k := range a.Keys {
		if b, ok := k.wire(); ok && bytes.Equal(b, wire) {
			return true
		}
	}
	return false
}

// AddKeys adds to the account, in order, the keys it does not have yet and returns them; the
// others, already there or given twice, are returned as present. A key is the same as another
// when their wire formats are, whatever their comments.
func (a *Account) AddKeys(keys []Key) (added, present []Key) {
	for _, k := range keys {
		if a.keyIndex(k.Fingerprint()) >= 0 {
			present = append(present, k)
			continue
		}
		a.Keys = append(a.Keys, k)
		added = append(added, k)
	}
	return added, present
}

// RemoveKey removes the key whose Fingerprint is fingerprint and returns it; ok is false if the
// account has no such key.
func (a *Account) RemoveKey(fingerprint string) (k Key, ok bool) {
	i := a.keyIndex(fingerprint)
	if i < 0 {
		return Key{}, false
	}
	k = a.Keys[i]
	a.Keys = append(a.Keys[:i:i], a.Keys[i+1:]...)
	return k, true
}

// keyIndex returns the index of the key whose fingerprint is fp, or -1.
func (a *Account) keyIndex(fp string) int {
	if fp == "" {
		return -1
	}
	for i, k := range a.Keys {
		if k.Fingerprint() == fp {
			return i
		}
	}
	return -1
}
