package ftpdoor_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/myftp/myftp/core/auth"
	"github.com/myftp/myftp/core/door"
	"github.com/myftp/myftp/core/server/servertest"
	"github.com/myftp/myftp/lib/account"
)

// The door's bounds on data connections, on real TCP with bounds of one second: a client that
// opens a transfer and goes silent is cut, its upload kept to resume, and its worker freed once
// the control connection is idle too; a passive port nobody connects to is closed.

// idleBound is the idle_timeout, write_timeout and accept_timeout of these tests.
const idleBound = time.Second

// startIdle runs a server whose FTP door has idleBound for its timeouts: the data connections'
// bounds and the control connection's idle bound are the same, so that they fall together.
func startIdle(t *testing.T) *env {
	c := doorDefaults()
	c.IdleTimeout, c.WriteTimeout, c.AcceptTimeout = idleBound, idleBound, idleBound
	return start(t, servertest.Options{FTP: &c})
}

// servedMeanwhile shows that another client is served: it logs in, uploads and downloads a file,
// and quits.
func (e *env) servedMeanwhile(t *testing.T, user string) {
	t.Helper()
	g := e.login(t, user, e.user(user, 0))
	data := randomBytes(7, 50_000)
	if code, msg := g.stor("other.bin", data); code != 226 {
		t.Fatalf("another client's upload: %d %s", code, msg)
	}
	if got := g.retr("other.bin"); !bytes.Equal(got, data) {
		t.Fatalf("another client's download: %d bytes, want %d", len(got), len(data))
	}
	g.must(221, "QUIT")
}

// wantAborted reads the reply that ends a transfer cut for idleness. The engine (ftpserverlib
// v0.32.3) lets a driver choose only 550, 552 or 553 for a failed transfer, not vsftpd's 426: the
// text says what happened.
func (f *rawFTP) wantAborted(what string) {
	f.t.Helper()
	code, msg := f.mustReplyAny()
	if code != 550 || !strings.Contains(msg, "transfer aborted: nothing "+what+" for 1s") {
		f.t.Fatalf("reply after the silence: %d %q; want 550 transfer aborted: nothing %s for 1s", code, msg, what)
	}
}

// wantFreed waits until the server has closed the control connection and no session holds a
// worker.
func (e *env) wantFreed(t *testing.T, f *rawFTP) {
	t.Helper()
	f.closed("the idle session")
	servertest.Eventually(t, "every worker free", func() bool { return e.Server.Stats().Running == 0 })
}

func TestSilentUploadIsCutAndResumable(t *testing.T) {
	e := startIdle(t)
	f := e.login(t, "ann", e.user("ann", 0))
	data := randomBytes(1, 300_000)
	dc, code, msg := f.open(dataOpts{}, "STOR big.bin")
	if code != 150 {
		t.Fatalf("STOR: %d %s", code, msg)
	}
	if _, err := dc.conn.Write(data[:100_000]); err != nil {
		t.Fatalf("first part of the upload: %v", err)
	}
	e.servedMeanwhile(t, "bob")
	f.wantAborted("received")
	e.wantFreed(t, f)
	wantXfer(t, e.waitXfer(t, 3)[2], "i", "ann", "/ann/big.bin", 100_000, false)

	h := e.login(t, "ann", "ann-pw")
	if held := h.must(213, "SIZE big.bin"); held != "100000" {
		t.Fatalf("SIZE after the cut: %s; want 100000", held)
	}
	h.must(350, "REST 100000")
	if code, msg := h.stor("big.bin", data[100_000:]); code != 226 {
		t.Fatalf("resumed STOR: %d %s", code, msg)
	}
	sameFile(t, e.Home("ann")+"/big.bin", data)
}

func TestUnreadDownloadIsCut(t *testing.T) {
	e := startIdle(t)
	f := e.login(t, "ann", e.user("ann", 0))
	// More than the kernel's socket buffers on both sides and the door's own can hold.
	data := randomBytes(2, 32<<20)
	if code, msg := f.stor("big.bin", data); code != 226 {
		t.Fatalf("STOR: %d %s", code, msg)
	}
	dc, code, msg := f.open(dataOpts{}, "RETR big.bin")
	if code != 150 {
		t.Fatalf("RETR: %d %s", code, msg)
	}
	must(t, dc.tls.Handshake()) // then read nothing
	e.servedMeanwhile(t, "bob")
	f.wantAborted("read by the client")
	e.wantFreed(t, f)
	lines := e.waitXfer(t, 4)
	if l := lines[3]; l.path != "/ann/big.bin" || l.direction != "o" || l.complete != "i" {
		t.Fatalf("xferlog of the cut download: %q; want an incomplete download of /big.bin", l.raw)
	}
}

func TestSlowReaderIsNotCut(t *testing.T) {
	e := startIdle(t)
	f := e.login(t, "ann", e.user("ann", 0))
	data := randomBytes(3, 16<<20)
	if code, msg := f.stor("big.bin", data); code != 226 {
		t.Fatalf("STOR: %d %s", code, msg)
	}
	dc, code, msg := f.open(dataOpts{}, "RETR big.bin")
	if code != 150 {
		t.Fatalf("RETR: %d %s", code, msg)
	}
	// Read in small pieces, each within the bound, for longer than the bound in all.
	got, start := &bytes.Buffer{}, time.Now()
	for time.Since(start) < 3*idleBound {
		if _, err := io.CopyN(got, dc.conn, 64<<10); err != nil {
			t.Fatalf("download after %d bytes: %v", got.Len(), err)
		}
		time.Sleep(idleBound / 10) // the slow reader being simulated, not a synchronisation
	}
	_, err := io.Copy(got, dc.conn)
	must(t, err)
	f.mustReply(226)
	if !bytes.Equal(got.Bytes(), data) {
		t.Fatalf("download: %d bytes, want %d", got.Len(), len(data))
	}
}

func TestPassivePortNobodyConnectsTo(t *testing.T) {
	// The session must outlive the passive port it leaves unused: its control connection idles
	// longer.
	c := doorDefaults()
	c.IdleTimeout, c.WriteTimeout, c.AcceptTimeout = 3*idleBound, idleBound, idleBound
	e := start(t, servertest.Options{FTP: &c})
	f := e.login(t, "ann", e.user("ann", 0))

	f.epsv()
	if code, msg := f.mustReplyAnyTo("STOR never.bin"); code != 425 {
		t.Fatalf("STOR with no data connection: %d %s; want 425", code, msg)
	}
	absent(t, e.Home("ann")+"/never.bin")

	addr := f.epsv()
	servertest.Eventually(t, "the unused passive port "+addr+" closed", func() bool {
		c, err := net.DialTimeout("tcp", addr, ioTimeout)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	if code, msg := f.stor("after.bin", []byte("still served")); code != 226 {
		t.Fatalf("STOR on a new passive port: %d %s", code, msg)
	}
	e.wantFreed(t, f)
}

// mustReplyAnyTo sends a command and returns its reply, failing the test only if there is none.
func (f *rawFTP) mustReplyAnyTo(format string, args ...any) (int, string) {
	f.t.Helper()
	code, msg, err := f.cmd(format, args...)
	if err != nil {
		f.t.Fatalf("%s: %v", fmt.Sprintf(format, args...), err)
	}
	return code, msg
}

// TestReplyAfterControlIdleBound: a transfer's reply that the engine writes after the control
// connection's idle deadline has passed reaches the client intact, and the session then ends with
// the engine's idle 421. The engine (ftpserverlib v0.32.3) bounds its command reads with
// SetDeadline, which bounds writes as well; here the transfer command holds the engine's transfer
// lock while it waits for a data connection (accept_timeout, 2 s), so the control connection's
// idle bound (1 s) passes first and its reader waits on that lock: the 425 is written a second
// after that deadline. A write refused for that deadline left the TLS stream a record short, and
// the client read "tls: bad record MAC" in place of the 425.
func TestReplyAfterControlIdleBound(t *testing.T) {
	c := doorDefaults()
	c.IdleTimeout, c.WriteTimeout, c.AcceptTimeout = idleBound, idleBound, 2*idleBound
	e := start(t, servertest.Options{FTP: &c})
	f := e.login(t, "ann", e.user("ann", 0))
	f.epsv()
	code, msg, err := f.cmd("STOR never.bin") // and no data connection
	if err != nil || code != 425 {
		t.Fatalf("STOR with no data connection: %d %q, %v; want 425", code, msg, err)
	}
	code, msg, err = f.reply()
	if err != nil || code != 421 || !strings.Contains(msg, "timeout") {
		t.Fatalf("after the 425: %d %q, %v; want the idle 421", code, msg, err)
	}
	if _, _, err := f.reply(); !errors.Is(err, io.EOF) {
		t.Fatalf("after the 421: %v; want the connection closed cleanly (EOF)", err)
	}
	absent(t, e.Home("ann")+"/never.bin")
	e.wantFreed(t, f)
}

// slowCheck is the account database as a session's commands see it (door.Authenticator's Check,
// before every command), answering in twice the control connection's idle bound once slow is set.
type slowCheck struct {
	door.Authenticator
	slow atomic.Bool
}

func (a *slowCheck) Check(name string) (account.Account, error) {
	if a.slow.Load() {
		time.Sleep(2 * idleBound) // the database's slowness, the condition under test
	}
	return a.Authenticator.Check(name)
}

// TestSlowStartOfTransferIsNotIdle: a transfer command that the server takes longer than the
// idle bound to start (here the account database answers slowly) gets its reply, and the session
// goes on: the control connection's idle bound counts the client's silence, not the server's
// work. The engine (ftpserverlib v0.32.3) counted it, and wrote its 421 and closed the session
// while the transfer's goroutine was about to write the command's reply through the same
// buffered writer, without a lock between them.
func TestSlowStartOfTransferIsNotIdle(t *testing.T) {
	c := doorDefaults()
	c.IdleTimeout, c.WriteTimeout, c.AcceptTimeout = idleBound, idleBound, 10*idleBound
	slow := &slowCheck{}
	c.Auth = slow
	e := start(t, servertest.Options{FTP: &c})
	authn, err := auth.New(auth.Config{Accounts: e.DB, Params: servertest.Cheap()})
	must(t, err)
	slow.Authenticator = authn
	f := e.login(t, "ann", e.user("ann", 0))
	data := randomBytes(4, 100_000)
	slow.slow.Store(true)
	if code, msg := f.stor("slow.bin", data); code != 226 {
		t.Fatalf("STOR started after twice the idle bound: %d %s; want 226", code, msg)
	}
	slow.slow.Store(false)
	if size := f.must(213, "SIZE slow.bin"); size != "100000" {
		t.Fatalf("SIZE after the slow STOR: %s; want 100000", size)
	}
	sameFile(t, e.Home("ann")+"/slow.bin", data)
	e.wantFreed(t, f)
}
