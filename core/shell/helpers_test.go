package shell

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/myftp/myftp/core/server/servertest"
)

// TestMain lets the test binary run as myftpc (for the pseudo-terminal test, which needs a
// process of its own to receive the terminal's Ctrl-C).
func TestMain(m *testing.M) {
	if os.Getenv("MYFTPC_TEST_MAIN") == "1" {
		os.Exit(Main(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// fixture is a server with the account alice (password "secret"), a local directory and the
// environment of a shell run.
type fixture struct {
	t     *testing.T
	srv   *servertest.Env
	local string // the shell's local directory
	home  string // $HOME and the runtime root
	addr  string // where the shell connects: the server or a proxy in front of it
	env   map[string]string
}

func newFixture(t *testing.T, opt servertest.Options) *fixture {
	t.Helper()
	f := &fixture{t: t, srv: servertest.Start(t, opt), local: t.TempDir(), home: t.TempDir()}
	f.srv.AddUser("alice", "secret", 0)
	f.addr = f.srv.Addr
	f.env = map[string]string{"MYFTP_PASSWORD": "secret", "MYFTP_ROOT": f.home, "HOME": f.home}
	return f
}

// remoteFile writes a file into alice's home.
func (f *fixture) remoteFile(name string, data []byte) {
	f.t.Helper()
	p := filepath.Join(f.srv.Home("alice"), filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o600); err != nil {
		f.t.Fatal(err)
	}
}

// envFor returns the Env of a run with args after the fixture's own flags and before the address.
// It trusts a new server without asking (--trust-new): the tests of trust itself set their flags.
func (f *fixture) envFor(stdout, stderr io.Writer, args ...string) Env {
	all := append([]string{"--known-hosts", filepath.Join(f.home, "known_hosts"), "--trust-new", "-u", "alice"}, args...)
	return Env{Args: append(all, f.addr), Stdout: stdout, Stderr: stderr, Dir: f.local,
		Getenv: func(k string) string { return f.env[k] }}
}

type result struct {
	code           int
	stdout, stderr string
}

// run runs a whole shell in batch mode.
func (f *fixture) run(args ...string) result {
	var out, errb syncBuffer
	code := Run(context.Background(), f.envFor(&out, &errb, args...))
	return result{code, out.String(), errb.String()}
}

// shell returns a logged-in shell whose commands the test runs one at a time with exec, as the
// interactive loop does.
func (f *fixture) shell(out, errw io.Writer, now func() time.Time) *session {
	f.t.Helper()
	env := f.envFor(out, errw)
	env.Now = now
	env.fill()
	o, err := parseArgs(env.Args)
	if err != nil {
		f.t.Fatal(err)
	}
	s, err := newSession(env, o)
	if err != nil {
		f.t.Fatal(err)
	}
	if err := s.login(context.Background()); err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(s.close)
	return s
}

// syncBuffer is a bytes.Buffer safe for the goroutines of a transfer.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// proxy forwards TCP connections on 127.0.0.1 to a server. It can hold back what the server sends
// (to catch a transfer in the middle) and cut connections (to lose one).
type proxy struct {
	t       *testing.T
	l       net.Listener
	target  string
	stalled chan struct{} // a token each time forwarding waits on an exhausted budget

	mu       sync.Mutex
	cond     *sync.Cond
	limited  bool
	budget   int64 // bytes from the server that may still pass while limited
	cutAfter int64 // when > 0, the next connection is cut after this many bytes from the server
	refuse   int   // connections still to be closed at once, as a server that is down
	downTime int   // what refuse becomes when cutAfter cuts a connection
	conns    []net.Conn
	closed   bool
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{t: t, l: l, target: target, stalled: make(chan struct{}, 1)}
	p.cond = sync.NewCond(&p.mu)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

func (p *proxy) addr() string { return p.l.Addr().String() }

// limit lets n more bytes from the server through, then holds the rest until unlimit.
func (p *proxy) limit(n int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.limited, p.budget = true, n
}

func (p *proxy) unlimit() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.limited = false
	p.cond.Broadcast()
}

// cutNextAfter makes the next connection drop after n bytes from the server.
func (p *proxy) cutNextAfter(n int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cutAfter = n
}

// downAfterCut makes the n connections after the one cutNextAfter cuts close at once, as if the
// server went down with the connection and came back later.
func (p *proxy) downAfterCut(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.downTime = n
}

// cutAll closes every connection made so far.
func (p *proxy) cutAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
}

func (p *proxy) close() {
	p.l.Close()
	p.mu.Lock()
	p.closed, p.limited = true, false
	p.cond.Broadcast()
	p.mu.Unlock()
	p.cutAll()
}

func (p *proxy) accept() {
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		refuse := p.refuse > 0
		if refuse {
			p.refuse--
		}
		p.mu.Unlock()
		if refuse {
			c.Close()
			continue
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, s)
		cut := p.cutAfter
		p.cutAfter = 0
		p.mu.Unlock()
		go func() { io.Copy(s, c); s.Close(); c.Close() }()
		go p.down(s, c, cut)
	}
}

// down forwards the server's bytes to the client within the budget, and cuts the connection
// after cut bytes if cut > 0.
func (p *proxy) down(s, c net.Conn, cut int64) {
	defer c.Close()
	defer s.Close()
	buf := make([]byte, 32<<10)
	var sent int64
	for {
		n, err := s.Read(buf)
		for chunk := buf[:n]; len(chunk) > 0; {
			k := p.take(len(chunk))
			if k == 0 {
				return
			}
			if cut > 0 && sent+int64(k) >= cut {
				p.mu.Lock()
				p.refuse = p.downTime
				p.mu.Unlock()
				c.Write(chunk[:cut-sent])
				return
			}
			if _, err := c.Write(chunk[:k]); err != nil {
				return
			}
			sent += int64(k)
			chunk = chunk[k:]
		}
		if err != nil {
			return
		}
	}
}

// take waits until some of n bytes may pass and returns how many; 0 when the proxy closed.
func (p *proxy) take(n int) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.limited && p.budget == 0 && !p.closed {
		select {
		case p.stalled <- struct{}{}:
		default:
		}
		p.cond.Wait()
	}
	if p.closed {
		return 0
	}
	if p.limited {
		n = int(min(int64(n), p.budget))
		p.budget -= int64(n)
	}
	return n
}

// waitFor polls cond until it holds or 10 s pass: a wait for a condition with a deadline, for
// state that has no event to wait on (the server's queue).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// randomData returns n bytes that do not repeat in any useful way.
func randomData(n int, seed byte) []byte {
	b := make([]byte, n)
	x := uint32(seed) + 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}
