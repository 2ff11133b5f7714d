package sftpdoor_test

// End-to-end tests of the SFTP door with two more real clients: curl's sftp:// (libssh2, not
// OpenSSH) and lftp's own SFTP client (which runs ssh for the connection but speaks SFTP itself,
// with its own pipelining). Both run as subprocesses with the private HOME of the other clients.

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/myftp/myftp/core/server/servertest"
)

// curlHostKey is what curl's --hostpubsha256 pins: the base64 of the SHA-256 of the door's
// marshalled host key, without padding.
func (e *env) curlHostKey() string {
	sum := sha256.Sum256(e.HostKey.PublicKey().Marshal())
	return base64.RawStdEncoding.EncodeToString(sum[:])
}

// curl runs curl in dir as u, logged in with u's key (--key, and --pubkey with its public half)
// and trusting only the door's host key, pinned with --hostpubsha256 (the private HOME has no
// .ssh/known_hosts, so the pin is all curl checks; no --insecure), with args after those, and
// returns what it left.
func (e *env) curl(u user, dir string, args ...string) result {
	e.t.Helper()
	return e.curlPinned(u, dir, e.curlHostKey(), args...)
}

// curlPinned is curl with the host key pinned to pin.
func (e *env) curlPinned(u user, dir, pin string, args ...string) result {
	e.t.Helper()
	curl := need(e.t, "curl", "curl")
	pub := u.key + ".pub"
	if _, err := os.Stat(pub); err != nil {
		must(e.t, os.WriteFile(pub, ssh.MarshalAuthorizedKey(u.signer.PublicKey()), 0o644))
	}
	all := []string{"-sS", "--connect-timeout", "20", "-u", u.name + ":", "--key", u.key, "--pubkey", pub,
		"--hostpubsha256", pin}
	return e.startProc(keyLogin(u), dir, nil, curl, append(all, args...)...).wait(e.t)
}

// curlOK runs curl, which must succeed, and returns its output.
func (e *env) curlOK(u user, dir string, args ...string) string {
	e.t.Helper()
	r := e.curl(u, dir, args...)
	if r.code != 0 {
		e.t.Fatalf("curl %q: %v", args, r)
	}
	return r.out
}

// sftpURL is the sftp:// URL of path (absolute, in the home) on the door.
func (e *env) sftpURL(path string) string {
	return "sftp://127.0.0.1:" + e.port + path
}

// needCurlSFTP skips the test unless curl is there and speaks SFTP (Debian's curl does, with
// libssh2); like need, it fails the test instead when servertest.RequireClientsEnv is 1.
func needCurlSFTP(t *testing.T) {
	t.Helper()
	curl := need(t, "curl", "curl")
	out, err := exec.Command(curl, "-V").Output()
	if err != nil || !strings.Contains(string(out), " sftp ") {
		msg := fmt.Sprintf("%s -V does not list sftp among its protocols (%v): install a curl built with libssh2 (apt-get install -y curl)", curl, err)
		if os.Getenv(servertest.RequireClientsEnv) == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
}

// TestCurl: curl's sftp:// (libssh2) logs in with the account's key and a pinned host key,
// uploads a file of a few hundred KiB and downloads it back byte-identical; a listing of the
// directory shows it with its size; a download stopped part-way (a range) and continued with
// -C - ends byte-identical; --ftp-create-dirs creates the directories of an upload's path; and
// curl refuses the door when the pinned host key is another.
func TestCurl(t *testing.T) {
	t.Parallel()
	needCurlSFTP(t)
	e := start(t, servertest.Options{})
	u := e.user("alice", 0)
	home := e.Home("alice")
	dir := t.TempDir()
	const size = 300_000
	src := writeFile(t, dir, "up.bin", randomBytes(21, size))

	e.curlOK(u, dir, "-T", "up.bin", e.sftpURL("/up.bin"))
	sameFile(t, filepath.Join(home, "up.bin"), src)
	if log := e.serverLog(); !strings.Contains(log, "user=alice method=publickey") {
		t.Errorf("the server did not log alice's login by key:\n%s", log)
	}
	e.curlOK(u, dir, "-o", "down.bin", e.sftpURL("/up.bin"))
	sameFile(t, filepath.Join(dir, "down.bin"), src)

	// The home form, /~/, is the same place: the home is the SFTP root.
	e.curlOK(u, dir, "--ftp-create-dirs", "-T", "up.bin", e.sftpURL("/~/docs/sub/copy.bin"))
	sameFile(t, filepath.Join(home, "docs", "sub", "copy.bin"), src)
	out := e.curlOK(u, dir, e.sftpURL("/docs/sub/"))
	if !listed(out, "copy.bin", size) {
		t.Errorf("the listing of /docs/sub/ does not show copy.bin with %d bytes:\n%s", size, out)
	}
	out = e.curlOK(u, dir, e.sftpURL("/"))
	if !listed(out, "up.bin", size) || !strings.Contains(out, "docs\n") {
		t.Errorf("the listing of / does not show up.bin with %d bytes and docs:\n%s", size, out)
	}
	out = e.curlOK(u, dir, "--list-only", e.sftpURL("/"))
	if names := strings.Fields(out); !slices.Contains(names, "up.bin") || !slices.Contains(names, "docs") {
		t.Errorf("the names of / are %q; want up.bin and docs among them", names)
	}

	// A download stopped part-way: the first 100,000 bytes, then -C - continues from what the
	// local file holds.
	part := filepath.Join(dir, "part.bin")
	e.curlOK(u, dir, "-r", "0-99999", "-o", "part.bin", e.sftpURL("/up.bin"))
	if fi, err := os.Stat(part); err != nil || fi.Size() != 100_000 {
		t.Fatalf("the ranged download: %v, %v; want 100000 bytes", fi, err)
	}
	e.curlOK(u, dir, "-C", "-", "-o", "part.bin", e.sftpURL("/up.bin"))
	sameFile(t, part, src)

	r := e.curlPinned(u, dir, base64.RawStdEncoding.EncodeToString(make([]byte, sha256.Size)), "-o", "no.bin", e.sftpURL("/up.bin"))
	if r.code != 60 { // CURLE_PEER_FAILED_VERIFICATION
		t.Errorf("curl with another host key pinned: %v\nwant it to refuse the door (exit 60)", r)
	}
	absent(t, filepath.Join(dir, "no.bin"))

	e.waitIdle(t) // a client may exit before its last close is answered: the log comes with it
	lines := e.xferlog(t)
	if len(lines) != 5 {
		t.Fatalf("transfer log: %v, want 5 lines", lines)
	}
	wantXfer(t, lines[0], "i", "alice", "/alice/up.bin", size, true)
	wantXfer(t, lines[1], "o", "alice", "/alice/up.bin", size, true)
	wantXfer(t, lines[2], "i", "alice", "/alice/docs/sub/copy.bin", size, true)
	// lines[3] is the ranged download: libssh2 reads ahead, past the range, as far as it likes.
	if l := lines[3]; l.direction != "o" || l.path != "/alice/up.bin" {
		t.Errorf("transfer log: %q; want the ranged download of /alice/up.bin", l.raw)
	}
	wantXfer(t, lines[4], "o", "alice", "/alice/up.bin", size-100_000, true)
	e.checkUsage(t, "alice")
}

// TestCurlQuota: an upload with curl that would take the account past its quota fails (curl
// exits with an error; libssh2 does not show the reason the door writes on the channel's standard
// error, the server's log has it), and leaves no file under its name, no partial upload, no
// complete line in the transfer log, and the usage equal to the disk; the quota it reserved is
// given back: a file that fits is stored right after.
func TestCurlQuota(t *testing.T) {
	t.Parallel()
	needCurlSFTP(t)
	e := start(t, servertest.Options{})
	u := e.user("alice", 256<<10)
	dir := t.TempDir()
	writeFile(t, dir, "big.bin", randomBytes(22, 1<<20))
	fits := writeFile(t, dir, "fits.bin", randomBytes(23, 200<<10))

	r := e.curl(u, dir, "-T", "big.bin", e.sftpURL("/big.bin"))
	if r.code == 0 {
		t.Fatalf("curl upload of 1 MiB into a quota of 256 KiB: %v\nwant a failure", r)
	}
	e.waitIdle(t)
	if log := e.serverLog(); !strings.Contains(log, `path=/big.bin err="quota exceeded: /big.bin`) {
		t.Errorf("the server did not log the upload failed for the quota:\n%s", log)
	}
	e.wantRefusedUpload(t, "alice", "big.bin")

	e.curlOK(u, dir, "-T", "fits.bin", e.sftpURL("/fits.bin"))
	sameFile(t, filepath.Join(e.Home("alice"), "fits.bin"), fits)
	e.checkUsage(t, "alice")
}

// lftp runs lftp's own SFTP client in dir on the script (commands separated by ";" or newlines),
// after opening sftp://u:password@127.0.0.1:PORT, and returns what it left. lftp runs ssh for the
// connection only (sftp:connect-program), with no configuration file and only the door's host key
// trusted; it answers ssh's password prompt itself, through the terminal it gives ssh (the
// environment has no SSH_ASKPASS). With cmd:fail-exit, the first command that fails ends lftp
// with a non-zero exit status; net:max-retries 1 makes a failure final instead of retried.
func (e *env) lftp(u user, dir, script string) result {
	e.t.Helper()
	lftp := need(e.t, "lftp", "lftp")
	ssh := need(e.t, "ssh", "openssh-client")
	connect := append([]string{ssh, "-a", "-x"}, e.sshOptions(passwordLogin(u))...)
	site := url.URL{Scheme: "sftp", User: url.UserPassword(u.name, u.password), Host: "127.0.0.1:" + e.port}
	all := fmt.Sprintf(`set cmd:fail-exit yes; set net:max-retries 1; set net:timeout 20; set cmd:interactive no;
set sftp:connect-program "%s";
open "%s";
%s`, strings.Join(connect, " "), site.String(), script)
	// keyLogin: the plain client environment, without the askpass of a password login.
	return e.startProc(keyLogin(u), dir, nil, lftp, "--norc", "-c", all).wait(e.t)
}

// lftpOK runs an lftp script that must succeed and returns its output.
func (e *env) lftpOK(u user, dir, script string) string {
	e.t.Helper()
	r := e.lftp(u, dir, script)
	if r.code != 0 {
		e.t.Fatalf("lftp %q: %v", script, r)
	}
	return r.out
}

// TestLftpMirror: lftp's mirror -R uploads a tree (nested directories, an empty one, names with
// spaces, 20 files of random sizes from 0 B to 1 MiB) into the home, with three transfers in
// parallel, and mirror downloads it back into another directory: the tree in the home and the one
// downloaded are byte-identical to the source and have its modification times; ls -l shows the
// files with their sizes; mirror -R run again uploads nothing; the transfer log has one complete
// sftp line for every upload and every download.
func TestLftpMirror(t *testing.T) {
	t.Parallel()
	e := start(t, servertest.Options{})
	u := e.user("alice", 0)
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	type file struct {
		name string
		size int
	}
	files := []file{{"empty.txt", 0}, {"big.bin", 1<<20 + 123}, {"one.txt", 1}, {"docs/also empty", 0}}
	for i, name := range []string{"top.bin", "notes.txt", "docs/a.txt", "docs/b.txt", "docs/deep/c.bin",
		"docs/deep/d.bin", "docs/deep/deeper/e.txt", "media/f.jpg", "media/g.png", "media/sub dir/h i.bin",
		"media/sub dir/j.bin", "k.log", "l.dat", "docs/m.md", "media/n.raw", "o.csv"} {
		files = append(files, file{name, int(randomBytes(uint64(100+i), 1)[0])*800 + i}) // 0 B to 200 KiB
	}
	when := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	for i, f := range files {
		p := writeFile(t, src, f.name, randomBytes(uint64(200+i), f.size))
		mtime := when.Add(time.Duration(i) * time.Hour)
		must(t, os.Chtimes(p, mtime, mtime))
	}
	must(t, os.MkdirAll(filepath.Join(src, "empty dir"), 0o755))
	want := treeSums(t, src)

	out := e.lftpOK(u, dir, "mirror -R --parallel=3 src /tree; ls -l /tree")
	sameTree(t, "the tree mirrored into the home", want, treeSums(t, filepath.Join(e.Home("alice"), "tree")))
	for _, f := range files {
		if !strings.Contains(f.name, "/") && !listed(out, f.name, int64(f.size)) {
			t.Errorf("ls -l /tree does not show %s with %d bytes:\n%s", f.name, f.size, out)
		}
	}
	if !strings.Contains(e.serverLog(), "user=alice method=password") {
		t.Errorf("the server did not log alice's login by password:\n%s", e.serverLog())
	}

	for i, f := range files {
		wantMtime(t, filepath.Join(e.Home("alice"), "tree", f.name), when.Add(time.Duration(i)*time.Hour))
	}
	// Mirrored again, nothing has changed: lftp compares sizes and times, and uploads nothing.
	e.lftpOK(u, dir, "mirror -R src /tree")

	e.lftpOK(u, dir, "mirror --parallel=3 /tree back")
	sameTree(t, "the tree mirrored back", want, treeSums(t, filepath.Join(dir, "back")))
	for i, f := range files {
		wantMtime(t, filepath.Join(dir, "back", f.name), when.Add(time.Duration(i)*time.Hour))
	}

	e.waitIdle(t) // lftp exits without waiting for its last close to be answered
	count := map[string]int{}
	for _, l := range e.xferlog(t) {
		if l.service != "sftp" || l.user != "alice" || l.complete != "c" {
			t.Errorf("transfer log: %q; want complete sftp transfers of alice", l.raw)
		}
		count[l.direction]++
	}
	if count["i"] != len(files) || count["o"] != len(files) {
		t.Errorf("the transfer log has %d uploads and %d downloads, want %d of each", count["i"], count["o"], len(files))
	}
	e.checkUsage(t, "alice")
}

// TestLftpCommands: lftp's mkdir (also -p), put, mv (a rename, and a move into a directory), ls -l,
// rm and rmdir leave the home as they say; rmdir of a directory that is not empty, rm of a missing
// file and a wrong password fail, with the door's reason in lftp's message.
func TestLftpCommands(t *testing.T) {
	t.Parallel()
	e := start(t, servertest.Options{})
	u := e.user("alice", 0)
	home := e.Home("alice")
	dir := t.TempDir()
	one := randomBytes(31, 1000)
	two := randomBytes(32, 2000)
	writeFile(t, dir, "one.txt", one)
	writeFile(t, dir, "two.txt", two)
	sum := func(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

	out := e.lftpOK(u, dir, `mkdir /docs; mkdir -p "/docs/a/b c"; put one.txt -o /docs/a/one.txt; put two.txt -o /two.txt;
mv /docs/a/one.txt /docs/renamed.txt; mv /two.txt /docs/a/; ls -l /docs`)
	sameTree(t, "after mkdir, put and mv", map[string]string{
		"docs": "dir", "docs/a": "dir", "docs/a/b c": "dir", "docs/renamed.txt": sum(one), "docs/a/two.txt": sum(two),
	}, treeSums(t, home))
	if !listed(out, "renamed.txt", 1000) || !regexp.MustCompile(`(?m)^d.* a$`).MatchString(out) {
		t.Errorf("ls -l /docs does not show renamed.txt with 1000 bytes and the directory a:\n%s", out)
	}

	failed := func(u user, script, want string) {
		t.Helper()
		r := e.lftp(u, dir, script)
		if r.code == 0 || !strings.Contains(r.out, want) {
			t.Errorf("lftp %q: %v\nwant a failure saying %q", script, r, want)
		}
	}
	failed(u, "rmdir /docs", "rmdir: Access failed: directory not empty: /docs")
	failed(u, "rm /nothere.txt", "rm: Access failed: no such file or directory: /nothere.txt")
	wrong := u
	wrong.password = "not-alice-pw"
	failed(wrong, "ls /", "alice@127.0.0.1: Permission denied")

	e.lftpOK(u, dir, `rm /docs/renamed.txt /docs/a/two.txt; rmdir "/docs/a/b c"; rmdir /docs/a; rmdir /docs`)
	sameTree(t, "after rm and rmdir", map[string]string{}, treeSums(t, home))
	if used := e.checkUsage(t, "alice"); used != 0 {
		t.Errorf("usage %d after removing everything", used)
	}
}
