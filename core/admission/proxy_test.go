package admission_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/myftp/myftp/core/admission"
	"github.com/myftp/myftp/lib/proxyproto"
)

// trustLoopback is a policy that trusts 127.0.0.1 as a proxy, whose headers have a minute.
func trustLoopback(cfg admission.Config) admission.Config {
	cfg.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	if cfg.ProxyHeaderTimeout == 0 {
		cfg.ProxyHeaderTimeout = time.Minute
	}
	return cfg
}

// dialFrom connects from the loopback address from (127.0.0.1 is the trusted proxy's).
func dialFrom(t *testing.T, addr, from string) *lineClient {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(20 * time.Second))
	return &lineClient{Conn: c, r: bufio.NewReader(c)}
}

// proxied connects as the trusted proxy and sends a header for client (version 1 or 2) and then
// the line, in one write.
func proxied(t *testing.T, addr string, version int, client, line string) *lineClient {
	t.Helper()
	h := proxyproto.Header{Version: version, Command: proxyproto.Proxy, Source: netip.MustParseAddrPort(client),
		Dest: netip.MustParseAddrPort("192.0.2.1:2121")}
	if h.Source.Addr().Is6() {
		h.Dest = netip.MustParseAddrPort("[2001:db8::1]:2121")
	}
	c := dialFrom(t, addr, "127.0.0.1")
	if _, err := c.Write(append(h.Append(nil), line...)); err != nil {
		t.Fatal(err)
	}
	return c
}

// logBuffer collects an event log for the test to read.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuffer) logger() *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }

// TestProxyHeaderNamesClient: after a trusted proxy's header, of either version, the door sees
// the client's address, and reads what followed the header in the same packet; a header without
// addresses (v2 LOCAL, as health checks send, and v1 UNKNOWN) leaves the proxy's own.
func TestProxyHeaderNamesClient(t *testing.T) {
	t.Parallel()
	_, addr := start(t, trustLoopback(admission.Config{PoolSize: 16}), lineDoor{})
	for _, tt := range []struct {
		version int
		client  string
		want    string
	}{
		{1, "192.0.2.7:51234", "192.0.2.7:51234 192.0.2.7"},
		{1, "[2001:db8::7]:51234", "[2001:db8::7]:51234 2001:db8::7"},
		{2, "192.0.2.7:51234", "192.0.2.7:51234 192.0.2.7"},
		{2, "[2001:db8::7]:51234", "[2001:db8::7]:51234 2001:db8::7"},
		{2, "[::ffff:192.0.2.9]:51234", "192.0.2.9:51234 192.0.2.9"},
	} {
		c := proxied(t, addr, tt.version, tt.client, "addr\n")
		c.expect(t, "hello")
		c.expect(t, tt.want)
	}
	for _, h := range []proxyproto.Header{{Version: 2, Command: proxyproto.Local}, {Version: 1, Command: proxyproto.Proxy}} {
		c := dialFrom(t, addr, "127.0.0.1")
		if _, err := c.Write(h.Append(nil)); err != nil {
			t.Fatal(err)
		}
		c.expect(t, "hello")
		fmt.Fprintln(c, "addr")
		c.expect(t, c.LocalAddr().String()+" 127.0.0.1")
	}
}

// TestProxyLimitsCountClient: the per-address limits count the clients behind the proxy, each by
// its own address (an IPv6 one by its /64), not the proxy.
func TestProxyLimitsCountClient(t *testing.T) {
	t.Parallel()
	_, addr := start(t, trustLoopback(admission.Config{PoolSize: 8, MaxPerAddress: 1}), lineDoor{})
	for _, tt := range []struct{ first, again, other, name string }{
		{"192.0.2.7:1000", "192.0.2.7:1001", "192.0.2.8:1000", "192.0.2.7"},
		{"[2001:db8::7]:1000", "[2001:db8::8]:1000", "[2001:db8:0:1::7]:1000", "2001:db8::/64"},
	} {
		first := proxied(t, addr, 2, tt.first, "")
		first.expect(t, "hello")
		again := proxied(t, addr, 1, tt.again, "")
		again.expect(t, "refused: too many connections from "+tt.name+": the limit is 1")
		other := proxied(t, addr, 2, tt.other, "")
		other.expect(t, "hello")
	}
}

// TestProxyHeaderFromStranger: a PROXY header from an address that is not a trusted proxy is no
// header: the door gets it as the client's first line (and refuses it in its own protocol), and
// the connection stays the stranger's.
func TestProxyHeaderFromStranger(t *testing.T) {
	t.Parallel()
	_, addr := start(t, trustLoopback(admission.Config{PoolSize: 4}), lineDoor{})
	h := proxyproto.Header{Version: 1, Command: proxyproto.Proxy, Source: netip.MustParseAddrPort("192.0.2.7:51234"),
		Dest: netip.MustParseAddrPort("192.0.2.1:2121")}
	c := dialFrom(t, addr, "127.0.0.2")
	if _, err := c.Write(append(h.Append(nil), "addr\n"...)); err != nil {
		t.Fatal(err)
	}
	c.expect(t, "hello")
	c.expect(t, `unknown "PROXY TCP4 192.0.2.7 192.0.2.1 51234 2121"`)
	c.expect(t, c.LocalAddr().String()+" 127.0.0.2")
}

// TestProxyWithoutHeader: a trusted proxy's connection that starts with anything but a valid
// header is closed before its door hears of it, with a line in the event log, and no longer
// counts.
func TestProxyWithoutHeader(t *testing.T) {
	t.Parallel()
	var log logBuffer
	s, addr := start(t, trustLoopback(admission.Config{PoolSize: 4, Log: log.logger()}), lineDoor{})
	for _, first := range []string{"addr\n", "PROXY TCP4 192.0.2.7\r\n", "PROXY TCP4 192.0.2.7 192.0.2.1 51234 99999\r\n",
		"\r\n\r\n\x00\r\nQUIT\n\x31\x11\x00\x00"} {
		c := dialFrom(t, addr, "127.0.0.1")
		if _, err := c.Write([]byte(first)); err != nil {
			t.Fatal(err)
		}
		c.expect(t, "EOF")
	}
	if n := strings.Count(log.String(), "no valid PROXY header"); n != 4 {
		t.Errorf("%d log lines about a missing header, want 4; the log:\n%s", n, log.String())
	}
	waitStats(t, s, "nothing counted", func(st admission.Stats) bool { return st.NotLoggedIn == 0 })
}

// TestProxySlowHeader: a trusted proxy's connection that sends nothing does not hold up the
// accept loop (the next connection is served meanwhile), counts among those not logged in, so
// that MaxStartups holds, and is closed once ProxyHeaderTimeout has passed.
func TestProxySlowHeader(t *testing.T) {
	t.Parallel()
	s, addr := start(t, trustLoopback(admission.Config{PoolSize: 4, MaxStartups: 2}), lineDoor{})
	slow := dialFrom(t, addr, "127.0.0.1")
	waitStats(t, s, "the silent connection counted", func(st admission.Stats) bool { return st.NotLoggedIn == 1 })
	next := proxied(t, addr, 1, "192.0.2.7:51234", "addr\n")
	next.expect(t, "hello")
	next.expect(t, "192.0.2.7:51234 192.0.2.7")
	over := dialFrom(t, addr, "127.0.0.1")
	over.expect(t, "refused: server busy: too many connections are logging in, try again later")

	var log logBuffer
	_, short := start(t, trustLoopback(admission.Config{PoolSize: 4, ProxyHeaderTimeout: 100 * time.Millisecond, Log: log.logger()}), lineDoor{})
	silent := dialFrom(t, short, "127.0.0.1")
	silent.expect(t, "EOF")
	if !strings.Contains(log.String(), "no valid PROXY header") || !strings.Contains(log.String(), "timeout") {
		t.Errorf("no log line about the header's timeout:\n%s", log.String())
	}
	slow.Close()
}

// TestProxyShutdownEndsHeaderRead: Shutdown does not wait for the header of a connection that
// sends nothing: it closes it and returns at once.
func TestProxyShutdownEndsHeaderRead(t *testing.T) {
	t.Parallel()
	s, addr := start(t, trustLoopback(admission.Config{PoolSize: 4}), lineDoor{})
	silent := dialFrom(t, addr, "127.0.0.1")
	waitStats(t, s, "the silent connection counted", func(st admission.Stats) bool { return st.NotLoggedIn == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v, with a header being read", err)
	}
	silent.expect(t, "EOF")
}

func TestNewRefusesProxiesWithoutTimeout(t *testing.T) {
	t.Parallel()
	cfg := admission.Config{PoolSize: 1, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
	if _, err := admission.New(cfg); err == nil {
		t.Error("New accepted trusted proxies without a header timeout")
	}
}
