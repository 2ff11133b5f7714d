package server_test

// Quotas and sessions that share files: the quota's limits, two sessions uploading past it at
// once, replacing a file and restarting the server, a download while its file is replaced, and one
// path uploaded by two sessions.

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/myftp/myftp/core/server/servertest"
	"github.com/myftp/myftp/lib/client"
	"github.com/myftp/myftp/lib/proto"
)

// TestQuotaLimits: a file of exactly the free space fits; one byte more is refused at the put
// reply, before any data, with a message in human units; rm frees space at once.
func TestQuotaLimits(t *testing.T) {
	t.Parallel()
	e := newXenv(t, servertest.Options{}, 10*MiB)
	c := e.login(t)
	other := writeFile(t, e.local, "other.bin", randomData(4*MiB, 70), past)
	if _, err := c.Put(context.Background(), other, "", client.Options{}); err != nil {
		t.Fatal(err)
	}

	s := rawLogin(t, e.Addr, xUser, xPass)
	rep := s.do(proto.Request{Op: proto.OpPut, Path: "big.bin", Size: 6*MiB + 1, Mtime: past})
	if rep.Code != proto.CodeQuota {
		t.Fatalf("put of one byte too many: %+v, want 552", rep)
	}
	for _, want := range []string{"used 4 MiB", "10 MiB", "6.0 MiB"} {
		if !strings.Contains(rep.Msg, want) {
			t.Errorf("552 message %q does not say %q", rep.Msg, want)
		}
	}
	if p := e.partials(t); len(p) != 0 {
		t.Errorf("a refused put left partial files: %v", p)
	}
	if rep := s.do(proto.Request{Op: proto.OpNoop}); rep.Code != proto.CodeOK {
		t.Errorf("the session did not go on: %+v", rep)
	}

	tooBig := writeFile(t, e.local, "big.bin", randomData(6*MiB+1, 71), past)
	if _, err := c.Put(context.Background(), tooBig, "", client.Options{}); err == nil {
		t.Fatal("put over the quota succeeded")
	} else {
		wantReply(t, "put of one byte more than the free space", err, proto.CodeQuota, "")
	}
	exact := writeFile(t, e.local, "big.bin", randomData(6*MiB, 72), past)
	if _, err := c.Put(context.Background(), exact, "", client.Options{}); err != nil {
		t.Fatalf("put of exactly the free space: %v", err)
	}
	if used, quota, err := c.Quota(); err != nil || used != 10*MiB || quota != 10*MiB {
		t.Errorf("quota = %d of %d (%v), want full", used, quota, err)
	}
	one := writeFile(t, e.local, "one", []byte{1}, past)
	_, err := c.Put(context.Background(), one, "", client.Options{})
	wantReply(t, "put into a full quota", err, proto.CodeQuota, "")

	if err := c.Rm("other.bin"); err != nil {
		t.Fatal(err)
	}
	if used, _, err := c.Quota(); err != nil || used != 6*MiB {
		t.Errorf("after rm: used %d (%v), want %d", used, err, 6*MiB)
	}
	if _, err := c.Put(context.Background(), one, "", client.Options{}); err != nil {
		t.Errorf("put after rm freed space: %v", err)
	}
}

// TestQuotaConcurrentSessions: two sessions of one account upload at once, together past the
// quota: exactly one is refused, whichever asks second.
func TestQuotaConcurrentSessions(t *testing.T) {
	t.Parallel()
	e := newXenv(t, servertest.Options{}, 10*MiB)
	src := writeFile(t, e.local, "six.bin", randomData(6*MiB, 80), past)
	clients := []*client.Client{e.login(t), e.login(t)}
	for round := range 4 {
		release := make(chan struct{})
		events := make(chan string, 4)
		results := make(chan error, 2)
		for i, c := range clients {
			go func() {
				var once sync.Once
				_, err := c.Put(context.Background(), src, fmt.Sprintf("r%d-%d.bin", round, i), client.Options{Progress: func(int64, int64) {
					once.Do(func() { events <- "uploading"; <-release })
				}})
				if err != nil {
					events <- "refused"
				}
				results <- err
			}()
		}
		got := []string{<-events, <-events} // both asked; the one uploading is paused
		close(release)
		var ok, refused int
		for range clients {
			err := <-results
			switch {
			case err == nil:
				ok++
			default:
				wantReply(t, fmt.Sprintf("round %d: the upload that was not stored", round), err, proto.CodeQuota, "")
				refused++
			}
		}
		if ok != 1 || refused != 1 {
			t.Fatalf("round %d: %d uploads stored, %d refused (events %v); want one each", round, ok, refused, got)
		}
		used, _, err := clients[0].Quota()
		if err != nil || used != 6*MiB {
			t.Fatalf("round %d: used %d (%v), want %d", round, used, err, 6*MiB)
		}
		for i := range clients {
			clients[0].Rm(fmt.Sprintf("r%d-%d.bin", round, i))
		}
		if used, _, _ := clients[0].Quota(); used != 0 {
			t.Fatalf("round %d: used %d after rm", round, used)
		}
	}
}

// TestQuotaReplaceAndRestart: replacing a file counts only the difference, and a restarted server
// measures the same usage as the running count, partial uploads included.
func TestQuotaReplaceAndRestart(t *testing.T) {
	t.Parallel()
	e := newXenv(t, servertest.Options{}, 10*MiB)
	c := e.login(t)
	for _, f := range []struct {
		name string
		size int
	}{{"other.bin", 4 * MiB}, {"x.bin", 5 * MiB}} {
		src := writeFile(t, e.local, f.name, randomData(f.size, 90), past)
		if _, err := c.Put(context.Background(), src, "", client.Options{}); err != nil {
			t.Fatal(err)
		}
	}
	bigger := randomData(6*MiB, 91)
	src := writeFile(t, e.local, "x.bin", bigger, past.Add(time.Hour))
	if _, err := c.Put(context.Background(), src, "", client.Options{}); err != nil {
		t.Fatalf("replacing 5 MiB by 6 MiB with 4 MiB used elsewhere under a 10 MiB quota: %v", err)
	}
	sameBytes(t, "replaced file", mustRead(t, e.onServer("x.bin")), bigger)
	if used, _, err := c.Quota(); err != nil || used != 10*MiB {
		t.Errorf("used %d (%v), want %d", used, err, 10*MiB)
	}

	// Free some space and leave a partial upload behind, then restart the server on the same root.
	if err := c.Rm("other.bin"); err != nil {
		t.Fatal(err)
	}
	part := writeFile(t, e.local, "part.bin", randomData(3*MiB, 92), past)
	c2 := e.login(t)
	if _, err := c2.Put(context.Background(), part, "", client.Options{Progress: e.cutAt(t, 1*MiB, func() { c2.Close() })}); err == nil {
		t.Fatal("the interrupted put succeeded")
	}
	e.waitXfer(t, "part.bin", "i", 1)
	before, _, err := c.Quota()
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(7 * MiB); before != want || diskUsage(t, e.Home(xUser)) != want {
		t.Errorf("used %d, on disk %d; want %d (6 MiB file and 1 MiB partial)", before, diskUsage(t, e.Home(xUser)), want)
	}
	c.Close()
	e.Stop()

	e2 := &xenv{Env: servertest.Start(t, servertest.Options{Dir: e.Dir}), local: e.local}
	after, quota, err := e2.login(t).Quota()
	if err != nil || after != before || quota != 10*MiB {
		t.Errorf("after a restart: used %d of %d (%v), want %d of %d", after, quota, err, before, 10*MiB)
	}
}

// TestDownloadDuringReplace: a download in progress while an upload replaces its file gets the old
// file whole and verified; the next download gets the new one.
func TestDownloadDuringReplace(t *testing.T) {
	t.Parallel()
	e := newXenv(t, servertest.Options{}, 0)
	old, newer := randomData(5*MiB, 100), randomData(3*MiB, 101)
	src := writeFile(t, e.local, "f.bin", old, past)
	up := e.login(t)
	if _, err := up.Put(context.Background(), src, "", client.Options{}); err != nil {
		t.Fatal(err)
	}
	paused, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	dst := filepath.Join(t.TempDir(), "f.bin")
	got := make(chan error, 1)
	down := e.login(t)
	go func() {
		_, err := down.Get(context.Background(), "f.bin", dst, client.Options{Progress: func(done, _ int64) {
			if done > 0 {
				once.Do(func() { close(paused); <-release })
			}
		}})
		got <- err
	}()
	<-paused
	writeFile(t, e.local, "f.bin", newer, past.Add(time.Hour))
	if _, err := up.Put(context.Background(), src, "", client.Options{}); err != nil {
		t.Fatalf("replacing a file being downloaded: %v", err)
	}
	close(release)
	if err := <-got; err != nil {
		t.Fatalf("download of the replaced file: %v", err)
	}
	sameBytes(t, "download begun before the replacement", mustRead(t, dst), old)
	if _, err := up.Get(context.Background(), "f.bin", dst, client.Options{}); err != nil {
		t.Fatal(err)
	}
	sameBytes(t, "download after the replacement", mustRead(t, dst), newer)
}

// TestSamePathTwoSessions: while one session uploads a path, another gets 450 for it.
func TestSamePathTwoSessions(t *testing.T) {
	t.Parallel()
	e := newXenv(t, servertest.Options{}, 0)
	data := randomData(2*MiB, 110)
	src := writeFile(t, e.local, "f.bin", data, past)
	paused, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	first := make(chan error, 1)
	c1 := e.login(t)
	go func() {
		_, err := c1.Put(context.Background(), src, "", client.Options{Progress: func(int64, int64) {
			once.Do(func() { close(paused); <-release })
		}})
		first <- err
	}()
	<-paused
	_, err := e.login(t).Put(context.Background(), src, "", client.Options{})
	re := wantReply(t, "put of a path another session uploads", err, proto.CodeFileBusy, "")
	if !strings.Contains(re.Msg, "f.bin") {
		t.Errorf("450 message %q does not name the file", re.Msg)
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatalf("the first upload: %v", err)
	}
	sameBytes(t, "server copy", mustRead(t, e.onServer("f.bin")), data)
}

// TestQuotaReplacedDirMovedAway: an upload replacing d/x counts on the old file's space; renaming
// d away in the middle of the upload keeps that space taken, so the upload fails with 552, its
// partial file is deleted, and the home stays within its quota (before, the commit took it 500
// bytes over).
func TestQuotaReplacedDirMovedAway(t *testing.T) {
	t.Parallel()
	const quota = 1500
	e := newXenv(t, servertest.Options{}, quota)
	s := rawLogin(t, e.Addr, xUser, xPass)
	old, fresh := bytes.Repeat([]byte("o"), 1000), bytes.Repeat([]byte("n"), 1000)
	s.do(proto.Request{Op: proto.OpMkdir, Path: "d"})
	s.do(proto.Request{Op: proto.OpPut, Path: "d/x", Size: 1000, Mtime: past})
	s.frame(proto.TypeData, old)
	s.expect(proto.CodeOK, "")
	s.request(proto.Request{Op: proto.OpDone, MD5: md5hex(old)})
	s.expect(proto.CodeTransferDone, "")

	s.request(proto.Request{Op: proto.OpPut, Path: "d/x", Size: 1000, Mtime: past})
	s.expect(proto.CodeSendData, "") // 1000 more fit only as a replacement of d/x
	s.frame(proto.TypeData, fresh[:400])
	s.expect(proto.CodeOK, "")
	s.request(proto.Request{Op: proto.OpRename, Path: "d", To: "e"})
	s.expect(proto.CodeFileOK, "")
	s.request(proto.Request{Op: proto.OpMkdir, Path: "d"})
	s.expect(proto.CodePath, "")
	s.frame(proto.TypeData, fresh[400:])
	s.expect(proto.CodeQuota, "moved away")
	s.request(proto.Request{Op: proto.OpDone, MD5: md5hex(fresh)})
	s.expect(proto.CodeBadSequence, "")

	q := s.do(proto.Request{Op: proto.OpQuota})
	if disk := diskUsage(t, e.Home(xUser)); q.Used != 1000 || disk != 1000 {
		t.Errorf("quota %d: the server counts %d bytes, the home holds %d; want 1000 (e/x)", quota, q.Used, disk)
	}
	if p := partials(t, e.Home(xUser)); len(p) != 0 {
		t.Errorf("partial uploads left: %v", p)
	}
}
