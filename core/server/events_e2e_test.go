package server_test

import (
	"net"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/myftp/myftp/core/server/servertest"
	"github.com/myftp/myftp/lib/proto"
)

// TestDownloadInterruptedLogged: a download the client stops in the middle gets a line in the
// server's event log, besides its line in the transfer log.
func TestDownloadInterruptedLogged(t *testing.T) {
	t.Parallel()
	e := servertest.Start(t, servertest.Options{})
	e.AddUser("alice", "alice-password", 1<<30)
	// Larger than what the server's send buffer and the client's receive buffer can hold
	// together (a few MiB each at most by default): the server is still sending when the client
	// closes the connection.
	const size = 32 << 20
	writeFile(t, e.Home("alice"), "big.bin", make([]byte, size), time.Now())
	c := rawLogin(t, e.Addr, "alice", "alice-password")
	if tcp, ok := c.raw.(*net.TCPConn); ok {
		tcp.SetReadBuffer(16 << 10)
	}
	c.request(proto.Request{Op: proto.OpGet, Path: "big.bin"})
	c.expect(proto.CodeDataFollows, "sending")
	if f, err := c.r.Next(); err != nil || f.Type != proto.TypeData {
		t.Fatalf("first data frame: %+v, %v", f, err)
	}
	c.raw.Close()

	line := regexp.MustCompile(`(?m)level=INFO msg="download interrupted" remote=127\.0\.0\.1:\d+ user=alice path=/big\.bin sent=\d+ size=33554432 resumed_at=0$`)
	logFile := filepath.Join(e.Dir, "log", "myftps.log")
	servertest.Eventually(t, "the interrupted download in the event log", func() bool {
		b, _ := os.ReadFile(logFile)
		return line.Match(b)
	})
}
