package shell

import (
	"bytes"
	"context"
	"fmt"
	"github.com/myftp/myftp/core/admission"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/myftp/myftp/core/server/servertest"
	"github.com/myftp/myftp/lib/checksum"
	"github.com/myftp/myftp/lib/proto"
	"github.com/myftp/myftp/lib/transfer"
)

// TestDefaultAddressFromSettings: without an address, myftpc connects to client.server of the
// settings in the runtime root, and with client.trust_new keeps the new server's fingerprint in
// client.known_hosts.
func TestDefaultAddressFromSettings(t *testing.T) {
	f := newFixture(t, servertest.Options{})
	settings := fmt.Sprintf("[client]\nserver = %q\nknown_hosts = \"trusted\"\ntrust_new = true\n", f.srv.Addr)
	if err := os.MkdirAll(filepath.Join(f.home, "conf"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(f.home, "conf", "settings.toml"), []byte(settings), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code := Run(context.Background(), Env{Args: []string{"-u", "alice", "-c", "pwd"}, Stdout: &out, Stderr: &errb,
		Getenv: func(k string) string { return f.env[k] }, Dir: f.local})
	if code != 0 || out.String() != "/\n" || !strings.HasSuffix(errb.String(), "Account [alice] login successful\n") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out.String(), errb.String())
	}
	kh, err := os.ReadFile(filepath.Join(f.home, "trusted"))
	if err != nil || !strings.HasPrefix(string(kh), f.srv.Addr+" SHA256:") {
		t.Errorf("known hosts %q, %v", kh, err)
	}
}

// TestQueueWaitThenServed: with every slot taken, a client says it waits, and is served as soon
// as the slot is free.
func TestQueueWaitThenServed(t *testing.T) {
	f := newFixture(t, servertest.Options{Admission: admission.Config{PoolSize: 1, QueueSize: 1, QueueTimeout: time.Minute}})
	holder := f.srv.Login("alice", "secret")
	done := make(chan result, 1)
	go func() { done <- f.run("-c", "pwd") }()
	waitFor(t, "the client to wait in the queue", func() bool { return f.srv.Server.Stats().Waiting == 1 })
	holder.Close()
	select {
	case r := <-done:
		if r.code != 0 || r.stdout != "/\n" {
			t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
		if !strings.Contains(r.stderr, "waiting for a free server slot...\n") {
			t.Errorf("stderr %q does not say it waited", r.stderr)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the client was not served after the slot became free")
	}
}

// TestRetryResumesAfterDrop: with --retry, a download cut by a lost connection reconnects and
// resumes, and the file arrives whole.
func TestRetryResumesAfterDrop(t *testing.T) {
	f := newFixture(t, servertest.Options{})
	data := randomData(3<<20, 1)
	f.remoteFile("big.bin", data)
	p := startProxy(t, f.srv.Addr)
	f.addr = p.addr()
	p.cutNextAfter(1 << 20) // the first connection breaks after about 1 MiB
	r := f.run("--retry", "2", "-c", "get big.bin")
	if r.code != 0 {
		t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{`connection lost \(.*\); reconnecting to ` + regexp.QuoteMeta(f.addr) + ` \(retry 1 of 2\)\n`,
		`reconnected: Account \[alice\] login successful`} {
		if !regexp.MustCompile(want).MatchString(r.stderr) {
			t.Errorf("stderr %q: no %q", r.stderr, want)
		}
	}
	summary := regexp.MustCompile(`(?m)^File \[big.bin\] download successful: (.+) in \d+\.\d\d s \(.*/s\), resumed at (.+) of 3 MiB, blake3 ` + servertest.Sum(checksum.BLAKE3, data) + `$`)
	if !regexp.MustCompile(`(?m)^resuming at .* of 3 MiB$`).MatchString(r.stdout) || !summary.MatchString(r.stdout) {
		t.Errorf("stdout %q: want a resume and the summary", r.stdout)
	}
	got, err := os.ReadFile(filepath.Join(f.local, "big.bin"))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("downloaded file differs (%d bytes, %v)", len(got), err)
	}
}

// TestDropWithoutRetry: without --retry the run stops with exit 3 and keeps the partial file.
func TestDropWithoutRetry(t *testing.T) {
	f := newFixture(t, servertest.Options{})
	f.remoteFile("big.bin", randomData(3<<20, 2))
	p := startProxy(t, f.srv.Addr)
	f.addr = p.addr()
	p.cutNextAfter(1 << 20)
	r := f.run("-c", "get big.bin; pwd")
	if r.code != ExitConnect || regexp.MustCompile(`(?m)^/$`).MatchString(r.stdout) {
		t.Fatalf("exit %d (want %d, and pwd not run), stdout %q, stderr %q", r.code, ExitConnect, r.stdout, r.stderr)
	}
	if !regexp.MustCompile(`myftpc: get: connection (lost|closed)`).MatchString(r.stderr) {
		t.Errorf("stderr %q", r.stderr)
	}
	fi, err := os.Stat(filepath.Join(f.local, transfer.PartialName("big.bin")))
	if err != nil || fi.Size() == 0 {
		t.Errorf("partial file: %v", err)
	}
}

// TestReconnectAfterDrop: the command after a lost connection logs in again and goes back to the
// remote directory; an idle session the server may have closed is checked first; a command that
// changes nothing runs again at once on a new connection.
func TestReconnectAfterDrop(t *testing.T) {
	f := newFixture(t, servertest.Options{})
	f.remoteFile("sub/x.txt", []byte("x"))
	p := startProxy(t, f.srv.Addr)
	f.addr = p.addr()
	var out, errb syncBuffer
	clock := time.Now()
	s := f.shell(&out, &errb, func() time.Time { return clock })
	ctx := context.Background()
	if err := s.exec(ctx, []string{"cd", "sub"}); err != nil {
		t.Fatal(err)
	}
	p.cutAll()
	err := s.exec(ctx, []string{"mkdir", "new"})
	if exitCode(err) != ExitConnect {
		t.Fatalf("mkdir on a cut connection: %v (exit %d)", err, exitCode(err))
	}
	if err := s.exec(ctx, []string{"pwd"}); err != nil {
		t.Fatalf("pwd after the drop: %v", err)
	}
	if !strings.HasSuffix(out.String(), "/sub\n") || !strings.Contains(errb.String(), "reconnected: Account [alice] login successful") {
		t.Fatalf("stdout %q, stderr %q", out.String(), errb.String())
	}
	p.cutAll() // within idleCheck: the command finds the connection gone, and runs again
	if err := s.exec(ctx, []string{"pwd"}); err != nil {
		t.Fatalf("pwd on a cut connection: %v", err)
	}
	if strings.Count(errb.String(), "reconnected: ") != 2 || !strings.HasSuffix(out.String(), "/sub\n/sub\n") {
		t.Fatalf("stdout %q, stderr %q", out.String(), errb.String())
	}
	// Idle for a minute, the connection lost without a word: the next command does not fail.
	clock = clock.Add(time.Minute)
	p.cutAll()
	if err := s.exec(ctx, []string{"ls"}); err != nil {
		t.Fatalf("ls after an idle drop: %v", err)
	}
	if !strings.HasSuffix(out.String(), "x.txt\n") {
		t.Errorf("stdout %q", out.String())
	}
}

// TestInterruptBatch: Ctrl-C in batch mode stops the transfer and the run (exit 130); the partial
// download stays for a resume.
func TestInterruptBatch(t *testing.T) {
	f := newFixture(t, servertest.Options{})
	f.remoteFile("big.bin", randomData(4<<20, 3))
	p := startProxy(t, f.srv.Addr)
	f.addr = p.addr()
	sig := make(chan os.Signal, 1)
	var out, errb syncBuffer
	env := f.envFor(&out, &errb, "-c", "pwd; get big.bin; pwd")
	env.Interrupts = sig
	done := make(chan int, 1)
	p.limit(1 << 20) // the login and pwd pass; the download stalls after about 1 MiB
	go func() { done <- Run(context.Background(), env) }()
	<-p.stalled // the download is under way and held
	partial := filepath.Join(f.local, transfer.PartialName("big.bin"))
	waitFor(t, "the partial download to hold data", func() bool { fi, err := os.Stat(partial); return err == nil && fi.Size() > 0 })
	sig <- syscall.SIGINT
	code := <-done
	if code != ExitInterrupted || out.String() != "/\n" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out.String(), errb.String())
	}
	if !strings.Contains(errb.String(), "myftpc: get: download interrupted; the part already transferred is kept") {
		t.Errorf("stderr %q", errb.String())
	}
	if fi, err := os.Stat(partial); err != nil || fi.Size() == 0 {
		t.Errorf("partial file: %v", err)
	}
}

// TestCompleter checks Tab completion against a real session and a local directory.
func TestCompleter(t *testing.T) {
	f := newFixture(t, servertest.Options{})
	for _, name := range []string{"first.txt", "my file.txt", "sub/inner.txt", "sub/inside.txt", ".hidden"} {
		f.remoteFile(name, []byte("x"))
	}
	os.WriteFile(filepath.Join(f.local, "local one.txt"), nil, 0o600)
	os.Mkdir(filepath.Join(f.local, "ldir"), 0o700)
	s := f.shell(&bytes.Buffer{}, &bytes.Buffer{}, time.Now)
	c := &completer{s: s}
	tests := []struct {
		line string
		want []string
		n    int
	}{
		{"ge", []string{"t "}, 2},
		{"lp", []string{"wd "}, 2},
		{"get fi", []string{"rst.txt "}, 2},
		{"get my", []string{`\ file.txt `}, 2},
		{`get "my f`, []string{`ile.txt" `}, 5},
		{`get 'my`, []string{` file.txt' `}, 3},
		{"cd s", []string{"ub/"}, 1},
		{"get sub/in", []string{"ner.txt ", "side.txt "}, 2},
		{"ls /sub/ins", []string{"ide.txt "}, 3},
		{"get .h", []string{"idden "}, 2},
		{"put lo", []string{`cal\ one.txt `}, 2},
		{"put ld", []string{"ir/"}, 2},
		{"put x fi", []string{"rst.txt "}, 2},
		{"get first.txt ld", []string{"ir/"}, 2},
		{"lcd ld", []string{"ir/"}, 2},
		{"help pu", []string{"t "}, 2},
		{"pwd; get fi", []string{"rst.txt "}, 2},
		{"nosuch fi", nil, 0},
		{"pwd fi", nil, 0},
		// Flags and their values are not arguments; mirror -R takes a local SOURCE.
		{"put -r ld", []string{"ir/"}, 2},
		{"put -rP 2 ld", []string{"ir/"}, 2},
		{"put -r -P 2 ld fi", []string{"rst.txt "}, 2},
		{"get -P", nil, 0},
		{"get -P fi", nil, 0},
		{"get -f fi", []string{"rst.txt "}, 2},
		{"mirror fi", []string{"rst.txt "}, 2},
		{"mirror sub ld", []string{"ir/"}, 2},
		{"mirror -R ld", []string{"ir/"}, 2},
		{"mirror --delete -R ldir fi", []string{"rst.txt "}, 2},
		{"rm -r -- fi", []string{"rst.txt "}, 2},
		{"cat fi", []string{"rst.txt "}, 2},
		{"lmkdir ld", []string{"ir/"}, 2},
		{"ls -", nil, 0},
	}
	for _, tt := range tests {
		got, n := c.Do([]rune(tt.line), len([]rune(tt.line)))
		var strs []string
		for _, g := range got {
			strs = append(strs, string(g))
		}
		if fmt.Sprint(strs) != fmt.Sprint(tt.want) || (tt.want != nil && n != tt.n) {
			t.Errorf("complete %q = %q, %d; want %q, %d", tt.line, strs, n, tt.want, tt.n)
		}
	}
	if got, _ := c.Do([]rune("get "), 4); len(got) != 3 { // first.txt, my file.txt, sub/: no hidden file
		t.Errorf("complete \"get \": %q", got)
	}
}

// TestBatchLines: -c takes commands separated by newlines as well as semicolons, with comments,
// empty commands and continued lines.
func TestBatchLines(t *testing.T) {
	f := newFixture(t, servertest.Options{})
	r := f.run("-c", "pwd\nmkdir \"new dir\";;  cd \"new dir\"\n# a comment; not a command\npwd   # after a command\n\ncd \\\n..; pwd\n")
	want := "/\ndirectory /new dir created\ndirectory changed to /new dir\n/new dir\n" +
		"directory changed to /\n/\n"
	if r.code != 0 || r.stdout != want {
		t.Errorf("exit %d, stdout %q, want %q; stderr %q", r.code, r.stdout, want, r.stderr)
	}
}

func TestHelpCoversEveryCommand(t *testing.T) {
	f := newFixture(t, servertest.Options{})
	r := f.run("-c", "help; help put; help mv")
	if r.code != 0 {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	for name, cmd := range commandTable() {
		if cmd.summary == "" || !strings.Contains(r.stdout, name) {
			t.Errorf("command %q: no summary or not in help", name)
		}
	}
	for _, want := range []string{"\n  mkdir, mdir [-p] DIR... ", "\n  exit, quit, bye ",
		"\nusage: put [-r] [-P N] LOCAL [REMOTE]\n  upload a file", "-r: a directory and all it holds", "\nusage: mv FROM TO\n  rename or move a remote file or directory\n  names: rename, mv\n"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("help lacks %q:\n%s", want, r.stdout)
		}
	}
}

func TestWriteLong(t *testing.T) {
	now := time.Date(2025, 6, 15, 12, 0, 0, 0, time.Local)
	entries := []proto.Entry{
		{Name: "new.txt", Type: "f", Size: 5, Mode: "-rw-------", Mtime: time.Date(2025, 6, 1, 9, 5, 0, 0, time.Local)},
		{Name: "old.iso", Type: "f", Size: 123456789, Mode: "-rw-r--r--", Mtime: time.Date(2024, 12, 1, 9, 5, 0, 0, time.Local)},
		{Name: "sub", Type: "d", Size: 4096, Mode: "drwx------", Mtime: time.Date(2025, 6, 15, 11, 0, 0, 0, time.Local)},
	}
	var b bytes.Buffer
	writeLong(&b, entries, now)
	want := "-rw-------         5 Jun  1 09:05 new.txt\n" +
		"-rw-r--r-- 123456789 Dec  1  2024 old.iso\n" +
		"drwx------      4096 Jun 15 11:00 sub\n"
	if b.String() != want {
		t.Errorf("writeLong:\n%s\nwant:\n%s", b.String(), want)
	}
	b.Reset()
	writeShort(&b, entries)
	if b.String() != "new.txt\nold.iso\nsub/\n" {
		t.Errorf("writeShort: %q", b.String())
	}
}

func TestParseArgs(t *testing.T) {
	o, err := parseArgs([]string{"-u", "bob", "host:21", "--retry", "3", "-c", "ls", "--insecure"})
	if err != nil || o.user != "bob" || o.addr != "host:21" || o.retry != 3 || !o.hasCommands || o.commands != "ls" || !o.insecure {
		t.Errorf("parseArgs: %+v, %v", o, err)
	}
	for _, bad := range [][]string{{"--retry", "-1"}, {"--retry", "x"}, {"a:1", "b:2"}, {"--nosuch"}, {"-u"}} {
		if _, err := parseArgs(bad); err == nil {
			t.Errorf("parseArgs(%q): no error", bad)
		}
	}
}
