package server_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/myftp/myftp/core/server/servertest"
	"github.com/myftp/myftp/lib/client"
	"github.com/myftp/myftp/lib/proto"
	"github.com/myftp/myftp/lib/storage/s3"
	"github.com/myftp/myftp/lib/storage/s3/s3test"
)

// TestNativeOnS3: with the homes in an S3 bucket (a real MinIO on loopback), myftp's own client
// puts a file of several parts, is cut off, and resumes from a whole part the server stored,
// with the prefix checked; the file gets its source's time, comes back byte-identical, is listed,
// renamed, refused past the quota and outside the home, and removed; a server started afresh on
// the bucket counts the same usage.
func TestNativeOnS3(t *testing.T) {
	t.Parallel()
	b, err := s3.New(s3test.Bucket(t))
	if err != nil {
		t.Fatal(err)
	}
	e := servertest.Start(t, servertest.Options{Backend: b})
	e.AddUser("alice", "alice-pw", 32<<20)
	local := t.TempDir()
	data := randomData(4*s3.MinPartSize+4321, 9)
	src := writeFile(t, local, "big.bin", data, past)

	ctx, cancel := context.WithCancel(context.Background())
	c := e.Login("alice", "alice-pw")
	_, err = c.Put(ctx, src, "big.bin", client.Options{Progress: afterTwoParts(t, e, "alice", cancel)})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("the cut put: %v, want it cancelled", err)
	}
	c.Close()

	c = e.Login("alice", "alice-pw")
	defer c.Close()
	res := putOnceFree(t, c, src, "big.bin")
	if res.Offset < 2*s3.MinPartSize || res.Offset%s3.MinPartSize != 0 || res.Restart != "" {
		t.Errorf("resumed at %d (%q), want a whole number of parts, at least 2", res.Offset, res.Restart)
	}
	got := filepath.Join(local, "got.bin")
	if _, err := c.Get(context.Background(), "big.bin", got, client.Options{}); err != nil {
		t.Fatal(err)
	}
	sameBytes(t, "downloaded copy", mustRead(t, got), data)
	st, err := c.Stat("big.bin")
	if err != nil || st.Size != int64(len(data)) || !st.Mtime.Equal(past.Truncate(time.Millisecond)) && !st.Mtime.Equal(past) {
		t.Errorf("stat: %+v, %v; want %d bytes dated %v", st, err, len(data), past)
	}

	if _, err := c.Mkdir("docs", false); err != nil {
		t.Fatal(err)
	}
	if err := c.Rename("big.bin", "docs/big.bin"); err != nil {
		t.Fatal(err)
	}
	var names []string
	if err := c.List("docs", false, func(en proto.Entry) error { names = append(names, en.Name); return nil }); err != nil || len(names) != 1 || names[0] != "big.bin" {
		t.Errorf("list docs: %q, %v", names, err)
	}
	second := writeFile(t, local, "second.bin", randomData(20<<20, 3), past)
	_, err = c.Put(context.Background(), second, "second.bin", client.Options{})
	wantReply(t, "a put past the quota", err, proto.CodeQuota, "quota exceeded")
	_, err = c.Put(context.Background(), src, "../escape.bin", client.Options{})
	wantReply(t, "a put outside the home", err, proto.CodeUnavailFile, "leaves the home")
	wantUsage(t, e, "alice", int64(len(data)))
	if err := c.Rm("docs/big.bin"); err != nil {
		t.Fatal(err)
	}
	if used, _, _ := c.Quota(); used != 0 {
		t.Errorf("quota used %d after the removal", used)
	}
}

// TestS3DownMidUpload: the S3 server dies while a native upload is being stored. The client hears
// of a failure and nothing is published; once the store is back, the client's next put resumes
// from whole parts stored before, the file is exact, and the quota counts it once, as a server
// started afresh on the bucket measures it.
func TestS3DownMidUpload(t *testing.T) {
	t.Parallel()
	m := s3test.StartMinIO(t)
	b, err := s3.New(m.Bucket(t, "down"))
	if err != nil {
		t.Fatal(err)
	}
	e := servertest.Start(t, servertest.Options{Backend: b})
	e.AddUser("alice", "alice-pw", 64<<20)
	data := randomData(5*s3.MinPartSize+99, 11)
	src := writeFile(t, t.TempDir(), "big.bin", data, past)
	c := e.Login("alice", "alice-pw")
	_, err = c.Put(context.Background(), src, "big.bin", client.Options{Progress: afterTwoParts(t, e, "alice", m.Stop)})
	if err == nil {
		t.Fatal("the put succeeded with the store down")
	}
	c.Close()
	m.Start(t)
	c = e.Login("alice", "alice-pw")
	defer c.Close()
	res := putOnceFree(t, c, src, "big.bin")
	// The store held two parts; the checksum states of the second may not have been recorded
	// yet when it died, so the resume starts after the first or the second.
	if res.Offset < s3.MinPartSize || res.Offset%s3.MinPartSize != 0 {
		t.Errorf("resumed at %d, want a whole number of the parts stored before the store died", res.Offset)
	}
	got := filepath.Join(t.TempDir(), "got.bin")
	if _, err := c.Get(context.Background(), "big.bin", got, client.Options{}); err != nil {
		t.Fatal(err)
	}
	sameBytes(t, "downloaded copy", mustRead(t, got), data)
	wantUsage(t, e, "alice", int64(len(data)))
}

// TestS3StallMidUpload: the S3 server stops answering (a black hole: connections stay open, bytes
// are swallowed) while a native upload is being stored. The client hears, in time, that the
// storage is unavailable and to try again, instead of waiting forever; another session is served
// meanwhile, with the same clear error for what needs the store; nothing is published; once the
// store answers again, a second put resumes from the whole parts stored before, and the file is
// exact and counted once.
func TestS3StallMidUpload(t *testing.T) {
	t.Parallel()
	opts, hole := s3test.BucketBehindHole(t)
	b, err := s3.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	e := servertest.Start(t, servertest.Options{Backend: b})
	e.AddUser("alice", "alice-pw", 64<<20)
	e.AddUser("bob", "bob-pw", 1<<20)
	bob := e.Login("bob", "bob-pw")
	data := randomData(5*s3.MinPartSize+99, 12)
	src := writeFile(t, t.TempDir(), "big.bin", data, past)
	c := e.Login("alice", "alice-pw")
	err = returns(t, "a put into the black hole", func() error {
		_, err := c.Put(context.Background(), src, "big.bin", client.Options{Progress: afterTwoParts(t, e, "alice", func() { hole.Swallow(true) })})
		return err
	})
	wantReply(t, "the put with the store silent", err, proto.CodeLocalError, "storage unavailable, try again later")
	c.Close()

	err = returns(t, "another session's stat", func() error { _, err := bob.Stat("x"); return err })
	wantReply(t, "another session's stat with the store silent", err, proto.CodeLocalError, "storage unavailable")
	if _, err := bob.Pwd(); err != nil {
		t.Errorf("another session, with the store silent: pwd: %v", err)
	}

	hole.Swallow(false)
	c = e.Login("alice", "alice-pw")
	defer c.Close()
	if _, err := c.Stat("big.bin"); err == nil {
		t.Fatal("the cut upload was published")
	}
	res := putOnceFree(t, c, src, "big.bin")
	if res.Offset < s3.MinPartSize || res.Offset%s3.MinPartSize != 0 {
		t.Errorf("resumed at %d, want a whole number of the parts stored before the store went silent", res.Offset)
	}
	got := filepath.Join(t.TempDir(), "got.bin")
	if _, err := c.Get(context.Background(), "big.bin", got, client.Options{}); err != nil {
		t.Fatal(err)
	}
	sameBytes(t, "downloaded copy", mustRead(t, got), data)
	wantUsage(t, e, "alice", int64(len(data)))
}

// returns runs f and returns its error, failing the test if f has not returned after a minute:
// far beyond the deadlines of the store, and the client's own I/O timeout.
func returns(t *testing.T, what string, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(time.Minute):
		t.Fatalf("%s: no answer after a minute", what)
		return nil
	}
}

// afterTwoParts is a progress function that calls cut once the client has sent three parts and
// the store holds two of them.
func afterTwoParts(t *testing.T, e *servertest.Env, user string, cut func()) func(done, total int64) {
	var once sync.Once
	return func(done, total int64) {
		if done < 3*s3.MinPartSize {
			return
		}
		once.Do(func() {
			if !servertest.WaitFor(20*time.Second, func() bool { return e.PartialBytes(user) >= 2*s3.MinPartSize }) {
				t.Errorf("the store never held two parts: %d bytes", e.PartialBytes(user))
			}
			cut()
		})
	}
}

// putOnceFree puts src as remote once the server has seen the last session's upload of it end:
// until then the file is busy (450).
func putOnceFree(t *testing.T, c *client.Client, src, remote string) client.Result {
	t.Helper()
	var res client.Result
	var err error
	servertest.WaitFor(20*time.Second, func() bool {
		var re *proto.ReplyError
		res, err = c.Put(context.Background(), src, remote, client.Options{})
		return !errors.As(err, &re) || re.Code != proto.CodeFileBusy
	})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// wantUsage checks that the server counts want bytes for the account, as a server started
// afresh on the same storage measures.
func wantUsage(t *testing.T, e *servertest.Env, user string, want int64) {
	t.Helper()
	if counted, measured := e.Usage(user); counted != want || measured != want {
		t.Errorf("usage of %s: the server counts %d, a fresh measure %d; want %d", user, counted, measured, want)
	}
}
