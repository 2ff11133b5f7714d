package ftpdoor

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// The engine keeps a session open as long as one of its transfers runs: while a data connection
// is open it extends the control connection's idle deadline instead of closing it, and it puts no
// deadline of its own on the data connection. A client that opens an upload and sends nothing, or
// a download and reads nothing, would hold its session, and a worker of the pool, for ever. So
// every read and write of a passive data connection has a deadline of its own (idleConn), as
// vsftpd's data_connection_timeout: no byte received for Config.IdleTimeout, or none taken by the
// client for Config.WriteTimeout, ends the transfer as a cut one (an upload stays unfinished, to
// resume); then the control connection, idle too, ends the session. A passive port that nobody
// connects to within Config.AcceptTimeout is closed (vsftpd's accept_timeout).

// idleConn is a data connection whose reads wait at most idle for a byte and whose writes wait at
// most write for the client to take one; zero means no such bound. Deadlines the door's own code
// sets (drainRefused's, BufferedConn.Close's) hold too: a read or write waits until the earlier of
// the two.
type idleConn struct {
	net.Conn
	idle, write time.Duration

	mu              sync.Mutex
	readBy, writeBy time.Time  // set with SetDeadline, SetReadDeadline, SetWriteDeadline; zero: none
	stalled         *IdleError // a write waited c.write in vain: later ones (TLS's close_notify, the
	// flush before closing) fail at once rather than wait for the same client again
}

// IdleError is what a read or write of a data connection returns when it ended the transfer for
// waiting too long: a net.Error whose Timeout is true, wrapping os.ErrDeadlineExceeded. The
// engine shows its text to the client after "Issue during transfer:".
type IdleError struct {
	Write bool          // the client did not read; false: it did not send
	Limit time.Duration // the idle_timeout or write_timeout that passed
}

func (e *IdleError) Error() string {
	what := "nothing received"
	if e.Write {
		what = "nothing read by the client"
	}
	return fmt.Sprintf("transfer aborted: %s for %v on the data connection", what, e.Limit)
}

// Timeout is true: the deadline of the data connection passed.
func (e *IdleError) Timeout() bool { return true }

// Temporary is true, as for any timeout.
func (e *IdleError) Temporary() bool { return true }

// Unwrap returns os.ErrDeadlineExceeded.
func (e *IdleError) Unwrap() error { return os.ErrDeadlineExceeded }

func (c *idleConn) Read(p []byte) (int, error) {
	by, idle := c.deadline(&c.readBy, c.idle)
	c.Conn.SetReadDeadline(by)
	n, err := c.Conn.Read(p)
	if idle && errors.Is(err, os.ErrDeadlineExceeded) {
		err = &IdleError{Limit: c.idle}
	}
	return n, err
}

// Write writes p, waiting at most c.write for each byte rather than for the whole of p: a client
// that reads slowly, but reads, is not cut.
func (c *idleConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	stalled := c.stalled
	c.mu.Unlock()
	if stalled != nil {
		return 0, stalled
	}
	written := 0
	for {
		by, idle := c.deadline(&c.writeBy, c.write)
		c.Conn.SetWriteDeadline(by)
		n, err := c.Conn.Write(p[written:])
		written += n
		switch {
		case !idle || !errors.Is(err, os.ErrDeadlineExceeded):
			return written, err
		case n == 0:
			c.mu.Lock()
			c.stalled = &IdleError{Write: true, Limit: c.write}
			c.mu.Unlock()
			return written, c.stalled
		}
	}
}

// deadline returns the deadline for the next read or write: now+d, or the one set on purpose if
// it comes first; idle tells whether now+d is the one.
func (c *idleConn) deadline(set *time.Time, d time.Duration) (by time.Time, idle bool) {
	c.mu.Lock()
	by = *set
	c.mu.Unlock()
	if d <= 0 {
		return by, false
	}
	if t := time.Now().Add(d); by.IsZero() || t.Before(by) {
		return t, true
	}
	return by, false
}

func (c *idleConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	c.readBy, c.writeBy = t, t
	c.mu.Unlock()
	return c.Conn.SetDeadline(t)
}

func (c *idleConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.readBy = t
	c.mu.Unlock()
	return c.Conn.SetReadDeadline(t)
}

func (c *idleConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	c.writeBy = t
	c.mu.Unlock()
	return c.Conn.SetWriteDeadline(t)
}

// acceptBound closes a passive listener that has yielded no connection within wait of its
// opening (PASV, EPSV): the engine waits for the data connection only once a transfer command
// came, and until then would keep the port open as long as the session.
type acceptBound struct {
	accepted atomic.Bool
	timer    *time.Timer
}

// start arms the bound on l; zero wait means none.
func (b *acceptBound) start(l net.Listener, wait time.Duration, log func()) {
	if wait <= 0 {
		return
	}
	b.timer = time.AfterFunc(wait, func() {
		if !b.accepted.Load() {
			log()
			l.Close()
		}
	})
}

// stop disarms the bound.
func (b *acceptBound) stop() {
	if b.timer != nil {
		b.timer.Stop()
	}
}
