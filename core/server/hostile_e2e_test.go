package server_test

// Hostile and broken clients: raw connections that send what no client would (random bytes,
// impossible sizes, half a frame, half a TLS handshake), too slowly, or nothing at all, against
// servers with short timeouts. Each must get a clear reply or a clean close within the configured
// timeouts while a normal client on the same server keeps working, and afterwards the process must
// hold no more goroutines or file descriptors than before.
//
// This file has the server, the normal client and the test; the attacks are in
// hostile_frames_e2e_test.go (what the clients send) and hostile_slow_e2e_test.go (how slowly, or
// not at all). The helpers of these files start with rel (reliability); the shared ones of the
// package are in helpers_e2e_test.go.

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/myftp/myftp/core/admission"

	"github.com/myftp/myftp/core/server"
	"github.com/myftp/myftp/core/server/servertest"
	"github.com/myftp/myftp/lib/client"
	"github.com/myftp/myftp/lib/proto"
)

// The timeouts of the servers under attack, and the slack allowed on top of them for a loaded
// 2-core CI machine running the race detector.
const (
	relIdle   = time.Second
	relLogin  = 1500 * time.Millisecond
	relMargin = 3 * time.Second
)

// relPreLogin is the deadline of a frame read before login: the sooner of the two timeouts.
const relPreLogin = min(relIdle, relLogin)

// relAttackers are the accounts of the hostile clients, of 1 MiB quota each; the password is the
// name followed by "-pw". Attacks that check a home's content have their own account, so that the
// attacks running beside them do not change it.
var relAttackers = []string{"mallory", "hugeput", "over", "short", "slow", "reader"}

// relStartHostile starts a server with the short timeouts, the account alice for the normal client
// and the attackers' accounts.
func relStartHostile(t *testing.T, plain bool) *servertest.Env {
	t.Helper()
	e := servertest.Start(t, servertest.Options{Plain: plain, Config: server.Config{IdleTimeout: relIdle, WriteTimeout: relIdle}, Admission: admission.Config{LoginTimeout: relLogin, PoolSize: 64, QueueSize: 16}})
	e.AddUser("alice", "alice-pw", 0)
	for _, u := range relAttackers {
		e.AddUser(u, u+"-pw", 1<<20)
	}
	return e
}

// relMallory dials as the attacker mallory, through TLS if the server has it, and logs in if login
// is set.
func relMallory(t *testing.T, e *servertest.Env, login bool) *rawConn {
	t.Helper()
	if login {
		return rawLogin(t, e.Addr, "mallory", "mallory-pw")
	}
	return dialSecure(t, e.Addr)
}

// closedWithin reads until the server closes the connection and returns the replies that came
// first and how long after since the close was seen. It fails the test if the connection is still
// open limit after since. Bytes that are not frames (a TLS alert on a raw connection) are skipped.
func (c *rawConn) closedWithin(since time.Time, limit time.Duration) ([]proto.Reply, time.Duration) {
	c.t.Helper()
	c.raw.SetReadDeadline(since.Add(limit))
	var replies []proto.Reply
	for {
		f, err := c.r.Next()
		if err == nil && f.Type == proto.TypeReply {
			if rep, derr := proto.DecodeReply(f.Payload); derr == nil {
				replies = append(replies, rep)
				continue
			}
		}
		if err == nil || errors.Is(err, proto.ErrFrameType) || errors.Is(err, proto.ErrFrameTooLarge) {
			_, err = io.Copy(io.Discard, c.conn) // not a frame: read to the end
		}
		took := time.Since(since)
		if !relClosedErr(err) {
			c.t.Fatalf("connection not closed by the server %v after it started (limit %v): %v; replies %+v", took, limit, err, replies)
		}
		return replies, took
	}
}

// relClosedErr reports whether a read error (nil for io.Copy's clean end) means the peer closed.
func relClosedErr(err error) bool {
	return err == nil || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// relWantGoodbye checks that the server's last words were exactly one reply with this code and
// message part.
func relWantGoodbye(t testing.TB, replies []proto.Reply, code int, msgPart string) {
	t.Helper()
	if len(replies) != 1 || replies[0].Code != code || !strings.Contains(replies[0].Msg, msgPart) {
		t.Fatalf("replies before the close: %+v, want one %d with %q", replies, code, msgPart)
	}
}

// relTookAtLeast checks that a timeout did not fire early. took must be measured from a moment
// before the server's deadline started (rawConn.last or rawConn.dialed).
func relTookAtLeast(t testing.TB, took, timeout time.Duration) {
	t.Helper()
	if took < timeout {
		t.Fatalf("closed after %v, before the %v timeout", took, timeout)
	}
}

// relClientHello returns the first flight of a real TLS 1.3 client, its ClientHello record, as
// crypto/tls writes it, captured over an in-memory pipe.
func relClientHello(t testing.TB) []byte {
	t.Helper()
	cli, srv := net.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		tls.Client(cli, &tls.Config{ServerName: "127.0.0.1", MinVersion: tls.VersionTLS13}).Handshake()
	}()
	defer func() { cli.Close(); srv.Close(); <-done }()
	srv.SetDeadline(time.Now().Add(10 * time.Second))
	hdr := make([]byte, 5)
	if _, err := io.ReadFull(srv, hdr); err != nil {
		t.Fatal(err)
	}
	if hdr[0] != 0x16 {
		t.Fatalf("first TLS record of type 0x%02x, want a handshake (0x16)", hdr[0])
	}
	body := make([]byte, binary.BigEndian.Uint16(hdr[3:]))
	if _, err := io.ReadFull(srv, body); err != nil {
		t.Fatal(err)
	}
	return append(hdr, body...)
}

// relProbe is a normal client that keeps working on a server while it is attacked: each round is
// pwd, put and get of a small file, checked; every fifth round on a new connection.
type relProbe struct {
	rounds  atomic.Int64
	steps   atomic.Int64 // requests answered: dial and login, pwd, put, get
	slowest atomic.Int64 // nanoseconds
	stop    chan struct{}
	done    chan error
}

func relStartProbe(t *testing.T, e *servertest.Env) *relProbe {
	t.Helper()
	dir := t.TempDir()
	data := []byte("the probe's file, uploaded and downloaded again and again\n")
	local := writeFile(t, dir, "probe.txt", data, past)
	back := filepath.Join(dir, "back.txt")
	e.Dial().Close() // records the server in known_hosts
	p := &relProbe{stop: make(chan struct{}), done: make(chan error, 1)}
	go func() { p.done <- p.run(e.ClientConfig(), local, back, data) }()
	return p
}

func (p *relProbe) run(cfg client.Config, local, back string, data []byte) error {
	ctx := context.Background()
	var c *client.Client
	defer func() {
		if c != nil {
			c.Close()
		}
	}()
	for i := 0; i < 100_000; i++ {
		select {
		case <-p.stop:
			return nil
		default:
		}
		start := time.Now()
		if i%5 == 0 {
			if c != nil {
				c.Close()
			}
			var err error
			if c, err = client.Dial(ctx, cfg); err != nil {
				return fmt.Errorf("round %d: dial: %w", i, err)
			}
			if err := c.Login("alice", "alice-pw"); err != nil {
				return fmt.Errorf("round %d: login: %w", i, err)
			}
			p.steps.Add(1)
		}
		if _, err := c.Pwd(); err != nil {
			return fmt.Errorf("round %d: pwd: %w", i, err)
		}
		p.steps.Add(1)
		if _, err := c.Put(ctx, local, "probe.txt", client.Options{}); err != nil {
			return fmt.Errorf("round %d: put: %w", i, err)
		}
		p.steps.Add(1)
		if _, err := c.Get(ctx, "probe.txt", back, client.Options{}); err != nil {
			return fmt.Errorf("round %d: get: %w", i, err)
		}
		if got, err := os.ReadFile(back); err != nil || string(got) != string(data) {
			return fmt.Errorf("round %d: got back %q, %v", i, got, err)
		}
		p.steps.Add(1)
		if d := int64(time.Since(start)); d > p.slowest.Load() {
			p.slowest.Store(d)
		}
		p.rounds.Add(1)
	}
	return errors.New("the probe ran out of rounds")
}

// finish stops the probe and checks that every round succeeded.
func (p *relProbe) finish(t *testing.T, name string) {
	t.Helper()
	close(p.stop)
	if err := servertest.Await(t, name+" probe", p.done); err != nil {
		t.Errorf("%s: the normal client failed during the attacks: %v", name, err)
	}
	t.Logf("%s: the normal client completed %d rounds (pwd, put, get) during the attacks; slowest %v",
		name, p.rounds.Load(), time.Duration(p.slowest.Load()))
	if p.rounds.Load() == 0 {
		t.Errorf("%s: the normal client completed no round", name)
	}
}

// mark returns a count for servedDuring, taken as an attack starts.
func (p *relProbe) mark() int64 { return p.steps.Load() }

// servedDuring checks that a request of the normal client was answered since mark was taken: the
// server kept serving it while an attack held a connection open. (Requests, not whole rounds: on
// a loaded machine a round can take longer than an attack that the server ends at a timeout.)
func (p *relProbe) servedDuring(t testing.TB, mark int64) {
	t.Helper()
	if p.steps.Load() <= mark {
		t.Errorf("the normal client got no reply during the attack")
	}
}

// relHostileCase is one attack. It runs in parallel with the others, on the server of its kind,
// while that server's probe works.
type relHostileCase struct {
	name string
	tls  bool // against the TLS server; else the plain one
	run  func(t *testing.T, e *servertest.Env, p *relProbe)
}

// TestHostileClients runs every attack of relHostileCases at once against two servers (plain and
// TLS) with short timeouts, while a normal client works on each. It is not parallel with other
// tests, so that the goroutines and file descriptors can be counted before and after.
func TestHostileClients(t *testing.T) {
	base := countResources()
	start := time.Now()
	envs := map[bool]*servertest.Env{false: relStartHostile(t, true), true: relStartHostile(t, false)}
	probes := map[bool]*relProbe{false: relStartProbe(t, envs[false]), true: relStartProbe(t, envs[true])}
	t.Run("attacks", func(t *testing.T) {
		// All at once, on goroutines of their own: t.Parallel would run only GOMAXPROCS of them at
		// a time, and most of them spend their time waiting for a timeout.
		var wg sync.WaitGroup
		for _, tc := range relHostileCases(relClientHello(t)) {
			wg.Go(func() {
				t.Run(tc.name, func(t *testing.T) { tc.run(t, envs[tc.tls], probes[tc.tls]) })
			})
		}
		wg.Wait()
	})
	probes[false].finish(t, "plain")
	probes[true].finish(t, "tls")
	for _, e := range envs {
		servertest.Eventually(t, "every session ended", func() bool { st := e.Server.Stats(); return st.Running == 0 && st.Waiting == 0 })
		e.Stop()
	}
	t.Logf("all attacks took %v", time.Since(start))
	noLeaks(t, base)
}

func relHostileCases(hello []byte) []relHostileCase {
	var cases []relHostileCase
	for _, onTLS := range []bool{false, true} {
		kind := map[bool]string{false: "plain", true: "tls"}[onTLS]
		cases = append(cases,
			relHostileCase{kind + "/random bytes before login", onTLS, func(t *testing.T, e *servertest.Env, p *relProbe) {
				relRandomBytes(t, e, false)
			}},
			relHostileCase{kind + "/random bytes after login", onTLS, func(t *testing.T, e *servertest.Env, p *relProbe) {
				relRandomBytes(t, e, true)
			}},
			relHostileCase{kind + "/frame of 4 GiB", onTLS, relHugeFrame},
			relHostileCase{kind + "/put of 2^63-1 bytes", onTLS, relHugePut},
			relHostileCase{kind + "/truncated frame then silence", onTLS, relTruncatedFrame},
			relHostileCase{kind + "/slowloris request", onTLS, relSlowRequest},
			relHostileCase{kind + "/slowloris data frame", onTLS, relSlowData},
			relHostileCase{kind + "/slowloris data frame without upload", onTLS, relSlowStrayData},
			relHostileCase{kind + "/never reads replies", onTLS, relNeverReads},
			relHostileCase{kind + "/never speaks", onTLS, relNeverSpeaks},
			relHostileCase{kind + "/more data than declared", onTLS, relTooMuchData},
			relHostileCase{kind + "/less data than declared", onTLS, relTooLittleData},
		)
	}
	cases = append(cases,
		relHostileCase{"tls/handshake cut halfway", true, func(t *testing.T, e *servertest.Env, p *relProbe) {
			relCutHandshake(t, e, p, hello[:len(hello)/2])
		}},
		relHostileCase{"tls/client hello then silence", true, func(t *testing.T, e *servertest.Env, p *relProbe) {
			relCutHandshake(t, e, p, hello)
		}},
		relHostileCase{"tls/plain frames to a TLS server", true, relPlainToTLS},
		relHostileCase{"plain/TLS to a plain server", false, func(t *testing.T, e *servertest.Env, p *relProbe) {
			relTLSToPlain(t, e, hello)
		}},
	)
	return cases
}
