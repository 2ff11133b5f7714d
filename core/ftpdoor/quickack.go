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
// the server, which waits for the Finished, waits as long: once per session on the control
// connection (AUTH TLS), and once per file on the data connections, about 45 ms a file for lftp's
// mget. (An upload's data connection does not wait: the client's close sends what Nagle held.)
// So once TLS runs on a connection, the door asks the kernel before each of its reads to
// acknowledge at once (TCP_QUICKACK, a mode Linux leaves again by itself).

// quickAcker asks the kernel to acknowledge a connection's data at once, before each read, once
// on is set (TLS runs on the connection).
type quickAcker struct {
	raw syscall.RawConn // nil: not a socket
	on  *atomic.Bool
}

// newQuickAcker returns the quickAcker of c, which acts while on is set, if c is a socket.
func newQuickAcker(c net.Conn, on *atomic.Bool) quickAcker {
	q := quickAcker{on: on}
	if sc, ok := c.(syscall.Conn); ok {
		q.raw, _ = sc.SyscallConn() // an error leaves raw nil: acknowledgements as the kernel likes
	}
	return q
}

// beforeRead asks for an acknowledgement at once of what has arrived and what arrives next. It
// is a hint: if the kernel refuses it, the read goes on as it would have.
func (q quickAcker) beforeRead() {
	if q.raw != nil && q.on.Load() {
		quickAck(q.raw)
	}
}

// ackConn is a data connection whose reads are acknowledged at once while on is set.
type ackConn struct {
	net.Conn
	acks quickAcker
}

// newAckConn returns c with its reads acknowledged at once while on is set, where the system
// can.
func newAckConn(c net.Conn, on *atomic.Bool) *ackConn {
	return &ackConn{Conn: c, acks: newQuickAcker(c, on)}
}

func (c *ackConn) Read(p []byte) (int, error) {
	c.acks.beforeRead()
	return c.Conn.Read(p)
}
