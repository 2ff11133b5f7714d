package ftpdoor_test

import (
	"path/filepath"
	"testing"

	"github.com/myftp/myftp/core/server/servertest"
	"github.com/myftp/myftp/lib/storage/s3"
	"github.com/myftp/myftp/lib/storage/s3/s3test"
)

// TestCurlOnS3: with the homes in an S3 bucket (a real MinIO on loopback), curl over FTPS uploads
// files of several parts, downloads them byte-identical, appends to one (APPE: the stored object
// is copied into a new upload and continued), lists, renames and deletes; the quota counts what
// the bucket holds.
func TestCurlOnS3(t *testing.T) {
	t.Parallel()
	b, err := s3.New(s3test.Bucket(t))
	must(t, err)
	e := start(t, servertest.Options{Backend: b})
	e.user("alice", 64<<20)
	local := t.TempDir()
	a, more := randomBytes(1, 2*s3.MinPartSize+12345), randomBytes(2, 3<<20)
	writeFile(t, local, "a.bin", a)
	writeFile(t, local, "more.bin", more)

	wantOK(t, "upload", e.curl(t, local, "alice", "-T", "a.bin", "/docs/a.bin", "--ftp-create-dirs"))
	wantOK(t, "download", e.curl(t, local, "alice", "/docs/a.bin", "-o", "got-a.bin"))
	sameFile(t, filepath.Join(local, "got-a.bin"), a)

	wantOK(t, "append", e.curl(t, local, "alice", "-T", "more.bin", "--append", "/docs/a.bin"))
	wantOK(t, "download after append", e.curl(t, local, "alice", "/docs/a.bin", "-o", "got-a2.bin"))
	sameFile(t, filepath.Join(local, "got-a2.bin"), append(append([]byte{}, a...), more...))

	r := e.curl(t, local, "alice", "--list-only", "/docs/")
	wantOK(t, "NLST", r)
	if got := sorted(splitLines(r.stdout)); len(got) != 1 || got[0] != "a.bin" {
		t.Errorf("NLST /docs: %q, want a.bin", r.stdout)
	}
	wantOK(t, "rename", e.curl(t, local, "alice", "/", "-Q", "RNFR docs/a.bin", "-Q", "RNTO b.bin"))
	wantOK(t, "download renamed", e.curl(t, local, "alice", "/b.bin", "-o", "got-b.bin"))
	sameFile(t, filepath.Join(local, "got-b.bin"), append(append([]byte{}, a...), more...))
	if counted, measured := e.Usage("alice"); counted != int64(len(a)+len(more)) || measured != counted {
		t.Errorf("usage: the server counts %d, a fresh measure of the bucket %d; want %d, the one file", counted, measured, len(a)+len(more))
	}
	wantOK(t, "delete", e.curl(t, local, "alice", "/", "-Q", "DELE b.bin"))
	if counted, measured := e.Usage("alice"); counted != 0 || measured != 0 {
		t.Errorf("usage after the delete: the server counts %d, a fresh measure %d; want 0", counted, measured)
	}
}
