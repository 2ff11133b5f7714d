package shell

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/myftp/myftp/core/server/servertest"
)

// TestOversizedPath: a path longer than the protocol allows is refused by the client before it
// is sent, with the same message every time, and the session goes on (the server would end it,
// with a reset or a 500 depending on how much of the request it had read).
func TestOversizedPath(t *testing.T) {
	f := newFixture(t, servertest.Options{})
	var out, errb syncBuffer
	s := f.shell(&out, &errb, time.Now)
	long := strings.Repeat("d", 80<<10)
	want := "too long: a path of 81920 bytes; the protocol allows 4096"
	for _, cmd := range []string{"cd", "get", "ls", "cd", "mkdir"} {
		err := s.exec(context.Background(), []string{cmd, long})
		if err == nil || describe(err) != cmd+": "+want {
			t.Errorf("%s of 80 KiB: %v; want %q", cmd, err, cmd+": "+want)
		}
	}
	if err := s.exec(context.Background(), []string{"pwd"}); err != nil || s.dropped() {
		t.Errorf("pwd after: %v; the session should go on", err)
	}
	if err := os.WriteFile(filepath.Join(f.local, "a.txt"), []byte("a"), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := f.run("-c", "put a.txt "+long); r.code != ExitFailed || r.stderr != "Account [alice] login successful\nmyftpc: put: "+want+"\n" {
		t.Errorf("put: exit %d, stderr %q", r.code, r.stderr)
	}
}
