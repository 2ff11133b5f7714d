package sftpdoor_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pkg/sftp"

	"github.com/myftp/myftp/core/server/servertest"
	"github.com/myftp/myftp/lib/storage/s3"
	"github.com/myftp/myftp/lib/storage/s3/s3test"
)

// tryAgain is what the door says to a request that met a silent store.
const tryAgain = "storage unavailable, try again later"

// TestSFTPS3StoreSilent: the S3 server stops answering (a black hole: connections stay open,
// bytes are swallowed). A client whose upload is being stored hears in time, as the status of
// its close, a failure that says the storage is unavailable and to try again, and so do its other
// requests that need the store; a new OpenSSH sftp session hears it when its channel is refused;
// another session is still served; nothing is published. Once the store answers again, the same
// sftp command uploads the file, exact and counted once.
func TestSFTPS3StoreSilent(t *testing.T) {
	t.Parallel()
	opts, hole := s3test.BucketBehindHole(t)
	b, err := s3.New(opts)
	must(t, err)
	e := start(t, servertest.Options{Backend: b})
	alice, bob := e.user("alice", 64<<20), e.user("bob", 64<<20)
	dir := t.TempDir()
	old, data := randomBytes(1, 200<<10), randomBytes(2, s3.MinPartSize+4321)
	writeFile(t, dir, "old.bin", old)
	writeFile(t, dir, "big.bin", data)
	e.sftpOK(keyLogin(alice), dir, "put old.bin\n")
	_, ac := e.dial(alice)
	_, bc := e.dial(bob)

	// An upload whose first part is stored when the store goes silent: the rest cannot be.
	f, err := ac.Create("/big.bin")
	must(t, err)
	if _, err := f.Write(data); err != nil {
		t.Fatalf("write with the store answering: %v", err)
	}
	servertest.Eventually(t, "the store holds the upload's first part", func() bool { return e.PartialBytes("alice") >= s3.MinPartSize })
	hole.Swallow(true)
	wantTryAgain(t, "close of the upload with the store silent", f.Close(), "/big.bin")
	_, err = ac.Stat("/old.bin")
	wantTryAgain(t, "stat with the store silent", err, "/old.bin")

	r := e.sftp(keyLogin(alice), dir, "put big.bin\n")
	if want := "open failed: resource shortage: " + tryAgain; r.code == 0 || !strings.Contains(r.out, want) {
		t.Errorf("a new sftp session with the store silent: %v; want a failure, and %q", r, want)
	}
	if wd, err := bc.Getwd(); err != nil || wd != "/" {
		t.Errorf("another session's pwd with the store silent: %q, %v", wd, err)
	}

	hole.Swallow(false)
	ls, err := ac.ReadDir("/")
	must(t, err)
	if len(ls) != 1 || ls[0].Name() != "old.bin" {
		t.Errorf("alice's home once the store answers: %v; want only old.bin (nothing published half)", ls)
	}
	e.sftpOK(keyLogin(alice), dir, "put big.bin\n")
	e.sftpOK(keyLogin(alice), dir, "get big.bin got.bin\n")
	sameFile(t, filepath.Join(dir, "got.bin"), filepath.Join(dir, "big.bin"))
	if counted, measured := e.Usage("alice"); counted != int64(len(old)+len(data)) || measured != counted {
		t.Errorf("usage: the server counts %d, a fresh measure of the bucket %d; want %d", counted, measured, len(old)+len(data))
	}
}

// wantTryAgain fails the test unless err is the status SSH_FX_FAILURE with the message that the
// storage is unavailable, naming path.
func wantTryAgain(t *testing.T, what string, err error, path string) {
	t.Helper()
	var se *sftp.StatusError
	if !errors.As(err, &se) || se.FxCode() != sftp.ErrSSHFxFailure || !strings.Contains(se.Error(), tryAgain+": "+path) {
		t.Errorf("%s: %v; want SSH_FX_FAILURE with %q", what, err, tryAgain+": "+path)
	}
}
