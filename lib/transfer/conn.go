package transfer

import (
	"net"
	"sync"
	"time"
)

// Sizes of a BufferedConn's buffers: the most one system call moves.
const (
	ConnWriteBuffer = 256 << 10
	ConnReadBuffer  = 64 << 10
)

// BufferPool lends the buffers of BufferedConns, so that a connection holds them only while it
// moves data: an idle session holds none. The zero value is ready to use.
type BufferPool struct {
	reads, writes sync.Pool
}

// BufferedConn is a net.Conn that reads in large pieces and, once Buffer has been called, collects
// writes until Flush (or until its buffer is full). Put under a tls.Conn, which writes each
// record of at most 16 KiB with a write of its own and reads about one record per read, it turns
// the 16 system calls of each 256 KiB written into one, and those of 64 KiB read into one.
//
// Writes pass straight through until Buffer is called, so that a TLS handshake, which waits for
// the peer after each of its flights, is never held in the buffer. After that, whoever waits for
// the peer must Flush first. Close flushes what is buffered (a TLS close_notify) before closing.
//
// With a BufferPool, the buffers go back to it whenever they are empty; a read that must wait
// for the peer waits in the caller's buffer, not in a borrowed one, unless the previous read
// filled the caller's buffer (a transfer under way, where more data is already there).
type BufferedConn struct {
	net.Conn
	pool *BufferPool // nil: the buffers are the connection's own

	rmu        sync.Mutex // reads come from one goroutine, but Close may come from another
	rbuf       []byte
	rpos, rend int
	rerr       error // from the read that filled rbuf, returned once it is drained
	streaming  bool  // the last read filled the caller's buffer: more is probably waiting

	mu        sync.Mutex // guards wbuf and buffered: TLS and Flush may write from different goroutines
	wbuf      []byte
	buffered  bool
	autoFlush bool // set before use by AutoFlush
}

// NewBufferedConn returns c with read buffering, and write buffering off until Buffer. Its
// buffers are lent by pool, or its own if pool is nil.
func NewBufferedConn(c net.Conn, pool *BufferPool) *BufferedConn {
	return &BufferedConn{Conn: c, pool: pool}
}

// Read reads from the buffer, which large reads of the connection fill.
func (b *BufferedConn) Read(p []byte) (int, error) {
	b.rmu.Lock()
	defer b.rmu.Unlock()
	if b.rpos < b.rend {
		n := copy(p, b.rbuf[b.rpos:b.rend])
		b.rpos += n
		b.dropRead()
		return n, nil
	}
	if err := b.rerr; err != nil {
		b.rerr = nil
		return 0, err
	}
	if b.autoFlush && b.mu.TryLock() { // a writer busy at the same time flushes on its own
		b.flushLocked()
		b.mu.Unlock()
	}
	if !b.streaming || len(p) >= ConnReadBuffer {
		n, err := b.Conn.Read(p)
		b.streaming = n == len(p)
		return n, err
	}
	if b.rbuf == nil {
		b.rbuf = b.borrow(true)
	}
	n, err := b.Conn.Read(b.rbuf)
	b.streaming = n == len(b.rbuf)
	b.rpos, b.rend, b.rerr = 0, n, err
	m := copy(p, b.rbuf[:n])
	b.rpos = m
	b.dropRead()
	if m == 0 && b.rerr != nil {
		err, b.rerr = b.rerr, nil
		return 0, err
	}
	return m, nil
}

// dropRead gives the read buffer back once it is drained. b.rmu is held.
func (b *BufferedConn) dropRead() {
	if b.rpos < b.rend || b.pool == nil || b.rbuf == nil {
		return
	}
	b.giveBack(true, b.rbuf)
	b.rbuf, b.rpos, b.rend = nil, 0, 0
}

// borrow returns a read or a write buffer: from the pool, or made.
func (b *BufferedConn) borrow(read bool) []byte {
	size, sp := ConnWriteBuffer, (*sync.Pool)(nil)
	if read {
		size = ConnReadBuffer
	}
	if b.pool != nil {
		sp = &b.pool.writes
		if read {
			sp = &b.pool.reads
		}
		if p, ok := sp.Get().(*[]byte); ok && cap(*p) >= size {
			return (*p)[:size]
		}
	}
	return make([]byte, size)
}

// giveBack returns a buffer to the pool.
func (b *BufferedConn) giveBack(read bool, buf []byte) {
	buf = buf[:cap(buf)]
	if read {
		b.pool.reads.Put(&buf)
	} else {
		b.pool.writes.Put(&buf)
	}
}

// Write buffers p once Buffer was called, and writes it through before.
func (b *BufferedConn) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.buffered {
		return b.Conn.Write(p)
	}
	written := 0
	for len(p) > 0 {
		if b.wbuf == nil {
			b.wbuf = b.borrow(false)[:0]
		}
		if len(b.wbuf) == 0 && len(p) >= cap(b.wbuf) {
			n, err := b.Conn.Write(p) // nothing to join it with: straight through
			return written + n, err
		}
		n := copy(b.wbuf[len(b.wbuf):cap(b.wbuf)], p)
		b.wbuf = b.wbuf[:len(b.wbuf)+n]
		p, written = p[n:], written+n
		if len(b.wbuf) == cap(b.wbuf) {
			if err := b.flushLocked(); err != nil {
				return written, err
			}
		}
	}
	return written, nil
}

// AutoFlush turns write buffering on for a connection used by code that knows nothing of Flush,
// one goroutine at a time (a TLS handshake, then a transfer one way): what is buffered is written
// before every read that has to wait for the peer (whoever expects an answer reads for it), and
// by Close. A read that meets another goroutine writing leaves the flush to it. AutoFlush must be
// called before the connection is used.
func (b *BufferedConn) AutoFlush() {
	b.autoFlush = true
	b.buffered = true
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
	return b.flushLocked()
}

func (b *BufferedConn) flushLocked() error {
	if len(b.wbuf) > 0 {
		n, err := b.Conn.Write(b.wbuf)
		if err != nil {
			b.wbuf = b.wbuf[:copy(b.wbuf, b.wbuf[n:])]
			return err
		}
		b.wbuf = b.wbuf[:0]
	}
	if b.pool != nil && b.wbuf != nil {
		b.giveBack(false, b.wbuf)
		b.wbuf = nil
	}
	return nil
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
