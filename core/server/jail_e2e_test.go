package server_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/myftp/myftp/core/server/servertest"
	"github.com/myftp/myftp/lib/client"
	"github.com/myftp/myftp/lib/proto"
)

// outcome is what a command should answer: a negative reply with this code and message part, or
// success when ok is set.
type outcome struct {
	ok   bool
	code int
	msg  string
}

var (
	succeeds = outcome{ok: true}
	leaves   = outcome{code: proto.CodeUnavailFile, msg: "permission denied: path leaves the home directory"}
	notFound = outcome{code: proto.CodeUnavailFile, msg: "no such file or directory"}
	invalid  = outcome{code: proto.CodeNameNotOK, msg: "invalid path"}
)

// jailCommand is a command that takes a path, run with p as that path.
type jailCommand struct {
	name    string
	changes bool // may create, remove or rename something
	run     func(c *client.Client, p, tmp string) error
}

var jailCommands = []jailCommand{
	{"cd", false, func(c *client.Client, p, _ string) error { _, err := c.Cd(p); return err }},
	{"ls", false, func(c *client.Client, p, _ string) error {
		return c.List(p, false, func(proto.Entry) error { return nil })
	}},
	{"dir", false, func(c *client.Client, p, _ string) error {
		return c.List(p, true, func(proto.Entry) error { return nil })
	}},
	{"stat", false, func(c *client.Client, p, _ string) error { _, err := c.Stat(p); return err }},
	{"get", false, func(c *client.Client, p, tmp string) error {
		_, err := c.Get(context.Background(), p, filepath.Join(tmp, "got"), client.Options{})
		return err
	}},
	{"rm", true, func(c *client.Client, p, _ string) error { return c.Rm(p) }},
	{"rmdir", true, func(c *client.Client, p, _ string) error { return c.Rmdir(p) }},
	{"rename-from", true, func(c *client.Client, p, _ string) error { return c.Rename(p, "renamed.txt") }},
	{"rename-to", true, func(c *client.Client, p, _ string) error { return c.Rename("mine.txt", p) }},
	{"put", true, func(c *client.Client, p, tmp string) error {
		_, err := c.Put(context.Background(), filepath.Join(tmp, "upload.txt"), p, client.Options{})
		return err
	}},
	{"mkdir", true, func(c *client.Client, p, _ string) error { _, err := c.Mkdir(p, false); return err }},
	{"mkdir-p", true, func(c *client.Client, p, _ string) error { _, err := c.Mkdir(p, true); return err }},
}

// TestJail tries every way out of a home in every command that takes a path. The user "al" has
// symbolic links in its home to /etc, to the home of "alice" (whose name starts with "al"), to a
// directory outside every home and to its own parent. Each attempt must get the right refusal, and
// nothing outside al's home may change: alice's home, the upload directory and the outside
// directory are compared file by file (names, modes, sizes, times, contents) before and after.
func TestJail(t *testing.T) {
	t.Parallel()
	e := servertest.Start(t, servertest.Options{})
	e.AddUser("al", "al-pw", 0)
	e.AddUser("alice", "alice-pw", 0)
	al, alice := e.Home("al"), e.Home("alice")
	outside := filepath.Join(e.Dir, "outside")
	probe := "myftp-jail-probe-" + strconv.Itoa(os.Getpid())
	t.Cleanup(func() { os.RemoveAll(filepath.Join("/etc", probe)) }) // only if the jail failed

	must(t, os.MkdirAll(filepath.Join(alice, "docs"), 0o700))
	must(t, os.WriteFile(filepath.Join(alice, "secret.txt"), []byte("alice's secret"), 0o600))
	must(t, os.WriteFile(filepath.Join(alice, "docs", "plan.txt"), []byte("alice's plan"), 0o600))
	must(t, os.MkdirAll(filepath.Join(outside, "empty"), 0o700))
	must(t, os.WriteFile(filepath.Join(outside, "victim.txt"), []byte("outside the homes"), 0o600))
	must(t, os.MkdirAll(filepath.Join(al, "sub"), 0o700))
	must(t, os.WriteFile(filepath.Join(al, "mine.txt"), []byte("al's file"), 0o600))
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
	c := loginWith(t, e.ClientConfig(), "al", "al-pw") // also records the server in known_hosts before the subtests
	// Everything but al's own home, as it is before the attempts. al's home is compared apart,
	// without its top directory, whose time changes when mkdir -p creates a directory in it.
	notAl := func(p string) bool { return p == al }
	before := servertest.Snapshot(t, notAl, filepath.Dir(al), outside)
	alBefore := servertest.Snapshot(t, nil, al)
	delete(alBefore, al)

	absAlice := alice + "/secret.txt" // the server's absolute path: inside the jail it names al's own /tmp/...
	escapes := []struct {
		name     string
		path     string
		readOnly bool // only the commands that change nothing (the target is a real system file)
		want     outcome
		except   map[string]outcome
	}{
		{name: "dotdot to the home beside", path: "../alice/secret.txt", want: leaves,
			except: map[string]outcome{"cd": notFound}}, // cd stops at / like a shell: /alice/secret.txt
		{name: "dotdot after a directory", path: "sub/../../alice/secret.txt", want: leaves,
			except: map[string]outcome{"cd": notFound}},
		{name: "absolute dotdot", path: "/../alice/secret.txt", want: leaves,
			except: map[string]outcome{"cd": notFound}},
		{name: "dotdot alone", path: "..", want: leaves,
			except: map[string]outcome{"cd": succeeds}}, // to "/"
		{name: "deep dotdot to /etc", path: "../../../../../../../../../etc/passwd", readOnly: true, want: leaves},
		{name: "absolute /etc", path: "/etc/passwd", readOnly: true, want: leaves}, // through the link etc
		{name: "absolute server path", path: absAlice, want: notFound,
			except: map[string]outcome{"mkdir-p": succeeds}}, // creates al's own /tmp/.../secret.txt
		{name: "percent-encoded dotdot", path: "%2e%2e/alice/secret.txt", readOnly: true, want: notFound},
		{name: "backslashes", path: `..\alice\secret.txt`, want: invalid},
		{name: "backslash dotdot", path: `sub\..\..\alice`, want: invalid},
		{name: "NUL", path: "mine.txt\x00/../../alice/secret.txt", want: invalid},
		{name: "newline", path: "mine\n.txt", want: invalid},
		{name: "terminal escape", path: "\x1b[2Jmine.txt", want: invalid},
		{name: "DEL", path: "mine\x7f.txt", want: invalid},
		{name: "C1 control", path: "mine\u0085.txt", want: invalid},
		{name: "name of 256 bytes", path: strings.Repeat("a", 256), want: invalid},
		{name: "reserved directory", path: ".myftp/sums", want: invalid},
		{name: "reserved directory by dotdot", path: "sub/../.myftp", want: invalid},
		{name: "link to /etc", path: "etc/passwd", readOnly: true, want: leaves},
		{name: "link to /etc itself", path: "etc", readOnly: true, want: leaves},
		{name: "link to /etc, new name", path: "etc/" + probe, want: leaves},
		{name: "link to /etc/passwd", path: "passwdlink", readOnly: true, want: leaves},
		{name: "relative link to the home beside", path: "peer/secret.txt", want: leaves},
		{name: "relative link to the home beside itself", path: "peer", readOnly: true, want: leaves},
		{name: "absolute link to the home beside", path: "peerabs/docs/plan.txt", want: leaves},
		{name: "absolute link, new directory", path: "peerabs/docs/new", want: leaves},
		{name: "link to a file of the home beside", path: "secretlink", readOnly: true, want: leaves},
		{name: "link to a directory outside", path: "out/victim.txt", want: leaves},
		{name: "link to a directory outside, inner directory", path: "out/empty", want: leaves},
		{name: "link to the parent", path: "up/alice/secret.txt", want: leaves},
	}
	t.Run("attempts", func(t *testing.T) {
		for _, esc := range escapes {
			t.Run(esc.name, func(t *testing.T) {
				t.Parallel()
				c := loginWith(t, e.ClientConfig(), "al", "al-pw")
				tmp := t.TempDir()
				must(t, os.WriteFile(filepath.Join(tmp, "upload.txt"), []byte("planted by al"), 0o644))
				for _, cmd := range jailCommands {
					if esc.readOnly && cmd.changes {
						continue
					}
					want, ok := esc.except[cmd.name]
					if !ok {
						want = esc.want
					}
					checkOutcome(t, cmd.name, cmd.run(c, esc.path, tmp), want)
					if p, err := c.Pwd(); err != nil || p != "/" {
						t.Fatalf("after %s: pwd %q, %v; want still /", cmd.name, p, err)
					}
				}
			})
		}
	})

	if _, err := os.Lstat(filepath.Join("/etc", probe)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("/etc/%s exists: the jail let a change through (%v)", probe, err)
	}
	servertest.CompareSnapshots(t, "outside al's home", before, servertest.Snapshot(t, notAl, filepath.Dir(al), outside))
	// al's own home is unchanged too, but for the directory that mkdir -p of an absolute server
	// path created, inside al's home.
	created := filepath.Join(al, absAlice)
	if fi, err := os.Stat(created); err != nil || !fi.IsDir() {
		t.Errorf("mkdir -p %s: no directory %s inside al's home (%v)", absAlice, created, err)
	}
	top := filepath.Join(al, strings.Split(absAlice, "/")[1])
	alAfter := servertest.Snapshot(t, func(p string) bool { return p == top }, al)
	delete(alAfter, al)
	servertest.CompareSnapshots(t, "al's home", alBefore, alAfter)

	// Replacing or removing a link changes the link, never its target.
	local := writeFile(t, t.TempDir(), "new.txt", []byte("al's new file"), past)
	if _, err := c.Put(context.Background(), local, "secretlink", client.Options{}); err != nil {
		t.Fatalf("put over a link: %v", err)
	}
	if fi, err := os.Lstat(filepath.Join(al, "secretlink")); err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("after put over a link, al's secretlink is %v, %v; want a regular file", fi, err)
	}
	for _, link := range []string{"peer", "peerabs", "out", "up"} {
		if err := c.Rm(link); err != nil {
			t.Fatalf("rm of the link %s: %v", link, err)
		}
	}
	if err := c.Rmdir("etc"); err == nil {
		t.Fatal("rmdir of a link to /etc succeeded")
	}
	servertest.CompareSnapshots(t, "outside al's home, after replacing and removing links", before,
		servertest.Snapshot(t, notAl, filepath.Dir(al), outside))
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func checkOutcome(t *testing.T, cmd string, err error, want outcome) {
	t.Helper()
	if want.ok {
		if err != nil {
			t.Errorf("%s: %v, want success", cmd, err)
		}
		return
	}
	var re *proto.ReplyError
	if !errors.As(err, &re) {
		t.Errorf("%s: %v, want a %d reply", cmd, err, want.code)
		return
	}
	if re.Code != want.code || !strings.Contains(re.Msg, want.msg) {
		t.Errorf("%s: reply %d %q, want %d with %q", cmd, re.Code, re.Msg, want.code, want.msg)
	}
}
