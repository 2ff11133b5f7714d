package ftpdoor_test

import (
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/myftp/myftp/core/server/servertest"
	"github.com/myftp/myftp/lib/storage/s3"
	"github.com/myftp/myftp/lib/storage/s3/s3test"
)

// tryAgain is what the door says to a request that met a silent store.
const tryAgain = "storage unavailable, try again later"

// TestCurlS3StoreSilent: the S3 server stops answering (a black hole: connections stay open,
// bytes are swallowed). curl, whose upload is being stored, hears in time that the storage is
// unavailable and to try again (550: the engine cannot send 451), and a new curl login hears it
// too (530, the engine's only refusal of PASS); a session logged in before is still served, and
// gets the same answer for what needs the store; nothing is published. Once the store answers
// again, the same curl command uploads the file, exact and counted once.
func TestCurlS3StoreSilent(t *testing.T) {
	t.Parallel()
	opts, hole := s3test.BucketBehindHole(t)
	b, err := s3.New(opts)
	must(t, err)
	e := start(t, servertest.Options{Backend: b})
	e.user("alice", 64<<20)
	e.user("bob", 64<<20)
	local := t.TempDir()
	old, data := randomBytes(1, 200<<10), randomBytes(2, s3.MinPartSize+4321)
	writeFile(t, local, "old.bin", old)
	writeFile(t, local, "big.bin", data)
	wantOK(t, "upload with the store answering", e.curl(t, local, "alice", "-T", "old.bin", "/old.bin"))
	bob := e.login(t, "bob", "bob-pw")

	// An upload whose first part is stored when the store goes silent: the rest cannot be.
	stdin, feed := io.Pipe()
	up := startProcIn(t, local, stdin, need(t, "curl", "curl"), e.curlArgs("alice", "-v", "-T", "-", "/big.bin")...)
	t.Cleanup(func() { feed.Close() }) // before the wait for curl: a failed check must not leave it reading
	if _, err := feed.Write(data); err != nil {
		t.Fatalf("feeding curl: %v\n%s", err, up.out.String())
	}
	servertest.Eventually(t, "the store holds the upload's first part", func() bool { return e.PartialBytes("alice") >= s3.MinPartSize })
	hole.Swallow(true)
	feed.Close()
	servertest.Await(t, "curl's end", up.done)
	if out := up.out.String(); up.err == nil || !strings.Contains(out, "< 550 ") || !strings.Contains(out, tryAgain+": /big.bin") {
		t.Errorf("curl's upload with the store silent: %v; want a failure, and the reply 550 ... %s: /big.bin:\n%s", up.err, tryAgain, out)
	}

	r := e.curl(t, local, "alice", "-v", "-T", "big.bin", "/big.bin")
	if r.code == 0 || !strings.Contains(r.stderr, "< 530 "+tryAgain) {
		t.Errorf("curl's login with the store silent: %v; want the reply 530 %s", r, tryAgain)
	}
	if msg := bob.must(257, "PWD"); !strings.Contains(msg, `"/"`) {
		t.Errorf("another session's PWD with the store silent: %q", msg)
	}
	if msg := bob.must(550, "SIZE /x.bin"); !strings.Contains(msg, tryAgain+": /x.bin") {
		t.Errorf("another session's SIZE with the store silent: %q, want %q", msg, tryAgain)
	}

	hole.Swallow(false)
	r = e.curl(t, local, "alice", "--list-only", "/")
	wantOK(t, "list once the store answers", r)
	if got := splitLines(r.stdout); len(got) != 1 || got[0] != "old.bin" {
		t.Errorf("alice's home once the store answers: %q; want only old.bin (nothing published half)", got)
	}
	wantOK(t, "the same upload once the store answers", e.curl(t, local, "alice", "-T", "big.bin", "/big.bin"))
	wantOK(t, "download", e.curl(t, local, "alice", "/big.bin", "-o", "got.bin"))
	sameFile(t, filepath.Join(local, "got.bin"), data)
	if counted, measured := e.Usage("alice"); counted != int64(len(old)+len(data)) || measured != counted {
		t.Errorf("usage: the server counts %d, a fresh measure of the bucket %d; want %d", counted, measured, len(old)+len(data))
	}
}
