package conformance_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/myftp/myftp/core/server/servertest"
	"github.com/myftp/myftp/lib/client"
	"github.com/myftp/myftp/lib/proto"
)

// nativeJailCmds are the native commands that take a name, run with p as that name; they return
// what the client shows.
var nativeJailCmds = []struct {
	name    string
	changes bool
	run     func(c *client.Client, p, dir string) (string, error)
}{
	{"cd", false, func(c *client.Client, p, _ string) (string, error) {
		wd, err := c.Cd(p)
		if err == nil {
			_, err = c.Cd("/") // back for the next attempt
		}
		return wd, err
	}},
	{"ls", false, func(c *client.Client, p, _ string) (string, error) {
		var out strings.Builder
		err := c.List(p, true, func(e proto.Entry) error { fmt.Fprintln(&out, e.Name); return nil })
		return out.String(), err
	}},
	{"stat", false, func(c *client.Client, p, _ string) (string, error) { e, err := c.Stat(p); return fmt.Sprint(e), err }},
	{"get", false, func(c *client.Client, p, dir string) (string, error) {
		var out strings.Builder
		_, err := c.GetTo(context.Background(), p, &out, client.Options{})
		return out.String(), err
	}},
	{"put", true, func(c *client.Client, p, dir string) (string, error) {
		_, err := c.Put(context.Background(), filepath.Join(dir, "upload.txt"), p, client.Options{})
		return "", err
	}},
	{"mkdir", true, func(c *client.Client, p, _ string) (string, error) { return c.Mkdir(p, false) }},
	{"rm", true, func(c *client.Client, p, _ string) (string, error) { return "", c.Rm(p) }},
	{"rmdir", true, func(c *client.Client, p, _ string) (string, error) { return "", c.Rmdir(p) }},
	{"rename-from", true, func(c *client.Client, p, _ string) (string, error) { return "", c.Rename(p, "renamed.txt") }},
	{"rename-to", true, func(c *client.Client, p, _ string) (string, error) { return "", c.Rename("mine.txt", p) }},
}

// nativeJail tries the escapes, and the native protocol's own tricks (encodings, backslashes,
// control characters, overlong names), with every command, on one session of myftp's client.
func nativeJail(t *testing.T, j *jail) {
	escapes := append(j.escapes,
		escape{path: "%2e%2e/alice/secret.txt"},
		escape{path: `..\alice\secret.txt`},
		escape{path: `sub\..\..\alice`},
		escape{path: "mine.txt\x00/../../alice/secret.txt"},
		escape{path: "\x1b[2Jmine.txt"},
		escape{path: strings.Repeat("a", 256)})
	writeLocal(j.cell, "upload.txt", []byte("planted by al"))
	c, err := client.Dial(context.Background(), j.e.ClientConfig())
	must(t, err)
	defer c.Close()
	must(t, c.Login("al", "al-pw"))
	for _, esc := range escapes {
		for _, cmd := range nativeJailCmds {
			if esc.readOnly && cmd.changes {
				continue
			}
			out, err := cmd.run(c, esc.path, j.local)
			j.refused(t, cmd.name, esc, err == nil, fmt.Sprintf("%s %v", out, err))
		}
	}
	if _, err := c.Stat("mine.txt"); err != nil { // the refusals came from a live session
		t.Errorf("after the attempts: %v", err)
	}
}

// ftpJailScript runs the attempts given as JSON ([[verb, path]...]) on one FTPS session with
// Python's ftplib, printing one JSON line per attempt, then one for a NOOP that shows the session
// outlived them. Reuse passes the control connection's TLS session to the data connections, as
// the door requires.
const ftpJailScript = `
import ftplib, io, json, ssl, sys
host, port, cafile, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
attempts = json.loads(sys.argv[6])

class Reuse(ftplib.FTP_TLS):
    def ntransfercmd(self, cmd, rest=None):
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:
            conn = self.context.wrap_socket(conn, server_hostname=self.host, session=self.sock.session)
        return conn, size

f = Reuse(context=ssl.create_default_context(cafile=cafile), timeout=20)
f.connect(host, port)
f.login(user, password)
f.prot_p()

def attempt(verb, p):
    if verb == "CWD":
        r = f.sendcmd("CWD " + p)
        return r + "\n" + f.sendcmd("PWD") + "\n" + f.sendcmd("CWD /")
    if verb == "RNFR":
        f.sendcmd("RNFR " + p)
        return f.sendcmd("RNTO renamed.txt")
    if verb == "RNTO":
        f.sendcmd("RNFR mine.txt")
        return f.sendcmd("RNTO " + p)
    if verb in ("LIST", "NLST", "MLSD"):
        out = []
        r = f.retrlines(verb + " " + p, out.append)
        return r + "\n" + "\n".join(out)
    if verb == "RETR":
        out = bytearray()
        r = f.retrbinary("RETR " + p, out.extend)
        return r + "\n" + out.decode("latin-1")
    if verb in ("STOR", "APPE"):
        return f.storbinary(verb + " " + p, io.BytesIO(b"planted by al"))
    return f.sendcmd(verb + " " + p)

for verb, p in attempts:
    try:
        print(json.dumps({"verb": verb, "path": p, "ok": True, "out": attempt(verb, p)}), flush=True)
    except ftplib.all_errors as e:
        print(json.dumps({"verb": verb, "path": p, "ok": False, "out": str(e)}), flush=True)
print(json.dumps({"verb": "NOOP", "path": "", "ok": True, "out": f.sendcmd("NOOP")}), flush=True)
f.quit()
`

// ftpJailVerbs are the FTP commands that take a name, and whether they change anything.
var ftpJailVerbs = []struct {
	verb    string
	changes bool
}{{"CWD", false}, {"SIZE", false}, {"MDTM", false}, {"MLST", false}, {"LIST", false}, {"NLST", false},
	{"MLSD", false}, {"RETR", false}, {"STOR", true}, {"APPE", true}, {"DELE", true}, {"MKD", true},
	{"RMD", true}, {"RNFR", true}, {"RNTO", true}}

// ftpJail tries the escapes, and FTP's own tricks (a LIST option before the name, a ~user, a
// glob), with every command on one session of Python's ftplib (curl runs one command per
// session); then the URL tricks of curl, which decodes %2e and %2F into the names it sends.
func ftpJail(t *testing.T, j *jail) {
	python := servertest.NeedClient(t, "python3", "python3")
	escapes := append(j.escapes,
		escape{path: "-la ../alice"},
		escape{path: "~alice/secret.txt"},
		escape{path: "../*/secret.txt"},
		escape{path: "/../*", inHome: true}) // "/*": a file named "*" at the home's top
	var attempts [][2]string
	byPath := map[string]escape{}
	for _, esc := range escapes {
		byPath[esc.path] = esc
		for _, v := range ftpJailVerbs {
			if !esc.readOnly || !v.changes {
				attempts = append(attempts, [2]string{v.verb, esc.path})
			}
		}
	}
	arg, err := json.Marshal(attempts)
	must(t, err)
	host, port, err := net.SplitHostPort(j.e.FTPAddr)
	must(t, err)
	p := startProc(t, j.local, nil, false, python, "-I", "-c", ftpJailScript, host, port, j.e.ca, "al", "al-pw", string(arg))
	if err := p.wait(t); err != nil {
		t.Fatalf("ftplib: %v", err)
	}
	var results []struct {
		Verb, Path, Out string
		OK              bool
	}
	for _, l := range lines(p.stdout.String()) {
		results = append(results, struct {
			Verb, Path, Out string
			OK              bool
		}{})
		must(t, json.Unmarshal([]byte(l), &results[len(results)-1]))
	}
	if len(results) != len(attempts)+1 || results[len(results)-1].Verb != "NOOP" {
		t.Fatalf("%d results for %d attempts:\n%s", len(results), len(attempts), p.stdout.String())
	}
	for _, r := range results[:len(attempts)] {
		j.refused(t, r.Verb, byPath[r.Path], r.OK, r.Out)
	}
	ftpURLTricks(t, j)
}

// ftpURLTricks: curl decodes a URL's %XX into the names it sends (%2e%2e is "..", %2F a "/"
// inside one name, a leading %2F an absolute path); each of these is refused.
func ftpURLTricks(t *testing.T, j *jail) {
	f := openFTP(t, j.e, "al", j.local).(*ftp)
	writeLocal(j.cell, "upload.txt", []byte("planted by al"))
	for _, tr := range []struct {
		args   []string
		inHome bool
	}{
		{args: []string{f.url("%2e%2e/alice/secret.txt")}},
		{args: []string{f.url("..%2Falice%2Fsecret.txt")}},
		{args: []string{f.url("%2F..%2F..%2Fetc%2Fpasswd")}},
		{args: []string{f.url("%2e%2e/alice/")}},
		{args: []string{f.url("sub/%2e%2e/%2e%2e/alice/docs/")}},
		{args: []string{"-T", "upload.txt", f.url("..%2Falice%2Fplanted.txt")}},
		{args: []string{"-T", "upload.txt", f.url(".myftp/planted.txt")}},
		// CWD .. stays at the home's top; MKD alice and STOR make al's own /alice/planted.txt.
		{args: []string{"-T", "upload.txt", "--ftp-create-dirs", f.url("%2e%2e/alice/planted.txt")}, inHome: true},
	} {
		out, err := f.run(tr.args...)
		j.refused(t, "curl", escape{path: strings.Join(tr.args, " "), inHome: tr.inHome}, err == nil, out)
	}
}

// sftpJailCmds are OpenSSH sftp commands that take a name (P), and whether they change anything
// (core/sftpdoor's TestJail tries more: df, chmod, reget, hard links).
var sftpJailCmds = []struct {
	cmd     string
	changes bool
}{{"ls -l P", false}, {"get P got", false}, {"put upload.txt P", true}, {"reput upload.txt P", true},
	{"mkdir P", true}, {"rmdir P", true}, {"rm P", true}, {"rename P renamed.txt", true},
	{"rename mine.txt P", true}, {"ln -s P lnk", true}, {"ln -s mine.txt P", true}}

// sftpRefusal is how OpenSSH's sftp reports a refused command.
var sftpRefusal = regexp.MustCompile(`Permission denied|No such file or directory|not found|Failure|Couldn't`)

// sftpJail tries the escapes, and SFTP's own tricks (the client's remote globs, a ~), with
// every command in one batch of OpenSSH's sftp, each allowed to fail ("-"); cd is followed by
// pwd, which must show a directory of the home.
func sftpJail(t *testing.T, j *jail) {
	escapes := append(j.escapes,
		escape{path: "../*/secret.txt"},
		escape{path: "/../*/docs"},
		escape{path: "~/../alice/secret.txt"})
	writeLocal(j.cell, "upload.txt", []byte("planted by al"))
	var batch strings.Builder
	type try struct {
		cmd string
		esc escape
	}
	var tries []try
	for _, esc := range escapes {
		cmds := []string{"cd P"}
		for _, c := range sftpJailCmds {
			if !esc.readOnly || !c.changes {
				cmds = append(cmds, c.cmd)
			}
		}
		for _, c := range cmds {
			c = strings.ReplaceAll(c, "P", q(esc.path))
			fmt.Fprintf(&batch, "-%s\n", c)
			tries = append(tries, try{c, esc})
			if strings.HasPrefix(c, "cd ") {
				batch.WriteString("pwd\ncd /\n")
			}
		}
	}
	s := openSFTP(t, j.e, "al", j.local).(*sftp)
	p := s.start(batch.String())
	if err := p.wait(t); err != nil {
		t.Fatalf("sftp: %v", err)
	}
	sections := strings.Split(p.stdout.String(), "sftp> ")[1:]
	i := 0
	for _, tr := range tries {
		if i >= len(sections) {
			t.Fatalf("the output ends before %q:\n%s", tr.cmd, p.stdout.String())
		}
		out := sections[i]
		i++
		ok := !sftpRefusal.MatchString(out)
		if strings.HasPrefix(tr.cmd, "cd ") {
			pwd := sections[i]
			i += 2 // pwd, cd /
			j.leak(tr.cmd, pwd)
		}
		j.refused(t, tr.cmd, tr.esc, ok, out)
	}
	if i != len(sections) {
		t.Errorf("%d sections in the output, want %d:\n%s", len(sections), i, p.stdout.String())
	}
	if _, err := os.Stat(filepath.Join(j.local, "got")); err == nil {
		t.Errorf("a get through an escaping name saved a file")
	}
}
