package shell

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/myftp/myftp/core/server/servertest"
	"github.com/myftp/myftp/lib/certs"
	"github.com/myftp/myftp/lib/proto"
)

// loginLogged matches the server's log lines of a login attempt: a success, a failure, a refusal.
var loginLogged = regexp.MustCompile(`msg="?login( failed| refused)?("| |$)`)

// recorder is a server without TLS that accepts any login and records every byte it receives.
type recorder struct {
	addr string
	mu   sync.Mutex
	got  bytes.Buffer
	wg   sync.WaitGroup
}

func startRecorder(t *testing.T) *recorder {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{addr: l.Addr().String()}
	rec.wg.Add(1)
	go func() {
		defer rec.wg.Done()
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			rec.wg.Add(1)
			go func() {
				defer rec.wg.Done()
				defer conn.Close()
				rec.serve(conn)
			}()
		}
	}()
	t.Cleanup(func() { l.Close(); rec.wg.Wait() })
	return rec
}

// serve greets without TLS and answers login, pwd and quit until the client closes.
func (rec *recorder) serve(conn net.Conn) {
	r := proto.NewReader(io.TeeReader(conn, lockedWriter{&rec.mu, &rec.got}), proto.DefaultMaxHeader)
	w := proto.NewWriter(conn)
	w.WriteJSON(proto.TypeReply, proto.Reply{Code: proto.CodeReady, Version: proto.Version, Server: "recorder"})
	for w.Flush() == nil {
		req, err := nextRequest(r)
		if err != nil {
			return
		}
		switch req.Op {
		case proto.OpLogin:
			w.WriteJSON(proto.TypeReply, proto.Reply{Code: proto.CodeLoggedIn, User: req.User, Path: "/"})
		case proto.OpPwd:
			w.WriteJSON(proto.TypeReply, proto.Reply{Code: proto.CodePath, Path: "/"})
		default:
			w.WriteJSON(proto.TypeReply, proto.Reply{Code: proto.CodeBye})
			w.Flush()
			return
		}
	}
}

// received returns what the server received, once every connection has ended.
func (rec *recorder) received() string {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return rec.got.String()
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func nextRequest(r *proto.Reader) (proto.Request, error) {
	f, err := r.Next()
	if err != nil {
		return proto.Request{}, err
	}
	return proto.DecodeRequest(f.Payload)
}

// runAt runs a batch myftpc against addr, with the runtime root and $HOME home (its
// conf/settings.toml holds settings, if not empty) and the password "hunter2-marker".
func runAt(t *testing.T, home, settings, addr string, args ...string) result {
	t.Helper()
	if settings != "" {
		if err := os.MkdirAll(filepath.Join(home, "conf"), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(home, "conf", "settings.toml"), []byte(settings), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	env := map[string]string{"MYFTP_PASSWORD": "hunter2-marker", "MYFTP_ROOT": home, "HOME": home}
	var out, errb syncBuffer
	all := append(append([]string{"--known-hosts", filepath.Join(home, "known_hosts"), "-u", "alice"}, args...), addr)
	code := Run(context.Background(), Env{Args: all, Stdout: &out, Stderr: &errb, Dir: t.TempDir(),
		Getenv: func(k string) string { return env[k] }})
	return result{code, out.String(), errb.String()}
}

// TestPlainServerGetsNoPassword: a server that greets without TLS receives nothing at all from
// myftpc, unless --insecure or client.allow_plaintext says to go on; then the password does go
// in clear (which shows that the recorder would have seen it), after a warning.
func TestPlainServerGetsNoPassword(t *testing.T) {
	for _, tc := range []struct {
		name, settings string
		args           []string
		code           int
	}{
		{"default", "", nil, ExitHostKey},
		{"trust-new", "", []string{"--trust-new"}, ExitHostKey},
		{"allow_plaintext", "[client]\nallow_plaintext = true\n", nil, ExitOK},
		{"insecure", "", []string{"--insecure"}, ExitOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := startRecorder(t)
			r := runAt(t, t.TempDir(), tc.settings, rec.addr, append(tc.args, "-c", "pwd")...)
			if r.code != tc.code {
				t.Fatalf("exit %d, want %d; stdout %q, stderr %q", r.code, tc.code, r.stdout, r.stderr)
			}
			if tc.code != ExitOK {
				if got := rec.received(); got != "" {
					t.Errorf("the plain server received %q", got)
				}
				if !strings.Contains(r.stderr, "server does not use TLS: refusing to send a password in clear text; --insecure, or allow_plaintext") {
					t.Errorf("stderr %q", r.stderr)
				}
				return
			}
			if !strings.Contains(rec.received(), "hunter2-marker") {
				t.Errorf("the recorder did not see the password: %q", rec.received())
			}
			if !strings.Contains(r.stderr, "WARNING: "+rec.addr+" does not use TLS: the password and the files travel in clear text") {
				t.Errorf("no warning: stderr %q", r.stderr)
			}
		})
	}
}

// TestPlainServerRecordedWithTLS: a server known_hosts records with TLS that greets without it
// (a downgrade, as a man in the middle would) is refused even with allow_plaintext, and gets
// nothing; --insecure goes on.
func TestPlainServerRecordedWithTLS(t *testing.T) {
	rec := startRecorder(t)
	home := t.TempDir()
	kh := filepath.Join(home, "known_hosts")
	if err := os.WriteFile(kh, []byte(rec.addr+" SHA256:apG7i+TZ/pOiIGDSCKsiq1bsEBQjWGlxyNIbHRcqsGU\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runAt(t, home, "[client]\nallow_plaintext = true\n", rec.addr, "-c", "pwd")
	want := "myftpc: server certificate changed: " + rec.addr + " is recorded in " + kh +
		" with fingerprint SHA256:apG7i+TZ/pOiIGDSCKsiq1bsEBQjWGlxyNIbHRcqsGU, but the server presented none (server does not use TLS): " +
		"refusing to send a password in clear text; if it was switched to plain text on purpose, remove its line from " + kh + "\n"
	if r.code != ExitHostKey || r.stderr != want {
		t.Fatalf("exit %d, stderr %q; want %d, %q", r.code, r.stderr, ExitHostKey, want)
	}
	if got := rec.received(); got != "" {
		t.Errorf("the plain server received %q", got)
	}
	if r := runAt(t, home, "", rec.addr, "--insecure", "-c", "pwd"); r.code != ExitOK {
		t.Errorf("--insecure: exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestBatchNewServerRefused: without a terminal, a server that known_hosts does not list is
// refused unless --trust-new, before any login; with it, it is recorded with a notice, and
// trusted silently afterwards.
func TestBatchNewServerRefused(t *testing.T) {
	var log syncBuffer
	srv := servertest.Start(t, servertest.Options{LogTo: &log})
	srv.AddUser("alice", "hunter2-marker", 0)
	fp := certs.Fingerprint(srv.Cert.Certificate[0])
	home := t.TempDir()
	kh := filepath.Join(home, "known_hosts")

	r := runAt(t, home, "", srv.Addr, "-c", "pwd")
	want := "myftpc: server not trusted: " + srv.Addr + ": it is not in " + kh + " and there is no terminal to ask whether to trust its fingerprint " +
		fp + "; --trust-new records it (compare the fingerprint with the one myftps printed first)\n"
	if r.code != ExitHostKey || r.stderr != want || r.stdout != "" {
		t.Fatalf("exit %d, stdout %q, stderr %q; want %d, %q", r.code, r.stdout, r.stderr, ExitHostKey, want)
	}
	if _, err := os.Stat(kh); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("known_hosts after a refusal: %v", err)
	}
	if loginLogged.MatchString(log.String()) {
		t.Errorf("the server saw a login attempt:\n%s", log.String())
	}

	r = runAt(t, home, "", srv.Addr, "--trust-new", "-c", "pwd")
	if r.code != ExitOK || r.stderr != "new server "+srv.Addr+": fingerprint "+fp+" recorded in "+kh+"\nAccount [alice] login successful\n" {
		t.Fatalf("--trust-new: exit %d, stderr %q", r.code, r.stderr)
	}
	if !loginLogged.MatchString(log.String()) {
		t.Errorf("loginLogged does not match the server's log of a login:\n%s", log.String())
	}
	if r = runAt(t, home, "", srv.Addr, "-c", "pwd"); r.code != ExitOK || r.stderr != "Account [alice] login successful\n" {
		t.Fatalf("known server: exit %d, stderr %q", r.code, r.stderr)
	}
	if data, err := os.ReadFile(kh); err != nil || string(data) != srv.Addr+" "+fp+"\n" {
		t.Errorf("known_hosts %q, %v", data, err)
	}
}
