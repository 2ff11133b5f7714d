package admission

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"time"
)

// Conn is an admitted connection, as a door gets it. It counts toward the limits until its first
// Close: as a connection that has not logged in until Login, then as a session of its account.
type Conn struct {
	net.Conn // the accepted connection
	srv      *Server
	addr     netip.Addr
	src      netip.Prefix // what the per-source limits count it as
	door     Door
	done     chan struct{} // closed by the first Close

	mu       sync.Mutex
	state    connState
	account  string
	deadline time.Time
	timer    *time.Timer // closes a connection that has not logged in by its deadline
}

type connState int

const (
	stateStartup connState = iota // not logged in
	stateSession                  // logged in
	stateClosed
)

// loginGrace is how long after the login deadline admission closes a connection that its door
// did not end: the door gets that long to say why.
const loginGrace = time.Second

// ErrLoggedIn is returned by a second Login on one connection.
var ErrLoggedIn = errors.New("admission: already logged in")

// Addr is the remote IP address the limits count the connection under (IPv4-mapped addresses as
// IPv4): the client's that the PROXY header names, for a connection from a trusted proxy, as
// RemoteAddr is; the zero Addr for a connection without one.
func (c *Conn) Addr() netip.Addr { return c.addr }

// NetConn returns the connection admission accepted, for a door that needs the concrete type
// (after a PROXY header, a wrapper that reads on past it and names the client). Closing it
// directly keeps the connection counted: close c instead.
func (c *Conn) NetConn() net.Conn { return c.Conn }

// LoginDeadline is when the connection must have logged in; zero if there is no login timeout.
func (c *Conn) LoginDeadline() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.deadline
}

// Done is closed when the connection is closed.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Login records that the connection logged in as account: it stops counting as a startup and
// counts as one of the account's sessions. It fails with a *SessionLimitError (errors.Is
// ErrTooManySessions) when the account holds MaxSessionsPerAccount sessions already, with
// net.ErrClosed after Close (the login deadline may have closed it), and with ErrLoggedIn the
// second time.
func (c *Conn) Login(account string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch c.state {
	case stateClosed:
		return net.ErrClosed
	case stateSession:
		return ErrLoggedIn
	}
	if err := c.srv.limits.login(c.src, account); err != nil {
		return err
	}
	c.state, c.account = stateSession, account
	if c.timer != nil {
		c.timer.Stop()
	}
	return nil
}

// CheckLogin reports whether Login(account) would be allowed now, without counting anything: for
// a door that must answer before the login is final (an SSH client asking whether a key would
// do). Login may still refuse if sessions start meanwhile.
func (c *Conn) CheckLogin(account string) error { return c.srv.limits.check(account) }

// Close closes the connection and, the first time, gives its place back.
func (c *Conn) Close() error {
	err := c.Conn.Close()
	c.release()
	return err
}

// Linger ends the connection like Close, but gently, for a client that may still be sending (a
// door ends a session while an upload streams in): the sending half is closed at once, so that
// the client reads everything said before it, and what the client still sends is read and dropped
// in the background for up to a second before the connection closes. Closed with unread data, a
// connection is reset by the kernel, and the client may lose the last reply. The place in the
// limits is given back at once; at most 64 connections linger at a time (beyond, they close).
func (c *Conn) Linger() {
	c.release()
	c.srv.linger(c.Conn)
}

// release gives the connection's place back, the first time; the connection itself is left as
// it is.
func (c *Conn) release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == stateClosed {
		return
	}
	c.srv.limits.release(c.src, c.account, c.state == stateSession)
	c.state = stateClosed
	if c.timer != nil {
		c.timer.Stop()
	}
	close(c.done)
}

// startLoginClock sets the login deadline d from now and arms the timer that enforces it.
func (c *Conn) startLoginClock(d time.Duration) {
	if d <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != stateStartup {
		return
	}
	c.deadline = time.Now().Add(d)
	c.timer = time.AfterFunc(d+loginGrace, func() {
		c.mu.Lock()
		late := c.state == stateStartup
		c.mu.Unlock()
		if late {
			c.srv.cfg.Log.Info("login timeout: connection closed", "remote", c.RemoteAddr().String())
			c.Close()
		}
	})
}
