//go:build unix

package shell

import (
	"regexp"
	"testing"

	"github.com/myftp/myftp/core/server/servertest"
)

// TestInteractiveRetry: the interactive shell with --retry runs a command that finds the
// connection gone again, as a batch does: here the server's machine died while the prompt waited
// (the proxy cuts the connection at the command's first request). The terminal shows that the
// shell reconnected and logged in again, the command's output follows, and the prompt is back in
// the remote directory it was in.
func TestInteractiveRetry(t *testing.T) {
	f := newFixture(t, servertest.Options{Plain: true}) // the proxy reads the frames
	f.remoteFile("sub/a.txt", []byte("in sub\n"))
	p := servertest.StartCutProxy(t, f.srv.Addr, servertest.Cut{Op: "get", After: "cd"})
	term, exited := startShell(t, f, p.Addr, "--insecure", "--retry", "1", "-u", "alice")
	term.password("secret")
	term.expect(`Account \[alice\] login successful\r\n`)
	term.expect(`ftp:/> `)
	term.send("cd sub\r")
	term.expect(`ftp:/sub> `)

	term.send("cat a.txt\r")
	addr := regexp.QuoteMeta(p.Addr)
	term.expect(`connection lost \(connection closed: EOF\); reconnecting to ` + addr + ` \(retry 1 of 1\)\r\n`)
	term.expect(`reconnected: Account \[alice\] login successful\r\n`)
	term.expect(`^in sub\r\n`)
	term.expect(`ftp:/sub> `)
	select {
	case <-p.Done():
	default:
		t.Fatal("the proxy did not cut the connection")
	}
	term.send("exit\r")
	waitExit(t, term, exited)
}
