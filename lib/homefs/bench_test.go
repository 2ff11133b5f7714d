package homefs

// Benchmarks of the operations that change a home's quota accounting, on the local disk without
// fsync, so that the accounting is as large a share of their time as it gets. MYFTP_BENCH_DIR
// sets where the homes go (default: a temporary directory); /dev/shm takes the disk out of the
// figures:
//
//	MYFTP_BENCH_DIR=/dev/shm go test -run XXX -bench . -benchtime 2000x ./lib/homefs/

import (
	"fmt"
	"os"
	"testing"
)

// benchHome opens a home with room for whatever a benchmark does, in MYFTP_BENCH_DIR if set.
func benchHome(b *testing.B) *FS {
	base := b.TempDir()
	if dir := os.Getenv("MYFTP_BENCH_DIR"); dir != "" {
		var err error
		if base, err = os.MkdirTemp(dir, "myftp-bench-"); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { os.RemoveAll(base) })
	}
	s := NewStore(base, Options{DefaultMaxFiles: 1 << 40, MaxPartials: 1 << 20})
	f, err := s.Open("u", 1<<50)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.Close() })
	return f
}

// BenchmarkSmallUpload uploads a new 4 KiB file each time: a claim, a publish and their
// accounting.
func BenchmarkSmallUpload(b *testing.B) {
	f := benchHome(b)
	data := make([]byte, 4096)
	sum := md5hex(data)
	b.SetBytes(int64(len(data)))
	for i := 0; b.Loop(); i++ {
		u, err := f.BeginUpload(fmt.Sprintf("f%d", i), int64(len(data)), srcMtime, false, "")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := u.Write(data); err != nil {
			b.Fatal(err)
		}
		if _, err := u.Commit(sum); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStreamWrites streams a 1 MiB file in 4 KiB writes, each reserving quota as it grows.
func BenchmarkStreamWrites(b *testing.B) {
	f := benchHome(b)
	data := make([]byte, 4096)
	b.SetBytes(256 * int64(len(data)))
	for i := 0; b.Loop(); i++ {
		s, err := f.BeginStream(fmt.Sprintf("s%d", i), 0)
		if err != nil {
			b.Fatal(err)
		}
		for range 256 {
			if _, err := s.Write(data); err != nil {
				b.Fatal(err)
			}
		}
		if _, _, err := s.Commit(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMkdirRemove makes a directory and removes it again.
func BenchmarkMkdirRemove(b *testing.B) {
	f := benchHome(b)
	for b.Loop() {
		if _, err := f.Mkdir("d", false); err != nil {
			b.Fatal(err)
		}
		if err := f.Rmdir("d"); err != nil {
			b.Fatal(err)
		}
	}
}
