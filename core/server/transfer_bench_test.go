package server_test

// Benchmarks of put and get over TCP on 127.0.0.1, with and without TLS. Setup (server, accounts,
// source files) is outside the timed loop. Environment:
//
//	MYFTP_BENCH_DIR        where the server root and the local files go (default: a temporary
//	                       directory); /dev/shm takes the disk out of the figures
//	MYFTP_BENCH_SIZE       size of the big file of Put and Get (default 64MiB; 1GiB for the full figure)
//	MYFTP_BENCH_CONC_SIZE  size of each file of ConcurrentPut32x32MiB (default 4MiB; 32MiB for the full figure)
//
// For example:
//
//	MYFTP_BENCH_DIR=/dev/shm MYFTP_BENCH_SIZE=1GiB MYFTP_BENCH_CONC_SIZE=32MiB \
//	    go test -run XXX -bench . -benchtime 3x ./core/server/

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/myftp/myftp/core/server/servertest"
	"github.com/myftp/myftp/lib/bytesize"
	"github.com/myftp/myftp/lib/client"
	"github.com/myftp/myftp/lib/homefs"
)

// benchSize reads a size from the environment.
func benchSize(b *testing.B, env string, def int64) int64 {
	s := os.Getenv(env)
	if s == "" {
		return def
	}
	n, err := bytesize.Parse(s)
	if err != nil || n <= 0 {
		b.Fatalf("%s=%q: %v", env, s, err)
	}
	return n
}

// benchDir returns a directory for the benchmark's files, removed at the end.
func benchDir(b *testing.B) string {
	base := os.Getenv("MYFTP_BENCH_DIR")
	if base == "" {
		return b.TempDir()
	}
	dir, err := os.MkdirTemp(base, "myftp-bench-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// benchEnv is a server with one account whose quota does not get in the way, and a local
// directory beside it.
type benchEnv struct {
	*servertest.Env
	local string
	cfg   client.Config
}

func newBenchEnv(b *testing.B, plain bool) *benchEnv {
	dir := benchDir(b)
	// fsync on, as in the default settings: the numbers are for the guarantees users get.
	e := &benchEnv{Env: servertest.Start(b, servertest.Options{Plain: plain, Dir: filepath.Join(dir, "root"),
		Store: homefs.Options{Fsync: true}}), local: filepath.Join(dir, "local")}
	e.AddUser(xUser, xPass, 1<<50)
	if err := os.MkdirAll(e.local, 0o700); err != nil {
		b.Fatal(err)
	}
	e.cfg = e.ClientConfig()
	e.cfg.Insecure = plain
	return e
}

func (e *benchEnv) login(b *testing.B) *client.Client {
	return loginWith(b, e.cfg, xUser, xPass)
}

// source writes a local file of n pseudo-random bytes, in 1 MiB pieces so that a 1 GiB file
// does not need 1 GiB of memory.
func (e *benchEnv) source(b *testing.B, name string, n int64) string {
	p := filepath.Join(e.local, name)
	f, err := os.Create(p)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	piece := randomData(MiB, uint64(n))
	for left := n; left > 0; left -= int64(len(piece)) {
		piece[0]++ // no two pieces alike
		if _, err := f.Write(piece[:min(left, int64(len(piece)))]); err != nil {
			b.Fatal(err)
		}
	}
	return p
}

func BenchmarkPut(b *testing.B)      { benchPut(b, false) }
func BenchmarkPutPlain(b *testing.B) { benchPut(b, true) }
func BenchmarkGet(b *testing.B)      { benchGet(b, false) }
func BenchmarkGetPlain(b *testing.B) { benchGet(b, true) }

// benchPut uploads the big file again and again (each upload replaces the last).
func benchPut(b *testing.B, plain bool) {
	e := newBenchEnv(b, plain)
	size := benchSize(b, "MYFTP_BENCH_SIZE", 64*MiB)
	src := e.source(b, "big.bin", size)
	c := e.login(b)
	b.SetBytes(size)
	b.ResetTimer()
	for b.Loop() {
		if _, err := c.Put(context.Background(), src, "big.bin", client.Options{NoResume: true}); err != nil {
			b.Fatal(err)
		}
	}
}

// benchGet downloads the big file again and again (each download replaces the last).
func benchGet(b *testing.B, plain bool) {
	e := newBenchEnv(b, plain)
	size := benchSize(b, "MYFTP_BENCH_SIZE", 64*MiB)
	src := e.source(b, "big.bin", size)
	c := e.login(b)
	if _, err := c.Put(context.Background(), src, "big.bin", client.Options{}); err != nil {
		b.Fatal(err)
	}
	dst := filepath.Join(e.local, "copy.bin")
	b.SetBytes(size)
	b.ResetTimer()
	for b.Loop() {
		if _, err := c.Get(context.Background(), "big.bin", dst, client.Options{NoResume: true}); err != nil {
			b.Fatal(err)
		}
	}
}

const (
	manyFiles = 1000
	manySize  = 4 << 10
)

// manySources writes the small files of the batch benchmarks.
func (e *benchEnv) manySources(b *testing.B) []client.Item {
	items := make([]client.Item, manyFiles)
	for i := range items {
		p := filepath.Join(e.local, fmt.Sprintf("small%04d", i))
		if err := os.WriteFile(p, randomData(manySize, uint64(i)), 0o600); err != nil {
			b.Fatal(err)
		}
		items[i] = client.Item{Local: p}
	}
	return items
}

func reportFiles(b *testing.B) {
	b.ReportMetric(float64(manyFiles*b.N)/b.Elapsed().Seconds(), "files/s")
}

func BenchmarkMput1000x4KiB(b *testing.B) {
	e := newBenchEnv(b, false)
	items := e.manySources(b)
	c := e.login(b)
	b.SetBytes(manyFiles * manySize)
	b.ResetTimer()
	for b.Loop() {
		if err := c.PutMany(context.Background(), items, client.Options{}, nil); err != nil {
			b.Fatal(err)
		}
	}
	reportFiles(b)
}

func BenchmarkMget1000x4KiB(b *testing.B) {
	e := newBenchEnv(b, false)
	items := e.manySources(b)
	c := e.login(b)
	if err := c.PutMany(context.Background(), items, client.Options{}, nil); err != nil {
		b.Fatal(err)
	}
	out := filepath.Join(e.local, "out")
	if err := os.Mkdir(out, 0o700); err != nil {
		b.Fatal(err)
	}
	gets := make([]client.Item, len(items))
	for i, it := range items {
		gets[i] = client.Item{Remote: filepath.Base(it.Local), Local: out}
	}
	b.SetBytes(manyFiles * manySize)
	b.ResetTimer()
	for b.Loop() {
		if err := c.GetMany(context.Background(), gets, client.Options{NoResume: true}, nil); err != nil {
			b.Fatal(err)
		}
	}
	reportFiles(b)
}

// BenchmarkConcurrentPut32x32MiB has 32 sessions (the default pool size) upload a file each at
// the same time; MB/s is the aggregate.
func BenchmarkConcurrentPut32x32MiB(b *testing.B) {
	const sessions = 32
	e := newBenchEnv(b, false)
	size := benchSize(b, "MYFTP_BENCH_CONC_SIZE", 4*MiB)
	src := e.source(b, "conc.bin", size)
	clients := make([]*client.Client, sessions)
	for i := range clients {
		clients[i] = e.login(b)
	}
	b.SetBytes(sessions * size)
	b.ResetTimer()
	for b.Loop() {
		var wg sync.WaitGroup
		errs := make(chan error, sessions)
		for i, c := range clients {
			wg.Go(func() {
				if _, err := c.Put(context.Background(), src, fmt.Sprintf("conc%02d.bin", i), client.Options{NoResume: true}); err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			b.Fatal(err)
		}
	}
}
