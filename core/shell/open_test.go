package shell

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/myftp/myftp/core/server/servertest"
)

// TestOpenFailureKeepsSession: an open that cannot connect, or whose login is refused, leaves
// the session as it was: same server, same connection, same remote directory.
func TestOpenFailureKeepsSession(t *testing.T) {
	f := newFixture(t, servertest.Options{})
	f.remoteFile("sub/x.txt", []byte("x"))
	var out, errb syncBuffer
	s := f.shell(&out, &errb, time.Now)
	ctx := context.Background()
	if err := s.exec(ctx, []string{"cd", "sub"}); err != nil {
		t.Fatal(err)
	}
	c := s.c
	err := s.exec(ctx, []string{"open", "127.0.0.1:1"})
	var ce *connError
	if !errors.As(err, &ce) {
		t.Fatalf("open of a closed port: %v, want a connection error", err)
	}
	err = s.exec(ctx, []string{"open", "-u", "nobody"})
	if err == nil || !strings.Contains(err.Error(), "530") {
		t.Fatalf("open as an unknown account: %v", err)
	}
	if s.c != c || s.c.Err() != nil || s.cwd != "/sub" || s.cfg.Addr != f.addr || s.user != "alice" {
		t.Fatalf("after failed opens: conn changed %v, err %v, cwd %q, addr %q, user %q", s.c != c, s.c.Err(), s.cwd, s.cfg.Addr, s.user)
	}
	if err := s.exec(ctx, []string{"ls"}); err != nil || !strings.HasSuffix(out.String(), "x.txt\n") {
		t.Fatalf("ls after the failed opens: %v, stdout %q", err, out.String())
	}
}
