package server

import (
	"net"
	"net/netip"
	"sync"
)

// addrLimit counts the connections each remote IP address holds (queued or in a session) and
// refuses more than limit. A limit of zero or less means no limit. Addresses that hold none are forgotten, so
// the map is as large as the number of addresses connected now.
type addrLimit struct {
	limit int
	mu    sync.Mutex
	n     map[netip.Addr]int
}

func newAddrLimit(limit int) *addrLimit {
	return &addrLimit{limit: limit, n: map[netip.Addr]int{}}
}

// admit counts conn against its remote address. It returns conn wrapped so that its first Close
// gives the count back, or ok false (and conn itself) when the address already holds max
// connections. Connections without an IP address are not limited.
func (l *addrLimit) admit(conn net.Conn) (c net.Conn, addr netip.Addr, ok bool) {
	addr = remoteIP(conn)
	if l.limit <= 0 || !addr.IsValid() {
		return conn, addr, true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n[addr] >= l.limit {
		return conn, addr, false
	}
	l.n[addr]++
	return &countedConn{Conn: conn, release: func() { l.release(addr) }}, addr, true
}

func (l *addrLimit) release(addr netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n[addr] <= 1 {
		delete(l.n, addr)
		return
	}
	l.n[addr]--
}

// remoteIP returns the IP address of conn's peer (an IPv4-mapped IPv6 address as IPv4), or the
// zero Addr if it has none.
func remoteIP(conn net.Conn) netip.Addr {
	if a, ok := conn.RemoteAddr().(*net.TCPAddr); ok {
		return a.AddrPort().Addr().Unmap()
	}
	ap, err := netip.ParseAddrPort(conn.RemoteAddr().String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// countedConn is a connection that gives its address's count back when it is first closed,
// whichever path closes it: a refusal from the queue, the end of a session, or shutdown.
type countedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *countedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
