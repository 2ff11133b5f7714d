package sftpdoor_test

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pkg/sftp"

	"github.com/myftp/myftp/core/server/servertest"
)

// Outcomes of a request in the jail table, as the client sees them.
const (
	succeeds    = "ok"
	noSuchFile  = "no such file"
	denied      = "permission denied"
	failure     = "failure"
	unsupported = "unsupported"
)

// outcomeOf classifies the result of a pkg/sftp client call.
func outcomeOf(err error) string {
	var se *sftp.StatusError
	switch {
	case err == nil:
		return succeeds
	case errors.Is(err, fs.ErrNotExist):
		return noSuchFile
	case errors.Is(err, fs.ErrPermission):
		return denied
	case errors.As(err, &se) && se.FxCode() == sftp.ErrSSHFxFailure:
		return failure
	case errors.As(err, &se) && se.FxCode() == sftp.ErrSSHFxOpUnsupported:
		return unsupported
	}
	return err.Error()
}

// jailRequest is an SFTP request that takes a path, sent with p as that path.
type jailRequest struct {
	name    string
	changes bool // could create, remove, rename or change something if the jail failed
	run     func(c *sftp.Client, p string) error
}

var jailRequests = []jailRequest{
	{"stat", false, func(c *sftp.Client, p string) error { _, err := c.Stat(p); return err }},
	{"lstat", false, func(c *sftp.Client, p string) error { _, err := c.Lstat(p); return err }},
	{"opendir", false, func(c *sftp.Client, p string) error { _, err := c.ReadDir(p); return err }},
	{"open-read", false, func(c *sftp.Client, p string) error {
		f, err := c.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.ReadAll(f)
		return err
	}},
	{"readlink", false, func(c *sftp.Client, p string) error { _, err := c.ReadLink(p); return err }},
	{"statvfs", false, func(c *sftp.Client, p string) error { _, err := c.StatVFS(p); return err }},
	{"setstat-mode", true, func(c *sftp.Client, p string) error { return c.Chmod(p, 0o777) }},
	{"setstat-times", true, func(c *sftp.Client, p string) error { return c.Chtimes(p, past, past) }},
	{"setstat-size", true, func(c *sftp.Client, p string) error { return c.Truncate(p, 0) }},
	{"open-write", true, func(c *sftp.Client, p string) error { return writeWith(c, p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC) }},
	{"open-append", true, func(c *sftp.Client, p string) error { return writeWith(c, p, os.O_WRONLY|os.O_CREATE|os.O_APPEND) }},
	{"mkdir", true, func(c *sftp.Client, p string) error { return c.Mkdir(p) }},
	{"rmdir", true, func(c *sftp.Client, p string) error { return c.RemoveDirectory(p) }},
	{"remove", true, func(c *sftp.Client, p string) error { return c.Remove(p) }},
	{"rename-from", true, func(c *sftp.Client, p string) error { return c.Rename(p, "renamed.txt") }},
	{"rename-to", true, func(c *sftp.Client, p string) error { return c.Rename("mine.txt", p) }},
	{"posix-rename-from", true, func(c *sftp.Client, p string) error { return c.PosixRename(p, "renamed.txt") }},
	{"posix-rename-to", true, func(c *sftp.Client, p string) error { return c.PosixRename("mine.txt", p) }},
	{"symlink-to", true, func(c *sftp.Client, p string) error { return c.Symlink(p, "lnk") }},
	{"symlink-at", true, func(c *sftp.Client, p string) error { return c.Symlink("mine.txt", p) }},
	{"hardlink", true, func(c *sftp.Client, p string) error { return c.Link(p, "hl") }},
}

// past is a modification time a jail attempt would set.
var past = time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)

// writeWith opens p with flags, writes to it and closes it.
func writeWith(c *sftp.Client, p string, flags int) error {
	f, err := c.OpenFile(p, flags)
	if err != nil {
		return err
	}
	_, err = f.Write([]byte("planted by al"))
	return errors.Join(err, f.Close())
}

// TestJail tries every way out of a home through every request that takes a path, with the
// pkg/sftp client (which sends paths as given) and with OpenSSH's sftp. The user "al" has
// symbolic links in its home, planted on disk as an administrator could, to /etc, /etc/passwd,
// the home of "alice" (whose name starts with "al"), one of alice's files, a directory outside
// every home and its own parent. Each attempt must be refused with the right status, nothing may
// be read or listed from outside, and nothing outside al's home, nor in it, may change: the homes
// and the outside directory are compared file by file (names, modes, sizes, times, contents)
// before and after.
func TestJail(t *testing.T) {
	t.Parallel()
	e := start(t, servertest.Options{})
	u := e.user("al", 0)
	e.user("alice", 0)
	al, alice := e.Home("al"), e.Home("alice")
	outside := filepath.Join(e.Dir, "outside")
	probe := "myftp-sftp-jail-probe-" + strconv.Itoa(os.Getpid())
	t.Cleanup(func() { os.RemoveAll(filepath.Join("/etc", probe)) }) // only if the jail failed

	writeFile(t, alice, "secret.txt", []byte("alice's secret"))
	writeFile(t, alice, "docs/plan.txt", []byte("alice's plan"))
	writeFile(t, outside, "victim.txt", []byte("outside the homes"))
	must(t, os.MkdirAll(filepath.Join(outside, "empty"), 0o700))
	must(t, os.MkdirAll(filepath.Join(al, "sub"), 0o700))
	writeFile(t, al, "mine.txt", []byte("al's file"))
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
	_, c := e.dial(u) // opens al's home, which makes its .myftp, before the snapshots
	if _, err := c.Stat("mine.txt"); err != nil {
		t.Fatal(err)
	}
	notAl := func(p string) bool { return p == al }
	before := servertest.Snapshot(t, notAl, filepath.Dir(al), outside)
	alOnly := func(p string) bool { return p == filepath.Join(al, ".myftp") }
	alBefore := servertest.Snapshot(t, alOnly, al)

	absAlice := alice + "/secret.txt" // the server's absolute path: inside the jail, al's own
	// Kinds of paths, and what every request gets with them unless excepted.
	leaves := map[string]string{"*": denied}
	missing := map[string]string{"*": noSuchFile, "readlink": denied, "symlink-to": denied, "symlink-at": denied,
		"hardlink": denied}
	reserved := map[string]string{"*": denied}
	escapes := []struct {
		path     string
		readOnly bool // a link itself, or a real system file: only the requests that change nothing
		want     map[string]string
	}{
		{path: "../alice/secret.txt", want: missing}, // cleaned to /alice/secret.txt, in al's home
		{path: "sub/../../alice/secret.txt", want: missing},
		{path: "/../../../../../../../../etc/passwd", readOnly: true, want: leaves}, // /etc/passwd, through etc
		{path: "/etc/passwd", readOnly: true, want: leaves},
		{path: absAlice, want: missing},
		{path: "etc/passwd", readOnly: true, want: leaves},
		{path: "etc", readOnly: true, want: leaves},
		{path: "etc/" + probe, want: leaves},
		{path: "passwdlink", readOnly: true, want: leaves},
		{path: "peer/secret.txt", want: leaves},
		{path: "peer", readOnly: true, want: leaves},
		{path: "peerabs/docs/plan.txt", want: leaves},
		{path: "peerabs/docs/new", want: leaves},
		{path: "secretlink", readOnly: true, want: leaves},
		{path: "out/victim.txt", want: leaves},
		{path: "out/empty", want: leaves},
		{path: "up/alice/secret.txt", want: leaves},
		{path: ".myftp", want: reserved},
		{path: ".myftp/partial", want: reserved},
		{path: "/.myftp/sums/x", want: reserved},
		{path: "sub/../.myftp", want: reserved},
	}
	t.Run("pkg-sftp", func(t *testing.T) {
		for _, esc := range escapes {
			t.Run(strings.ReplaceAll(esc.path, "/", "∕"), func(t *testing.T) {
				t.Parallel()
				_, c := e.dial(u)
				for _, req := range jailRequests {
					if esc.readOnly && req.changes {
						continue
					}
					want, ok := esc.want[req.name]
					if !ok {
						want = esc.want["*"]
					}
					if got := outcomeOf(req.run(c, esc.path)); got != want {
						t.Errorf("%s %q: %s, want %s", req.name, esc.path, got, want)
					}
				}
			})
		}
	})

	t.Run("openssh", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, dir, "upload.txt", []byte("planted by al"))
		for _, esc := range escapes {
			t.Run(strings.ReplaceAll(esc.path, "/", "∕"), func(t *testing.T) {
				t.Parallel()
				cmds := []string{"cd P", "ls -l P", "get P got", "reget P got", "df P"}
				if !esc.readOnly {
					cmds = append(cmds, "put upload.txt P", "reput upload.txt P", "mkdir P", "rmdir P", "rm P",
						"rename P renamed.txt", "rename mine.txt P", "chmod 777 P", "ln -s P lnk", "ln -s mine.txt P",
						"ln P hl")
				}
				dir := t.TempDir()
				writeFile(t, dir, "upload.txt", []byte("planted by al"))
				var batch strings.Builder
				for _, c := range cmds {
					fmt.Fprintf(&batch, "-%s\n", strings.ReplaceAll(c, "P", strconv.Quote(esc.path)))
				}
				batch.WriteString("pwd\n")
				r := e.sftp(keyLogin(u), dir, batch.String())
				if r.code != 0 {
					t.Fatalf("batch: %v", r)
				}
				sections := strings.Split(r.out, "sftp> ")[1:]
				if len(sections) != len(cmds)+1 {
					t.Fatalf("%d commands in the output, want %d: %v", len(sections), len(cmds)+1, r)
				}
				for i, s := range sections[:len(cmds)] {
					// df says nothing when the server refuses (do_statvfs is quiet), else it
					// prints a table.
					quiet := strings.HasPrefix(cmds[i], "df ") && strings.Count(s, "\n") == 1
					if !refusal.MatchString(s) && !quiet {
						t.Errorf("not refused:\n%s", s)
					}
				}
				if !strings.Contains(sections[len(cmds)], "Remote working directory: /\n") {
					t.Errorf("the working directory moved: %s", sections[len(cmds)])
				}
				if ents, _ := os.ReadDir(dir); len(ents) != 1 {
					t.Errorf("the client's directory holds %d files, want only upload.txt: something was downloaded", len(ents))
				}
			})
		}
	})

	// The home's top is as far as ".." goes: "/../.." is al's home, and lists al's files.
	t.Run("dotdot-stops-at-the-home", func(t *testing.T) {
		_, c := e.dial(u)
		ents, err := c.ReadDir("/../..")
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, fi := range ents {
			names = append(names, fi.Name())
		}
		if !strings.Contains(strings.Join(names, " "), "mine.txt") || strings.Contains(strings.Join(names, " "), "secret.txt") {
			t.Errorf("ls /../..: %q; want al's home", names)
		}
		if p, err := c.RealPath("../../.."); err != nil || p != "/" {
			t.Errorf("realpath ../../..: %q, %v; want /", p, err)
		}
		out := e.sftpOK(keyLogin(u), t.TempDir(), "cd /../..\npwd\nls\n")
		if !strings.Contains(out, "Remote working directory: /\n") || !strings.Contains(out, "mine.txt") {
			t.Errorf("cd /../..; pwd; ls:\n%s", out)
		}
	})

	if _, err := os.Lstat(filepath.Join("/etc", probe)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("/etc/%s exists: the jail let a change through (%v)", probe, err)
	}
	servertest.CompareSnapshots(t, "outside al's home", before, servertest.Snapshot(t, notAl, filepath.Dir(al), outside))
	servertest.CompareSnapshots(t, "al's home", alBefore, servertest.Snapshot(t, alOnly, al))
}

// refusal is how OpenSSH's sftp reports a refused command.
var refusal = regexp.MustCompile(`Permission denied|No such file or directory|not found|Failure`)
