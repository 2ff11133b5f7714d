package server_test

// Hostile clients, how slowly they send: half a frame and then silence, a request or a data frame
// one byte at a time (slowloris), replies never read, nothing at all, half a TLS handshake. The
// server's timeouts must end each on time. TestHostileClients (hostile_e2e_test.go) runs each of
// these attacks.

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/myftp/myftp/core/server/servertest"
	"github.com/myftp/myftp/lib/proto"
)

// relTruncatedFrame sends part of a frame, then nothing: the read deadline ends the session with a
// 421, before and after login; a header cut short likewise.
func relTruncatedFrame(t *testing.T, e *servertest.Env, p *relProbe) {
	mark := p.mark()
	for _, login := range []bool{false, true} {
		for _, cut := range []int{3, proto.FrameHeaderLen + 10} {
			c := relMallory(t, e, login)
			start := c.last
			frame := append([]byte{byte(proto.TypeRequest), 0, 0, 0, 100}, `{"op":"pwd","path":"`...)
			c.write(frame[:cut])
			limit, msg := relIdle, "idle timeout"
			if !login {
				limit, msg = relPreLogin, "login timeout"
			}
			replies, took := c.closedWithin(start, limit+relMargin)
			relWantGoodbye(t, replies, proto.CodeUnavailable, msg)
			relTookAtLeast(t, took, limit)
			t.Logf("%d bytes of a frame (login %v): 421 %s after %v", cut, login, msg, took)
		}
	}
	p.servedDuring(t, mark)
}

// relSlowSend writes the first bytes of b at once, then the rest one byte every gap, until it is
// all sent, the server stops taking it, or stop closes. It returns the count sent.
func relSlowSend(c *rawConn, b []byte, first int, gap time.Duration, stop <-chan struct{}) <-chan int {
	sent := make(chan int, 1)
	go func() {
		n := 0
		defer func() { sent <- n }()
		if c.write(b[:first]) != nil {
			return
		}
		for n = first; n < len(b); n++ {
			select {
			case <-stop:
				return
			case <-time.After(gap):
			}
			if c.write(b[n:n+1]) != nil {
				return
			}
		}
	}()
	return sent
}

// relSlowRequest sends a request one byte every quarter of the idle timeout, from its first byte
// or after its header: each byte comes well within the idle timeout, but the frame as a whole does
// not, and the session is closed at the frame's deadline, before and after login.
func relSlowRequest(t *testing.T, e *servertest.Env, p *relProbe) {
	mark := p.mark()
	for _, login := range []bool{false, true} {
		for _, first := range []int{1, proto.FrameHeaderLen} {
			c := relMallory(t, e, login)
			limit, msg := relPreLogin, "login timeout"
			req := proto.Request{Op: proto.OpLogin, User: "mallory", Password: "mallory-pw"}
			if login {
				limit, msg = relIdle, "idle timeout"
				req = proto.Request{Op: proto.OpList, Path: strings.Repeat("x", 100)}
			}
			var buf strings.Builder
			pw := proto.NewWriter(&buf)
			pw.WriteJSON(proto.TypeRequest, req)
			pw.Flush()
			stop := make(chan struct{})
			start := c.last
			sent := relSlowSend(c, []byte(buf.String()), first, relIdle/4, stop)
			replies, took := c.closedWithin(start, limit+relMargin)
			close(stop)
			n := <-sent
			relWantGoodbye(t, replies, proto.CodeUnavailable, msg)
			relTookAtLeast(t, took, limit)
			if n >= buf.Len() {
				t.Errorf("the whole %d-byte request was sent before the close", n)
			}
			t.Logf("slowloris (login %v, from byte %d): %d of %d bytes sent, 421 %s after %v", login, first, n, buf.Len(), msg, took)
		}
	}
	p.servedDuring(t, mark)
}

// relSlowData opens an upload and sends a data frame whose header comes at once and whose payload
// trickles in: the session ends at the frame's deadline with a 421, not later. What arrived is
// kept for a resume, which starts at a byte the client sent and proves it with the prefix md5.
func relSlowData(t *testing.T, e *servertest.Env, p *relProbe) {
	mark := p.mark()
	c := rawLogin(t, e.Addr, "slow", "slow-pw")
	put := proto.Request{Op: proto.OpPut, Path: "slow.bin", Size: 1000, Mtime: past, Resume: true}
	c.request(put)
	c.expect(proto.CodeSendData, "send data")
	c.frame(proto.TypeData, make([]byte, 100))
	c.expect(proto.CodeOK, "")
	start := c.last
	stop := make(chan struct{})
	frame := append([]byte{byte(proto.TypeData), 0, 0, 0, 200}, make([]byte, 200)...)
	sent := relSlowSend(c, frame, proto.FrameHeaderLen+1, relIdle/4, stop)
	replies, took := c.closedWithin(start, relIdle+relMargin)
	close(stop)
	n := <-sent
	relWantGoodbye(t, replies, proto.CodeUnavailable, "idle timeout")
	relTookAtLeast(t, took, relIdle)
	t.Logf("slow data frame: %d of %d bytes sent, 421 idle timeout after %v", n, len(frame), took)

	again := rawLogin(t, e.Addr, "slow", "slow-pw")
	again.request(put)
	rep := again.expect(proto.CodeSendData, "resuming")
	if got := int64(n - proto.FrameHeaderLen); rep.Offset < 100 || rep.Offset > 100+got {
		t.Errorf("resume after the slow frame at byte %d, want 100 to %d", rep.Offset, 100+got)
	}
	if rep.PrefixMD5 != md5hex(make([]byte, rep.Offset)) {
		t.Errorf("prefix md5 %s of the kept %d bytes, want that of the zeros sent", rep.PrefixMD5, rep.Offset)
	}
	p.servedDuring(t, mark)
}

// relSlowStrayData sends a data frame that belongs to no upload, before and after login, and
// trickles its payload: the session ends at the frame's deadline with a 421 (not a 451 "local
// error", not later).
func relSlowStrayData(t *testing.T, e *servertest.Env, p *relProbe) {
	mark := p.mark()
	for _, login := range []bool{false, true} {
		c := relMallory(t, e, login)
		limit, msg := relPreLogin, "login timeout"
		if login {
			limit, msg = relIdle, "idle timeout"
		}
		start := c.last
		stop := make(chan struct{})
		frame := append([]byte{byte(proto.TypeData), 0, 0, 0, 200}, make([]byte, 200)...)
		sent := relSlowSend(c, frame, proto.FrameHeaderLen+1, relIdle/4, stop)
		replies, took := c.closedWithin(start, limit+relMargin)
		close(stop)
		n := <-sent
		relWantGoodbye(t, replies, proto.CodeUnavailable, msg)
		relTookAtLeast(t, took, limit)
		t.Logf("slow data frame without an upload (login %v): %d of %d bytes sent, 421 %s after %v", login, n, len(frame), msg, took)
	}
	p.servedDuring(t, mark)
}

// relNeverReads asks for a file again and again and never reads the replies. Once the data fills
// the sockets' buffers, the server's write times out (write timeout: relIdle) and it closes the
// connection, instead of holding a worker for as long as the client likes.
func relNeverReads(t *testing.T, e *servertest.Env, p *relProbe) {
	mark := p.mark()
	c := rawLogin(t, e.Addr, "reader", "reader-pw")
	relRawPut(t, c, "big.bin", randomData(512<<10, 3), past)
	var buf strings.Builder
	pw := proto.NewWriter(&buf)
	pw.WriteJSON(proto.TypeRequest, proto.Request{Op: proto.OpGet, Path: "big.bin"})
	pw.Flush()
	get := []byte(buf.String())
	start := time.Now()
	if err := c.write(bytes.Repeat(get, 64)); err != nil { // 32 MiB asked for: more than any buffer
		t.Fatal(err)
	}
	// Go on asking, a little at a time, until a write fails because the server closed.
	const limit = 10 * time.Second
	c.raw.SetWriteDeadline(start.Add(limit))
	var err error
	var sent int
	for sent = 64; err == nil && time.Since(start) < limit; sent++ {
		select {
		case <-time.After(relIdle / 8):
		case <-t.Context().Done():
			return
		}
		err = c.write(get)
	}
	took := time.Since(start)
	if !relClosedErr(err) {
		t.Fatalf("asking without reading: %v after %v and %d requests; want the server to close", err, took, sent)
	}
	t.Logf("a client that never reads: closed after %v and %d requests", took, sent)
	p.servedDuring(t, mark)
}

// relNeverSpeaks connects and sends nothing. A plain server says 421 login timeout when the first
// frame's deadline passes; a TLS server waits for the handshake until the login timeout and closes.
func relNeverSpeaks(t *testing.T, e *servertest.Env, p *relProbe) {
	mark := p.mark()
	c := dialRaw(t, e.Addr)
	if c.greeting.TLS {
		replies, took := c.closedWithin(c.dialed, relLogin+relMargin)
		if len(replies) != 0 {
			t.Fatalf("replies %+v in place of a TLS handshake", replies)
		}
		relTookAtLeast(t, took, relLogin)
		t.Logf("TLS handshake never started: closed after %v", took)
	} else {
		replies, took := c.closedWithin(c.dialed, relPreLogin+relMargin)
		relWantGoodbye(t, replies, proto.CodeUnavailable, "login timeout")
		relTookAtLeast(t, took, relPreLogin)
		t.Logf("silent connection: 421 login timeout after %v", took)
	}
	p.servedDuring(t, mark)
}

// relCutHandshake sends the start of a TLS handshake and then nothing: the login timeout bounds
// the handshake.
func relCutHandshake(t *testing.T, e *servertest.Env, p *relProbe, part []byte) {
	mark := p.mark()
	c := dialRaw(t, e.Addr)
	if err := c.write(part); err != nil {
		t.Fatal(err)
	}
	_, took := c.closedWithin(c.dialed, relLogin+relMargin)
	relTookAtLeast(t, took, relLogin)
	t.Logf("%d bytes of a TLS handshake, then silence: closed after %v", len(part), took)
	p.servedDuring(t, mark)
}
