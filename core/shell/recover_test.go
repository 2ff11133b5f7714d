package shell

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/myftp/myftp/core/server/servertest"
)

// TestReconnectDirectoryGone: when the connection dropped and the remote directory the shell was
// in is gone by the time it reconnects, the pending command is not run in "/" instead (a put there
// could replace a file of the same name); the shell says so and is in "/" for the next command.
func TestReconnectDirectoryGone(t *testing.T) {
	f := newFixture(t, servertest.Options{})
	f.remoteFile("sub/inside.txt", []byte("in sub"))
	f.remoteFile("x.txt", []byte("the x.txt in /, not to be replaced"))
	p := startProxy(t, f.srv.Addr)
	f.addr = p.addr()
	if err := os.WriteFile(filepath.Join(f.local, "x.txt"), []byte("local"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb syncBuffer
	s := f.shell(&out, &errb, time.Now)
	ctx := context.Background()
	if err := s.exec(ctx, []string{"cd", "sub"}); err != nil {
		t.Fatal(err)
	}
	p.cutAll()
	home := f.srv.Home("alice")
	if err := os.Rename(filepath.Join(home, "sub"), filepath.Join(home, "moved")); err != nil {
		t.Fatal(err)
	}
	s.c.Noop() // the client learns that its connection is gone
	err := s.exec(ctx, []string{"put", "x.txt"})
	if err == nil || !strings.Contains(err.Error(), "back to /sub after reconnecting") || !strings.Contains(err.Error(), "the command was not run") {
		t.Fatalf("put after the directory went away: %v", err)
	}
	if got, _ := os.ReadFile(filepath.Join(home, "x.txt")); string(got) != "the x.txt in /, not to be replaced" {
		t.Errorf("/x.txt now holds %q", got)
	}
	if err := s.exec(ctx, []string{"pwd"}); err != nil || !strings.HasSuffix(out.String(), "\n/\n") {
		t.Errorf("pwd after: %v, stdout %q", err, out.String())
	}
}

// TestRetryWaitsForServer: with --retry, a reconnect that finds the server still down uses up one
// retry and the next waits a moment and tries again, instead of giving up at the first refusal.
func TestRetryWaitsForServer(t *testing.T) {
	f := newFixture(t, servertest.Options{})
	data := randomData(3<<20, 4)
	f.remoteFile("big.bin", data)
	p := startProxy(t, f.srv.Addr)
	f.addr = p.addr()
	p.cutNextAfter(1 << 20)
	p.downAfterCut(1) // the first reconnect finds the server down
	r := f.run("--retry", "3", "-c", "get big.bin")
	if r.code != 0 {
		t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{
		`reconnecting to ` + regexp.QuoteMeta(f.addr) + ` \(retry 1 of 3\)\n`,
		`; trying again in 1s\n`,
		`reconnecting to ` + regexp.QuoteMeta(f.addr) + ` \(retry 2 of 3\)\n`,
		`reconnected: Account \[alice\] login successful`,
	} {
		if !regexp.MustCompile(want).MatchString(r.stderr) {
			t.Errorf("stderr %q: no %q", r.stderr, want)
		}
	}
	if got, err := os.ReadFile(filepath.Join(f.local, "big.bin")); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("downloaded file differs (%d bytes, %v)", len(got), err)
	}
}

// TestInterruptWhileReadingCommands: the commands on standard input are all read, and checked,
// before the first runs; Ctrl-C while the shell waits for the rest of them ends the run (exit 130)
// and none of them runs.
func TestInterruptWhileReadingCommands(t *testing.T) {
	f := newFixture(t, servertest.Options{})
	stdin, feed := io.Pipe()
	defer feed.Close()
	sig := make(chan os.Signal, 1)
	var out, errb syncBuffer
	env := f.envFor(&out, &errb)
	env.Stdin, env.Interrupts = stdin, sig
	done := make(chan int, 1)
	go func() { done <- Run(context.Background(), env) }()
	if _, err := io.WriteString(feed, "mkdir before\n"); err != nil { // read: the pipe holds no more
		t.Fatal(err)
	}
	sig <- syscall.SIGINT
	select {
	case code := <-done:
		if code != ExitInterrupted || errb.String() != "myftpc: interrupted\n" {
			t.Fatalf("exit %d, want %d; stderr %q", code, ExitInterrupted, errb.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Ctrl-C did not end a batch run waiting for input")
	}
	if _, err := os.Stat(filepath.Join(f.srv.Home("alice"), "before")); err == nil {
		t.Error("a command ran before the commands were all read")
	}
}

// TestLocalPaths: "~" alone and "~/x" are the home directory and a path in it; a trailing
// separator stays (it says the path is a directory); lcd without an argument goes home.
func TestLocalPaths(t *testing.T) {
	f := newFixture(t, servertest.Options{})
	var out, errb syncBuffer
	s := f.shell(&out, &errb, time.Now)
	sep := string(filepath.Separator)
	for in, want := range map[string]string{
		"~":       f.home,
		"~/a/b":   filepath.Join(f.home, "a", "b"),
		"d/":      filepath.Join(f.local, "d") + sep,
		"~/d/":    filepath.Join(f.home, "d") + sep,
		"/":       sep,
		"a/../b":  filepath.Join(f.local, "b"),
		"~user/x": filepath.Join(f.local, "~user", "x"),
	} {
		if got := s.localPath(in); got != want {
			t.Errorf("localPath(%q) = %q, want %q", in, got, want)
		}
	}
	if err := s.exec(context.Background(), []string{"lcd"}); err != nil {
		t.Fatalf("lcd: %v", err)
	}
	if s.lwd != f.home {
		t.Errorf("after lcd the local directory is %q, want %q", s.lwd, f.home)
	}
}

// TestMgetCountsUntriedFiles: a batch cut by a lost connection says how many files were not
// downloaded, counting those it never reached.
func TestMgetCountsUntriedFiles(t *testing.T) {
	f := newFixture(t, servertest.Options{})
	for i, name := range []string{"f1.dat", "f2.dat", "f3.dat", "f4.dat"} {
		f.remoteFile(name, randomData(1<<20, byte(10+i)))
	}
	p := startProxy(t, f.srv.Addr)
	f.addr = p.addr()
	p.cutNextAfter(3 << 19) // in the middle of f2.dat
	r := f.run("-c", "mget *.dat")
	if r.code != ExitConnect || !strings.Contains(r.stderr, "mget: 3 of 4 files not downloaded; the first error: ") {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestCommandsCheckedBeforeConnecting: a mistyped -c is a usage error (exit 2) found before the
// shell connects: no server is needed to be told so.
func TestCommandsCheckedBeforeConnecting(t *testing.T) {
	f := newFixture(t, servertest.Options{})
	f.addr = "127.0.0.1:1" // nothing listens there: connecting would fail with exit 3
	for cmds, want := range map[string]string{
		"pwd; frobnicate":   `unknown command "frobnicate"`,
		`pwd; put "unended`: "unterminated quote",
		"pwd; get":          "usage: get [-r] [-f] [-P N] REMOTE [LOCAL|-]",
		"mput -P 0 *":       "mput: -P 0: want a number of files at once, 1 or more",
		"mget -P":           "mget: flag -P needs a value",
		"ls -z":             "unknown flag -z",
		"rm --partly x":     "unknown flag --partly",
		"pwd\nrename a b c": "usage: rename",
	} {
		r := f.run("-c", cmds)
		if r.code != ExitUsage || !strings.Contains(r.stderr, want) || r.stdout != "" {
			t.Errorf("-c %q: exit %d, stdout %q, stderr %q; want exit 2 naming %q", cmds, r.code, r.stdout, r.stderr, want)
		}
	}
}

// TestDashesAreFlags: every command reads a leading word that starts with "-" as a flag, and
// refuses one it does not take, before connecting (a typo is never taken for a file name); a name
// that starts with "-" goes after "--".
func TestDashesAreFlags(t *testing.T) {
	f := newFixture(t, servertest.Options{})
	if err := os.WriteFile(filepath.Join(f.local, "-notes.txt"), []byte("dash"), 0o600); err != nil {
		t.Fatal(err)
	}
	f.addr = "127.0.0.1:1" // nothing listens there: connecting would fail with exit 3
	for cmds, want := range map[string]string{
		"get -x docs":          "get: unknown flag -x; usage: get [-r] [-f] [-P N] REMOTE [LOCAL|-]",
		"rm -x docs":           "rm: unknown flag -x; usage: rm [-r] [--partial] FILE|GLOB...",
		"put -c notes.txt":     "put: unknown flag -c; usage: put [-r] [-P N] LOCAL [REMOTE]",
		"lls -x":               "lls: unknown flag -x; usage: lls [-l] [-a] [DIR]",
		"cd -x":                "cd: unknown flag -x; usage: cd [DIR]",
		"put -notes.txt":       "put: unknown flag -n; usage: put [-r] [-P N] LOCAL [REMOTE]",
		"rename -notes.txt -x": "rename: unknown flag -n; usage: rename FROM TO",
	} {
		r := f.run("-c", cmds)
		if r.code != ExitUsage || r.stderr != "myftpc: "+want+"\n" || r.stdout != "" {
			t.Errorf("-c %q: exit %d, stdout %q, stderr %q; want exit 2 and %q", cmds, r.code, r.stdout, r.stderr, want)
		}
	}

	f.addr = f.srv.Addr
	r := f.run("-c", "put -- -notes.txt; rename -- -notes.txt -renamed.txt")
	if r.code != 0 {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	if got, err := os.ReadFile(filepath.Join(f.srv.Home("alice"), "-renamed.txt")); err != nil || string(got) != "dash" {
		t.Errorf("-renamed.txt on the server: %q, %v", got, err)
	}
	if r := f.run("-c", "rm -- -renamed.txt"); r.code != 0 {
		t.Fatalf("rm -- -renamed.txt: exit %d, stderr %q", r.code, r.stderr)
	}
	if _, err := os.Lstat(filepath.Join(f.srv.Home("alice"), "-renamed.txt")); !os.IsNotExist(err) {
		t.Errorf("-renamed.txt after rm: %v", err)
	}
}

// TestMputErrorNamesFileOnce: the line of a file that failed in a batch names it once.
func TestMputErrorNamesFileOnce(t *testing.T) {
	f := newFixture(t, servertest.Options{})
	f.remoteFile("b.txt/inside", []byte("b.txt is a directory on the server"))
	for _, name := range []string{"a.txt", "b.txt"} {
		if err := os.WriteFile(filepath.Join(f.local, name), []byte(name), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	r := f.run("-c", "mput *.txt")
	if r.code != ExitFailed || !regexp.MustCompile(`(?m)^upload b\.txt: a directory of that name is on the server$`).MatchString(r.stderr) ||
		strings.Count(r.stderr, "b.txt") != 2 { // the line, and the error that ends the run

		t.Errorf("exit %d, stderr %q; want one line naming b.txt once", r.code, r.stderr)
	}
}

// TestGetIntoMissingDirectory: get FILE DIR/ with no such DIR fails before downloading and does
// not create a file named DIR.
func TestGetIntoMissingDirectory(t *testing.T) {
	f := newFixture(t, servertest.Options{})
	f.remoteFile("x.txt", []byte("x"))
	r := f.run("-c", "get x.txt nosuchdir/")
	if r.code != ExitFailed || !strings.Contains(r.stderr, "no such directory") {
		t.Errorf("exit %d, stderr %q", r.code, r.stderr)
	}
	if _, err := os.Lstat(filepath.Join(f.local, "nosuchdir")); err == nil {
		t.Error("a file named nosuchdir was created")
	}
}

// TestPutIntoDirectory: put FILE DIR, with DIR a remote directory or written with a trailing
// slash, stores the file in it under its own name, as sftp does.
func TestPutIntoDirectory(t *testing.T) {
	f := newFixture(t, servertest.Options{})
	f.remoteFile("docs/old.txt", []byte("old"))
	if err := os.WriteFile(filepath.Join(f.local, "a.txt"), []byte("a"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := f.run("-c", "put a.txt docs; mkdir new; put a.txt new/; put a.txt renamed.txt")
	if r.code != 0 {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	home := f.srv.Home("alice")
	for _, p := range []string{"docs/a.txt", "new/a.txt", "renamed.txt"} {
		if got, err := os.ReadFile(filepath.Join(home, filepath.FromSlash(p))); err != nil || string(got) != "a" {
			t.Errorf("%s on the server: %q, %v", p, got, err)
		}
	}
}
