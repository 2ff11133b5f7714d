package sftpdoor_test

import (
	"bufio"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/myftp/myftp/core/server/servertest"
)

// TestOnlySFTP: everything SSH can do but the sftp subsystem is refused, and the server log says
// so: another subsystem (ssh -s), a command (ssh host command), a shell, a remote port forward
// (ssh -R) and a local one (ssh -L: the forwarded connection is closed and its target never
// reached). The server never runs a program: there is none to run.
func TestOnlySFTP(t *testing.T) {
	t.Parallel()
	e := start(t, servertest.Options{})
	u := e.user("alice", 0)
	l := keyLogin(u)

	cases := []struct {
		name, want, log string
		opts            []string
		args            []string
	}{
		{"subsystem", "subsystem request failed on channel 0", `type=subsystem subsystem=other`, []string{"-s"}, []string{"other"}},
		{"command", "exec request failed on channel 0", `type=exec`, nil, []string{"cat", "/etc/passwd"}},
		{"shell", "shell request failed on channel 0", `type=shell`, []string{"-T"}, nil},
		{"remote forward", "remote port forwarding failed for listen port 0", `type=tcpip-forward`,
			[]string{"-N", "-o", "ExitOnForwardFailure=yes", "-R", "0:127.0.0.1:9"}, nil},
	}
	for _, c := range cases {
		r := e.ssh(l, strings.NewReader(""), c.opts, c.args...).wait(t)
		if r.code == 0 || !strings.Contains(r.out, c.want) || strings.Contains(r.out, "root:") {
			t.Errorf("%s: %v\nwant refused with %q", c.name, r, c.want)
		}
		if !strings.Contains(e.serverLog(), c.log) {
			t.Errorf("%s: the server log does not say %q", c.name, c.log)
		}
	}

	// A local forward: ssh listens on a loopback port and asks the server for a direct-tcpip
	// channel to the target for each connection it accepts there.
	target, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer target.Close()
	var reached atomic.Int32
	go func() {
		for {
			c, err := target.Accept()
			if err != nil {
				return
			}
			reached.Add(1)
			c.Close()
		}
	}()
	port := freePort(t)
	p := e.ssh(l, nil, []string{"-N", "-L", "127.0.0.1:" + port + ":" + target.Addr().String()})
	var conn net.Conn
	servertest.Eventually(t, "ssh listening for the local forward", func() bool {
		if p.exited() {
			t.Fatalf("ssh -L ended: %v", p.wait(t))
		}
		conn, err = net.Dial("tcp", "127.0.0.1:"+port)
		return err == nil
	})
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	if n, err := io.Copy(io.Discard, conn); err != nil || n != 0 {
		t.Errorf("the forwarded connection: %d bytes, %v; want closed at once", n, err)
	}
	conn.Close()
	servertest.Eventually(t, "the refused channel in the server log", func() bool {
		return strings.Contains(e.serverLog(), `msg="ssh channel refused"`) && strings.Contains(e.serverLog(), "type=direct-tcpip")
	})
	p.kill(t)
	if !strings.Contains(p.out.String(), "administratively prohibited") {
		t.Errorf("ssh -L did not report the refusal:\n%s", p.out.String())
	}
	if n := reached.Load(); n != 0 {
		t.Errorf("the forward's target was reached %d times", n)
	}
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer l.Close()
	_, port, err := net.SplitHostPort(l.Addr().String())
	must(t, err)
	return port
}

// TestRefusalsLogBounded: a client that sends many refused requests gets a few log lines, then a
// count when its connection ends, so that it cannot flood the server's log.
func TestRefusalsLogBounded(t *testing.T) {
	t.Parallel()
	e := start(t, servertest.Options{})
	u := e.user("alice", 0)
	conn, _ := e.dial(u) // its sftp session is one channel; the requests go on another
	ch, reqs, err := conn.OpenChannel("session", nil)
	must(t, err)
	go ssh.DiscardRequests(reqs)
	for i := range 20 {
		if ok, err := ch.SendRequest("env", true, ssh.Marshal(struct{ Name, Value string }{"N", "v"})); ok || err != nil {
			t.Fatalf("env request %d: %v, %v; want refused", i, ok, err)
		}
	}
	conn.Close()
	e.waitIdle(t)
	log := e.serverLog()
	if n := strings.Count(log, `msg="ssh request refused"`); n != 8 {
		t.Errorf("%d refused requests logged one by one, want 8", n)
	}
	if !strings.Contains(log, `msg="more channels and requests refused" remote=`) || !strings.Contains(log, "count=12") {
		t.Errorf("the server log does not count the other 12 refusals:\n%s", log)
	}
}

// TestLinesBeforeIdentification: a client must start with its SSH identification line, as
// OpenSSH's sshd requires; one that sends another line first (a PROXY header from an address
// that is not a trusted proxy) hears the server's identification and is disconnected, where a
// client that starts right gets the key exchange.
func TestLinesBeforeIdentification(t *testing.T) {
	t.Parallel()
	e := start(t, servertest.Options{})
	for _, tt := range []struct {
		name, send string
		kex        bool
	}{
		{"PROXY header first", "PROXY TCP4 192.0.2.7 127.0.0.1 51234 22\r\nSSH-2.0-test\r\n", false},
		{"identification first", "SSH-2.0-test\r\n", true},
	} {
		c, err := net.Dial("tcp", e.SFTPAddr)
		must(t, err)
		c.SetDeadline(time.Now().Add(20 * time.Second))
		_, err = io.WriteString(c, tt.send)
		must(t, err)
		r := bufio.NewReader(c)
		if line, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "SSH-2.0-") {
			t.Fatalf("%s: the server's identification: %q, %v", tt.name, line, err)
		}
		_, err = r.ReadByte() // the first byte of the key exchange, or the end of the connection
		if got := err == nil; got != tt.kex {
			t.Errorf("%s: key exchange %v (%v), want %v", tt.name, got, err, tt.kex)
		}
		c.Close()
	}
	servertest.Eventually(t, "the refusal in the server log", func() bool {
		return strings.Contains(e.serverLog(), "did not start with its SSH identification")
	})
}
