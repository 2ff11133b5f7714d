package ftpdoor

import (
	"net"
	"sync/atomic"
	"syscall"
)

// A client that leaves Nagle's algorithm on (lftp does: it sets no TCP_NODELAY) and writes the
// end of its TLS handshake in two small records, as GnuTLS does over TLS 1.3 (a
// change_cipher_spec, then its Finished), holds the Finished in its socket until the server's
// kernel acknowledges the first record. The server has sent its whole flight by then and has
// nothing to send with that acknowledgement, so its kernel delays it (about 40 ms on Linux), and
// the download, which starts only once the handshake is over, waits for it: about 45 ms a file
// for lftp's mget. So a protected passive data connection asks its kernel, before each read, to
// acknowledge at once (TCP_QUICKACK, which Linux does not keep: it leaves that mode again by
// itself). Uploads end with the client's close, which sends what Nagle held, and do not wait.

// ackConn is a data connection whose reads, once on is set, first ask the kernel to acknowledge
// what arrives at once (see quickAck).
type ackConn struct {
	net.Conn
	on  *atomic.Bool    // the connection carries TLS (dataConn.protected)
	raw syscall.RawConn // nil: not a socket
}

// newAckConn returns c with its reads acknowledged at once while on is set, where the system
// can.
func newAckConn(c net.Conn, on *atomic.Bool) *ackConn {
	a := &ackConn{Conn: c, on: on}
	if sc, ok := c.(syscall.Conn); ok {
		a.raw, _ = sc.SyscallConn() // an error leaves raw nil: reads as they come
	}
	return a
}

func (c *ackConn) Read(p []byte) (int, error) {
	if c.raw != nil && c.on.Load() {
		quickAck(c.raw)
	}
	return c.Conn.Read(p)
}
