package server_test

// Benchmarks of what must not grow with what a user already has. MYFTP_BENCH_FILES sets the number
// of files (default 20000; 100000 for the full figure).

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/myftp/myftp/lib/client"
	"github.com/myftp/myftp/lib/proto"
)

func benchFiles(b *testing.B) int {
	s := os.Getenv("MYFTP_BENCH_FILES")
	if s == "" {
		return 20000
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		b.Fatalf("MYFTP_BENCH_FILES=%q: want a positive number", s)
	}
	return n
}

// fillDir puts n files into dir: one real 4 KiB file and hard links to it, which is fast to make
// and counts as n directory entries and n files of usage.
func fillDir(b *testing.B, dir string, n int) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		b.Fatal(err)
	}
	first := filepath.Join(dir, "f0000000")
	if err := os.WriteFile(first, randomData(4096, 1), 0o600); err != nil {
		b.Fatal(err)
	}
	for i := 1; i < n; i++ {
		if err := os.Link(first, filepath.Join(dir, fmt.Sprintf("f%07d", i))); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPut4KiB compares a small upload into an empty home with one into a home that already
// holds many files (the target: within 20%). Each iteration uploads a new name.
func BenchmarkPut4KiB(b *testing.B) {
	for _, full := range []bool{false, true} {
		name := "empty"
		if full {
			name = "files=" + strconv.Itoa(benchFiles(b))
		}
		b.Run(name, func(b *testing.B) {
			e := newBenchEnv(b, false)
			if full {
				fillDir(b, filepath.Join(e.Home(xUser), "data"), benchFiles(b))
			}
			src := e.source(b, "small.bin", 4096)
			c := e.login(b)
			if _, err := c.Mkdir("data", true); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := range b.N {
				if _, err := c.Put(context.Background(), src, fmt.Sprintf("data/new%07d", i), client.Options{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDirHuge lists a directory of many entries in long form (the target: under 1 s for
// 100,000) and reports how much the server's heap grew at most while it streamed (the target:
// flat, not in proportion to the directory). The client only counts the entries.
func BenchmarkDirHuge(b *testing.B) {
	n := benchFiles(b)
	e := newBenchEnv(b, false)
	fillDir(b, filepath.Join(e.Home(xUser), "big"), n)
	c := e.login(b)
	var peak atomic.Uint64
	b.ResetTimer()
	for range b.N {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		base := ms.HeapInuse
		stop := sampleHeap(base, &peak)
		count := 0
		err := c.List("big", true, func(proto.Entry) error { count++; return nil })
		stop()
		if err != nil || count != n {
			b.Fatalf("listed %d of %d entries: %v", count, n, err)
		}
	}
	b.ReportMetric(float64(n), "entries")
	b.ReportMetric(float64(peak.Load())/(1<<20), "MiB-heap-growth")
}

// sampleHeap records the largest heap growth over base until the returned func is called.
func sampleHeap(base uint64, peak *atomic.Uint64) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > base && ms.HeapInuse-base > peak.Load() {
				peak.Store(ms.HeapInuse - base)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(done); <-finished }
}
