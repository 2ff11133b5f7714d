package serve_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/myftp/myftp/core/serve"
	"github.com/myftp/myftp/lib/account"
	"github.com/myftp/myftp/lib/certs"
	"github.com/myftp/myftp/lib/client"
	"github.com/myftp/myftp/lib/db"
	"github.com/myftp/myftp/lib/proto"
)

// settings is a test configuration: a free loopback port, cheap argon2id, no fsync.
const settings = `
[server]
listen = "127.0.0.1:0"
shutdown_timeout = "5s"
[auth]
argon2_memory = "64KiB"
argon2_time = 1
[storage]
fsync = false
`

const password = "Serve-Test-Secret-4b1d"

// newRoot makes a runtime root with the settings text conf and the account "bob".
func newRoot(t *testing.T, conf string) string {
	t.Helper()
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "conf"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "conf", "settings.toml"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	accounts, err := db.Open(filepath.Join(root, "db"))
	if err != nil {
		t.Fatal(err)
	}
	hash, err := account.HashPassword(password, account.Params{Memory: 64, Time: 1, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := accounts.Create(account.Account{Name: "bob", PasswordHash: hash, Quota: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	return root
}

// syncBuffer is a bytes.Buffer safe for the server's goroutines and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// running is a myftps started in-process by serve.Main.
type running struct {
	addr        string
	fingerprint string // "" without TLS
	stdout      []string
	stderr      *syncBuffer
	cancel      context.CancelFunc
	code        chan int
	lines       chan string // what myftps prints after the listening line
}

// start runs serve.Main on root and reads its stdout, through a pipe, until it says where it
// listens.
func start(t *testing.T, root string) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	r := &running{stderr: &syncBuffer{}, cancel: cancel, code: make(chan int, 1)}
	go func() {
		r.code <- serve.Main(ctx, []string{"--root", root}, pw, r.stderr)
		pw.Close()
	}()
	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	r.lines = lines
	t.Cleanup(func() { r.stop(t) })
	deadline := time.After(20 * time.Second)
	for r.addr == "" {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("myftps ended before listening; stdout %q, stderr:\n%s", r.stdout, r.stderr)
			}
			r.stdout = append(r.stdout, line)
			if fp, ok := strings.CutPrefix(line, "fingerprint "); ok {
				r.fingerprint = fp
			}
			if addr, ok := strings.CutPrefix(line, "listening on "); ok {
				r.addr = addr
			}
		case <-deadline:
			t.Fatalf("myftps did not say it listens within 20s; stdout %q, stderr:\n%s", r.stdout, r.stderr)
		}
	}
	return r
}

// stop cancels Main's context, as SIGINT does, and returns its exit code.
func (r *running) stop(t *testing.T) int {
	t.Helper()
	r.cancel()
	select {
	case code := <-r.code:
		r.code <- code // for a second stop
		return code
	case <-time.After(20 * time.Second):
		t.Fatal("myftps did not stop within 20s of its context ending")
		return -1
	}
}

func dial(t *testing.T, r *running, knownHosts string, notes *[]string) *client.Client {
	t.Helper()
	c, err := client.Dial(context.Background(), client.Config{Addr: r.addr, KnownHosts: knownHosts,
		DialTimeout: 10 * time.Second, IOTimeout: 20 * time.Second, Notify: func(m string) { *notes = append(*notes, m) }})
	if err != nil {
		t.Fatalf("dial %s: %v", r.addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// certFingerprint computes the fingerprint of the certificate file as a client would see it.
func certFingerprint(t *testing.T, file string) string {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatalf("%s: no PEM block", file)
	}
	if _, err := x509.ParseCertificate(block.Bytes); err != nil {
		t.Fatal(err)
	}
	return certs.Fingerprint(block.Bytes)
}

// TestFingerprintAndRestart: the fingerprint myftps prints is the one a client sees and the one of
// conf/server.crt; the key is private; a restart reuses the certificate; cancelling the context
// stops the server with exit code 0, even with a session open.
func TestFingerprintAndRestart(t *testing.T) {
	t.Parallel()
	root := newRoot(t, settings)
	knownHosts := filepath.Join(t.TempDir(), "known_hosts")
	r := start(t, root)
	if !strings.HasPrefix(r.fingerprint, "SHA256:") {
		t.Fatalf("stdout %q: want a fingerprint line before the listening line", r.stdout)
	}
	var notes []string
	c := dial(t, r, knownHosts, &notes)
	if !c.TLS() || c.Fingerprint() != r.fingerprint {
		t.Fatalf("client sees TLS %v, fingerprint %q; myftps printed %q", c.TLS(), c.Fingerprint(), r.fingerprint)
	}
	if len(notes) != 1 || !strings.Contains(notes[0], r.fingerprint) {
		t.Fatalf("client notices %q, want one naming the new server's fingerprint", notes)
	}
	if err := c.Login("bob", password); err != nil {
		t.Fatal(err)
	}
	if fp := certFingerprint(t, filepath.Join(root, "conf", "server.crt")); fp != r.fingerprint {
		t.Fatalf("conf/server.crt has fingerprint %s, myftps printed %s", fp, r.fingerprint)
	}
	fi, err := os.Stat(filepath.Join(root, "conf", "server.key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("conf/server.key: %v, %v; want mode 0600", fi, err)
	}

	// SIGINT: the idle session is told and Main returns 0.
	if code := r.stop(t); code != 0 {
		t.Fatalf("exit code %d after the context ended, want 0; stderr:\n%s", code, r.stderr)
	}
	err = c.Noop()
	var re *proto.ReplyError
	if !errors.Is(err, client.ErrClosed) || errors.As(err, &re) && re.Code != proto.CodeUnavailable {
		t.Fatalf("session open during the stop: %v, want it closed", err)
	}

	r2 := start(t, root)
	if r2.fingerprint != r.fingerprint {
		t.Fatalf("fingerprint after a restart %s, before %s: the certificate was not reused", r2.fingerprint, r.fingerprint)
	}
	c2 := dial(t, r2, knownHosts, &notes)
	if c2.Fingerprint() != r.fingerprint {
		t.Fatalf("client sees %s after the restart, want %s", c2.Fingerprint(), r.fingerprint)
	}
	if err := c2.Login("bob", password); err != nil {
		t.Fatal(err)
	}
	c2.Close()
	if code := r2.stop(t); code != 0 {
		t.Fatalf("second run: exit code %d", code)
	}

	logged := r.stderr.String() + r2.stderr.String()
	if !strings.Contains(logged, "listening") || !strings.Contains(logged, "stopped") {
		t.Fatalf("stderr lacks the event log:\n%s", logged)
	}
	events, _ := os.ReadFile(filepath.Join(root, "log", "myftps.log"))
	if strings.Contains(logged, password) || strings.Contains(string(events), password) {
		t.Fatal("a log contains the password")
	}
}

// TestPlainMode: with tls = false, myftps warns on stderr, prints no fingerprint, and serves
// clients in clear text.
func TestPlainMode(t *testing.T) {
	t.Parallel()
	root := newRoot(t, strings.Replace(settings, "[server]\n", "[server]\ntls = false\n", 1))
	r := start(t, root)
	if r.fingerprint != "" {
		t.Fatalf("plain mode printed a fingerprint: %q", r.stdout)
	}
	if !strings.Contains(r.stderr.String(), "WARNING: tls = false") {
		t.Fatalf("stderr lacks the clear-text warning:\n%s", r.stderr)
	}
	var notes []string
	c := dial(t, r, filepath.Join(t.TempDir(), "known_hosts"), &notes)
	if c.TLS() || c.Fingerprint() != "" {
		t.Fatalf("client sees TLS %v, fingerprint %q in plain mode", c.TLS(), c.Fingerprint())
	}
	if len(notes) != 1 || !strings.Contains(notes[0], "does not use TLS") {
		t.Fatalf("client notices %q, want the clear-text warning", notes)
	}
	if err := c.Login("bob", password); err != nil {
		t.Fatal(err)
	}
	if p, err := c.Pwd(); err != nil || p != "/" {
		t.Fatalf("pwd %q, %v", p, err)
	}
	if _, err := os.Stat(filepath.Join(root, "conf", "server.key")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("plain mode created a key: %v", err)
	}
	c.Close()
	if code := r.stop(t); code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}
}

// TestExitCodes: usage and settings errors exit 2, runtime errors 1, help 0.
func TestExitCodes(t *testing.T) {
	t.Parallel()
	badKey := newRoot(t, settings+"no_such_key = 1\n")
	missingCert := newRoot(t, strings.Replace(settings, "[server]\n", "[server]\ncert_file = \"nope.crt\"\nkey_file = \"nope.key\"\n", 1))
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"help", []string{"--help"}, 0, "usage: myftps"},
		{"unknown flag", []string{"--nope"}, 2, "usage: myftps"},
		{"argument", []string{"--root", t.TempDir(), "extra"}, 2, `unexpected argument "extra"`},
		{"unknown settings key", []string{"--root", badKey}, 2, "no_such_key"},
		{"missing settings file", []string{"--root", t.TempDir(), "--conf", "/nonexistent/settings.toml"}, 2, "settings"},
		{"bad listen address", []string{"--root", newRoot(t, settings), "--listen", "127.0.0.1:-1"}, 1, "listen"},
		{"missing certificate", []string{"--root", missingCert}, 1, "certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr syncBuffer
			code := serve.Main(context.Background(), tc.args, &stdout, &stderr)
			if code != tc.code || !strings.Contains(stderr.String(), tc.stderr) {
				t.Fatalf("exit code %d, stderr:\n%s\nwant code %d and %q", code, stderr.String(), tc.code, tc.stderr)
			}
		})
	}
}
