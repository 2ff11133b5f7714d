package server_test

// End-to-end tests of sessions: real servers on 127.0.0.1 (package servertest) driven by the Go
// client, or by a raw frame connection (rawConn) where a client would never send what is tested.
// The helpers shared by the tests of the package are in helpers_e2e_test.go.

import (
	"context"
	"errors"
	"github.com/myftp/myftp/core/admission"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/myftp/myftp/core/server/servertest"
	"github.com/myftp/myftp/lib/client"
	"github.com/myftp/myftp/lib/homefs"
	"github.com/myftp/myftp/lib/proto"
)

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

func everyCommand(t *testing.T, e *servertest.Env, user string, quota int64) {
	ctx := context.Background()
	c := loginWith(t, e.ClientConfig(), user, user+"-pw")
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
	local := writeFile(t, t.TempDir(), "hello.txt", data, past)
	if _, err := c.Put(ctx, local, own+"/hello.txt", client.Options{}); err != nil {
		t.Fatalf("put: %v", err)
	}
	_, err = c.Cd(own + "/hello.txt")
	wantReply(t, "cd to a file", err, proto.CodeUnavailFile, "not a directory")

	// stat.
	st, err := c.Stat(own + "/hello.txt")
	if err != nil || st.Name != "hello.txt" || st.Type != proto.EntryFile || st.Size != int64(len(data)) || !st.Mtime.Equal(past) {
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
		f.Mode != "-rw-------" || !f.Mtime.Equal(past) {
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
		proto.OpRmdir, proto.OpRm, proto.OpRename, proto.OpQuota, proto.OpPartials, proto.OpPut, proto.OpDone, proto.OpGet,
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
	local := writeFile(t, t.TempDir(), "f1", data, past)
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
		w := dialRaw(t, e.Addr)
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
		send func(*rawConn)
		msg  string
	}{
		{"unknown frame type", func(w *rawConn) { w.mustWrite(header('X', 0)) }, "unknown frame type 0x58"},
		{"NUL frame type", func(w *rawConn) { w.mustWrite(header(0, 3)) }, "unknown frame type 0x00"},
		{"request of 4 GiB", func(w *rawConn) { w.mustWrite(header('Q', 0xFFFFFFFF)) }, "frame too large"},
		{"request over the header limit", func(w *rawConn) { w.mustWrite(header('Q', proto.DefaultMaxHeader+1)) }, "frame too large"},
		{"data over the data limit", func(w *rawConn) { w.mustWrite(header('D', proto.MaxData+1)) }, "frame too large"},
		{"invalid JSON", func(w *rawConn) { w.frame(proto.TypeRequest, []byte(`{"op": "pwd"`)) }, "malformed header"},
		{"not an object", func(w *rawConn) { w.frame(proto.TypeRequest, []byte(`["pwd"]`)) }, "malformed header"},
		{"no op", func(w *rawConn) { w.frame(proto.TypeRequest, []byte(`{"path": "/"}`)) }, "malformed header"},
		{"data after the JSON", func(w *rawConn) { w.frame(proto.TypeRequest, []byte(`{"op":"pwd"} {"op":"pwd"}`)) }, "malformed header"},
		{"reply frame from a client", func(w *rawConn) { w.frame(proto.TypeReply, []byte(`{"code":200}`)) }, "malformed header"},
	}
	for _, tc := range cases {
		for _, login := range []bool{false, true} {
			name := tc.name
			if login {
				name += " after login"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				w := dialRaw(t, e.Addr)
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
	w := dialRaw(t, e.Addr)
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
	e := servertest.Start(t, servertest.Options{Admission: admission.Config{PoolSize: 1}})
	e.AddUser("bob", "bob-pw", 0)
	w := dialRaw(t, e.Addr)
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
	local := writeFile(t, t.TempDir(), "big", make([]byte, 16<<20), past)
	_, err = c.Put(context.Background(), local, "", client.Options{})
	wantReply(t, "put onto a full disk", err, proto.CodeNoSpace, "no space left on the server")
	if err := c.Noop(); err != nil {
		t.Fatalf("noop after the failed upload: %v", err)
	}
}
