package sftpdoor_test

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/myftp/myftp/core/server/servertest"
)

// TestEventLog: a download closed before its end gets a line in the server's event log, and a
// path that leaves the home (through a symbolic link: the door cleans "..") is logged
// as a warning naming the account and the client's address.
func TestEventLog(t *testing.T) {
	t.Parallel()
	e := start(t, servertest.Options{})
	u := e.user("al", 0)
	writeFile(t, e.Home("al"), "big.bin", make([]byte, 1<<20))
	outside := filepath.Join(e.Dir, "outside")
	writeFile(t, outside, "victim.txt", []byte("outside"))
	must(t, os.Symlink(outside, filepath.Join(e.Home("al"), "out")))
	_, c := e.dial(u)

	f, err := c.Open("big.bin")
	must(t, err)
	if _, err := f.Read(make([]byte, 4096)); err != nil {
		t.Fatal(err)
	}
	must(t, f.Close())
	if _, err := c.Open("out/victim.txt"); err == nil {
		t.Fatal("a file outside the home was opened")
	}

	for what, re := range map[string]string{
		"the interrupted download": `level=INFO msg="download interrupted" remote=127\.0\.0\.1:\d+ door=sftp user=al path=/big\.bin sent=\d+ size=1048576`,
		"the way out of the home":  `level=WARN msg="attempt to leave the home directory refused" remote=127\.0\.0\.1:\d+ door=sftp user=al path=/out/victim\.txt$`,
	} {
		line := regexp.MustCompile(`(?m)` + re)
		if !servertest.WaitFor(20*time.Second, func() bool { return line.MatchString(e.serverLog()) }) {
			t.Fatalf("no line for %s in the event log:\n%s", what, e.serverLog())
		}
	}
}
