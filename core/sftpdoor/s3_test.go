package sftpdoor_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/myftp/myftp/core/server/servertest"
	"github.com/myftp/myftp/lib/storage/s3"
	"github.com/myftp/myftp/lib/storage/s3/s3test"
)

// TestSFTPOnS3: with the homes in an S3 bucket (a real MinIO on loopback), OpenSSH's sftp puts
// files of several parts, gets them back byte-identical, lists, renames and removes them, and
// scp -p keeps a file's time; a file written in shuffled pieces (the door holds those that come
// ahead of a gap until it is filled: a bucket takes data in order only) is stored byte-identical;
// a server started afresh on the bucket counts the same usage.
func TestSFTPOnS3(t *testing.T) {
	t.Parallel()
	b, err := s3.New(s3test.Bucket(t))
	must(t, err)
	e := start(t, servertest.Options{Backend: b})
	u := e.user("alice", 256<<20)
	dir := t.TempDir()
	must(t, os.Mkdir(filepath.Join(dir, "back"), 0o755))
	sizes := []int{0, 1, 3*s3.MinPartSize + 777, 40 << 20}
	var batch strings.Builder
	batch.WriteString("mkdir d\n")
	for i, n := range sizes {
		writeFile(t, dir, fmt.Sprintf("f%d", n), randomBytes(uint64(i), n))
		fmt.Fprintf(&batch, "put f%d d/f%d\n", n, n)
	}
	batch.WriteString("ls -l d\n")
	for _, n := range sizes {
		fmt.Fprintf(&batch, "get d/f%d back/f%d\n", n, n)
	}
	fmt.Fprintf(&batch, "rename d/f%d d/renamed\nget d/renamed back/renamed\nrm d/f0\n", sizes[3])
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(e.serverLog())
		}
	})
	out := e.sftpOK(keyLogin(u), dir, batch.String())
	for _, n := range sizes {
		name := fmt.Sprintf("f%d", n)
		sameFile(t, filepath.Join(dir, "back", name), filepath.Join(dir, name))
		if !listed(out, name, int64(n)) {
			t.Errorf("ls -l does not show %s with %d bytes:\n%s", name, n, out)
		}
	}
	sameFile(t, filepath.Join(dir, "back", "renamed"), filepath.Join(dir, fmt.Sprintf("f%d", sizes[3])))

	_, c := e.dial(u)
	shuffled := randomBytes(30, s3.MinPartSize+12345)
	cs := chunks(0, len(shuffled), 4099)
	rand.New(rand.NewPCG(3, 4)).Shuffle(len(cs), func(i, j int) { cs[i], cs[j] = cs[j], cs[i] })
	f, err := c.Create("shuffled.bin")
	must(t, err)
	writeChunks(t, f, shuffled, cs)
	must(t, f.Close())
	e.sftpOK(keyLogin(u), dir, "get shuffled.bin back/shuffled.bin\n")
	sameBytes(t, filepath.Join(dir, "back", "shuffled.bin"), shuffled)

	want := int64(sizes[1] + sizes[2] + sizes[3] + len(shuffled))
	if counted, measured := e.Usage("alice"); counted != want || measured != want {
		t.Errorf("usage: the server counts %d, a fresh measure of the bucket %d; want %d", counted, measured, want)
	}
}
