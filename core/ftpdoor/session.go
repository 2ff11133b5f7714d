package ftpdoor

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	ftpserver "github.com/fclairamb/ftpserverlib"

	"github.com/myftp/myftp/core/admission"
	"github.com/myftp/myftp/core/auth"
	"github.com/myftp/myftp/core/door"
	"github.com/myftp/myftp/lib/account"
	"github.com/myftp/myftp/lib/homefs"
	"github.com/myftp/myftp/lib/transfer"
)

// session is one control connection and the engine's driver for it (ftpserver.MainDriver).
type session struct {
	d         *Door
	ctx       context.Context
	conn      *admission.Conn
	ctl       *controlConn // conn as the engine gets it
	remote    string       // the client's IP address
	token     []byte       // marks the TLS session tickets of this control connection
	tlsConfig *tls.Config
	listener  *oneConnListener

	mu        sync.Mutex
	log       *slog.Logger
	cc        ftpserver.ClientContext
	acct      account.Account
	fs        *homefs.FS
	transfers int              // transfers running
	idle      *sync.Cond       // signalled when transfers drops to 0
	streams   map[*upload]bool // uploads open, aborted if the session ends first
	stopping  bool             // the server is shutting down
	lastReply bool             // stopping: close the connection once the reply being written is out
	allo      bool             // the last ALLO was refused: the next STOR fails
	working   int              // driver calls running (see controlConn.Read)
	workedAt  time.Time        // when the last one ended
	closed    bool             // ServeConn has returned
}

func newSession(ctx context.Context, d *Door, c *admission.Conn) *session {
	s := &session{d: d, ctx: ctx, conn: c, remote: c.Addr().String(), streams: map[*upload]bool{},
		log: d.cfg.Log.With("remote", c.RemoteAddr().String(), "door", "ftp")}
	s.ctl = &controlConn{Conn: c, s: s, write: d.controlWriteBound(), idle: d.controlIdleBound(), closed: make(chan struct{})}
	s.ctl.acks = newQuickAcker(c.NetConn(), &s.ctl.tls)
	if !c.Addr().IsValid() {
		s.remote = c.RemoteAddr().String()
	}
	s.idle = sync.NewCond(&s.mu)
	s.token = make([]byte, 16)
	rand.Read(s.token)
	if d.tls != nil {
		s.tlsConfig = s.newTLSConfig()
	}
	return s
}

// GetSettings gives the engine its settings, and the listener that yields this one connection.
func (s *session) GetSettings() (*ftpserver.Settings, error) {
	c := s.d.cfg
	st := &ftpserver.Settings{
		Listener:                s.listener,
		Banner:                  c.Name + " ready",
		PublicHost:              c.PublicHost,
		IdleTimeout:             s.d.controlIdle(),
		ConnectionTimeout:       int((c.AcceptTimeout + 999_999_999) / 1_000_000_000),
		DisableActiveMode:       !c.Active,
		ActiveTransferPortNon20: true, // the engine would bind port 20, which only root can
		EnableHASH:              true,
		DisableSite:             true,
		DefaultTransferType:     ftpserver.TransferTypeBinary,
		DisableASCIIConversion:  true,
		PasvConnectionsCheck:    ftpserver.IPMatchRequired,
		ActiveConnectionsCheck:  ftpserver.IPMatchRequired,
	}
	switch c.TLSMode {
	case TLSRequired:
		st.TLSRequired = ftpserver.MandatoryEncryption
	case TLSImplicit:
		st.TLSRequired = ftpserver.ImplicitEncryption
	}
	if p := c.PassivePorts; p[0] > 0 {
		st.PassiveTransferPortRange = ftpserver.PortRange{Start: p[0], End: p[1]}
	}
	return st, nil
}

// engineIdle is the engine's default idle bound on the control connection, in seconds.
const engineIdle = 900

// controlIdle is the engine's idle bound on the control connection, in seconds: IdleTimeout
// rounded up; zero lets the engine use engineIdle.
func (d *Door) controlIdle() int { return int((d.cfg.IdleTimeout + time.Second - 1) / time.Second) }

// controlIdleBound is the engine's idle bound on the control connection.
func (d *Door) controlIdleBound() time.Duration {
	if i := d.controlIdle(); i > 0 {
		return time.Duration(i) * time.Second
	}
	return engineIdle * time.Second
}

// controlWriteBound is how long a write of the control connection may wait for the client to
// take a reply: WriteTimeout, or else the control connection's idle bound.
func (d *Door) controlWriteBound() time.Duration {
	if d.cfg.WriteTimeout > 0 {
		return d.cfg.WriteTimeout
	}
	return d.controlIdleBound()
}

// ClientConnected greets the client.
func (s *session) ClientConnected(cc ftpserver.ClientContext) (string, error) {
	s.mu.Lock()
	s.cc = cc
	s.mu.Unlock()
	return s.d.cfg.Name + " ready", nil
}

// ClientDisconnected is called by the engine when the control connection ends; ServeConn does
// the cleaning up.
func (s *session) ClientDisconnected(ftpserver.ClientContext) {}

// QuitMessage is the reply to QUIT.
func (s *session) QuitMessage() string { return "goodbye" }

// AuthUser checks a login (USER and PASS) as the native door does: the same throttling per
// address, the same hashing cap, the account's session limit. The engine answers any error with
// 530 and its text (see PostAuthMessage), and closes the connection.
func (s *session) AuthUser(_ ftpserver.ClientContext, user, pass string) (ftpserver.ClientDriver, error) {
	acct, err := s.d.cfg.Auth.Login(s.ctx, user, pass, s.remote)
	var te *auth.ThrottledError
	switch {
	case err != nil && s.ctx.Err() != nil:
		return nil, loginError("server shutting down")
	case errors.As(err, &te):
		return nil, loginError(fmt.Sprintf("too many failed logins from %s, retry in %d s", te.Addr, te.RetryAfter/1e9))
	case errors.Is(err, account.ErrUnavailable):
		return nil, loginError("account database unavailable, try again later")
	case err != nil:
		return nil, loginError("login incorrect")
	}
	if err := s.conn.Login(acct.Name); err != nil {
		s.log.Info("login refused", "account", acct.Name, "err", err)
		var le *admission.SessionLimitError
		if errors.As(err, &le) {
			return nil, loginError(le.Error())
		}
		return nil, loginError("login timeout")
	}
	fs, err := s.d.cfg.OpenHome(acct)
	if err != nil {
		s.log.Error("open home", "account", acct.Name, "err", err)
		if msg, ok := door.TryAgain(err); ok { // the engine sends 530 whatever the cause
			return nil, loginError(msg)
		}
		return nil, loginError("local error on the server")
	}
	s.mu.Lock()
	s.acct, s.fs = acct, fs
	s.log = s.log.With("user", acct.Name)
	s.mu.Unlock()
	s.log.Info("login")
	return &files{s: s}, nil
}

// loginError is a refused login as the client reads it after "530 ".
type loginError string

func (e loginError) Error() string { return string(e) }

// PostAuthMessage is the text of the reply to PASS.
func (s *session) PostAuthMessage(_ ftpserver.ClientContext, user string, authErr error) string {
	if authErr != nil {
		return authErr.Error()
	}
	return "Account [" + s.acct.Name + "] login successful"
}

// GetTLSConfig gives the engine the TLS configuration for AUTH TLS and for protected data
// connections.
func (s *session) GetTLSConfig() (*tls.Config, error) {
	if s.tlsConfig == nil {
		return nil, errors.New("TLS is off on this server")
	}
	return s.tlsConfig, nil
}

// newTLSConfig returns the session's TLS configuration: the control connection's tickets carry
// the session's token, and a data connection (told apart by its wrapper) resumes only a ticket
// with that token; with RequireTLSReuse it must resume one.
func (s *session) newTLSConfig() *tls.Config {
	control := s.d.tls.Clone()
	control.WrapSession = func(cs tls.ConnectionState, ss *tls.SessionState) ([]byte, error) {
		ss.Extra = append(ss.Extra, s.token)
		return s.d.tls.EncryptTicket(cs, ss)
	}
	data := s.d.tls.Clone()
	// A data connection that resumed this session gets tickets that carry the token too: curl
	// (OpenSSL) keeps the newest ticket, the one its last data connection received, and resumes
	// that one on the next data connection.
	data.WrapSession = func(cs tls.ConnectionState, ss *tls.SessionState) ([]byte, error) {
		if cs.DidResume {
			ss.Extra = append(ss.Extra, s.token)
		}
		return s.d.tls.EncryptTicket(cs, ss)
	}
	data.UnwrapSession = func(identity []byte, cs tls.ConnectionState) (*tls.SessionState, error) {
		ss, err := s.d.tls.DecryptTicket(identity, cs)
		if err != nil || ss == nil || !hasToken(ss.Extra, s.token) {
			return nil, nil // not this control connection's session: a full handshake
		}
		return ss, nil
	}
	if s.d.cfg.RequireTLSReuse {
		data.VerifyConnection = func(cs tls.ConnectionState) error {
			if !cs.DidResume {
				s.log.Warn("data connection refused: it did not resume the control connection's TLS session")
				return errNoReuse
			}
			return nil
		}
	}
	cfg := s.d.tls.Clone()
	cfg.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		if dc, ok := hello.Conn.(*dataConn); ok {
			dc.protected.Store(true)
			return data, nil
		}
		if hello.Conn != net.Conn(s.ctl) {
			return data, nil // an active-mode data connection
		}
		s.ctl.tls.Store(true)
		return control, nil
	}
	return cfg
}

var errNoReuse = errors.New("ftpdoor: the data connection must resume the control connection's TLS session")

func hasToken(extra [][]byte, token []byte) bool {
	for _, e := range extra {
		if bytes.Equal(e, token) {
			return true
		}
	}
	return false
}

// WrapPassiveListener wraps the engine's passive listeners, so that their connections are told
// apart from the control connection, a connection from another address is never taken, and a TLS
// one cut without close_notify is seen as cut.
func (s *session) WrapPassiveListener(l net.Listener) (net.Listener, error) {
	c := s.d.cfg
	dl := &dataListener{Listener: l, client: s.conn.Addr(), strict: c.StrictTLSEOF, log: s.log, buffers: &s.d.buffers,
		idle: c.IdleTimeout, write: c.WriteTimeout}
	dl.bound.start(l, c.AcceptTimeout, func() {
		s.log.Info("passive data port closed: no connection came", "port", l.Addr().String(), "wait", c.AcceptTimeout)
	})
	return dl, nil
}

// dataListener yields passive data connections as *dataConn, only from the client's address.
// The engine checks the address too, but after it has taken the connection as the transfer's:
// it refuses that transfer with 425 and keeps the connection for the next RETR or STOR on the
// same port, which then runs over it. Here a connection from elsewhere is closed unread and the
// listener goes on waiting (until the deadline the engine set) for the client's own.
type dataListener struct {
	net.Listener
	client  netip.Addr // the control connection's address; invalid: the engine's check only
	strict  bool
	log     *slog.Logger
	buffers *transfer.BufferPool
	idle    time.Duration // bound on each read of a data connection (idleConn)
	write   time.Duration // bound on each write
	bound   acceptBound   // closes the listener if nobody connects in time
}

func (l *dataListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if from := remoteAddr(c); l.client.IsValid() && from != l.client {
			l.log.Warn("data connection from another address refused", "from", c.RemoteAddr().String())
			c.Close()
			continue
		}
		l.bound.accepted.Store(true)
		dc := &dataConn{strict: l.strict}
		ic := &idleConn{Conn: newAckConn(c, &dc.protected), idle: l.idle, write: l.write}
		dc.BufferedConn = transfer.NewBufferedConn(ic, l.buffers)
		dc.AutoFlush()
		return dc, nil
	}
}

// Close closes the listener, and disarms its accept bound.
func (l *dataListener) Close() error {
	l.bound.stop()
	return l.Listener.Close()
}

// remoteAddr is the IP address a connection comes from, IPv4-mapped addresses as IPv4, as
// admission counts them.
func remoteAddr(c net.Conn) netip.Addr {
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}

// dataConn is a passive data connection, buffered (TLS writes and reads about one 16 KiB record
// per system call otherwise: see transfer.BufferedConn). Once protected, its reads are
// acknowledged at once (ackConn). With strict set, once TLS runs on it (protected), the
// end of the TCP stream is reported to TLS as errCut rather than io.EOF. TLS reads the stream
// only up to the end of the records it needs, so a client's close_notify is seen before the TCP
// end and ends the transfer as a clean io.EOF; a client killed mid-upload, whose kernel closes
// the stream with a plain FIN, reaches the TCP end first, and the upload fails instead of being
// taken as complete (Go's TLS reports an end at a record boundary as io.EOF either way).
type dataConn struct {
	*transfer.BufferedConn
	strict    bool
	protected atomic.Bool
}

// errCut is what a protected data connection reads when its TCP stream ends without TLS's
// close_notify.
var errCut = errors.New("ftpdoor: the data connection ended without TLS close_notify")

func (c *dataConn) Read(p []byte) (int, error) {
	n, err := c.BufferedConn.Read(p)
	if err == io.EOF && c.strict && c.protected.Load() {
		err = errCut
	}
	return n, err
}

// allowed reports whether the session's account may go on (door.Services.Recheck): it ends a
// session whose account was deleted, disabled, or made anew under the same name, and applies a
// changed quota. When the account database does not answer, the command is refused with "try
// again later" and the session stays.
func (s *session) allowed() error {
	s.mu.Lock()
	acct, fs := s.acct, s.fs
	s.mu.Unlock()
	now, err := s.d.cfg.Recheck(acct, fs)
	switch {
	case errors.Is(err, door.ErrAccountGone):
		s.log.Info("account no longer allowed; closing the session", "err", err)
		s.conn.Close()
		return errAccountGone
	case err != nil:
		s.log.Warn("account not verified; command refused", "err", err)
		return replyErr(s, err)
	}
	s.mu.Lock()
	s.acct = now
	s.mu.Unlock()
	return nil
}

var errAccountGone = errors.New("account disabled or deleted; closing the session")

// beginTransfer counts a transfer as running; false when the session is ending.
func (s *session) beginTransfer() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping || s.closed {
		s.closeAfterReply()
		return false
	}
	s.transfers++
	return true
}

// endTransfer counts a transfer as done. When the last one of a stopping session ends, the
// session is closed: after the reply the engine is about to send (replyPending: the result of
// the transfer, which the client waits for), or at once if it has sent it already.
func (s *session) endTransfer(replyPending bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.transfers--
	if s.transfers > 0 {
		return
	}
	s.idle.Broadcast()
	if s.stopping && replyPending {
		s.closeAfterReply()
	} else if s.stopping {
		s.conn.Close()
	}
}

// closeAfterReply has the control connection closed right after its next write, the reply to
// the command being served, if the session is stopping and no transfer runs. s.mu is held.
func (s *session) closeAfterReply() {
	if s.stopping && s.transfers == 0 {
		s.lastReply = true
	}
}

// stopped refuses a command that comes after the shutdown began; the session is closed once
// the refusal is out.
func (s *session) stopped() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.stopping {
		return nil
	}
	s.closeAfterReply()
	return errShuttingDown
}

var errShuttingDown = errors.New("server shutting down")

// shutdown ends the session for a server shutdown: at once if idle, else once its transfer
// and the reply to it are done.
func (s *session) shutdown() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopping = true
	if s.transfers == 0 {
		s.conn.Close()
	}
}

// controlConn is the control connection as the engine sees it (under TLS, if any): once the
// session is stopping and the reply to its last command has been written, it closes. Closing it
// is the last thing the engine does with a session (closed tells ServeConn), and what the engine
// writes after the door has closed the connection is dropped, as is the error of closing it
// again, so that ending a session on purpose does not read as a failure in the log.
//
// Its deadlines are split: the engine (ftpserverlib v0.32.3, client_handler.go readCommand and
// handleCommandsStreamError) bounds its wait for the next command with SetDeadline, which would
// bound writes too; but a transfer's goroutine writes its replies (150, 226, 425, 550...) on its
// own schedule, and one that came after that deadline had passed, before the engine's reader
// moved it (it extends it while a transfer is open, but only once it has woken, and after the
// transfer's lock), was refused. Under TLS, that write had already taken a record's sequence
// number: the reply was lost and the next record (the 421, the close_notify) failed the
// client's check ("tls: bad record MAC"). So SetDeadline bounds reads only, and each write has a
// deadline of its own, write from its start (write_timeout), or the one set with
// SetWriteDeadline (TLS's close_notify) if that comes first. Once TLS runs on it, its reads are
// acknowledged at once (quickAcker).
type controlConn struct {
	*admission.Conn
	s      *session
	write  time.Duration // bound on each write
	idle   time.Duration // the engine's idle bound
	tls    atomic.Bool   // TLS runs on the connection (AUTH TLS, or implicit): its reads are acknowledged at once
	acks   quickAcker
	once   sync.Once
	closed chan struct{}

	mu      sync.Mutex
	writeBy time.Time // set with SetWriteDeadline; zero: none
}

// Read reads the control connection, but does not end at the engine's idle deadline while the
// door is working on a command, or within the idle bound of its end: the idle bound counts the
// client's silence, not the door's work. The engine runs a transfer command (RETR, STOR, APPE,
// LIST, NLST, MLSD) on a goroutine of its own and guards it from its idle timeout only once its
// data connection is open (isTransferOpen); before that, while the door opens the file or lists
// the directory (which can take long: a slow account database, a store that does not answer),
// its reader would write "421 command timeout" and close the session, without a lock, while the
// transfer's goroutine writes the command's own reply (150, 425, 550) through the same buffered
// writer.
func (c *controlConn) Read(p []byte) (int, error) {
	for {
		c.acks.beforeRead()
		n, err := c.Conn.Read(p)
		if n > 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
			return n, err
		}
		by, busy := c.s.busyUntil(c.idle)
		if !busy {
			return n, err
		}
		c.Conn.SetReadDeadline(by)
	}
}

// SetDeadline sets the read deadline only (see controlConn).
func (c *controlConn) SetDeadline(t time.Time) error { return c.Conn.SetReadDeadline(t) }

// SetWriteDeadline bounds the writes from now on, as well as their own bound.
func (c *controlConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	c.writeBy = t
	c.mu.Unlock()
	return c.Conn.SetWriteDeadline(t)
}

func (c *controlConn) Write(p []byte) (int, error) {
	select {
	case <-c.Conn.Done():
		return len(p), nil
	default:
	}
	by := time.Now().Add(c.write)
	c.mu.Lock()
	if !c.writeBy.IsZero() && c.writeBy.Before(by) {
		by = c.writeBy
	}
	c.mu.Unlock()
	c.Conn.SetWriteDeadline(by)
	n, err := c.Conn.Write(p)
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lastReply {
		s.lastReply = false
		c.Conn.Close()
	}
	return n, err
}

func (c *controlConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { close(c.closed) })
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// work marks a driver call running, until the returned func is called (see controlConn.Read).
func (s *session) work() (done func()) {
	s.mu.Lock()
	s.working++
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		s.working--
		s.workedAt = time.Now()
		s.mu.Unlock()
	}
}

// busyUntil reports whether the control connection is not idle yet for the bound idle, because a
// driver call runs or the last one ended less than idle ago, and until when it is not.
func (s *session) busyUntil(idle time.Duration) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if s.working > 0 {
		return now.Add(idle), true
	}
	by := s.workedAt.Add(idle)
	return by, by.After(now)
}

// waitTransfers waits for the transfers still running after the control connection ended.
func (s *session) waitTransfers() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.transfers > 0 {
		s.idle.Wait()
	}
}

// close releases what the session holds, once its transfers are over.
func (s *session) close() {
	s.conn.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for u := range s.streams {
		u.stream.Abort()
	}
	if s.fs != nil {
		s.fs.Close()
	}
}
