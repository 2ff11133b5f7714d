package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/myftp/myftp/core/admission"
	"github.com/myftp/myftp/core/door"
	"github.com/myftp/myftp/lib/account"
	"github.com/myftp/myftp/lib/checksum"
	"github.com/myftp/myftp/lib/homefs"
	"github.com/myftp/myftp/lib/proto"
	"github.com/myftp/myftp/lib/transfer"
)

// session is one client, served by one worker from greeting to close.
type session struct {
	srv    *Server
	raw    *admission.Conn // the TCP connection: deadlines are set here
	conn   net.Conn        // raw, or TLS over raw
	remote string          // client host, without port
	log    *slog.Logger
	r      *proto.Reader
	w      *proto.Writer
	bc     *transfer.BufferedConn // under TLS: its writes wait for flush
	ctx    context.Context
	cancel context.CancelFunc

	acct     account.Account // set by login
	fs       *homefs.FS      // set by login
	failures int             // failed logins on this connection
	deadline time.Time       // for the login, then zero
	up       *upload         // the open upload, if any
	checked  time.Time       // when the account was last looked up
	quit     bool
	gone     bool // the client closed the connection: nothing of it is left to read

	// The writer is shared with the goroutines that publish uploads (see publish): wmu guards
	// w's use and what follows.
	wmu        sync.Mutex
	settled    sync.Cond // signalled when held replies are written
	held       []held    // replies waiting for uploads being published
	publishing int       // uploads being published
	werr       error     // first write error: the session ends

	idle      atomic.Bool // waiting for the next request
	uploading atomic.Bool // an upload is open (up): a shutdown lets it finish
	stopping  atomic.Bool // the server is shutting down
}

func newSession(ctx context.Context, srv *Server, conn *admission.Conn) *session {
	host, _, err := net.SplitHostPort(conn.RemoteAddr().String())
	if err != nil {
		host = conn.RemoteAddr().String()
	}
	ctx, cancel := context.WithCancel(ctx)
	s := &session{srv: srv, raw: conn, conn: conn, remote: host, ctx: ctx, cancel: cancel,
		log: srv.cfg.Log.With("remote", conn.RemoteAddr().String())}
	s.settled.L = &s.wmu
	return s
}

// errStopped ends a session that the server's shutdown interrupted while it was idle.
var errStopped = errors.New("server: shutting down")

// stop asks the session to end after its current command; an idle session is woken at once.
// An open upload is a command that spans frames: the session waits for its data and its done
// (within the idle timeout, and the shutdown's own deadline), so that a draining server lets
// the uploads in progress finish, as the FTP and SFTP doors do.
func (s *session) stop() {
	s.stopping.Store(true)
	if s.idle.Load() && !s.uploading.Load() {
		s.raw.SetReadDeadline(time.Now())
	}
	s.cancel()
}

// serve runs the session. A panic in a handler is recovered and logged with its stack, and ends
// only this session.
func (s *session) serve() {
	defer s.close()
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("panic in session; session closed", "panic", p, "stack", string(debug.Stack()))
			s.reply(proto.Reply{Code: proto.CodeUnavailable, Msg: "internal error; closing the session"})
			s.flush()
		}
	}()
	s.deadline = s.raw.LoginDeadline()
	if err := s.start(); err != nil {
		s.log.Info("session not started", "err", err)
		return
	}
	s.loop()
}

// start sends the greeting in plain text and, with TLS on, runs the handshake.
func (s *session) start() error {
	cfg := s.srv.cfg
	s.w = proto.NewWriter(s.raw)
	s.w.SetMaxHeader(cfg.MaxHeader)
	s.reply(proto.Reply{Code: proto.CodeReady, Msg: cfg.Name + " ready", Version: proto.Version, Server: cfg.Name,
		TLS: cfg.TLS != nil, MaxHeader: cfg.MaxHeader, MaxData: proto.MaxData, Checksums: checksum.Transfer()})
	if err := s.flush(); err != nil {
		return err
	}
	if cfg.TLS != nil {
		s.bc = transfer.NewBufferedConn(s.raw, &s.srv.buffers)
		tc := tls.Server(s.bc, cfg.TLS)
		s.raw.SetDeadline(s.deadline)
		if err := tc.HandshakeContext(s.ctx); err != nil {
			return fmt.Errorf("tls handshake: %w", err)
		}
		s.raw.SetDeadline(time.Time{})
		s.bc.Buffer()
		s.conn = tc
		s.w = proto.NewWriter(tc)
		s.w.SetMaxHeader(cfg.MaxHeader)
	}
	s.r = proto.NewReader(s.conn, cfg.MaxHeader)
	return nil
}

// loop reads and handles requests until the session is over: the client quit, a reply ended it,
// a read or write failed, or the server stopped. Replies are flushed when the next frame is not
// already buffered (or when the writer's buffer fills), so a client that pipelines gets its
// replies in few writes, and no reply waits for the rest of a frame the client has only begun.
func (s *session) loop() {
	for !s.over() {
		f, err := s.next()
		if err != nil {
			s.end(err)
			break
		}
		s.handle(f)
		if s.mustSettle() {
			s.settle()
		}
		if !s.r.Pending() {
			s.flush()
		}
	}
	s.settle()
	s.flush()
}

// over reports whether the session is ending: quit is set (by end, or by a reply that closes the
// session) or a write failed.
func (s *session) over() bool {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.quit || s.werr != nil
}

// next reads the next frame with the idle deadline (or the login deadline, if sooner).
func (s *session) next() (proto.Frame, error) {
	d := time.Now().Add(s.srv.cfg.IdleTimeout)
	if !s.deadline.IsZero() && s.deadline.Before(d) {
		d = s.deadline
	}
	s.raw.SetReadDeadline(d)
	s.idle.Store(true)
	defer s.idle.Store(false)
	if s.stopping.Load() && !s.uploading.Load() {
		return proto.Frame{}, errStopped
	}
	return s.r.Next()
}

// end ends the session after a failed read (or a frame that cannot be handled), saying goodbye
// as well as the failure allows.
func (s *session) end(err error) {
	s.quit = true
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
		s.gone = true
		s.log.Debug("client closed the connection")
	case s.stopping.Load():
		s.reply(proto.Reply{Code: proto.CodeUnavailable, Msg: "server shutting down"})
	case errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded):
		msg := "idle timeout; closing the session"
		if s.fs == nil {
			msg = "login timeout; closing the session"
		}
		s.log.Info(msg)
		s.reply(proto.Reply{Code: proto.CodeUnavailable, Msg: msg})
	case errors.Is(err, proto.ErrFrameTooLarge), errors.Is(err, proto.ErrFrameType), errors.Is(err, proto.ErrMalformed):
		s.log.Info("malformed frame; closing the session", "err", err)
		s.reply(proto.Reply{Code: proto.CodeSyntax, Msg: err.Error()})
	default:
		s.log.Info("read failed; closing the session", "err", err)
	}
}

// handle acts on one frame.
func (s *session) handle(f proto.Frame) {
	switch f.Type {
	case proto.TypeData:
		err := s.data(f.Len)
		var he *homefs.Error
		if err != nil && !errors.Is(err, errNoUpload) && !errors.As(err, &he) {
			// The payload of a frame that belongs to no upload could not be skipped: the
			// connection broke or its deadline passed mid-frame, so the session ends as for any
			// failed read (not with a 451, and not one deadline later).
			s.end(err)
			return
		}
		s.result(err)
	case proto.TypeRequest:
		req, err := proto.DecodeRequest(f.Payload)
		if err != nil {
			s.end(err)
			return
		}
		s.request(req)
	default:
		s.end(fmt.Errorf("%w: a client does not send %s frames", proto.ErrMalformed, f.Type))
	}
}

// request runs one request through the command table.
func (s *session) request(req proto.Request) {
	if req.Op == proto.OpPut && s.up != nil {
		// A put ends the open upload (its partial file stays for a resume) even when the put is
		// refused, so that the data and done pipelined behind it get 503, not the old upload.
		s.abortUpload("replaced by a new put")
	}
	if req.Op != proto.OpPut && req.Op != proto.OpDone {
		s.settle() // what was published before must be seen, and in order
	}
	if err := req.Validate(); err != nil {
		s.result(err)
		return
	}
	cmd, ok := s.srv.commands[req.Op]
	if !ok { // an operation proto knows but this server does not serve
		s.result(fmt.Errorf("%w %.64q", proto.ErrUnknownOp, req.Op))
		return
	}
	if s.fs == nil && !cmd.anon {
		s.result(errNotLoggedIn)
		return
	}
	if s.fs != nil {
		if err := s.stillAllowed(); err != nil {
			if !errors.Is(err, door.ErrAccountGone) { // the account could not be looked up
				s.result(err)
			}
			return
		}
	}
	err := cmd.run(s, req)
	door.LogEscape(s.log, req.Op, req.Path, err)
	s.result(err)
}

// stillAllowed ends the session if its account was deleted or disabled since login, and applies
// changed quotas. An account created anew under the same name (a new id) is another account:
// the session of the old one ends too, or it would go on in whatever home the name now has. It
// returns nil if the session may go on; an error wrapping door.ErrAccountGone once it has sent
// the last reply; and an error wrapping account.ErrUnavailable, which the caller answers, when
// the account database does not answer: the request is refused, and the session stays.
func (s *session) stillAllowed() error {
	s.checked = time.Now()
	acct, err := s.srv.cfg.Recheck(s.acct, s.fs)
	switch {
	case errors.Is(err, door.ErrAccountGone):
		s.log.Info("account no longer allowed; closing the session", "err", err)
		s.reply(proto.Reply{Code: proto.CodeUnavailable, Msg: "account disabled or deleted; closing the session",
			Reason: proto.ReasonAccountGone})
		s.quit = true
		return err
	case err != nil:
		s.log.Warn("account not verified; request refused", "err", err)
		return err
	}
	s.acct = acct
	return nil
}

// result sends the error reply for err, if any. Handlers send their own positive replies.
func (s *session) result(err error) {
	if err != nil {
		s.reply(s.replyFor(err))
	}
}

// replyFor is the reply to err; internal errors are logged.
func (s *session) replyFor(err error) proto.Reply {
	rep := replyFor(err)
	if rep.Code == proto.CodeLocalError {
		s.log.Error("command failed", "err", err)
	}
	return rep
}

// reply queues a reply, behind those held for uploads being published (see publish).
func (s *session) reply(r proto.Reply) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if len(s.held) > 0 {
		s.held = append(s.held, held{rep: r})
		return
	}
	s.writeReply(r)
}

// writeReply writes a reply to the connection's buffer; write errors are kept and end the
// session. s.wmu is held.
func (s *session) writeReply(r proto.Reply) {
	if s.werr != nil {
		return
	}
	s.raw.SetWriteDeadline(time.Now().Add(s.srv.cfg.WriteTimeout))
	err := s.w.WriteJSON(proto.TypeReply, r)
	if errors.Is(err, proto.ErrFrameTooLarge) {
		// Over the header limit the client reads with (a message that repeats a long path): the
		// words for people are cut; if that is not enough, the reply cannot be sent as it is.
		r.Msg = truncate(r.Msg, 200)
		if err = s.w.WriteJSON(proto.TypeReply, r); errors.Is(err, proto.ErrFrameTooLarge) {
			s.log.Error("reply over max_header", "code", r.Code, "err", err)
			err = s.w.WriteJSON(proto.TypeReply, proto.Reply{Code: proto.CodeLocalError, Msg: "reply too large for max_header"})
		}
	}
	if err != nil {
		s.werr = err
	}
}

// truncate shortens s to at most n bytes, at a character boundary, and marks the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}

// writeFrame writes a frame that is not a reply (data, during a listing or a download).
func (s *session) writeFrame(typ proto.FrameType, b []byte) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.werr != nil {
		return s.werr
	}
	s.raw.SetWriteDeadline(deadline(s.srv.cfg.WriteTimeout))
	if err := s.w.WriteFrame(typ, b); err != nil {
		s.werr = err
	}
	return s.werr
}

// flush sends what was written to the connection's buffer.
func (s *session) flush() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.flushLocked()
}

// flushLocked is flush with s.wmu held.
func (s *session) flushLocked() error {
	if s.werr != nil {
		return s.werr
	}
	s.raw.SetWriteDeadline(time.Now().Add(s.srv.cfg.WriteTimeout))
	if err := s.w.Flush(); err != nil {
		s.werr = err
	} else if s.bc != nil {
		if err := s.bc.Flush(); err != nil {
			s.werr = err
		}
	}
	return s.werr
}

// close releases everything the session holds.
func (s *session) close() {
	s.settle() // uploads being published are stored, whether or not the client hears of it
	s.flush()
	if s.up != nil {
		s.abortUpload("connection closed")
	}
	if s.fs != nil {
		s.fs.Close()
	}
	s.cancel()
	s.hangUp()
	s.log.Debug("session closed")
}

// hangUp closes the connection. Unless the client closed it first, it lingers (see
// admission.Conn.Linger): a client still sending the rest of an upload then reads the server's
// last reply instead of a reset connection.
func (s *session) hangUp() {
	if s.gone {
		s.conn.Close()
		return
	}
	if tc, ok := s.conn.(*tls.Conn); ok {
		s.raw.SetWriteDeadline(time.Now().Add(time.Second))
		tc.CloseWrite() // close_notify, into the buffer under TLS
		s.bc.Flush()
	}
	s.raw.Linger()
}
