package ftpdoor_test

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/myftp/myftp/core/server/servertest"
)

// jailCmd runs one FTP command with the path p on a logged-in session and returns the final
// reply code and any data the server sent for it.
type jailCmd struct {
	name    string
	changes bool // may create, remove or rename something
	run     func(f *rawFTP, p string) (int, string)
}

var jailCmds = []jailCmd{
	{"CWD", false, func(f *rawFTP, p string) (int, string) {
		code, msg := f.simple("CWD %s", p)
		if code == 250 {
			// Where it went is the point: it must be inside the home; come back for the next one.
			pwd := f.must(257, "PWD")
			f.must(250, "CWD /")
			return code, pwd
		}
		return code, msg
	}},
	{"SIZE", false, func(f *rawFTP, p string) (int, string) { return f.simple("SIZE %s", p) }},
	{"MDTM", false, func(f *rawFTP, p string) (int, string) { return f.simple("MDTM %s", p) }},
	{"MLST", false, func(f *rawFTP, p string) (int, string) { return f.simple("MLST %s", p) }},
	{"HASH", false, func(f *rawFTP, p string) (int, string) { return f.simple(`HASH "%s"`, p) }},
	{"MLSD", false, func(f *rawFTP, p string) (int, string) { return f.transfer(nil, "MLSD %s", p) }},
	{"LIST", false, func(f *rawFTP, p string) (int, string) { return f.transfer(nil, "LIST %s", p) }},
	{"RETR", false, func(f *rawFTP, p string) (int, string) { return f.transfer(nil, "RETR %s", p) }},
	{"STOR", true, func(f *rawFTP, p string) (int, string) {
		return f.transfer([]byte("planted by al"), "STOR %s", p)
	}},
	{"APPE", true, func(f *rawFTP, p string) (int, string) {
		return f.transfer([]byte("appended by al"), "APPE %s", p)
	}},
	{"DELE", true, func(f *rawFTP, p string) (int, string) { return f.simple("DELE %s", p) }},
	{"RMD", true, func(f *rawFTP, p string) (int, string) { return f.simple("RMD %s", p) }},
	{"MKD", true, func(f *rawFTP, p string) (int, string) { return f.simple("MKD %s", p) }},
	{"RNFR", true, func(f *rawFTP, p string) (int, string) {
		if code, msg := f.simple("RNFR %s", p); code != 350 {
			return code, msg
		}
		return f.simple("RNTO renamed.txt")
	}},
	{"RNTO", true, func(f *rawFTP, p string) (int, string) {
		f.must(350, "RNFR mine.txt")
		return f.simple("RNTO %s", p)
	}},
}

// simple sends a command without a data connection and returns its reply.
func (f *rawFTP) simple(format string, args ...any) (int, string) {
	f.t.Helper()
	code, msg, err := f.cmd(format, args...)
	must(f.t, err)
	return code, msg
}

// transfer runs a command on a passive data connection, sending up (uploads) or reading what
// comes; it returns the final reply and what was read.
func (f *rawFTP) transfer(up []byte, format string, args ...any) (int, string) {
	f.t.Helper()
	dc, code, msg := f.open(dataOpts{}, format, args...)
	if code != 150 {
		dc.raw.Close()
		return code, msg
	}
	var got []byte
	var err error
	if up != nil {
		_, err = dc.conn.Write(up)
	} else {
		got, err = io.ReadAll(dc.conn)
	}
	dc.conn.Close()
	code, msg = f.mustReplyAny()
	if err != nil {
		msg += fmt.Sprintf(" (data connection: %v)", err)
	}
	return code, msg + "\n" + string(got)
}

// TestJail tries every way out of a home through every FTP command that takes a path: "..",
// "/../..", absolute paths (the server's own paths and /etc), symbolic links to outside planted
// in the home by an administrator (to /etc, to a directory outside every home, to the home of
// "alice" whose name starts with al's, to a file in it, to the home's parent), and the reserved
// .myftp. Every attempt is refused (CWD may only reach the home's own "/"), no secret from
// outside reaches the client, and nothing outside al's home, nor in it, is created, changed or
// removed: the trees are compared file by file before and after.
func TestJail(t *testing.T) {
	t.Parallel()
	e := startDefault(t)
	e.user("al", 0)
	e.user("alice", 0)
	al, alice := e.Home("al"), e.Home("alice")
	outside := filepath.Join(e.Dir, "outside")
	probe := "myftp-ftp-jail-probe-" + strconv.Itoa(os.Getpid())
	t.Cleanup(func() { os.RemoveAll(filepath.Join("/etc", probe)) }) // only if the jail failed

	const secret = "SECRET-outside-al"
	writeFile(t, alice, "secret.txt", []byte("alice: "+secret))
	writeFile(t, alice, "docs/plan.txt", []byte("alice's plan: "+secret))
	writeFile(t, outside, "victim.txt", []byte("outside: "+secret))
	must(t, os.MkdirAll(filepath.Join(outside, "empty"), 0o700))
	writeFile(t, al, "mine.txt", []byte("al's file"))
	must(t, os.MkdirAll(filepath.Join(al, "sub"), 0o700))
	for name, target := range map[string]string{
		"etc":        "/etc",
		"passwdlink": "/etc/passwd",
		"peer":       "../alice",
		"peerabs":    alice,
		"secretlink": filepath.Join(alice, "secret.txt"),
		"out":        outside,
		"up":         "..",
	} {
		must(t, os.Symlink(target, filepath.Join(al, name)))
	}
	f := e.login(t, "al", "al-pw")
	// Everything under the server's root but the logs, as it is before the attempts.
	logs := filepath.Join(e.Dir, "log")
	notLogs := func(p string) bool { return p == logs }
	before := servertest.Snapshot(t, notLogs, e.Dir)

	// Paths to try. home: the path is the home's own "/" (FTP, like a shell, stops ".." there),
	// which commands that read may show. readOnly: only the commands that change nothing (the
	// path is a system file, or a link itself, which a user may replace or remove: see below).
	escapes := []struct {
		path     string
		home     bool
		readOnly bool
	}{
		{path: "..", home: true},
		{path: "/../..", home: true},
		{path: "../alice/secret.txt"},
		{path: "../alice/docs"},
		{path: "/../../alice/secret.txt"},
		{path: "sub/../../alice/docs"},
		{path: "../../../../../../../../etc/passwd", readOnly: true},
		{path: "/etc/passwd", readOnly: true},
		{path: "/etc/" + probe},
		{path: alice + "/secret.txt"},
		{path: alice + "/docs"},
		{path: outside + "/victim.txt"},
		{path: "etc/passwd", readOnly: true},
		{path: "etc/" + probe},
		{path: "etc", readOnly: true},
		{path: "passwdlink", readOnly: true},
		{path: "peer", readOnly: true},
		{path: "peerabs", readOnly: true},
		{path: "secretlink", readOnly: true},
		{path: "out", readOnly: true},
		{path: "up", readOnly: true},
		{path: "peer/secret.txt"},
		{path: "peer/docs/new"},
		{path: "peerabs/docs/plan.txt"},
		{path: "peerabs/docs"},
		{path: "out/victim.txt"},
		{path: "out/empty"},
		{path: "out/new.txt"},
		{path: "up/alice/secret.txt"},
		{path: "up/alice"},
		{path: ".myftp"},
		{path: ".myftp/sums"},
		{path: "/.myftp/partial"},
		{path: "sub/../.myftp"},
		{path: "/.myftp/id"},
	}
	readsHome := map[string]bool{"CWD": true, "MDTM": true, "MLST": true, "MLSD": true, "LIST": true}
	var matrix strings.Builder
	for _, esc := range escapes {
		for _, c := range jailCmds {
			if esc.readOnly && c.changes {
				continue
			}
			code, msg := c.run(f, esc.path)
			fmt.Fprintf(&matrix, "%-5s %-40q %d %q\n", c.name, esc.path, code, firstLine(msg))
			switch {
			case strings.Contains(msg, secret):
				t.Errorf("%s %q: the reply or data holds a secret from outside: %d %q", c.name, esc.path, code, msg)
			case esc.home && readsHome[c.name] && code < 400:
				if c.name == "CWD" && !strings.Contains(msg, `"/"`) {
					t.Errorf("CWD %q: went to %s; want the home's /", esc.path, msg)
				}
				if (c.name == "LIST" || c.name == "MLSD") && (!strings.Contains(msg, "mine.txt") || strings.Contains(msg, ".myftp")) {
					t.Errorf("%s %q: %q; want the home's own listing, without .myftp", c.name, esc.path, msg)
				}
			case code < 400:
				t.Errorf("%s %q: %d %q; want a refusal", c.name, esc.path, code, msg)
			}
		}
	}
	t.Logf("replies:\n%s", matrix.String())
	if _, err := os.Lstat(filepath.Join("/etc", probe)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("/etc/%s exists: the jail let a change through (%v)", probe, err)
	}
	// Nothing changed anywhere under the server's root: other homes, outside, al's own home.
	servertest.CompareSnapshots(t, "the server's root", before, servertest.Snapshot(t, notLogs, e.Dir))

	// Replacing or removing a link changes the link, never its target.
	if code, msg := f.transfer([]byte("al's own"), "STOR secretlink"); code != 226 {
		t.Fatalf("STOR over a link: %d %s", code, msg)
	}
	if fi, err := os.Lstat(filepath.Join(al, "secretlink")); err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("after STOR over a link, secretlink is %v, %v; want a regular file", fi, err)
	}
	for _, link := range []string{"peer", "peerabs", "out", "up"} {
		f.must(250, "DELE %s", link)
		absent(t, filepath.Join(al, link))
	}
	if code, msg := f.simple("RMD etc"); code < 400 {
		t.Fatalf("RMD of a link to /etc: %d %s", code, msg)
	}
	f.must(221, "QUIT")
	notAl := func(p string) bool { return p == logs || p == al }
	outsideAl := servertest.Snapshot(t, notAl, e.Dir)
	for p := range before {
		if p == al || strings.HasPrefix(p, al+"/") {
			delete(before, p)
		}
	}
	servertest.CompareSnapshots(t, "outside al's home, after replacing and removing links", before, outsideAl)
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
