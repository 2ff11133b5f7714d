package admission_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/myftp/myftp/core/admission"
)

// lineDoor is a door with a line protocol: it greets with "hello", answers "login NAME" with "ok"
// or "refused: ERR", "addr" with the connection's RemoteAddr and Addr, anything else with
// "unknown LINE", ends at "quit" or when the server shuts down ("bye"), and says "refused: MSG"
// or "waiting" for admission.
type lineDoor struct {
	ignoreDeadline bool // do not end the session at the login deadline (admission must)
}

func (d lineDoor) Refuse(c net.Conn, msg string) { fmt.Fprintf(c, "refused: %s\n", msg) }
func (d lineDoor) Waiting(c net.Conn)            { fmt.Fprintln(c, "waiting") }

func (d lineDoor) ServeConn(ctx context.Context, c *admission.Conn) {
	stop := context.AfterFunc(ctx, func() { c.SetReadDeadline(time.Now()) })
	defer stop()
	if dl := c.LoginDeadline(); !dl.IsZero() && !d.ignoreDeadline {
		c.SetReadDeadline(dl)
	}
	fmt.Fprintln(c, "hello")
	r := bufio.NewScanner(c)
	for r.Scan() {
		name, ok := strings.CutPrefix(r.Text(), "login ")
		switch {
		case r.Text() == "quit":
			return
		case r.Text() == "addr":
			fmt.Fprintln(c, c.RemoteAddr(), c.Addr())
		case ok:
			if err := c.Login(name); err != nil {
				fmt.Fprintf(c, "refused: %v\n", err)
				continue
			}
			c.SetReadDeadline(time.Time{})
			fmt.Fprintln(c, "ok")
		default:
			fmt.Fprintf(c, "unknown %q\n", r.Text())
		}
	}
	if ctx.Err() != nil {
		fmt.Fprintln(c, "bye")
	}
}

type lineClient struct {
	net.Conn
	r *bufio.Reader
}

func dial(t *testing.T, addr string) *lineClient {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(20 * time.Second))
	return &lineClient{Conn: c, r: bufio.NewReader(c)}
}

// line reads the next line, or returns "EOF" when the server closed the connection.
func (c *lineClient) line(t *testing.T) string {
	t.Helper()
	s, err := c.r.ReadString('\n')
	if err != nil && s == "" {
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatal("no line from the server in 20 s")
		}
		return "EOF"
	}
	return strings.TrimSuffix(s, "\n")
}

func (c *lineClient) expect(t *testing.T, want string) {
	t.Helper()
	if got := c.line(t); got != want {
		t.Fatalf("server said %q, want %q", got, want)
	}
}

func start(t *testing.T, cfg admission.Config, door admission.Door) (*admission.Server, string) {
	t.Helper()
	s, err := admission.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(l, door) }()
	t.Cleanup(func() {
		s.Close()
		if err := <-served; !errors.Is(err, admission.ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return s, l.Addr().String()
}

func waitStats(t *testing.T, s *admission.Server, what string, cond func(admission.Stats) bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(s.Stats()); {
		if time.Now().After(deadline) {
			t.Fatalf("%s: stats %+v", what, s.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestQueueAndPool: with one worker and room for one waiting connection, the second connection is
// told it waits and is served when the first ends; a third is refused at once.
func TestQueueAndPool(t *testing.T) {
	t.Parallel()
	s, addr := start(t, admission.Config{PoolSize: 1, QueueSize: 1, QueueTimeout: time.Minute}, lineDoor{})
	first := dial(t, addr)
	first.expect(t, "hello")
	second := dial(t, addr)
	second.expect(t, "waiting")
	third := dial(t, addr)
	third.expect(t, "refused: server busy, try again later")
	third.expect(t, "EOF")
	if st := s.Stats(); st.Running != 1 || st.Waiting != 1 || st.NotLoggedIn != 2 {
		t.Fatalf("stats %+v, want 1 running, 1 waiting, 2 not logged in", st)
	}
	fmt.Fprintln(first, "quit")
	second.expect(t, "hello")
}

// TestLoginDeadline: a connection that does not log in is closed by its door at the deadline, or
// by admission just after it when the door ignores the deadline; a logged-in one stays.
func TestLoginDeadline(t *testing.T) {
	t.Parallel()
	for _, door := range []lineDoor{{}, {ignoreDeadline: true}} {
		s, addr := start(t, admission.Config{PoolSize: 4, LoginTimeout: 200 * time.Millisecond}, door)
		silent := dial(t, addr)
		silent.expect(t, "hello")
		user := dial(t, addr)
		user.expect(t, "hello")
		fmt.Fprintln(user, "login alice")
		user.expect(t, "ok")
		silent.expect(t, "EOF")
		waitStats(t, s, "the silent connection gone", func(st admission.Stats) bool { return st.Running == 1 && st.NotLoggedIn == 0 })
		fmt.Fprintln(user, "quit")
		user.expect(t, "EOF")
	}
}

// TestSessionsPerAccount: the limit holds across listeners (doors) of one server.
func TestSessionsPerAccount(t *testing.T) {
	t.Parallel()
	s, addr := start(t, admission.Config{PoolSize: 4, MaxSessionsPerAccount: 1}, lineDoor{})
	l2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(l2, lineDoor{})
	a := dial(t, addr)
	a.expect(t, "hello")
	fmt.Fprintln(a, "login alice")
	a.expect(t, "ok")
	b := dial(t, l2.Addr().String())
	b.expect(t, "hello")
	fmt.Fprintln(b, "login alice")
	b.expect(t, "refused: too many sessions of account alice: the limit is 1")
	fmt.Fprintln(a, "quit")
	a.expect(t, "EOF")
	waitStats(t, s, "alice's session gone", func(st admission.Stats) bool { return st.Running == 1 })
	fmt.Fprintln(b, "login alice")
	b.expect(t, "ok")
}

// TestShutdown: queued connections are told, sessions see their context end and finish, Serve
// returns ErrServerClosed having closed its listener, and a later Serve closes its listener too.
func TestShutdown(t *testing.T) {
	t.Parallel()
	s, err := admission.New(admission.Config{PoolSize: 1, QueueSize: 1, QueueTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(l, lineDoor{}) }()
	busy := dial(t, l.Addr().String())
	busy.expect(t, "hello")
	queued := dial(t, l.Addr().String())
	queued.expect(t, "waiting")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	queued.expect(t, "refused: server shutting down")
	busy.expect(t, "bye")
	if err := <-served; !errors.Is(err, admission.ErrServerClosed) {
		t.Fatalf("Serve: %v", err)
	}
	if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("the listener is open after Serve returned: %v", err)
	}
	l2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Serve(l2, lineDoor{}); !errors.Is(err, admission.ErrServerClosed) {
		t.Fatalf("Serve after Shutdown: %v", err)
	}
	if _, err := l2.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Serve after Shutdown left its listener open: %v", err)
	}
}

// TestShutdownNeverServed: a server that never served shuts down at once.
func TestShutdownNeverServed(t *testing.T) {
	t.Parallel()
	s, err := admission.New(admission.Config{PoolSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// stuckDoor never returns on its own: only closing the connection ends it.
type stuckDoor struct{ lineDoor }

func (stuckDoor) ServeConn(ctx context.Context, c *admission.Conn) {
	fmt.Fprintln(c, "hello")
	<-c.Done()
}

// TestShutdownDeadlineCloses: when ctx ends first, Shutdown closes the connections and returns
// ctx's error.
func TestShutdownDeadlineCloses(t *testing.T) {
	t.Parallel()
	s, addr := start(t, admission.Config{PoolSize: 1}, stuckDoor{})
	c := dial(t, addr)
	c.expect(t, "hello")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: %v, want the context's error", err)
	}
	c.expect(t, "EOF")
}

func TestNewRefusesBadConfig(t *testing.T) {
	t.Parallel()
	for _, cfg := range []admission.Config{{}, {PoolSize: 1, QueueSize: 2}} {
		if _, err := admission.New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
}

// slowRefuser is a door whose refusal, once written, waits for the client's first byte (and reads
// only that one): the connection is then closed with the rest of what the client sent unread.
type slowRefuser struct {
	lineDoor
	refusing chan struct{}
}

func (d slowRefuser) Refuse(c net.Conn, msg string) {
	d.lineDoor.Refuse(c, msg)
	d.refusing <- struct{}{}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	c.Read(make([]byte, 1))
}

// TestRefusalNotLostToReset: a client that sends before it reads (an SSH client sends its version
// line at once) reads why it was refused and then a clean end of the connection: the server
// drains what it sent instead of closing with it unread, which sends a reset (OpenSSH then says
// "Connection reset by peer" and does not show the refusal).
func TestRefusalNotLostToReset(t *testing.T) {
	t.Parallel()
	door := slowRefuser{refusing: make(chan struct{})}
	_, addr := start(t, admission.Config{PoolSize: 4, MaxPerAddress: 1}, door)
	first := dial(t, addr)
	first.expect(t, "hello")
	c := dial(t, addr)
	<-door.refusing
	if _, err := c.Write(make([]byte, 32<<10)); err != nil {
		t.Fatalf("write before reading: %v", err)
	}
	c.expect(t, "refused: too many connections from 127.0.0.1: the limit is 1")
	if _, err := c.r.ReadByte(); !errors.Is(err, io.EOF) {
		t.Fatalf("after the refusal: %v, want the server's FIN (io.EOF), not a reset", err)
	}
}
