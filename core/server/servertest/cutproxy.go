package servertest

import (
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/myftp/myftp/lib/proto"
)

// Cut says where a CutProxy cuts: at the first request of operation Op (after one of operation
// After on the same connection, if After is set), on whichever connection sends it first.
type Cut struct {
	// Op is the operation of the request to cut at ("stat", "rm"...).
	Op string
	// After, if set, makes only a request that follows one of this operation count: "stat" after
	// "put" is the first command after an upload, not the upload's own look-up.
	After string
	// Answered lets the server receive the request, carry it out and answer it; the connection is
	// cut before the answer reaches the client, as when the server died right after doing it.
	// Without it, the connection is cut before the request reaches the server, as when the
	// server died between two commands. The operation must be one the client sends alone, not
	// pipelined: the next reply after it is its answer.
	Answered bool
	// Down is how many connections after the cut are closed at once, before any greeting, as by a
	// server that is down (-1: all of them).
	Down int
	// Busy is how many connections, the first ones, hear a 421 greeting ("server busy") and are
	// closed before the proxy forwards any, as from a node that turns them away.
	Busy int
}

// CutProxy forwards TCP connections on 127.0.0.1 to a plain myftp server (Options.Plain: frames
// can only be read without TLS), frame by frame, and cuts one connection where its Cut says: what
// a client sees when the server's machine dies at that point (an empty Cut.Op cuts none). Every
// other connection passes unchanged, but for those Cut.Busy and Cut.Down turn away.
type CutProxy struct {
	Addr string // where clients connect

	l      net.Listener
	target string
	cut    Cut
	done   chan struct{} // closed at the cut

	mu    sync.Mutex
	cuts  int // cuts still to make: 1, then 0
	down  int // connections still to close at once
	busy  int // connections still to turn away with 421
	conns []net.Conn
}

// StartCutProxy starts a CutProxy in front of the server at target until the test ends.
func StartCutProxy(t testing.TB, target string, cut Cut) *CutProxy {
	t.Helper()
	p, err := NewCutProxy(target, cut)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// NewCutProxy starts a CutProxy in front of the server at target; Close stops it.
func NewCutProxy(target string, cut Cut) (*CutProxy, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("cut proxy: %w", err)
	}
	p := &CutProxy{Addr: l.Addr().String(), l: l, target: target, cut: cut, done: make(chan struct{}), cuts: 1, busy: cut.Busy}
	go p.accept()
	return p, nil
}

// Done is closed once the proxy has cut its connection: a test checks with it that the cut came
// where it meant it to.
func (p *CutProxy) Done() <-chan struct{} { return p.done }

// Close stops the proxy and closes every connection through it.
func (p *CutProxy) Close() {
	p.l.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
}

func (p *CutProxy) accept() {
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		if p.turnAway() {
			busyGreeting(c)
			continue
		}
		if p.refuse() {
			c.Close()
			continue
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, s)
		p.mu.Unlock()
		cc := &cutConn{p: p, client: c, server: s}
		go cc.up()
		go cc.downstream()
	}
}

// refuse reports whether a new connection is to be closed at once: the server is down.
func (p *CutProxy) refuse() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cuts > 0 || p.down == 0 {
		return false
	}
	if p.down > 0 {
		p.down--
	}
	return true
}

// turnAway reports whether a new connection is to hear that the server is busy (Cut.Busy).
func (p *CutProxy) turnAway() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.busy == 0 {
		return false
	}
	p.busy--
	return true
}

// busyGreeting says to c what a busy server says, 421 at once, and closes it.
func busyGreeting(c net.Conn) {
	defer c.Close()
	c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	w := proto.NewWriter(c)
	if err := w.WriteJSON(proto.TypeReply, proto.Reply{Code: proto.CodeUnavailable, Msg: "server busy, try again later"}); err == nil {
		w.Flush()
	}
}

// matches reports whether req is where the proxy cuts, given whether the connection has sent a
// request of operation After, and if so uses the cut up.
func (p *CutProxy) matches(req proto.Request, after bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cuts == 0 || req.Op != p.cut.Op || !after {
		return false
	}
	p.cuts = 0
	return true
}

// fire ends cc, and starts the server's down time. Done is closed first: a client that sees its
// connection end may be gone, and the test asking Done, before close returns.
func (p *CutProxy) fire(cc *cutConn) {
	p.mu.Lock()
	p.down = p.cut.Down
	p.mu.Unlock()
	close(p.done)
	cc.close()
}

// cutConn is one connection through the proxy.
type cutConn struct {
	p              *CutProxy
	client, server net.Conn

	mu        sync.Mutex
	sawAfter  bool // a request of operation After went by
	dropReply bool // cut at the next reply, instead of forwarding it
}

func (cc *cutConn) close() {
	cc.client.Close()
	cc.server.Close()
}

// up forwards the client's frames to the server, and cuts at the request the proxy cuts at.
func (cc *cutConn) up() {
	defer cc.close()
	r, w := proto.NewReader(cc.client, 16<<20), proto.NewWriter(cc.server)
	buf := make([]byte, proto.MaxData)
	for {
		f, err := r.Next()
		if err != nil {
			return
		}
		if f.Type == proto.TypeRequest && cc.cutsAt(f.Payload) {
			cc.p.fire(cc)
			return
		}
		if err := forward(r, w, f, buf); err != nil {
			return
		}
	}
}

// cutsAt reports whether the request in payload is to be cut before the server gets it; for a
// cut once answered, it marks the connection to cut at the answer.
func (cc *cutConn) cutsAt(payload []byte) bool {
	req, err := proto.DecodeRequest(payload)
	if err != nil {
		return false // the server says what is wrong with it
	}
	cc.mu.Lock()
	defer cc.mu.Unlock()
	after := cc.p.cut.After == "" || cc.sawAfter
	cc.sawAfter = cc.sawAfter || req.Op == cc.p.cut.After
	if !cc.p.matches(req, after) {
		return false
	}
	if cc.p.cut.Answered {
		cc.dropReply = true
		return false
	}
	return true
}

// downstream forwards the server's frames to the client, and cuts at the answer the proxy cuts at.
func (cc *cutConn) downstream() {
	defer cc.close()
	r, w := proto.NewReader(cc.server, 16<<20), proto.NewWriter(cc.client)
	buf := make([]byte, proto.MaxData)
	for {
		f, err := r.Next()
		if err != nil {
			return
		}
		cc.mu.Lock()
		drop := cc.dropReply && f.Type == proto.TypeReply
		cc.mu.Unlock()
		if drop {
			cc.p.fire(cc)
			return
		}
		if err := forward(r, w, f, buf); err != nil {
			return
		}
	}
}

// forward writes frame f, read from r, to w.
func forward(r *proto.Reader, w *proto.Writer, f proto.Frame, buf []byte) error {
	payload := f.Payload
	if f.Type == proto.TypeData {
		payload = buf[:f.Len]
		if _, err := io.ReadFull(r, payload); err != nil {
			return err
		}
	}
	if err := w.WriteFrame(f.Type, payload); err != nil {
		return err
	}
	return w.Flush()
}
