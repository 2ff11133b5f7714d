package serve_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/myftp/myftp/core/admin"
	"github.com/myftp/myftp/lib/client"
	"github.com/myftp/myftp/lib/storage/s3/s3test"
)

// TestServeOnS3: myftps run with [storage] backend = "s3" and the credentials in the standard AWS
// environment variables says where the homes are, stores an upload in the bucket under the
// prefix and serves it back; create_user lists the home's usage there, and delete --remove-home
// empties it.
func TestServeOnS3(t *testing.T) {
	// Not parallel: the credentials are in the process's environment, as an operator sets them.
	opts := s3test.Bucket(t)
	t.Setenv("AWS_ACCESS_KEY_ID", os.Getenv(s3test.EnvAccess))
	t.Setenv("AWS_SECRET_ACCESS_KEY", os.Getenv(s3test.EnvSecret))
	root := newRoot(t, settings+fmt.Sprintf(`backend = "s3"
[storage.s3]
endpoint = %q
bucket = %q
prefix = "homes"
path_style = true
part_size = "5MiB"
`, opts.Endpoint, opts.Bucket))
	r := start(t, root)
	want := fmt.Sprintf("homes on s3: bucket %s at %s", opts.Bucket, opts.Endpoint)
	if !strings.Contains(strings.Join(r.stdout, "\n"), want) {
		t.Errorf("stdout %q: want %q", r.stdout, want)
	}
	var notes []string
	c := dial(t, r, filepath.Join(t.TempDir(), "known_hosts"), &notes)
	if err := c.Login("bob", password); err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 700<<10)
	rand.Read(data)
	local := t.TempDir()
	src := filepath.Join(local, "a.bin")
	if err := os.WriteFile(src, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Put(context.Background(), src, "a.bin", client.Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(context.Background(), "a.bin", filepath.Join(local, "back.bin"), client.Options{}); err != nil {
		t.Fatal(err)
	}
	if back, err := os.ReadFile(filepath.Join(local, "back.bin")); err != nil || !bytes.Equal(back, data) {
		t.Fatalf("the file came back different (%v)", err)
	}
	store, err := minio.New(strings.TrimPrefix(opts.Endpoint, "http://"), &minio.Options{Creds: opts.Credentials, BucketLookup: minio.BucketLookupPath})
	if err != nil {
		t.Fatal(err)
	}
	if oi, err := store.StatObject(context.Background(), opts.Bucket, "homes/bob/a.bin", minio.StatObjectOptions{}); err != nil || oi.Size != int64(len(data)) {
		t.Fatalf("the object homes/bob/a.bin: %+v, %v", oi, err)
	}
	c.Close()

	var out, errs bytes.Buffer
	if code := admin.Main(context.Background(), []string{"--root", root, "list"}, strings.NewReader(""), &out, &errs); code != 0 {
		t.Fatalf("create_user list: exit %d: %s", code, &errs)
	}
	if !strings.Contains(out.String(), "700 KiB") {
		t.Errorf("create_user list: %q, want bob's 700 KiB", &out)
	}
	out.Reset()
	if code := admin.Main(context.Background(), []string{"--root", root, "delete", "--remove-home", "bob"}, strings.NewReader(""), &out, &errs); code != 0 {
		t.Fatalf("create_user delete --remove-home: exit %d: %s", code, &errs)
	}
	for oi := range store.ListObjects(context.Background(), opts.Bucket, minio.ListObjectsOptions{Prefix: "homes/bob/", Recursive: true}) {
		t.Errorf("left in the bucket after delete --remove-home: %s (%v)", oi.Key, oi.Err)
	}
}
