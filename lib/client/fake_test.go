package client

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"net"
	"testing"
	"time"

	"github.com/myftp/myftp/lib/proto"
)

// fakeSession starts a scripted server on 127.0.0.1 that greets without TLS and accepts any login,
// then runs serve on the session and closes the connection when serve returns. It returns a client
// logged in to it; the test's cleanup closes the client and waits for serve to end. serve runs on
// its own goroutine: it reports to the test through channels, not t.
func fakeSession(t *testing.T, serve func(r *proto.Reader, w *proto.Writer)) *Client {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	served := make(chan struct{})
	go func() {
		defer close(served)
		conn, err := l.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		r, w := proto.NewReader(conn, proto.DefaultMaxHeader), proto.NewWriter(conn)
		w.WriteJSON(proto.TypeReply, proto.Reply{Code: proto.CodeReady, Version: proto.Version, Server: "fake"})
		w.Flush()
		if _, err := r.Next(); err != nil { // login
			return
		}
		w.WriteJSON(proto.TypeReply, proto.Reply{Code: proto.CodeLoggedIn, User: "alice", Path: "/"})
		w.Flush()
		serve(r, w)
	}()
	c, err := Dial(context.Background(), Config{Addr: l.Addr().String(), Insecure: true, IOTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); <-served })
	if err := c.Login("alice", "pw"); err != nil {
		t.Fatal(err)
	}
	return c
}

// nextRequest reads one request frame.
func nextRequest(r *proto.Reader) (proto.Request, error) {
	f, err := r.Next()
	if err != nil {
		return proto.Request{}, err
	}
	return proto.DecodeRequest(f.Payload)
}

// serveGet answers a get of data from byte 0, but sends only its first n bytes (one data frame)
// and no final reply when n < len(data).
func serveGet(w *proto.Writer, data []byte, n int) error {
	sum := md5.Sum(data)
	md5hex := hex.EncodeToString(sum[:])
	w.WriteJSON(proto.TypeReply, proto.Reply{Code: proto.CodeDataFollows, Size: int64(len(data))})
	if n > 0 {
		w.WriteFrame(proto.TypeData, data[:n])
	}
	if n == len(data) {
		w.WriteJSON(proto.TypeReply, proto.Reply{Code: proto.CodeTransferDone, Size: int64(len(data)), MD5: md5hex})
	}
	return w.Flush()
}
