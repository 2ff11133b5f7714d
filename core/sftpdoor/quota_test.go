package sftpdoor_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/myftp/myftp/core/ftpdoor"
	"github.com/myftp/myftp/core/server/servertest"
	"github.com/myftp/myftp/lib/client"
)

// TestQuotaFull: a put into an account already at its quota is refused at the open, before any
// data flows, and leaves nothing: no file, no partial upload, no line in the transfer log.
func TestQuotaFull(t *testing.T) {
	t.Parallel()
	e := start(t, servertest.Options{})
	u := e.user("alice", 64<<10)
	dir := t.TempDir()
	writeFile(t, dir, "fill", randomBytes(1, 64<<10))
	writeFile(t, dir, "one.txt", []byte("1"))
	e.sftpOK(keyLogin(u), dir, "put fill\n")
	logged := len(e.xferlog(t))

	r := e.sftp(keyLogin(u), dir, "put one.txt\n")
	if r.code == 0 || !strings.Contains(r.out, `dest open "/one.txt": Failure`) {
		t.Fatalf("put into a full account: %v\nwant the open refused with Failure", r)
	}
	// sftp shows only "Failure"; what the door writes on the channel's standard error says why.
	if !strings.Contains(r.out, "myftps: quota exceeded: /one.txt") {
		t.Errorf("put into a full account: %v\nwant the reason on standard error", r)
	}
	absent(t, filepath.Join(e.Home("alice"), "one.txt"))
	if p := e.partials("alice"); len(p) != 0 {
		t.Errorf("partial uploads left: %v", p)
	}
	if n := len(e.xferlog(t)); n != logged {
		t.Errorf("the refused put wrote %d transfer log lines; want none (no data flowed)", n-logged)
	}
	if used := e.checkUsage(t, "alice"); used != 64<<10 {
		t.Errorf("usage %d, want %d", used, 64<<10)
	}
}

// TestQuotaPassed: a put that would take the account past its quota fails (OpenSSH shows only
// "Failure") once its data reaches the quota; no file appears under its name, not even the part
// that fitted, no partial upload is kept, and the usage equals the disk. The quota it reserved
// is given back: a file that fits is stored right after.
func TestQuotaPassed(t *testing.T) {
	t.Parallel()
	e := start(t, servertest.Options{})
	u := e.user("alice", 1<<20)
	dir := t.TempDir()
	writeFile(t, dir, "big", randomBytes(2, 3<<20))
	exact := writeFile(t, dir, "exact", randomBytes(3, 1<<20))

	r := e.sftp(keyLogin(u), dir, "put big\n")
	if r.code == 0 || !strings.Contains(r.out, "Failure") {
		t.Fatalf("put of 3 MiB into a quota of 1 MiB: %v\nwant a failure", r)
	}
	// Told once, though many of the pipelined writes failed.
	if n := strings.Count(r.out, "myftps: quota exceeded: /big"); n != 1 {
		t.Errorf("put of 3 MiB into a quota of 1 MiB: the reason told %d times, want once:\n%v", n, r)
	}
	e.waitIdle(t)
	e.wantRefusedUpload(t, "alice", "big")

	e.sftpOK(keyLogin(u), dir, "put exact\n")
	sameFile(t, filepath.Join(e.Home("alice"), "exact"), exact)
	e.checkUsage(t, "alice")
}

// TestQuotaRace: a native, an FTP and an SFTP session of one account race for the last MiB of
// its quota, each uploading a file of 1 MiB: all three at once, then FTP and SFTP alone (two
// streams growing side by side), then all three with the native upload, which reserves its whole
// size up front, started once a stream holds data. At most one wins each round and the winner's
// file is intact; the losers leave nothing; the account never passes its quota and its usage
// equals the disk.
func TestQuotaRace(t *testing.T) {
	t.Parallel()
	curl := need(t, "curl", "curl")
	const mib = 1 << 20
	e := start(t, servertest.Options{FTP: &ftpdoor.Config{TLSMode: ftpdoor.TLSOff}})
	u := e.user("alice", 4*mib)
	home := e.Home("alice")
	dir := t.TempDir()
	writeFile(t, dir, "fill", randomBytes(9, 3*mib))
	native := e.Login("alice", u.password)
	if _, err := native.Put(context.Background(), filepath.Join(dir, "fill"), "fill", client.Options{}); err != nil {
		t.Fatal(err)
	}

	rounds := []struct {
		doors      []string
		nativeLate bool // the native upload starts once a stream holds data, or both have ended
	}{
		{doors: []string{"native", "ftp", "sftp"}},
		{doors: []string{"ftp", "sftp"}},
		{doors: []string{"native", "ftp", "sftp"}, nativeLate: true},
	}
	for round, rd := range rounds {
		names := map[string]string{}
		for i, door := range rd.doors {
			names[door] = fmt.Sprintf("%s%d", door, round)
			writeFile(t, dir, names[door], randomBytes(uint64(100*round+i), mib))
		}
		won := map[string]bool{}
		var mu sync.Mutex
		note := func(door string, ok bool, how any) {
			mu.Lock()
			defer mu.Unlock()
			won[door] = ok
			t.Logf("round %d: %s: %v", round, door, how)
		}
		var wg sync.WaitGroup
		ftp := e.startProc(keyLogin(u), dir, nil, curl, "-sS", "--ftp-pasv", "-u", "alice:"+u.password,
			"-T", names["ftp"], "ftp://"+e.FTPAddr+"/"+names["ftp"])
		sftp := e.sftpBatch(keyLogin(u), dir, "put "+names["sftp"]+"\n")
		if _, ok := names["native"]; ok {
			wg.Go(func() {
				if rd.nativeLate {
					servertest.Eventually(t, "a stream holding data", func() bool {
						return slices.ContainsFunc(e.partials("alice"), func(n int64) bool { return n > 0 }) ||
							ftp.exited() && sftp.exited()
					})
				}
				_, err := native.Put(context.Background(), filepath.Join(dir, names["native"]), names["native"], client.Options{})
				note("native", err == nil, err)
			})
		}
		wg.Go(func() { r := ftp.wait(t); note("ftp", r.code == 0, r) })
		wg.Go(func() { r := sftp.wait(t); note("sftp", r.code == 0, r) })
		wg.Wait()
		e.waitRunning(t, 1) // the native session stays

		winners := 0
		for door, ok := range won {
			stored := filepath.Join(home, names[door])
			if ok {
				winners++
				sameFile(t, stored, filepath.Join(dir, names[door]))
			} else {
				absent(t, stored)
			}
		}
		if winners > 1 {
			t.Errorf("round %d: %d uploads of 1 MiB fitted in the last MiB: %v", round, winners, won)
		}
		if p := e.partials("alice"); len(p) != 0 {
			t.Errorf("round %d: partial uploads left: %v", round, p)
		}
		e.checkUsage(t, "alice")
		for door, ok := range won { // make room for the next round
			if ok {
				must(t, native.Rm(names[door]))
			}
		}
	}
}
