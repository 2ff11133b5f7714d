package transfer

import (
	"bufio"
	"net"
	"sync"
	"time"
)

// ConnBuffer is the size of a BufferedConn's buffers: the most one system call moves.
const ConnBuffer = 256 << 10

// BufferedConn is a net.Conn that reads in large pieces and, once Buffer has been called, collects
// writes until Flush (or until its buffer is full). Put under a tls.Conn, which writes each
// record of at most 16 KiB with a write of its own and reads about one record per read, it turns
// the 16 system calls of each 256 KiB of a transfer into one on each side.
//
// Writes pass straight through until Buffer is called, so that a TLS handshake, which waits for
// the peer after each of its flights, is never held in the buffer. After that, whoever waits for
// the peer must Flush first. Close flushes what is buffered (a TLS close_notify) before closing.
type BufferedConn struct {
	net.Conn
	r *bufio.Reader

	mu       sync.Mutex // guards w and buffered: the TLS layer and Flush may write from different goroutines
	w        *bufio.Writer
	buffered bool
}

// NewBufferedConn returns c with read buffering, and write buffering off until Buffer.
func NewBufferedConn(c net.Conn) *BufferedConn {
	return &BufferedConn{Conn: c, r: bufio.NewReaderSize(c, ConnBuffer), w: bufio.NewWriterSize(c, ConnBuffer)}
}

// Read reads from the buffer, which large reads of the connection fill.
func (b *BufferedConn) Read(p []byte) (int, error) { return b.r.Read(p) }

// Write buffers p once Buffer was called, and writes it through before.
func (b *BufferedConn) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.buffered {
		return b.Conn.Write(p)
	}
	return b.w.Write(p)
}

// Buffer turns write buffering on.
func (b *BufferedConn) Buffer() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buffered = true
}

// Flush writes what is buffered.
func (b *BufferedConn) Flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.w.Flush()
}

// Close flushes what is buffered, waiting at most closeFlush for the peer to take it, and closes
// the connection.
func (b *BufferedConn) Close() error {
	b.Conn.SetWriteDeadline(time.Now().Add(closeFlush))
	b.Flush()
	return b.Conn.Close()
}

// closeFlush bounds the wait for a peer that does not read when the connection closes.
const closeFlush = 5 * time.Second
