package conformance_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/myftp/myftp/core/server/servertest"
)

// Markers of what al must never see: the content of alice's files (and of files outside every
// home, and /etc/passwd's), and names in alice's home that no attempt types.
var markers = []string{"SECRET-of-alice", "SECRET-outside", "root:x:0:0", "alice-top-marker", "alice-docs-marker"}

// escape is a name that tries to leave al's home, or to reach the server's reserved .myftp.
type escape struct {
	path string
	// inHome: the name resolves inside al's home (FTP and SFTP stop ".." at the home's top, as
	// a shell does at /), so a command may succeed with it, on al's own files.
	inHome bool
	// links: the name goes through a symbolic link planted in al's home by an administrator;
	// only backends with links (the local disk) have them: on S3 there is nothing to follow.
	links bool
	// readOnly: only the commands that change nothing (a link itself, which al may replace or
	// remove, or a real system file).
	readOnly bool
}

// jail is the set-up of the jail promise: the account al, and the account alice beside it,
// whose name starts with al's.
type jail struct {
	*cell
	escapes []escape
	links   bool // the backend has symbolic links, and al's home holds links to outside it
}

// commonEscapes are the names every door is tried with; each door adds the tricks of its own
// protocol.
func (j *jail) commonEscapes() []escape {
	alice := "/alice" // the home's absolute path on the server: on S3, a key prefix
	if j.e.bucket == nil {
		alice = j.e.Home("alice")
	}
	all := []escape{
		{path: "..", inHome: true},
		{path: "/../..", inHome: true},
		{path: "../alice/secret.txt"},
		{path: "/../alice/secret.txt"},
		{path: "sub/../../alice/docs"},
		{path: "../../../../../../../../etc/passwd", readOnly: true},
		{path: "/etc/passwd", readOnly: true},
		{path: alice + "/secret.txt"}, // inside the jail it names al's own (missing) file
		{path: ".myftp"},
		{path: ".myftp/partial"},
		{path: "sub/../.myftp"},
		{path: "etc/passwd", links: true, readOnly: true},
		{path: "peer/secret.txt", links: true},
		{path: "peerabs/docs", links: true},
		{path: "secretlink", links: true, readOnly: true},
		{path: "out/victim.txt", links: true},
		{path: "up/alice/secret.txt", links: true},
	}
	var out []escape
	for _, e := range all {
		if !e.links || j.links {
			out = append(out, e)
		}
	}
	return out
}

// testJail: al tries every escaping name (a table common to the doors, and each protocol's own
// tricks) with every command of the door that takes a name. Every attempt is refused unless the
// name resolves inside al's home; no output nor downloaded file holds anything of alice's, of
// the directory outside the homes or of /etc/passwd; and nothing outside al's home (the other
// homes and the outside directory on the local disk; the bucket's other prefixes on S3) is
// created, changed or removed.
func testJail(c *cell) {
	c.e.user("al", 0)
	c.e.user("alice", 0)
	c.e.plant("alice", map[string][]byte{"secret.txt": []byte("SECRET-of-alice"), "alice-top-marker.txt": nil,
		"docs/plan.txt": []byte("SECRET-of-alice's plan"), "docs/alice-docs-marker.txt": nil})
	c.e.plant("al", map[string][]byte{"mine.txt": []byte("al's file"), "sub/keep.txt": []byte("al's")})
	j := &jail{cell: c, links: c.e.store.Caps().Links}
	probe := "myftp-conformance-probe-" + strconv.Itoa(os.Getpid())
	c.Cleanup(func() { os.RemoveAll(filepath.Join("/etc", probe)) }) // only if the jail failed
	if j.links {
		j.plantLinks()
	}
	j.escapes = append(j.commonEscapes(), escape{path: "etc/" + probe, links: true})
	if !j.links {
		j.escapes = j.escapes[:len(j.escapes)-1]
	}
	c.session("al").list("") // al's first session opens the home (and makes its .myftp) before the snapshot
	before := c.e.outside("al")
	c.door.jail(c.T, j)
	servertest.CompareSnapshots(c, "outside al's home", before, c.e.outside("al"))
	if _, err := os.Lstat(filepath.Join("/etc", probe)); !errors.Is(err, fs.ErrNotExist) {
		c.Errorf("/etc/%s exists: the jail let a change through (%v)", probe, err)
	}
	j.noLeakInFiles()
}

// plantLinks makes symbolic links in al's home on the local disk, as an administrator could: to
// /etc, /etc/passwd, alice's home (relative and absolute), one of alice's files, a directory
// outside every home, and al's home's parent.
func (j *jail) plantLinks() {
	al, alice := j.e.Home("al"), j.e.Home("alice")
	must(j, os.MkdirAll(j.e.outsideDir(), 0o700))
	must(j, os.WriteFile(filepath.Join(j.e.outsideDir(), "victim.txt"), []byte("SECRET-outside"), 0o600))
	for name, target := range map[string]string{
		"etc": "/etc", "passwdlink": "/etc/passwd", "peer": "../alice", "peerabs": alice,
		"secretlink": filepath.Join(alice, "secret.txt"), "out": j.e.outsideDir(), "up": "..",
	} {
		must(j, os.Symlink(target, filepath.Join(al, name)))
	}
}

// leak fails the test if what a client showed or saved holds a marker.
func (j *jail) leak(what, text string) {
	j.Helper()
	for _, m := range markers {
		if strings.Contains(text, m) {
			j.Errorf("%s: the output holds %q, from outside al's home:\n%s", what, m, text)
		}
	}
}

// noLeakInFiles checks every file the clients saved in their directory.
func (j *jail) noLeakInFiles() {
	j.Helper()
	err := filepath.WalkDir(j.local, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		data, err := os.ReadFile(p)
		j.leak("the downloaded "+p, string(data))
		return err
	})
	must(j, err)
}

// refused checks the outcome of one attempt: a refusal, unless the name resolves inside the
// home; and in any case no marker in what the client showed.
func (j *jail) refused(t *testing.T, cmd string, esc escape, ok bool, output string) {
	t.Helper()
	j.leak(cmd+" "+strconv.Quote(esc.path), output)
	if ok && !esc.inHome {
		t.Errorf("%s %q: not refused:\n%s", cmd, esc.path, output)
	}
}
