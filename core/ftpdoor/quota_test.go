package ftpdoor_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/myftp/myftp/core/server/servertest"
	"github.com/myftp/myftp/lib/client"
	"github.com/myftp/myftp/lib/proto"
)

// TestQuotaFullRefusedBeforeData: a STOR into an account whose quota is used up gets 552 as
// its first reply, before the data connection carries a byte (no 150), and leaves no file and
// no partial upload.
func TestQuotaFullRefusedBeforeData(t *testing.T) {
	t.Parallel()
	e := startDefault(t)
	e.user("nora", 1<<20)
	writeFile(t, e.Home("nora"), "full.bin", randomBytes(8, 1<<20)) // the whole quota
	f := e.login(t, "nora", "nora-pw")

	dc, code, msg := f.open(dataOpts{}, "STOR more.bin")
	if code != 552 {
		t.Fatalf("STOR at the quota: first reply %d %q; want 552", code, msg)
	}
	dc.raw.Close()
	absent(t, filepath.Join(e.Home("nora"), "more.bin"))
	if n := e.partialBytes("nora"); n != 0 {
		t.Fatalf("%d bytes in partial uploads", n)
	}
	e.checkUsage(t, "nora")
}

// TestQuotaPassedMidUpload: an upload that would take the account past its quota is refused
// with 552 when it reaches it, once the client has sent the rest (which the door reads and
// discards); no file appears, no partial upload is kept, and the usage the server counts
// afterwards equals what is on disk.
func TestQuotaPassedMidUpload(t *testing.T) {
	t.Parallel()
	e := startDefault(t)
	e.user("otto", 1<<20)
	writeFile(t, e.Home("otto"), "old.bin", randomBytes(9, 300<<10))
	f := e.login(t, "otto", "otto-pw")

	dc, code, msg := f.open(dataOpts{}, "STOR big.bin")
	if code != 150 {
		t.Fatalf("STOR: %d %s", code, msg)
	}
	if _, err := dc.conn.Write(randomBytes(10, 3<<20)); err != nil {
		t.Fatalf("sending past the quota: %v; want the door to read the rest", err)
	}
	dc.conn.Close()
	code, msg = f.mustReplyAny()
	if code != 552 || !strings.Contains(msg, "quota exceeded: /big.bin") {
		t.Fatalf("upload past the quota: %d %q; want 552 quota exceeded", code, msg)
	}
	absent(t, filepath.Join(e.Home("otto"), "big.bin"))
	if n := e.partialBytes("otto"); n != 0 {
		t.Fatalf("%d bytes kept in partial uploads of an upload that passed the quota", n)
	}
	if used := e.checkUsage(t, "otto"); used != 300<<10 {
		t.Fatalf("usage %d after the refused upload; want the old file's %d", used, 300<<10)
	}
	// The account can still upload what fits.
	if code, msg := f.stor("fits.bin", randomBytes(11, 500<<10)); code != 226 {
		t.Fatalf("STOR that fits afterwards: %d %s", code, msg)
	}
	e.checkUsage(t, "otto")
	lines := e.waitXfer(t, 2)
	wantXfer(t, lines[0], "i", "otto", "/otto/big.bin", -1, false)
}

// TestAlloRefused: ALLO of more than the free quota is refused (550, the engine's code for a
// refused ALLO), and the STOR that follows fails with 552 whatever its size and leaves no
// file; the refusal holds for that one STOR only, and an ALLO that fits is accepted.
func TestAlloRefused(t *testing.T) {
	t.Parallel()
	e := startDefault(t)
	e.user("pia", 1<<20)
	f := e.login(t, "pia", "pia-pw")

	if code, msg := f.simple("ALLO 2000000"); code < 400 {
		t.Fatalf("ALLO past the quota: %d %s; want a refusal", code, msg)
	}
	if code, msg := f.stor("small.bin", []byte("small")); code != 552 {
		t.Fatalf("STOR after a refused ALLO: %d %s; want 552", code, msg)
	}
	absent(t, filepath.Join(e.Home("pia"), "small.bin"))
	if code, msg := f.stor("small.bin", []byte("small")); code != 226 {
		t.Fatalf("the next STOR: %d %s; want 226", code, msg)
	}
	f.must(200, "ALLO 1000")
	if code, msg := f.stor("second.bin", []byte("second")); code != 226 {
		t.Fatalf("STOR after an accepted ALLO: %d %s; want 226", code, msg)
	}
	e.checkUsage(t, "pia")
}

// TestNativeAndFTPRaceForLastMiB: a native session (myftp's own protocol) and an FTP session
// of one account upload 1 MiB each at the same moment, with 1 MiB of quota left: in each of
// several rounds exactly one of them succeeds, the other is refused for quota, only the
// winner's file exists, and usage equals the disk and stays within the quota.
func TestNativeAndFTPRaceForLastMiB(t *testing.T) {
	t.Parallel()
	e := startDefault(t)
	const quota = 4 << 20
	e.user("quin", quota)
	writeFile(t, e.Home("quin"), "base.bin", randomBytes(12, quota-1<<20))
	local := t.TempDir()
	mib := randomBytes(13, 1<<20)
	writeFile(t, local, "mib.bin", mib)
	native := e.Login("quin", "quin-pw")
	f := e.login(t, "quin", "quin-pw")

	wins := map[string]int{}
	for round := range 6 {
		// Every third round the FTP upload has a head start: part of it has reached the server
		// (and reserved its quota) before the native one begins. The others start together.
		headStart := round%3 == 2
		var wg sync.WaitGroup
		var nativeErr error
		var ftpCode int
		var ftpMsg string
		startNative, ftpHalf := make(chan struct{}), make(chan struct{})
		wg.Add(2)
		go func() {
			defer wg.Done()
			<-startNative
			_, nativeErr = native.Put(context.Background(), filepath.Join(local, "mib.bin"), "native.bin", client.Options{})
		}()
		dc, code, msg := f.open(dataOpts{}, "STOR ftp.bin")
		go func() {
			defer wg.Done()
			if code != 150 {
				ftpCode, ftpMsg = code, msg
				dc.raw.Close()
				return
			}
			dc.conn.Write(mib[:len(mib)/2])
			if headStart {
				<-ftpHalf
			}
			dc.conn.Write(mib[len(mib)/2:])
			dc.conn.Close()
			ftpCode, ftpMsg = f.mustReplyAny()
		}()
		if headStart {
			servertest.Eventually(t, "part of the FTP upload on the server", func() bool { return e.partialBytes("quin") > 0 })
			close(startNative)
			close(ftpHalf)
		} else {
			close(startNative)
		}
		wg.Wait()

		var re *proto.ReplyError
		nativeQuota := errors.As(nativeErr, &re) && re.Code == proto.CodeQuota
		switch {
		case nativeErr == nil && ftpCode == 552:
			wins["native"]++
			sameFile(t, filepath.Join(e.Home("quin"), "native.bin"), mib)
			absent(t, filepath.Join(e.Home("quin"), "ftp.bin"))
		case nativeQuota && ftpCode == 226:
			wins["ftp"]++
			sameFile(t, filepath.Join(e.Home("quin"), "ftp.bin"), mib)
			absent(t, filepath.Join(e.Home("quin"), "native.bin"))
		default:
			t.Fatalf("round %d: native %v, ftp %d %s; want exactly one success and one quota refusal", round, nativeErr, ftpCode, ftpMsg)
		}
		if used := e.checkUsage(t, "quin"); used != quota {
			t.Fatalf("round %d: usage %d, want exactly the quota %d", round, used, quota)
		}
		for _, name := range []string{"native.bin", "ftp.bin"} {
			if code, msg := f.simple("DELE %s", name); code != 250 && !strings.Contains(msg, "no such file") {
				t.Fatalf("DELE %s: %d %s", name, code, msg)
			}
		}
	}
	if wins["ftp"] < 2 {
		t.Fatalf("wins: %v; want the FTP upload to win at least the rounds it had a head start", wins)
	}
	t.Logf("wins: %v", wins)
}
