// Package admission is the front of myftps that every door shares: it accepts connections on any
// number of listeners, keeps each on a bounded queue until one of a fixed pool of ants workers is
// free, and hands it to the door (the protocol) that owns its listener. A door serves one
// connection; admission decides which connections get served at all.
//
// The limits hold across all doors together: PoolSize sessions at once, MaxPerAddress connections
// from one IP address, MaxStartups connections that have not logged in yet (MaxStartupsPerAddress
// of them from one address), and MaxSessionsPerAccount logged-in sessions of one account. A
// connection turned away hears why in its own protocol (Door.Refuse).
//
// Behind a TCP load balancer, the connections of TrustedProxies start with a PROXY protocol
// header (package proxyproto), read off the accept loop; from then on the connection is the
// client's that the header names, for the limits and for the doors (Conn.RemoteAddr, Conn.Addr).
//
// The lifecycle is net/http's: New starts nothing, Serve(l, door) runs an accept loop and closes l
// when it returns, Shutdown(ctx) stops accepting and waits for sessions to end, Close forces them.
package admission

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/myftp/myftp/lib/source"
	"github.com/panjf2000/ants/v2"
)

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = errors.New("admission: server closed")

// A Door serves the connections of one protocol.
type Door interface {
	// ServeConn serves c on a pool worker and returns when the session is over; c is closed
	// afterwards if the door has not closed it. ctx is cancelled when the server shuts down: the
	// door should then end the session as soon as its current command is done.
	ServeConn(ctx context.Context, c *Conn)
	// Refuse tells a connection that is turned away why, in the door's protocol (msg is a short
	// sentence such as "server busy, try again later"). It must not block: the write deadline is
	// already set. The connection is closed afterwards.
	Refuse(c net.Conn, msg string)
}

// A Notifier is a Door that can tell a connection that it waits in the queue for a worker.
type Notifier interface {
	// Waiting writes the notice to c; the write deadline is already set.
	Waiting(c net.Conn)
}

// Config is the admission policy. Zero means "no limit" for the Max fields and for LoginTimeout;
// PoolSize must be at least 1, and QueueTimeout must be positive when QueueSize is.
type Config struct {
	// PoolSize is the number of workers: the most connections served at once, all doors together.
	PoolSize int
	// QueueSize is the most connections that may wait for a worker; 0 means no waiting.
	QueueSize int
	// QueueTimeout is how long a connection may wait; then it is told the server is busy.
	QueueTimeout time.Duration
	// MaxPerAddress is the most connections (waiting or served) from one source: an IPv4
	// address, or an IPv6 prefix of IPv6Prefix bits.
	MaxPerAddress int
	// IPv6Prefix is how many leading bits of an IPv6 address name its source for MaxPerAddress and
	// MaxStartupsPerAddress (package source); 0 means source.DefaultIPv6Prefix, 128 each address.
	IPv6Prefix int
	// MaxStartups is the most connections that have not logged in yet (waiting or served), from
	// all addresses together; more are refused at once, as OpenSSH's MaxStartups does.
	MaxStartups int
	// MaxStartupsPerAddress is the most connections that have not logged in yet from one address.
	MaxStartupsPerAddress int
	// MaxSessionsPerAccount is the most logged-in sessions of one account; Conn.Login refuses more.
	MaxSessionsPerAccount int
	// LoginTimeout is how long a connection may hold a worker without logging in. The door
	// should end the session itself at Conn.LoginDeadline (with a word to the client); one second
	// later admission closes the connection whatever the door does.
	LoginTimeout time.Duration
	// TrustedProxies are the addresses of the load balancers whose connections start with a
	// PROXY protocol header, version 1 or 2; each such connection is then the client's that the
	// header names (the proxy's own, for a header without addresses: a health check), and one
	// without a valid header is closed. A connection from any other address is served as it is:
	// a PROXY header from it is data to its door. Empty: no proxy is trusted.
	TrustedProxies []netip.Prefix
	// ProxyHeaderTimeout is how long a trusted proxy's connection may take to send its header;
	// it must be positive when TrustedProxies is set. The connections waiting for their header
	// count among those not logged in (MaxStartups), and at most 1024 wait at once.
	ProxyHeaderTimeout time.Duration
	// Log receives refusals and forced closes; nil discards them.
	Log *slog.Logger
}

// Stats is a snapshot of the load.
type Stats struct {
	PoolSize    int // workers: the most sessions served at once
	QueueSize   int // the most connections that may wait
	Running     int // connections being served
	Waiting     int // connections waiting for a worker
	NotLoggedIn int // connections, waiting or served, that have not logged in
}

// Server is the accept machinery. Create it with New; it is safe for concurrent use.
type Server struct {
	cfg    Config
	q      *queue
	limits *limits
	ctx    context.Context // cancelled by Shutdown and Close: doors wind down
	cancel context.CancelFunc

	start sync.Once
	pool  *ants.Pool    // made by the first Serve
	idle  chan struct{} // closed when dispatch has returned (or never started)

	lingering chan struct{} // refused connections being drained (see linger)

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*Conn]struct{}    // connections handed to a door
	headers   map[net.Conn]struct{} // trusted proxies' connections whose header is being read
	closing   atomic.Bool
	done      chan struct{} // closed when closing begins
	wg        sync.WaitGroup
}

// New returns a Server with the policy cfg. Nothing starts until Serve.
func New(cfg Config) (*Server, error) {
	if cfg.PoolSize < 1 {
		return nil, fmt.Errorf("admission: pool size %d: want at least 1", cfg.PoolSize)
	}
	if cfg.QueueSize > 0 && cfg.QueueTimeout <= 0 {
		return nil, errors.New("admission: a queue needs a positive queue timeout")
	}
	if len(cfg.TrustedProxies) > 0 && cfg.ProxyHeaderTimeout <= 0 {
		return nil, errors.New("admission: trusted proxies need a positive header timeout")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{
		cfg:       cfg,
		q:         newQueue(cfg.PoolSize, max(cfg.QueueSize, 0)),
		limits:    newLimits(cfg),
		ctx:       ctx,
		cancel:    cancel,
		idle:      make(chan struct{}),
		lingering: make(chan struct{}, maxLingering),
		listeners: map[net.Listener]struct{}{},
		conns:     map[*Conn]struct{}{},
		headers:   map[net.Conn]struct{}{},
		done:      make(chan struct{}),
	}, nil
}

// Stats returns the current load.
func (s *Server) Stats() Stats {
	running, waiting := s.q.counts()
	return Stats{PoolSize: s.cfg.PoolSize, QueueSize: s.cfg.QueueSize, Running: running, Waiting: waiting,
		NotLoggedIn: s.limits.notLoggedIn()}
}

// Serve accepts connections on l until Shutdown or Close and hands each admitted one to door.
// It closes l when it returns, and always returns a non-nil error: ErrServerClosed after Shutdown
// or Close. Temporary accept errors are retried after a delay growing from 5 ms to 1 s. Serve
// may run on several listeners at once, with the same or different doors.
func (s *Server) Serve(l net.Listener, door Door) error {
	defer l.Close()
	if !s.track(l) {
		return ErrServerClosed
	}
	defer s.untrack(l)
	s.start.Do(s.run)
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
			return fmt.Errorf("admission: accept: %w", err)
		}
		backoff = 0
		if s.trusted(conn) {
			s.acceptProxied(conn, door)
			continue
		}
		s.enqueue(conn, door, false)
	}
}

// run makes the worker pool and starts the dispatcher; once, from the first Serve.
func (s *Server) run() {
	pool, err := ants.NewPool(s.cfg.PoolSize, ants.WithLogger(antsLogger{s.cfg.Log}))
	if err != nil { // only for a size below 1, which New refused
		panic(fmt.Sprintf("admission: worker pool: %v", err))
	}
	s.pool = pool
	go s.dispatch()
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

// enqueue admits a new connection and puts it on the queue, or turns it away at once. It never
// blocks: the only writes are short replies into a fresh socket's empty send buffer. held says
// the connection is counted already, without its address (see acceptProxied).
func (s *Server) enqueue(raw net.Conn, door Door, held bool) {
	c, why := s.admit(raw, door, held)
	if c == nil {
		s.cfg.Log.Info("connection refused", "remote", raw.RemoteAddr().String(), "reason", why)
		s.refuse(raw, door, why)
		return
	}
	w := &waiter{c: c, door: door, said: make(chan struct{})}
	defer close(w.said)
	// The timer exists before the waiter can be taken, so that next's caller can always stop it.
	if s.cfg.QueueTimeout > 0 {
		w.timer = time.AfterFunc(s.cfg.QueueTimeout, func() {
			if s.q.remove(w) {
				s.cfg.Log.Info("connection refused", "remote", raw.RemoteAddr().String(), "reason", "queue timeout")
				s.refuse(c, door, msgBusy)
			}
		})
	}
	ok, wait := s.q.push(w)
	if !ok {
		w.stopTimer()
		msg := msgBusy
		if s.closing.Load() { // accepted as Shutdown began: the queue is closed
			msg = msgShuttingDown
		}
		s.cfg.Log.Info("connection refused", "remote", raw.RemoteAddr().String(), "reason", msg)
		s.refuse(c, door, msg)
		return
	}
	if n, ok := door.(Notifier); ok && wait {
		// Best effort: the connection learns it is waiting (a client says so to its user).
		raw.SetWriteDeadline(time.Now().Add(time.Second))
		n.Waiting(raw)
		raw.SetWriteDeadline(time.Time{})
	}
}

// Reasons for turning a connection away, as the client hears them.
const (
	msgBusy         = "server busy, try again later"
	msgShuttingDown = "server shutting down"
)

// admit counts raw against the limits and returns it as a *Conn, or nil and the reason.
func (s *Server) admit(raw net.Conn, door Door, held bool) (*Conn, string) {
	addr := remoteIP(raw)
	src := source.Of(addr, cmp.Or(s.cfg.IPv6Prefix, source.DefaultIPv6Prefix))
	if why := s.limits.admit(src, held); why != "" {
		return nil, why
	}
	return &Conn{Conn: raw, srv: s, addr: addr, src: src, door: door, done: make(chan struct{})}, ""
}

// refuse tells conn msg in the door's protocol and closes it.
func (s *Server) refuse(conn net.Conn, door Door, msg string) {
	conn.SetWriteDeadline(time.Now().Add(time.Second))
	door.Refuse(conn, msg)
	if c, ok := conn.(*Conn); ok {
		c.release() // the refused connection no longer counts, while it lingers
		conn = c.Conn
	}
	s.linger(conn)
}

// lingerFor bounds how long a refused connection is drained before it is closed, and
// maxLingering how many are at once (beyond, they are closed at once).
const (
	lingerFor    = time.Second
	maxLingering = 64
)

// linger closes a refused connection gently: it ends the sending side, so that the refusal is
// followed by a FIN, then reads what the client sent (an SSH client's version line, a request)
// until the client closes or lingerFor passes, and closes. Closing at once with unread data would
// send a reset, which can make the client lose the refusal it had not read yet.
func (s *Server) linger(conn net.Conn) {
	hc, ok := conn.(interface{ CloseWrite() error })
	if !ok {
		conn.Close()
		return
	}
	select {
	case s.lingering <- struct{}{}:
	default:
		conn.Close()
		return
	}
	hc.CloseWrite()
	go func() {
		defer func() { <-s.lingering }()
		defer conn.Close()
		conn.SetReadDeadline(time.Now().Add(lingerFor))
		io.Copy(io.Discard, io.LimitReader(conn, 64<<10))
	}()
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
		w.stopTimer()
		s.wg.Add(1)
		if err := s.pool.Submit(func() { s.work(w) }); err != nil {
			s.wg.Done()
			s.q.release()
			s.refuse(w.c, w.door, msgBusy)
		}
	}
}

// work serves one connection on a pool worker and always gives the worker back.
func (s *Server) work(w *waiter) {
	<-w.said // the queue notice, if any, goes out before the door's first word
	c := w.c
	defer func() {
		if p := recover(); p != nil {
			s.cfg.Log.Error("panic in a door; connection closed", "remote", c.RemoteAddr().String(), "panic", p)
		}
		c.Close()
		s.q.release()
		s.wg.Done()
	}()
	if !s.addConn(c) {
		s.refuse(c, w.door, msgShuttingDown)
		return
	}
	defer s.removeConn(c)
	c.startLoginClock(s.cfg.LoginTimeout)
	w.door.ServeConn(s.ctx, c)
}

func (s *Server) addConn(c *Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing.Load() {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) removeConn(c *Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
}

// Shutdown stops the server gracefully: it closes the listeners, tells every queued connection
// "server shutting down", cancels the context of every session (each door then ends its sessions
// once their current command is done) and waits for them to end. If ctx ends first, the remaining
// connections are closed and ctx.Err() is returned at once, without waiting for sessions stuck
// outside the network (a hung disk write ends on its own). The worker pool is released either way.
func (s *Server) Shutdown(ctx context.Context) error {
	s.beginClose()
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
		s.closeConns()
	}
	s.releasePool()
	return err
}

// Close stops the server at once: listeners and every connection are closed, queued ones after
// a "server shutting down". It does not wait for the doors to return.
func (s *Server) Close() error {
	s.beginClose()
	s.closeConns()
	s.releasePool()
	return nil
}

// beginClose stops accepting, empties the queue and cancels the sessions' context.
func (s *Server) beginClose() {
	s.mu.Lock()
	if !s.closing.Swap(true) {
		close(s.done)
	}
	for l := range s.listeners {
		l.Close()
	}
	for c := range s.headers {
		c.SetReadDeadline(time.Now()) // the header read ends, and its connection is closed
	}
	s.mu.Unlock()
	s.start.Do(func() { close(s.idle) }) // never served: there is no dispatcher to wait for
	for _, w := range s.q.drain() {
		w.stopTimer()
		s.refuse(w.c, w.door, msgShuttingDown)
	}
	s.cancel()
}

// closeConns closes every served connection: the TCP connection, not a TLS one over it, whose
// Close would first try to send a close_notify to a client that may not be reading.
func (s *Server) closeConns() {
	s.mu.Lock()
	conns := make([]*Conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

func (s *Server) releasePool() {
	if s.pool != nil { // set in start, which beginClose has settled
		s.pool.Release()
	}
}

// antsLogger sends the pool's own messages (a panic in a task) to the event log.
type antsLogger struct{ log *slog.Logger }

func (l antsLogger) Printf(format string, args ...any) {
	l.log.Error("worker pool: " + fmt.Sprintf(format, args...))
}
