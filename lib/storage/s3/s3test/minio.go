package s3test

import (
	"context"
	"net"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/myftp/myftp/lib/storage/s3"
)

// EnvMinIO names the MinIO binary that tests which stop and restart the store start themselves
// (.ci/run sets it to the binary it built).
const EnvMinIO = "MYFTP_TEST_MINIO"

// MinIO is a MinIO of the test's own, on loopback, that it can stop and start again on the
// same port and data.
type MinIO struct {
	bin, dir string
	Addr     string // HOST:PORT on loopback
	cmd      *exec.Cmd
}

// StartMinIO starts a MinIO of the test's own, stopped when the test ends; it skips the test
// (fails it under MYFTP_REQUIRE_S3) when EnvMinIO names no binary.
func StartMinIO(t *testing.T) *MinIO {
	t.Helper()
	bin := os.Getenv(EnvMinIO)
	if bin == "" {
		msg := "no MinIO binary: bash .ci/run builds one and sets " + EnvMinIO
		if os.Getenv(EnvRequire) != "" {
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
	m := &MinIO{bin: bin, dir: t.TempDir(), Addr: addr}
	m.Start(t)
	t.Cleanup(m.Stop)
	return m
}

// Start starts the server (again, on the same port and data).
func (m *MinIO) Start(t *testing.T) {
	t.Helper()
	console, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	consoleAddr := console.Addr().String()
	console.Close()
	m.cmd = exec.Command(m.bin, "server", "--quiet", "--address", m.Addr, "--console-address", consoleAddr, m.dir)
	m.cmd.Env = append(os.Environ(), "MINIO_ROOT_USER=fault-test", "MINIO_ROOT_PASSWORD=fault-test-secret", "MINIO_BROWSER=off")
	if err := m.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Up once it answers the S3 API: its liveness probe answers before it has initialised its
	// store, when requests still fail with "Server not initialized yet".
	client, err := minio.New(m.Addr, &minio.Options{Creds: m.Credentials(), BucketLookup: minio.BucketLookupPath})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := client.ListBuckets(ctx)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("MinIO did not start on %s: %v", m.Addr, err)
		}
		time.Sleep(50 * time.Millisecond) // polling a bounded wait for a process to be ready
	}
}

// Stop kills the server, as a crash would.
func (m *MinIO) Stop() {
	if m.cmd != nil && m.cmd.Process != nil {
		m.cmd.Process.Kill()
		m.cmd.Wait()
		m.cmd = nil
	}
}

// Credentials are those of every MinIO that StartMinIO starts.
func (m *MinIO) Credentials() *credentials.Credentials {
	return credentials.NewStaticV4("fault-test", "fault-test-secret", "")
}

// Bucket makes the bucket name on the server and returns the options of a backend on it, with
// parts of the smallest size and one retry, so that a stopped server fails requests quickly.
func (m *MinIO) Bucket(t *testing.T, name string) s3.Options {
	t.Helper()
	client, err := minio.New(m.Addr, &minio.Options{Creds: m.Credentials(), BucketLookup: minio.BucketLookupPath})
	if err != nil {
		t.Fatal(err)
	}
	if err := client.MakeBucket(context.Background(), name, minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	return s3.Options{Endpoint: "http://" + m.Addr, Bucket: name, PathStyle: true, Credentials: m.Credentials(),
		PartSize: s3.MinPartSize, MaxRetries: 1}
}
