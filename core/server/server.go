// Package server is the myftps core: it accepts connections onto a bounded queue, serves them from
// a fixed-size ants worker pool (one worker per session, from greeting to close), and runs each
// session's command loop over the frames of package proto.
//
// Its shape follows net/http: Serve(l) runs the accept loop on any net.Listener, and Shutdown(ctx)
// stops accepting, tells queued connections the server is going away, lets sessions finish their
// current command and waits for them until ctx ends.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/ants/v2"

	"github.com/myftp/myftp/core/logger"
	"github.com/myftp/myftp/lib/account"
	"github.com/myftp/myftp/lib/homefs"
	"github.com/myftp/myftp/lib/proto"
)

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("server: closed")

// Authenticator decides logins and whether a logged-in account may go on. *auth.Authenticator
// satisfies it.
type Authenticator interface {
	Login(ctx context.Context, name, password, remote string) (account.Account, error)
	Check(name string) (account.Account, error)
}

// Homes opens a session's view of a home directory. *homefs.Store satisfies it.
type Homes interface {
	Open(home string, quota int64) (*homefs.FS, error)
}

// TransferLogger records finished and interrupted transfers. *logger.TransferLog satisfies it.
type TransferLogger interface {
	Log(logger.Transfer) error
}

// Config is everything a Server needs. Zero durations, a zero PoolSize and a MaxHeader below the
// minimum are replaced by the defaults of conf/settings.toml; a zero QueueSize means no queue (a
// connection is served at once or told the server is busy).
type Config struct {
	Name          string
	PoolSize      int
	QueueSize     int
	QueueTimeout  time.Duration
	IdleTimeout   time.Duration
	WriteTimeout  time.Duration
	LoginTimeout  time.Duration
	LoginAttempts int
	MaxHeader     int
	// MaxPerAddress is the most connections (queued or in a session) one remote IP address may
	// hold; more are told so and closed. Zero means no limit.
	MaxPerAddress int
	// TLS, if not nil, is used for every session after the greeting. Nil means plain TCP.
	TLS *tls.Config

	Auth      Authenticator
	Homes     Homes
	Transfers TransferLogger
	Log       *slog.Logger
}

func (c *Config) setDefaults() {
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.QueueTimeout, 30*time.Second)
	def(&c.IdleTimeout, 5*time.Minute)
	def(&c.WriteTimeout, time.Minute)
	def(&c.LoginTimeout, time.Minute)
	if c.PoolSize <= 0 {
		c.PoolSize = 32
	}
	if c.LoginAttempts <= 0 {
		c.LoginAttempts = 3
	}
	if c.MaxHeader < proto.MinMaxHeader {
		c.MaxHeader = proto.DefaultMaxHeader
	}
	if c.Name == "" {
		c.Name = "myftp"
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
}

// Server serves myftp sessions. Create it with New.
type Server struct {
	cfg     Config
	pool    *ants.Pool
	q       *slots
	perAddr *addrLimit

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	sessions  map[*session]struct{}
	closing   atomic.Bool
	done      chan struct{} // closed by Shutdown
	idle      chan struct{} // closed when dispatch has returned
	wg        sync.WaitGroup
	commands  map[string]command
}

// New returns a Server with a pool of cfg.PoolSize workers.
func New(cfg Config) (*Server, error) {
	cfg.setDefaults()
	if cfg.Auth == nil || cfg.Homes == nil {
		return nil, errors.New("server: Auth and Homes are required")
	}
	pool, err := ants.NewPool(cfg.PoolSize)
	if err != nil {
		return nil, fmt.Errorf("server: worker pool: %w", err)
	}
	s := &Server{
		cfg:       cfg,
		pool:      pool,
		q:         newSlots(cfg.PoolSize, cfg.QueueSize),
		perAddr:   newAddrLimit(cfg.MaxPerAddress),
		listeners: map[net.Listener]struct{}{},
		sessions:  map[*session]struct{}{},
		done:      make(chan struct{}),
		idle:      make(chan struct{}),
		commands:  commandTable(),
	}
	go s.dispatch()
	return s, nil
}

// Stats is a snapshot of the server's load.
type Stats struct {
	PoolSize  int // workers, the most sessions served at once
	QueueSize int // the most connections that may wait
	Running   int // sessions being served
	Waiting   int // connections waiting in the queue
}

// Stats returns the current load.
func (s *Server) Stats() Stats {
	running, waiting := s.q.counts()
	return Stats{PoolSize: s.cfg.PoolSize, QueueSize: s.cfg.QueueSize, Running: running, Waiting: waiting}
}

// Serve accepts connections on l until Shutdown, queueing each for a worker. It always returns a
// non-nil error: ErrServerClosed after Shutdown. Temporary accept errors are retried after a delay
// that grows from 5 ms to 1 s.
func (s *Server) Serve(l net.Listener) error {
	if !s.track(l) {
		return ErrServerClosed
	}
	defer s.untrack(l)
	var backoff time.Duration
	for {
		conn, err := l.Accept()
		if err != nil {
			if s.closing.Load() {
				return ErrServerClosed
			}
			if ne, ok := err.(net.Error); ok && ne.Timeout() || isTemporary(err) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.cfg.Log.Warn("accept failed; retrying", "err", err, "delay", backoff)
				select {
				case <-time.After(backoff):
				case <-s.done:
				}
				continue
			}
			return fmt.Errorf("server: accept: %w", err)
		}
		backoff = 0
		s.enqueue(conn)
	}
}

// isTemporary reports accept errors that pass, such as running out of file descriptors.
func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

func (s *Server) track(l net.Listener) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing.Load() {
		return false
	}
	s.listeners[l] = struct{}{}
	return true
}

func (s *Server) untrack(l net.Listener) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.listeners, l)
}

// enqueue puts a new connection on the queue, or turns it away at once if the queue is full or its
// address holds MaxPerAddress connections already. It never blocks: the only write is a short
// reply into a fresh socket's empty send buffer.
func (s *Server) enqueue(conn net.Conn) {
	conn, addr, ok := s.perAddr.admit(conn)
	if !ok {
		s.cfg.Log.Info("too many connections from one address: connection refused", "remote", conn.RemoteAddr().String())
		s.refuse(conn, fmt.Sprintf("too many connections from %s: the limit is %d", addr, s.cfg.MaxPerAddress))
		return
	}
	w := &waiter{conn: conn, said: make(chan struct{})}
	defer close(w.said)
	// The timer exists before the waiter can be taken, so that next's caller can always stop it.
	w.timer = time.AfterFunc(s.cfg.QueueTimeout, func() {
		if s.q.remove(w) {
			s.cfg.Log.Info("server busy: queue timeout", "remote", conn.RemoteAddr().String())
			s.refuse(conn, "server busy, try again later")
		}
	})
	ok, wait := s.q.push(w)
	if !ok {
		w.timer.Stop()
		if s.closing.Load() { // accepted as Shutdown began: the queue is closed
			s.refuse(conn, "server shutting down")
			return
		}
		s.cfg.Log.Info("server busy: connection refused", "remote", conn.RemoteAddr().String())
		s.refuse(conn, "server busy, try again later")
		return
	}
	if wait {
		// Best effort: the connection learns it is waiting (a client says so to its user).
		conn.SetWriteDeadline(time.Now().Add(time.Second))
		writeReply(conn, proto.Reply{Code: proto.CodeQueued, Msg: "waiting for a free server slot"})
	}
}

// refuse sends a 421 reply in plain text and closes conn.
func (s *Server) refuse(conn net.Conn, msg string) {
	conn.SetWriteDeadline(time.Now().Add(time.Second))
	writeReply(conn, proto.Reply{Code: proto.CodeUnavailable, Msg: msg})
	conn.Close()
}

// writeReply writes one reply frame directly to w.
func writeReply(w net.Conn, r proto.Reply) error {
	pw := proto.NewWriter(w)
	if err := pw.WriteJSON(proto.TypeReply, r); err != nil {
		return err
	}
	return pw.Flush()
}

// dispatch hands queued connections to workers: a connection leaves the queue only when a worker
// is free for it, so Submit waits at most for a finishing worker to return itself to the pool.
func (s *Server) dispatch() {
	defer close(s.idle)
	for {
		w := s.q.next(s.done)
		if w == nil {
			return
		}
		w.timer.Stop()
		s.wg.Add(1)
		if err := s.pool.Submit(func() { s.work(w) }); err != nil {
			s.wg.Done()
			s.q.release()
			s.refuse(w.conn, "server busy, try again later")
		}
	}
}

// work serves one connection on a pool worker and always gives the worker back.
func (s *Server) work(w *waiter) {
	<-w.said // the queue notice, if any, goes out before the greeting
	conn := w.conn
	defer func() {
		s.q.release()
		s.wg.Done()
	}()
	sess := newSession(s, conn)
	if !s.addSession(sess) {
		s.refuse(conn, "server shutting down")
		return
	}
	defer s.removeSession(sess)
	sess.serve()
}

func (s *Server) addSession(sess *session) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing.Load() {
		return false
	}
	s.sessions[sess] = struct{}{}
	return true
}

func (s *Server) removeSession(sess *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.sessions, sess)
}

// Shutdown stops the server gracefully: it closes the listeners, tells every queued connection
// "server shutting down", interrupts idle sessions and lets busy ones finish their current
// command, then waits for all sessions to end. If ctx ends first, the remaining connections are
// closed and ctx.Err() is returned at once, without waiting for sessions that are stuck outside
// the network (a hung disk write ends on its own). The worker pool is released either way.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	first := !s.closing.Swap(true)
	if first {
		close(s.done)
	}
	for l := range s.listeners {
		l.Close()
	}
	sessions := make([]*session, 0, len(s.sessions))
	for sess := range s.sessions {
		sessions = append(sessions, sess)
	}
	s.mu.Unlock()
	for _, w := range s.q.drain() {
		w.timer.Stop()
		s.refuse(w.conn, "server shutting down")
	}
	for _, sess := range sessions {
		sess.stop()
	}
	finished := make(chan struct{})
	go func() {
		<-s.idle // no session starts after this
		s.wg.Wait()
		close(finished)
	}()
	var err error
	select {
	case <-finished:
	case <-ctx.Done():
		err = ctx.Err()
		s.closeAll()
	}
	s.pool.Release()
	return err
}

// closeAll closes every session's connection: the end of a graceful shutdown that ran out of time.
// It closes the TCP connection, not the TLS one, whose Close would first try to send a close_notify
// to a client that may not be reading.
func (s *Server) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for sess := range s.sessions {
		sess.raw.Close()
	}
}

// waiter is a connection in the queue.
type waiter struct {
	conn  net.Conn
	timer *time.Timer
	said  chan struct{} // closed once enqueue is done writing to conn
}

// slots is the bounded queue in front of the worker pool. A connection may wait when all workers
// are busy, up to capacity waiting; it leaves the queue when a worker is free for it, or when it
// expires.
type slots struct {
	mu       sync.Mutex
	items    []*waiter
	assigned int // connections handed to workers and not finished
	pool     int
	capacity int
	closed   bool          // set by drain: nothing more is queued
	wake     chan struct{} // has a token when next may find work
}

func newSlots(pool, capacity int) *slots {
	return &slots{pool: pool, capacity: capacity, wake: make(chan struct{}, 1)}
}

func (q *slots) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// push adds w unless the queue was drained or as many connections as the free workers plus the
// queue size are already waiting. wait reports whether w will have to wait for a worker.
func (q *slots) push(w *waiter) (ok, wait bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	free := q.pool - q.assigned
	if q.closed || len(q.items) >= q.capacity+free {
		return false, false
	}
	q.items = append(q.items, w)
	q.signal()
	return true, len(q.items) > free
}

// next waits for a free worker and a waiting connection, assigns them, and returns the
// connection; nil when done closes.
func (q *slots) next(done <-chan struct{}) *waiter {
	for {
		q.mu.Lock()
		if q.assigned < q.pool && len(q.items) > 0 {
			w := q.items[0]
			q.items[0] = nil
			q.items = q.items[1:]
			q.assigned++
			q.mu.Unlock()
			return w
		}
		q.mu.Unlock()
		select {
		case <-q.wake:
		case <-done:
			return nil
		}
	}
}

// release frees the worker of a finished connection.
func (q *slots) release() {
	q.mu.Lock()
	q.assigned--
	q.mu.Unlock()
	q.signal()
}

// remove takes w out of the queue and reports whether it was still waiting.
func (q *slots) remove(w *waiter) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i, x := range q.items {
		if x == w {
			q.items = append(q.items[:i], q.items[i+1:]...)
			return true
		}
	}
	return false
}

// drain empties and closes the queue and returns what was in it. A connection accepted while the
// server shuts down is refused by push, rather than left waiting for a worker that never comes.
func (q *slots) drain() []*waiter {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	items := q.items
	q.items = nil
	return items
}

// counts returns the connections being served and those waiting for a worker.
func (q *slots) counts() (running, waiting int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.assigned, max(len(q.items)-(q.pool-q.assigned), 0)
}
