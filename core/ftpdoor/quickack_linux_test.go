package ftpdoor

import (
	"io"
	"net"
	"sync/atomic"
	"testing"
)

// TestQuickAckOnDataConnections: the sockets the door's listeners accept (Go's default listener,
// which asks for MPTCP and falls back to TCP for a plain TCP client, as lftp and curl are) take
// TCP_QUICKACK, and a data connection's reads still deliver what the client sent, before and
// after TLS starts on it.
func TestQuickAckOnDataConnections(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	client, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()

	var protected atomic.Bool
	c := newAckConn(server, &protected)
	if c.acks.raw == nil {
		t.Fatalf("accepted connection %T: no socket to set TCP_QUICKACK on", server)
	}
	if err := quickAck(c.acks.raw); err != nil {
		t.Fatalf("accepted connection %T: %v", server, err)
	}
	for _, msg := range []string{"before TLS", "under TLS"} {
		if _, err := client.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, len(msg))
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != msg {
			t.Fatalf("read %q, %v; want %q", buf, err, msg)
		}
		protected.Store(true)
	}
}
