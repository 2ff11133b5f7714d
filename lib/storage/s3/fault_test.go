package s3_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/myftp/myftp/lib/storage"
	"github.com/myftp/myftp/lib/storage/s3"
)

// envMinIO names the MinIO binary that tests which stop and restart the store start themselves
// (.ci/run sets it to the binary it built).
const envMinIO = "MYFTP_TEST_MINIO"

// minioServer is a MinIO of the test's own, on loopback, that it can stop and start again on the
// same port and data.
type minioServer struct {
	bin, dir, addr string
	cmd            *exec.Cmd
}

func startMinIO(t *testing.T) *minioServer {
	t.Helper()
	bin := os.Getenv(envMinIO)
	if bin == "" {
		msg := "no MinIO binary: bash .ci/run builds one and sets " + envMinIO
		if os.Getenv("MYFTP_REQUIRE_S3") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	m := &minioServer{bin: bin, dir: t.TempDir(), addr: addr}
	m.start(t)
	t.Cleanup(m.stop)
	return m
}

func (m *minioServer) start(t *testing.T) {
	t.Helper()
	console, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	consoleAddr := console.Addr().String()
	console.Close()
	m.cmd = exec.Command(m.bin, "server", "--quiet", "--address", m.addr, "--console-address", consoleAddr, m.dir)
	m.cmd.Env = append(os.Environ(), "MINIO_ROOT_USER=fault-test", "MINIO_ROOT_PASSWORD=fault-test-secret", "MINIO_BROWSER=off")
	if err := m.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + m.addr + "/minio/health/live")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("MinIO did not start on %s: %v", m.addr, err)
		}
		time.Sleep(50 * time.Millisecond) // polling a bounded wait for a process to listen
	}
}

func (m *minioServer) stop() {
	if m.cmd != nil && m.cmd.Process != nil {
		m.cmd.Process.Kill()
		m.cmd.Wait()
		m.cmd = nil
	}
}

// TestStoreRestartedMidUpload: the store is killed while an upload is being stored; the upload
// fails with ErrUnavailable and nothing is published; once the store is back, a resume from
// another backend continues at the last whole part and publishes the exact file.
func TestStoreRestartedMidUpload(t *testing.T) {
	m := startMinIO(t)
	creds := credentials.NewStaticV4("fault-test", "fault-test-secret", "")
	opts := s3.Options{Endpoint: "http://" + m.addr, Bucket: "fault", PathStyle: true, Credentials: creds, PartSize: s3.MinPartSize, MaxRetries: 1}
	client, err := minio.New(m.addr, &minio.Options{Creds: creds, BucketLookup: minio.BucketLookupPath})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := client.MakeBucket(ctx, opts.Bucket, minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 4*s3.MinPartSize+1234)
	rand.Read(data)

	h := home(t, open(t, opts), "erin")
	p, err := h.Partial(ctx, "up", "file.bin", storage.PartialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Write(data[:2*s3.MinPartSize]); err != nil {
		t.Fatal(err)
	}
	if err := p.Sync(); err != nil {
		t.Fatal(err)
	}
	m.stop()
	_, werr := p.Write(data[2*s3.MinPartSize : 3*s3.MinPartSize])
	if werr == nil {
		werr = p.Sync()
	}
	if !errors.Is(werr, storage.ErrUnavailable) {
		t.Fatalf("writing with the store down: %v, want ErrUnavailable", werr)
	}
	p.Close()

	m.start(t)
	if _, err := h.Stat(ctx, "file.bin"); !errors.Is(err, storage.ErrNotExist) {
		t.Fatalf("after the failure the file is visible: %v", err)
	}
	h2 := home(t, open(t, opts), "erin")
	p, err = h2.Partial(ctx, "up", "file.bin", storage.PartialOptions{Resume: true})
	if err != nil {
		t.Fatal(err)
	}
	if p.Size() != 2*s3.MinPartSize {
		t.Fatalf("resumed at %d, want the 2 parts stored before the failure (%d)", p.Size(), 2*s3.MinPartSize)
	}
	if _, err := p.Write(data[p.Size():]); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Publish(ctx, time.Time{}, nil); err != nil {
		t.Fatal(err)
	}
	if got := read(t, h2, "file.bin"); !bytes.Equal(got, data) {
		t.Fatalf("published %d bytes that differ from the %d sent", len(got), len(data))
	}
}
