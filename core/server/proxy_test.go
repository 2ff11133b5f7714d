package server_test

// proxy is a TCP proxy between the Go client and a server, to break or corrupt what the client
// would send or receive intact.

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"

	"github.com/myftp/myftp/lib/proto"
)

// proxy forwards TCP connections to a server. It can drop every connection at once, as when the
// client's machine dies, hold a download midway, and (plain sessions only) flip one bit in a data
// frame.
type proxy struct {
	l      net.Listener
	target string
	opt    proxyOptions

	mu      sync.Mutex
	conns   []net.Conn
	flipped []int64 // offsets in the data stream of the corrupted bytes
	dropped chan struct{}
	wg      sync.WaitGroup
}

type proxyOptions struct {
	// flipUp and flipDown are the 1-based index of the data frame, per connection, whose middle
	// byte is corrupted on its way to the server (up) or to the client (down); 0 for none.
	flipUp, flipDown int
	// holdDown, if not 0, is how many bytes go to the client before the proxy stops reading
	// from the server (with a small receive buffer), until the connection is dropped: the
	// server cannot finish sending a large file.
	holdDown int64
}

func startProxy(t testing.TB, target string, opt proxyOptions) *proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{l: l, target: target, opt: opt, dropped: make(chan struct{})}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		l.Close()
		p.drop()
		p.wg.Wait()
	})
	return p
}

func (p *proxy) Addr() string { return p.l.Addr().String() }

func (p *proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		if p.opt.holdDown > 0 {
			s.(*net.TCPConn).SetReadBuffer(64 << 10)
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, s)
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(s, c, p.opt.flipUp, 0)
		go p.pipe(c, s, p.opt.flipDown, p.opt.holdDown)
	}
}

// pipe copies src to dst until either fails, then closes both.
func (p *proxy) pipe(dst, src net.Conn, flip int, hold int64) {
	defer p.wg.Done()
	switch {
	case flip > 0:
		p.copyFrames(dst, src, flip)
	case hold > 0:
		if _, err := io.CopyN(dst, src, hold); err == nil {
			<-p.dropped
		}
	default:
		io.Copy(dst, src)
	}
	dst.Close()
	src.Close()
}

// copyFrames forwards whole frames, flipping a bit in the middle of the flip-th data frame.
func (p *proxy) copyFrames(dst io.Writer, src io.Reader, flip int) error {
	var hdr [proto.FrameHeaderLen]byte
	buf := make([]byte, proto.MaxData)
	var frames int
	var offset int64
	for {
		if _, err := io.ReadFull(src, hdr[:]); err != nil {
			return err
		}
		n := binary.BigEndian.Uint32(hdr[1:])
		if n > proto.MaxData {
			return fmt.Errorf("proxy: frame of %d bytes", n)
		}
		payload := buf[:n]
		if _, err := io.ReadFull(src, payload); err != nil {
			return err
		}
		if proto.FrameType(hdr[0]) == proto.TypeData {
			if frames++; frames == flip && n > 0 {
				payload[n/2] ^= 0x10
				p.mu.Lock()
				p.flipped = append(p.flipped, offset+int64(n/2))
				p.mu.Unlock()
			}
			offset += int64(n)
		}
		if _, err := dst.Write(append(hdr[:], payload...)); err != nil {
			return err
		}
	}
}

// drop closes every connection at once, without a goodbye.
func (p *proxy) drop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.dropped:
	default:
		close(p.dropped)
	}
	for _, c := range p.conns {
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetLinger(0) // a reset, as from a machine that went away
		}
		c.Close()
	}
	p.conns = nil
}

func (p *proxy) flips() []int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]int64(nil), p.flipped...)
}
