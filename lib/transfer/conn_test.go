package transfer

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"
)

// TestBufferedConn: writes go straight to the peer until Buffer, then wait for Flush (or a full
// buffer), and Close delivers what is still buffered; with a pool, nothing stays borrowed once
// the buffer is flushed.
func TestBufferedConn(t *testing.T) {
	t.Parallel()
	for _, pool := range []*BufferPool{nil, {}} {
		testBufferedConn(t, pool)
	}
}

func testBufferedConn(t *testing.T, pool *BufferPool) {
	a, b := net.Pipe()
	bc := NewBufferedConn(a, pool)
	got := make(chan []byte, 1)
	go func() {
		data, _ := io.ReadAll(b)
		got <- data
	}()
	// Before Buffer, a write returns once the peer has it (net.Pipe is synchronous).
	if _, err := bc.Write([]byte("handshake ")); err != nil {
		t.Fatal(err)
	}
	bc.Buffer()
	if _, err := bc.Write([]byte("held ")); err != nil {
		t.Fatal(err)
	}
	if n := len(bc.wbuf); n != len("held ") {
		t.Fatalf("%d bytes buffered after Buffer and a write, want %d", n, len("held "))
	}
	if err := bc.Flush(); err != nil {
		t.Fatal(err)
	}
	if n := len(bc.wbuf); n != 0 || pool != nil && bc.wbuf != nil {
		t.Fatalf("%d bytes still buffered after Flush (buffer kept: %v)", n, bc.wbuf != nil)
	}
	big := bytes.Repeat([]byte("x"), ConnWriteBuffer+100) // more than the buffer: goes out without Flush
	if _, err := bc.Write(big); err != nil {
		t.Fatal(err)
	}
	bc.Write([]byte(" close_notify"))
	if err := bc.Close(); err != nil {
		t.Fatal(err)
	}
	want := append(append([]byte("handshake held "), big...), " close_notify"...)
	if data := <-got; !bytes.Equal(data, want) {
		t.Fatalf("the peer got %d bytes, want %d", len(data), len(want))
	}
}

// TestBufferedConnReads: what the peer sends comes out whole through small reads, and a drained
// connection gives its read buffer back to the pool.
func TestBufferedConnReads(t *testing.T) {
	t.Parallel()
	a, b := net.Pipe()
	bc := NewBufferedConn(a, &BufferPool{})
	data := bytes.Repeat([]byte("0123456789"), 100_000)
	go func() {
		b.Write(data)
		b.Close()
	}()
	var out bytes.Buffer
	buf := make([]byte, 777)
	for {
		n, err := bc.Read(buf)
		out.Write(buf[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(out.Bytes(), data) {
		t.Fatalf("read %d bytes, want %d", out.Len(), len(data))
	}
	if bc.rbuf != nil {
		t.Error("the drained connection still holds its read buffer")
	}
}

// TestBufferedConnAutoFlush: with AutoFlush, what was written reaches the peer as soon as the
// writer reads for an answer, without a Flush (a TLS handshake over it works the same way).
func TestBufferedConnAutoFlush(t *testing.T) {
	t.Parallel()
	a, b := net.Pipe()
	defer b.Close()
	bc := NewBufferedConn(a, &BufferPool{})
	bc.AutoFlush()
	bc.SetDeadline(time.Now().Add(10 * time.Second)) // a lost flush fails the test, not hangs it
	go func() {
		buf := make([]byte, 4)
		if _, err := io.ReadFull(b, buf); err == nil && string(buf) == "ping" {
			b.Write([]byte("pong"))
		}
	}()
	if _, err := bc.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(bc, buf); err != nil || string(buf) != "pong" {
		t.Fatalf("answer %q, %v: the question stayed in the buffer", buf, err)
	}
	bc.Close()
}
