// Package ftpdoor is the FTP and FTPS door of myftps: RFC 959 with the extensions that real
// clients use (EPSV, MLSD, REST, HASH, AVBL...), on the fclairamb/ftpserverlib engine, over the
// same accounts, homes, quotas and logs as the native door.
//
// Each connection admission hands to ServeConn gets an engine and a driver of its own, so that
// its passive data connections and TLS sessions are known to belong to it: a data connection is
// taken only from the control connection's address, and (with RequireTLSReuse) only if it resumes
// that control connection's TLS session. Uploads go through homefs streams: a file appears under
// its name only once its data connection has ended cleanly, which over TLS means with the
// client's close_notify (StrictTLSEOF).
package ftpdoor

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	ftpserver "github.com/fclairamb/ftpserverlib"

	"github.com/myftp/myftp/core/admission"
	"github.com/myftp/myftp/core/door"
	"github.com/myftp/myftp/lib/transfer"
)

// TLSMode says how the door uses TLS.
type TLSMode int

// The TLS modes, as the [ftp] tls setting names them.
const (
	// TLSRequired: AUTH TLS must succeed before USER and PASS, and data connections must be
	// protected (PROT P).
	TLSRequired TLSMode = iota
	// TLSImplicit: TLS from the first byte, as on port 990.
	TLSImplicit
	// TLSOff: plain FTP; passwords and files travel in clear text.
	TLSOff
)

// Config is everything a Door needs.
type Config struct {
	// Name is said in the greeting ("NAME ready").
	Name string
	// TLSMode and TLS: TLS must be set unless TLSMode is TLSOff.
	TLSMode TLSMode
	TLS     *tls.Config
	// PassivePorts is the range passive data connections listen on; zero means any free port.
	PassivePorts [2]int
	// PublicHost is the IPv4 address announced in PASV replies; empty means the address the
	// control connection reached.
	PublicHost string
	// Active allows PORT and EPRT (the server connects to the client).
	Active bool
	// RequireTLSReuse refuses a protected data connection that does not resume the TLS session of
	// its control connection.
	RequireTLSReuse bool
	// StrictTLSEOF counts an upload over TLS as complete only if the client's close_notify
	// arrived before the connection ended: a data connection cut without it keeps the upload
	// unfinished.
	StrictTLSEOF bool
	// IdleTimeout ends a session that sends no command for this long, unless a transfer is
	// running or the door is still at work on its last command (opening a file, listing a
	// directory), and a transfer whose client sends nothing on its data connection for this long
	// (an upload), or whose passive data connection is silent; it is rounded up to whole seconds
	// for the control connection. Zero: the engine's 900 s for the control connection, no bound
	// on data connections.
	IdleTimeout time.Duration
	// WriteTimeout ends a transfer whose client takes nothing of what is written on its passive
	// data connection for this long (a download it does not read), and bounds each write of a
	// reply on the control connection: a client that takes nothing of it for this long loses it
	// (over TLS, the control connection with it; the session then ends when idle). Zero: no bound
	// on data connections, and the control connection's idle bound for replies.
	WriteTimeout time.Duration
	// AcceptTimeout is how long a passive data port waits for the client's connection once
	// opened (PASV, EPSV), and a transfer for its data connection, passive or active; it is
	// rounded up to whole seconds. Zero: 30 s for the transfer, the session's life for the port.
	AcceptTimeout time.Duration
	// RefusedDrainSize and RefusedDrainTime bound what the door still reads, and discards, of an
	// upload the store refused mid-way (quota or disk full, store unavailable) before it closes
	// the data connection and replies: at most that many bytes, for at most that long (see
	// drainRefused). Zero for either closes the data connection at once; a client still sending
	// then sees it reset, and curl and lftp do not show the reply.
	RefusedDrainSize int64
	RefusedDrainTime time.Duration

	// Services are the accounts, homes and logs the door serves sessions from.
	door.Services
}

// Door serves FTP sessions; it is an admission.Door. Create it with New.
type Door struct {
	cfg     Config
	tls     *tls.Config         // cfg.TLS with ticket keys of its own, shared by every session's configs
	buffers transfer.BufferPool // lent to data connections while they move data
}

// New returns a Door.
func New(cfg Config) (*Door, error) {
	if cfg.Auth == nil || cfg.Homes == nil {
		return nil, errors.New("ftpdoor: Auth and Homes are required")
	}
	if cfg.TLSMode != TLSOff && cfg.TLS == nil {
		return nil, errors.New("ftpdoor: TLS is required unless the mode is TLSOff")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Name == "" {
		cfg.Name = "myftp"
	}
	d := &Door{cfg: cfg}
	if cfg.TLS != nil {
		// Explicit ticket keys, so that the per-session configs (clones) seal and open session
		// tickets with the same keys.
		d.tls = cfg.TLS.Clone()
		var key [32]byte
		rand.Read(key[:])
		d.tls.SetSessionTicketKeys([][32]byte{key})
	}
	return d, nil
}

// ServeConn serves one FTP session on c until the client quits or the connection ends. When ctx
// ends (the server shuts down), an idle session is closed at once, and one with a transfer
// running once that transfer has ended and its reply (226 or the error) has been sent; a
// command that comes after the shutdown began is refused.
func (d *Door) ServeConn(ctx context.Context, c *admission.Conn) {
	s := newSession(ctx, d, c)
	defer s.close()
	var conn net.Conn = s.ctl
	if d.cfg.TLSMode == TLSImplicit {
		conn = tls.Server(s.ctl, s.tlsConfig)
	}
	s.listener = newOneConnListener(conn)
	engine := ftpserver.NewFtpServer(s)
	engine.Logger = slog.New(warnOnly{s.log.Handler()})
	if err := engine.Listen(); err != nil {
		s.log.Error("ftp engine", "err", err)
		return
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		engine.Serve()
	}()
	stop := context.AfterFunc(ctx, s.shutdown)
	defer stop()
	<-c.Done()
	engine.Stop()
	<-served
	if s.listener.handedOut.Load() {
		<-s.ctl.closed // the engine's handler of the connection has ended
	}
	s.waitTransfers()
}

// Refuse sends a 421 reply with msg; over implicit TLS, after the handshake.
func (d *Door) Refuse(c net.Conn, msg string) {
	if d.cfg.TLSMode == TLSImplicit {
		c.SetReadDeadline(time.Now().Add(time.Second)) // as admission set the write deadline
		tc := tls.Server(c, d.tls)
		if tc.Handshake() != nil {
			return
		}
		c = tc
	}
	fmt.Fprintf(c, "421 %s\r\n", msg)
}

// oneConnListener yields one connection, then waits for Close: the engine's accept loop for a
// single session.
type oneConnListener struct {
	conn      net.Conn
	next      chan net.Conn
	done      chan struct{}
	shut      sync.Once
	handedOut atomic.Bool // the engine took the connection: its handler runs, and ends by closing it
}

func newOneConnListener(c net.Conn) *oneConnListener {
	l := &oneConnListener{conn: c, next: make(chan net.Conn, 1), done: make(chan struct{})}
	l.next <- c
	return l
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.next:
		l.handedOut.Store(true)
		return c, nil
	case <-l.done:
		// The engine recognises this error as a listener closed on purpose.
		return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.Addr(), Err: net.ErrClosed}
	}
}

func (l *oneConnListener) Close() error {
	l.shut.Do(func() { close(l.done) })
	return nil
}

func (l *oneConnListener) Addr() net.Addr { return l.conn.LocalAddr() }

// warnOnly passes on the engine's warnings and errors, not its chatter ("Listening...").
type warnOnly struct{ slog.Handler }

func (h warnOnly) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn && h.Handler.Enabled(ctx, l)
}

func (h warnOnly) WithAttrs(a []slog.Attr) slog.Handler { return warnOnly{h.Handler.WithAttrs(a)} }
func (h warnOnly) WithGroup(n string) slog.Handler      { return warnOnly{h.Handler.WithGroup(n)} }
