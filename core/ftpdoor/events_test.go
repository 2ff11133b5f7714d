package ftpdoor_test

import (
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/myftp/myftp/core/server/servertest"
)

// TestEventLog: a download whose data connection ends before the end of the file gets a line in
// the server's event log, and a path that leaves the home (through a symbolic link: the engine
// cleans "..") is logged as a warning naming the account and the client's address.
func TestEventLog(t *testing.T) {
	t.Parallel()
	e := startDefault(t)
	pw := e.user("al", 0)
	// Larger than what the server's send buffer and the client's receive buffer hold together
	// (a few MiB each at most by default): the server is still sending when the client closes.
	writeFile(t, e.Home("al"), "big.bin", make([]byte, 32<<20))
	outside := filepath.Join(e.Dir, "outside")
	writeFile(t, outside, "victim.txt", []byte("outside"))
	must(t, os.Symlink(outside, filepath.Join(e.Home("al"), "out")))
	f := e.login(t, "al", pw)

	dc, code, msg := f.open(dataOpts{}, "RETR big.bin")
	if code != 150 {
		t.Fatalf("RETR big.bin: %d %s", code, msg)
	}
	if tcp, ok := dc.raw.(*net.TCPConn); ok {
		tcp.SetReadBuffer(16 << 10)
	}
	if _, err := io.ReadFull(dc.conn, make([]byte, 4096)); err != nil {
		t.Fatal(err)
	}
	dc.raw.Close()
	if code, _ := f.mustReplyAny(); code < 400 {
		t.Fatalf("RETR cut short: final reply %d", code)
	}
	if code, _ := f.simple("RETR out/victim.txt"); code < 400 {
		t.Fatalf("RETR out/victim.txt: %d, want a refusal", code)
	}

	log := func() string { b, _ := os.ReadFile(filepath.Join(e.Dir, "log", "myftps.log")); return string(b) }
	for what, re := range map[string]string{
		"the interrupted download": `level=INFO msg="download interrupted" remote=127\.0\.0\.1:\d+ door=ftp user=al path=/big\.bin sent=\d+ size=33554432`,
		"the way out of the home":  `level=WARN msg="attempt to leave the home directory refused" remote=127\.0\.0\.1:\d+ door=ftp user=al path=/out/victim\.txt$`,
	} {
		line := regexp.MustCompile(`(?m)` + re)
		if !servertest.WaitFor(20*time.Second, func() bool { return line.MatchString(log()) }) {
			t.Fatalf("no line for %s in the event log:\n%s", what, log())
		}
	}
}
