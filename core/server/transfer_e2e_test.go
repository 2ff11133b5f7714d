package server_test

// End-to-end tests of put and get: real sessions over TCP on 127.0.0.1 between a servertest server
// and the Go client. Where the client cannot misbehave on purpose, a raw protocol session (package
// proto) or a proxy that drops or corrupts the connection stands in for it.

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
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/myftp/myftp/core/server/servertest"
	"github.com/myftp/myftp/lib/client"
	"github.com/myftp/myftp/lib/proto"
	"github.com/myftp/myftp/lib/transfer"
)

const (
	xUser = "alice"
	xPass = "correct horse"
	MiB   = 1 << 20
)

// xenv is a test server with one account, and a local directory for the client's files.
type xenv struct {
	*servertest.Env
	local string
}

func newXenv(t *testing.T, opt servertest.Options, quota int64) *xenv {
	t.Helper()
	e := &xenv{Env: servertest.Start(t, opt), local: t.TempDir()}
	e.AddUser(xUser, xPass, quota)
	return e
}

// login opens a session for t, which may be a subtest running in parallel with others.
func (e *xenv) login(t testing.TB) *client.Client {
	t.Helper()
	return e.loginAt(t, e.ClientConfig())
}

func (e *xenv) loginAt(t testing.TB, cfg client.Config) *client.Client {
	t.Helper()
	c, err := client.Dial(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(xUser, xPass); err != nil {
		t.Fatalf("login: %v", err)
	}
	return c
}

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

// onServer returns where the file vpath of the account lives on the server's disk.
func (e *xenv) onServer(vpath string) string {
	return filepath.Join(e.Home(xUser), filepath.FromSlash(vpath))
}

// partials returns the sizes of the unfinished uploads kept on the server.
func (e *xenv) partials(t testing.TB) []int64 {
	return partialsIn(t, e.Home(xUser))
}

// partialsIn lists the partial uploads of home. It may run on a client's goroutine, so it reports
// failures with Errorf.
func partialsIn(t testing.TB, home string) []int64 {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(home, ".myftp", "partial"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("list partial uploads: %v", err)
	}
	var sizes []int64
	for _, d := range entries {
		if strings.HasSuffix(d.Name(), ".json") {
			continue
		}
		if fi, err := d.Info(); err == nil { // a partial removed meanwhile is gone
			sizes = append(sizes, fi.Size())
		}
	}
	return sizes
}

// diskUsage adds up what a home holds on disk: the user's files and the partial uploads (the
// md5 records and the partial uploads' descriptions are the server's own and do not count).
func diskUsage(t testing.TB, home string) int64 {
	t.Helper()
	var n int64
	err := filepath.WalkDir(home, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(home, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() && rel == ".myftp/sums" {
			return filepath.SkipDir
		}
		if !d.Type().IsRegular() || strings.HasPrefix(rel, ".myftp/partial/") && strings.HasSuffix(rel, ".json") {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		n += fi.Size()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func randomData(n int, seed uint64) []byte {
	var s [32]byte
	binary.LittleEndian.PutUint64(s[:], seed)
	b := make([]byte, n)
	rand.NewChaCha8(s).Read(b)
	return b
}

func md5hex(b []byte) string { return fmt.Sprintf("%x", md5.Sum(b)) }

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

func wantCode(t testing.TB, err error, code int) *proto.ReplyError {
	t.Helper()
	var re *proto.ReplyError
	if !errors.As(err, &re) || re.Code != code {
		t.Fatalf("error = %v, want a %d reply", err, code)
	}
	return re
}

// waitFor polls cond until it holds or 20 s pass: for server-side effects that no reply reports,
// such as the end of a session whose client went away.
func waitFor(cond func() bool) bool {
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(2 * time.Millisecond)
	}
	return true
}

// xferLine is one line of the transfer log.
type xferLine struct {
	bytes  int64
	path   string
	dir    string // i or o
	user   string
	status string // c or i
}

func (e *xenv) xferlog(t testing.TB) []xferLine {
	t.Helper()
	return readXferlog(t, e.Xferlog)
}

func readXferlog(t testing.TB, file string) []xferLine {
	t.Helper()
	f, err := os.Open(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []xferLine
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fl := strings.Fields(sc.Text())
		if len(fl) != 18 {
			t.Fatalf("xferlog line with %d fields: %q", len(fl), sc.Text())
		}
		n, err := strconv.ParseInt(fl[7], 10, 64)
		if err != nil {
			t.Fatalf("xferlog bytes %q: %v", fl[7], err)
		}
		lines = append(lines, xferLine{bytes: n, path: fl[8], dir: fl[11], user: fl[13], status: fl[17]})
	}
	return lines
}

// linesFor returns the transfer log lines of the file vpath in direction dir.
func linesFor(lines []xferLine, vpath, dir string) []xferLine {
	var out []xferLine
	for _, l := range lines {
		if l.path == path.Join("/", xUser, vpath) && l.dir == dir {
			out = append(out, l)
		}
	}
	return out
}

// waitXfer waits until the transfer log has n lines for vpath in direction dir and returns them.
func (e *xenv) waitXfer(t testing.TB, vpath, dir string, n int) []xferLine {
	t.Helper()
	var got []xferLine
	if !waitFor(func() bool { got = linesFor(e.xferlog(t), vpath, dir); return len(got) >= n }) {
		t.Fatalf("transfer log: %d lines for %s (%s), want %d", len(got), vpath, dir, n)
	}
	return got
}

// cutAt returns a Progress func that, once n bytes of an upload have been sent, waits until the
// server holds them in its partial file and then calls cut (which must break the connection).
// Waiting first makes the resume point exact. Failures are reported through t.Errorf, as the
// func runs on the client's sending goroutine.
func (e *xenv) cutAt(t testing.TB, n int64, cut func()) func(done, total int64) {
	var once sync.Once
	return func(done, total int64) {
		if done < n {
			return
		}
		once.Do(func() {
			if !waitFor(func() bool { p := e.partials(t); return len(p) == 1 && p[0] >= done }) {
				t.Errorf("the server never stored %d bytes: partials %v", done, e.partials(t))
			}
			cut()
		})
	}
}

// proxy forwards TCP connections to a server. It can drop every connection at once, as when the
// client's machine dies, hold a download midway, and (plain sessions only) flip one bit in a data
// frame.
type proxy struct {
	l      net.Listener
	target string
	opt    proxyOptions

	mu      sync.Mutex
	conns   []net.Conn
	flipped []int64 // offsets in the data stream of the corrupted bytes
	dropped chan struct{}
	wg      sync.WaitGroup
}

type proxyOptions struct {
	// flipUp and flipDown are the 1-based index of the data frame, per connection, whose middle
	// byte is corrupted on its way to the server (up) or to the client (down); 0 for none.
	flipUp, flipDown int
	// holdDown, if not 0, is how many bytes go to the client before the proxy stops reading
	// from the server (with a small receive buffer), until the connection is dropped: the
	// server cannot finish sending a large file.
	holdDown int64
}

func startProxy(t testing.TB, target string, opt proxyOptions) *proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{l: l, target: target, opt: opt, dropped: make(chan struct{})}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		l.Close()
		p.drop()
		p.wg.Wait()
	})
	return p
}

func (p *proxy) Addr() string { return p.l.Addr().String() }

func (p *proxy) accept() {
	defer p.wg.Done()
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
		if p.opt.holdDown > 0 {
			s.(*net.TCPConn).SetReadBuffer(64 << 10)
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, s)
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(s, c, p.opt.flipUp, 0)
		go p.pipe(c, s, p.opt.flipDown, p.opt.holdDown)
	}
}

// pipe copies src to dst until either fails, then closes both.
func (p *proxy) pipe(dst, src net.Conn, flip int, hold int64) {
	defer p.wg.Done()
	switch {
	case flip > 0:
		p.copyFrames(dst, src, flip)
	case hold > 0:
		if _, err := io.CopyN(dst, src, hold); err == nil {
			<-p.dropped
		}
	default:
		io.Copy(dst, src)
	}
	dst.Close()
	src.Close()
}

// copyFrames forwards whole frames, flipping a bit in the middle of the flip-th data frame.
func (p *proxy) copyFrames(dst io.Writer, src io.Reader, flip int) error {
	var hdr [proto.FrameHeaderLen]byte
	buf := make([]byte, proto.MaxData)
	var frames int
	var offset int64
	for {
		if _, err := io.ReadFull(src, hdr[:]); err != nil {
			return err
		}
		n := binary.BigEndian.Uint32(hdr[1:])
		if n > proto.MaxData {
			return fmt.Errorf("proxy: frame of %d bytes", n)
		}
		payload := buf[:n]
		if _, err := io.ReadFull(src, payload); err != nil {
			return err
		}
		if proto.FrameType(hdr[0]) == proto.TypeData {
			if frames++; frames == flip && n > 0 {
				payload[n/2] ^= 0x10
				p.mu.Lock()
				p.flipped = append(p.flipped, offset+int64(n/2))
				p.mu.Unlock()
			}
			offset += int64(n)
		}
		if _, err := dst.Write(append(hdr[:], payload...)); err != nil {
			return err
		}
	}
}

// drop closes every connection at once, without a goodbye.
func (p *proxy) drop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.dropped:
	default:
		close(p.dropped)
	}
	for _, c := range p.conns {
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetLinger(0) // a reset, as from a machine that went away
		}
		c.Close()
	}
	p.conns = nil
}

func (p *proxy) flips() []int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]int64(nil), p.flipped...)
}

// rawSession speaks the protocol directly, to send what the client never would.
type rawSession struct {
	t    testing.TB
	conn net.Conn
	r    *proto.Reader
	w    *proto.Writer
}

// dialRaw connects, reads the greeting, runs TLS if the server uses it, and logs in.
func dialRaw(t testing.TB, addr string) *rawSession {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	s := &rawSession{t: t, conn: conn, r: proto.NewReader(conn, proto.DefaultMaxHeader)}
	if g := s.reply(); g.Code != proto.CodeReady {
		t.Fatalf("greeting %+v", g)
	} else if g.TLS {
		tc := tls.Client(conn, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13})
		if err := tc.Handshake(); err != nil {
			t.Fatal(err)
		}
		s.conn, s.r = tc, proto.NewReader(tc, proto.DefaultMaxHeader)
	}
	s.w = proto.NewWriter(s.conn)
	if rep := s.do(proto.Request{Op: proto.OpLogin, User: xUser, Password: xPass}); rep.Code != proto.CodeLoggedIn {
		t.Fatalf("login: %+v", rep)
	}
	return s
}

func (s *rawSession) send(req proto.Request) {
	s.t.Helper()
	if err := s.w.WriteJSON(proto.TypeRequest, req); err != nil {
		s.t.Fatal(err)
	}
}

func (s *rawSession) data(p []byte) {
	s.t.Helper()
	if err := s.w.WriteFrame(proto.TypeData, p); err != nil {
		s.t.Fatal(err)
	}
}

func (s *rawSession) reply() proto.Reply {
	s.t.Helper()
	if s.w != nil {
		if err := s.w.Flush(); err != nil {
			s.t.Fatal(err)
		}
	}
	f, err := s.r.Next()
	if err != nil {
		s.t.Fatal(err)
	}
	if f.Type != proto.TypeReply {
		s.t.Fatalf("%s frame where a reply was expected", f.Type)
	}
	rep, err := proto.DecodeReply(f.Payload)
	if err != nil {
		s.t.Fatal(err)
	}
	return rep
}

func (s *rawSession) do(req proto.Request) proto.Reply {
	s.t.Helper()
	s.send(req)
	return s.reply()
}

var past = time.Date(2021, 3, 4, 5, 6, 7, 123456789, time.UTC)

// TestRoundTrip puts files of the edge sizes and with awkward names and gets them back: the bytes
// are the same, both sides report the md5 of the data, and both copies keep the source's
// modification time.
func TestRoundTrip(t *testing.T) {
	t.Parallel()
	e := newXenv(t, servertest.Options{}, 0)
	e.login(t).Close() // record the server in known_hosts before the parallel sessions
	tests := []struct {
		name string
		size int
	}{
		{"empty", 0},
		{"one-byte", 1},
		{"64KiB+1", 64<<10 + 1},
		{"ten-MiB.bin", 10 * MiB},
		{"name with spaces.txt", 1000},
		{"中文文件名.txt", 4000},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			data := randomData(tt.size, uint64(i))
			mtime := past.Add(time.Duration(i) * time.Hour)
			src := writeFile(t, t.TempDir(), tt.name, data, mtime)
			c := e.login(t)
			put, err := c.Put(context.Background(), src, "", client.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if put.MD5 != md5hex(data) || put.Size != int64(tt.size) || put.Offset != 0 || put.Remote != tt.name {
				t.Errorf("put result %+v, want md5 %s and size %d", put, md5hex(data), tt.size)
			}
			sameBytes(t, "server copy", mustRead(t, e.onServer(tt.name)), data)
			if fi, err := os.Stat(e.onServer(tt.name)); err != nil || !fi.ModTime().Equal(mtime) {
				t.Errorf("server copy mtime = %v (%v), want the source's %v", fi.ModTime(), err, mtime)
			}
			if st, err := c.Stat(tt.name); err != nil || st.Size != int64(tt.size) || !st.Mtime.Equal(mtime) {
				t.Errorf("stat = %+v, %v", st, err)
			}

			dst := filepath.Join(t.TempDir(), "back")
			get, err := c.Get(context.Background(), tt.name, dst, client.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if get.MD5 != md5hex(data) || get.Size != int64(tt.size) || get.Offset != 0 || get.Local != dst {
				t.Errorf("get result %+v", get)
			}
			sameBytes(t, "downloaded copy", mustRead(t, dst), data)
			if fi, err := os.Stat(dst); err != nil || !fi.ModTime().Equal(mtime) {
				t.Errorf("downloaded copy mtime = %v (%v), want %v", fi.ModTime(), err, mtime)
			}
			mustNotExist(t, transfer.PartialName(dst))
		})
	}
}

// interruptions are the ways a transfer is cut off on the client's side.
var interruptions = []struct {
	name string
	// setup returns the client configuration to use and the func that breaks the session.
	setup func(t *testing.T, e *xenv) (client.Config, func(c *client.Client))
}{
	{"client closes", func(t *testing.T, e *xenv) (client.Config, func(*client.Client)) {
		return e.ClientConfig(), func(c *client.Client) { c.Close() }
	}},
	{"connection drops", func(t *testing.T, e *xenv) (client.Config, func(*client.Client)) {
		p := startProxy(t, e.Addr, proxyOptions{})
		cfg := e.ClientConfig()
		cfg.Addr = p.Addr()
		return cfg, func(*client.Client) { p.drop() }
	}},
}

// TestPutResume interrupts an upload and repeats it from a new session: only the missing bytes
// travel, the file appears only when complete, and it is byte-identical. The last cut comes after
// the last byte, before done: the resume sends nothing but done.
func TestPutResume(t *testing.T) {
	t.Parallel()
	const size = 8 * MiB
	for _, how := range interruptions {
		for _, cut := range []int64{3 * MiB, size} {
			t.Run(fmt.Sprintf("%s at %d", how.name, cut), func(t *testing.T) {
				t.Parallel()
				e := newXenv(t, servertest.Options{}, 0)
				data := randomData(size, 7)
				src := writeFile(t, e.local, "big.bin", data, past)
				cfg, breakIt := how.setup(t, e)

				c1 := e.loginAt(t, cfg)
				_, err := c1.Put(context.Background(), src, "", client.Options{Progress: e.cutAt(t, cut, func() { breakIt(c1) })})
				if err == nil {
					t.Fatal("the interrupted put succeeded")
				}
				mustNotExist(t, e.onServer("big.bin"))
				first := e.waitXfer(t, "big.bin", "i", 1)[0]
				if first.status != "i" || first.bytes != cut {
					t.Errorf("interrupted upload logged as %+v, want status i and %d bytes", first, cut)
				}

				c2 := e.login(t)
				res, err := c2.Put(context.Background(), src, "", client.Options{})
				if err != nil {
					t.Fatal(err)
				}
				if res.Offset != cut || res.Sent() != size-cut || res.Restart != "" || res.MD5 != md5hex(data) {
					t.Errorf("resumed put: %+v, want offset %d, md5 %s", res, cut, md5hex(data))
				}
				sameBytes(t, "server copy", mustRead(t, e.onServer("big.bin")), data)
				second := e.waitXfer(t, "big.bin", "i", 2)[1]
				if second.status != "c" || second.bytes != size-cut {
					t.Errorf("resumed upload logged as %+v, want status c and %d bytes", second, size-cut)
				}
				if p := e.partials(t); len(p) != 0 {
					t.Errorf("partial uploads left: %v", p)
				}
			})
		}
	}
}

// interruptGet downloads remote to dst and breaks the session once n bytes have arrived. It
// returns the size of the local partial file.
func interruptGet(t *testing.T, c *client.Client, remote, dst string, n int64, breakIt func()) int64 {
	t.Helper()
	var once sync.Once
	_, err := c.Get(context.Background(), remote, dst, client.Options{Progress: func(done, total int64) {
		if done >= n {
			once.Do(breakIt)
		}
	}})
	if err == nil {
		t.Fatal("the interrupted get succeeded")
	}
	mustNotExist(t, dst)
	fi, err := os.Stat(transfer.PartialName(dst))
	if err != nil {
		t.Fatalf("no partial download kept: %v", err)
	}
	if fi.Size() < n {
		t.Fatalf("partial download of %d bytes, want at least %d", fi.Size(), n)
	}
	return fi.Size()
}

// TestGetResume interrupts a download and repeats it: the partial file beside the target is
// continued, only the rest travels, and the result is byte-identical.
func TestGetResume(t *testing.T) {
	t.Parallel()
	for _, how := range interruptions {
		t.Run(how.name, func(t *testing.T) {
			t.Parallel()
			e := newXenv(t, servertest.Options{}, 0)
			const size = 12 * MiB
			data := randomData(size, 8)
			src := writeFile(t, e.local, "big.bin", data, past)
			if _, err := e.login(t).Put(context.Background(), src, "", client.Options{}); err != nil {
				t.Fatal(err)
			}
			cfg, breakIt := how.setup(t, e)
			dst := filepath.Join(t.TempDir(), "copy.bin")
			c1 := e.loginAt(t, cfg)
			have := interruptGet(t, c1, "big.bin", dst, 2*MiB, func() { breakIt(c1) })

			res, err := e.login(t).Get(context.Background(), "big.bin", dst, client.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if res.Offset != have || res.Sent() != size-have || res.Restart != "" || res.MD5 != md5hex(data) {
				t.Errorf("resumed get: %+v, want offset %d, md5 %s", res, have, md5hex(data))
			}
			sameBytes(t, "downloaded copy", mustRead(t, dst), data)
			mustNotExist(t, transfer.PartialName(dst))
			lines := e.waitXfer(t, "big.bin", "o", 2)
			var resumed []xferLine
			for _, l := range lines {
				if l.status == "c" && l.bytes == size-have {
					resumed = append(resumed, l)
				}
			}
			if len(resumed) != 1 {
				t.Errorf("transfer log %+v: want one complete download of %d bytes", lines, size-have)
			}
		})
	}
	t.Run("partial already complete", func(t *testing.T) {
		t.Parallel()
		e := newXenv(t, servertest.Options{}, 0)
		data := randomData(1*MiB, 9)
		src := writeFile(t, e.local, "f.bin", data, past)
		c := e.login(t)
		if _, err := c.Put(context.Background(), src, "", client.Options{}); err != nil {
			t.Fatal(err)
		}
		// A download that stopped after the last byte, before its check and rename.
		dst := filepath.Join(t.TempDir(), "f.bin")
		writeFile(t, filepath.Dir(dst), filepath.Base(transfer.PartialName(dst)), data, time.Now())
		res, err := c.Get(context.Background(), "f.bin", dst, client.Options{})
		if err != nil || res.Offset != int64(len(data)) || res.Sent() != 0 || res.MD5 != md5hex(data) {
			t.Fatalf("get with a complete partial: %+v, %v", res, err)
		}
		sameBytes(t, "downloaded copy", mustRead(t, dst), data)
		mustNotExist(t, transfer.PartialName(dst))
	})
}

// TestPutRestartsWhenSourceChanged: a partial upload is not continued with another source; the
// upload starts again at 0, says why, and stores the new content.
func TestPutRestartsWhenSourceChanged(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		size  int
		mtime time.Time
	}{
		{"new content and time", 6 * MiB, past.Add(time.Hour)},
		{"new content, same size and time", 4 * MiB, past},
		{"shorter than the partial", 1 * MiB, past.Add(time.Hour)},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newXenv(t, servertest.Options{}, 0)
			src := writeFile(t, e.local, "f.bin", randomData(4*MiB, 20), past)
			c1 := e.login(t)
			if _, err := c1.Put(context.Background(), src, "", client.Options{Progress: e.cutAt(t, 2*MiB, func() { c1.Close() })}); err == nil {
				t.Fatal("the interrupted put succeeded")
			}
			e.waitXfer(t, "f.bin", "i", 1)

			data := randomData(tt.size, uint64(30+i))
			writeFile(t, e.local, "f.bin", data, tt.mtime)
			res, err := e.login(t).Put(context.Background(), src, "", client.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if res.Offset != 0 || res.Restart == "" || res.Sent() != int64(tt.size) || res.MD5 != md5hex(data) {
				t.Errorf("put after the source changed: %+v, want a restart from 0", res)
			}
			t.Logf("restart: %s", res.Restart)
			sameBytes(t, "server copy", mustRead(t, e.onServer("f.bin")), data)
		})
	}
}

// TestGetRestartsWhenRemoteChanged: a partial download is not continued when the remote file was
// replaced meanwhile; the download starts again at 0, says why, and yields the new content.
func TestGetRestartsWhenRemoteChanged(t *testing.T) {
	t.Parallel()
	for _, size := range []int{6 * MiB, 512 << 10} { // the same size; shorter than the partial
		t.Run(strconv.Itoa(size), func(t *testing.T) {
			t.Parallel()
			e := newXenv(t, servertest.Options{}, 0)
			c := e.login(t)
			src := writeFile(t, e.local, "f.bin", randomData(6*MiB, 40), past)
			if _, err := c.Put(context.Background(), src, "", client.Options{}); err != nil {
				t.Fatal(err)
			}
			dst := filepath.Join(t.TempDir(), "f.bin")
			c1 := e.login(t)
			interruptGet(t, c1, "f.bin", dst, 1*MiB, func() { c1.Close() })

			newer := randomData(size, 41)
			writeFile(t, e.local, "f.bin", newer, past.Add(time.Minute))
			if _, err := c.Put(context.Background(), src, "", client.Options{}); err != nil {
				t.Fatal(err)
			}
			res, err := c.Get(context.Background(), "f.bin", dst, client.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if res.Offset != 0 || res.Restart == "" || res.MD5 != md5hex(newer) {
				t.Errorf("get after the remote changed: %+v, want a restart from 0", res)
			}
			t.Logf("restart: %s", res.Restart)
			sameBytes(t, "downloaded copy", mustRead(t, dst), newer)
			mustNotExist(t, transfer.PartialName(dst))
		})
	}
}

// TestUploadMD5Mismatch: an upload whose data does not match the client's md5 is refused with a
// 554 naming both sums, and nothing is stored: an older file of the same name stays as it was.
func TestUploadMD5Mismatch(t *testing.T) {
	t.Parallel()
	t.Run("wrong md5 in done", func(t *testing.T) {
		t.Parallel()
		e := newXenv(t, servertest.Options{}, 0)
		old := []byte("the old content\n")
		src := writeFile(t, e.local, "doc.txt", old, past)
		if _, err := e.login(t).Put(context.Background(), src, "", client.Options{}); err != nil {
			t.Fatal(err)
		}
		data := randomData(300<<10, 50)
		wrong := md5hex([]byte("something else"))
		s := dialRaw(t, e.Addr)
		if rep := s.do(proto.Request{Op: proto.OpPut, Path: "doc.txt", Size: int64(len(data)), Mtime: past}); rep.Code != proto.CodeSendData {
			t.Fatalf("put: %+v", rep)
		}
		s.data(data)
		if rep := s.reply(); rep.Code != proto.CodeOK {
			t.Fatalf("data: %+v", rep)
		}
		rep := s.do(proto.Request{Op: proto.OpDone, MD5: wrong})
		if rep.Code != proto.CodeTransferFail || !strings.Contains(rep.Msg, wrong) || !strings.Contains(rep.Msg, md5hex(data)) {
			t.Errorf("done with a wrong md5: %d %q; want 554 naming %s and %s", rep.Code, rep.Msg, wrong, md5hex(data))
		}
		if got := mustRead(t, e.onServer("doc.txt")); string(got) != string(old) {
			t.Errorf("the older file changed to %d bytes", len(got))
		}
		if p := e.partials(t); len(p) != 0 {
			t.Errorf("the bad upload was kept: %v", p)
		}
		if rep := s.do(proto.Request{Op: proto.OpNoop}); rep.Code != proto.CodeOK {
			t.Errorf("the session did not go on: %+v", rep)
		}
	})
	t.Run("corrupted on the wire", func(t *testing.T) {
		t.Parallel()
		e := newXenv(t, servertest.Options{Plain: true}, 0)
		p := startProxy(t, e.Addr, proxyOptions{flipUp: 2})
		cfg := client.Config{Addr: p.Addr(), Insecure: true}
		data := randomData(1*MiB, 51)
		src := writeFile(t, e.local, "x.bin", data, past)
		_, err := e.loginAt(t, cfg).Put(context.Background(), src, "", client.Options{})
		re := wantCode(t, err, proto.CodeTransferFail)
		flips := p.flips()
		if len(flips) != 1 {
			t.Fatalf("proxy flipped %v", flips)
		}
		bad := append([]byte(nil), data...)
		bad[flips[0]] ^= 0x10
		if !strings.Contains(re.Msg, md5hex(data)) || !strings.Contains(re.Msg, md5hex(bad)) {
			t.Errorf("554 %q does not name the client's %s and the server's %s", re.Msg, md5hex(data), md5hex(bad))
		}
		mustNotExist(t, e.onServer("x.bin"))
		if p := e.partials(t); len(p) != 0 {
			t.Errorf("the bad upload was kept: %v", p)
		}
	})
}

// TestDownloadMD5Mismatch: a download whose data does not match the server's md5 fails with a
// transfer.MismatchError naming both sums, and leaves no file under the target name.
func TestDownloadMD5Mismatch(t *testing.T) {
	t.Parallel()
	check := func(t *testing.T, err error, dst string, want, got []byte) {
		t.Helper()
		var me *transfer.MismatchError
		if !errors.As(err, &me) || me.Want != md5hex(want) || me.Got != md5hex(got) || me.Name != filepath.Base(dst) {
			t.Fatalf("get error = %v, want a mismatch for %s of %s (server) and %s (received)", err, filepath.Base(dst), md5hex(want), md5hex(got))
		}
		if !strings.Contains(err.Error(), md5hex(want)) || !strings.Contains(err.Error(), md5hex(got)) {
			t.Errorf("error %q does not name both sums", err)
		}
		mustNotExist(t, dst)
		mustNotExist(t, transfer.PartialName(dst))
	}
	t.Run("corrupted on the wire", func(t *testing.T) {
		t.Parallel()
		e := newXenv(t, servertest.Options{Plain: true}, 0)
		data := randomData(3*MiB, 60)
		src := writeFile(t, e.local, "x.bin", data, past)
		if _, err := e.loginAt(t, client.Config{Addr: e.Addr, Insecure: true}).Put(context.Background(), src, "", client.Options{}); err != nil {
			t.Fatal(err)
		}
		p := startProxy(t, e.Addr, proxyOptions{flipDown: 3})
		dst := filepath.Join(t.TempDir(), "x.bin")
		_, err := e.loginAt(t, client.Config{Addr: p.Addr(), Insecure: true}).Get(context.Background(), "x.bin", dst, client.Options{})
		flips := p.flips()
		if len(flips) != 1 {
			t.Fatalf("proxy flipped %v", flips)
		}
		bad := append([]byte(nil), data...)
		bad[flips[0]] ^= 0x10
		check(t, err, dst, data, bad)
	})
	t.Run("file rotted on the server", func(t *testing.T) {
		t.Parallel()
		e := newXenv(t, servertest.Options{}, 0)
		data := randomData(2*MiB, 61)
		src := writeFile(t, e.local, "x.bin", data, past)
		c := e.login(t)
		if _, err := c.Put(context.Background(), src, "", client.Options{}); err != nil {
			t.Fatal(err)
		}
		// One bit changes on the server's disk; size and time stay, so the recorded md5 looks valid.
		bad := append([]byte(nil), data...)
		bad[12345] ^= 1
		f, err := os.OpenFile(e.onServer("x.bin"), os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteAt(bad[12345:12346], 12345)
		f.Close()
		os.Chtimes(e.onServer("x.bin"), past, past)
		dst := filepath.Join(t.TempDir(), "x.bin")
		_, err = c.Get(context.Background(), "x.bin", dst, client.Options{})
		check(t, err, dst, data, bad)
	})
}

// TestQuotaLimits: a file of exactly the free space fits; one byte more is refused at the put
// reply, before any data, with a message in human units; rm frees space at once.
func TestQuotaLimits(t *testing.T) {
	t.Parallel()
	e := newXenv(t, servertest.Options{}, 10*MiB)
	c := e.login(t)
	other := writeFile(t, e.local, "other.bin", randomData(4*MiB, 70), past)
	if _, err := c.Put(context.Background(), other, "", client.Options{}); err != nil {
		t.Fatal(err)
	}

	s := dialRaw(t, e.Addr)
	rep := s.do(proto.Request{Op: proto.OpPut, Path: "big.bin", Size: 6*MiB + 1, Mtime: past})
	if rep.Code != proto.CodeQuota {
		t.Fatalf("put of one byte too many: %+v, want 552", rep)
	}
	for _, want := range []string{"used 4 MiB", "10 MiB", "6.0 MiB"} {
		if !strings.Contains(rep.Msg, want) {
			t.Errorf("552 message %q does not say %q", rep.Msg, want)
		}
	}
	if p := e.partials(t); len(p) != 0 {
		t.Errorf("a refused put left partial files: %v", p)
	}
	if rep := s.do(proto.Request{Op: proto.OpNoop}); rep.Code != proto.CodeOK {
		t.Errorf("the session did not go on: %+v", rep)
	}

	tooBig := writeFile(t, e.local, "big.bin", randomData(6*MiB+1, 71), past)
	if _, err := c.Put(context.Background(), tooBig, "", client.Options{}); err == nil {
		t.Fatal("put over the quota succeeded")
	} else {
		wantCode(t, err, proto.CodeQuota)
	}
	exact := writeFile(t, e.local, "big.bin", randomData(6*MiB, 72), past)
	if _, err := c.Put(context.Background(), exact, "", client.Options{}); err != nil {
		t.Fatalf("put of exactly the free space: %v", err)
	}
	if used, quota, err := c.Quota(); err != nil || used != 10*MiB || quota != 10*MiB {
		t.Errorf("quota = %d of %d (%v), want full", used, quota, err)
	}
	one := writeFile(t, e.local, "one", []byte{1}, past)
	_, err := c.Put(context.Background(), one, "", client.Options{})
	wantCode(t, err, proto.CodeQuota)

	if err := c.Rm("other.bin"); err != nil {
		t.Fatal(err)
	}
	if used, _, err := c.Quota(); err != nil || used != 6*MiB {
		t.Errorf("after rm: used %d (%v), want %d", used, err, 6*MiB)
	}
	if _, err := c.Put(context.Background(), one, "", client.Options{}); err != nil {
		t.Errorf("put after rm freed space: %v", err)
	}
}

// TestQuotaConcurrentSessions: two sessions of one account upload at once, together past the
// quota: exactly one is refused, whichever asks second.
func TestQuotaConcurrentSessions(t *testing.T) {
	t.Parallel()
	e := newXenv(t, servertest.Options{}, 10*MiB)
	src := writeFile(t, e.local, "six.bin", randomData(6*MiB, 80), past)
	clients := []*client.Client{e.login(t), e.login(t)}
	for round := range 4 {
		release := make(chan struct{})
		events := make(chan string, 4)
		results := make(chan error, 2)
		for i, c := range clients {
			go func() {
				var once sync.Once
				_, err := c.Put(context.Background(), src, fmt.Sprintf("r%d-%d.bin", round, i), client.Options{Progress: func(int64, int64) {
					once.Do(func() { events <- "uploading"; <-release })
				}})
				if err != nil {
					events <- "refused"
				}
				results <- err
			}()
		}
		got := []string{<-events, <-events} // both asked; the one uploading is paused
		close(release)
		var ok, refused int
		for range clients {
			err := <-results
			switch {
			case err == nil:
				ok++
			default:
				wantCode(t, err, proto.CodeQuota)
				refused++
			}
		}
		if ok != 1 || refused != 1 {
			t.Fatalf("round %d: %d uploads stored, %d refused (events %v); want one each", round, ok, refused, got)
		}
		used, _, err := clients[0].Quota()
		if err != nil || used != 6*MiB {
			t.Fatalf("round %d: used %d (%v), want %d", round, used, err, 6*MiB)
		}
		for i := range clients {
			clients[0].Rm(fmt.Sprintf("r%d-%d.bin", round, i))
		}
		if used, _, _ := clients[0].Quota(); used != 0 {
			t.Fatalf("round %d: used %d after rm", round, used)
		}
	}
}

// TestQuotaReplaceAndRestart: replacing a file counts only the difference, and a restarted server
// measures the same usage as the running count, partial uploads included.
func TestQuotaReplaceAndRestart(t *testing.T) {
	t.Parallel()
	e := newXenv(t, servertest.Options{}, 10*MiB)
	c := e.login(t)
	for _, f := range []struct {
		name string
		size int
	}{{"other.bin", 4 * MiB}, {"x.bin", 5 * MiB}} {
		src := writeFile(t, e.local, f.name, randomData(f.size, 90), past)
		if _, err := c.Put(context.Background(), src, "", client.Options{}); err != nil {
			t.Fatal(err)
		}
	}
	bigger := randomData(6*MiB, 91)
	src := writeFile(t, e.local, "x.bin", bigger, past.Add(time.Hour))
	if _, err := c.Put(context.Background(), src, "", client.Options{}); err != nil {
		t.Fatalf("replacing 5 MiB by 6 MiB with 4 MiB used elsewhere under a 10 MiB quota: %v", err)
	}
	sameBytes(t, "replaced file", mustRead(t, e.onServer("x.bin")), bigger)
	if used, _, err := c.Quota(); err != nil || used != 10*MiB {
		t.Errorf("used %d (%v), want %d", used, err, 10*MiB)
	}

	// Free some space and leave a partial upload behind, then restart the server on the same root.
	if err := c.Rm("other.bin"); err != nil {
		t.Fatal(err)
	}
	part := writeFile(t, e.local, "part.bin", randomData(3*MiB, 92), past)
	c2 := e.login(t)
	if _, err := c2.Put(context.Background(), part, "", client.Options{Progress: e.cutAt(t, 1*MiB, func() { c2.Close() })}); err == nil {
		t.Fatal("the interrupted put succeeded")
	}
	e.waitXfer(t, "part.bin", "i", 1)
	before, _, err := c.Quota()
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(7 * MiB); before != want || diskUsage(t, e.Home(xUser)) != want {
		t.Errorf("used %d, on disk %d; want %d (6 MiB file and 1 MiB partial)", before, diskUsage(t, e.Home(xUser)), want)
	}
	c.Close()
	e.Stop()

	e2 := &xenv{Env: servertest.Start(t, servertest.Options{Dir: e.Dir}), local: e.local}
	after, quota, err := e2.login(t).Quota()
	if err != nil || after != before || quota != 10*MiB {
		t.Errorf("after a restart: used %d of %d (%v), want %d of %d", after, quota, err, before, 10*MiB)
	}
}

// TestDownloadDuringReplace: a download in progress while an upload replaces its file gets the old
// file whole and verified; the next download gets the new one.
func TestDownloadDuringReplace(t *testing.T) {
	t.Parallel()
	e := newXenv(t, servertest.Options{}, 0)
	old, newer := randomData(5*MiB, 100), randomData(3*MiB, 101)
	src := writeFile(t, e.local, "f.bin", old, past)
	up := e.login(t)
	if _, err := up.Put(context.Background(), src, "", client.Options{}); err != nil {
		t.Fatal(err)
	}
	paused, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	dst := filepath.Join(t.TempDir(), "f.bin")
	got := make(chan error, 1)
	down := e.login(t)
	go func() {
		_, err := down.Get(context.Background(), "f.bin", dst, client.Options{Progress: func(done, _ int64) {
			if done > 0 {
				once.Do(func() { close(paused); <-release })
			}
		}})
		got <- err
	}()
	<-paused
	writeFile(t, e.local, "f.bin", newer, past.Add(time.Hour))
	if _, err := up.Put(context.Background(), src, "", client.Options{}); err != nil {
		t.Fatalf("replacing a file being downloaded: %v", err)
	}
	close(release)
	if err := <-got; err != nil {
		t.Fatalf("download of the replaced file: %v", err)
	}
	sameBytes(t, "download begun before the replacement", mustRead(t, dst), old)
	if _, err := up.Get(context.Background(), "f.bin", dst, client.Options{}); err != nil {
		t.Fatal(err)
	}
	sameBytes(t, "download after the replacement", mustRead(t, dst), newer)
}

// TestSamePathTwoSessions: while one session uploads a path, another gets 450 for it.
func TestSamePathTwoSessions(t *testing.T) {
	t.Parallel()
	e := newXenv(t, servertest.Options{}, 0)
	data := randomData(2*MiB, 110)
	src := writeFile(t, e.local, "f.bin", data, past)
	paused, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	first := make(chan error, 1)
	c1 := e.login(t)
	go func() {
		_, err := c1.Put(context.Background(), src, "", client.Options{Progress: func(int64, int64) {
			once.Do(func() { close(paused); <-release })
		}})
		first <- err
	}()
	<-paused
	_, err := e.login(t).Put(context.Background(), src, "", client.Options{})
	re := wantCode(t, err, proto.CodeFileBusy)
	if !strings.Contains(re.Msg, "f.bin") {
		t.Errorf("450 message %q does not name the file", re.Msg)
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatalf("the first upload: %v", err)
	}
	sameBytes(t, "server copy", mustRead(t, e.onServer("f.bin")), data)
}

// TestPutManyGetMany sends 200 small files in one batch and gets them back in another: all arrive
// intact, and the transfer log has one line per file each way.
func TestPutManyGetMany(t *testing.T) {
	t.Parallel()
	e := newXenv(t, servertest.Options{}, 0)
	c := e.login(t)
	const n = 200
	var puts, gets []client.Item
	want := map[string][]byte{}
	for i := range n {
		name := fmt.Sprintf("f%03d.dat", i)
		data := randomData(i*37, uint64(1000+i))
		want[name] = data
		puts = append(puts, client.Item{Local: writeFile(t, e.local, name, data, past)})
		gets = append(gets, client.Item{Remote: name, Local: filepath.Join(t.TempDir(), name)})
	}
	calls := 0
	err := c.PutMany(context.Background(), puts, client.Options{}, func(i int, r client.Result, err error) {
		if err != nil || i != calls || r.MD5 != md5hex(want[r.Remote]) {
			t.Errorf("put %d (call %d): %+v, %v", i, calls, r, err)
		}
		calls++
	})
	if err != nil || calls != n {
		t.Fatalf("PutMany: %v after %d files", err, calls)
	}
	for name, data := range want {
		sameBytes(t, "server copy of "+name, mustRead(t, e.onServer(name)), data)
	}
	calls = 0
	err = c.GetMany(context.Background(), gets, client.Options{}, func(i int, r client.Result, err error) {
		if err != nil || i != calls || r.MD5 != md5hex(want[r.Remote]) {
			t.Errorf("get %d (call %d): %+v, %v", i, calls, r, err)
		}
		calls++
	})
	if err != nil || calls != n {
		t.Fatalf("GetMany: %v after %d files", err, calls)
	}
	for _, it := range gets {
		sameBytes(t, "downloaded "+it.Remote, mustRead(t, it.Local), want[it.Remote])
	}
	count := map[string]int{}
	for _, l := range e.xferlog(t) {
		if l.status == "c" && l.user == xUser && l.bytes == int64(len(want[path.Base(l.path)])) {
			count[l.dir]++
		}
	}
	if count["i"] != n || count["o"] != n {
		t.Errorf("transfer log: %d uploads and %d downloads complete, want %d each", count["i"], count["o"], n)
	}
}

// TestTransferLogs: every transfer, finished or not, writes one transfer log line, and the event
// log records the md5 and the outcome.
func TestTransferLogs(t *testing.T) {
	t.Parallel()
	e := newXenv(t, servertest.Options{}, 0)
	c := e.login(t)
	data := randomData(1*MiB+3, 120)
	src := writeFile(t, e.local, "a.bin", data, past)
	if _, err := c.Put(context.Background(), src, "", client.Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(context.Background(), "a.bin", filepath.Join(t.TempDir(), "a.bin"), client.Options{}); err != nil {
		t.Fatal(err)
	}
	cut := writeFile(t, e.local, "b.bin", randomData(2*MiB, 121), past)
	c2 := e.login(t)
	if _, err := c2.Put(context.Background(), cut, "", client.Options{Progress: e.cutAt(t, 512<<10, func() { c2.Close() })}); err == nil {
		t.Fatal("the interrupted put succeeded")
	}
	big := writeFile(t, e.local, "d.bin", randomData(12*MiB, 122), past)
	if _, err := c.Put(context.Background(), big, "", client.Options{}); err != nil {
		t.Fatal(err)
	}
	p := startProxy(t, e.Addr, proxyOptions{holdDown: 2 * MiB})
	cfg := e.ClientConfig()
	cfg.Addr = p.Addr()
	interruptGet(t, e.loginAt(t, cfg), "d.bin", filepath.Join(t.TempDir(), "d.bin"), 1*MiB, p.drop)
	s := dialRaw(t, e.Addr)
	s.do(proto.Request{Op: proto.OpPut, Path: "c.bin", Size: 3})
	s.data([]byte("abc"))
	s.reply()
	if rep := s.do(proto.Request{Op: proto.OpDone, MD5: md5hex([]byte("abd"))}); rep.Code != proto.CodeTransferFail {
		t.Fatalf("done with a wrong md5: %+v", rep)
	}

	e.waitXfer(t, "b.bin", "i", 1)
	down := e.waitXfer(t, "d.bin", "o", 1)[0]
	if down.status != "i" || down.bytes >= 12*MiB {
		t.Errorf("interrupted download logged as %+v, want status i and less than %d bytes", down, 12*MiB)
	}
	down.bytes = 0 // how much the server wrote before it noticed depends on socket buffers
	got := e.xferlog(t)
	for i := range got {
		if got[i].path == down.path && got[i].dir == "o" {
			got[i].bytes = 0
		}
	}
	want := []xferLine{
		{bytes: 1*MiB + 3, path: "/alice/a.bin", dir: "i", user: xUser, status: "c"},
		{bytes: 1*MiB + 3, path: "/alice/a.bin", dir: "o", user: xUser, status: "c"},
		{bytes: 512 << 10, path: "/alice/b.bin", dir: "i", user: xUser, status: "i"},
		{bytes: 12 * MiB, path: "/alice/d.bin", dir: "i", user: xUser, status: "c"},
		{bytes: 0, path: "/alice/d.bin", dir: "o", user: xUser, status: "i"},
		{bytes: 3, path: "/alice/c.bin", dir: "i", user: xUser, status: "i"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("transfer log:\n%v\nwant\n%v", got, want)
	}

	events := string(mustRead(t, filepath.Join(e.Dir, "log", "myftps.log")))
	for _, want := range [][]string{
		{`msg="upload complete"`, "path=/a.bin", "size=1048579", "md5=" + md5hex(data)},
		{`msg="download complete"`, "path=/a.bin", "size=1048579", "md5=" + md5hex(data)},
		{`msg="upload interrupted"`, "path=/b.bin", "received=524288"},
		{`msg="upload failed"`, "path=/c.bin", `err="md5 mismatch`, md5hex([]byte("abc")), md5hex([]byte("abd"))},
	} {
		if !hasEvent(events, want) {
			t.Errorf("event log lacks a line with %q", want)
		}
	}
	if t.Failed() {
		t.Log(events)
	}
}

// hasEvent reports whether one line of the event log contains all of want.
func hasEvent(log string, want []string) bool {
	for line := range strings.Lines(log) {
		all := true
		for _, w := range want {
			all = all && strings.Contains(line, w)
		}
		if all {
			return true
		}
	}
	return false
}

// TestCancelledTransfers: cancelling the context of a transfer returns at once and closes the
// session (as package client documents), so the server ends the transfer and a new session can
// resume it.
func TestCancelledTransfers(t *testing.T) {
	t.Parallel()
	e := newXenv(t, servertest.Options{}, 0)
	cfg := e.ClientConfig()
	cfg.IOTimeout = 0 // the default 5 minutes: a transfer that waits for the timeout fails the test
	within := func(t *testing.T, what string, run func() error) error {
		t.Helper()
		done := make(chan error, 1)
		go func() { done <- run() }()
		select {
		case err := <-done:
			return err
		case <-time.After(20 * time.Second):
			t.Fatalf("%s did not return within 20 s of the cancel", what)
			return nil
		}
	}

	t.Run("put", func(t *testing.T) {
		data := randomData(6*MiB, 130)
		src := writeFile(t, e.local, "put.bin", data, past)
		c := e.loginAt(t, cfg)
		ctx, cancel := context.WithCancel(context.Background())
		err := within(t, "Put", func() error {
			_, err := c.Put(ctx, src, "", client.Options{Progress: func(done, _ int64) {
				if done >= 2*MiB {
					cancel()
				}
			}})
			return err
		})
		if !errors.Is(err, context.Canceled) || c.Err() == nil {
			t.Fatalf("cancelled put: %v; connection error %v, want both set", err, c.Err())
		}
		kept := e.waitXfer(t, "put.bin", "i", 1)[0]
		res, err := e.login(t).Put(context.Background(), src, "", client.Options{})
		if err != nil || kept.status != "i" || res.Offset != kept.bytes || res.MD5 != md5hex(data) {
			t.Fatalf("put after the cancel: %+v, %v; want a resume at the %d bytes the server kept", res, err, kept.bytes)
		}
	})
	t.Run("put many", func(t *testing.T) {
		var items []client.Item
		for i := range 16 {
			items = append(items, client.Item{Local: writeFile(t, e.local, fmt.Sprintf("m%02d", i), randomData(1*MiB, uint64(140+i)), past)})
		}
		c := e.loginAt(t, cfg)
		ctx, cancel := context.WithCancel(context.Background())
		err := within(t, "PutMany", func() error {
			return c.PutMany(ctx, items, client.Options{}, func(i int, _ client.Result, _ error) {
				if i == 1 {
					cancel()
				}
			})
		})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled PutMany: %v", err)
		}
	})
	t.Run("get", func(t *testing.T) {
		src := writeFile(t, e.local, "get.bin", randomData(8*MiB, 150), past)
		if _, err := e.login(t).Put(context.Background(), src, "", client.Options{}); err != nil {
			t.Fatal(err)
		}
		c := e.loginAt(t, cfg)
		ctx, cancel := context.WithCancel(context.Background())
		dst := filepath.Join(t.TempDir(), "get.bin")
		err := within(t, "Get", func() error {
			_, err := c.Get(ctx, "get.bin", dst, client.Options{Progress: func(done, _ int64) {
				if done >= 1*MiB {
					cancel()
				}
			}})
			return err
		})
		if !errors.Is(err, context.Canceled) || c.Err() == nil {
			t.Fatalf("cancelled get: %v; connection error %v, want both set", err, c.Err())
		}
		mustNotExist(t, dst)
		if _, err := os.Stat(transfer.PartialName(dst)); err != nil {
			t.Errorf("no partial download kept: %v", err)
		}
	})
}

// TestBatchGoesOnAfterFailures: files of a batch that fail (over quota, missing, no such
// directory) fail alone; the others arrive and the session stays in step.
func TestBatchGoesOnAfterFailures(t *testing.T) {
	t.Parallel()
	e := newXenv(t, servertest.Options{}, 100<<10)
	a := writeFile(t, e.local, "a", randomData(10<<10, 160), past)
	b := writeFile(t, e.local, "b", randomData(200<<10, 161), past)
	c := writeFile(t, e.local, "c", randomData(10<<10, 162), past)
	cl := e.login(t)
	puts := []client.Item{{Local: a}, {Local: b}, {Local: filepath.Join(e.local, "missing")}, {Local: c}, {Local: a, Remote: "nodir/a"}, {Local: c, Remote: "c2"}}
	failed := map[int]error{}
	err := cl.PutMany(context.Background(), puts, client.Options{}, func(i int, _ client.Result, err error) {
		if err != nil {
			failed[i] = err
		}
	})
	if len(failed) != 3 || failed[1] == nil || failed[2] == nil || failed[4] == nil {
		t.Fatalf("PutMany failures %v, want items 1, 2 and 4", failed)
	}
	wantCode(t, failed[1], proto.CodeQuota)
	wantCode(t, failed[4], proto.CodeUnavailFile)
	if err == nil {
		t.Error("PutMany reported no error")
	}
	for _, name := range []string{"a", "c", "c2"} {
		sameBytes(t, name, mustRead(t, e.onServer(name)), mustRead(t, filepath.Join(e.local, strings.TrimSuffix(name, "2"))))
	}

	out := t.TempDir()
	clear(failed)
	err = cl.GetMany(context.Background(), []client.Item{{Remote: "a", Local: out}, {Remote: "b", Local: out}, {Remote: "c", Local: out}, {Remote: "c2", Local: out}}, client.Options{}, func(i int, _ client.Result, err error) {
		if err != nil {
			failed[i] = err
		}
	})
	if len(failed) != 1 || err == nil {
		t.Fatalf("GetMany failures %v (%v), want item 1", failed, err)
	}
	wantCode(t, failed[1], proto.CodeUnavailFile)
	mustNotExist(t, filepath.Join(out, "b"))
	mustNotExist(t, transfer.PartialName(filepath.Join(out, "b")))
	for _, name := range []string{"a", "c", "c2"} {
		sameBytes(t, name, mustRead(t, filepath.Join(out, name)), mustRead(t, e.onServer(name)))
	}
	if err := cl.Noop(); err != nil {
		t.Errorf("the session is out of step: %v", err)
	}
}

// TestGetManySameTarget: two files of one batch that would land on the same local file do not
// share a partial download; the second is refused and the first arrives intact.
func TestGetManySameTarget(t *testing.T) {
	t.Parallel()
	e := newXenv(t, servertest.Options{}, 0)
	c := e.login(t)
	first, second := randomData(300<<10, 170), randomData(100<<10, 171)
	for _, f := range []struct {
		dir  string
		data []byte
	}{{"d1", first}, {"d2", second}} {
		if _, err := c.Mkdir(f.dir, false); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Put(context.Background(), writeFile(t, e.local, f.dir, f.data, past), f.dir+"/a.txt", client.Options{}); err != nil {
			t.Fatal(err)
		}
	}
	out := t.TempDir()
	errs := make([]error, 2)
	err := c.GetMany(context.Background(), []client.Item{{Remote: "d1/a.txt", Local: out}, {Remote: "d2/a.txt", Local: out}}, client.Options{},
		func(i int, _ client.Result, err error) { errs[i] = err })
	if err == nil || errs[0] != nil || errs[1] == nil {
		t.Fatalf("GetMany = %v, per file %v; want the second refused", err, errs)
	}
	sameBytes(t, "a.txt", mustRead(t, filepath.Join(out, "a.txt")), first)
	if err := c.Noop(); err != nil {
		t.Errorf("the session is out of step: %v", err)
	}
}
