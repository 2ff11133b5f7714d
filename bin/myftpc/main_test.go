package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/myftp/myftp/core/scripttest"
	"github.com/myftp/myftp/core/serve"
	"github.com/myftp/myftp/lib/bytesize"
	"github.com/myftp/myftp/lib/proto"
)

// TestMain makes the test binary double as myftpc, myftps and create_user for the scripts.
func TestMain(m *testing.M) { scripttest.Main(m) }

// TestScripts runs testdata/script/*.txtar. The runtime root and $HOME are the script's work
// directory, so the default known_hosts is $WORK/.myftp/known_hosts; $WORK_RE is $WORK quoted for
// a regexp.
//
// The server runs in the test process (startserver), not as "exec myftps &": a background
// command's output can only be read after it ended, so a script could not learn the port of a
// server listening on 127.0.0.1:0. startserver runs the real myftps program (serve.Main) with a
// pipe as its standard output, reads "fingerprint ..." and "listening on ..." from it, and sets
// $ADDR, $PORT (its port, to reach it as localhost:$PORT), $FINGERPRINT and $FINGERPRINT_RE (the
// fingerprint quoted for a regexp; both empty without TLS); the server is stopped when the script
// ends, or by stopserver.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		Setup: func(env *testscript.Env) error {
			if err := scripttest.Setup(env); err != nil {
				return err
			}
			env.Setenv("HOME", env.WorkDir)
			stack := &serverStack{}
			env.Values[stackKey{}] = stack
			env.Values[cutKey{}] = &cutSlot{}
			env.Values[requestCutKey{}] = &requestCutSlot{}
			env.Defer(func() { stack.stopAll(env.T()) })
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exits":       cmdExits,
			"startserver": cmdStartServer,
			"stopserver":  cmdStopServer,
			"holdslot":    cmdHoldSlot,
			"genfile":     cmdGenFile,
			"genfiles":    cmdGenFiles,
			"prefix":      cmdPrefix,
			"cmpdir":      cmdCmpDir,
			"gentree":     cmdGenTree,
			"cutproxy":    cmdCutProxy,
			"waitcut":     cmdWaitCut,
			"cutrequest":  cmdCutRequest,
			"cutdone":     cmdCutDone,
			"perm":        cmdPerm,
			"expand":      cmdExpand,
			"putpart":     cmdPutPart,
		},
	})
}

// stackKey is the key of a script's serverStack in its values.
type stackKey struct{}

// serverStack holds the servers a script started, the last on top.
type serverStack struct {
	mu   sync.Mutex
	runs []*serverRun
}

func stackOf(ts *testscript.TestScript) *serverStack { return ts.Value(stackKey{}).(*serverStack) }

// serverRun is one in-process myftps.
type serverRun struct {
	cancel context.CancelFunc
	done   chan int
	stderr *lockedBuffer
}

// cmdStartServer runs myftps with the script's root and the given flags until the script ends.
// It runs in the test process, whose directory is not the script's: give paths as $WORK/...
//
//	startserver [myftps flags]
func cmdStartServer(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! startserver")
	}
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	run := &serverRun{cancel: cancel, done: make(chan int, 1), stderr: &lockedBuffer{}}
	all := append([]string{"--root", ts.Getenv("WORK")}, args...)
	go func() {
		code := serve.Main(ctx, all, pw, run.stderr)
		pw.Close()
		run.done <- code
	}()
	stackOf(ts).push(run)
	addr, fp := readBanner(ts, pr, run)
	go io.Copy(io.Discard, pr)
	ts.Setenv("ADDR", addr)
	_, port, _ := net.SplitHostPort(addr)
	ts.Setenv("PORT", port)
	ts.Setenv("FINGERPRINT", fp)
	ts.Setenv("FINGERPRINT_RE", regexp.QuoteMeta(fp))
}

// readBanner reads the server's first lines, up to "listening on ADDR", within 10 s.
func readBanner(ts *testscript.TestScript, r io.Reader, run *serverRun) (addr, fp string) {
	type banner struct{ addr, fp string }
	got := make(chan banner, 1)
	go func() {
		var b banner
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "fingerprint "); ok {
				b.fp = v
			}
			if v, ok := strings.CutPrefix(sc.Text(), "listening on "); ok {
				b.addr = v
				break
			}
		}
		got <- b
	}()
	select {
	case b := <-got:
		if b.addr == "" {
			ts.Fatalf("myftps did not start: %s", run.stderr.String())
		}
		return b.addr, b.fp
	case <-time.After(10 * time.Second):
		ts.Fatalf("myftps did not say where it listens within 10 s: %s", run.stderr.String())
	}
	return "", ""
}

func (s *serverStack) push(run *serverRun) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.runs = append(s.runs, run)
}

func (s *serverStack) pop() *serverRun {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.runs) == 0 {
		return nil
	}
	run := s.runs[len(s.runs)-1]
	s.runs = s.runs[:len(s.runs)-1]
	return run
}

// stopAll stops the servers still running when the script ends.
func (s *serverStack) stopAll(t testscript.T) {
	for run := s.pop(); run != nil; run = s.pop() {
		if err := run.stop(); err != nil {
			t.Log(err)
		}
	}
}

// stop ends the server as SIGINT would and waits for it (its graceful shutdown is bounded).
func (run *serverRun) stop() error {
	run.cancel()
	select {
	case code := <-run.done:
		if code != 0 {
			return fmt.Errorf("myftps exited with %d: %s", code, run.stderr.String())
		}
		return nil
	case <-time.After(15 * time.Second):
		return fmt.Errorf("myftps did not stop within 15 s")
	}
}

// cmdStopServer stops the server started last.
func cmdStopServer(ts *testscript.TestScript, neg bool, args []string) {
	run := stackOf(ts).pop()
	if run == nil || neg || len(args) > 0 {
		ts.Fatalf("usage: stopserver (after startserver)")
	}
	ts.Check(run.stop())
}

// cmdExits runs a program like exec and checks its exit status; stdout and stderr can be checked
// after it as after exec:
//
//	exits 3 myftpc -c pwd $ADDR
func cmdExits(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exits STATUS PROGRAM [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	got := 0
	if err := ts.Exec(args[1], args[2:]...); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("%s: %v", args[1], err)
		}
		got = ee.ExitCode()
	}
	if got != want {
		ts.Fatalf("%s exited with status %d, want %d", args[1], got, want)
	}
}

// cmdHoldSlot connects to $ADDR and waits for the greeting, so that the connection holds a
// server slot (a worker of the pool) until the script ends. The session of a command that just
// ended may still hold the slot for a moment: a connection told to wait (120) waits for its
// greeting, and one turned away (421) tries again, for up to 10 s.
func cmdHoldSlot(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) > 0 {
		ts.Fatalf("usage: holdslot")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", ts.Getenv("ADDR"), 10*time.Second)
		ts.Check(err)
		conn.SetReadDeadline(deadline)
		r := proto.NewReader(conn, proto.DefaultMaxHeader)
		rep := proto.Reply{Code: proto.CodeQueued}
		for rep.Code == proto.CodeQueued {
			f, err := r.Next()
			ts.Check(err)
			rep, err = proto.DecodeReply(f.Payload)
			ts.Check(err)
		}
		if rep.Code == proto.CodeReady {
			ts.Defer(func() { conn.Close() })
			return
		}
		conn.Close()
		if rep.Code != proto.CodeUnavailable || time.Now().After(deadline) {
			ts.Fatalf("holdslot: greeting %d %s, want %d", rep.Code, rep.Msg, proto.CodeReady)
		}
	}
}

// cmdGenFile writes a file of pseudo-random bytes, the same for the same seed:
//
//	genfile FILE SIZE [SEED]
func cmdGenFile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 || len(args) > 3 {
		ts.Fatalf("usage: genfile FILE SIZE [SEED]")
	}
	size, err := bytesize.Parse(args[1])
	ts.Check(err)
	seed := uint32(1)
	if len(args) == 3 {
		n, err := strconv.ParseUint(args[2], 10, 32)
		ts.Check(err)
		seed = uint32(n) + 1
	}
	data := make([]byte, size)
	for i := range data {
		seed ^= seed << 13
		seed ^= seed >> 17
		seed ^= seed << 5
		data[i] = byte(seed)
	}
	ts.Check(os.WriteFile(ts.MkAbs(args[0]), data, 0o644))
}

// cmdGenFiles writes COUNT small files DIR/f001.txt, DIR/f002.txt, ... each naming itself.
func cmdGenFiles(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: genfiles DIR COUNT")
	}
	n, err := strconv.Atoi(args[1])
	ts.Check(err)
	dir := ts.MkAbs(args[0])
	ts.Check(os.MkdirAll(dir, 0o755))
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("f%03d.txt", i)
		ts.Check(os.WriteFile(filepath.Join(dir, name), []byte(strings.Repeat(name+"\n", i)), 0o644))
	}
}

// cmdPrefix writes the first N bytes of SRC to DST: a download interrupted after N bytes.
func cmdPrefix(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: prefix SRC SIZE DST")
	}
	n, err := bytesize.Parse(args[1])
	ts.Check(err)
	data, err := os.ReadFile(ts.MkAbs(args[0]))
	ts.Check(err)
	if n > int64(len(data)) {
		ts.Fatalf("prefix: %s has only %d bytes", args[0], len(data))
	}
	ts.Check(os.WriteFile(ts.MkAbs(args[2]), data[:n], 0o644))
}

// cmdCmpDir checks that two directory trees hold the same directories and files, byte for byte
// (symbolic links are compared as what they lead to).
func cmdCmpDir(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: cmpdir DIR1 DIR2")
	}
	a, b := readTree(ts, args[0]), readTree(ts, args[1])
	for name, data := range a {
		other, ok := b[name]
		switch {
		case !ok:
			ts.Fatalf("%s is in %s, not in %s", name, args[0], args[1])
		case data == nil && other == nil: // two directories
		case data == nil, other == nil:
			ts.Fatalf("%s is a directory in one of %s and %s, a file in the other", name, args[0], args[1])
		case !bytes.Equal(*data, *other):
			ts.Fatalf("%s differs between %s and %s", name, args[0], args[1])
		}
	}
	for name := range b {
		if _, ok := a[name]; !ok {
			ts.Fatalf("%s is in %s, not in %s", name, args[1], args[0])
		}
	}
}

// readTree returns the contents of the files below dir by path (nil for a directory).
func readTree(ts *testscript.TestScript, dir string) map[string]*[]byte {
	root := ts.MkAbs(dir)
	files := map[string]*[]byte{}
	var walk func(rel string)
	walk = func(rel string) {
		entries, err := os.ReadDir(filepath.Join(root, rel))
		ts.Check(err)
		for _, e := range entries {
			name := filepath.Join(rel, e.Name())
			fi, err := os.Stat(filepath.Join(root, name))
			ts.Check(err)
			if fi.IsDir() {
				files[name] = nil
				walk(name)
				continue
			}
			data, err := os.ReadFile(filepath.Join(root, name))
			ts.Check(err)
			files[name] = &data
		}
	}
	walk("")
	return files
}

// treeNames are names that a shell or a glob would take for something else (the server refuses
// a backslash): the directories and files of gentree use them.
var treeNames = []string{"dir one", "it's", `say "hi"`, "semi;colon", "#hash", "$HOME", "-dash", "a*b?[c]",
	"back`tick`", "x&y|z", "été", "two  spaces"}

// cmdGenTree writes COUNT files of 0 to 3000 bytes, the same every time, in a tree of nested
// directories (three levels, and an empty one) whose names and file names need quoting in a
// shell.
//
//	gentree DIR COUNT
func cmdGenTree(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: gentree DIR COUNT")
	}
	n, err := strconv.Atoi(args[1])
	ts.Check(err)
	root := ts.MkAbs(args[0])
	dirs := []string{root}
	for i, a := range treeNames[:6] {
		d := filepath.Join(root, a)
		dirs = append(dirs, d, filepath.Join(d, treeNames[(i+6)%len(treeNames)]),
			filepath.Join(d, treeNames[(i+6)%len(treeNames)], treeNames[(i+9)%len(treeNames)]))
	}
	for _, d := range dirs {
		ts.Check(os.MkdirAll(d, 0o755))
	}
	ts.Check(os.MkdirAll(filepath.Join(root, "empty dir"), 0o755))
	for i := range n {
		name := fmt.Sprintf("%s %03d.txt", treeNames[i%len(treeNames)], i)
		data := make([]byte, (i*131)%3001)
		for k := range data {
			data[k] = byte(i*7 + k*13)
		}
		ts.Check(os.WriteFile(filepath.Join(dirs[i%len(dirs)], name), data, 0o644))
	}
}

// cmdPerm checks the permission bits of a file:
//
//	perm FILE 0644
func cmdPerm(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: perm FILE MODE")
	}
	want, err := strconv.ParseUint(args[1], 8, 32)
	ts.Check(err)
	fi, err := os.Stat(ts.MkAbs(args[0]))
	ts.Check(err)
	if got := fi.Mode().Perm(); got != os.FileMode(want) {
		ts.Fatalf("%s has mode %#o, want %#o", args[0], got, want)
	}
}

// cutKey is the key of a script's cutSlot in its values.
type cutKey struct{}

// cutSlot holds the cut proxy a script started last.
type cutSlot struct {
	mu sync.Mutex
	p  *cutProxy
}

func (s *cutSlot) set(p *cutProxy) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.p = p
}

func (s *cutSlot) get() *cutProxy {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.p
}

// cutProxy forwards TCP connections to a server and cuts the first one after a number of bytes.
type cutProxy struct {
	l      net.Listener
	target string
	limit  int64
	first  atomic.Bool
	done   chan struct{} // closed when the server has closed its side of the cut connection
}

// cmdCutProxy starts a TCP proxy on 127.0.0.1 in front of $ADDR and sets $PROXY to its address.
// The first connection through it is cut once N bytes have passed (both ways together), as by
// a network failure: from then on nothing more is forwarded, both ends get an end of stream, and
// what they still send is read and dropped until they close. (Closing at once would make the
// client's system discard what it has received and not yet read: how much of a download arrived
// would then vary.) Later connections pass untouched. The proxy stops when the script ends.
//
//	cutproxy N
func cmdCutProxy(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: cutproxy N")
	}
	n, err := bytesize.Parse(args[0])
	ts.Check(err)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	ts.Check(err)
	p := &cutProxy{l: l, target: ts.Getenv("ADDR"), limit: n, done: make(chan struct{})}
	ts.Defer(func() { l.Close() })
	ts.Value(cutKey{}).(*cutSlot).set(p)
	go p.accept()
	ts.Setenv("PROXY", l.Addr().String())
}

// cmdWaitCut waits, for up to 10 s, until the server has closed the connection the proxy cut:
// its session is over, and what it held (an upload in progress) is released.
func cmdWaitCut(ts *testscript.TestScript, neg bool, args []string) {
	p := ts.Value(cutKey{}).(*cutSlot).get()
	if neg || len(args) != 0 || p == nil {
		ts.Fatalf("usage: waitcut (after cutproxy)")
	}
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		ts.Fatalf("waitcut: the server did not close the cut connection within 10 s")
	}
}

func (p *cutProxy) accept() {
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		if p.first.CompareAndSwap(false, true) {
			go p.cut(c.(*net.TCPConn), s.(*net.TCPConn))
			continue
		}
		go func() { io.Copy(s, c); s.(*net.TCPConn).CloseWrite() }()
		go func() { io.Copy(c, s); c.Close(); s.Close() }()
	}
}

// cut forwards c and s until limit bytes have passed, then cuts.
func (p *cutProxy) cut(c, s *net.TCPConn) {
	var passed atomic.Int64
	var cut atomic.Bool
	var once sync.Once
	stop := func() { once.Do(func() { cut.Store(true); c.CloseWrite(); s.CloseWrite() }) }
	forward := func(dst, src *net.TCPConn) {
		buf := make([]byte, 16<<10)
		for {
			k, err := src.Read(buf)
			if room := p.limit - passed.Load(); k > 0 && !cut.Load() {
				k = int(min(int64(k), room))
				if _, werr := dst.Write(buf[:k]); werr != nil {
					stop()
				}
				if passed.Add(int64(k)) >= p.limit {
					stop()
				}
			}
			if err != nil {
				return
			}
		}
	}
	go func() {
		forward(s, c) // until the client closes
		stop()
		c.Close()
	}()
	forward(c, s) // until the server closes
	s.Close()
	close(p.done)
}

// cmdExpand copies SRC to DST with the script's environment variables expanded, as cmpenv reads
// a file: to write a file that names $ADDR.
func cmdExpand(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: expand SRC DST")
	}
	data, err := os.ReadFile(ts.MkAbs(args[0]))
	ts.Check(err)
	ts.Check(os.WriteFile(ts.MkAbs(args[1]), []byte(os.Expand(string(data), ts.Getenv)), 0o644))
}

// cmdPutPart leaves an unfinished upload on the server, as a client cut off mid-upload does: it
// logs in to $ADDR as USER (password $MYFTP_PASSWORD, the certificate not checked), puts REMOTE
// announcing SIZE bytes, sends the first SENT of them (bytes "x"), and once the server has them
// closes the connection. With !, the put must be refused, and its reply is on stdout.
//
//	putpart USER REMOTE SIZE SENT
func cmdPutPart(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 4 {
		ts.Fatalf("usage: putpart USER REMOTE SIZE SENT")
	}
	size, err := strconv.ParseInt(args[2], 10, 64)
	ts.Check(err)
	sent, err := strconv.Atoi(args[3])
	ts.Check(err)
	conn, err := net.DialTimeout("tcp", ts.Getenv("ADDR"), 10*time.Second)
	ts.Check(err)
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	var rw io.ReadWriter = conn
	r := proto.NewReader(rw, proto.DefaultMaxHeader)
	rep := proto.Reply{Code: proto.CodeQueued}
	for rep.Code == proto.CodeQueued {
		rep = nextReply(ts, r)
	}
	if rep.TLS {
		tc := tls.Client(conn, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13})
		ts.Check(tc.Handshake())
		rw, r = tc, proto.NewReader(tc, proto.DefaultMaxHeader)
	}
	w := proto.NewWriter(rw)
	send := func(typ proto.FrameType, v any) proto.Reply {
		if b, ok := v.([]byte); ok {
			ts.Check(w.WriteFrame(typ, b))
		} else {
			ts.Check(w.WriteJSON(typ, v))
		}
		ts.Check(w.Flush())
		return nextReply(ts, r)
	}
	if rep := send(proto.TypeRequest, proto.Request{Op: proto.OpLogin, User: args[0], Password: ts.Getenv("MYFTP_PASSWORD")}); rep.Code != proto.CodeLoggedIn {
		ts.Fatalf("putpart: login: %d %s", rep.Code, rep.Msg)
	}
	rep = send(proto.TypeRequest, proto.Request{Op: proto.OpPut, Path: args[1], Size: size})
	if neg {
		if rep.Code < 400 {
			ts.Fatalf("putpart: put accepted: %d %s", rep.Code, rep.Msg)
		}
		fmt.Fprintf(ts.Stdout(), "%d %s\n", rep.Code, rep.Msg)
		return
	}
	if rep.Code != proto.CodeSendData {
		ts.Fatalf("putpart: put: %d %s", rep.Code, rep.Msg)
	}
	if rep := send(proto.TypeData, bytes.Repeat([]byte("x"), sent)); rep.Code != proto.CodeOK {
		ts.Fatalf("putpart: data: %d %s", rep.Code, rep.Msg)
	}
	// A put closes the open upload, which keeps its partial file, before it is looked at: once
	// this one is refused (no path), the server is done with the upload.
	if rep := send(proto.TypeRequest, proto.Request{Op: proto.OpPut}); rep.Code != proto.CodeBadArgs {
		ts.Fatalf("putpart: put without a path: %d %s", rep.Code, rep.Msg)
	}
}

// nextReply reads the next frame, which must be a reply.
func nextReply(ts *testscript.TestScript, r *proto.Reader) proto.Reply {
	f, err := r.Next()
	ts.Check(err)
	if f.Type != proto.TypeReply {
		ts.Fatalf("a %s frame where a reply was expected", f.Type)
	}
	rep, err := proto.DecodeReply(f.Payload)
	ts.Check(err)
	return rep
}

// lockedBuffer collects a server's standard error.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
