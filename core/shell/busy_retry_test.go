package shell

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/myftp/myftp/core/server/servertest"
)

// TestRetryWhileOldUploadHeld: an upload cut by a connection lost on the client's side only
// leaves the server holding the old session, and its upload of the file, until it notices. The
// retry's put is refused with 450 meanwhile: with --retry it is tried again after a short wait,
// and the upload completes once the server lets the old session go (here when the test closes
// the old connection's server end, after the first 450). The same goes for a batch.
func TestRetryWhileOldUploadHeld(t *testing.T) {
	for _, cmd := range []string{"put big.bin", "mput big.*"} {
		t.Run(cmd, func(t *testing.T) { testRetryWhileOldUploadHeld(t, cmd) })
	}
}

func testRetryWhileOldUploadHeld(t *testing.T, cmd string) {
	f := newFixture(t, servertest.Options{})
	data := randomData(4<<20, 7)
	if err := os.WriteFile(filepath.Join(f.local, "big.bin"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	p := startHoldProxy(t, f.srv.Addr, 1<<20)
	f.addr = p.addr()
	var out syncBuffer
	errw := newWatchWriter("; the lost connection may still hold it: trying again in 200ms\n")
	done := make(chan int, 1)
	go func() { done <- Run(context.Background(), f.envFor(&out, errw, "--retry", "1", "-c", cmd)) }()
	var old net.Conn
	select {
	case old = <-p.held:
	case code := <-done:
		t.Fatalf("the upload ended (exit %d) before its connection was cut; stderr %q", code, errw.String())
	case <-time.After(20 * time.Second):
		t.Fatal("the proxy did not cut the upload's connection")
	}
	select {
	case <-errw.seen:
	case code := <-done:
		t.Fatalf("exit %d before a 450 was tried again; stdout %q, stderr %q", code, out.String(), errw.String())
	case <-time.After(20 * time.Second):
		t.Fatalf("no 450 tried again; stderr %q", errw.String())
	}
	old.Close() // the server notices the old session gone and lets its upload go
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d, stdout %q, stderr %q", code, out.String(), errw.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("the retried upload did not end; stderr %q", errw.String())
	}
	stderr := errw.String()
	for _, want := range []string{
		`reconnecting to ` + regexp.QuoteMeta(f.addr) + ` \(retry 1 of 1\)\n`,
		`reconnected: Account \[alice\] login successful\n`,
		`upload big.bin: 450 file busy: being uploaded by another session: /big.bin; the lost connection may still hold it: trying again in 200ms\n`,
	} {
		if !regexp.MustCompile(want).MatchString(stderr) {
			t.Errorf("stderr %q: no %q", stderr, want)
		}
	}
	if !regexp.MustCompile(`(?m)^File \[big.bin\] upload successful: .*, resumed at .* of 4 MiB, `).MatchString(out.String()) {
		t.Errorf("stdout %q: no summary of a resumed upload", out.String())
	}
	if got, err := os.ReadFile(filepath.Join(f.srv.Home("alice"), "big.bin")); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("uploaded file differs (%d bytes, %v)", len(got), err)
	}
}

// watchWriter is a syncBuffer that closes seen once what it holds contains want.
type watchWriter struct {
	syncBuffer
	want string
	seen chan struct{}
	once sync.Once
}

func newWatchWriter(want string) *watchWriter {
	return &watchWriter{want: want, seen: make(chan struct{})}
}

func (w *watchWriter) Write(p []byte) (int, error) {
	n, err := w.syncBuffer.Write(p)
	if strings.Contains(w.String(), w.want) {
		w.once.Do(func() { close(w.seen) })
	}
	return n, err
}

// holdProxy forwards TCP connections on 127.0.0.1 to a server. Its first connection fails on
// the client's side only, after a given number of bytes from the client: the client's end is
// closed, and the server's stays open with nothing more arriving on it, so that the server holds
// the session until the test closes that end (sent on held).
type holdProxy struct {
	l      net.Listener
	target string
	after  int64
	held   chan net.Conn

	mu    sync.Mutex
	conns []net.Conn
}

func startHoldProxy(t *testing.T, target string, after int64) *holdProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &holdProxy{l: l, target: target, after: after, held: make(chan net.Conn, 1)}
	go p.accept()
	t.Cleanup(p.close)
	return p
}

func (p *holdProxy) addr() string { return p.l.Addr().String() }

func (p *holdProxy) close() {
	p.l.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
}

func (p *holdProxy) accept() {
	for first := true; ; first = false {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, s)
		p.mu.Unlock()
		go io.Copy(c, s) // ends when either end is closed
		if first {
			go p.hold(c, s)
		} else {
			go func() { io.Copy(s, c); s.Close(); c.Close() }()
		}
	}
}

// hold forwards p.after bytes from the client, then closes the client's end and hands the
// server's on.
func (p *holdProxy) hold(c, s net.Conn) {
	io.CopyN(s, c, p.after)
	c.Close()
	p.held <- s
}
