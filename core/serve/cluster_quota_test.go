package serve_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/myftp/myftp/lib/client"
	"github.com/myftp/myftp/lib/pgdb/pgtest"
	"github.com/myftp/myftp/lib/proto"
	"github.com/myftp/myftp/lib/storage/s3/s3test"
)

// TestQuotaRaceAcrossNodes: two servers on one PostgreSQL database and one bucket; one account
// uploads from both at once, each upload fitting the quota alone but not both together: in every
// round exactly one is stored, the other is told it passes the quota, and the usage each node
// reports afterwards is what the bucket holds.
func TestQuotaRaceAcrossNodes(t *testing.T) {
	roots, nodes := twoNodes(t, "3MiB")
	var notes []string
	var clients [2]*client.Client
	for i, n := range nodes {
		clients[i] = dial(t, n, filepath.Join(t.TempDir(), "known_hosts"), &notes)
		if err := clients[i].Login("bob", password); err != nil {
			t.Fatal(err)
		}
	}
	src := filepath.Join(t.TempDir(), "two.bin")
	data := make([]byte, 2<<20)
	rand.Read(data)
	if err := os.WriteFile(src, data, 0o600); err != nil {
		t.Fatal(err)
	}
	for round := range 4 {
		var errs [2]error
		var wg sync.WaitGroup
		for i, c := range clients {
			wg.Go(func() {
				_, errs[i] = c.Put(context.Background(), src, fmt.Sprintf("r%d-n%d", round, i), client.Options{})
			})
		}
		wg.Wait()
		won := -1
		for i, err := range errs {
			if err == nil && code(errs[1-i]) == proto.CodeQuota {
				won = i
			}
		}
		if won < 0 {
			t.Fatalf("round %d: %v; want one upload stored and the other refused for the quota", round, errs)
		}
		if msg := errs[1-won].Error(); !strings.Contains(msg, "quota") {
			t.Errorf("round %d: the loser heard %q; want it told why", round, msg)
		}
		if err := clients[1-won].Rm(fmt.Sprintf("r%d-n%d", round, won)); err != nil { // the other node frees it
			t.Fatalf("round %d: rm on the other node: %v", round, err)
		}
	}
	out := createUser(t, roots[1], "", 0, "list")
	if !strings.Contains(out, "bob") || !strings.Contains(out, " 0 B") {
		t.Errorf("create_user list after every file was removed: %q; want bob using 0 B", out)
	}
}

// twoNodes starts two servers on one PostgreSQL database and one bucket, with the account bob
// (quota quota), and returns their roots and themselves.
func twoNodes(t *testing.T, quota string) ([2]string, [2]*running) {
	t.Helper()
	// Not parallel: the S3 credentials are in the process's environment, as an operator sets them.
	opts := s3test.Bucket(t)
	t.Setenv("AWS_ACCESS_KEY_ID", os.Getenv(s3test.EnvAccess))
	t.Setenv("AWS_SECRET_ACCESS_KEY", os.Getenv(s3test.EnvSecret))
	conf := settings + fmt.Sprintf("backend = \"s3\"\n[storage.s3]\nendpoint = %q\nbucket = %q\npath_style = true\npart_size = \"5MiB\"\n"+
		"[accounts]\nbackend = \"postgres\"\ndsn = %q\n", opts.Endpoint, opts.Bucket, pgtest.Database(t))
	roots := [2]string{t.TempDir(), t.TempDir()}
	for _, root := range roots {
		if err := os.MkdirAll(filepath.Join(root, "conf"), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, "conf", "settings.toml"), []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	createUser(t, roots[0], password+"\n", 0, "--account", "bob", "--quota", quota, "--password-stdin")
	var nodes [2]*running
	for i, root := range roots {
		nodes[i] = start(t, root)
		if out := strings.Join(nodes[i].stdout, "\n"); !strings.Contains(out, "quotas kept in the PostgreSQL database") {
			t.Fatalf("node %d: stdout %q: want the shared quotas named", i, out)
		}
	}
	return roots, nodes
}

// TestSamePathOnTwoNodes: two clients upload different data to one name at once, each through
// its own node: while one uploads, the other is told the file is busy (450), as on one node; the
// file stored is whole, one or the other, and the quota counts it once. (Before the nodes held
// the paths they upload in PostgreSQL, the second upload took over the first one's unfinished
// upload on S3, and a download could fail its checksum.)
func TestSamePathOnTwoNodes(t *testing.T) {
	roots, nodes := twoNodes(t, "100MiB")
	var notes []string
	dir := t.TempDir()
	var srcs [2]string
	var datas [2][]byte
	for i := range srcs {
		datas[i] = make([]byte, 12<<20) // three parts of 5 MiB
		rand.Read(datas[i])
		srcs[i] = filepath.Join(dir, fmt.Sprintf("src%d", i))
		if err := os.WriteFile(srcs[i], datas[i], 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for round := range 3 {
		var errs [2]error
		var wg sync.WaitGroup
		for i, n := range nodes {
			c := dial(t, n, filepath.Join(t.TempDir(), "known_hosts"), &notes)
			if err := c.Login("bob", password); err != nil {
				t.Fatal(err)
			}
			wg.Go(func() { _, errs[i] = c.Put(context.Background(), srcs[i], "same.bin", client.Options{}) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil && (code(err) != proto.CodeFileBusy || errs[1-i] != nil) {
				t.Fatalf("round %d: %v; want each stored, or one told the file is busy", round, errs)
			}
		}
		back := filepath.Join(dir, fmt.Sprintf("back%d", round))
		c := dial(t, nodes[round%2], filepath.Join(t.TempDir(), "known_hosts"), &notes)
		if err := c.Login("bob", password); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Get(context.Background(), "same.bin", back, client.Options{}); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(back)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, datas[0]) && !bytes.Equal(got, datas[1]) {
			t.Fatalf("round %d: same.bin is neither upload (%d bytes)", round, len(got))
		}
	}
	if out := createUser(t, roots[0], "", 0, "list"); !strings.Contains(out, "12 MiB") {
		t.Errorf("create_user list: %q; want bob using 12 MiB, the one file", out)
	}
	for i, n := range nodes { // what the shared count says, from each node
		c := dial(t, n, filepath.Join(t.TempDir(), "known_hosts"), &notes)
		if err := c.Login("bob", password); err != nil {
			t.Fatal(err)
		}
		if used, _, err := c.Quota(); err != nil || used != 12<<20 {
			t.Errorf("node %d counts %d bytes used (%v); want 12 MiB", i, used, err)
		}
	}
}
