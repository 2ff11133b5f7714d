package server_test

// Helpers shared by the end-to-end tests of this package: local files and the partial uploads and
// disk use of a home, waiting for what no reply announces, replies, sessions of the Go client, a
// raw protocol connection (rawConn) for what no client would send, the goroutines and file
// descriptors of the process, and the real myftps run as a process.

import (
	"bufio"
	"context"
	"crypto/md5"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/myftp/myftp/core/server/servertest"
	"github.com/myftp/myftp/lib/account"
	"github.com/myftp/myftp/lib/checksum"
	"github.com/myftp/myftp/lib/client"
	"github.com/myftp/myftp/lib/db"
	"github.com/myftp/myftp/lib/homefs"
	"github.com/myftp/myftp/lib/proto"
)

// xUser and xPass are the account of the transfer tests and benchmarks.
const (
	xUser = "alice"
	xPass = "correct horse"
	MiB   = 1 << 20
)

// past is the modification time of the local files the tests upload. Its nanoseconds must survive
// the round trip.
var past = time.Date(2021, 3, 4, 5, 6, 7, 123456789, time.UTC)

// longTests reports whether the long variants are asked for (MYFTP_LONG=1).
func longTests() bool { return os.Getenv("MYFTP_LONG") == "1" }

// writeFile writes a local file in dir with the given content and modification time and returns its path.
func writeFile(t testing.TB, dir, name string, data []byte, mtime time.Time) string {
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

// randomData returns n bytes of a seeded random stream, so that a failure can be replayed.
func randomData(n int, seed uint64) []byte {
	var s [32]byte
	binary.LittleEndian.PutUint64(s[:], seed)
	b := make([]byte, n)
	rand.NewChaCha8(s).Read(b)
	return b
}

func md5hex(b []byte) string { return fmt.Sprintf("%x", md5.Sum(b)) }

// b3hex is the BLAKE3 digest myftpc verifies transfers with by default.
func b3hex(b []byte) string { return servertest.Sum(checksum.BLAKE3, b) }

func mustRead(t testing.TB, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustNotExist(t testing.TB, p string) {
	t.Helper()
	if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s exists (or cannot be checked: %v)", p, err)
	}
}

func sameBytes(t testing.TB, what string, got, want []byte) {
	t.Helper()
	if len(got) != len(want) || md5hex(got) != md5hex(want) {
		t.Errorf("%s: %d bytes, md5 %s; want %d bytes, md5 %s", what, len(got), md5hex(got), len(want), md5hex(want))
	}
}

// partials returns the sizes of the partial upload data files of home, by name. It may run on a
// client's goroutine, so it reports failures with Errorf.
//
// It reads homefs's reserved directory itself: homefs.FS.Partials would need Store.Open, which
// is not a read-only look: it sets the home's quota, expires old partials and, from a Store
// other than the server's (a myftps process), writes a new .myftp/id, which makes the server
// measure the home again. It counts the data files only, not their descriptions (.json).
func partials(t testing.TB, home string) map[string]int64 {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(home, ".myftp", "partial"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("list partial uploads: %v", err)
	}
	sizes := map[string]int64{}
	for _, d := range entries {
		if strings.HasSuffix(d.Name(), ".json") {
			continue
		}
		if fi, err := d.Info(); err == nil { // a partial removed meanwhile is gone
			sizes[d.Name()] = fi.Size()
		}
	}
	return sizes
}

// only returns the value of a map of one entry (-1 for an empty map).
func only(m map[string]int64) int64 {
	for _, v := range m {
		return v
	}
	return -1
}

// diskUsage is what a home holds on disk as homefs counts it (homefs.DiskUsage): the user's files
// and the data of partial uploads, not the server's descriptions of them or its md5 records.
func diskUsage(t testing.TB, home string) int64 {
	t.Helper()
	n, err := homefs.DiskUsage(home)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// usageIsDisk checks that the quota the client is told equals what the home holds on disk.
func usageIsDisk(t testing.TB, what string, c *client.Client, home string) {
	t.Helper()
	used, _, err := c.Quota()
	if err != nil {
		t.Fatalf("%s: quota: %v", what, err)
	}
	if disk := diskUsage(t, home); used != disk {
		t.Errorf("%s: quota says %d bytes used, the home holds %d", what, used, disk)
	}
}

// writeFn is a func that serves as an io.Writer, for the disk faults of homefs.Options.WrapWriter.
type writeFn func([]byte) (int, error)

func (f writeFn) Write(p []byte) (int, error) { return f(p) }

// waitRunning waits until the server serves n sessions.
func waitRunning(t testing.TB, e *servertest.Env, n int) {
	t.Helper()
	servertest.Eventually(t, "sessions running == "+strconv.Itoa(n), func() bool { return e.Server.Stats().Running == n })
}

// wantReply checks that err is a negative reply with this code whose message contains msgPart, and
// returns it.
func wantReply(t testing.TB, what string, err error, code int, msgPart string) *proto.ReplyError {
	t.Helper()
	var re *proto.ReplyError
	if !errors.As(err, &re) {
		t.Fatalf("%s: error %v, want a %d reply", what, err, code)
	}
	if re.Code != code || !strings.Contains(re.Msg, msgPart) {
		t.Fatalf("%s: reply %d %q, want %d with %q", what, re.Code, re.Msg, code, msgPart)
	}
	return re
}

// The sessions of the Go client that tests open: loginWith on the test's goroutine, openSession
// on any. Both close the session when t ends. (rawLogin is a raw protocol connection instead;
// Env.Login reports to the Env's test, not to a subtest.)

// loginWith dials with cfg and logs in as user for t, which may be a subtest; it fails the test
// if it cannot.
func loginWith(t testing.TB, cfg client.Config, user, password string) *client.Client {
	t.Helper()
	c, err := openSession(t, cfg, user, password)
	if err != nil {
		t.Fatalf("login %s: %v", user, err)
	}
	return c
}

// openSession dials with cfg and logs in as user; it may run on any goroutine. It returns the
// error of the dial (and no client) or of the login.
func openSession(t testing.TB, cfg client.Config, user, password string) (*client.Client, error) {
	c, err := client.Dial(context.Background(), cfg)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", cfg.Addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c, c.Login(user, password)
}

// rawConn is a raw protocol connection to a server, plain or TLS, that sends frames as given, valid
// or not.
type rawConn struct {
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

// dialRaw connects and reads the greeting. Nothing on the connection may take longer than 30 s.
func dialRaw(t testing.TB, addr string) *rawConn {
	t.Helper()
	dialed := time.Now()
	raw, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	raw.SetDeadline(time.Now().Add(30 * time.Second))
	c := &rawConn{t: t, raw: raw, conn: raw, r: proto.NewReader(raw, proto.DefaultMaxHeader), w: proto.NewWriter(raw), dialed: dialed, last: dialed}
	if c.greeting, err = c.next(); err != nil {
		t.Fatalf("greeting: %v", err)
	}
	if c.greeting.Code != proto.CodeReady || c.greeting.Version != proto.Version {
		t.Fatalf("greeting %+v", c.greeting)
	}
	return c
}

// dialSecure is dialRaw followed by the TLS handshake if the server asks for it.
func dialSecure(t testing.TB, addr string) *rawConn {
	t.Helper()
	c := dialRaw(t, addr)
	if c.greeting.TLS {
		c.handshake()
	}
	return c
}

// rawLogin is dialSecure followed by a login.
func rawLogin(t testing.TB, addr, user, password string) *rawConn {
	t.Helper()
	c := dialSecure(t, addr)
	c.login(user, password)
	return c
}

// handshake runs the TLS handshake the greeting asks for.
func (c *rawConn) handshake() {
	c.t.Helper()
	tc := tls.Client(c.raw, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13})
	if err := tc.Handshake(); err != nil {
		c.t.Fatalf("tls handshake: %v", err)
	}
	c.conn, c.r, c.w = tc, proto.NewReader(tc, proto.DefaultMaxHeader), proto.NewWriter(tc)
}

// write sends b as it is (inside TLS after the handshake). The server may have closed already, so
// the error is returned, not fatal.
func (c *rawConn) write(b []byte) error {
	_, err := c.conn.Write(b)
	return err
}

// mustWrite sends b as it is and fails the test if it cannot.
func (c *rawConn) mustWrite(b []byte) {
	c.t.Helper()
	if err := c.write(b); err != nil {
		c.t.Fatal(err)
	}
}

// frame sends one frame with any type and payload.
func (c *rawConn) frame(typ proto.FrameType, payload []byte) {
	c.t.Helper()
	c.last = time.Now()
	if err := c.w.WriteFrame(typ, payload); err != nil {
		c.t.Fatal(err)
	}
	if err := c.w.Flush(); err != nil {
		c.t.Fatal(err)
	}
}

func (c *rawConn) request(req proto.Request) {
	c.t.Helper()
	c.last = time.Now()
	if err := c.w.WriteJSON(proto.TypeRequest, req); err != nil {
		c.t.Fatal(err)
	}
	if err := c.w.Flush(); err != nil {
		c.t.Fatal(err)
	}
}

// next reads the next frame, which must be a reply.
func (c *rawConn) next() (proto.Reply, error) {
	f, err := c.r.Next()
	if err != nil {
		return proto.Reply{}, err
	}
	if f.Type != proto.TypeReply {
		return proto.Reply{}, fmt.Errorf("%s frame where a reply was expected", f.Type)
	}
	return proto.DecodeReply(f.Payload)
}

// reply is next for a reply that must come.
func (c *rawConn) reply() proto.Reply {
	c.t.Helper()
	rep, err := c.next()
	if err != nil {
		c.t.Fatal(err)
	}
	return rep
}

// do sends a request and returns its reply.
func (c *rawConn) do(req proto.Request) proto.Reply {
	c.t.Helper()
	c.request(req)
	return c.reply()
}

// expect reads a reply and checks its code and that its message contains msgPart.
func (c *rawConn) expect(code int, msgPart string) proto.Reply {
	c.t.Helper()
	rep, err := c.next()
	if err != nil {
		c.t.Fatalf("want a %d reply: %v", code, err)
	}
	if rep.Code != code || !strings.Contains(rep.Msg, msgPart) {
		c.t.Fatalf("reply %d %q, want %d with %q", rep.Code, rep.Msg, code, msgPart)
	}
	return rep
}

func (c *rawConn) login(user, password string) {
	c.t.Helper()
	c.request(proto.Request{Op: proto.OpLogin, User: user, Password: password})
	c.expect(proto.CodeLoggedIn, "login successful")
}

// expectClosed checks that the server closed the connection without sending anything more.
func (c *rawConn) expectClosed() {
	c.t.Helper()
	f, err := c.r.Next()
	if err == nil {
		c.t.Fatalf("want the connection closed, got a %s frame of %d bytes", f.Type, f.Len)
	}
	if !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) {
		c.t.Fatalf("want the connection closed by the server: %v", err)
	}
}

// resources is a count of the process's goroutines and open file descriptors (-1 where
// /proc/self/fd does not exist).
type resources struct{ goroutines, fds int }

// countResources counts the goroutines and file descriptors now. The goroutine that lumberjack
// starts for each log file and never stops (lumberjack v2.2.1 has no way to end it) is not counted:
// it is one per log file for the life of the process, not one per connection.
func countResources() resources {
	r := resources{goroutines: goroutines(), fds: -1}
	if runtime.GOOS == "linux" {
		if entries, err := os.ReadDir("/proc/self/fd"); err == nil {
			r.fds = len(entries)
		}
	}
	return r
}

// goroutines counts the goroutines of the goroutine profile that are not a lumberjack mill.
func goroutines() int {
	records := make([]runtime.StackRecord, runtime.NumGoroutine()+16)
	n, ok := runtime.GoroutineProfile(records)
	for !ok { // more goroutines meanwhile
		records = make([]runtime.StackRecord, n+16)
		n, ok = runtime.GoroutineProfile(records)
	}
	count := 0
	for _, r := range records[:n] {
		if !lumberjackMill(r.Stack()) {
			count++
		}
	}
	return count
}

// lumberjackMill reports whether a goroutine's stack runs lumberjack's (*Logger).millRun.
func lumberjackMill(stack []uintptr) bool {
	frames := runtime.CallersFrames(stack)
	for {
		f, more := frames.Next()
		if strings.HasPrefix(f.Function, "gopkg.in/natefinch/lumberjack") && strings.HasSuffix(f.Function, ".(*Logger).millRun") {
			return true
		}
		if !more {
			return false
		}
	}
}

// noLeaks waits (at most 5 s) until the goroutines and file descriptors are back to base, give or
// take a small tolerance, and fails the test if they do not come back.
func noLeaks(t *testing.T, base resources) {
	t.Helper()
	const tolerance = 2
	deadline := time.Now().Add(5 * time.Second)
	for {
		now := countResources()
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

// buildMyftps builds bin/myftps into dir with the go command that runs the tests.
func buildMyftps(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "myftps")
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command on PATH to build myftps: %v", err)
	}
	out, err := exec.Command(goTool, "build", "-o", bin, "github.com/myftp/myftp/bin/myftps").CombinedOutput()
	if err != nil {
		t.Fatalf("build myftps: %v\n%s", err, out)
	}
	return bin
}

// myftpsRoot prepares a runtime root for myftps: a server of pool workers on a free loopback port,
// cheap password hashing, and the given accounts (password: myftpsPassword).
func myftpsRoot(t *testing.T, pool int, users ...string) string {
	t.Helper()
	root := t.TempDir()
	if err := os.Mkdir(filepath.Join(root, "conf"), 0o700); err != nil {
		t.Fatal(err)
	}
	// Every test client comes from 127.0.0.1, and many log in as one account at once: no limits
	// per address or account.
	settings := fmt.Sprintf("[server]\nlisten = \"127.0.0.1:0\"\npool_size = %d\n\n[limits]\nmax_per_address = 0\n"+
		"max_startups = 0\nmax_startups_per_address = 0\nmax_sessions_per_account = 0\n\n[auth]\nargon2_memory = \"64KiB\"\nargon2_time = 1\n", pool)
	if err := os.WriteFile(filepath.Join(root, "conf", "settings.toml"), []byte(settings), 0o600); err != nil {
		t.Fatal(err)
	}
	accounts, err := db.Open(filepath.Join(root, "db"))
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		hash, err := account.HashPassword(myftpsPassword(u), servertest.Cheap())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := accounts.Create(account.Account{Name: u, PasswordHash: hash, Quota: 1 << 40}); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// myftps is a running myftps process.
type myftps struct {
	cmd    *exec.Cmd
	addr   string
	stderr *os.File
}

// startMyftps runs bin on root and waits until it listens. The process is killed when the test
// ends, if it is still running.
func startMyftps(t *testing.T, bin, root string) *myftps {
	t.Helper()
	stderr, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	out, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--root", root)
	cmd.Stdout, cmd.Stderr = w, stderr
	err = cmd.Start()
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	s := &myftps{cmd: cmd, stderr: stderr}
	t.Cleanup(s.kill)
	addr := make(chan string, 1)
	go func() {
		defer out.Close()
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "listening on "); ok {
				addr <- a
			}
		}
		close(addr)
	}()
	select {
	case a, ok := <-addr:
		if !ok {
			t.Fatalf("myftps ended without listening:\n%s", s.log())
		}
		s.addr = a
	case <-time.After(30 * time.Second):
		t.Fatalf("myftps did not listen within 30 s:\n%s", s.log())
	}
	return s
}

func (s *myftps) log() string {
	b, _ := os.ReadFile(s.stderr.Name())
	return string(b)
}

// kill ends the process with SIGKILL: no chance to clean up, as in a crash or an OOM kill.
func (s *myftps) kill() {
	if s.cmd.ProcessState == nil {
		s.cmd.Process.Kill()
		s.cmd.Wait()
	}
}

// killed waits for the process that was sent SIGKILL and checks that the signal ended it.
func (s *myftps) killed(t *testing.T) {
	t.Helper()
	s.cmd.Wait()
	if ws, ok := s.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("myftps ended with %v, want SIGKILL\n%s", s.cmd.ProcessState, s.log())
	}
}

// myftpsClients is how the tests' clients reach a myftps process. Its accounts, made by
// myftpsRoot, have the password myftpsPassword(name).
type myftpsClients struct {
	knownHosts string
	ioTimeout  time.Duration
}

func (k myftpsClients) config(addr string) client.Config {
	return client.Config{Addr: addr, KnownHosts: k.knownHosts, IOTimeout: k.ioTimeout}
}

// myftpsPassword is the password myftpsRoot gives the account user.
func myftpsPassword(user string) string { return user + "-pw" }
