// Package s3test gives tests a bucket of their own on a real S3 server on loopback: the one
// .ci/run starts (MinIO), named by the environment variables MYFTP_TEST_S3_ENDPOINT,
// MYFTP_TEST_S3_ACCESS_KEY and MYFTP_TEST_S3_SECRET_KEY. Without them a test that asks for a
// bucket is skipped, saying how to run it, unless MYFTP_REQUIRE_S3 is set (CI), when it fails.
// Tests that stop and restart the store start a MinIO of their own (StartMinIO), from the binary
// .ci/run built.
package s3test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/myftp/myftp/lib/storage/s3"
)

// The variables that name the test server.
const (
	EnvEndpoint = "MYFTP_TEST_S3_ENDPOINT" // http://127.0.0.1:PORT
	EnvAccess   = "MYFTP_TEST_S3_ACCESS_KEY"
	EnvSecret   = "MYFTP_TEST_S3_SECRET_KEY"
	EnvRequire  = "MYFTP_REQUIRE_S3"
)

// Server returns the test server's endpoint and credentials, or skips the test.
func Server(t testing.TB) (endpoint string, creds *credentials.Credentials) {
	t.Helper()
	endpoint = os.Getenv(EnvEndpoint)
	if endpoint == "" {
		msg := "no S3 server: bash .ci/run starts a MinIO on loopback and sets " + EnvEndpoint + ", " + EnvAccess + " and " + EnvSecret
		if os.Getenv(EnvRequire) != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	if !strings.HasPrefix(endpoint, "http://127.") && !strings.HasPrefix(endpoint, "http://[::1]") {
		t.Fatalf("%s=%s: tests only use a server on loopback", EnvEndpoint, endpoint)
	}
	return endpoint, credentials.NewStaticV4(os.Getenv(EnvAccess), os.Getenv(EnvSecret), "")
}

// Bucket makes a bucket of the test's own on the test server, removed with all it holds when the
// test ends, and returns the options of a backend on it: parts of the smallest size S3 allows,
// so that tests cross part boundaries with little data.
func Bucket(t testing.TB) s3.Options {
	t.Helper()
	endpoint, creds := Server(t)
	var b [6]byte
	rand.Read(b[:])
	name := "myftp-test-" + hex.EncodeToString(b[:])
	client, err := minio.New(strings.TrimPrefix(endpoint, "http://"), &minio.Options{Creds: creds, BucketLookup: minio.BucketLookupPath})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := client.MakeBucket(ctx, name, minio.MakeBucketOptions{}); err != nil {
		t.Fatalf("make bucket: %v", err)
	}
	t.Cleanup(func() {
		if err := client.RemoveBucketWithOptions(ctx, name, minio.RemoveBucketOptions{ForceDelete: true}); err != nil {
			t.Errorf("remove bucket %s: %v", name, err)
		}
	})
	return s3.Options{Endpoint: endpoint, Bucket: name, PathStyle: true, Credentials: creds, PartSize: s3.MinPartSize, MaxRenameObjects: 50}
}
