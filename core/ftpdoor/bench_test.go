package ftpdoor_test

// Throughput of the FTP door with curl as the client: one big upload and download per
// iteration, over FTPS (explicit TLS, protected data, session reuse required, strict TLS EOF: the
// defaults) and over plain FTP. The server runs in this process (fsync on, as by default), curl
// in a process of its own; the time includes curl's start and login, which a big file makes
// negligible. Environment:
//
//	MYFTP_BENCH_DIR   where the server root and the local files go (default: a temporary
//	                  directory); /dev/shm takes the disk out of the figures
//	MYFTP_BENCH_SIZE  size of the file (default 64MiB; 1GiB for the full figure)
//
// For example:
//
//	MYFTP_BENCH_DIR=/dev/shm MYFTP_BENCH_SIZE=1GiB \
//	    go test -run '^$' -bench Curl -benchtime 3x ./core/ftpdoor/

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/myftp/myftp/core/ftpdoor"
	"github.com/myftp/myftp/core/server/servertest"
	"github.com/myftp/myftp/lib/bytesize"
	"github.com/myftp/myftp/lib/homefs"
)

func BenchmarkCurl(b *testing.B) {
	size := int64(64 << 20)
	if s := os.Getenv("MYFTP_BENCH_SIZE"); s != "" {
		n, err := bytesize.Parse(s)
		if err != nil || n <= 0 {
			b.Fatalf("MYFTP_BENCH_SIZE=%q: %v", s, err)
		}
		size = n
	}
	dir := b.TempDir()
	if base := os.Getenv("MYFTP_BENCH_DIR"); base != "" {
		var err error
		if dir, err = os.MkdirTemp(base, "myftp-ftp-bench-"); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { os.RemoveAll(dir) })
	}
	local := filepath.Join(dir, "local")
	must(b, os.MkdirAll(local, 0o700))
	writeBig(b, filepath.Join(local, "big.bin"), size)

	for _, mode := range []struct {
		name string
		tls  ftpdoor.TLSMode
	}{{"FTPS", ftpdoor.TLSRequired}, {"FTP", ftpdoor.TLSOff}} {
		fc := doorDefaults()
		fc.TLSMode = mode.tls
		e := start(b, servertest.Options{FTP: &fc, Dir: filepath.Join(dir, mode.name), Store: homefs.Options{Fsync: true}})
		e.AddUser("bench", "bench-pw", 1<<50)
		b.Run(mode.name+"/put", func(b *testing.B) {
			b.SetBytes(size)
			for b.Loop() {
				wantOK(b, "curl -T", e.curl(b, local, "bench", "-T", "big.bin", "/big.bin"))
			}
		})
		b.Run(mode.name+"/get", func(b *testing.B) {
			b.SetBytes(size)
			for b.Loop() {
				wantOK(b, "curl -o", e.curl(b, local, "bench", "/big.bin", "-o", "got.bin"))
			}
		})
		e.Stop()
	}
}

// writeBig writes size random bytes to p, a MiB at a time.
func writeBig(b *testing.B, p string, size int64) {
	f, err := os.Create(p)
	must(b, err)
	r := rand.NewChaCha8([32]byte{42})
	buf := make([]byte, 1<<20)
	for left := size; left > 0; left -= int64(len(buf)) {
		r.Read(buf)
		if _, err := f.Write(buf[:min(left, int64(len(buf)))]); err != nil {
			b.Fatal(err)
		}
	}
	must(b, f.Close())
}
