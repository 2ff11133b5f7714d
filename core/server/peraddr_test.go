package server

import (
	"net"
	"net/netip"
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

func TestAddrLimit(t *testing.T) {
	l := newAddrLimit(2)
	admit := func(addr string) (net.Conn, bool) {
		c, _, ok := l.admit(pipeFrom(t, addr))
		return c, ok
	}
	a1, ok1 := admit("192.0.2.1:1000")
	a2, ok2 := admit("192.0.2.1:1001")
	if !ok1 || !ok2 {
		t.Fatal("the first two connections of an address were refused")
	}
	if _, ok := admit("[::ffff:192.0.2.1]:1002"); ok {
		t.Fatal("a third connection (as an IPv4-mapped IPv6 address) was let in")
	}
	if _, ok := admit("192.0.2.2:1000"); !ok {
		t.Fatal("another address was refused")
	}
	if _, ok := admit("[2001:db8::1]:1000"); !ok {
		t.Fatal("an IPv6 address was refused")
	}

	a1.Close()
	a1.Close() // a second Close gives nothing back
	if _, ok := admit("192.0.2.1:1003"); !ok {
		t.Fatal("no room after a connection closed")
	}
	if _, ok := admit("192.0.2.1:1004"); ok {
		t.Fatal("closing one connection twice made room for two")
	}
	a2.Close()
	if n := l.n[netip.MustParseAddr("192.0.2.1")]; n != 1 {
		t.Fatalf("192.0.2.1 holds %d connections, want 1", n)
	}
}

func TestAddrLimitForgets(t *testing.T) {
	l := newAddrLimit(1)
	for i := range 100 {
		c, _, ok := l.admit(pipeFrom(t, netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}), 1).String()))
		if !ok {
			t.Fatalf("connection %d refused", i)
		}
		c.Close()
	}
	if len(l.n) != 0 {
		t.Fatalf("%d addresses remembered after every connection closed, want none", len(l.n))
	}
}

func TestAddrLimitOff(t *testing.T) {
	l := newAddrLimit(0)
	for range 10 {
		c, _, ok := l.admit(pipeFrom(t, "192.0.2.1:1000"))
		if !ok {
			t.Fatal("a connection was refused with no limit set")
		}
		if _, counted := c.(*countedConn); counted {
			t.Fatal("a connection was counted with no limit set")
		}
	}
}
