package ftpdoor_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/myftp/myftp/core/ftpdoor"
	"github.com/myftp/myftp/core/server/servertest"
	"github.com/myftp/myftp/lib/checksum"
)

// curl runs curl against the door as user, pinning the server's certificate, and returns what
// it left. URLs in args are written as paths ("/dir/name"); curl gets them as ftp:// URLs
// (ftps:// for implicit TLS).
func (e *env) curl(t testing.TB, dir, user string, args ...string) result {
	t.Helper()
	return run(t, dir, need(t, "curl", "curl"), e.curlArgs(user, args...)...)
}

// curlArgs are the arguments of curl for e.curl.
func (e *env) curlArgs(user string, args ...string) []string {
	scheme := "ftp://"
	// -q: no ~/.curlrc. --ftp-pasv is the default; -m bounds the whole run.
	full := []string{"-q", "-sS", "--connect-timeout", "10", "-m", "50", "-u", user + ":" + user + "-pw"}
	switch e.mode {
	case ftpdoor.TLSRequired:
		full = append(full, "--ssl-reqd", "--cacert", e.ca)
	case ftpdoor.TLSImplicit:
		scheme = "ftps://"
		full = append(full, "--cacert", e.ca)
	}
	for _, a := range args {
		if strings.HasPrefix(a, "/") {
			a = scheme + e.FTPAddr + a
		}
		full = append(full, a)
	}
	return full
}

// wantOK fails the test unless the client exited with status 0.
func wantOK(t testing.TB, what string, r result) {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("%s: %v", what, r)
	}
}

// TestCurlExplicitFTPS: curl --ssl-reqd uploads and downloads byte-identical files, several on
// one control connection (each data connection resumes the TLS session, as RequireTLSReuse
// wants), lists them (LIST and NLST), reads SIZE and MDTM with -I, and every transfer, and
// nothing else, writes one ftp line to the transfer log.
func TestCurlExplicitFTPS(t *testing.T) {
	t.Parallel()
	e := startDefault(t)
	e.user("alice", 0)
	local := t.TempDir()
	a, b := randomBytes(1, 3<<20+17), randomBytes(2, 100<<10)
	writeFile(t, local, "a.bin", a)
	writeFile(t, local, "b file.bin", b)

	wantOK(t, "upload", e.curl(t, local, "alice", "-T", "a.bin", "/a.bin"))
	sameFile(t, filepath.Join(e.Home("alice"), "a.bin"), a)
	// Two uploads and then two downloads on one control connection each: the second data
	// connection resumes the TLS session of the first data connection, not of the control one.
	wantOK(t, "two uploads", e.curl(t, local, "alice", "-T", "b file.bin", "/b%20file.bin", "-T", "a.bin", "/sub/a2.bin",
		"--ftp-create-dirs"))
	sameFile(t, filepath.Join(e.Home("alice"), "b file.bin"), b)
	sameFile(t, filepath.Join(e.Home("alice"), "sub", "a2.bin"), a)
	wantOK(t, "two downloads", e.curl(t, local, "alice", "/a.bin", "-o", "got-a.bin", "/b%20file.bin", "-o", "got-b.bin"))
	sameFile(t, filepath.Join(local, "got-a.bin"), a)
	sameFile(t, filepath.Join(local, "got-b.bin"), b)

	r := e.curl(t, local, "alice", "/")
	wantOK(t, "LIST", r)
	listed := map[string]string{} // name: its line
	for _, l := range splitLines(r.stdout) {
		if f := strings.Fields(l); len(f) >= 9 {
			listed[strings.Join(f[8:], " ")] = l
		}
	}
	if len(listed) != 3 || !strings.Contains(listed["a.bin"], " "+strconv.Itoa(len(a))+" ") ||
		listed["b file.bin"] == "" || !strings.HasPrefix(listed["sub"], "d") {
		t.Errorf("LIST: want a.bin (%d bytes), b file.bin and the directory sub, got\n%s", len(a), r.stdout)
	}
	r = e.curl(t, local, "alice", "--list-only", "/")
	wantOK(t, "NLST", r)
	if got := sorted(splitLines(r.stdout)); strings.Join(got, ",") != "a.bin,b file.bin,sub" {
		t.Errorf("NLST: %q, want a.bin, b file.bin, sub", r.stdout)
	}

	r = e.curl(t, local, "alice", "-I", "/a.bin")
	wantOK(t, "-I", r)
	fi, err := os.Stat(filepath.Join(e.Home("alice"), "a.bin"))
	must(t, err)
	for _, want := range []string{
		fmt.Sprintf("Content-Length: %d\r\n", len(a)),
		"Last-Modified: " + fi.ModTime().UTC().Format(time.RFC1123) + "\r\n",
	} {
		if !strings.Contains(strings.ReplaceAll(r.stdout, "UTC", "GMT"), strings.ReplaceAll(want, "UTC", "GMT")) {
			t.Errorf("curl -I: no %q in\n%s", want, r.stdout)
		}
	}

	lines := e.waitXfer(t, 5)
	wantXfer(t, lines[0], "i", "alice", "/alice/a.bin", int64(len(a)), true)
	wantXfer(t, lines[1], "i", "alice", "/alice/b_file.bin", int64(len(b)), true)
	wantXfer(t, lines[2], "i", "alice", "/alice/sub/a2.bin", int64(len(a)), true)
	wantXfer(t, lines[3], "o", "alice", "/alice/a.bin", int64(len(a)), true)
	wantXfer(t, lines[4], "o", "alice", "/alice/b_file.bin", int64(len(b)), true)
	e.checkUsage(t, "alice")
}

// TestCurlImplicitFTPS: with TLS from the first byte (ftps://), curl uploads, downloads and
// lists; the files are byte-identical.
func TestCurlImplicitFTPS(t *testing.T) {
	t.Parallel()
	fc := doorDefaults()
	fc.TLSMode = ftpdoor.TLSImplicit
	e := start(t, servertest.Options{FTP: &fc})
	e.user("bob", 0)
	local := t.TempDir()
	data := randomBytes(3, 1<<20+3)
	writeFile(t, local, "up.bin", data)

	wantOK(t, "upload", e.curl(t, local, "bob", "-T", "up.bin", "/up.bin", "-T", "up.bin", "/again.bin"))
	sameFile(t, filepath.Join(e.Home("bob"), "up.bin"), data)
	sameFile(t, filepath.Join(e.Home("bob"), "again.bin"), data)
	wantOK(t, "download", e.curl(t, local, "bob", "/up.bin", "-o", "down.bin"))
	sameFile(t, filepath.Join(local, "down.bin"), data)
	r := e.curl(t, local, "bob", "--list-only", "/")
	wantOK(t, "NLST", r)
	if got := strings.Join(sorted(splitLines(r.stdout)), ","); got != "again.bin,up.bin" {
		t.Errorf("NLST: %q, want again.bin and up.bin", r.stdout)
	}
	lines := e.waitXfer(t, 3)
	wantXfer(t, lines[2], "o", "bob", "/bob/up.bin", int64(len(data)), true)
}

// TestCurlResumeKilledUpload: curl, slowed down, is killed (SIGKILL) in the middle of an
// upload. Nothing appears under the name (not on disk, not in a listing, not to RETR), the part
// received is kept as an unfinished upload, and `curl -C - -T` (SIZE, then APPE) completes it:
// the file is byte-identical to the source and its md5 is recorded.
func TestCurlResumeKilledUpload(t *testing.T) {
	t.Parallel()
	e := startDefault(t)
	e.user("carol", 0)
	local := t.TempDir()
	data := randomBytes(4, 4<<20)
	writeFile(t, local, "big.bin", data)
	target := filepath.Join(e.Home("carol"), "big.bin")

	p := startProc(t, local, need(t, "curl", "curl"), "-q", "-sS", "--ssl-reqd", "--cacert", e.ca, "-u", "carol:carol-pw",
		"--limit-rate", "256K", "-T", "big.bin", "ftp://"+e.FTPAddr+"/big.bin")
	servertest.Eventually(t, "part of the upload on the server", func() bool { return e.partialBytes("carol") >= 64<<10 || p.exited() })
	if p.exited() {
		t.Fatalf("curl ended before it was killed: %v\n%s", p.err, p.out.String())
	}
	p.kill(t)
	// The server sees the data connection cut (without TLS close_notify) and logs the upload as
	// incomplete.
	lines := e.waitXfer(t, 1)
	wantXfer(t, lines[0], "i", "carol", "/carol/big.bin", -1, false)
	held := e.partialBytes("carol")
	if held == 0 || held >= int64(len(data)) {
		t.Fatalf("after the kill the server holds %d bytes of %d; want a part", held, len(data))
	}
	absent(t, target)
	r := e.curl(t, local, "carol", "--list-only", "/")
	wantOK(t, "NLST while interrupted", r)
	if len(splitLines(r.stdout)) != 0 {
		t.Fatalf("NLST while interrupted: %q, want nothing", r.stdout)
	}
	if r := e.curl(t, local, "carol", "/big.bin", "-o", "early.bin"); r.code == 0 {
		t.Fatalf("RETR of an unfinished upload succeeded: %v", r)
	}
	e.checkUsage(t, "carol")

	wantOK(t, "curl -C - -T", e.curl(t, local, "carol", "-C", "-", "-T", "big.bin", "/big.bin"))
	sameFile(t, target, data)
	if n := e.partialBytes("carol"); n != 0 {
		t.Fatalf("after the resumed upload %d bytes are left in partial uploads", n)
	}
	wantSumRecorded(t, e, "carol", "big.bin", data)
	lines = e.waitXfer(t, 2)
	wantXfer(t, lines[1], "i", "carol", "/carol/big.bin", int64(len(data))-held, true)
	e.checkUsage(t, "carol")
	t.Logf("killed at %d of %d bytes; resumed; md5 %s", held, len(data), md5hex(data))
}

// wantSumRecorded fails the test unless the server recorded the SHA-256 of data when the upload
// of name ended (what it computes on the way in for FTP uploads), and HASH over FTP answers from
// that record: with one byte of the stored file changed behind the server's back (size and time
// kept, so the record still looks valid), HASH SHA-256 still gives the recorded digest, while
// HASH MD5, which nothing recorded, reads the file. The byte is put back afterwards.
func wantSumRecorded(t testing.TB, e *env, user, name string, data []byte) {
	t.Helper()
	sha := servertest.Sum(checksum.SHA256, data)
	stored := filepath.Join(e.Home(user), filepath.FromSlash(name))
	fi, err := os.Stat(stored)
	must(t, err)
	flip := func() {
		f, err := os.OpenFile(stored, os.O_RDWR, 0)
		must(t, err)
		b := []byte{0}
		_, err = f.ReadAt(b, 0)
		must(t, err)
		b[0] ^= 0xff
		_, err = f.WriteAt(b, 0)
		must(t, err)
		must(t, f.Close())
		must(t, os.Chtimes(stored, fi.ModTime(), fi.ModTime()))
	}
	flip()
	changed := append([]byte{data[0] ^ 0xff}, data[1:]...)
	f := e.login(t, user, user+"-pw")
	f.must(200, "OPTS HASH SHA-256")
	if msg := f.must(213, `HASH "%s"`, name); !strings.Contains(msg, "SHA-256 0-") || !strings.Contains(msg, sha) {
		t.Fatalf("HASH %s: %q, want the recorded sha256 %s", name, msg, sha)
	}
	f.must(200, "OPTS HASH MD5")
	if msg := f.must(213, `HASH "%s"`, name); !strings.Contains(msg, "MD5 0-") || !strings.Contains(msg, md5hex(changed)) {
		t.Fatalf("HASH %s: %q, want the md5 of the bytes on disk, %s", name, msg, md5hex(changed))
	}
	flip()
}
