package transfer

import (
	"bytes"
	"io"
	"net"
	"testing"
)

// TestBufferedConn: writes go straight to the peer until Buffer, then wait for Flush (or a full
// buffer), and Close delivers what is still buffered; reads see every byte in order.
func TestBufferedConn(t *testing.T) {
	t.Parallel()
	a, b := net.Pipe()
	bc := NewBufferedConn(a)
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
	if n := bc.w.Buffered(); n != len("held ") {
		t.Fatalf("%d bytes buffered after Buffer and a write, want %d", n, len("held "))
	}
	if err := bc.Flush(); err != nil {
		t.Fatal(err)
	}
	if n := bc.w.Buffered(); n != 0 {
		t.Fatalf("%d bytes still buffered after Flush", n)
	}
	big := bytes.Repeat([]byte("x"), ConnBuffer+100) // more than the buffer: goes out without Flush
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

// TestBufferedConnReads: what the peer sends comes out whole through small reads.
func TestBufferedConnReads(t *testing.T) {
	t.Parallel()
	a, b := net.Pipe()
	bc := NewBufferedConn(a)
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
}
