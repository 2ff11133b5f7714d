package s3test

import (
	"context"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/myftp/myftp/lib/storage/s3"
)

// BlackHole is a TCP proxy on loopback in front of a store that a test can tell to stop
// forwarding: while it swallows, connections stay open, new ones are accepted, and every byte
// that comes in either way is read and dropped, as by a hung node or a network that loses every
// packet. Nothing is refused and nothing is closed: only a deadline of the client's own ends a
// request that went into it.
type BlackHole struct {
	Addr string // HOST:PORT on loopback

	target   string
	l        net.Listener
	swallows atomic.Bool
	wg       sync.WaitGroup

	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

// NewBlackHole starts a proxy to target (HOST:PORT on loopback), forwarding; it is closed, with
// every connection through it, when the test ends.
func NewBlackHole(t testing.TB, target string) *BlackHole {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &BlackHole{Addr: l.Addr().String(), target: target, l: l, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

// Endpoint is the proxy's URL, to use as a backend's endpoint.
func (p *BlackHole) Endpoint() string { return "http://" + p.Addr }

// Swallow makes the proxy drop every byte from now on (true) or forward again (false).
// Bytes dropped are lost: a connection that lost some is of no more use to HTTP, but one that
// stood idle meanwhile goes on working.
func (p *BlackHole) Swallow(on bool) { p.swallows.Store(on) }

func (p *BlackHole) accept() {
	defer p.wg.Done()
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetWriteBuffer(64 << 10) // little of what it forwards waits in the kernel: see SmallBuffers
		}
		if !p.track(c, up) {
			return
		}
		p.wg.Add(2)
		go p.pipe(up, c)
		go p.pipe(c, up)
	}
}

// track records the two connections of a proxied one, for close; false once it is closed.
func (p *BlackHole) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns == nil {
		for _, c := range cs {
			c.Close()
		}
		return false
	}
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
	return true
}

// pipe copies src to dst, or drops what src sends while the proxy swallows, until either end
// closes; then it closes both.
func (p *BlackHole) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !p.swallows.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *BlackHole) close() {
	p.l.Close()
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
	}
	p.conns = nil
	p.mu.Unlock()
	p.wg.Wait()
}

// SmallBuffers is a transport whose connections have small receive buffers, so that what the
// store sent before a black hole opened is soon read up and a download meets the hole, instead
// of reading on from megabytes the kernel holds.
func SmallBuffers() http.RoundTripper {
	d := &net.Dialer{Timeout: 10 * time.Second}
	return &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := d.DialContext(ctx, network, addr)
			if tc, ok := c.(*net.TCPConn); ok {
				tc.SetReadBuffer(64 << 10)
			}
			return c, err
		},
		DisableCompression: true,
	}
}

// BucketBehindHole is Bucket reached through a black hole (forwarding until told otherwise), with
// deadlines of a second for requests and for stalled transfers: the options of a backend whose
// store a test can make go silent.
func BucketBehindHole(t testing.TB) (s3.Options, *BlackHole) {
	t.Helper()
	opts := Bucket(t)
	hole := NewBlackHole(t, strings.TrimPrefix(opts.Endpoint, "http://"))
	opts.Endpoint = hole.Endpoint()
	opts.RequestTimeout, opts.StallTimeout = time.Second, time.Second
	return opts, hole
}
