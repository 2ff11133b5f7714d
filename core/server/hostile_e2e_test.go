package server_test

// Hostile and broken clients: raw connections that send what no client would (random bytes,
// impossible sizes, half a frame, half a TLS handshake), too slowly, or nothing at all, against
// servers with short timeouts. Each must get a clear reply or a clean close within the configured
// timeouts while a normal client on the same server keeps working, and afterwards the process must
// hold no more goroutines or file descriptors than before.
//
// The helpers of this file start with rel (reliability); the shared ones of the package are in
// server_e2e_test.go.

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/myftp/myftp/core/server"
	"github.com/myftp/myftp/core/server/servertest"
	"github.com/myftp/myftp/lib/client"
	"github.com/myftp/myftp/lib/proto"
)

// The timeouts of the servers under attack, and the slack allowed on top of them for a loaded
// 2-core CI machine running the race detector.
const (
	relIdle   = 400 * time.Millisecond
	relLogin  = 600 * time.Millisecond
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
	e := servertest.Start(t, servertest.Options{Plain: plain, Config: server.Config{
		IdleTimeout: relIdle, LoginTimeout: relLogin, WriteTimeout: relIdle, PoolSize: 64, QueueSize: 16}})
	e.AddUser("alice", "alice-pw", 0)
	for _, u := range relAttackers {
		e.AddUser(u, u+"-pw", 1<<20)
	}
	return e
}

// relConn is a raw connection to a server, plain or TLS, that sends whatever it is told.
type relConn struct {
	t        testing.TB
	raw      net.Conn
	conn     net.Conn // raw, or TLS over raw after handshake
	r        *proto.Reader
	w        *proto.Writer
	greeting proto.Reply
	dialed   time.Time
	// last is when the last request or frame was sent (at first, when the connection was dialled):
	// the server's deadline for the next frame starts after it, so timeouts are measured from it.
	last time.Time
}

// relDialRaw connects and reads the greeting. Nothing on the connection may take longer than 30 s.
func relDialRaw(t testing.TB, addr string) *relConn {
	t.Helper()
	dialed := time.Now()
	raw, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	raw.SetDeadline(time.Now().Add(30 * time.Second))
	c := &relConn{t: t, raw: raw, conn: raw, r: proto.NewReader(raw, proto.DefaultMaxHeader), w: proto.NewWriter(raw), dialed: dialed, last: dialed}
	if c.greeting, err = c.reply(); err != nil {
		t.Fatalf("greeting: %v", err)
	}
	if c.greeting.Code != proto.CodeReady {
		t.Fatalf("greeting %+v", c.greeting)
	}
	return c
}

// handshake runs the TLS handshake the greeting asks for.
func (c *relConn) handshake() {
	c.t.Helper()
	tc := tls.Client(c.raw, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13})
	if err := tc.Handshake(); err != nil {
		c.t.Fatalf("tls handshake: %v", err)
	}
	c.conn, c.r, c.w = tc, proto.NewReader(tc, proto.DefaultMaxHeader), proto.NewWriter(tc)
}

// relLoggedIn dials, runs TLS if the server has it, and logs in as user (one of relAttackers).
func relLoggedIn(t testing.TB, e *servertest.Env, user string) *relConn {
	t.Helper()
	c := relDialRaw(t, e.Addr)
	if c.greeting.TLS {
		c.handshake()
	}
	c.request(proto.Request{Op: proto.OpLogin, User: user, Password: user + "-pw"})
	c.expect(proto.CodeLoggedIn, "login successful")
	return c
}

// write sends b as it is (inside TLS after the handshake). The server may have closed already, so
// the error is returned, not fatal.
func (c *relConn) write(b []byte) error {
	_, err := c.conn.Write(b)
	return err
}

func (c *relConn) frame(typ proto.FrameType, payload []byte) {
	c.t.Helper()
	c.last = time.Now()
	if err := c.w.WriteFrame(typ, payload); err != nil {
		c.t.Fatal(err)
	}
	if err := c.w.Flush(); err != nil {
		c.t.Fatal(err)
	}
}

func (c *relConn) request(req proto.Request) {
	c.t.Helper()
	c.last = time.Now()
	if err := c.w.WriteJSON(proto.TypeRequest, req); err != nil {
		c.t.Fatal(err)
	}
	if err := c.w.Flush(); err != nil {
		c.t.Fatal(err)
	}
}

func (c *relConn) reply() (proto.Reply, error) {
	f, err := c.r.Next()
	if err != nil {
		return proto.Reply{}, err
	}
	if f.Type != proto.TypeReply {
		return proto.Reply{}, fmt.Errorf("%s frame where a reply was expected", f.Type)
	}
	return proto.DecodeReply(f.Payload)
}

func (c *relConn) expect(code int, msgPart string) proto.Reply {
	c.t.Helper()
	rep, err := c.reply()
	if err != nil {
		c.t.Fatalf("want a %d reply: %v", code, err)
	}
	if rep.Code != code || !strings.Contains(rep.Msg, msgPart) {
		c.t.Fatalf("reply %d %q, want %d with %q", rep.Code, rep.Msg, code, msgPart)
	}
	return rep
}

// closedWithin reads until the server closes the connection and returns the replies that came
// first and how long after since the close was seen. It fails the test if the connection is still
// open limit after since. Bytes that are not frames (a TLS alert on a raw connection) are skipped.
func (c *relConn) closedWithin(since time.Time, limit time.Duration) ([]proto.Reply, time.Duration) {
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
// before the server's deadline started (relConn.last or relConn.dialed).
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
	slowest atomic.Int64 // nanoseconds
	stop    chan struct{}
	done    chan error
}

func relStartProbe(t *testing.T, e *servertest.Env) *relProbe {
	t.Helper()
	dir := t.TempDir()
	data := []byte("the probe's file, uploaded and downloaded again and again\n")
	local := localFile(t, dir, "probe.txt", data)
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
		}
		if _, err := c.Pwd(); err != nil {
			return fmt.Errorf("round %d: pwd: %w", i, err)
		}
		if _, err := c.Put(ctx, local, "probe.txt", client.Options{}); err != nil {
			return fmt.Errorf("round %d: put: %w", i, err)
		}
		if _, err := c.Get(ctx, "probe.txt", back, client.Options{}); err != nil {
			return fmt.Errorf("round %d: get: %w", i, err)
		}
		if got, err := os.ReadFile(back); err != nil || string(got) != string(data) {
			return fmt.Errorf("round %d: got back %q, %v", i, got, err)
		}
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
	if err := await(t, name+" probe", p.done); err != nil {
		t.Errorf("%s: the normal client failed during the attacks: %v", name, err)
	}
	t.Logf("%s: the normal client completed %d rounds (pwd, put, get) during the attacks; slowest %v",
		name, p.rounds.Load(), time.Duration(p.slowest.Load()))
	if p.rounds.Load() == 0 {
		t.Errorf("%s: the normal client completed no round", name)
	}
}

// servedDuring checks that the normal client completed a round since mark was taken: the server
// kept serving it while an attack held a connection open.
func (p *relProbe) servedDuring(t testing.TB, mark int64) {
	t.Helper()
	if p.rounds.Load() <= mark {
		t.Errorf("the normal client completed no round during the attack")
	}
}

// relResources is a count of the process's goroutines and open file descriptors (-1 where
// /proc/self/fd does not exist).
type relResources struct{ goroutines, fds int }

// relCount counts the goroutines and file descriptors now. The goroutine that lumberjack starts
// for each log file and never stops (lumberjack v2.2.1 has no way to end it) is not counted: it is
// one per log file for the life of the process, not one per connection.
func relCount() relResources {
	buf := make([]byte, 8<<20)
	buf = buf[:runtime.Stack(buf, true)]
	r := relResources{fds: -1}
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.HasPrefix(g, "goroutine ") && !(strings.Contains(g, "lumberjack") && strings.Contains(g, ".(*Logger).millRun(")) {
			r.goroutines++
		}
	}
	if runtime.GOOS == "linux" {
		if entries, err := os.ReadDir("/proc/self/fd"); err == nil {
			r.fds = len(entries)
		}
	}
	return r
}

// relNoLeaks waits (at most 5 s) until the goroutines and file descriptors are back to base, give or
// take a small tolerance, and fails the test if they do not come back.
func relNoLeaks(t *testing.T, base relResources) {
	t.Helper()
	const tolerance = 2
	deadline := time.Now().Add(5 * time.Second)
	for {
		now := relCount()
		if now.goroutines <= base.goroutines+tolerance && (base.fds < 0 || now.fds <= base.fds+tolerance) {
			t.Logf("resources: %d goroutines and %d fds before, %d and %d after", base.goroutines, base.fds, now.goroutines, now.fds)
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 8<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("leak: %d goroutines and %d fds before, %d and %d 5 s after the end\n%s",
				base.goroutines, base.fds, now.goroutines, now.fds, buf)
		}
		time.Sleep(10 * time.Millisecond)
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
	base := relCount()
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
		eventually(t, "every session ended", func() bool { st := e.Server.Stats(); return st.Running == 0 && st.Waiting == 0 })
		e.Stop()
	}
	t.Logf("all attacks took %v", time.Since(start))
	relNoLeaks(t, base)
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

// relRandomBytes sends random bytes (seeded, so a failure can be replayed) on fresh connections. The
// server must answer with a 500 (malformed), a 503 (a data frame out of place) or a 421 (the frame
// never completed before the deadline), or close; never hang past the deadline.
func relRandomBytes(t *testing.T, e *servertest.Env, login bool) {
	seeds := uint64(6)
	if relLong() {
		seeds = 300
	}
	for seed := uint64(1); seed <= seeds; seed++ {
		rng := rand.New(rand.NewPCG(seed, 0x5eed))
		junk := make([]byte, 16+rng.IntN(2000))
		for i := range junk {
			junk[i] = byte(rng.Uint32())
		}
		switch seed { // a few start as frames the server reads on
		case 1: // a request of random length: mostly too large
			junk[0] = byte(proto.TypeRequest)
		case 2: // a request of 256 bytes of random "JSON"
			copy(junk, []byte{byte(proto.TypeRequest), 0, 0, 1, 0})
		case 3: // a data frame out of place, then more junk
			copy(junk, []byte{byte(proto.TypeData), 0, 0, 0, 8})
		case 4: // a request longer than what follows: the deadline ends it
			binary.BigEndian.PutUint32(junk[1:], uint32(len(junk)))
			junk[0] = byte(proto.TypeRequest)
		}
		var c *relConn
		if login {
			c = relLoggedIn(t, e, "mallory")
		} else {
			c = relDialRaw(t, e.Addr)
			if c.greeting.TLS {
				c.handshake()
			}
		}
		start := c.last
		c.write(junk)
		limit := relIdle
		if !login {
			limit = relPreLogin
		}
		replies, took := c.closedWithin(start, limit+relMargin)
		for _, rep := range replies {
			if rep.Code != proto.CodeSyntax && rep.Code != proto.CodeBadSequence && rep.Code != proto.CodeUnavailable {
				t.Errorf("seed %d: reply %d %q to random bytes", seed, rep.Code, rep.Msg)
			}
		}
		t.Logf("seed %d: %d random bytes starting 0x%02x: replies %v, closed after %v", seed, len(junk), junk[0], relCodes(replies), took)
	}
}

func relCodes(replies []proto.Reply) []int {
	var cs []int
	for _, r := range replies {
		cs = append(cs, r.Code)
	}
	return cs
}

// relHugeFrame announces frames of 2^32-1 bytes: the server refuses them from the header alone.
func relHugeFrame(t *testing.T, e *servertest.Env, p *relProbe) {
	for _, typ := range []proto.FrameType{proto.TypeRequest, proto.TypeData} {
		for _, login := range []bool{false, true} {
			var c *relConn
			if login {
				c = relLoggedIn(t, e, "mallory")
			} else {
				c = relDialRaw(t, e.Addr)
				if c.greeting.TLS {
					c.handshake()
				}
			}
			start := c.last
			c.write([]byte{byte(typ), 0xFF, 0xFF, 0xFF, 0xFF})
			replies, took := c.closedWithin(start, relMargin)
			relWantGoodbye(t, replies, proto.CodeSyntax, "frame too large")
			t.Logf("%s frame of 4 GiB (login %v): 500, closed after %v", typ, login, took)
		}
	}
}

// relHugePut declares an upload of 2^63-1 bytes to an account that already stores a file: the
// quota check must not overflow. The put is refused with 552 before anything is created, and the
// account's usage and later uploads are unaffected.
func relHugePut(t *testing.T, e *servertest.Env, p *relProbe) {
	c := relLoggedIn(t, e, "hugeput")
	home := e.Home("hugeput")
	name := "small.txt"
	relRawPut(t, c, name, []byte("0123456789"), time.Time{})
	var before int64
	c.request(proto.Request{Op: proto.OpQuota})
	before = c.expect(proto.CodeOK, "quota").Used
	for _, resume := range []bool{false, true} {
		for _, size := range []int64{math.MaxInt64, math.MaxInt64 - 5, 1 << 62} {
			c.request(proto.Request{Op: proto.OpPut, Path: "huge.bin", Size: size, Resume: resume})
			c.expect(proto.CodeQuota, "quota exceeded")
		}
	}
	if parts := relPartials(t, home); len(parts) != 0 {
		t.Errorf("partial files after refused puts: %v", parts)
	}
	if _, err := os.Lstat(filepath.Join(home, "huge.bin")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("huge.bin exists after a refused put: %v", err)
	}
	c.request(proto.Request{Op: proto.OpQuota})
	if rep := c.expect(proto.CodeOK, "quota"); rep.Used != before {
		t.Errorf("usage %d after the refused puts, want %d", rep.Used, before)
	}
	// The quota's reservations are intact: an upload that fits still works, and one byte more than
	// the free space is still refused.
	relRawPut(t, c, name, []byte("abcdefghij"), time.Time{})
	c.request(proto.Request{Op: proto.OpQuota})
	rep := c.expect(proto.CodeOK, "quota")
	c.request(proto.Request{Op: proto.OpPut, Path: "over.bin", Size: rep.Free + 1})
	c.expect(proto.CodeQuota, "quota exceeded")
}

// relRawPut uploads data to name on a raw logged-in connection.
func relRawPut(t testing.TB, c *relConn, name string, data []byte, mtime time.Time) {
	t.Helper()
	c.request(proto.Request{Op: proto.OpPut, Path: name, Size: int64(len(data)), Mtime: mtime})
	c.expect(proto.CodeSendData, "")
	c.frame(proto.TypeData, data)
	c.expect(proto.CodeOK, "")
	sum := md5.Sum(data)
	c.request(proto.Request{Op: proto.OpDone, MD5: hex.EncodeToString(sum[:])})
	c.expect(proto.CodeTransferDone, "upload successful")
}

// relPartials returns the sizes of the partial upload data files of home.
func relPartials(t testing.TB, home string) map[string]int64 {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(home, ".myftp", "partial"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	sizes := map[string]int64{}
	for _, d := range entries {
		if strings.HasSuffix(d.Name(), ".json") {
			continue
		}
		if fi, err := d.Info(); err == nil {
			sizes[d.Name()] = fi.Size()
		}
	}
	return sizes
}

// relTruncatedFrame sends part of a frame, then nothing: the read deadline ends the session with a
// 421, before and after login; a header cut short likewise.
func relTruncatedFrame(t *testing.T, e *servertest.Env, p *relProbe) {
	mark := p.rounds.Load()
	for _, login := range []bool{false, true} {
		for _, cut := range []int{3, proto.FrameHeaderLen + 10} {
			var c *relConn
			if login {
				c = relLoggedIn(t, e, "mallory")
			} else {
				c = relDialRaw(t, e.Addr)
				if c.greeting.TLS {
					c.handshake()
				}
			}
			start := c.last
			frame := append([]byte{byte(proto.TypeRequest), 0, 0, 0, 100}, `{"op":"pwd","path":"`...)
			c.write(frame[:cut])
			limit, msg := relIdle, "idle timeout"
			if !login {
				limit, msg = relPreLogin, "login timeout"
			}
			replies, took := c.closedWithin(start, limit+relMargin)
			relWantGoodbye(t, replies, proto.CodeUnavailable, msg)
			relTookAtLeast(t, took, limit)
			t.Logf("%d bytes of a frame (login %v): 421 %s after %v", cut, login, msg, took)
		}
	}
	p.servedDuring(t, mark)
}

// relSlowSend writes the first bytes of b at once, then the rest one byte every gap, until it is
// all sent, the server stops taking it, or stop closes. It returns the count sent.
func relSlowSend(c *relConn, b []byte, first int, gap time.Duration, stop <-chan struct{}) <-chan int {
	sent := make(chan int, 1)
	go func() {
		n := 0
		defer func() { sent <- n }()
		if c.write(b[:first]) != nil {
			return
		}
		for n = first; n < len(b); n++ {
			select {
			case <-stop:
				return
			case <-time.After(gap):
			}
			if c.write(b[n:n+1]) != nil {
				return
			}
		}
	}()
	return sent
}

// relSlowRequest sends a request one byte every quarter of the idle timeout, from its first byte
// or after its header: each byte comes well within the idle timeout, but the frame as a whole does
// not, and the session is closed at the frame's deadline, before and after login.
func relSlowRequest(t *testing.T, e *servertest.Env, p *relProbe) {
	mark := p.rounds.Load()
	for _, login := range []bool{false, true} {
		for _, first := range []int{1, proto.FrameHeaderLen} {
			var c *relConn
			limit, msg := relPreLogin, "login timeout"
			req := proto.Request{Op: proto.OpLogin, User: "mallory", Password: "mallory-pw"}
			if login {
				c = relLoggedIn(t, e, "mallory")
				limit, msg = relIdle, "idle timeout"
				req = proto.Request{Op: proto.OpList, Path: strings.Repeat("x", 100)}
			} else if c = relDialRaw(t, e.Addr); c.greeting.TLS {
				c.handshake()
			}
			var buf strings.Builder
			pw := proto.NewWriter(&buf)
			pw.WriteJSON(proto.TypeRequest, req)
			pw.Flush()
			stop := make(chan struct{})
			start := c.last
			sent := relSlowSend(c, []byte(buf.String()), first, relIdle/4, stop)
			replies, took := c.closedWithin(start, limit+relMargin)
			close(stop)
			n := <-sent
			relWantGoodbye(t, replies, proto.CodeUnavailable, msg)
			relTookAtLeast(t, took, limit)
			if n >= buf.Len() {
				t.Errorf("the whole %d-byte request was sent before the close", n)
			}
			t.Logf("slowloris (login %v, from byte %d): %d of %d bytes sent, 421 %s after %v", login, first, n, buf.Len(), msg, took)
		}
	}
	p.servedDuring(t, mark)
}

// relSlowData opens an upload and sends a data frame whose header comes at once and whose payload
// trickles in: the session ends at the frame's deadline with a 421, not later. What arrived is
// kept for a resume, which starts at a byte the client sent and proves it with the prefix md5.
func relSlowData(t *testing.T, e *servertest.Env, p *relProbe) {
	mark := p.rounds.Load()
	c := relLoggedIn(t, e, "slow")
	put := proto.Request{Op: proto.OpPut, Path: "slow.bin", Size: 1000, Mtime: relPast, Resume: true}
	c.request(put)
	c.expect(proto.CodeSendData, "send data")
	c.frame(proto.TypeData, make([]byte, 100))
	c.expect(proto.CodeOK, "")
	start := c.last
	stop := make(chan struct{})
	frame := append([]byte{byte(proto.TypeData), 0, 0, 0, 200}, make([]byte, 200)...)
	sent := relSlowSend(c, frame, proto.FrameHeaderLen+1, relIdle/4, stop)
	replies, took := c.closedWithin(start, relIdle+relMargin)
	close(stop)
	n := <-sent
	relWantGoodbye(t, replies, proto.CodeUnavailable, "idle timeout")
	relTookAtLeast(t, took, relIdle)
	t.Logf("slow data frame: %d of %d bytes sent, 421 idle timeout after %v", n, len(frame), took)

	again := relLoggedIn(t, e, "slow")
	again.request(put)
	rep := again.expect(proto.CodeSendData, "resuming")
	if got := int64(n - proto.FrameHeaderLen); rep.Offset < 100 || rep.Offset > 100+got {
		t.Errorf("resume after the slow frame at byte %d, want 100 to %d", rep.Offset, 100+got)
	}
	if sum := md5.Sum(make([]byte, rep.Offset)); rep.PrefixMD5 != hex.EncodeToString(sum[:]) {
		t.Errorf("prefix md5 %s of the kept %d bytes, want that of the zeros sent", rep.PrefixMD5, rep.Offset)
	}
	p.servedDuring(t, mark)
}

// relSlowStrayData sends a data frame that belongs to no upload, before and after login, and
// trickles its payload: the session ends at the frame's deadline with a 421 (not a 451 "local
// error", not later).
func relSlowStrayData(t *testing.T, e *servertest.Env, p *relProbe) {
	mark := p.rounds.Load()
	for _, login := range []bool{false, true} {
		var c *relConn
		limit, msg := relPreLogin, "login timeout"
		if login {
			c = relLoggedIn(t, e, "mallory")
			limit, msg = relIdle, "idle timeout"
		} else if c = relDialRaw(t, e.Addr); c.greeting.TLS {
			c.handshake()
		}
		start := c.last
		stop := make(chan struct{})
		frame := append([]byte{byte(proto.TypeData), 0, 0, 0, 200}, make([]byte, 200)...)
		sent := relSlowSend(c, frame, proto.FrameHeaderLen+1, relIdle/4, stop)
		replies, took := c.closedWithin(start, limit+relMargin)
		close(stop)
		n := <-sent
		relWantGoodbye(t, replies, proto.CodeUnavailable, msg)
		relTookAtLeast(t, took, limit)
		t.Logf("slow data frame without an upload (login %v): %d of %d bytes sent, 421 %s after %v", login, n, len(frame), msg, took)
	}
	p.servedDuring(t, mark)
}

// relNeverReads asks for a file again and again and never reads the replies. Once the data fills
// the sockets' buffers, the server's write times out (write timeout: relIdle) and it closes the
// connection, instead of holding a worker for as long as the client likes.
func relNeverReads(t *testing.T, e *servertest.Env, p *relProbe) {
	mark := p.rounds.Load()
	c := relLoggedIn(t, e, "reader")
	relRawPut(t, c, "big.bin", relRandom(512<<10, 3), relPast)
	var buf strings.Builder
	pw := proto.NewWriter(&buf)
	pw.WriteJSON(proto.TypeRequest, proto.Request{Op: proto.OpGet, Path: "big.bin"})
	pw.Flush()
	get := []byte(buf.String())
	start := time.Now()
	if err := c.write(bytes.Repeat(get, 64)); err != nil { // 32 MiB asked for: more than any buffer
		t.Fatal(err)
	}
	// Go on asking, a little at a time, until a write fails because the server closed.
	const limit = 10 * time.Second
	c.raw.SetWriteDeadline(start.Add(limit))
	var err error
	var sent int
	for sent = 64; err == nil && time.Since(start) < limit; sent++ {
		select {
		case <-time.After(relIdle / 8):
		case <-t.Context().Done():
			return
		}
		err = c.write(get)
	}
	took := time.Since(start)
	if !relClosedErr(err) {
		t.Fatalf("asking without reading: %v after %v and %d requests; want the server to close", err, took, sent)
	}
	t.Logf("a client that never reads: closed after %v and %d requests", took, sent)
	p.servedDuring(t, mark)
}

// relNeverSpeaks connects and sends nothing. A plain server says 421 login timeout when the first
// frame's deadline passes; a TLS server waits for the handshake until the login timeout and closes.
func relNeverSpeaks(t *testing.T, e *servertest.Env, p *relProbe) {
	mark := p.rounds.Load()
	c := relDialRaw(t, e.Addr)
	if c.greeting.TLS {
		replies, took := c.closedWithin(c.dialed, relLogin+relMargin)
		if len(replies) != 0 {
			t.Fatalf("replies %+v in place of a TLS handshake", replies)
		}
		relTookAtLeast(t, took, relLogin)
		t.Logf("TLS handshake never started: closed after %v", took)
	} else {
		replies, took := c.closedWithin(c.dialed, relPreLogin+relMargin)
		relWantGoodbye(t, replies, proto.CodeUnavailable, "login timeout")
		relTookAtLeast(t, took, relPreLogin)
		t.Logf("silent connection: 421 login timeout after %v", took)
	}
	p.servedDuring(t, mark)
}

// relCutHandshake sends the start of a TLS handshake and then nothing: the login timeout bounds
// the handshake.
func relCutHandshake(t *testing.T, e *servertest.Env, p *relProbe, part []byte) {
	mark := p.rounds.Load()
	c := relDialRaw(t, e.Addr)
	if err := c.write(part); err != nil {
		t.Fatal(err)
	}
	_, took := c.closedWithin(c.dialed, relLogin+relMargin)
	relTookAtLeast(t, took, relLogin)
	t.Logf("%d bytes of a TLS handshake, then silence: closed after %v", len(part), took)
	p.servedDuring(t, mark)
}

// relPlainToTLS skips the handshake and logs in in clear text: the server takes it for a broken
// handshake and closes at once, without answering in clear.
func relPlainToTLS(t *testing.T, e *servertest.Env, p *relProbe) {
	c := relDialRaw(t, e.Addr)
	start := time.Now()
	c.request(proto.Request{Op: proto.OpLogin, User: "mallory", Password: "mallory-pw"})
	replies, took := c.closedWithin(start, relMargin)
	if len(replies) != 0 {
		t.Fatalf("a TLS server answered a clear-text request: %+v", replies)
	}
	t.Logf("clear-text frames to a TLS server: closed after %v", took)
}

// relTLSToPlain starts a TLS handshake with a plain server: its ClientHello is a frame of unknown
// type 0x16, answered with 500 and a close.
func relTLSToPlain(t *testing.T, e *servertest.Env, hello []byte) {
	c := relDialRaw(t, e.Addr)
	start := time.Now()
	if err := c.write(hello); err != nil {
		t.Fatal(err)
	}
	replies, took := c.closedWithin(start, relMargin)
	relWantGoodbye(t, replies, proto.CodeSyntax, "unknown frame type 0x16")
	t.Logf("TLS ClientHello to a plain server: 500, closed after %v", took)
}

// relTooMuchData declares 10 bytes and sends more. The frame that goes past the declared size is
// refused whole with 554 and nothing beyond the size is written; the upload is closed (further
// data and done get 503), nothing appears under the final name, and the session goes on.
func relTooMuchData(t *testing.T, e *servertest.Env, p *relProbe) {
	c := relLoggedIn(t, e, "over")
	home := e.Home("over")
	for _, frames := range [][]int{{6, 6}, {11}} {
		name := fmt.Sprintf("over-%d.bin", len(frames))
		before := relPartials(t, home)
		c.request(proto.Request{Op: proto.OpPut, Path: name, Size: 10, Mtime: relPast})
		c.expect(proto.CodeSendData, "send data")
		var ok int
		for i, n := range frames {
			c.frame(proto.TypeData, []byte(strings.Repeat("x", n)))
			if i < len(frames)-1 {
				c.expect(proto.CodeOK, "")
				ok += n
			}
		}
		c.expect(proto.CodeTransferFail, "more data than the declared 10 bytes")
		c.frame(proto.TypeData, []byte("y"))
		c.expect(proto.CodeBadSequence, "no upload in progress")
		c.request(proto.Request{Op: proto.OpDone, MD5: strings.Repeat("0", 32)})
		c.expect(proto.CodeBadSequence, "no upload in progress")
		c.request(proto.Request{Op: proto.OpPwd})
		c.expect(proto.CodePath, "/")
		if _, err := os.Lstat(filepath.Join(home, name)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s stored after too much data: %v", name, err)
		}
		for k, size := range relPartials(t, home) {
			if _, old := before[k]; !old && size != int64(ok) {
				t.Errorf("frames %v: partial upload of %d bytes, want the %d accepted", frames, size, ok)
			}
			if size > 10 {
				t.Errorf("partial upload of %d bytes for a 10-byte file", size)
			}
		}
	}
}

// relTooLittleData declares 10 bytes, sends 6 and says done: 554, the partial is kept, and a later
// put by the real client resumes it to a correct file.
func relTooLittleData(t *testing.T, e *servertest.Env, p *relProbe) {
	c := relLoggedIn(t, e, "short")
	data := []byte("0123456789")
	name := "short.bin"
	c.request(proto.Request{Op: proto.OpPut, Path: name, Size: 10, Mtime: relPast})
	c.expect(proto.CodeSendData, "send data")
	c.frame(proto.TypeData, data[:6])
	c.expect(proto.CodeOK, "")
	sum := md5.Sum(data)
	c.request(proto.Request{Op: proto.OpDone, MD5: hex.EncodeToString(sum[:])})
	c.expect(proto.CodeTransferFail, "received 6 of 10 bytes")
	c.request(proto.Request{Op: proto.OpPwd})
	c.expect(proto.CodePath, "/")

	local := relWriteFile(t, t.TempDir(), name, data, relPast)
	cl := loginAs(t, e, "short", "short-pw")
	res, err := cl.Put(context.Background(), local, name, client.Options{})
	if err != nil {
		t.Fatalf("put after the short upload: %v", err)
	}
	if res.Offset != 6 || res.MD5 != hex.EncodeToString(sum[:]) {
		t.Errorf("resumed put: offset %d, md5 %s; want offset 6", res.Offset, res.MD5)
	}
	if got, err := os.ReadFile(filepath.Join(e.Home("short"), name)); err != nil || string(got) != string(data) {
		t.Errorf("stored %q, %v; want %q", got, err, data)
	}
}

// relWriteFile writes a local file with the given modification time.
func relWriteFile(t testing.TB, dir, name string, data []byte, mtime time.Time) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	return p
}

// relPast is the modification time of the files the hostile clients upload.
var relPast = time.Date(2022, 5, 6, 7, 8, 9, 0, time.UTC)

// relRandom returns n bytes of a seeded random stream.
func relRandom(n int, seed uint64) []byte {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	b := make([]byte, n)
	rand.NewChaCha8(key).Read(b)
	return b
}
