//go:build unix

package shell

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/myftp/myftp/core/server/servertest"
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
		select {
		case <-term.change:
		case <-term.done:
			term.t.Fatalf("the program ended before %q; output after the last match:\n%q", re, rest)
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

// startShell runs the test binary as myftpc on a new pseudo-terminal.
func startShell(t *testing.T, f *fixture, addr string) (*terminal, <-chan error) {
	cmd := exec.Command(os.Args[0], "--known-hosts", filepath.Join(f.home, "known_hosts"), addr)
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
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("myftpc ended with %v; output:\n%q", err, term.all())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("myftpc did not exit; output:\n%q", term.all())
	}
	<-term.done
}

// TestInteractive runs myftpc on a pseudo-terminal, as a person would: it answers the Name and
// Password prompts, runs pwd and ls, completes a remote name with Tab, sees a progress bar reach
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

	term.expect(`Name: `)
	term.send("alice\r")
	term.password("secret")
	term.expect(`new server .* recorded in `)
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
	term.expect(`File \[first\.txt\] download successful: 15 B in \d+\.\d\d s \(.*/s\), md5 [0-9a-f]{32}\r\n`)
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
	term.expect(`File \[big\.bin\] download successful: 8 MiB in .*, resumed from .*, md5 [0-9a-f]{32}\r\n`)
	term.expect(`ftp:/> `)
	if got, err := os.ReadFile(filepath.Join(f.local, "big.bin")); err != nil || !bytes.Equal(got, big) {
		t.Fatalf("big.bin after the resume: %d bytes, %v", len(got), err)
	}

	// mget: one bar for the batch, labelled with the file and the count.
	term.send("mget a*\r")
	term.expect(`File \[a1\.txt\] download successful: 3 B in `)
	term.expect(`File \[a2\.txt\] download successful: 3 B in `)
	term.expect(`\[2/2\] a2\.txt \[=+\] 100%  6 B / 6 B `)
	term.expect(`2 files downloaded: 6 B in `)
	term.expect(`ftp:/> `)

	// Ctrl-C on a typed line drops the line; at an empty prompt it ends the session.
	term.send("rm first.txt\x03")
	term.expect(`\^C\r\n`)
	term.expect(`ftp:/> `)
	term.send("\x03")
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
	if h, err := os.ReadFile(filepath.Join(f.home, ".myftp", "history")); err != nil || string(h) != "lpwd\n" {
		t.Errorf("history %q, %v", h, err)
	}
	if known, _ := echoOff(term.ptmx); known && (strings.Contains(term.all(), "wrong") || strings.Contains(term.all(), "secret")) {
		t.Errorf("a password was echoed:\n%q", term.all())
	}
}
