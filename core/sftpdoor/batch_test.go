package sftpdoor_test

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/myftp/myftp/core/server/servertest"
)

// TestPutGet: OpenSSH's sftp puts and gets files of 0 B, 1 B, 64 KiB+1 and 100 MiB; the stored
// and the downloaded files are byte-identical to the sources, ls -l shows their sizes, and the
// transfer log has one complete line per transfer, of the sftp service, with its size.
func TestPutGet(t *testing.T) {
	t.Parallel()
	e := start(t, servertest.Options{})
	u := e.user("alice", 0)
	dir := t.TempDir()
	must(t, os.Mkdir(filepath.Join(dir, "back"), 0o755))
	sizes := []int{0, 1, 64<<10 + 1, 100 << 20}
	var batch strings.Builder
	for i, n := range sizes {
		writeFile(t, dir, fmt.Sprintf("f%d", n), randomBytes(uint64(i), n))
		fmt.Fprintf(&batch, "put f%d\n", n)
	}
	batch.WriteString("ls -l\n")
	for _, n := range sizes {
		fmt.Fprintf(&batch, "get f%d back/f%d\n", n, n)
	}
	out := e.sftpOK(keyLogin(u), dir, batch.String())

	for _, n := range sizes {
		name := fmt.Sprintf("f%d", n)
		sameFile(t, filepath.Join(e.Home("alice"), name), filepath.Join(dir, name))
		sameFile(t, filepath.Join(dir, "back", name), filepath.Join(dir, name))
		if !listed(out, name, int64(n)) {
			t.Errorf("ls -l does not show %s with %d bytes:\n%s", name, n, out)
		}
	}
	lines := e.xferlog(t)
	if len(lines) != 2*len(sizes) {
		t.Fatalf("%d transfer log lines, want %d:\n%v", len(lines), 2*len(sizes), lines)
	}
	for i, n := range sizes {
		wantXfer(t, lines[i], "i", "alice", fmt.Sprintf("/alice/f%d", n), int64(n), true)
		wantXfer(t, lines[len(sizes)+i], "o", "alice", fmt.Sprintf("/alice/f%d", n), int64(n), true)
	}
	e.checkUsage(t, "alice")
}

// listed reports whether an ls -l output has a line for name with size bytes.
func listed(out, name string, size int64) bool {
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 9 && f[len(f)-1] == name && f[4] == fmt.Sprint(size) {
			return true
		}
	}
	return false
}

// TestCommands: mkdir, put, rename, ls -l, rm and rmdir with names holding spaces, as a user types
// them in an sftp batch; each leaves the home as it says. rmdir of a directory that is not empty
// and rm of a missing file fail and end the batch.
func TestCommands(t *testing.T) {
	t.Parallel()
	e := start(t, servertest.Options{})
	u := e.user("alice", 0)
	home := e.Home("alice")
	dir := t.TempDir()
	writeFile(t, dir, "a.txt", []byte("a file with spaces in its name"))

	out := e.sftpOK(keyLogin(u), dir, `mkdir docs
mkdir "docs/sub dir"
put a.txt "docs/sub dir/a file.txt"
rename "docs/sub dir/a file.txt" "docs/renamed file.txt"
ls -l docs
`)
	sameTree(t, "after mkdir, put, rename", map[string]string{
		"docs": "dir", "docs/sub dir": "dir", "docs/renamed file.txt": treeSums(t, dir)["a.txt"],
	}, treeSums(t, home))
	if !listed(out, "file.txt", 30) || !strings.Contains(out, "sub dir\n") {
		t.Errorf("ls -l docs does not show the renamed file and the directory:\n%s", out)
	}

	r := e.sftp(keyLogin(u), dir, "rmdir docs\n")
	if r.code == 0 || !strings.Contains(r.out, `remote rmdir "/docs": Failure`) || !strings.Contains(r.out, "myftps: ") {
		t.Errorf("rmdir of a directory that is not empty: %v\nwant Failure, and the reason on standard error", r)
	}
	r = e.sftp(keyLogin(u), dir, "rm nothere.txt\n")
	if r.code == 0 || !strings.Contains(r.out, "No such file or directory") {
		t.Errorf("rm of a missing file: %v", r)
	}

	e.sftpOK(keyLogin(u), dir, `rm "docs/renamed file.txt"
rmdir "docs/sub dir"
rmdir docs
`)
	sameTree(t, "after rm and rmdir", map[string]string{}, treeSums(t, home))
	if used := e.checkUsage(t, "alice"); used != 0 {
		t.Errorf("usage %d after removing everything", used)
	}
}

// TestTree: put -r and get -r of a tree with nested directories, an empty directory and names
// with spaces give the same tree on the server and back on the client.
func TestTree(t *testing.T) {
	t.Parallel()
	e := start(t, servertest.Options{})
	u := e.user("alice", 0)
	dir := t.TempDir()
	src := filepath.Join(dir, "my tree")
	for i, name := range []string{"top.txt", "a b/c d.txt", "a b/deeper/e f g.bin", "a b/deeper/deepest/x", "only dir/one more.txt"} {
		writeFile(t, src, name, randomBytes(uint64(i), 1000*i+7))
	}
	must(t, os.MkdirAll(filepath.Join(src, "empty dir"), 0o755))
	must(t, os.Mkdir(filepath.Join(dir, "back"), 0o755))

	e.sftpOK(keyLogin(u), dir, "put -r \"my tree\"\nget -r \"my tree\" back\n")
	want := treeSums(t, src)
	sameTree(t, "the tree on the server", want, treeSums(t, filepath.Join(e.Home("alice"), "my tree")))
	sameTree(t, "the tree downloaded", want, treeSums(t, filepath.Join(dir, "back", "my tree")))
	e.checkUsage(t, "alice")
}

// TestReput: an upload whose client is killed (SIGKILL) mid-way keeps what arrived in the home's
// partial directory and shows nothing under its name, neither on disk nor in a listing; OpenSSH's
// reput then continues it from what the server holds, and the file is complete and
// byte-identical. The transfer log has an incomplete line for the interrupted upload and a
// complete one for the rest.
func TestReput(t *testing.T) {
	t.Parallel()
	e := start(t, servertest.Options{})
	u := e.user("alice", 0)
	dir := t.TempDir()
	const size = 4 << 20
	src := writeFile(t, dir, "big.bin", randomBytes(7, size))
	stored := filepath.Join(e.Home("alice"), "big.bin")

	// -l 2000: 2000 kbit/s, about 2 s for 4 MiB, so that it can be caught mid-way.
	p := e.sftpBatch(keyLogin(u), dir, "put big.bin\n", "-l", "2000")
	var held int64
	servertest.Eventually(t, "a partial upload holding data", func() bool {
		if ps := e.partials("alice"); len(ps) == 1 && ps[0] >= 64<<10 {
			held = ps[0]
			return true
		}
		if p.exited() {
			t.Fatalf("the upload ended before it could be interrupted: %v", p.wait(t))
		}
		return false
	})
	p.kill(t)
	e.waitIdle(t)
	absent(t, stored)
	ps := e.partials("alice")
	if len(ps) != 1 || ps[0] < held || ps[0] >= size {
		t.Fatalf("after the kill, partial uploads %v; want one of %d to %d bytes", ps, held, size-1)
	}
	out := e.sftpOK(keyLogin(u), dir, "ls -la\n")
	if strings.Contains(out, "big.bin") {
		t.Errorf("the unfinished upload is listed:\n%s", out)
	}
	e.checkUsage(t, "alice")

	e.sftpOK(keyLogin(u), dir, "reput big.bin\n")
	sameFile(t, stored, src)
	if ps := e.partials("alice"); len(ps) != 0 {
		t.Errorf("partial uploads left after reput: %v", ps)
	}
	if !strings.Contains(e.serverLog(), "msg=\"upload resumed\"") {
		t.Errorf("the server did not log a resumed upload")
	}
	lines := e.xferlog(t)
	if len(lines) != 2 {
		t.Fatalf("transfer log: %v, want 2 lines", lines)
	}
	wantXfer(t, lines[0], "i", "alice", "/alice/big.bin", -1, false)
	wantXfer(t, lines[1], "i", "alice", "/alice/big.bin", size-ps[0], true)
	if used := e.checkUsage(t, "alice"); used != size {
		t.Errorf("usage %d, want %d", used, size)
	}
}

// TestReget: a download whose client is killed mid-way is continued by OpenSSH's reget from
// what the client holds, and ends byte-identical; the server's file is untouched. The transfer
// log has an incomplete line for the interrupted download and a complete one for the rest.
func TestReget(t *testing.T) {
	t.Parallel()
	e := start(t, servertest.Options{})
	u := e.user("alice", 0)
	dir := t.TempDir()
	const size = 8 << 20
	stored := writeFile(t, e.Home("alice"), "big.bin", randomBytes(8, size))
	before := servertest.Snapshot(t, nil, stored)
	local := filepath.Join(dir, "big.bin")

	p := e.sftpBatch(keyLogin(u), dir, "get big.bin\n", "-l", "2000")
	var got int64
	servertest.Eventually(t, "a partial download holding data", func() bool {
		if fi, err := os.Stat(local); err == nil && fi.Size() >= 64<<10 {
			return true
		}
		if p.exited() {
			t.Fatalf("the download ended before it could be interrupted: %v", p.wait(t))
		}
		return false
	})
	p.kill(t)
	fi, err := os.Stat(local)
	must(t, err)
	if got = fi.Size(); got >= size {
		t.Fatalf("the killed download holds %d bytes, the whole file", got)
	}
	e.waitIdle(t)

	e.sftpOK(keyLogin(u), dir, "reget big.bin\n")
	sameFile(t, local, stored)
	servertest.CompareSnapshots(t, "the server's file", before, servertest.Snapshot(t, nil, stored))
	lines := e.xferlog(t)
	if len(lines) != 2 {
		t.Fatalf("transfer log: %v, want 2 lines", lines)
	}
	wantXfer(t, lines[0], "o", "alice", "/alice/big.bin", -1, false)
	wantXfer(t, lines[1], "o", "alice", "/alice/big.bin", size-got, true)
}
