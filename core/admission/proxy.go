package admission

import (
	"bufio"
	"bytes"
	"errors"
	"net"
	"net/netip"
	"time"

	"github.com/myftp/myftp/lib/proxyproto"
)

// maxHeaderReads bounds the trusted proxies' connections whose header is being read at once,
// whatever MaxStartups says; beyond it, a new one is turned away at once.
const maxHeaderReads = 1024

// trusted reports whether conn comes from one of the trusted proxies.
func (s *Server) trusted(conn net.Conn) bool {
	if len(s.cfg.TrustedProxies) == 0 {
		return false
	}
	addr := remoteIP(conn)
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// acceptProxied takes a connection from a trusted proxy: it counts it among the connections not
// logged in (no address yet: the header has it) and reads its PROXY header on a goroutine of its
// own, within ProxyHeaderTimeout, so that the accept loop never waits for a header. It never
// blocks.
func (s *Server) acceptProxied(raw net.Conn, door Door) {
	if why := s.limits.hold(); why != "" {
		s.cfg.Log.Info("connection refused", "proxy", raw.RemoteAddr().String(), "reason", why)
		s.refuse(raw, door, why)
		return
	}
	// The deadline is set before the connection is listed, so that Close's one comes after it.
	raw.SetReadDeadline(time.Now().Add(s.cfg.ProxyHeaderTimeout))
	if why := s.trackHeader(raw); why != "" {
		s.limits.release(netip.Prefix{}, "", false)
		s.cfg.Log.Info("connection refused", "proxy", raw.RemoteAddr().String(), "reason", why)
		s.refuse(raw, door, why)
		return
	}
	go s.readHeader(raw, door)
}

// trackHeader lists raw among the connections whose header is read, or says why it cannot be.
// A listed connection counts in s.wg until readHeader is done with it.
func (s *Server) trackHeader(raw net.Conn) (refusal string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closing.Load():
		return msgShuttingDown
	case len(s.headers) >= maxHeaderReads:
		return msgBusy
	}
	s.headers[raw] = struct{}{}
	s.wg.Add(1)
	return ""
}

// readHeader reads the PROXY header of raw and admits it as the client's connection, or closes
// it, saying why in the event log.
func (s *Server) readHeader(raw net.Conn, door Door) {
	defer s.wg.Done()
	br := bufio.NewReaderSize(raw, 512)
	h, err := proxyproto.Read(br)
	s.mu.Lock()
	delete(s.headers, raw)
	s.mu.Unlock()
	if err != nil {
		s.limits.release(netip.Prefix{}, "", false)
		s.cfg.Log.Warn("connection from a trusted proxy closed: no valid PROXY header", "proxy", raw.RemoteAddr().String(), "err", err)
		raw.Close()
		return
	}
	raw.SetReadDeadline(time.Time{})
	c := newProxiedConn(raw, br, h)
	s.cfg.Log.Debug("PROXY header", "proxy", raw.RemoteAddr().String(), "remote", c.RemoteAddr().String(),
		"version", h.Version, "local", h.Command == proxyproto.Local)
	s.enqueue(c, door, true)
}

// proxiedConn is a trusted proxy's connection after its PROXY header: its first reads return
// what was read past the header, and its RemoteAddr is the client's that the header names.
// LocalAddr stays the address the proxy connected to (this node's own, not the balancer's).
type proxiedConn struct {
	net.Conn
	pending []byte
	remote  net.Addr
}

func newProxiedConn(raw net.Conn, br *bufio.Reader, h proxyproto.Header) *proxiedConn {
	c := &proxiedConn{Conn: raw, remote: raw.RemoteAddr()}
	if h.HasAddrs() {
		c.remote = net.TCPAddrFromAddrPort(netip.AddrPortFrom(h.Source.Addr().Unmap(), h.Source.Port()))
	}
	if n := br.Buffered(); n > 0 {
		b, _ := br.Peek(n)
		c.pending = bytes.Clone(b)
	}
	return c
}

// Read returns what was read past the header first, then reads the connection.
func (c *proxiedConn) Read(p []byte) (int, error) {
	if len(c.pending) == 0 {
		return c.Conn.Read(p)
	}
	n := copy(p, c.pending)
	c.pending = c.pending[n:]
	return n, nil
}

// RemoteAddr is the client's address, as the PROXY header says.
func (c *proxiedConn) RemoteAddr() net.Addr { return c.remote }

// CloseWrite closes the sending side of the connection, if it can (see Server.linger).
func (c *proxiedConn) CloseWrite() error {
	if hc, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return hc.CloseWrite()
	}
	return errors.ErrUnsupported
}
