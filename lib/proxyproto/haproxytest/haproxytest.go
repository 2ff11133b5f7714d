// Package haproxytest starts a real HAProxy (Debian's haproxy package) for tests: a load
// balancer in TCP mode on loopback ports, in front of servers the test runs, sending them the
// PROXY protocol header (or not) as HAProxy does in production. A test that needs it is skipped,
// naming the package, when haproxy is not installed, unless MYFTP_REQUIRE_HAPROXY=1 (as .ci/run
// sets), when it fails. It is for tests only.
package haproxytest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// EnvRequire makes a missing haproxy a failure rather than a skip.
const EnvRequire = "MYFTP_REQUIRE_HAPROXY"

// Route is one frontend of the balancer and the server it relays to.
type Route struct {
	// Bind is the loopback address the frontend listens on, on a free port; "" is 127.0.0.1.
	Bind string
	// Server is the HOST:PORT HAProxy relays the connections to.
	Server string
	// Nodes, used instead of Server, are several servers that take the connections in turn.
	// HAProxy leaves out a node whose health check fails (GET /healthz on its Health address, as
	// the README's configuration does) and sends a connection that a node refuses to another.
	Nodes []Node
	// SendProxy is how HAProxy tells the server whom a connection is from: "send-proxy" (the
	// PROXY protocol, version 1), "send-proxy-v2", or "" (nothing: the server sees HAProxy).
	SendProxy string
	// Source is the address HAProxy connects to the server from; "" lets the system choose
	// (127.0.0.1 on loopback).
	Source string
}

// Node is one server of a balanced route.
type Node struct {
	Addr   string // HOST:PORT of the door
	Health string // HOST:PORT of its metrics endpoint, which serves /healthz
}

// HAProxy is a running haproxy.
type HAProxy struct {
	// Addrs are the frontends' HOST:PORT, one for each Route, in their order.
	Addrs  []string
	cmd    *exec.Cmd
	out    *syncBuffer
	exited chan struct{} // closed once haproxy has exited and been waited for
}

// Need returns the path of haproxy, or skips (fails, under MYFTP_REQUIRE_HAPROXY=1) the test
// when it is not installed.
func Need(t testing.TB) string {
	t.Helper()
	for _, p := range []string{"haproxy", "/usr/sbin/haproxy"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	msg := "haproxy not found: install it (apt-get install -y haproxy) to run this test; .ci/run does"
	if os.Getenv(EnvRequire) == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// Start runs haproxy with a frontend on a free port for each route, and returns once it accepts
// connections; it is killed (by its PID) when the test ends.
func Start(t testing.TB, routes ...Route) *HAProxy {
	t.Helper()
	bin := Need(t)
	ready := freePort(t, "")
	h := &HAProxy{out: &syncBuffer{}, exited: make(chan struct{})}
	for _, r := range routes {
		h.Addrs = append(h.Addrs, freePort(t, r.Bind))
	}
	cfg := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(cfg, []byte(config(ready, h.Addrs, routes)), 0o600); err != nil {
		t.Fatal(err)
	}
	h.cmd = exec.Command(bin, "-db", "-f", cfg) // -db: in the foreground, for its PID
	h.cmd.Stdout, h.cmd.Stderr = h.out, h.out
	if err := h.cmd.Start(); err != nil {
		t.Fatalf("start haproxy: %v", err)
	}
	go func() {
		h.cmd.Wait()
		close(h.exited)
	}()
	t.Cleanup(h.stop)
	h.waitReady(t, ready)
	return h
}

// config is haproxy's configuration: a frontend "ready" that accepts and drops connections
// (HAProxy binds every frontend before it serves any, so the first that accepts says they all
// do), and one frontend and backend per route, in TCP mode.
func config(ready string, addrs []string, routes []Route) string {
	var b strings.Builder
	b.WriteString("global\n\tmaxconn 1000\n\n" +
		"defaults\n\tmode tcp\n\ttimeout connect 5s\n\ttimeout client 2m\n\ttimeout server 2m\n\n" +
		"frontend ready\n\tbind " + ready + "\n\ttcp-request connection reject\n")
	for i, r := range routes {
		fmt.Fprintf(&b, "\nfrontend f%d\n\tbind %s\n\tdefault_backend b%d\n", i, addrs[i], i)
		fmt.Fprintf(&b, "\nbackend b%d\n", i)
		if len(r.Nodes) == 0 {
			fmt.Fprintf(&b, "\tserver s%d %s%s\n", i, r.Server, r.options())
			continue
		}
		b.WriteString("\tbalance roundrobin\n\toption redispatch\n\tretries 3\n\toption httpchk GET /healthz\n")
		for j, n := range r.Nodes {
			host, port, _ := net.SplitHostPort(n.Health)
			fmt.Fprintf(&b, "\tserver s%d_%d %s%s check addr %s port %s inter 200ms fall 1 rise 1\n", i, j, n.Addr, r.options(), host, port)
		}
	}
	return b.String()
}

// options are the words that follow a server of the route in the configuration.
func (r Route) options() string {
	var s string
	if r.SendProxy != "" {
		s += " " + r.SendProxy
	}
	if r.Source != "" {
		s += " source " + r.Source
	}
	return s
}

// waitReady waits, at most 20 s, for the ready frontend to accept a connection.
func (h *HAProxy) waitReady(t testing.TB, ready string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", ready, time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-h.exited: // a haproxy that refuses its configuration exits at once
			t.Fatalf("haproxy exited:\n%s", h.out)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("haproxy does not listen on %s after 20 s: %v\n%s", ready, err, h.out)
		}
		time.Sleep(20 * time.Millisecond) // polling a bounded wait for a process to listen
	}
}

// stop kills haproxy and waits for it.
func (h *HAProxy) stop() {
	h.cmd.Process.Kill()
	<-h.exited
}

// Output is what haproxy wrote (warnings, alerts).
func (h *HAProxy) Output() string { return h.out.String() }

// freePort returns HOST:PORT on host (127.0.0.1 if "") with a port that was free a moment ago.
func freePort(t testing.TB, host string) string {
	t.Helper()
	if host == "" {
		host = "127.0.0.1"
	}
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// syncBuffer is a bytes.Buffer safe for haproxy's output and the test.
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
