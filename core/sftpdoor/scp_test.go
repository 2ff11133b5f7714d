package sftpdoor_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/myftp/myftp/core/server/servertest"
)

// TestScp: OpenSSH's scp (which speaks SFTP since OpenSSH 9) uploads and downloads a file and,
// with -r, a tree, byte-identical both ways, and replaces a file with a shorter or a longer one. With -p the modification times arrive: scp sends
// them with fsetstat before it closes the file, and the stored file, once published, has them;
// downloaded with -p, the client's copies have the server's times.
func TestScp(t *testing.T) {
	t.Parallel()
	e := start(t, servertest.Options{})
	u := e.user("alice", 0)
	home := e.Home("alice")
	dir := t.TempDir()
	when := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	files := map[string]time.Time{
		"one.bin":                 when,
		"tree/a.txt":              when.Add(time.Hour),
		"tree/sub dir/b c.bin":    when.Add(2 * time.Hour),
		"tree/sub dir/deep/d.txt": when.Add(3 * time.Hour),
	}
	i := 0
	for name, mtime := range files {
		p := writeFile(t, dir, name, randomBytes(uint64(i), 100_000*i+3))
		must(t, os.Chtimes(p, mtime, mtime))
		i++
	}

	run := func(args ...string) {
		t.Helper()
		if r := e.scp(keyLogin(u), dir, args...); r.code != 0 {
			t.Fatalf("scp %q: %v", args, r)
		}
	}
	run("one.bin", "127.0.0.1:plain.bin")
	run("-p", "one.bin", "127.0.0.1:kept.bin")
	run("-r", "-p", "tree", "127.0.0.1:")
	sameFile(t, filepath.Join(home, "plain.bin"), filepath.Join(dir, "one.bin"))
	sameFile(t, filepath.Join(home, "kept.bin"), filepath.Join(dir, "one.bin"))
	sameTree(t, "the tree uploaded", treeSums(t, filepath.Join(dir, "tree")), treeSums(t, filepath.Join(home, "tree")))
	wantMtime(t, filepath.Join(home, "kept.bin"), when)
	for name, mtime := range files {
		if name != "one.bin" {
			wantMtime(t, filepath.Join(home, name), mtime)
		}
	}
	if fi, err := os.Stat(filepath.Join(home, "plain.bin")); err != nil || fi.ModTime().Equal(when) {
		t.Errorf("without -p the upload got the source's time: %v, %v", fi, err)
	}

	back := filepath.Join(dir, "back")
	must(t, os.Mkdir(back, 0o755))
	serverTime := time.Date(2002, 3, 4, 5, 6, 7, 0, time.UTC)
	must(t, os.Chtimes(filepath.Join(home, "plain.bin"), serverTime, serverTime))
	run("-p", "127.0.0.1:plain.bin", "back/plain.bin")
	run("127.0.0.1:kept.bin", "back/kept.bin")
	run("-r", "-p", "127.0.0.1:tree", "back/")
	sameFile(t, filepath.Join(back, "plain.bin"), filepath.Join(dir, "one.bin"))
	sameFile(t, filepath.Join(back, "kept.bin"), filepath.Join(dir, "one.bin"))
	sameTree(t, "the tree downloaded", treeSums(t, filepath.Join(dir, "tree")), treeSums(t, filepath.Join(back, "tree")))
	wantMtime(t, filepath.Join(back, "plain.bin"), serverTime)
	for name, mtime := range files {
		if name != "one.bin" {
			wantMtime(t, filepath.Join(back, name), mtime)
		}
	}

	// scp opens an existing file without truncating it, writes, then sets the size to what it
	// wrote: a shorter file replaces a longer one whole, and a longer one a shorter.
	short := writeFile(t, dir, "short.bin", randomBytes(50, 1000))
	long := writeFile(t, dir, "long.bin", randomBytes(51, 300_000))
	run("short.bin", "127.0.0.1:kept.bin")
	sameFile(t, filepath.Join(home, "kept.bin"), short)
	run("long.bin", "127.0.0.1:kept.bin")
	sameFile(t, filepath.Join(home, "kept.bin"), long)
	e.checkUsage(t, "alice")
	for _, l := range e.xferlog(t) {
		if l.service != "sftp" || l.complete != "c" {
			t.Errorf("transfer log: %q; want complete sftp transfers", l.raw)
		}
	}
}

// wantMtime fails the test unless the file at p was last modified at want (to the second, as
// SFTP carries it).
func wantMtime(t testing.TB, p string, want time.Time) {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Error(err)
		return
	}
	if !fi.ModTime().Equal(want) {
		t.Errorf("%s: modified %v, want %v", p, fi.ModTime().UTC(), want)
	}
}
