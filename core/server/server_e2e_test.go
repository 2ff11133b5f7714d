package server_test

// End-to-end tests of sessions: real servers on 127.0.0.1 (package servertest) driven by the Go
// client, or by a raw frame connection (wire) where a client would never send what is tested. The
// helpers here are shared with jail_e2e_test.go, pool_e2e_test.go, login_e2e_test.go and
// bench_test.go.

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/myftp/myftp/core/server"
	"github.com/myftp/myftp/core/server/servertest"
	"github.com/myftp/myftp/lib/client"
	"github.com/myftp/myftp/lib/homefs"
	"github.com/myftp/myftp/lib/proto"
)

// longAgo is the modification time of the local files the tests upload.
var longAgo = time.Date(2020, 2, 29, 12, 34, 56, 789000000, time.UTC)

// localFile writes a local file with the given content and modification time.
func localFile(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, longAgo, longAgo); err != nil {
		t.Fatal(err)
	}
	return p
}

// wantReply checks that err is a negative reply with this code whose message contains msgPart.
func wantReply(t testing.TB, what string, err error, code int, msgPart string) {
	t.Helper()
	var re *proto.ReplyError
	if !errors.As(err, &re) {
		t.Fatalf("%s: error %v, want a %d reply", what, err, code)
	}
	if re.Code != code || !strings.Contains(re.Msg, msgPart) {
		t.Fatalf("%s: reply %d %q, want %d with %q", what, re.Code, re.Msg, code, msgPart)
	}
}

// eventually polls cond until it holds, for server-side effects that no reply announces (a
// session ending after its client left). It gives up after 15 s.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still not true after 15s: %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// waitRunning waits until the server serves n sessions.
func waitRunning(t testing.TB, e *servertest.Env, n int) {
	t.Helper()
	eventually(t, "sessions running == "+strconv.Itoa(n), func() bool { return e.Server.Stats().Running == n })
}

// await waits for a value from ch, failing the test after 20 s.
func await[T any](t testing.TB, what string, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(20 * time.Second):
		t.Fatalf("%s: nothing after 20s", what)
		panic("unreachable")
	}
}

// wire is a raw protocol connection over plain TCP: it sends frames as given, valid or not.
type wire struct {
	t        testing.TB
	conn     net.Conn
	r        *proto.Reader
	w        *proto.Writer
	greeting proto.Reply
}

// openWire connects and reads the greeting. Every read and write of the connection must end
// within 30 s.
func openWire(t testing.TB, addr string) *wire {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	c := &wire{t: t, conn: conn, r: proto.NewReader(conn, proto.DefaultMaxHeader), w: proto.NewWriter(conn)}
	if c.greeting, err = c.next(); err != nil {
		t.Fatalf("greeting: %v", err)
	}
	if c.greeting.Code != proto.CodeReady || c.greeting.Version != proto.Version {
		t.Fatalf("greeting %+v", c.greeting)
	}
	return c
}

// frame sends one frame with any type and payload.
func (c *wire) frame(typ proto.FrameType, payload []byte) {
	c.t.Helper()
	if err := c.w.WriteFrame(typ, payload); err != nil {
		c.t.Fatal(err)
	}
	if err := c.w.Flush(); err != nil {
		c.t.Fatal(err)
	}
}

// bytes sends b as it is.
func (c *wire) bytes(b []byte) {
	c.t.Helper()
	if _, err := c.conn.Write(b); err != nil {
		c.t.Fatal(err)
	}
}

func (c *wire) request(req proto.Request) {
	c.t.Helper()
	if err := c.w.WriteJSON(proto.TypeRequest, req); err != nil {
		c.t.Fatal(err)
	}
	if err := c.w.Flush(); err != nil {
		c.t.Fatal(err)
	}
}

// next reads the next frame, which must be a reply.
func (c *wire) next() (proto.Reply, error) {
	f, err := c.r.Next()
	if err != nil {
		return proto.Reply{}, err
	}
	if f.Type != proto.TypeReply {
		return proto.Reply{}, errors.New(f.Type.String() + " frame where a reply was expected")
	}
	return proto.DecodeReply(f.Payload)
}

// expect reads a reply and checks its code and that its message contains msgPart.
func (c *wire) expect(code int, msgPart string) proto.Reply {
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

// expectClosed checks that the server closed the connection without sending anything more.
func (c *wire) expectClosed() {
	c.t.Helper()
	f, err := c.r.Next()
	if err == nil {
		c.t.Fatalf("want the connection closed, got a %s frame of %d bytes", f.Type, f.Len)
	}
	if !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) {
		c.t.Fatalf("want the connection closed by the server: %v", err)
	}
}

func (c *wire) login(user, password string) {
	c.t.Helper()
	c.request(proto.Request{Op: proto.OpLogin, User: user, Password: password})
	c.expect(proto.CodeLoggedIn, "login successful")
}

// listing returns the entries of a listing, sorted by name.
func listing(t testing.TB, c *client.Client, dir string, long bool) []proto.Entry {
	t.Helper()
	var list []proto.Entry
	if err := c.List(dir, long, func(e proto.Entry) error { list = append(list, e); return nil }); err != nil {
		t.Fatalf("list %q: %v", dir, err)
	}
	slices.SortFunc(list, func(a, b proto.Entry) int { return strings.Compare(a.Name, b.Name) })
	return list
}

func entryNames(list []proto.Entry) []string {
	var s []string
	for _, e := range list {
		s = append(s, e.Name)
	}
	return s
}

// TestTwoUsersEveryCommand runs every command in two users' sessions at the same time. Both
// users create the same names in their homes, so any sharing between them would show.
func TestTwoUsersEveryCommand(t *testing.T) {
	t.Parallel()
	e := servertest.Start(t, servertest.Options{})
	quotas := map[string]int64{"bob": 10 << 20, "carol": 20 << 20}
	for user, q := range quotas {
		e.AddUser(user, user+"-pw", q)
	}
	e.Dial() // records the server in known_hosts before the parallel sessions
	for user, q := range quotas {
		t.Run(user, func(t *testing.T) {
			t.Parallel()
			everyCommand(t, e, user, q)
		})
	}
}

// loginAs dials and logs in for t, which may be a subtest (Env.Login reports to the Env's test).
func loginAs(t testing.TB, e *servertest.Env, user, password string) *client.Client {
	t.Helper()
	c, err := client.Dial(context.Background(), e.ClientConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(user, password); err != nil {
		t.Fatalf("login %s: %v", user, err)
	}
	return c
}

func everyCommand(t *testing.T, e *servertest.Env, user string, quota int64) {
	ctx := context.Background()
	c := loginAs(t, e, user, user+"-pw")
	if c.User() != user {
		t.Fatalf("User() = %q", c.User())
	}
	if p, err := c.Pwd(); err != nil || p != "/" {
		t.Fatalf("pwd after login = %q, %v", p, err)
	}

	// mkdir and mkdir -p.
	own := "docs-" + user
	if p, err := c.Mkdir(own, false); err != nil || p != "/"+own {
		t.Fatalf("mkdir = %q, %v", p, err)
	}
	_, err := c.Mkdir(own, false)
	wantReply(t, "mkdir of an existing directory", err, proto.CodeUnavailFile, "file exists")
	_, err = c.Mkdir("nothere/x", false)
	wantReply(t, "mkdir without its parent", err, proto.CodeUnavailFile, "no such file or directory")
	if p, err := c.Mkdir("tree/a/b", true); err != nil || p != "/tree/a/b" {
		t.Fatalf("mkdir -p = %q, %v", p, err)
	}
	if p, err := c.Mkdir("/tree/a/b", true); err != nil || p != "/tree/a/b" {
		t.Fatalf("mkdir -p of an existing directory = %q, %v", p, err)
	}

	// cd and pwd.
	for _, step := range []struct{ to, want string }{
		{own, "/" + own}, {"..", "/"}, {"/tree/a", "/tree/a"}, {"b", "/tree/a/b"}, {"../../..", "/"},
		{"tree/./a/../a", "/tree/a"}, {"", "/"}, {"..", "/"},
	} {
		if p, err := c.Cd(step.to); err != nil || p != step.want {
			t.Fatalf("cd %q = %q, %v; want %q", step.to, p, err, step.want)
		}
		if p, err := c.Pwd(); err != nil || p != step.want {
			t.Fatalf("pwd after cd %q = %q, %v", step.to, p, err)
		}
	}
	_, err = c.Cd("nothere")
	wantReply(t, "cd to a missing directory", err, proto.CodeUnavailFile, "no such file or directory")

	// A file to work with.
	data := []byte("hello from " + user + "\n")
	local := localFile(t, t.TempDir(), "hello.txt", data)
	if _, err := c.Put(ctx, local, own+"/hello.txt", client.Options{}); err != nil {
		t.Fatalf("put: %v", err)
	}
	_, err = c.Cd(own + "/hello.txt")
	wantReply(t, "cd to a file", err, proto.CodeUnavailFile, "not a directory")

	// stat.
	st, err := c.Stat(own + "/hello.txt")
	if err != nil || st.Name != "hello.txt" || st.Type != proto.EntryFile || st.Size != int64(len(data)) || !st.Mtime.Equal(longAgo) {
		t.Fatalf("stat of the file = %+v, %v", st, err)
	}
	if st, err := c.Stat("/tree/a"); err != nil || st.Name != "a" || st.Type != proto.EntryDir {
		t.Fatalf("stat of a directory = %+v, %v", st, err)
	}
	if st, err := c.Stat("/"); err != nil || st.Type != proto.EntryDir {
		t.Fatalf("stat of the home = %+v, %v", st, err)
	}
	_, err = c.Stat("nothere")
	wantReply(t, "stat of a missing file", err, proto.CodeUnavailFile, "no such file or directory")

	// ls: names and types only; the server's own directory is never shown.
	top := listing(t, c, "", false)
	if got := entryNames(top); !slices.Equal(got, []string{own, "tree"}) {
		t.Fatalf("ls / = %q, want only this user's [%s tree]", got, own)
	}
	for _, en := range top {
		if en.Type != proto.EntryDir || en.Size != 0 || en.Mode != "" || !en.Mtime.IsZero() {
			t.Fatalf("short listing entry %+v: want a directory, no details", en)
		}
	}
	// dir (ls -l): sizes, modes, times. Homes are private: no group or other permissions.
	long := listing(t, c, own, true)
	if len(long) != 1 {
		t.Fatalf("ls -l %s = %+v", own, long)
	}
	if f := long[0]; f.Name != "hello.txt" || f.Type != proto.EntryFile || f.Size != int64(len(data)) ||
		f.Mode != "-rw-------" || !f.Mtime.Equal(longAgo) {
		t.Fatalf("ls -l entry %+v", f)
	}
	for _, en := range listing(t, c, "/", true) {
		if !strings.HasPrefix(en.Mode, "d") || !strings.HasSuffix(en.Mode, "------") || en.Mtime.IsZero() {
			t.Fatalf("ls -l / entry %+v: want a private directory with a time", en)
		}
	}
	if one := listing(t, c, own+"/hello.txt", true); len(one) != 1 || one[0].Name != "hello.txt" || one[0].Size != int64(len(data)) {
		t.Fatalf("ls -l of a file = %+v", one)
	}
	err = c.List("nothere", false, func(proto.Entry) error { return nil })
	wantReply(t, "ls of a missing directory", err, proto.CodeUnavailFile, "no such file or directory")

	// rename a file and a directory.
	if err := c.Rename(own+"/hello.txt", "tree/hello2.txt"); err != nil {
		t.Fatalf("rename: %v", err)
	}
	_, err = c.Stat(own + "/hello.txt")
	wantReply(t, "stat of the old name", err, proto.CodeUnavailFile, "no such file or directory")
	if err := c.Rename("tree/a/b", "tree/b2"); err != nil {
		t.Fatalf("rename of a directory: %v", err)
	}
	if st, err := c.Stat("tree/b2"); err != nil || st.Type != proto.EntryDir {
		t.Fatalf("stat of the renamed directory = %+v, %v", st, err)
	}
	err = c.Rename("nothere", "x")
	wantReply(t, "rename of a missing file", err, proto.CodeUnavailFile, "no such file or directory")

	// get back what was put.
	out := filepath.Join(t.TempDir(), "got.txt")
	if _, err := c.Get(ctx, "/tree/hello2.txt", out, client.Options{}); err != nil {
		t.Fatalf("get: %v", err)
	}
	if got, err := os.ReadFile(out); err != nil || string(got) != string(data) {
		t.Fatalf("got %q, %v; want %q", got, err, data)
	}

	// quota.
	if used, q, err := c.Quota(); err != nil || used != int64(len(data)) || q != quota {
		t.Fatalf("quota = %d of %d, %v; want %d of %d", used, q, err, len(data), quota)
	}

	// rm.
	err = c.Rm("tree")
	wantReply(t, "rm of a directory", err, proto.CodeUnavailFile, "is a directory")
	if err := c.Rm("tree/hello2.txt"); err != nil {
		t.Fatalf("rm: %v", err)
	}
	err = c.Rm("tree/hello2.txt")
	wantReply(t, "rm of a removed file", err, proto.CodeUnavailFile, "no such file or directory")
	if used, _, err := c.Quota(); err != nil || used != 0 {
		t.Fatalf("quota after rm: used %d, %v; want 0", used, err)
	}

	// rmdir.
	err = c.Rmdir("tree")
	wantReply(t, "rmdir of a non-empty directory", err, proto.CodeUnavailFile, "directory not empty")
	err = c.Rmdir("/")
	wantReply(t, "rmdir of the home", err, proto.CodeUnavailFile, "permission denied")
	for _, d := range []string{"tree/b2", "tree/a", "tree", own} {
		if err := c.Rmdir(d); err != nil {
			t.Fatalf("rmdir %s: %v", d, err)
		}
	}
	err = c.Rmdir(own)
	wantReply(t, "rmdir of a removed directory", err, proto.CodeUnavailFile, "no such file or directory")
	if left := listing(t, c, "/", false); len(left) != 0 {
		t.Fatalf("home not empty after the removals: %+v", left)
	}

	// help and noop.
	ops, err := c.ServerHelp()
	if err != nil {
		t.Fatalf("help: %v", err)
	}
	for _, op := range []string{proto.OpLogin, proto.OpPwd, proto.OpCd, proto.OpList, proto.OpStat, proto.OpMkdir,
		proto.OpRmdir, proto.OpRm, proto.OpRename, proto.OpQuota, proto.OpPut, proto.OpDone, proto.OpGet,
		proto.OpNoop, proto.OpHelp, proto.OpQuit} {
		if !slices.Contains(ops, op) {
			t.Errorf("help does not list %q: %q", op, ops)
		}
	}
	if err := c.Noop(); err != nil {
		t.Fatalf("noop: %v", err)
	}

	// quit (Close sends it): the session is over for the client. Close's own error is not
	// checked: lib/client closes the connection twice and reports the second close's error.
	c.Close()
	if err := c.Noop(); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("noop after quit: %v, want ErrClosed", err)
	}
}

// TestSameUserTwoSessions: two sessions of one account each have their own current directory
// but see the same files and share the quota.
func TestSameUserTwoSessions(t *testing.T) {
	t.Parallel()
	e := servertest.Start(t, servertest.Options{})
	e.AddUser("bob", "bob-pw", 1<<20)
	s1, s2 := e.Login("bob", "bob-pw"), e.Login("bob", "bob-pw")
	for _, d := range []string{"x", "y"} {
		if _, err := s1.Mkdir(d, false); err != nil {
			t.Fatal(err)
		}
	}
	if p, err := s1.Cd("x"); err != nil || p != "/x" {
		t.Fatalf("session 1 cd x = %q, %v", p, err)
	}
	if p, err := s2.Cd("y"); err != nil || p != "/y" {
		t.Fatalf("session 2 cd y = %q, %v", p, err)
	}
	if p, _ := s1.Pwd(); p != "/x" {
		t.Fatalf("session 1 pwd = %q after session 2 changed directory, want /x", p)
	}
	if p, _ := s2.Pwd(); p != "/y" {
		t.Fatalf("session 2 pwd = %q, want /y", p)
	}
	// Relative names resolve in each session's own directory.
	data := []byte("0123456789")
	local := localFile(t, t.TempDir(), "f1", data)
	if _, err := s1.Put(context.Background(), local, "", client.Options{}); err != nil {
		t.Fatal(err)
	}
	if l := listing(t, s2, "", false); len(l) != 0 {
		t.Fatalf("session 2 sees %+v in /y, want nothing", l)
	}
	if l := listing(t, s2, "/x", false); !slices.Equal(entryNames(l), []string{"f1"}) {
		t.Fatalf("session 2 ls /x = %+v, want f1", l)
	}
	if used, _, err := s2.Quota(); err != nil || used != int64(len(data)) {
		t.Fatalf("session 2 quota used = %d, %v; want the %d bytes session 1 uploaded", used, err, len(data))
	}
	if _, err := s2.Cd("../x"); err != nil {
		t.Fatal(err)
	}
	if err := s2.Rm("f1"); err != nil {
		t.Fatal(err)
	}
	_, err := s1.Stat("f1")
	wantReply(t, "session 1 stat of the file session 2 removed", err, proto.CodeUnavailFile, "no such file or directory")
	if used, _, _ := s1.Quota(); used != 0 {
		t.Fatalf("session 1 quota used = %d after session 2 removed the file, want 0", used)
	}
}

// TestBeforeLogin: only login, help, noop and quit work before login; a second login is refused.
func TestBeforeLogin(t *testing.T) {
	t.Parallel()
	e := servertest.Start(t, servertest.Options{})
	e.AddUser("bob", "bob-pw", 0)
	c := e.Dial()
	if err := c.Noop(); err != nil {
		t.Fatalf("noop before login: %v", err)
	}
	if ops, err := c.ServerHelp(); err != nil || len(ops) == 0 {
		t.Fatalf("help before login: %q, %v", ops, err)
	}
	_, err := c.Pwd()
	wantReply(t, "pwd before login", err, proto.CodeNotLoggedIn, "please log in first")
	err = c.List("", false, func(proto.Entry) error { return nil })
	wantReply(t, "ls before login", err, proto.CodeNotLoggedIn, "please log in first")
	_, err = c.Get(context.Background(), "x", filepath.Join(t.TempDir(), "x"), client.Options{})
	wantReply(t, "get before login", err, proto.CodeNotLoggedIn, "please log in first")
	if err := c.Login("bob", "bob-pw"); err != nil {
		t.Fatal(err)
	}
	err = c.Login("bob", "bob-pw")
	wantReply(t, "second login", err, proto.CodeBadSequence, "already logged in")
	if p, err := c.Pwd(); err != nil || p != "/" {
		t.Fatalf("pwd = %q, %v", p, err)
	}
}

// TestQuit: quit is answered with 221 and the server closes the connection, before and after
// login, and the worker is free again.
func TestQuit(t *testing.T) {
	t.Parallel()
	e := servertest.Start(t, servertest.Options{Plain: true})
	e.AddUser("bob", "bob-pw", 0)
	for _, login := range []bool{false, true} {
		w := openWire(t, e.Addr)
		if login {
			w.login("bob", "bob-pw")
		}
		w.request(proto.Request{Op: proto.OpQuit})
		w.expect(proto.CodeBye, "goodbye")
		w.expectClosed()
	}
	waitRunning(t, e, 0)
}

// TestMalformedFrames: a frame the server cannot read gets a 500 reply and ends the session,
// before and after login; the server goes on serving others.
func TestMalformedFrames(t *testing.T) {
	t.Parallel()
	e := servertest.Start(t, servertest.Options{Plain: true})
	e.AddUser("bob", "bob-pw", 0)
	header := func(typ byte, n uint32) []byte {
		return []byte{typ, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
	}
	cases := []struct {
		name string
		send func(*wire)
		msg  string
	}{
		{"unknown frame type", func(w *wire) { w.bytes(header('X', 0)) }, "unknown frame type 0x58"},
		{"NUL frame type", func(w *wire) { w.bytes(header(0, 3)) }, "unknown frame type 0x00"},
		{"request of 4 GiB", func(w *wire) { w.bytes(header('Q', 0xFFFFFFFF)) }, "frame too large"},
		{"request over the header limit", func(w *wire) { w.bytes(header('Q', proto.DefaultMaxHeader+1)) }, "frame too large"},
		{"data over the data limit", func(w *wire) { w.bytes(header('D', proto.MaxData+1)) }, "frame too large"},
		{"invalid JSON", func(w *wire) { w.frame(proto.TypeRequest, []byte(`{"op": "pwd"`)) }, "malformed header"},
		{"not an object", func(w *wire) { w.frame(proto.TypeRequest, []byte(`["pwd"]`)) }, "malformed header"},
		{"no op", func(w *wire) { w.frame(proto.TypeRequest, []byte(`{"path": "/"}`)) }, "malformed header"},
		{"data after the JSON", func(w *wire) { w.frame(proto.TypeRequest, []byte(`{"op":"pwd"} {"op":"pwd"}`)) }, "malformed header"},
		{"reply frame from a client", func(w *wire) { w.frame(proto.TypeReply, []byte(`{"code":200}`)) }, "malformed header"},
	}
	for _, tc := range cases {
		for _, login := range []bool{false, true} {
			name := tc.name
			if login {
				name += " after login"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				w := openWire(t, e.Addr)
				if login {
					w.login("bob", "bob-pw")
				}
				tc.send(w)
				w.expect(proto.CodeSyntax, tc.msg)
				w.expectClosed()
			})
		}
	}
	t.Cleanup(func() {
		// After all of them the server still serves.
		c := e.ClientConfig()
		cl, err := client.Dial(context.Background(), c)
		if err != nil {
			t.Fatalf("dial after the malformed frames: %v", err)
		}
		defer cl.Close()
		if err := cl.Login("bob", "bob-pw"); err != nil {
			t.Fatalf("login after the malformed frames: %v", err)
		}
	})
}

// TestUnknownOpContinues: requests that are well-formed frames but wrong requests get a reply and
// the session goes on.
func TestUnknownOpContinues(t *testing.T) {
	t.Parallel()
	e := servertest.Start(t, servertest.Options{Plain: true})
	e.AddUser("bob", "bob-pw", 0)
	w := openWire(t, e.Addr)
	if w.greeting.TLS || w.greeting.Server == "" || w.greeting.MaxHeader < proto.MinMaxHeader {
		t.Fatalf("plain greeting %+v", w.greeting)
	}
	w.request(proto.Request{Op: "frobnicate"})
	w.expect(proto.CodeUnknownOp, `unknown operation "frobnicate"`)
	w.request(proto.Request{Op: proto.OpNoop})
	w.expect(proto.CodeOK, "ok")
	w.request(proto.Request{Op: proto.OpLogin})
	w.expect(proto.CodeBadArgs, "missing or invalid user")
	w.login("bob", "bob-pw")
	w.request(proto.Request{Op: "PWD"})
	w.expect(proto.CodeUnknownOp, "unknown operation")
	w.request(proto.Request{Op: proto.OpStat})
	w.expect(proto.CodeBadArgs, "missing or invalid path")
	w.request(proto.Request{Op: proto.OpDone, MD5: "xyz"})
	w.expect(proto.CodeBadArgs, "md5")
	w.frame(proto.TypeData, []byte("abc"))
	w.expect(proto.CodeBadSequence, "no upload in progress")
	w.frame(proto.TypeData, make([]byte, 300<<10)) // more than the server's read buffer
	w.expect(proto.CodeBadSequence, "no upload in progress")
	w.request(proto.Request{Op: proto.OpDone, MD5: strings.Repeat("0", 32)})
	w.expect(proto.CodeBadSequence, "no upload in progress")
	w.request(proto.Request{Op: proto.OpPwd})
	if rep := w.expect(proto.CodePath, "/"); rep.Path != "/" {
		t.Fatalf("pwd reply %+v", rep)
	}
}

// TestPlainFramesToTLSServer: a client that skips the TLS handshake and speaks frames in clear is
// disconnected without an answer, and its worker is freed.
func TestPlainFramesToTLSServer(t *testing.T) {
	t.Parallel()
	e := servertest.Start(t, servertest.Options{Config: server.Config{PoolSize: 1}})
	e.AddUser("bob", "bob-pw", 0)
	w := openWire(t, e.Addr)
	if !w.greeting.TLS {
		t.Fatalf("greeting of a TLS server says tls off: %+v", w.greeting)
	}
	w.request(proto.Request{Op: proto.OpLogin, User: "bob", Password: "bob-pw"})
	w.expectClosed()
	waitRunning(t, e, 0)
	// The only worker is free: a real client gets it.
	c := e.Login("bob", "bob-pw")
	if err := c.Noop(); err != nil {
		t.Fatal(err)
	}
}

// TestRepliesFlushedAfterSkippedData: when an upload fails mid-stream, the data frames the client
// already sent are skipped, and every reply still reaches the client at once: the client learns
// why the upload failed and the session goes on.
func TestRepliesFlushedAfterSkippedData(t *testing.T) {
	t.Parallel()
	var written atomic.Int64
	diskFull := func(w io.Writer) io.Writer {
		return writeFn(func(p []byte) (int, error) {
			if written.Add(int64(len(p))) > 1<<20 {
				return 0, syscall.ENOSPC
			}
			return w.Write(p)
		})
	}
	e := servertest.Start(t, servertest.Options{Store: homefs.Options{WrapWriter: diskFull}})
	e.AddUser("bob", "bob-pw", 0)
	cfg := e.ClientConfig()
	cfg.IOTimeout = 10 * time.Second // a reply held back makes the client give up after this
	c, err := client.Dial(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login("bob", "bob-pw"); err != nil {
		t.Fatal(err)
	}
	local := localFile(t, t.TempDir(), "big", make([]byte, 16<<20))
	_, err = c.Put(context.Background(), local, "", client.Options{})
	wantReply(t, "put onto a full disk", err, proto.CodeNoSpace, "no space left on the server")
	if err := c.Noop(); err != nil {
		t.Fatalf("noop after the failed upload: %v", err)
	}
}

type writeFn func([]byte) (int, error)

func (f writeFn) Write(p []byte) (int, error) { return f(p) }
