package ftpdoor_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/myftp/myftp/core/ftpdoor"
	"github.com/myftp/myftp/core/server/servertest"
)

// lftpScript is what every lftp run starts with: stop at the first failure, no endless retries,
// and TLS on both channels with the server's certificate pinned (it names 127.0.0.1).
func (e *env) lftpScript(user string) string {
	s := "set cmd:fail-exit true; set net:max-retries 1; set net:timeout 20; set net:reconnect-interval-base 1; "
	if e.mode == ftpdoor.TLSOff {
		s += "set ftp:ssl-allow false; "
	} else {
		s += "set ftp:ssl-force true; set ftp:ssl-protect-data true; set ssl:verify-certificate true; " +
			"set ssl:ca-file " + e.ca + "; "
	}
	return s + fmt.Sprintf("open -u %s,%s-pw -p %s %s; ", user, user, e.port, e.host)
}

// lftp runs an lftp script (commands separated by ";") as user, in dir.
func (e *env) lftp(t testing.TB, dir, user, script string) result {
	t.Helper()
	return run(t, dir, need(t, "lftp", "lftp"), "--norc", "-c", e.lftpScript(user)+script)
}

// lftpProc starts an lftp script in the background, to be killed.
func (e *env) lftpProc(t testing.TB, dir, user, script string) *proc {
	t.Helper()
	return startProc(t, dir, need(t, "lftp", "lftp"), "--norc", "-c", e.lftpScript(user)+script)
}

// makeTree writes n small files (some empty, some with spaces in their names) in nested
// directories under root.
func makeTree(t testing.TB, root string, n int) {
	t.Helper()
	dirs := []string{"", "docs", "docs/2024 reports", "with space", "with space/deep/er", "a/b/c/d"}
	for i := range n {
		name := fmt.Sprintf("f%03d.txt", i)
		if i%3 == 0 {
			name = fmt.Sprintf("name with space %d.dat", i)
		}
		writeFile(t, root, filepath.Join(dirs[i%len(dirs)], name), randomBytes(uint64(100+i), i*37%5000))
	}
	must(t, os.MkdirAll(filepath.Join(root, "empty dir"), 0o755))
}

// TestLftpMirror: lftp `mirror -R` uploads a tree of 200 small files (some empty) in nested
// directories, some names with spaces, over FTPS with the TLS session resumed on every data
// connection; `mirror` downloads it to another directory; the server's copy and the downloaded
// one are byte-identical to the source, and each transfer is one ftp line in the transfer log.
func TestLftpMirror(t *testing.T) {
	t.Parallel()
	e := startDefault(t)
	e.user("dave", 0)
	local := t.TempDir()
	src := filepath.Join(local, "src")
	makeTree(t, src, 200)
	want := treeSums(t, src)

	wantOK(t, "mirror -R", e.lftp(t, local, "dave", `mirror -R src /tree`))
	sameTree(t, "the server's tree", want, treeSums(t, filepath.Join(e.Home("dave"), "tree")))
	// Four downloads at a time, on four sessions: lftp's data connections send their TLS
	// Finished behind Nagle's algorithm, which costs a delayed ACK (about 40 ms) per file.
	wantOK(t, "mirror", e.lftp(t, local, "dave", `mirror --parallel=4 /tree back`))
	sameTree(t, "the tree mirrored back", want, treeSums(t, filepath.Join(local, "back")))

	// 200 uploads, then 199 downloads: lftp creates the empty file without downloading it.
	lines := e.waitXfer(t, 399)
	for i, l := range lines {
		dir := "i"
		if i >= 200 {
			dir = "o"
		}
		if l.service != "ftp" || l.direction != dir || l.complete != "c" || !strings.HasPrefix(l.path, "/dave/tree/") {
			t.Fatalf("transfer log line %d: %q; want a complete %s transfer by ftp under /dave/tree", i, l.raw, dir)
		}
	}
	e.checkUsage(t, "dave")
}

// TestLftpReput: lftp, slowed down, is killed (SIGKILL) in the middle of an upload; nothing
// appears under the name and the part received is kept; `reput` (SIZE, then REST and STOR)
// completes it, byte-identical, with its md5 recorded.
func TestLftpReput(t *testing.T) {
	t.Parallel()
	e := startDefault(t)
	e.user("erin", 0)
	local := t.TempDir()
	data := randomBytes(5, 4<<20)
	writeFile(t, local, "big file.bin", data)
	target := filepath.Join(e.Home("erin"), "big file.bin")

	p := e.lftpProc(t, local, "erin", `set net:limit-rate 262144; put "big file.bin"`)
	servertest.Eventually(t, "part of the upload on the server", func() bool { return e.partialBytes("erin") >= 64<<10 || p.exited() })
	if p.exited() {
		t.Fatalf("lftp ended before it was killed: %v\n%s", p.err, p.out.String())
	}
	p.kill(t)
	lines := e.waitXfer(t, 1)
	wantXfer(t, lines[0], "i", "erin", "/erin/big_file.bin", -1, false)
	held := e.partialBytes("erin")
	if held == 0 || held >= int64(len(data)) {
		t.Fatalf("after the kill the server holds %d bytes of %d; want a part", held, len(data))
	}
	absent(t, target)
	if r := e.lftp(t, local, "erin", `cls -1`); r.code != 0 || len(splitLines(r.stdout)) != 0 {
		t.Fatalf("listing while interrupted: want nothing, got %v", r)
	}

	wantOK(t, "reput", e.lftp(t, local, "erin", `reput "big file.bin"`))
	sameFile(t, target, data)
	wantSumRecorded(t, e, "erin", "big file.bin", data)
	lines = e.waitXfer(t, 2)
	wantXfer(t, lines[1], "i", "erin", "/erin/big_file.bin", int64(len(data))-held, true)
	if n := e.partialBytes("erin"); n != 0 {
		t.Fatalf("after reput %d bytes are left in partial uploads", n)
	}
	e.checkUsage(t, "erin")
}

// TestLftpGetContinue: lftp, slowed down, is killed in the middle of a download, and `get -c`
// (REST, then RETR) completes the local file, byte-identical.
func TestLftpGetContinue(t *testing.T) {
	t.Parallel()
	e := startDefault(t)
	e.user("fred", 0)
	data := randomBytes(6, 4<<20)
	writeFile(t, e.Home("fred"), "big.bin", data) // put there by an administrator
	local := t.TempDir()
	dl := filepath.Join(local, "dl.bin")
	size := func() int64 {
		fi, err := os.Stat(dl)
		if err != nil {
			return 0
		}
		return fi.Size()
	}

	p := e.lftpProc(t, local, "fred", `set net:limit-rate 262144; get big.bin -o dl.bin`)
	servertest.Eventually(t, "part of the download on disk", func() bool { return size() >= 64<<10 || p.exited() })
	if p.exited() {
		t.Fatalf("lftp ended before it was killed: %v\n%s", p.err, p.out.String())
	}
	p.kill(t)
	got := size()
	if got >= int64(len(data)) {
		t.Fatalf("the download was complete (%d bytes) before the kill", got)
	}
	e.waitXfer(t, 1) // the server has finished with the first download

	wantOK(t, "get -c", e.lftp(t, local, "fred", `get -c big.bin -o dl.bin`))
	sameFile(t, dl, data)
	lines := e.waitXfer(t, 2)
	wantXfer(t, lines[1], "o", "fred", "/fred/big.bin", int64(len(data))-got, true)
}

// TestLftpMkdirRm: `mkdir -p` creates nested directories, and `rm -r` removes a tree of
// directories and files.
func TestLftpMkdirRm(t *testing.T) {
	t.Parallel()
	e := startDefault(t)
	e.user("gina", 0)
	local := t.TempDir()
	writeFile(t, local, "x.txt", []byte("x"))
	home := e.Home("gina")

	wantOK(t, "mkdir -p", e.lftp(t, local, "gina", `mkdir -p "a/b c/d"; put x.txt -o "a/b c/d/x.txt"; put x.txt -o a/y.txt; mkdir keep`))
	sameFile(t, filepath.Join(home, "a", "b c", "d", "x.txt"), []byte("x"))
	sameFile(t, filepath.Join(home, "a", "y.txt"), []byte("x"))
	wantOK(t, "rm -r", e.lftp(t, local, "gina", `rm -r a`))
	absent(t, filepath.Join(home, "a"))
	if fi, err := os.Stat(filepath.Join(home, "keep")); err != nil || !fi.IsDir() {
		t.Fatalf("keep: %v, %v; want the directory left alone", fi, err)
	}
	if r := e.lftp(t, local, "gina", `mkdir a/b`); r.code == 0 {
		t.Fatalf("mkdir without -p under a missing directory succeeded: %v", r)
	}
	e.checkUsage(t, "gina")
}
