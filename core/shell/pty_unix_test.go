//go:build unix

package shell

import (
	"bytes"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/myftp/myftp/core/admission"
	"github.com/myftp/myftp/core/server/servertest"
	"github.com/myftp/myftp/lib/certs"
	"github.com/myftp/myftp/lib/checksum"
	"github.com/myftp/myftp/lib/transfer"
)

// terminal is the controlling side of a pseudo-terminal with a program on the other side.
type terminal struct {
	t    *testing.T
	ptmx *os.File

	mu     sync.Mutex
	out    bytes.Buffer
	pos    int           // what expect has consumed
	change chan struct{} // a token when output arrived
	done   chan struct{} // closed when the program's side is closed
}

func newTerminal(t *testing.T, ptmx *os.File) *terminal {
	term := &terminal{t: t, ptmx: ptmx, change: make(chan struct{}, 1), done: make(chan struct{})}
	go term.read()
	return term
}

func (term *terminal) read() {
	defer close(term.done)
	buf := make([]byte, 4096)
	for {
		n, err := term.ptmx.Read(buf)
		term.mu.Lock()
		term.out.Write(buf[:n])
		term.mu.Unlock()
		select {
		case term.change <- struct{}{}:
		default:
		}
		if err != nil {
			return
		}
	}
}

// expect waits up to 10 s for the output after the last match to match re, and returns the
// submatches.
func (term *terminal) expect(re string) []string {
	term.t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.After(10 * time.Second)
	ended := false
	for {
		term.mu.Lock()
		rest := term.out.String()[term.pos:]
		m := rx.FindStringSubmatchIndex(rest)
		if m != nil {
			term.pos += m[1]
		}
		term.mu.Unlock()
		if m != nil {
			var subs []string
			for i := 0; i < len(m); i += 2 {
				subs = append(subs, rest[m[i]:m[i+1]])
			}
			return subs
		}
		if ended {
			term.t.Fatalf("the program ended before %q; output after the last match:\n%q", re, rest)
		}
		select {
		case <-term.change:
		case <-term.done:
			// The last output may have come with the end: look at it once more.
			ended = true
		case <-deadline:
			term.t.Fatalf("no %q within 10 s; output after the last match:\n%q", re, rest)
		}
	}
}

// all returns the whole output so far.
func (term *terminal) all() string {
	term.mu.Lock()
	defer term.mu.Unlock()
	return term.out.String()
}

// password waits for the Password prompt and for the terminal's echo to be off (where that can be
// seen), then types pw: it must not appear in the output.
func (term *terminal) password(pw string) {
	term.t.Helper()
	term.expect(`Password: `)
	deadline := time.Now().Add(10 * time.Second)
	for known, off := echoOff(term.ptmx); known && !off; known, off = echoOff(term.ptmx) {
		if time.Now().After(deadline) {
			term.t.Fatal("echo still on at the password prompt")
		}
		time.Sleep(time.Millisecond)
	}
	term.send(pw + "\r")
}

func (term *terminal) send(s string) {
	term.t.Helper()
	if _, err := term.ptmx.Write([]byte(s)); err != nil {
		term.t.Fatal(err)
	}
}

// trust waits for the question about a new server, checks that it shows the fingerprint of the
// fixture's server, answers yes, and waits for the notice that it was recorded.
func (term *terminal) trust(f *fixture, addr string) {
	term.t.Helper()
	fp := regexp.QuoteMeta(certs.Fingerprint(f.srv.Cert.Certificate[0]))
	term.expect(`The authenticity of server ` + regexp.QuoteMeta(addr) + ` can't be established\.\r\n` +
		`Certificate fingerprint: ` + fp + ` \(myftps prints it when it starts: compare them\)\r\n` +
		`Trust this server and record it in ` + regexp.QuoteMeta(filepath.Join(f.home, "known_hosts")) + `\? \(yes/no\) `)
	term.send("yes\r")
	term.expect(`new server ` + regexp.QuoteMeta(addr) + `: fingerprint ` + fp + ` recorded in `)
}

// startShell runs the test binary as myftpc on a new pseudo-terminal, with args before the
// address.
func startShell(t *testing.T, f *fixture, addr string, args ...string) (*terminal, <-chan error) {
	args = append(append([]string{"--known-hosts", filepath.Join(f.home, "known_hosts")}, args...), addr)
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "MYFTPC_TEST_MAIN=1", "HOME="+f.home, "MYFTP_ROOT="+f.home, "MYFTP_PASSWORD=",
		"GORACE="+os.Getenv("GORACE")+" atexit_sleep_ms=0") // no second of waiting at exit under -race
	cmd.Dir = f.local
	ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: 120})
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill(); ptmx.Close() })
	return newTerminal(t, ptmx), exited
}

// waitExit waits up to 10 s for the shell to exit with status 0.
func waitExit(t *testing.T, term *terminal, exited <-chan error) {
	t.Helper()
	waitExitCode(t, term, exited, 0)
}

// waitExitCode waits up to 10 s for the shell to exit with status want.
func waitExitCode(t *testing.T, term *terminal, exited <-chan error, want int) {
	t.Helper()
	select {
	case err := <-exited:
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("myftpc: %v", err)
		}
		if code != want {
			t.Fatalf("myftpc exited with %d, want %d; output:\n%q", code, want, term.all())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("myftpc did not exit; output:\n%q", term.all())
	}
	<-term.done
}

// TestInteractive runs myftpc on a pseudo-terminal, as a person would: it trusts the new server
// once shown its fingerprint, answers the Name and Password prompts, runs pwd and ls, completes a remote name with Tab, sees a progress bar reach
// 100%, stops a download with Ctrl-C (a real SIGINT from the terminal), resumes it, and leaves
// with Ctrl-D.
func TestInteractive(t *testing.T) {
	f := newFixture(t, servertest.Options{})
	f.remoteFile("first.txt", []byte("the first file\n"))
	big := randomData(8<<20, 9)
	f.remoteFile("big.bin", big)
	f.remoteFile("sub/x", nil)
	f.remoteFile("a1.txt", []byte("one"))
	f.remoteFile("a2.txt", []byte("two"))
	p := startProxy(t, f.srv.Addr) // to hold a download in the middle
	term, exited := startShell(t, f, p.addr())

	term.trust(f, p.addr())
	term.expect(`Name: `)
	term.send("alice\r")
	term.password("secret")
	term.expect(`Account \[alice\] login successful\r\n`)
	term.expect(`ftp:/> `)

	term.send("pwd\r")
	term.expect(`\r\n/\r\n`)
	term.expect(`ftp:/> `)
	term.send("ls\r")
	term.expect(`\r\na1\.txt\r\na2\.txt\r\nbig\.bin\r\nfirst\.txt\r\nsub/\r\n`)
	term.expect(`ftp:/> `)

	// Tab completes the unique remote name; Enter downloads it with a bar that reaches 100%.
	term.send("get fi\t")
	term.expect(`rst\.txt `)
	term.send("\r")
	term.expect(`first\.txt \[=+\] 100%  15 B / 15 B .*\r\n`)
	term.expect(`File \[first\.txt\] download successful: 15 B in \d+\.\d\d s \(.*/s\), blake3 ` + servertest.Sum(checksum.BLAKE3, []byte("the first file\n")) + `\r\n`)
	term.expect(`ftp:/> `)
	if got, err := os.ReadFile(filepath.Join(f.local, "first.txt")); err != nil || string(got) != "the first file\n" {
		t.Fatalf("first.txt: %q, %v", got, err)
	}

	// Ctrl-C while a download is held halfway stops it and keeps the partial file.
	p.limit(2 << 20)
	term.send("get big.bin\r")
	select {
	case <-p.stalled:
	case <-time.After(10 * time.Second):
		t.Fatal("the download did not start")
	}
	// Wait until the bar shows data received (the first draw may be at 0%, before any arrived).
	term.expect(`big\.bin \[.*\] +[1-9]\d*%  `)
	term.send("\x03")
	term.expect(`download interrupted; the part already transferred is kept`)
	term.expect(`ftp:/> `)
	// A second Ctrl-C, at the prompt, clears the line and leaves the shell as it was.
	term.send("\x03")
	term.expect(`\^C\r\n`)
	term.expect(`ftp:/> `)
	partial := filepath.Join(f.local, transfer.PartialName("big.bin"))
	fi, err := os.Stat(partial)
	if err != nil || fi.Size() == 0 || fi.Size() >= int64(len(big)) {
		t.Fatalf("partial file after Ctrl-C: %v, %v", fi, err)
	}

	// The same command again reconnects and resumes.
	p.unlimit()
	term.send("get big.bin\r")
	term.expect(`the interrupted transfer closed the connection; reconnecting to `)
	term.expect(`resuming at (.*) of 8 MiB\r\n`)
	term.expect(`big\.bin \[=+\] 100%  8 MiB / 8 MiB `)
	term.expect(`File \[big\.bin\] download successful: [\d.]+ MiB in .*, resumed at [\d.]+ MiB of 8 MiB, blake3 ` + servertest.Sum(checksum.BLAKE3, big) + `\r\n`)
	term.expect(`ftp:/> `)
	if got, err := os.ReadFile(filepath.Join(f.local, "big.bin")); err != nil || !bytes.Equal(got, big) {
		t.Fatalf("big.bin after the resume: %d bytes, %v", len(got), err)
	}

	// mget: one bar for the batch, labelled with the file and the count, which goes away at the
	// end: the line of the last file is followed by the total, not by a bar.
	term.send("mget a*\r")
	term.expect(`File \[a1\.txt\] download successful: 3 B in `)
	term.expect(`File \[a2\.txt\] download successful: 3 B in [^\r\n]*\r\n2 files downloaded: 6 B in `)
	term.expect(`ftp:/> `)

	// Ctrl-C on a typed line drops the line; exit leaves.
	term.send("rm first.txt\x03")
	term.expect(`\^C\r\n`)
	term.expect(`ftp:/> `)
	term.send("exit\r")
	waitExit(t, term, exited)
	if _, err := os.Stat(filepath.Join(f.srv.Home("alice"), "first.txt")); err != nil {
		t.Errorf("the line dropped with Ctrl-C was run: %v", err)
	}
	if known, _ := echoOff(term.ptmx); known && strings.Contains(term.all(), "secret") {
		t.Errorf("the password was echoed:\n%q", term.all())
	}
	if os.Getenv("MYFTPC_SHOW_TTY") != "" {
		t.Logf("terminal:\n%s", term.all())
	}
}

// TestInteractiveLogin: a mistyped password can be typed again at the prompt, the history is
// kept in ~/.myftp/history, and Ctrl-D at an empty prompt ends the session.
func TestInteractiveLogin(t *testing.T) {
	f := newFixture(t, servertest.Options{})
	term, exited := startShell(t, f, f.srv.Addr)
	term.trust(f, f.srv.Addr)
	term.expect(`Name: `)
	term.send("alice\r")
	term.password("wrong")
	term.expect(`Login incorrect\.\r\n`)
	term.password("secret")
	term.expect(`Account \[alice\] login successful\r\n`)
	term.expect(`ftp:/> `)
	term.send("lpwd\r")
	term.expect(regexp.QuoteMeta(f.local) + `\r\n`)
	term.expect(`ftp:/> `)
	term.send("\x04")
	waitExit(t, term, exited)
	history := filepath.Join(f.home, ".myftp", "history")
	if h, err := os.ReadFile(history); err != nil || string(h) != "lpwd\n" {
		t.Errorf("history %q, %v", h, err)
	}
	if fi, err := os.Stat(history); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("history file: %v, %v; want mode 0600 (what was typed is the user's own)", fi.Mode(), err)
	}
	if known, _ := echoOff(term.ptmx); known && (strings.Contains(term.all(), "wrong") || strings.Contains(term.all(), "secret")) {
		t.Errorf("a password was echoed:\n%q", term.all())
	}
}

// TestInteractiveNewServerRefused: a server that known_hosts does not list is shown with its
// fingerprint before any prompt for the name or the password; any answer but yes (or Ctrl-C)
// ends the run with nothing recorded, no prompt, and no login attempt in the server's log.
func TestInteractiveNewServerRefused(t *testing.T) {
	for _, tc := range []struct {
		name, answer, says string
		code               int
	}{
		{"no", "no\r", `myftpc: server not trusted: .*: not confirmed; nothing was recorded and no password was sent\r\n`, ExitHostKey},
		{"y", "y\r", `not confirmed`, ExitHostKey},
		{"ctrl-d", "\x04", `not confirmed`, ExitHostKey},
		{"ctrl-c", "\x03", `\^C\r\nmyftpc: interrupted\r\n`, ExitInterrupted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var log syncBuffer
			f := newFixture(t, servertest.Options{LogTo: &log})
			term, exited := startShell(t, f, f.srv.Addr)
			term.expect(`Trust this server and record it in .*\? \(yes/no\) `)
			term.send(tc.answer)
			term.expect(tc.says)
			waitExitCode(t, term, exited, tc.code)
			if strings.Contains(term.all(), "Name:") || strings.Contains(term.all(), "Password:") {
				t.Errorf("asked for the name or password of a server not trusted:\n%q", term.all())
			}
			if _, err := os.Stat(filepath.Join(f.home, "known_hosts")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("known_hosts after a refusal: %v", err)
			}
			if loginLogged.MatchString(log.String()) {
				t.Errorf("the server saw a login attempt:\n%s", log.String())
			}
		})
	}
}

// TestInteractivePlainServerRefused: a server without TLS is refused before the name and password
// are asked for, saying how to connect anyway; the server sees no login attempt.
func TestInteractivePlainServerRefused(t *testing.T) {
	var log syncBuffer
	f := newFixture(t, servertest.Options{Plain: true, LogTo: &log})
	term, exited := startShell(t, f, f.srv.Addr)
	term.expect(`myftpc: ` + regexp.QuoteMeta(f.srv.Addr) + `: server does not use TLS: refusing to send a password in clear text; ` +
		`--insecure, or allow_plaintext = true in \[client\] of the settings, connects anyway\r\n`)
	waitExitCode(t, term, exited, ExitHostKey)
	if strings.Contains(term.all(), "Name:") || strings.Contains(term.all(), "Password:") {
		t.Errorf("asked for the name or password of a plain server:\n%q", term.all())
	}
	if loginLogged.MatchString(log.String()) {
		t.Errorf("the server saw a login attempt:\n%s", log.String())
	}
}

// TestInteractiveSlowPassword: the server closes a connection that has not logged in within its
// login timeout; a person who types the password after that is logged in all the same, on a new
// connection checked like the first (silently: the server is now known).
func TestInteractiveSlowPassword(t *testing.T) {
	var log syncBuffer
	f := newFixture(t, servertest.Options{LogTo: &log, Admission: admission.Config{LoginTimeout: time.Second}})
	term, exited := startShell(t, f, f.srv.Addr)
	term.trust(f, f.srv.Addr)
	term.expect(`Name: `)
	waitFor(t, "the server's login timeout", func() bool { return strings.Contains(log.String(), "login timeout") })
	term.send("alice\r")
	term.password("secret")
	term.expect(`Account \[alice\] login successful\r\n`)
	term.expect(`ftp:/> `)
	term.send("pwd\r")
	term.expect(`\r\n/\r\n`)
	term.expect(`ftp:/> `)
	term.send("\x04")
	waitExit(t, term, exited)
	if strings.Count(term.all(), "authenticity") != 1 || strings.Contains(term.all(), "WARNING") {
		t.Errorf("the reconnection was not silent:\n%q", term.all())
	}
	if kh, err := os.ReadFile(filepath.Join(f.home, "known_hosts")); err != nil || strings.Count(string(kh), "\n") != 1 {
		t.Errorf("known_hosts %q, %v; want one line", kh, err)
	}
}

// TestInteractiveAccountDeleted: when the account is deleted during the session, the server's 421
// ends the session with its message: no reconnection, no password prompt (whose failures would
// count toward the throttling of failed logins).
func TestInteractiveAccountDeleted(t *testing.T) {
	var log syncBuffer
	f := newFixture(t, servertest.Options{LogTo: &log})
	term, exited := startShell(t, f, f.srv.Addr)
	term.trust(f, f.srv.Addr)
	term.expect(`Name: `)
	term.send("alice\r")
	term.password("secret")
	term.expect(`ftp:/> `)
	if _, err := f.srv.DB.Delete("alice"); err != nil {
		t.Fatal(err)
	}
	term.send("pwd\r")
	term.expect(`myftpc: pwd: connection closed: 421 account disabled or deleted; closing the session\r\n`)
	waitExitCode(t, term, exited, ExitConnect)
	if out := term.all(); strings.Count(out, "Password:") != 1 || strings.Contains(out, "reconnect") {
		t.Errorf("asked again or reconnected:\n%q", out)
	}
	if n := strings.Count(log.String(), "login failed"); n != 0 {
		t.Errorf("%d failed logins in the server's log:\n%s", n, log.String())
	}
}

// TestInteractiveCtrlCAtName: Ctrl-C at the Name: prompt ends the run as an interrupt, saying
// so in words (not "context canceled").
func TestInteractiveCtrlCAtName(t *testing.T) {
	f := newFixture(t, servertest.Options{})
	term, exited := startShell(t, f, f.srv.Addr)
	term.trust(f, f.srv.Addr)
	term.expect(`Name: `)
	term.send("al\x03")
	term.expect(`myftpc: interrupted\r\n`)
	waitExitCode(t, term, exited, ExitInterrupted)
	if strings.Contains(term.all(), "context canceled") {
		t.Errorf("output:\n%q", term.all())
	}
}

// TestInteractiveCtrlC: Ctrl-C at the prompt clears the line, as in a shell, however often it is
// typed, also right after a Ctrl-C that stopped a transfer (TestInteractive); Ctrl-D at an empty
// prompt leaves.
func TestInteractiveCtrlC(t *testing.T) {
	f := newFixture(t, servertest.Options{})
	f.remoteFile("keep.txt", []byte("kept"))
	term, exited := startShell(t, f, f.srv.Addr)
	term.trust(f, f.srv.Addr)
	term.expect(`Name: `)
	term.send("alice\r")
	term.password("secret")
	term.expect(`ftp:/> `)
	for _, keys := range []string{"\x03", "\x03", "rm keep.txt\x03"} {
		term.send(keys)
		term.expect(`\^C\r\n`)
		term.expect(`ftp:/> `)
	}
	term.send("pwd\r")
	term.expect(`\r\n/\r\n`)
	term.expect(`ftp:/> `)
	term.send("\x04")
	waitExit(t, term, exited)
	if _, err := os.Stat(filepath.Join(f.srv.Home("alice"), "keep.txt")); err != nil {
		t.Errorf("the line cleared with Ctrl-C was run: %v", err)
	}
}

// TestInteractiveConnectionRefused: nothing listening at the address is found before anything is
// asked, and the message says that myftps does not run there.
func TestInteractiveConnectionRefused(t *testing.T) {
	f := newFixture(t, servertest.Options{})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	term, exited := startShell(t, f, addr)
	term.expect(`myftpc: connect to ` + regexp.QuoteMeta(addr) + `: nothing accepts connections there \(connection refused\): ` +
		`myftps is not running on that address; start it, or give the address it prints \("listening on HOST:PORT"\)\r\n`)
	waitExitCode(t, term, exited, ExitConnect)
	if strings.Contains(term.all(), "Name:") || strings.Contains(term.all(), "Password:") {
		t.Errorf("asked for the name or password with no server to send them to:\n%q", term.all())
	}
}
