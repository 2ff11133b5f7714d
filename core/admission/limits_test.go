package admission

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
)

// pipeFrom returns one end of a pipe whose RemoteAddr is addr.
func pipeFrom(t *testing.T, addr string) net.Conn {
	t.Helper()
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	return remoteConn{Conn: a, remote: net.TCPAddrFromAddrPort(netip.MustParseAddrPort(addr))}
}

type remoteConn struct {
	net.Conn
	remote net.Addr
}

func (c remoteConn) RemoteAddr() net.Addr { return c.remote }

// newTestServer returns a Server with cfg that never serves: its admit and Conn are tested alone.
func newTestServer(t *testing.T, cfg Config) *Server {
	t.Helper()
	if cfg.PoolSize == 0 {
		cfg.PoolSize = 1
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// admitFrom admits a pipe from addr and returns the Conn, or nil and the refusal.
func admitFrom(t *testing.T, s *Server, addr string) (*Conn, string) {
	t.Helper()
	return s.admit(pipeFrom(t, addr), nil, false)
}

func TestMaxPerAddress(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, Config{MaxPerAddress: 2})
	a1, why1 := admitFrom(t, s, "192.0.2.1:1000")
	a2, why2 := admitFrom(t, s, "192.0.2.1:1001")
	if a1 == nil || a2 == nil {
		t.Fatalf("the first two connections of an address were refused: %q, %q", why1, why2)
	}
	if c, why := admitFrom(t, s, "[::ffff:192.0.2.1]:1002"); c != nil || why != "too many connections from 192.0.2.1: the limit is 2" {
		t.Fatalf("a third connection (as an IPv4-mapped IPv6 address): %v, %q", c, why)
	}
	if c, why := admitFrom(t, s, "192.0.2.2:1000"); c == nil {
		t.Fatalf("another address was refused: %q", why)
	}
	if c, why := admitFrom(t, s, "[2001:db8::1]:1000"); c == nil {
		t.Fatalf("an IPv6 address was refused: %q", why)
	}
	a1.Close()
	a1.Close() // a second Close gives nothing back
	if c, _ := admitFrom(t, s, "192.0.2.1:1003"); c == nil {
		t.Fatal("no room after a connection closed")
	}
	if c, _ := admitFrom(t, s, "192.0.2.1:1004"); c != nil {
		t.Fatal("closing one connection twice made room for two")
	}
}

// TestIPv6PrefixIsOneSource: the addresses of one IPv6 /64 (by default) count as one source for
// the per-source limits, and the refusal names the prefix; another /64 is another source, and with
// a prefix of 128 each address counts alone.
func TestIPv6PrefixIsOneSource(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, Config{MaxPerAddress: 2, MaxStartupsPerAddress: 2})
	if c, why := admitFrom(t, s, "[2001:db8:0:1::1]:1"); c == nil {
		t.Fatal(why)
	}
	if c, why := admitFrom(t, s, "[2001:db8:0:1:ffff::2]:1"); c == nil {
		t.Fatal(why)
	}
	if c, why := admitFrom(t, s, "[2001:db8:0:1::3]:1"); c != nil || !strings.Contains(why, "from 2001:db8:0:1::/64") {
		t.Fatalf("a third address of the /64: %v, %q; want a refusal naming the /64", c, why)
	}
	if c, why := admitFrom(t, s, "[2001:db8:0:2::1]:1"); c == nil {
		t.Fatalf("another /64 was refused: %q", why)
	}
	each := newTestServer(t, Config{MaxPerAddress: 1, IPv6Prefix: 128})
	for _, a := range []string{"[2001:db8::1]:1", "[2001:db8::2]:1"} {
		if c, why := admitFrom(t, each, a); c == nil {
			t.Fatalf("with ipv6_prefix 128, %s was refused: %q", a, why)
		}
	}
}

// TestStartupLimits: connections that have not logged in are limited per address and in all; a
// login frees the place it held among them, and its account's sessions are limited.
func TestStartupLimits(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, Config{MaxStartups: 3, MaxStartupsPerAddress: 2, MaxSessionsPerAccount: 1})
	a1, _ := admitFrom(t, s, "192.0.2.1:1")
	a2, _ := admitFrom(t, s, "192.0.2.1:2")
	if a1 == nil || a2 == nil {
		t.Fatal("the first two startups of an address were refused")
	}
	if _, why := admitFrom(t, s, "192.0.2.1:3"); !strings.Contains(why, "192.0.2.1 that have not logged in: the limit is 2") {
		t.Fatalf("third startup of one address: %q", why)
	}
	b1, _ := admitFrom(t, s, "192.0.2.2:1")
	if b1 == nil {
		t.Fatal("another address was refused below the total")
	}
	if _, why := admitFrom(t, s, "192.0.2.3:1"); !strings.Contains(why, "server busy") {
		t.Fatalf("a fourth startup in all: %q, want server busy", why)
	}
	if st := s.Stats(); st.NotLoggedIn != 3 {
		t.Fatalf("stats %+v, want 3 not logged in", st)
	}

	if err := a1.Login("alice"); err != nil {
		t.Fatalf("login: %v", err)
	}
	if err := a1.Login("alice"); !errors.Is(err, ErrLoggedIn) {
		t.Fatalf("second login on one connection: %v", err)
	}
	if c, why := admitFrom(t, s, "192.0.2.1:4"); c == nil {
		t.Fatalf("a login made no room for a new startup from its address: %q", why)
	}
	err := a2.Login("alice")
	var le *SessionLimitError
	if !errors.As(err, &le) || !errors.Is(err, ErrTooManySessions) || le.Limit != 1 || le.Account != "alice" {
		t.Fatalf("a second session of one account: %v", err)
	}
	if err := a2.Login("bob"); err != nil {
		t.Fatalf("another account after a refused login: %v", err)
	}
	a1.Close()
	if err := b1.Login("alice"); err != nil {
		t.Fatalf("alice after her session closed: %v", err)
	}
	b1.Close()
	if err := b1.Login("carol"); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("login after close: %v", err)
	}
}

// TestLimitsForget: addresses and accounts that hold nothing are not remembered.
func TestLimitsForget(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, Config{MaxPerAddress: 1, MaxStartupsPerAddress: 1, MaxSessionsPerAccount: 1})
	for i := range 100 {
		c, why := admitFrom(t, s, netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}), 1).String())
		if c == nil {
			t.Fatalf("connection %d refused: %q", i, why)
		}
		if i%2 == 0 {
			if err := c.Login("u" + string(rune('a'+i%26))); err != nil {
				t.Fatal(err)
			}
		}
		c.Close()
	}
	if n, m, k := len(s.limits.addrs), len(s.limits.accounts), s.limits.startups; n != 0 || m != 0 || k != 0 {
		t.Fatalf("after every connection closed: %d addresses, %d accounts, %d startups remembered", n, m, k)
	}
}

func TestLimitsOff(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, Config{})
	for i := range 10 {
		c, why := admitFrom(t, s, "192.0.2.1:1000")
		if c == nil {
			t.Fatalf("connection %d refused with no limit set: %q", i, why)
		}
		if err := c.Login("alice"); err != nil {
			t.Fatalf("session %d refused with no limit set: %v", i, err)
		}
	}
}
