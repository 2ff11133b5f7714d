// Package client is the Go API of myftp: Dial a server, Login, then list, move around, and transfer
// files verified end to end (blake3, sha256 or md5, as the server offers) and resume. The shell (myftpc), the end-to-end tests and the
// benchmarks all use it.
//
// A Client is one session; use it from one goroutine at a time. After a network error or a
// cancelled transfer the connection is closed, and every later call returns ErrClosed; dial again
// to go on (an interrupted transfer then resumes).
package client

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/myftp/myftp/lib/certs"
	"github.com/myftp/myftp/lib/checksum"
	"github.com/myftp/myftp/lib/durable"
	"github.com/myftp/myftp/lib/proto"
	"github.com/myftp/myftp/lib/transfer"
)

// maxHeaderCap bounds the header limit a server may announce (the same ceiling as the server's
// max_header_size setting).
const maxHeaderCap = 16 << 20

// Errors of the connection. ErrBusy is Dial's error when the server turns the connection away
// before its greeting (every worker busy and the queue full or too slow, too many connections from
// this address, or shutting down); the server's reason follows it in the text. ErrPlain is Dial's
// error for a server without TLS that Config refuses, ErrNotTrusted for a new server that
// Config.TrustNew refused. ErrAccountGone comes with ErrClosed when the server ended the session
// because its account was deleted or disabled: logging in again would fail, so do not reconnect.
// ErrClosed is also Dial's error when the connection ends, is reset or times out before the
// greeting or during the TLS handshake: the server died or cannot answer now.
var (
	ErrBusy        = errors.New("client: the server turned the connection away")
	ErrClosed      = errors.New("client: connection closed")
	ErrPlain       = errors.New("client: server does not use TLS")
	ErrProtocol    = errors.New("client: protocol error")
	ErrNotTrusted  = errors.New("client: server not trusted")
	ErrAccountGone = errors.New("client: account disabled or deleted")
	// ErrTooLong is the error of a request the server would refuse for its size: a path over
	// proto.MaxPathLen bytes, or a request over the server's header limit. Nothing is sent, and
	// the connection goes on.
	ErrTooLong = errors.New("client: too long")
	// ErrRefused is Dial's error when nothing accepts connections at the address (no server
	// runs there, or a firewall says so).
	ErrRefused = errors.New("client: nothing accepts connections there (connection refused)")
)

// Config says how to reach and trust a server.
type Config struct {
	// Addr is HOST:PORT.
	Addr string
	// KnownHosts is the file of trusted servers' fingerprints (see TrustNew). Empty with Insecure
	// unset means no TLS trust at all is possible, so Dial fails.
	KnownHosts string
	// Insecure skips the certificate check and allows a server without TLS, with warnings through
	// Notify.
	Insecure bool
	// RequireTLS refuses a server that greets without TLS (ErrPlain) before anything is sent to it.
	// Without it, such a server is accepted with a warning through Notify, unless KnownHosts
	// records its address with TLS (a downgrade, which a man in the middle could fake: refused with
	// ErrHostKeyMismatch and ErrPlain). Insecure overrides both refusals.
	RequireTLS bool
	// TrustNew decides about a server whose address KnownHosts does not list. Dial calls it once
	// the TLS handshake is done and before anything is sent inside TLS, with the address and the
	// certificate's fingerprint: nil records the server in KnownHosts (Notify says so), an error
	// refuses it, and Dial returns ErrNotTrusted wrapping that error (or ctx's error if ctx ended).
	// It may take as long as a person takes to answer. Nil TrustNew records every new server
	// without asking (trust on first use, for tests and tools).
	TrustNew func(ctx context.Context, addr, fingerprint string) error
	// Notify receives messages the user should see: a newly trusted server, a plain-text warning,
	// waiting in the server's queue. May be nil.
	Notify func(msg string)
	// DialTimeout bounds the TCP connect and the TLS handshake (not the wait in the server's
	// queue, which the server bounds). Zero means 30 s.
	DialTimeout time.Duration
	// IOTimeout bounds each read and write of a command once connected. Zero means 5 minutes.
	IOTimeout time.Duration
	// LocalAddr is the address to connect from; nil lets the system choose.
	LocalAddr net.Addr
	// Checksum is the algorithm transfers are verified with when the server offers it
	// ("blake3", "sha256", "md5"); otherwise the best one the server offers (md5 with a server
	// that offers none). Empty means blake3.
	Checksum string
}

// Client is a session with a myftp server.
type Client struct {
	cfg      Config
	raw      net.Conn
	conn     net.Conn
	r        *proto.Reader
	w        *proto.Writer
	bc       *transfer.BufferedConn // under TLS: its writes wait for flushW
	durable  *durable.Syncer        // flushes finished downloads, in groups
	greeting proto.Reply
	fp       string // server certificate fingerprint, "" in plain mode
	unknown  bool   // KnownHosts does not list the server: TrustNew decides after the handshake
	user     string

	mu  sync.Mutex
	err error // sticky: set when the connection is no longer usable
	// broken is set when a data frame could not be written because the server closed the
	// connection: nothing more is sent, but the replies already on their way (the 421 that says
	// why) are still read; the connection is closed when the transfer ends.
	broken error

	wmu sync.Mutex // serialises writes: a transfer writes from its own goroutines, Close from any
}

// Dial connects to the server, waits for a free slot if the server queues the connection, and
// sets up TLS, checking the server's certificate against the known hosts (a new server is recorded
// if TrustNew accepts it). A server without TLS is refused or accepted as RequireTLS and Insecure
// say. It does not log in: nothing is sent inside TLS, and nothing at all to a server it refuses.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 30 * time.Second
	}
	if cfg.IOTimeout <= 0 {
		cfg.IOTimeout = 5 * time.Minute
	}
	if cfg.Notify == nil {
		cfg.Notify = func(string) {}
	}
	d := net.Dialer{Timeout: cfg.DialTimeout, LocalAddr: cfg.LocalAddr}
	raw, err := d.DialContext(ctx, "tcp", cfg.Addr)
	if err != nil && refused(err) {
		return nil, fmt.Errorf("connect to %s: %w", cfg.Addr, &refusedError{err})
	}
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", cfg.Addr, err)
	}
	c := &Client{cfg: cfg, raw: raw, conn: raw, durable: durable.New()}
	stop := context.AfterFunc(ctx, func() { raw.SetDeadline(time.Now()) })
	defer stop()
	if err := c.start(ctx); err != nil {
		raw.Close()
		return nil, err
	}
	return c, nil
}

// start reads the plain-text greeting (after any queue notice) and runs the TLS handshake.
func (c *Client) start(ctx context.Context) error {
	pr := proto.NewReader(c.raw, proto.DefaultMaxHeader)
	// The greeting must come within the dial timeout; once the server says the connection is
	// queued, its queue timeout bounds the wait, and the I/O timeout backs it up.
	c.raw.SetReadDeadline(time.Now().Add(c.cfg.DialTimeout))
	for {
		rep, err := readReply(pr)
		if err != nil {
			return fmt.Errorf("greeting from %s: %w", c.cfg.Addr, ctxErr(ctx, closedErr(err)))
		}
		switch {
		case rep.Code == proto.CodeQueued:
			c.cfg.Notify("waiting for a free server slot...")
			c.raw.SetReadDeadline(time.Now().Add(max(c.cfg.IOTimeout, c.cfg.DialTimeout)))
			if err := ctx.Err(); err != nil { // cancelled before the new deadline was set
				return err
			}
			continue
		case rep.Code == proto.CodeUnavailable:
			return fmt.Errorf("%w: %s", ErrBusy, rep.Msg)
		case rep.Code != proto.CodeReady:
			return fmt.Errorf("%w: greeting %d %s", ErrProtocol, rep.Code, rep.Msg)
		case rep.Version != proto.Version:
			return fmt.Errorf("%w: server speaks protocol version %d, this client %d", ErrProtocol, rep.Version, proto.Version)
		}
		c.greeting = rep
		break
	}
	if pr.Buffered() > 0 {
		return fmt.Errorf("%w: data after the greeting", ErrProtocol)
	}
	if c.greeting.TLS {
		if err := c.handshake(ctx); err != nil {
			return err
		}
	} else if err := c.allowPlain(); err != nil {
		return err
	}
	// The server's announced limit, within reason: a hostile server must not make us allocate GiBs.
	maxHeader := min(max(c.greeting.MaxHeader, proto.DefaultMaxHeader), maxHeaderCap)
	c.r = proto.NewReader(c.conn, maxHeader)
	c.w = proto.NewWriter(c.conn)
	if c.greeting.MaxHeader > 0 { // the limit the server reads requests with
		c.w.SetMaxHeader(c.greeting.MaxHeader)
	} else {
		c.w.SetMaxHeader(proto.DefaultMaxHeader)
	}
	return nil
}

// allowPlain decides about a server that greets without TLS. The greeting is plain text, so a
// man in the middle can claim tls off to read the password: a server known to have used TLS
// before is refused, and any other as RequireTLS says, unless Insecure.
func (c *Client) allowPlain() error {
	if !c.cfg.Insecure && c.cfg.KnownHosts != "" {
		fp, err := KnownHosts{Path: c.cfg.KnownHosts}.Lookup(c.cfg.Addr)
		if err != nil {
			return err
		}
		if fp != "" {
			return fmt.Errorf("%w: %s is recorded in %s with fingerprint %s, but the server presented none (%w): "+
				"refusing to send a password in clear text; if it was switched to plain text on purpose, remove its line from %s",
				ErrHostKeyMismatch, c.cfg.Addr, c.cfg.KnownHosts, fp, ErrPlain, c.cfg.KnownHosts)
		}
	}
	if c.cfg.RequireTLS && !c.cfg.Insecure {
		return fmt.Errorf("%s: %w: refusing to send a password in clear text", c.cfg.Addr, ErrPlain)
	}
	c.cfg.Notify("WARNING: " + c.cfg.Addr + " does not use TLS: the password and the files travel in clear text, " +
		"readable and changeable by anyone on the way")
	return nil
}

func (c *Client) handshake(ctx context.Context) error {
	host, _, _ := net.SplitHostPort(c.cfg.Addr)
	c.bc = transfer.NewBufferedConn(c.raw, nil) // one connection: its buffers are its own
	tc := tls.Client(c.bc, &tls.Config{
		ServerName:         host,
		MinVersion:         tls.VersionTLS13,
		InsecureSkipVerify: true, // the certificate is pinned below instead (trust on first use)
		VerifyConnection:   c.verify,
	})
	c.raw.SetDeadline(time.Now().Add(c.cfg.DialTimeout))
	if err := tc.HandshakeContext(ctx); err != nil {
		if errors.Is(err, ErrHostKeyMismatch) {
			return err
		}
		var mismatch *hostKeyError
		if errors.As(err, &mismatch) {
			return mismatch.err
		}
		return fmt.Errorf("tls handshake with %s: %w", c.cfg.Addr, ctxErr(ctx, closedErr(err)))
	}
	c.raw.SetDeadline(time.Time{})
	c.bc.Buffer()
	c.conn = tc
	if c.unknown {
		return c.trustNew(ctx)
	}
	return nil
}

// trustNew asks TrustNew about a server that KnownHosts does not list, and records it if trusted.
// It runs after the handshake, without a deadline: the server's own login timeout may close the
// connection while a person reads the fingerprint, and the caller then dials again.
func (c *Client) trustNew(ctx context.Context) error {
	if c.cfg.TrustNew != nil {
		if err := c.cfg.TrustNew(ctx, c.cfg.Addr, c.fp); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("%w: %s: %w", ErrNotTrusted, c.cfg.Addr, err)
		}
	}
	// Check, not Add: another myftpc may have recorded the address meanwhile.
	added, err := KnownHosts{Path: c.cfg.KnownHosts}.Check(c.cfg.Addr, c.fp)
	if err != nil {
		return err
	}
	if added {
		c.cfg.Notify(fmt.Sprintf("new server %s: fingerprint %s recorded in %s", c.cfg.Addr, c.fp, c.cfg.KnownHosts))
	}
	return nil
}

// hostKeyError carries a known-hosts failure through the TLS stack unchanged.
type hostKeyError struct{ err error }

func (e *hostKeyError) Error() string { return e.err.Error() }
func (e *hostKeyError) Unwrap() error { return e.err }

func (c *Client) verify(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("server sent no certificate")
	}
	c.fp = certs.Fingerprint(cs.PeerCertificates[0].Raw)
	if c.cfg.Insecure {
		c.cfg.Notify("WARNING: --insecure: the server's certificate (" + c.fp + ") is not checked")
		return nil
	}
	if c.cfg.KnownHosts == "" {
		return &hostKeyError{errors.New("client: no known_hosts file configured to check the server certificate")}
	}
	kh := KnownHosts{Path: c.cfg.KnownHosts}
	known, err := kh.Lookup(c.cfg.Addr)
	switch {
	case err != nil:
		return &hostKeyError{err}
	case known == "":
		c.unknown = true
	case known != c.fp:
		return &hostKeyError{kh.mismatch(c.cfg.Addr, known, c.fp)}
	}
	return nil
}

// Fingerprint returns the server certificate's fingerprint ("SHA256:..."), or "" without TLS.
func (c *Client) Fingerprint() string { return c.fp }

// TLS reports whether the session is encrypted.
func (c *Client) TLS() bool { return c.greeting.TLS }

// ServerName returns the name the server announced.
func (c *Client) ServerName() string { return c.greeting.Server }

// Checksum is the algorithm this connection's transfers are verified with: Config.Checksum if the
// server offers it, else the best one it offers.
func (c *Client) Checksum() string {
	pref := c.cfg.Checksum
	if pref == "" {
		pref = checksum.BLAKE3
	}
	return checksum.Pick(pref, c.greeting.Checksums)
}

// Close sends quit (best effort, without waiting for the reply) and closes the connection. It
// returns nil, also when the connection was already closed by an error. Unlike the other methods,
// it may be called from another goroutine to interrupt a transfer.
func (c *Client) Close() error {
	if c.Err() == nil && c.w != nil {
		c.raw.SetDeadline(time.Now().Add(time.Second))
		c.wmu.Lock()
		c.w.WriteJSON(proto.TypeRequest, proto.Request{Op: proto.OpQuit})
		c.flushW()
		c.wmu.Unlock()
	}
	c.fail(ErrClosed)
	return nil
}

// fail makes the connection unusable and remembers why. It is safe to call from the two
// goroutines of a transfer.
func (c *Client) fail(err error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		c.err = err
		c.conn.Close()
	}
	return err
}

// failWrite records a failed write of a data frame. A write that timed out (a server that stopped
// reading) fails the connection at once; otherwise the server closed it, perhaps after a reply
// that says why, which the reader of the replies is left to read.
func (c *Client) failWrite(err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return c.fail(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil && c.broken == nil {
		c.broken = err
	}
	return err
}

// isBroken reports whether a write of a data frame found the connection closed by the server.
func (c *Client) isBroken() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.broken != nil && c.err == nil
}

// endBroken closes a connection whose writing broke (see failWrite), once its replies are read.
func (c *Client) endBroken() {
	c.mu.Lock()
	b := c.broken
	c.mu.Unlock()
	if b != nil {
		c.fail(b)
	}
}

// Err returns why the connection is unusable, or nil.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		return c.broken
	}
	return c.err
}

// send writes a request without flushing. A request the server would refuse for its size is not
// sent (ErrTooLong): the server would end the session, and the error would depend on how much
// of the request it read first.
func (c *Client) send(req proto.Request) error {
	if err := c.Err(); err != nil {
		return err
	}
	if err := tooLong(req.Path, req.To); err != nil {
		return err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.raw.SetWriteDeadline(time.Now().Add(c.cfg.IOTimeout))
	if err := c.w.WriteJSON(proto.TypeRequest, req); err != nil {
		if errors.Is(err, proto.ErrFrameTooLarge) { // refused before anything was written
			return fmt.Errorf("%w: %s request: %w", ErrTooLong, req.Op, err)
		}
		return c.fail(fmt.Errorf("%w: %w", ErrClosed, err))
	}
	return nil
}

// tooLong returns ErrTooLong if one of paths is longer than the protocol allows.
func tooLong(paths ...string) error {
	for _, p := range paths {
		if len(p) > proto.MaxPathLen {
			return fmt.Errorf("%w: a path of %d bytes; the protocol allows %d", ErrTooLong, len(p), proto.MaxPathLen)
		}
	}
	return nil
}

func (c *Client) flush() error {
	if err := c.Err(); err != nil {
		return err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.raw.SetWriteDeadline(time.Now().Add(c.cfg.IOTimeout))
	if err := c.flushW(); err != nil {
		return c.fail(fmt.Errorf("%w: %w", ErrClosed, err))
	}
	return nil
}

// flushW sends what the writer holds, through TLS and the buffer under it. c.wmu is held.
func (c *Client) flushW() error {
	if err := c.w.Flush(); err != nil {
		return err
	}
	if c.bc != nil && c.conn != c.raw {
		return c.bc.Flush()
	}
	return nil
}

// next reads the next frame, with the I/O timeout.
func (c *Client) next() (proto.Frame, error) {
	c.mu.Lock()
	err := c.err // not broken: what the server sent before it closed is still read
	c.mu.Unlock()
	if err != nil {
		return proto.Frame{}, err
	}
	c.raw.SetReadDeadline(time.Now().Add(c.cfg.IOTimeout))
	f, err := c.r.Next()
	if err != nil {
		return f, c.fail(fmt.Errorf("%w: %w", ErrClosed, err))
	}
	return f, nil
}

// reply reads the next frame, which must be a reply. A 421 reply means the server is closing the
// session: the connection is closed and the error says why.
func (c *Client) reply() (proto.Reply, error) {
	f, err := c.next()
	if err != nil {
		return proto.Reply{}, err
	}
	if f.Type != proto.TypeReply {
		return proto.Reply{}, c.fail(fmt.Errorf("%w: %s frame where a reply was expected", ErrProtocol, f.Type))
	}
	return c.decodeReply(f.Payload)
}

// decodeReply decodes a reply frame's payload. A 421 reply means the server is closing the
// session: the connection is closed and the error says why.
func (c *Client) decodeReply(payload []byte) (proto.Reply, error) {
	rep, err := proto.DecodeReply(payload)
	if err != nil {
		return rep, c.fail(fmt.Errorf("%w: %w", ErrProtocol, err))
	}
	if rep.Code == proto.CodeUnavailable {
		if rep.Reason == proto.ReasonAccountGone {
			return rep, c.fail(&goneError{rep.Err()})
		}
		return rep, c.fail(fmt.Errorf("%w: %w", ErrClosed, rep.Err()))
	}
	return rep, nil
}

// refusedError is a dial that nothing at the address accepted: ErrRefused, and the system's error.
type refusedError struct{ err error }

func (e *refusedError) Error() string   { return ErrRefused.Error() }
func (e *refusedError) Unwrap() []error { return []error{ErrRefused, e.err} }

// goneError is the server's 421 that ends a session whose account was deleted or disabled. It
// reads as any other 421 and is both ErrClosed and ErrAccountGone.
type goneError struct{ reply error }

func (e *goneError) Error() string   { return ErrClosed.Error() + ": " + e.reply.Error() }
func (e *goneError) Unwrap() []error { return []error{ErrClosed, ErrAccountGone, e.reply} }

// roundTrip sends req and returns its reply; a negative reply is returned as the error.
func (c *Client) roundTrip(req proto.Request) (proto.Reply, error) {
	if err := c.send(req); err != nil {
		return proto.Reply{}, err
	}
	return c.roundTripFlushed()
}

// readReply reads one reply frame from a plain reader (the greeting phase).
func readReply(r *proto.Reader) (proto.Reply, error) {
	f, err := r.Next()
	if err != nil {
		return proto.Reply{}, err
	}
	if f.Type != proto.TypeReply {
		return proto.Reply{}, fmt.Errorf("%w: %s frame in the greeting (is the server a myftp server?)", ErrProtocol, f.Type)
	}
	return proto.DecodeReply(f.Payload)
}

// closedErr marks err, an error of the greeting or the TLS handshake, as ErrClosed when the
// connection itself failed (an end of stream, a reset, a read that timed out), not the server's
// words: what a client sees when the server dies, or cannot answer, before the session starts.
func closedErr(err error) error {
	var oe *net.OpError
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.As(err, &oe) {
		return fmt.Errorf("%w: %w", ErrClosed, err)
	}
	return err
}

// ctxErr prefers the context's error when the context ended.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}
