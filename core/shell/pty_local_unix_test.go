//go:build unix

package shell

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/myftp/myftp/core/server/servertest"
)

// TestInteractiveLocalShellAndOpen: at the interactive prompt, !COMMAND runs a command with the
// local shell and ! alone starts that shell on the terminal, which reads what is typed until it
// exits (the line editor does not take it); close leaves the prompt without a connection, open
// connects again to the same server and account without asking the password again, and open -u
// of another account asks for its password on the terminal.
func TestInteractiveLocalShellAndOpen(t *testing.T) {
	f := newFixture(t, servertest.Options{})
	f.srv.AddUser("bob", "bobsecret", 0)
	t.Setenv("SHELL", "/bin/sh")
	t.Setenv("PS1", "inner$ ")
	term, exited := startShell(t, f, f.srv.Addr)
	term.trust(f, f.srv.Addr)
	term.expect(`Name: `)
	term.send("alice\r")
	term.password("secret")
	term.expect(`ftp:/> `)

	term.send("!echo \"from $0 in $PWD\"; echo two\r")
	term.expect(`\r\nfrom /bin/sh in ` + regexp.QuoteMeta(f.local) + `\r\ntwo\r\n`)
	term.expect(`ftp:/> `)

	term.send("!\r")
	term.expect(`inner\$ `)
	term.send("echo typed > in-the-shell.txt; exit\r")
	term.expect(`ftp:/> `)
	if got, err := os.ReadFile(filepath.Join(f.local, "in-the-shell.txt")); err != nil || string(got) != "typed\n" {
		t.Fatalf("the shell did not run what was typed: %q, %v", got, err)
	}
	term.send("pwd\r")
	term.expect(`\r\n/\r\n`)
	term.expect(`ftp:/> `)

	term.send("close\r")
	term.expect(`connection to .* closed\r\n`)
	term.expect(`ftp \(not connected\)> `)
	term.send("ls\r")
	term.expect(`ls: not connected \(close was used\): open connects again\r\n`)
	term.expect(`ftp \(not connected\)> `)
	term.send("open\r")
	term.expect(`Account \[alice\] login successful on ` + regexp.QuoteMeta(f.srv.Addr) + `\r\n`)
	term.expect(`ftp:/> `)
	term.send("open -u bob\r")
	term.password("bobsecret")
	term.expect(`Account \[bob\] login successful on `)
	term.expect(`ftp:/> `)
	term.send("\x04")
	waitExit(t, term, exited)
}
