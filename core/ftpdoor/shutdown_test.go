package ftpdoor_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/myftp/myftp/core/server/servertest"
)

// shutdown starts a graceful shutdown of the server (at most 20 s) and returns its result.
func shutdown(e *env) <-chan error {
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		done <- e.Server.Shutdown(ctx)
	}()
	return done
}

// stopped reports whether the server no longer accepts FTP connections.
func (e *env) stopped() bool {
	c, err := net.DialTimeout("tcp", e.FTPAddr, time.Second)
	if err != nil {
		return true
	}
	c.Close()
	return false
}

// TestShutdownIdleSession: a logged-in FTP session doing nothing is closed when the server
// shuts down, and Shutdown returns without waiting for it.
func TestShutdownIdleSession(t *testing.T) {
	t.Parallel()
	e := startDefault(t)
	e.user("tom", 0)
	f := e.login(t, "tom", "tom-pw")
	done := shutdown(e)
	f.closed("an idle session at shutdown")
	if err := servertest.Await(t, "Shutdown", done); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

// TestShutdownMidTransfer: an FTP session in the middle of an upload when the server shuts down
// finishes it (226, the file whole) and is closed afterwards; Shutdown waits for it.
func TestShutdownMidTransfer(t *testing.T) {
	t.Parallel()
	e := startDefault(t)
	e.user("uma", 0)
	f := e.login(t, "uma", "uma-pw")
	data := randomBytes(16, 2<<20)
	half := len(data) / 2

	dc, code, msg := f.open(dataOpts{}, "STOR during.bin")
	if code != 150 {
		t.Fatalf("STOR: %d %s", code, msg)
	}
	if _, err := dc.conn.Write(data[:half]); err != nil {
		t.Fatal(err)
	}
	servertest.Eventually(t, "half the upload on the server", func() bool { return e.partialBytes("uma") > 0 })
	done := shutdown(e)
	servertest.Eventually(t, "the server to stop accepting", e.stopped)
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned (%v) while an upload was running", err)
	default:
	}
	if _, err := dc.conn.Write(data[half:]); err != nil {
		t.Fatalf("the rest of the upload after Shutdown began: %v", err)
	}
	dc.conn.Close()
	f.mustReply(226)
	f.closed("the session after its transfer, at shutdown")
	if err := servertest.Await(t, "Shutdown", done); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	sameFile(t, filepath.Join(e.Home("uma"), "during.bin"), data)
	wantXfer(t, e.waitXfer(t, 1)[0], "i", "uma", "/uma/during.bin", int64(len(data)), true)
}

// TestShutdownMidDownload: an FTP session in the middle of a download (bigger than the socket
// buffers, so that the server is still sending) when the server shuts down finishes it: the
// client gets every byte and the 226, then the session is closed.
func TestShutdownMidDownload(t *testing.T) {
	t.Parallel()
	e := startDefault(t)
	e.user("vera", 0)
	data := randomBytes(17, 24<<20)
	writeFile(t, e.Home("vera"), "big.bin", data)
	f := e.login(t, "vera", "vera-pw")

	dc, code, msg := f.open(dataOpts{}, "RETR big.bin")
	if code != 150 {
		t.Fatalf("RETR: %d %s", code, msg)
	}
	got := make([]byte, 1<<20)
	if _, err := io.ReadFull(dc.conn, got); err != nil {
		t.Fatal(err)
	}
	done := shutdown(e)
	servertest.Eventually(t, "the server to stop accepting", e.stopped)
	rest, err := io.ReadAll(dc.conn)
	if err != nil {
		t.Fatalf("the rest of the download after Shutdown began: %v", err)
	}
	if !bytes.Equal(append(got, rest...), data) {
		t.Fatalf("downloaded %d bytes, not the file's %d", len(got)+len(rest), len(data))
	}
	f.mustReply(226)
	f.closed("the session after its transfer, at shutdown")
	if err := servertest.Await(t, "Shutdown", done); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}
