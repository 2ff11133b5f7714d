package server_test

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/myftp/myftp/core/admission"

	"github.com/myftp/myftp/core/auth"
	"github.com/myftp/myftp/core/door"
	"github.com/myftp/myftp/core/server"
	"github.com/myftp/myftp/core/server/servertest"
	"github.com/myftp/myftp/lib/account"
	"github.com/myftp/myftp/lib/client"
	"github.com/myftp/myftp/lib/db"
	"github.com/myftp/myftp/lib/homefs"
	"github.com/myftp/myftp/lib/proto"
)

type dialResult struct {
	c   *client.Client
	err error
}

// dialQueued dials in the background with a Notify that feeds notes; the result arrives on the
// returned channel (take it with dialed).
func dialQueued(t *testing.T, e *servertest.Env, notes chan<- string) <-chan dialResult {
	return dialQueuedWith(t, e.ClientConfig(), notes)
}

// dialQueuedWith is dialQueued with a given client configuration.
func dialQueuedWith(t *testing.T, cfg client.Config, notes chan<- string) <-chan dialResult {
	cfg.Notify = func(msg string) { notes <- msg }
	res := make(chan dialResult, 1)
	go func() {
		c, err := client.Dial(context.Background(), cfg)
		res <- dialResult{c, err}
	}()
	t.Cleanup(func() { // a result nobody took
		select {
		case r := <-res:
			if r.c != nil {
				r.c.Close()
			}
		default:
		}
	})
	return res
}

// dialed takes the result of dialQueued, failing the test after 20 s. A client that connected is
// closed when the test ends.
func dialed(t *testing.T, ch <-chan dialResult) dialResult {
	t.Helper()
	r := servertest.Await(t, "queued dial", ch)
	if r.c != nil {
		t.Cleanup(func() { r.c.Close() })
	}
	return r
}

// TestPoolQueueAndBusy: with a pool of two workers and room for one waiting connection, a third
// connection waits (its client is told so) and is served as soon as a session ends; a fourth is
// turned away at once with "server busy".
func TestPoolQueueAndBusy(t *testing.T) {
	t.Parallel()
	e := servertest.Start(t, servertest.Options{Admission: admission.Config{PoolSize: 2, QueueSize: 1, QueueTimeout: time.Minute}})
	e.AddUser("bob", "bob-pw", 0)
	c1 := loginWith(t, e.ClientConfig(), "bob", "bob-pw")
	loginWith(t, e.ClientConfig(), "bob", "bob-pw")
	if st := e.Server.Stats(); st.Running != 2 || st.Waiting != 0 || st.PoolSize != 2 || st.QueueSize != 1 {
		t.Fatalf("two sessions: stats %+v", st)
	}

	notes := make(chan string, 10)
	third := dialQueued(t, e, notes)
	if msg := servertest.Await(t, "the third client's notice", notes); msg != "waiting for a free server slot..." {
		t.Fatalf("third client told %q, want the waiting notice", msg)
	}
	servertest.Eventually(t, "one connection waiting", func() bool { return e.Server.Stats().Waiting == 1 })

	start := time.Now()
	_, err := client.Dial(context.Background(), e.ClientConfig())
	if !errors.Is(err, client.ErrBusy) || !strings.Contains(err.Error(), "server busy") {
		t.Fatalf("fourth connection: %v, want ErrBusy", err)
	}
	if el := time.Since(start); el > 10*time.Second {
		t.Fatalf("fourth connection refused after %v, not at once", el)
	}
	select {
	case r := <-third:
		t.Fatalf("third connection served (%v) while both workers are busy", r.err)
	default:
	}
	if st := e.Server.Stats(); st.Running != 2 || st.Waiting != 1 {
		t.Fatalf("after the refusal: stats %+v, want 2 running, 1 waiting", st)
	}

	c1.Close()
	r := dialed(t, third)
	if r.err != nil {
		t.Fatalf("third connection after a session ended: %v", r.err)
	}
	if err := r.c.Login("bob", "bob-pw"); err != nil {
		t.Fatalf("third connection login: %v", err)
	}
	if p, err := r.c.Pwd(); err != nil || p != "/" {
		t.Fatalf("third connection pwd: %q, %v", p, err)
	}
	if st := e.Server.Stats(); st.Running != 2 || st.Waiting != 0 {
		t.Fatalf("third served: stats %+v, want 2 running, none waiting", st)
	}
}

// loginRoom is an idle timeout short enough for a test to wait out and long enough for a login
// on a loaded machine under -race (before login, a frame must arrive within the idle timeout).
const loginRoom = time.Second

// TestPerAddressLimit: one IP address holds at most MaxPerAddress connections, waiting ones
// included. One more is refused at once with a reply that names the limit, while the queue still
// has room and another address is let in; a connection that ends makes room for exactly one.
func TestPerAddressLimit(t *testing.T) {
	t.Parallel()
	e := servertest.Start(t, servertest.Options{Admission: admission.Config{PoolSize: 1, QueueSize: 4, QueueTimeout: time.Minute, MaxPerAddress: 2}})
	e.AddUser("bob", "bob-pw", 0)
	c1 := loginWith(t, e.ClientConfig(), "bob", "bob-pw") // holds the only worker
	notes := make(chan string, 10)
	second := dialQueued(t, e, notes)
	waitNote(t, notes, "waiting for a free server slot")

	tooMany := func(when string) {
		t.Helper()
		start := time.Now()
		_, err := client.Dial(context.Background(), e.ClientConfig())
		if !errors.Is(err, client.ErrBusy) || !strings.Contains(err.Error(), "too many connections from 127.0.0.1: the limit is 2") {
			t.Fatalf("%s: a third connection from 127.0.0.1: %v, want refused for the per-address limit", when, err)
		}
		if el := time.Since(start); el > 10*time.Second {
			t.Fatalf("%s: refused after %v, not at once", when, el)
		}
	}
	tooMany("one in session, one waiting")
	if st := e.Server.Stats(); st.Running != 1 || st.Waiting != 1 {
		t.Fatalf("after the refusal: stats %+v, want 1 running, 1 waiting", st)
	}

	// Another address is not affected: it waits in the queue like anyone else.
	if l6, err := net.Listen("tcp", "[::1]:0"); err != nil {
		t.Logf("no IPv6 loopback (%v): the other-address check is skipped", err)
	} else {
		go e.Server.Serve(l6, e.Native) // Shutdown closes it
		cfg := e.ClientConfig()
		cfg.Addr = l6.Addr().String()
		dialQueuedWith(t, cfg, notes)
		waitNote(t, notes, "waiting for a free server slot")
	}

	// When the session ends, the waiting connection from 127.0.0.1 is served; the address holds
	// one connection again, so one more is let in (it waits) and the next is refused.
	c1.Close()
	if r := dialed(t, second); r.err != nil {
		t.Fatalf("the waiting connection after the session ended: %v", r.err)
	}
	dialQueued(t, e, notes)
	waitNote(t, notes, "waiting for a free server slot")
	tooMany("a session ended, one more let in")
}

// TestIdleTimeoutFreesSlot: a session that sends nothing for idle_timeout is closed with a 421,
// and its worker serves the connection that was waiting.
func TestIdleTimeoutFreesSlot(t *testing.T) {
	t.Parallel()
	const idle = loginRoom
	e := servertest.Start(t, servertest.Options{Config: server.Config{IdleTimeout: idle}, Admission: admission.Config{PoolSize: 1, QueueSize: 1}})
	e.AddUser("bob", "bob-pw", 0)
	c1 := e.Dial()
	start := time.Now() // the idle time starts after the login reply, so after this
	if err := c1.Login("bob", "bob-pw"); err != nil {
		t.Fatal(err)
	}
	notes := make(chan string, 10)
	second := dialQueued(t, e, notes)
	waitNote(t, notes, "waiting for a free server slot")

	r := dialed(t, second)
	if r.err != nil {
		t.Fatalf("waiting connection: %v, want it served once the idle session was dropped", r.err)
	}
	if el := time.Since(start); el < idle {
		t.Fatalf("waiting connection served after %v, before the idle session's %v ran out", el, idle)
	}
	if err := r.c.Login("bob", "bob-pw"); err != nil {
		t.Fatalf("login on the freed worker: %v", err)
	}
	err := c1.Noop()
	if !errors.Is(err, client.ErrClosed) {
		t.Fatalf("idle client: %v, want the connection closed", err)
	}
	wantReply(t, "idle client", err, proto.CodeUnavailable, "idle timeout")
}

// TestIdleAndLoginTimeoutReplies reads the server's goodbye on raw connections: 421 idle timeout
// after idle_timeout of silence, 421 login timeout for a connection that does not log in, even if
// it keeps sending other requests.
func TestIdleAndLoginTimeoutReplies(t *testing.T) {
	t.Parallel()
	t.Run("idle", func(t *testing.T) {
		t.Parallel()
		const idle = loginRoom
		e := servertest.Start(t, servertest.Options{Plain: true, Config: server.Config{IdleTimeout: idle}})
		e.AddUser("bob", "bob-pw", 0)
		w := dialRaw(t, e.Addr)
		start := time.Now()
		w.login("bob", "bob-pw")
		w.expect(proto.CodeUnavailable, "idle timeout; closing the session")
		if el := time.Since(start); el < idle {
			t.Fatalf("closed after %v of silence, want at least %v", el, idle)
		}
		w.expectClosed()
		waitRunning(t, e, 0)
	})
	t.Run("silent before login", func(t *testing.T) {
		t.Parallel()
		const idle = 300 * time.Millisecond
		e := servertest.Start(t, servertest.Options{Plain: true, Config: server.Config{IdleTimeout: idle}})
		start := time.Now()
		w := dialRaw(t, e.Addr)
		w.expect(proto.CodeUnavailable, "login timeout; closing the session")
		if el := time.Since(start); el < idle {
			t.Fatalf("closed after %v, want at least %v", el, idle)
		}
		w.expectClosed()
	})
	t.Run("busy before login", func(t *testing.T) {
		t.Parallel()
		const login = 400 * time.Millisecond
		e := servertest.Start(t, servertest.Options{Plain: true, Config: server.Config{IdleTimeout: time.Minute}, Admission: admission.Config{LoginTimeout: login}})
		start := time.Now()
		w := dialRaw(t, e.Addr)
		for i := 0; ; i++ {
			if i == 1_000_000 || time.Since(start) > 20*time.Second {
				t.Fatal("noops before login kept the session open")
			}
			w.request(proto.Request{Op: proto.OpNoop})
			rep, err := w.next()
			if err != nil {
				t.Fatal(err)
			}
			if rep.Code == proto.CodeOK {
				continue
			}
			if rep.Code != proto.CodeUnavailable || !strings.Contains(rep.Msg, "login timeout") {
				t.Fatalf("reply %d %q, want 200 or 421 login timeout", rep.Code, rep.Msg)
			}
			break
		}
		if el := time.Since(start); el < login {
			t.Fatalf("login timeout after %v, want at least %v", el, login)
		}
		w.expectClosed()
	})
}

// TestQueueTimeout: a connection that waits longer than queue_timeout is told "server busy".
func TestQueueTimeout(t *testing.T) {
	t.Parallel()
	const wait = 300 * time.Millisecond
	e := servertest.Start(t, servertest.Options{Admission: admission.Config{PoolSize: 1, QueueSize: 1, QueueTimeout: wait}})
	e.AddUser("bob", "bob-pw", 0)
	c1 := e.Dial()
	notes := make(chan string, 10)
	start := time.Now()
	second := dialQueued(t, e, notes)
	waitNote(t, notes, "waiting for a free server slot")
	r := dialed(t, second)
	if !errors.Is(r.err, client.ErrBusy) || !strings.Contains(r.err.Error(), "server busy") {
		t.Fatalf("queued connection: %v, want ErrBusy after the queue timeout", r.err)
	}
	if el := time.Since(start); el < wait {
		t.Fatalf("refused after %v, before the %v queue timeout", el, wait)
	}
	if st := e.Server.Stats(); st.Waiting != 0 || st.Running != 1 {
		t.Fatalf("after the queue timeout: stats %+v, want 1 running, none waiting", st)
	}
	if err := c1.Login("bob", "bob-pw"); err != nil {
		t.Fatalf("the served session after the queue timeout: %v", err)
	}
}

// TestShutdownIdleAndQueued: Shutdown tells an idle session and a queued connection that the
// server is shutting down, returns nil once they are gone, and no new connection is accepted.
func TestShutdownIdleAndQueued(t *testing.T) {
	t.Parallel()
	e := servertest.Start(t, servertest.Options{Plain: true, Admission: admission.Config{PoolSize: 1, QueueSize: 1}})
	e.AddUser("bob", "bob-pw", 0)
	w := dialRaw(t, e.Addr)
	w.login("bob", "bob-pw")

	notes := make(chan string, 10)
	cfg := e.ClientConfig()
	cfg.Notify = func(msg string) { notes <- msg }
	dialed := make(chan error, 1)
	go func() {
		c, err := client.Dial(context.Background(), cfg)
		if err == nil {
			c.Close()
		}
		dialed <- err
	}()
	waitNote(t, notes, "waiting for a free server slot")

	shut := make(chan error, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	go func() { shut <- e.Server.Shutdown(ctx) }()

	w.expect(proto.CodeUnavailable, "server shutting down")
	w.expectClosed()
	err := servertest.Await(t, "queued dial", dialed)
	if !errors.Is(err, client.ErrBusy) || !strings.Contains(err.Error(), "server shutting down") {
		t.Fatalf("queued connection: %v, want busy: server shutting down", err)
	}
	if err := servertest.Await(t, "Shutdown", shut); err != nil {
		t.Fatalf("Shutdown = %v, want nil", err)
	}
	if st := e.Server.Stats(); st.Running != 0 || st.Waiting != 0 {
		t.Fatalf("after Shutdown: %+v", st)
	}
	if _, err := client.Dial(context.Background(), e.ClientConfig()); err == nil {
		t.Fatal("a connection was accepted after Shutdown")
	}
}

// TestShutdownBetweenFrames: an upload waiting for its next data frame when the server begins
// to shut down goes on, as in the other doors, so that a draining node lets its uploads finish:
// no new connection is accepted, but the rest of the data and the done are served and the file
// is stored; then the session is told the server is shutting down, and Shutdown returns.
func TestShutdownBetweenFrames(t *testing.T) {
	t.Parallel()
	e := servertest.Start(t, servertest.Options{Plain: true})
	e.AddUser("bob", "bob-pw", 0)
	w := dialRaw(t, e.Addr)
	w.login("bob", "bob-pw")
	data := []byte("0123456789abcdefghij")
	w.request(proto.Request{Op: proto.OpPut, Path: "whole.bin", Size: int64(len(data))})
	w.expect(proto.CodeSendData, "send data")
	w.frame(proto.TypeData, data[:10])
	w.expect(proto.CodeOK, "")

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- e.Server.Shutdown(ctx) }()
	servertest.Eventually(t, "the server to stop accepting", func() bool {
		c, err := net.DialTimeout("tcp", e.Addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	w.frame(proto.TypeData, data[10:])
	w.expect(proto.CodeOK, "")
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned (%v) while an upload was open", err)
	default:
	}
	w.request(proto.Request{Op: proto.OpDone, MD5: md5hex(data)})
	w.expect(proto.CodeTransferDone, "")
	w.expect(proto.CodeUnavailable, "server shutting down")
	w.expectClosed()
	if err := servertest.Await(t, "Shutdown", shut); err != nil {
		t.Fatalf("Shutdown = %v, want nil", err)
	}
	if got, err := os.ReadFile(filepath.Join(e.Home("bob"), "whole.bin")); err != nil || string(got) != string(data) {
		t.Fatalf("the upload finished during the shutdown: %q, %v; want %q", got, err, data)
	}
	if kept := partials(t, e.Home("bob")); len(kept) != 0 {
		t.Fatalf("partial uploads left: %v", kept)
	}
}

// TestShutdownSilentUpload: an upload whose client sends nothing more holds the shutdown only
// until the shutdown's deadline: then its connection is closed, and what arrived is kept for a
// resume, never stored under the file's name.
func TestShutdownSilentUpload(t *testing.T) {
	t.Parallel()
	e := servertest.Start(t, servertest.Options{Plain: true})
	e.AddUser("bob", "bob-pw", 0)
	w := dialRaw(t, e.Addr)
	w.login("bob", "bob-pw")
	w.request(proto.Request{Op: proto.OpPut, Path: "half.bin", Size: 100})
	w.expect(proto.CodeSendData, "send data")
	w.frame(proto.TypeData, []byte("0123456789"))
	w.expect(proto.CodeOK, "")

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := e.Server.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown with a silent upload open = %v, want context.DeadlineExceeded", err)
	}
	w.expectClosed()
	waitRunning(t, e, 0)
	if kept := partials(t, e.Home("bob")); len(kept) != 1 || only(kept) != 10 {
		t.Fatalf("partial uploads kept: sizes %v, want the 10 bytes received", kept)
	}
	if _, err := os.Stat(filepath.Join(e.Home("bob"), "half.bin")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("an unfinished upload was stored: %v", err)
	}
}

// waitNote waits for a client notice containing part.
func waitNote(t testing.TB, notes <-chan string, part string) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case msg := <-notes:
			if strings.Contains(msg, part) {
				return
			}
		case <-deadline:
			t.Fatalf("no client notice %q after 20s", part)
		}
	}
}

// TestShutdownStuckUpload: a session whose upload hangs on a disk write does not finish its
// command, so Shutdown gives up when its context ends: it returns the context's error at once,
// closes the connection, and the session ends when the write comes back.
func TestShutdownStuckUpload(t *testing.T) {
	t.Parallel()
	entered, release := make(chan struct{}), make(chan struct{})
	var enterOnce, releaseOnce sync.Once
	unblock := func() { releaseOnce.Do(func() { close(release) }) }
	stall := func(w io.Writer) io.Writer {
		return writeFn(func(p []byte) (int, error) {
			enterOnce.Do(func() { close(entered) })
			<-release
			return w.Write(p)
		})
	}
	e := servertest.Start(t, servertest.Options{Store: homefs.Options{WrapWriter: stall}})
	t.Cleanup(unblock) // before the server's cleanup, which runs last
	e.AddUser("bob", "bob-pw", 0)
	c := e.Login("bob", "bob-pw")
	local := writeFile(t, t.TempDir(), "big", make([]byte, 1<<20), past)
	put := make(chan error, 1)
	go func() {
		_, err := c.Put(context.Background(), local, "", client.Options{})
		put <- err
	}()
	servertest.Await(t, "the upload's first write", entered)

	start := time.Now() // before the context, whose deadline counts from its creation
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- e.Server.Shutdown(ctx) }()
	if err := servertest.Await(t, "Shutdown with a stuck session", shut); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want context.DeadlineExceeded", err)
	}
	if el := time.Since(start); el < 200*time.Millisecond {
		t.Fatalf("Shutdown gave up after %v, before its context ended", el)
	}
	if err := servertest.Await(t, "the client's put", put); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("put during a forced shutdown: %v, want the connection closed", err)
	}
	unblock()
	waitRunning(t, e, 0)
}

// boomAuth panics in Login for the account "boom", standing in for any bug in a handler.
type boomAuth struct{ door.Authenticator }

func (a boomAuth) Login(ctx context.Context, name, password, remote string) (account.Account, error) {
	if name == "boom" {
		panic("injected panic in Login")
	}
	return a.Authenticator.Login(ctx, name, password, remote)
}

// TestPanicEndsOnlyItsSession: a handler that panics ends its own session (the client gets a 421
// and the connection closes) and is logged with its stack; other sessions carry on and the worker
// is free again.
func TestPanicEndsOnlyItsSession(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	accounts, err := db.Open(filepath.Join(dir, "db"))
	if err != nil {
		t.Fatal(err)
	}
	authn, err := auth.New(auth.Config{Accounts: accounts, Params: servertest.Cheap(), MaxHashers: 2})
	if err != nil {
		t.Fatal(err)
	}
	e := servertest.Start(t, servertest.Options{Dir: dir, Config: server.Config{Services: door.Services{Auth: boomAuth{authn}}}, Admission: admission.Config{PoolSize: 2}})
	e.AddUser("bob", "bob-pw", 0)
	bob := e.Login("bob", "bob-pw")
	waitRunning(t, e, 1)

	boom := e.Dial()
	err = boom.Login("boom", "x")
	var re *proto.ReplyError
	if errors.As(err, &re) {
		if re.Code != proto.CodeUnavailable || !strings.Contains(re.Msg, "internal error") {
			t.Fatalf("reply to the panicking login: %d %q", re.Code, re.Msg)
		}
	} else if !errors.Is(err, client.ErrClosed) {
		t.Fatalf("panicking login: %v, want a 421 reply or the connection closed", err)
	}
	if err := boom.Noop(); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("noop after the panic: %v, want the connection closed", err)
	}
	waitRunning(t, e, 1)

	if p, err := bob.Pwd(); err != nil || p != "/" {
		t.Fatalf("other session after the panic: %q, %v", p, err)
	}
	// Both workers are free for sessions: the panicking one was given back.
	again := e.Login("bob", "bob-pw")
	if err := again.Noop(); err != nil {
		t.Fatal(err)
	}
	if st := e.Server.Stats(); st.Running != 2 {
		t.Fatalf("stats %+v, want 2 sessions running", st)
	}
	log, err := os.ReadFile(filepath.Join(e.Dir, "log", "myftps.log"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"panic in session", "injected panic in Login", "goroutine ", "boomAuth.Login"} {
		if !strings.Contains(string(log), want) {
			t.Errorf("event log lacks %q", want)
		}
	}
}
