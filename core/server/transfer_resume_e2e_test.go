package server_test

// Interrupted transfers: an upload or a download cut off (the client closes, the connection drops,
// the context is cancelled) resumes from a new session, sending only what is missing, unless the
// source or the remote file changed meanwhile, in which case it starts again.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/myftp/myftp/core/server/servertest"
	"github.com/myftp/myftp/lib/client"
	"github.com/myftp/myftp/lib/transfer"
)

// interruptions are the ways a transfer is cut off on the client's side.
var interruptions = []struct {
	name string
	// setup returns the client configuration to use and the func that breaks the session.
	setup func(t *testing.T, e *xenv) (client.Config, func(c *client.Client))
}{
	{"client closes", func(t *testing.T, e *xenv) (client.Config, func(*client.Client)) {
		return e.ClientConfig(), func(c *client.Client) { c.Close() }
	}},
	{"connection drops", func(t *testing.T, e *xenv) (client.Config, func(*client.Client)) {
		p := startProxy(t, e.Addr, proxyOptions{})
		cfg := e.ClientConfig()
		cfg.Addr = p.Addr()
		return cfg, func(*client.Client) { p.drop() }
	}},
}

// TestPutResume interrupts an upload and repeats it from a new session: only the missing bytes
// travel, the file appears only when complete, and it is byte-identical. The last cut comes after
// the last byte, before done: the resume sends nothing but done.
func TestPutResume(t *testing.T) {
	t.Parallel()
	const size = 8 * MiB
	for _, how := range interruptions {
		for _, cut := range []int64{3 * MiB, size} {
			t.Run(fmt.Sprintf("%s at %d", how.name, cut), func(t *testing.T) {
				t.Parallel()
				e := newXenv(t, servertest.Options{}, 0)
				data := randomData(size, 7)
				src := writeFile(t, e.local, "big.bin", data, past)
				cfg, breakIt := how.setup(t, e)

				c1 := loginWith(t, cfg, xUser, xPass)
				_, err := c1.Put(context.Background(), src, "", client.Options{Progress: e.cutAt(t, cut, func() { breakIt(c1) })})
				if err == nil {
					t.Fatal("the interrupted put succeeded")
				}
				mustNotExist(t, e.onServer("big.bin"))
				first := e.waitXfer(t, "big.bin", "i", 1)[0]
				if first.status != "i" || first.bytes != cut {
					t.Errorf("interrupted upload logged as %+v, want status i and %d bytes", first, cut)
				}

				c2 := e.login(t)
				res, err := c2.Put(context.Background(), src, "", client.Options{})
				if err != nil {
					t.Fatal(err)
				}
				if res.Offset != cut || res.Sent() != size-cut || res.Restart != "" || res.Sum != servertest.Sum(res.Checksum, data) {
					t.Errorf("resumed put: %+v, want offset %d, md5 %s", res, cut, md5hex(data))
				}
				sameBytes(t, "server copy", mustRead(t, e.onServer("big.bin")), data)
				second := e.waitXfer(t, "big.bin", "i", 2)[1]
				if second.status != "c" || second.bytes != size-cut {
					t.Errorf("resumed upload logged as %+v, want status c and %d bytes", second, size-cut)
				}
				if p := e.partials(t); len(p) != 0 {
					t.Errorf("partial uploads left: %v", p)
				}
			})
		}
	}
}

// interruptGet downloads remote to dst and breaks the session once n bytes have arrived. It
// returns the size of the local partial file.
func interruptGet(t *testing.T, c *client.Client, remote, dst string, n int64, breakIt func()) int64 {
	t.Helper()
	var once sync.Once
	_, err := c.Get(context.Background(), remote, dst, client.Options{Progress: func(done, total int64) {
		if done >= n {
			once.Do(breakIt)
		}
	}})
	if err == nil {
		t.Fatal("the interrupted get succeeded")
	}
	mustNotExist(t, dst)
	fi, err := os.Stat(transfer.PartialName(dst))
	if err != nil {
		t.Fatalf("no partial download kept: %v", err)
	}
	if fi.Size() < n {
		t.Fatalf("partial download of %d bytes, want at least %d", fi.Size(), n)
	}
	return fi.Size()
}

// TestGetResume interrupts a download and repeats it: the partial file beside the target is
// continued, only the rest travels, and the result is byte-identical.
func TestGetResume(t *testing.T) {
	t.Parallel()
	for _, how := range interruptions {
		t.Run(how.name, func(t *testing.T) {
			t.Parallel()
			e := newXenv(t, servertest.Options{}, 0)
			const size = 12 * MiB
			data := randomData(size, 8)
			src := writeFile(t, e.local, "big.bin", data, past)
			if _, err := e.login(t).Put(context.Background(), src, "", client.Options{}); err != nil {
				t.Fatal(err)
			}
			cfg, breakIt := how.setup(t, e)
			dst := filepath.Join(t.TempDir(), "copy.bin")
			c1 := loginWith(t, cfg, xUser, xPass)
			have := interruptGet(t, c1, "big.bin", dst, 2*MiB, func() { breakIt(c1) })

			res, err := e.login(t).Get(context.Background(), "big.bin", dst, client.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if res.Offset != have || res.Sent() != size-have || res.Restart != "" || res.Sum != servertest.Sum(res.Checksum, data) {
				t.Errorf("resumed get: %+v, want offset %d, md5 %s", res, have, md5hex(data))
			}
			sameBytes(t, "downloaded copy", mustRead(t, dst), data)
			mustNotExist(t, transfer.PartialName(dst))
			lines := e.waitXfer(t, "big.bin", "o", 2)
			var resumed []xferLine
			for _, l := range lines {
				if l.status == "c" && l.bytes == size-have {
					resumed = append(resumed, l)
				}
			}
			if len(resumed) != 1 {
				t.Errorf("transfer log %+v: want one complete download of %d bytes", lines, size-have)
			}
		})
	}
	t.Run("partial already complete", func(t *testing.T) {
		t.Parallel()
		e := newXenv(t, servertest.Options{}, 0)
		data := randomData(1*MiB, 9)
		src := writeFile(t, e.local, "f.bin", data, past)
		c := e.login(t)
		if _, err := c.Put(context.Background(), src, "", client.Options{}); err != nil {
			t.Fatal(err)
		}
		// A download that stopped after the last byte, before its check and rename.
		dst := filepath.Join(t.TempDir(), "f.bin")
		writeFile(t, filepath.Dir(dst), filepath.Base(transfer.PartialName(dst)), data, time.Now())
		res, err := c.Get(context.Background(), "f.bin", dst, client.Options{})
		if err != nil || res.Offset != int64(len(data)) || res.Sent() != 0 || res.Sum != servertest.Sum(res.Checksum, data) {
			t.Fatalf("get with a complete partial: %+v, %v", res, err)
		}
		sameBytes(t, "downloaded copy", mustRead(t, dst), data)
		mustNotExist(t, transfer.PartialName(dst))
	})
}

// TestPutRestartsWhenSourceChanged: a partial upload is not continued with another source; the
// upload starts again at 0, says why, and stores the new content.
func TestPutRestartsWhenSourceChanged(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		size  int
		mtime time.Time
	}{
		{"new content and time", 6 * MiB, past.Add(time.Hour)},
		{"new content, same size and time", 4 * MiB, past},
		{"shorter than the partial", 1 * MiB, past.Add(time.Hour)},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newXenv(t, servertest.Options{}, 0)
			src := writeFile(t, e.local, "f.bin", randomData(4*MiB, 20), past)
			c1 := e.login(t)
			if _, err := c1.Put(context.Background(), src, "", client.Options{Progress: e.cutAt(t, 2*MiB, func() { c1.Close() })}); err == nil {
				t.Fatal("the interrupted put succeeded")
			}
			e.waitXfer(t, "f.bin", "i", 1)

			data := randomData(tt.size, uint64(30+i))
			writeFile(t, e.local, "f.bin", data, tt.mtime)
			res, err := e.login(t).Put(context.Background(), src, "", client.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if res.Offset != 0 || res.Restart == "" || res.Sent() != int64(tt.size) || res.Sum != servertest.Sum(res.Checksum, data) {
				t.Errorf("put after the source changed: %+v, want a restart from 0", res)
			}
			t.Logf("restart: %s", res.Restart)
			sameBytes(t, "server copy", mustRead(t, e.onServer("f.bin")), data)
		})
	}
}

// TestGetRestartsWhenRemoteChanged: a partial download is not continued when the remote file was
// replaced meanwhile; the download starts again at 0, says why, and yields the new content.
func TestGetRestartsWhenRemoteChanged(t *testing.T) {
	t.Parallel()
	for _, size := range []int{6 * MiB, 512 << 10} { // the same size; shorter than the partial
		t.Run(strconv.Itoa(size), func(t *testing.T) {
			t.Parallel()
			e := newXenv(t, servertest.Options{}, 0)
			c := e.login(t)
			src := writeFile(t, e.local, "f.bin", randomData(6*MiB, 40), past)
			if _, err := c.Put(context.Background(), src, "", client.Options{}); err != nil {
				t.Fatal(err)
			}
			dst := filepath.Join(t.TempDir(), "f.bin")
			c1 := e.login(t)
			interruptGet(t, c1, "f.bin", dst, 1*MiB, func() { c1.Close() })

			newer := randomData(size, 41)
			writeFile(t, e.local, "f.bin", newer, past.Add(time.Minute))
			if _, err := c.Put(context.Background(), src, "", client.Options{}); err != nil {
				t.Fatal(err)
			}
			res, err := c.Get(context.Background(), "f.bin", dst, client.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if res.Offset != 0 || res.Restart == "" || res.Sum != servertest.Sum(res.Checksum, newer) {
				t.Errorf("get after the remote changed: %+v, want a restart from 0", res)
			}
			t.Logf("restart: %s", res.Restart)
			sameBytes(t, "downloaded copy", mustRead(t, dst), newer)
			mustNotExist(t, transfer.PartialName(dst))
		})
	}
}

// TestCancelledTransfers: cancelling the context of a transfer returns at once and closes the
// session (as package client documents), so the server ends the transfer and a new session can
// resume it.
func TestCancelledTransfers(t *testing.T) {
	t.Parallel()
	e := newXenv(t, servertest.Options{}, 0)
	cfg := e.ClientConfig()
	cfg.IOTimeout = 0 // the default 5 minutes: a transfer that waits for the timeout fails the test
	within := func(t *testing.T, what string, run func() error) error {
		t.Helper()
		done := make(chan error, 1)
		go func() { done <- run() }()
		select {
		case err := <-done:
			return err
		case <-time.After(20 * time.Second):
			t.Fatalf("%s did not return within 20 s of the cancel", what)
			return nil
		}
	}

	t.Run("put", func(t *testing.T) {
		data := randomData(6*MiB, 130)
		src := writeFile(t, e.local, "put.bin", data, past)
		c := loginWith(t, cfg, xUser, xPass)
		ctx, cancel := context.WithCancel(context.Background())
		err := within(t, "Put", func() error {
			_, err := c.Put(ctx, src, "", client.Options{Progress: func(done, _ int64) {
				if done >= 2*MiB {
					cancel()
				}
			}})
			return err
		})
		if !errors.Is(err, context.Canceled) || c.Err() == nil {
			t.Fatalf("cancelled put: %v; connection error %v, want both set", err, c.Err())
		}
		kept := e.waitXfer(t, "put.bin", "i", 1)[0]
		res, err := e.login(t).Put(context.Background(), src, "", client.Options{})
		if err != nil || kept.status != "i" || res.Offset != kept.bytes || res.Sum != servertest.Sum(res.Checksum, data) {
			t.Fatalf("put after the cancel: %+v, %v; want a resume at the %d bytes the server kept", res, err, kept.bytes)
		}
	})
	t.Run("put many", func(t *testing.T) {
		var items []client.Item
		for i := range 16 {
			items = append(items, client.Item{Local: writeFile(t, e.local, fmt.Sprintf("m%02d", i), randomData(1*MiB, uint64(140+i)), past)})
		}
		c := loginWith(t, cfg, xUser, xPass)
		ctx, cancel := context.WithCancel(context.Background())
		err := within(t, "PutMany", func() error {
			return c.PutMany(ctx, items, client.Options{}, func(i int, _ client.Result, _ error) {
				if i == 1 {
					cancel()
				}
			})
		})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled PutMany: %v", err)
		}
	})
	t.Run("get", func(t *testing.T) {
		src := writeFile(t, e.local, "get.bin", randomData(8*MiB, 150), past)
		if _, err := e.login(t).Put(context.Background(), src, "", client.Options{}); err != nil {
			t.Fatal(err)
		}
		c := loginWith(t, cfg, xUser, xPass)
		ctx, cancel := context.WithCancel(context.Background())
		dst := filepath.Join(t.TempDir(), "get.bin")
		err := within(t, "Get", func() error {
			_, err := c.Get(ctx, "get.bin", dst, client.Options{Progress: func(done, _ int64) {
				if done >= 1*MiB {
					cancel()
				}
			}})
			return err
		})
		if !errors.Is(err, context.Canceled) || c.Err() == nil {
			t.Fatalf("cancelled get: %v; connection error %v, want both set", err, c.Err())
		}
		mustNotExist(t, dst)
		if _, err := os.Stat(transfer.PartialName(dst)); err != nil {
			t.Errorf("no partial download kept: %v", err)
		}
	})
}
