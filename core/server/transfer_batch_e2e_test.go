package server_test

// Batches of files (PutMany, GetMany), some of whose files fail, and the logs that every transfer
// writes.

import (
	"context"
	"fmt"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/myftp/myftp/core/server/servertest"
	"github.com/myftp/myftp/lib/client"
	"github.com/myftp/myftp/lib/proto"
	"github.com/myftp/myftp/lib/transfer"
)

// TestPutManyGetMany sends 200 small files in one batch and gets them back in another: all arrive
// intact, and the transfer log has one line per file each way.
func TestPutManyGetMany(t *testing.T) {
	t.Parallel()
	e := newXenv(t, servertest.Options{}, 0)
	c := e.login(t)
	const n = 200
	var puts, gets []client.Item
	want := map[string][]byte{}
	for i := range n {
		name := fmt.Sprintf("f%03d.dat", i)
		data := randomData(i*37, uint64(1000+i))
		want[name] = data
		puts = append(puts, client.Item{Local: writeFile(t, e.local, name, data, past)})
		gets = append(gets, client.Item{Remote: name, Local: filepath.Join(t.TempDir(), name)})
	}
	calls := 0
	err := c.PutMany(context.Background(), puts, client.Options{}, func(i int, r client.Result, err error) {
		if err != nil || i != calls || r.Sum != servertest.Sum(r.Checksum, want[r.Remote]) {
			t.Errorf("put %d (call %d): %+v, %v", i, calls, r, err)
		}
		calls++
	})
	if err != nil || calls != n {
		t.Fatalf("PutMany: %v after %d files", err, calls)
	}
	for name, data := range want {
		sameBytes(t, "server copy of "+name, mustRead(t, e.onServer(name)), data)
	}
	calls = 0
	err = c.GetMany(context.Background(), gets, client.Options{}, func(i int, r client.Result, err error) {
		if err != nil || i != calls || r.Sum != servertest.Sum(r.Checksum, want[r.Remote]) {
			t.Errorf("get %d (call %d): %+v, %v", i, calls, r, err)
		}
		calls++
	})
	if err != nil || calls != n {
		t.Fatalf("GetMany: %v after %d files", err, calls)
	}
	for _, it := range gets {
		sameBytes(t, "downloaded "+it.Remote, mustRead(t, it.Local), want[it.Remote])
	}
	count := map[string]int{}
	for _, l := range e.xferlog(t) {
		if l.status == "c" && l.user == xUser && l.bytes == int64(len(want[path.Base(l.path)])) {
			count[l.dir]++
		}
	}
	if count["i"] != n || count["o"] != n {
		t.Errorf("transfer log: %d uploads and %d downloads complete, want %d each", count["i"], count["o"], n)
	}
}

// TestBatchGoesOnAfterFailures: files of a batch that fail (over quota, missing, no such
// directory) fail alone; the others arrive and the session stays in step.
func TestBatchGoesOnAfterFailures(t *testing.T) {
	t.Parallel()
	e := newXenv(t, servertest.Options{}, 100<<10)
	a := writeFile(t, e.local, "a", randomData(10<<10, 160), past)
	b := writeFile(t, e.local, "b", randomData(200<<10, 161), past)
	c := writeFile(t, e.local, "c", randomData(10<<10, 162), past)
	cl := e.login(t)
	puts := []client.Item{{Local: a}, {Local: b}, {Local: filepath.Join(e.local, "missing")}, {Local: c}, {Local: a, Remote: "nodir/a"}, {Local: c, Remote: "c2"}}
	failed := map[int]error{}
	err := cl.PutMany(context.Background(), puts, client.Options{}, func(i int, _ client.Result, err error) {
		if err != nil {
			failed[i] = err
		}
	})
	if len(failed) != 3 || failed[1] == nil || failed[2] == nil || failed[4] == nil {
		t.Fatalf("PutMany failures %v, want items 1, 2 and 4", failed)
	}
	wantReply(t, "put of b (over the quota)", failed[1], proto.CodeQuota, "")
	wantReply(t, "put into a missing directory", failed[4], proto.CodeUnavailFile, "")
	if err == nil {
		t.Error("PutMany reported no error")
	}
	for _, name := range []string{"a", "c", "c2"} {
		sameBytes(t, name, mustRead(t, e.onServer(name)), mustRead(t, filepath.Join(e.local, strings.TrimSuffix(name, "2"))))
	}

	out := t.TempDir()
	clear(failed)
	err = cl.GetMany(context.Background(), []client.Item{{Remote: "a", Local: out}, {Remote: "b", Local: out}, {Remote: "c", Local: out}, {Remote: "c2", Local: out}}, client.Options{}, func(i int, _ client.Result, err error) {
		if err != nil {
			failed[i] = err
		}
	})
	if len(failed) != 1 || err == nil {
		t.Fatalf("GetMany failures %v (%v), want item 1", failed, err)
	}
	wantReply(t, "get of the missing b", failed[1], proto.CodeUnavailFile, "")
	mustNotExist(t, filepath.Join(out, "b"))
	mustNotExist(t, transfer.PartialName(filepath.Join(out, "b")))
	for _, name := range []string{"a", "c", "c2"} {
		sameBytes(t, name, mustRead(t, filepath.Join(out, name)), mustRead(t, e.onServer(name)))
	}
	if err := cl.Noop(); err != nil {
		t.Errorf("the session is out of step: %v", err)
	}
}

// TestGetManySameTarget: two files of one batch that would land on the same local file do not
// share a partial download; the second is refused and the first arrives intact.
func TestGetManySameTarget(t *testing.T) {
	t.Parallel()
	e := newXenv(t, servertest.Options{}, 0)
	c := e.login(t)
	first, second := randomData(300<<10, 170), randomData(100<<10, 171)
	for _, f := range []struct {
		dir  string
		data []byte
	}{{"d1", first}, {"d2", second}} {
		if _, err := c.Mkdir(f.dir, false); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Put(context.Background(), writeFile(t, e.local, f.dir, f.data, past), f.dir+"/a.txt", client.Options{}); err != nil {
			t.Fatal(err)
		}
	}
	out := t.TempDir()
	errs := make([]error, 2)
	err := c.GetMany(context.Background(), []client.Item{{Remote: "d1/a.txt", Local: out}, {Remote: "d2/a.txt", Local: out}}, client.Options{},
		func(i int, _ client.Result, err error) { errs[i] = err })
	if err == nil || errs[0] != nil || errs[1] == nil {
		t.Fatalf("GetMany = %v, per file %v; want the second refused", err, errs)
	}
	sameBytes(t, "a.txt", mustRead(t, filepath.Join(out, "a.txt")), first)
	if err := c.Noop(); err != nil {
		t.Errorf("the session is out of step: %v", err)
	}
}

// TestTransferLogs: every transfer, finished or not, writes one transfer log line, and the event
// log records the md5 and the outcome.
func TestTransferLogs(t *testing.T) {
	t.Parallel()
	e := newXenv(t, servertest.Options{}, 0)
	c := e.login(t)
	data := randomData(1*MiB+3, 120)
	src := writeFile(t, e.local, "a.bin", data, past)
	if _, err := c.Put(context.Background(), src, "", client.Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(context.Background(), "a.bin", filepath.Join(t.TempDir(), "a.bin"), client.Options{}); err != nil {
		t.Fatal(err)
	}
	cut := writeFile(t, e.local, "b.bin", randomData(2*MiB, 121), past)
	c2 := e.login(t)
	if _, err := c2.Put(context.Background(), cut, "", client.Options{Progress: e.cutAt(t, 512<<10, func() { c2.Close() })}); err == nil {
		t.Fatal("the interrupted put succeeded")
	}
	// Each step waits for its log line: the server notices a dropped connection on its own time,
	// and the expected order below is the order of the steps.
	e.waitXfer(t, "b.bin", "i", 1)
	big := writeFile(t, e.local, "d.bin", randomData(12*MiB, 122), past)
	if _, err := c.Put(context.Background(), big, "", client.Options{}); err != nil {
		t.Fatal(err)
	}
	p := startProxy(t, e.Addr, proxyOptions{holdDown: 2 * MiB})
	cfg := e.ClientConfig()
	cfg.Addr = p.Addr()
	interruptGet(t, loginWith(t, cfg, xUser, xPass), "d.bin", filepath.Join(t.TempDir(), "d.bin"), 1*MiB, p.drop)
	down := e.waitXfer(t, "d.bin", "o", 1)[0]
	s := rawLogin(t, e.Addr, xUser, xPass)
	s.do(proto.Request{Op: proto.OpPut, Path: "c.bin", Size: 3})
	s.frame(proto.TypeData, []byte("abc"))
	s.reply()
	if rep := s.do(proto.Request{Op: proto.OpDone, MD5: md5hex([]byte("abd"))}); rep.Code != proto.CodeTransferFail {
		t.Fatalf("done with a wrong md5: %+v", rep)
	}

	e.waitXfer(t, "c.bin", "i", 1)
	if down.status != "i" || down.bytes >= 12*MiB {
		t.Errorf("interrupted download logged as %+v, want status i and less than %d bytes", down, 12*MiB)
	}
	down.bytes = 0 // how much the server wrote before it noticed depends on socket buffers
	got := e.xferlog(t)
	for i := range got {
		if got[i].path == down.path && got[i].dir == "o" {
			got[i].bytes = 0
		}
	}
	want := []xferLine{
		{bytes: 1*MiB + 3, path: "/alice/a.bin", dir: "i", user: xUser, status: "c"},
		{bytes: 1*MiB + 3, path: "/alice/a.bin", dir: "o", user: xUser, status: "c"},
		{bytes: 512 << 10, path: "/alice/b.bin", dir: "i", user: xUser, status: "i"},
		{bytes: 12 * MiB, path: "/alice/d.bin", dir: "i", user: xUser, status: "c"},
		{bytes: 0, path: "/alice/d.bin", dir: "o", user: xUser, status: "i"},
		{bytes: 3, path: "/alice/c.bin", dir: "i", user: xUser, status: "i"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("transfer log:\n%v\nwant\n%v", got, want)
	}

	events := string(mustRead(t, filepath.Join(e.Dir, "log", "myftps.log")))
	for _, want := range [][]string{
		{`msg="upload complete"`, "path=/a.bin", "size=1048579", "blake3=" + b3hex(data)},
		{`msg="download complete"`, "path=/a.bin", "size=1048579", "blake3=" + b3hex(data)},
		{`msg="upload interrupted"`, "path=/b.bin", "received=524288"},
		{`msg="upload failed"`, "path=/c.bin", `err="checksum mismatch`, md5hex([]byte("abc")), md5hex([]byte("abd"))},
	} {
		if !hasEvent(events, want) {
			t.Errorf("event log lacks a line with %q", want)
		}
	}
	if t.Failed() {
		t.Log(events)
	}
}

// hasEvent reports whether one line of the event log contains all of want.
func hasEvent(log string, want []string) bool {
	for line := range strings.Lines(log) {
		all := true
		for _, w := range want {
			all = all && strings.Contains(line, w)
		}
		if all {
			return true
		}
	}
	return false
}

// TestRefusedPutEndsOpenUpload: a pipelined put that fails its argument check (501) still ends the
// upload that was open, as every put does: the data and done sent behind the refused put get 503
// instead of landing in the old upload, whose partial file stays for a resume.
func TestRefusedPutEndsOpenUpload(t *testing.T) {
	t.Parallel()
	e := newXenv(t, servertest.Options{}, 0)
	s := rawLogin(t, e.Addr, xUser, xPass)
	s.do(proto.Request{Op: proto.OpPut, Path: "a.bin", Size: 10, Mtime: past})
	s.frame(proto.TypeData, []byte("aaaaa"))
	s.expect(proto.CodeOK, "")

	b := []byte("bbbbb")
	s.request(proto.Request{Op: proto.OpPut, Path: "b.bin", Size: -1, Mtime: past})
	s.frame(proto.TypeData, b)
	s.request(proto.Request{Op: proto.OpDone, MD5: md5hex(b)})
	s.expect(proto.CodeBadArgs, "negative")
	s.expect(proto.CodeBadSequence, "")
	s.expect(proto.CodeBadSequence, "")
	if got := partials(t, e.Home(xUser)); len(got) != 1 || only(got) != 5 {
		t.Errorf("partial uploads: %v, want a.bin's 5 bytes kept for a resume", got)
	}
	if rep := s.do(proto.Request{Op: proto.OpNoop}); rep.Code != proto.CodeOK {
		t.Errorf("the session is out of step: noop got %+v", rep)
	}
}
