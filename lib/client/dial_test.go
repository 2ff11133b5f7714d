package client

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/myftp/myftp/lib/proto"
)

// silentPeer accepts connections and, after running greet on each, never sends another byte.
func silentPeer(t *testing.T, greet func(*proto.Reader, *proto.Writer)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { close(done); l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				greet(proto.NewReader(conn, proto.DefaultMaxHeader), proto.NewWriter(conn))
				<-done
			}()
		}
	}()
	return l.Addr().String()
}

// TestDialGreetingTimeout: a peer that accepts but never greets does not hold Dial past its
// timeout (a batch myftpc under cron must not hang).
func TestDialGreetingTimeout(t *testing.T) {
	addr := silentPeer(t, func(*proto.Reader, *proto.Writer) {})
	start := time.Now()
	_, err := Dial(context.Background(), Config{Addr: addr, Insecure: true, DialTimeout: 300 * time.Millisecond, IOTimeout: 300 * time.Millisecond})
	if err == nil {
		t.Fatal("Dial succeeded without a greeting")
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("Dial gave up after %v, want about the 300 ms dial timeout", el)
	}
}

// TestGetCancelledBeforeReply: Ctrl-C during a get stops it even while the server has not
// answered yet (it may be hashing a long prefix for a resume).
func TestGetCancelledBeforeReply(t *testing.T) {
	c := fakeSession(t, func(r *proto.Reader, w *proto.Writer) {
		r.Next() // the get, never answered
		r.Next() // until the client closes
	})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	dir := t.TempDir()
	start := time.Now()
	_, err := c.Get(ctx, "big.iso", filepath.Join(dir, "big.iso"), Options{})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Get = %v, want the context's error", err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("Get returned %v after its context ended, want at once", el)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("an empty partial file was left: %v", entries)
	}
}

// TestDialRefused: nothing listening at the address is ErrRefused, which says so, with the
// system's error kept.
func TestDialRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, err = Dial(context.Background(), Config{Addr: addr, Insecure: true})
	if !errors.Is(err, ErrRefused) || err.Error() != "connect to "+addr+": "+ErrRefused.Error() {
		t.Fatalf("Dial to a closed port: %v, want ErrRefused", err)
	}
	var opErr *net.OpError
	if !errors.As(err, &opErr) {
		t.Errorf("the system's error is not kept: %v", err)
	}
}
