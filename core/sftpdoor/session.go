package sftpdoor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/myftp/myftp/core/admission"
	"github.com/myftp/myftp/core/auth"
	"github.com/myftp/myftp/core/door"
	"github.com/myftp/myftp/lib/account"
	"github.com/myftp/myftp/lib/checksum"
	"github.com/myftp/myftp/lib/homefs"
)

// session is one SSH connection.
type session struct {
	d      *Door
	ctx    context.Context
	conn   *admission.Conn
	net    *deadlineConn
	remote string // the client's IP address
	sconn  *ssh.ServerConn
	// checked is when the account was last looked up (Unix nanoseconds).
	checked atomic.Int64

	mu       sync.Mutex
	log      *slog.Logger
	acct     account.Account
	fs       *homefs.FS
	uploads  map[*upload]bool     // open uploads, for setstat on their path and cleanup
	open     int                  // files open for transfer
	stopping bool                 // the server is shutting down
	refusals int                  // channels and requests refused
	chans    map[*packetConn]bool // the sftp channels being served
}

func newSession(ctx context.Context, d *Door, c *admission.Conn) *session {
	s := &session{d: d, ctx: ctx, conn: c, remote: c.Addr().String(), uploads: map[*upload]bool{}, chans: map[*packetConn]bool{},
		log: d.cfg.Log.With("remote", c.RemoteAddr().String(), "door", "sftp")}
	if !c.Addr().IsValid() {
		s.remote = c.RemoteAddr().String()
	}
	s.net = &deadlineConn{Conn: c, idle: d.cfg.IdleTimeout, write: d.cfg.WriteTimeout, login: c.LoginDeadline()}
	return s
}

// password checks a password login as the native door does: the same throttling per address and
// hashing cap. A throttled attempt, and a login over the account's session limit, are told why
// in an SSH banner; other failures are only refused, whatever their cause.
func (s *session) password(meta ssh.ConnMetadata, pw []byte) (*ssh.Permissions, error) {
	acct, err := s.d.cfg.Auth.Login(s.ctx, meta.User(), string(pw), s.remote)
	var te *auth.ThrottledError
	if errors.As(err, &te) {
		return nil, &ssh.BannerError{Err: err,
			Message: fmt.Sprintf("too many failed logins from %s, retry in %d s\n", te.Addr, te.RetryAfter/time.Second)}
	}
	if errors.Is(err, account.ErrUnavailable) {
		return nil, &ssh.BannerError{Err: err, Message: "account database unavailable, try again later\n"}
	}
	if err != nil {
		return nil, err
	}
	return s.allow(acct, "password")
}

// publicKey accepts one of the account's SSH keys. A client may ask about several keys before it
// signs with one, so nothing is counted here; a refused key is logged, a few per address.
func (s *session) publicKey(meta ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
	acct, err := s.d.cfg.Auth.Check(meta.User())
	if err != nil || !acct.HasKey(key) {
		s.log.Debug("public key refused", "account", meta.User(), "key", ssh.FingerprintSHA256(key))
		return nil, errKeyRefused
	}
	return s.allow(acct, "publickey")
}

var errKeyRefused = errors.New("sftpdoor: key not accepted")

// allow lets acct in by method unless it holds its session limit already.
func (s *session) allow(acct account.Account, method string) (*ssh.Permissions, error) {
	if err := s.conn.CheckLogin(acct.Name); err != nil {
		return nil, &ssh.BannerError{Err: err, Message: err.Error() + "\n"}
	}
	return &ssh.Permissions{Extensions: map[string]string{permAccount: acct.Name, "method": method}}, nil
}

// start counts the logged-in session and opens its home.
func (s *session) start(name string) error {
	acct, err := s.d.cfg.Auth.Check(name)
	if err != nil {
		return err
	}
	if err := s.conn.Login(acct.Name); err != nil {
		return err
	}
	s.net.loggedIn()
	fs, err := s.d.cfg.OpenHome(acct)
	if err != nil {
		return err
	}
	// SFTP clients ask for no checksum (FTP clients ask HASH for SHA-256, which the FTP door
	// records): the SFTP door records BLAKE3, what myftp's own clients verify downloads with,
	// and a third of SHA-256's CPU per byte received.
	if err := fs.SetStreamChecksum(checksum.BLAKE3); err != nil {
		fs.Close()
		return err
	}
	s.mu.Lock()
	s.acct, s.fs = acct, fs
	s.log = s.log.With("user", acct.Name)
	s.mu.Unlock()
	s.log.Info("login", "method", s.sconn.Permissions.Extensions["method"])
	return nil
}

// allowed reports whether the session's account may go on (door.Services.Recheck): it ends a
// session whose account was deleted, disabled, or made anew under the same name, and applies a
// changed quota. When the account database does not answer, the request is refused with "try
// again later" and the session stays.
func (s *session) allowed() error {
	s.checked.Store(time.Now().UnixNano())
	s.mu.Lock()
	acct, fs := s.acct, s.fs
	s.mu.Unlock()
	now, err := s.d.cfg.Recheck(acct, fs)
	switch {
	case errors.Is(err, door.ErrAccountGone):
		s.log.Info("account no longer allowed; closing the session", "err", err)
		s.endAfterReply()
		return errAccountGone
	case err != nil:
		s.log.Warn("account not verified; request refused", "err", err)
		return err
	}
	s.mu.Lock()
	s.acct = now
	s.mu.Unlock()
	return nil
}

var errAccountGone = errors.New("account disabled or deleted; closing the session")

// recheckEvery is how often reads and writes on open files look the account up again, as the
// native door does during an upload: a transfer is many requests, and a long one must not
// outlive its account.
const recheckEvery = 200 * time.Millisecond

// stillAllowed is allowed for the reads and writes of a transfer, at most every recheckEvery.
func (s *session) stillAllowed() error {
	last := s.checked.Load()
	if time.Now().UnixNano()-last < int64(recheckEvery) || !s.checked.CompareAndSwap(last, time.Now().UnixNano()) {
		return nil
	}
	return s.allowed()
}

// opened counts a file opened for transfer; false when the session is ending.
func (s *session) opened() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping {
		return false
	}
	s.open++
	return true
}

// closed counts a file closed; the last one of a stopping session ends it, once the reply to
// the close has gone out (the client must learn that its file was stored).
func (s *session) closed() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.open--
	if s.open == 0 && s.stopping {
		s.endWhenAnswered()
	}
}

// shutdown ends the session for a server shutdown: once the requests under way are answered,
// unless a file is open.
func (s *session) shutdown() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopping = true
	if s.open == 0 {
		s.endWhenAnswered()
	}
}

// endAfterReply ends the session once the requests under way, the one being served among them,
// are answered.
func (s *session) endAfterReply() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.endWhenAnswered()
}

// endWhenAnswered closes the connection once the requests received so far are answered: at
// once if they are. s.mu is held.
func (s *session) endWhenAnswered() {
	pending := false
	for pc := range s.chans {
		if pc.endWhenAnswered() {
			pending = true
		}
	}
	if !pending {
		s.sconn.Close()
	}
}

// track adds or removes an sftp channel of the session.
func (s *session) track(pc *packetConn, add bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if add {
		s.chans[pc] = true
	} else {
		delete(s.chans, pc)
	}
}

// close releases what the session holds: uploads the client left open keep what arrived.
func (s *session) close() {
	if s.sconn != nil {
		s.sconn.Close()
	}
	s.conn.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refusals > maxRefusalLogs {
		s.log.Info("more channels and requests refused", "count", s.refusals-maxRefusalLogs)
	}
	for u := range s.uploads {
		u.release()
	}
	if s.fs != nil {
		s.fs.Close()
	}
}

// deadlineConn puts a deadline on every read and write of the connection: the login deadline
// until the login, then the idle timeout for reads and the write timeout for writes.
type deadlineConn struct {
	net.Conn
	idle, write time.Duration

	ident int // how many bytes of sshIdent the client has sent; read by one goroutine at a time

	mu    sync.Mutex
	login time.Time // zero once logged in
}

func (c *deadlineConn) loggedIn() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.login = time.Time{}
}

func (c *deadlineConn) deadline(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	var t time.Time
	if d > 0 {
		t = time.Now().Add(d)
	}
	if !c.login.IsZero() && (t.IsZero() || c.login.Before(t)) {
		t = c.login
	}
	return t
}

func (c *deadlineConn) Read(p []byte) (int, error) {
	c.Conn.SetReadDeadline(c.deadline(c.idle))
	n, err := c.Conn.Read(p)
	if c.ident < len(sshIdent) && n > 0 {
		m := min(n, len(sshIdent)-c.ident)
		if string(p[:m]) != sshIdent[c.ident:c.ident+m] {
			return 0, fmt.Errorf("%w: %q", errNotSSH, p[:m])
		}
		c.ident += m
	}
	return n, err
}

// sshIdent starts what an SSH client sends first, its identification line. RFC 4253 (4.2) lets
// only the server send other lines before it; x/crypto/ssh skips them from a client too, but
// OpenSSH's sshd refuses the connection, and so does this door: a PROXY header from an address
// that is not a trusted proxy (see admission) is refused, not skipped.
const sshIdent = "SSH-"

var errNotSSH = errors.New("sftpdoor: the client did not start with its SSH identification")

func (c *deadlineConn) Write(p []byte) (int, error) {
	c.Conn.SetWriteDeadline(c.deadline(c.write))
	return c.Conn.Write(p)
}
