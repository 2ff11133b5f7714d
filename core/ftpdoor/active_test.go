package ftpdoor_test

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/myftp/myftp/core/server/servertest"
)

// Active mode (PORT, EPRT), turned on: the server connects to the client for each transfer. The
// engine dials those connections itself; the door still bounds their reads and writes as it
// bounds passive ones (idle_test.go).

// startActive runs a server whose FTP door allows active mode, with the timeouts of startIdle.
func startActive(t *testing.T) *env {
	c := doorDefaults()
	c.Active = true
	c.IdleTimeout, c.WriteTimeout, c.AcceptTimeout = idleBound, idleBound, idleBound
	return start(t, servertest.Options{FTP: &c})
}

// TestActiveModeWithFtplib: Python's ftplib in active mode (set_pasv(False): EPRT on loopback)
// lists, uploads and downloads over TLS, without the server needing to be root (the engine
// would otherwise bind port 20).
func TestActiveModeWithFtplib(t *testing.T) {
	t.Parallel()
	e := startActive(t)
	e.user("ines", 0)
	writeFile(t, e.Home("ines"), "x.txt", []byte("hello"))
	r := e.python(t, t.TempDir(), "ines", `
f = connect(Reuse)
f.set_pasv(False)
out("listed", sorted(name for name, facts in f.mlsd()))
data = bytes(range(256)) * 4000
f.storbinary("STOR y.bin", io.BytesIO(data))
buf = io.BytesIO()
f.retrbinary("RETR y.bin", buf.write)
out("same", buf.getvalue() == data)
f.quit()
`)
	wantOK(t, "ftplib active", r)
	for _, want := range []string{"listed ['x.txt']\n", "same True\n"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("ftplib output lacks %q:\n%s", want, r.stdout)
		}
	}
	want := bytes.Repeat(func() []byte {
		b := make([]byte, 256)
		for i := range b {
			b[i] = byte(i)
		}
		return b
	}(), 4000)
	sameFile(t, e.Home("ines")+"/y.bin", want)
}

// activeData sends EPRT for a listener of the test's and returns a function that, once the
// transfer command is sent, takes the server's connection (with TLS, as the TLS client).
func (f *rawFTP) activeData() func() *dataConn {
	f.t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(f.t, err)
	f.t.Cleanup(func() { l.Close() })
	f.must(200, "EPRT |1|127.0.0.1|%d|", l.Addr().(*net.TCPAddr).Port)
	return func() *dataConn {
		f.t.Helper()
		raw, err := l.Accept()
		must(f.t, err)
		f.t.Cleanup(func() { raw.Close() })
		dc := &dataConn{conn: raw, raw: raw}
		if f.protected {
			dc.tls = tls.Client(raw, f.tls)
			dc.conn = dc.tls
		}
		return dc
	}
}

// activeRetr uploads data as big.bin (passive) and starts its download in active mode.
func (f *rawFTP) activeRetr(data []byte) *dataConn {
	f.t.Helper()
	if code, msg := f.stor("big.bin", data); code != 226 {
		f.t.Fatalf("STOR: %d %s", code, msg)
	}
	accept := f.activeData()
	code, msg, err := f.cmd("RETR big.bin")
	must(f.t, err)
	if code != 150 {
		f.t.Fatalf("RETR: %d %s", code, msg)
	}
	return accept()
}

// TestActiveSilentUploadIsCut: an active-mode upload whose client sends part of the file and
// then nothing is cut after idle_timeout, its part kept to resume, and the session freed.
func TestActiveSilentUploadIsCut(t *testing.T) {
	e := startActive(t)
	f := e.login(t, "ann", e.user("ann", 0))
	accept := f.activeData()
	code, msg, err := f.cmd("STOR big.bin")
	must(t, err)
	if code != 150 {
		t.Fatalf("STOR: %d %s", code, msg)
	}
	dc := accept()
	if _, err := dc.conn.Write(randomBytes(4, 100_000)); err != nil {
		t.Fatalf("first part of the upload: %v", err)
	}
	e.servedMeanwhile(t, "bob")
	f.wantAborted("received")
	e.wantFreed(t, f)
	h := e.login(t, "ann", "ann-pw")
	if held := h.must(213, "SIZE big.bin"); held != "100000" {
		t.Fatalf("SIZE after the cut: %s; want 100000", held)
	}
}

// TestActiveUnreadDownloadIsCut: an active-mode download whose client reads nothing is cut after
// write_timeout, and the session freed.
func TestActiveUnreadDownloadIsCut(t *testing.T) {
	e := startActive(t)
	f := e.login(t, "ann", e.user("ann", 0))
	// More than the kernel's socket buffers on both sides can hold.
	dc := f.activeRetr(randomBytes(5, 32<<20))
	must(t, dc.tls.Handshake()) // then read nothing
	e.servedMeanwhile(t, "bob")
	f.wantAborted("read by the client")
	e.wantFreed(t, f)
}

// TestActiveSlowReaderIsNotCut: an active-mode download read slowly, each piece within
// write_timeout but the whole much longer, is not cut: the bounded writes of the TLS connection
// are small enough for each to go through.
func TestActiveSlowReaderIsNotCut(t *testing.T) {
	e := startActive(t)
	f := e.login(t, "ann", e.user("ann", 0))
	data := randomBytes(6, 16<<20)
	dc := f.activeRetr(data)
	// 256 KiB a tenth of a bound. A reader of 64 KiB a tenth, which passive connections (bounded
	// per byte, under TLS) survive, was cut here after 4 MiB: over TLS the bound is per record,
	// and the receiver's window stayed shut for a whole second at times.
	got, start := &bytes.Buffer{}, time.Now()
	for time.Since(start) < 3*idleBound {
		if _, err := io.CopyN(got, dc.conn, 256<<10); err != nil {
			t.Fatalf("download after %d bytes: %v", got.Len(), err)
		}
		time.Sleep(idleBound / 10) // the slow reader being simulated, not a synchronisation
	}
	if _, err := io.Copy(got, dc.conn); err != nil {
		code, msg := f.mustReplyAny()
		t.Fatalf("download after %d bytes: %v; the server's reply: %d %s", got.Len(), err, code, msg)
	}
	f.mustReply(226)
	if !bytes.Equal(got.Bytes(), data) {
		t.Fatalf("download: %d bytes, want %d", got.Len(), len(data))
	}
}
