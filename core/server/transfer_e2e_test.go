package server_test

// End-to-end tests of put and get: real sessions over TCP on 127.0.0.1 between a servertest server
// and the Go client. Where the client cannot misbehave on purpose, a raw protocol connection
// (rawConn) or a proxy that drops or corrupts the connection (proxy_test.go) stands in for it.
//
// This file has the server of these tests (xenv), the round trip and the md5 checks; interrupted
// transfers, quotas and batches are in transfer_resume, transfer_quota and transfer_batch_e2e_test.go.

import (
	"bufio"
	"context"
	"errors"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/myftp/myftp/core/server/servertest"
	"github.com/myftp/myftp/lib/checksum"
	"github.com/myftp/myftp/lib/client"
	"github.com/myftp/myftp/lib/proto"
	"github.com/myftp/myftp/lib/transfer"
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

// login opens a session of the account for t, which may be a subtest running in parallel with
// others.
func (e *xenv) login(t testing.TB) *client.Client {
	t.Helper()
	return loginWith(t, e.ClientConfig(), xUser, xPass)
}

// onServer returns where the file vpath of the account lives on the server's disk.
func (e *xenv) onServer(vpath string) string {
	return filepath.Join(e.Home(xUser), filepath.FromSlash(vpath))
}

// partials returns the sizes of the unfinished uploads kept on the server.
func (e *xenv) partials(t testing.TB) map[string]int64 {
	return partials(t, e.Home(xUser))
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
	if !servertest.WaitFor(20*time.Second, func() bool { got = linesFor(e.xferlog(t), vpath, dir); return len(got) >= n }) {
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
			if !servertest.WaitFor(20*time.Second, func() bool { p := e.partials(t); return len(p) == 1 && only(p) >= done }) {
				t.Errorf("the server never stored %d bytes: partials %v", done, e.partials(t))
			}
			cut()
		})
	}
}

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
			if put.Sum != servertest.Sum(put.Checksum, data) || put.Size != int64(tt.size) || put.Offset != 0 || put.Remote != tt.name {
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
			if get.Sum != servertest.Sum(get.Checksum, data) || get.Size != int64(tt.size) || get.Offset != 0 || get.Local != dst {
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

// TestUploadChecksumMismatch: an upload whose data does not match the client's checksum (md5 from
// an old client, blake3 from myftpc) is refused with a 554 naming both sums, and nothing is stored:
// an older file of the same name stays as it was.
func TestUploadChecksumMismatch(t *testing.T) {
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
		s := rawLogin(t, e.Addr, xUser, xPass)
		if rep := s.do(proto.Request{Op: proto.OpPut, Path: "doc.txt", Size: int64(len(data)), Mtime: past}); rep.Code != proto.CodeSendData {
			t.Fatalf("put: %+v", rep)
		}
		s.frame(proto.TypeData, data)
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
		_, err := loginWith(t, cfg, xUser, xPass).Put(context.Background(), src, "", client.Options{})
		re := wantReply(t, "put corrupted on the wire", err, proto.CodeTransferFail, "")
		flips := p.flips()
		if len(flips) != 1 {
			t.Fatalf("proxy flipped %v", flips)
		}
		bad := append([]byte(nil), data...)
		bad[flips[0]] ^= 0x10
		if !strings.Contains(re.Msg, b3hex(data)) || !strings.Contains(re.Msg, b3hex(bad)) {
			t.Errorf("554 %q does not name the client's %s and the server's %s", re.Msg, b3hex(data), b3hex(bad))
		}
		mustNotExist(t, e.onServer("x.bin"))
		if p := e.partials(t); len(p) != 0 {
			t.Errorf("the bad upload was kept: %v", p)
		}
	})
}

// TestDownloadChecksumMismatch: a download whose data does not match the server's checksum fails
// with a transfer.MismatchError naming both sums, and leaves no file under the target name.
func TestDownloadChecksumMismatch(t *testing.T) {
	t.Parallel()
	check := func(t *testing.T, err error, dst string, want, got []byte) {
		t.Helper()
		var me *transfer.MismatchError
		if !errors.As(err, &me) || me.Checksum != checksum.BLAKE3 || me.Want != b3hex(want) || me.Got != b3hex(got) || me.Name != filepath.Base(dst) {
			t.Fatalf("get error = %v, want a blake3 mismatch for %s of %s (server) and %s (received)", err, filepath.Base(dst), b3hex(want), b3hex(got))
		}
		if !strings.Contains(err.Error(), b3hex(want)) || !strings.Contains(err.Error(), b3hex(got)) {
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
		if _, err := loginWith(t, client.Config{Addr: e.Addr, Insecure: true}, xUser, xPass).Put(context.Background(), src, "", client.Options{}); err != nil {
			t.Fatal(err)
		}
		p := startProxy(t, e.Addr, proxyOptions{flipDown: 3})
		dst := filepath.Join(t.TempDir(), "x.bin")
		_, err := loginWith(t, client.Config{Addr: p.Addr(), Insecure: true}, xUser, xPass).Get(context.Background(), "x.bin", dst, client.Options{})
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
		// One bit changes on the server's disk; size and time stay, so the recorded sum looks valid.
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
