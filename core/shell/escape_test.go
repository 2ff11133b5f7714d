package shell

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/myftp/myftp/core/server/servertest"
	"github.com/myftp/myftp/lib/proto"
)

func TestVisible(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"", ""},
		{"plain.txt", "plain.txt"},
		{"café 文件 😀 שלום a\u00a0b 👩\u200d💻", "café 文件 😀 שלום a\u00a0b 👩\u200d💻"},
		{"\x1b]0;pwned\x07", `\x1b]0;pwned\x07`},
		{"\x1b[2J\x1b[H", `\x1b[2J\x1b[H`},
		{"a\nb\rc\td\x00\x7f", `a\x0ab\x0dc\x09d\x00\x7f`},
		{"c1 \u009b2J nel \u0085", `c1 \u{009b}2J nel \u{0085}`},
		{"invoice-\u202efdp.exe", `invoice-\u{202e}fdp.exe`},
		{"\u2066\u2067\u2068\u2069\u202a\u202b\u202c\u202d\u200e\u200f\u061c", `\u{2066}\u{2067}\u{2068}\u{2069}\u{202a}\u{202b}\u{202c}\u{202d}\u{200e}\u{200f}\u{061c}`},
		{"line\u2028para\u2029", `line\u{2028}para\u{2029}`},
		{"bad \xff\xfe utf-8 \xc3", `bad \xff\xfe utf-8 \xc3`},
		{"real \ufffd kept", "real \ufffd kept"},
	}
	for _, tc := range tests {
		if got := visible(tc.in); got != tc.want {
			t.Errorf("visible(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// evilName is a file name an administrator could leave in a home (the server refuses to create
// one): it retitles the window, clears the screen and reverses the rest of the line.
const (
	evilName    = "evil\x1b]0;pwned\x07\x1b[2J\u202etxt.exe"
	evilShown   = `evil\x1b]0;pwned\x07\x1b[2J\u{202e}txt.exe`
	evilDir     = "dir\x1b[31m\u2028red"
	evilDirShow = `dir\x1b[31m\u{2028}red`
)

// noRawControls fails the test if out holds a byte or character visible should have escaped.
func noRawControls(t *testing.T, what, out string) {
	t.Helper()
	if i := strings.IndexFunc(out, func(r rune) bool { return r != '\n' && unsafeRune(r) }); i >= 0 {
		t.Errorf("%s holds %q at %d:\n%q", what, []rune(out[i:])[0], i, out)
	}
}

// TestServerNamesEscaped: names on the server that hold terminal escapes and a bidi override are
// printed escaped by ls, dir, mget (whose error echoes the name) and get, and not offered by Tab.
func TestServerNamesEscaped(t *testing.T) {
	f := newFixture(t, servertest.Options{})
	f.remoteFile(evilName, []byte("boom"))
	f.remoteFile(evilDir+"/inner.txt", []byte("x"))
	f.remoteFile("plain.txt", []byte("x"))

	r := f.run("-c", "ls; dir")
	if r.code != 0 {
		t.Fatalf("ls: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	noRawControls(t, "ls and dir", r.stdout+r.stderr)
	for _, want := range []string{evilDirShow + "/\n" + evilShown + "\nplain.txt\n", " " + evilDirShow + "\n", " " + evilShown + "\n"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("ls and dir: stdout %q lacks %q", r.stdout, want)
		}
	}

	// The server refuses the name (a control character); mget's error names the file.
	r = f.run("-c", "mget evil*")
	if r.code != ExitFailed {
		t.Fatalf("mget: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	noRawControls(t, "mget", r.stdout+r.stderr)
	if want := "download " + evilShown + ": 553 invalid path (control character)\n"; !strings.Contains(r.stderr, want) {
		t.Errorf("mget: stderr %q lacks %q", r.stderr, want)
	}

	r = f.run("-c", "get "+Escape(evilName))
	if r.code != ExitFailed || !strings.Contains(r.stderr, "myftpc: get: 553 invalid path (control character)\n") {
		t.Fatalf("get: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	noRawControls(t, "get", r.stdout+r.stderr)

	c := &completer{s: f.shell(io.Discard, io.Discard, time.Now)}
	for _, line := range []string{"get ev", "cd di", "get "} {
		got, _ := c.Do([]rune(line), len([]rune(line)))
		for _, g := range got {
			if string(g) != visible(string(g)) {
				t.Errorf("complete %q offers %q", line, string(g))
			}
		}
	}
	if got, _ := c.Do([]rune("get "), 4); len(got) != 1 {
		t.Errorf("complete \"get \" = %q, want plain.txt only", got)
	}
}

// TestHostileServerTextEscaped: a server that puts terminal escapes in everything it sends (user
// name, paths, listing names and modes, unfinished uploads' paths, the reason of a restart, reply messages) cannot get one
// to the terminal, and neither can the name of a file it made the client download (lls).
func TestHostileServerTextEscaped(t *testing.T) {
	addr := hostileServer(t)
	home, local := t.TempDir(), t.TempDir()
	env := map[string]string{"MYFTP_PASSWORD": "secret", "MYFTP_ROOT": home, "HOME": home}
	var out, errb syncBuffer
	code := Run(context.Background(), Env{Args: []string{"--known-hosts", filepath.Join(home, "known_hosts"), "--insecure", "-u", "alice",
		"-c", "pwd; cd x; mkdir y; ls; dir; quota; partials; get report.pdf; mget *; lls; rm z", addr},
		Stdout: &out, Stderr: &errb, Dir: local, Getenv: func(k string) string { return env[k] }})
	if code != ExitFailed {
		t.Fatalf("exit %d, want %d (rm fails); stdout %q, stderr %q", code, ExitFailed, out.String(), errb.String())
	}
	all := out.String() + errb.String()
	noRawControls(t, "output", all)
	for _, want := range []string{
		`Account [alice\x1b[2J] login successful`,
		"/" + evilDirShow + "\n",
		"directory changed to /" + evilDirShow + "\n",
		"directory /" + evilDirShow + " created\n",
		"\n" + evilShown + "\n",
		`-rw\x1b[2J------- 4 `,
		"  /" + evilShown + "\n", // partials
		`File [report.pdf] download successful`, `restarted: ` + evilShown,
		`File [` + evilShown + `] download successful`,
		`myftpc: rm: 550 no such file or directory: ` + evilShown + "\n",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("output lacks %q:\n%s", want, all)
		}
	}
	if _, err := os.Stat(filepath.Join(local, evilName)); err != nil {
		t.Fatalf("the download of the hostile name: %v", err)
	}
	if !strings.Contains(out.String(), "\n"+evilShown+"\nreport.pdf\n") {
		t.Errorf("lls does not show the downloaded name escaped: %q", out.String())
	}
}

// hostileServer serves one session, without TLS, that answers every request with names, paths and
// messages full of terminal escapes, and returns its address.
func hostileServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	t.Cleanup(func() {
		l.Close()
		if err := <-served; err != nil {
			t.Errorf("hostile server: %v", err)
		}
	})
	go func() {
		conn, err := l.Accept()
		if err != nil {
			served <- err
			return
		}
		defer conn.Close()
		served <- serveHostile(proto.NewReader(conn, proto.DefaultMaxHeader), proto.NewWriter(conn))
	}()
	return l.Addr().String()
}

func serveHostile(r *proto.Reader, w *proto.Writer) error {
	data := []byte("boom")
	sum := md5.Sum(data)
	entries := []proto.Entry{
		{Name: evilName, Type: proto.EntryFile, Size: 4, Mode: "-rw\x1b[2J-------", Mtime: time.Now()},
		{Name: evilDir, Type: proto.EntryDir, Size: 0, Mode: "drwx------", Mtime: time.Now()},
	}
	reply := func(rep proto.Reply) error { return w.WriteJSON(proto.TypeReply, rep) }
	if err := reply(proto.Reply{Code: proto.CodeReady, Version: proto.Version, Server: "evil\x1b[2J"}); err != nil {
		return err
	}
	for {
		if err := w.Flush(); err != nil {
			return err
		}
		f, err := r.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		req, err := proto.DecodeRequest(f.Payload)
		if err != nil {
			return err
		}
		switch req.Op {
		case proto.OpLogin:
			err = reply(proto.Reply{Code: proto.CodeLoggedIn, User: "alice\x1b[2J", Path: "/"})
		case proto.OpPwd, proto.OpMkdir:
			err = reply(proto.Reply{Code: proto.CodePath, Path: "/" + evilDir})
		case proto.OpCd:
			err = reply(proto.Reply{Code: proto.CodeFileOK, Path: "/" + evilDir})
		case proto.OpStat:
			err = reply(proto.Reply{Code: proto.CodeStat, Entry: &proto.Entry{Name: req.Path, Type: proto.EntryFile, Size: 4}})
		case proto.OpQuota:
			err = reply(proto.Reply{Code: proto.CodeOK, Used: 1, Quota: 2})
		case proto.OpList:
			var lines []byte
			for _, e := range entries {
				b, _ := json.Marshal(e)
				lines = append(append(lines, b...), '\n')
			}
			reply(proto.Reply{Code: proto.CodeDataFollows})
			w.WriteFrame(proto.TypeData, lines)
			err = reply(proto.Reply{Code: proto.CodeTransferDone, Count: int64(len(entries))})
		case proto.OpPartials:
			b, _ := json.Marshal(proto.Partial{Path: "/" + evilName, Size: 1, Total: 4, Mtime: time.Now()})
			reply(proto.Reply{Code: proto.CodeDataFollows})
			w.WriteFrame(proto.TypeData, append(b, '\n'))
			err = reply(proto.Reply{Code: proto.CodeTransferDone, Count: 1})
		case proto.OpGet:
			reply(proto.Reply{Code: proto.CodeDataFollows, Size: int64(len(data)), Restart: evilName})
			w.WriteFrame(proto.TypeData, data)
			err = reply(proto.Reply{Code: proto.CodeTransferDone, Size: int64(len(data)), MD5: hex.EncodeToString(sum[:])})
		case proto.OpQuit:
			return reply(proto.Reply{Code: proto.CodeBye})
		default:
			err = reply(proto.Reply{Code: proto.CodeUnavailFile, Msg: "no such file or directory: " + evilName})
		}
		if err != nil {
			return err
		}
	}
}
