package serve_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/myftp/myftp/lib/client"
)

// TestMetrics: with [metrics] listen set, myftps says where, and a scrape of /metrics counts the
// logins (a wrong password too), the sessions and the transfers of the native door, with their
// bytes, and a put refused for the quota; /healthz answers ok while it serves.
func TestMetrics(t *testing.T) {
	t.Parallel()
	root := newRoot(t, settings+"\n[metrics]\nlisten = \"127.0.0.1:0\"\n")
	r := start(t, root)
	var addr string
	deadline := time.After(20 * time.Second)
	for addr == "" {
		select {
		case line := <-r.lines:
			addr, _ = strings.CutPrefix(line, "metrics listening on ")
		case <-deadline:
			t.Fatalf("myftps did not say where its metrics are; stdout %q", r.stdout)
		}
	}
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, body := get("/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("/healthz: %d %q, want 200 ok", code, body)
	}
	var notes []string
	known := filepath.Join(t.TempDir(), "known_hosts")
	bad := dial(t, r, known, &notes)
	if err := bad.Login("bob", "not-the-password"); err == nil {
		t.Fatal("a wrong password was accepted")
	}
	c := dial(t, r, known, &notes)
	if err := c.Login("bob", password); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(t.TempDir(), "a.bin")
	if err := os.WriteFile(src, make([]byte, 1000), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Put(context.Background(), src, "a.bin", client.Options{}); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(t.TempDir(), "big.bin")
	if err := os.WriteFile(big, make([]byte, 2<<20), 0o600); err != nil { // bob's quota is 1 MiB
		t.Fatal(err)
	}
	if _, err := c.Put(context.Background(), big, "big.bin", client.Options{}); err == nil {
		t.Fatal("a put past the quota succeeded")
	}
	// A link planted in the home that points out of it: following it is refused, with a warning.
	if err := os.Symlink("/etc", filepath.Join(root, "file_upload", "bob", "out")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Cd("out"); err == nil {
		t.Fatal("cd through a link out of the home succeeded")
	}
	_, body := get("/metrics")
	for _, want := range []string{
		`myftp_log_events_total{level="warn"} 1`,
		`myftp_log_events_total{level="error"} 0`,
		`myftp_logins_total{door="myftp",result="ok"} 1`,
		`myftp_logins_total{door="myftp",result="failed"} 1`,
		`myftp_sessions_total{door="myftp"} 1`,
		`myftp_transfers_total{direction="upload",door="myftp",result="complete"} 1`,
		`myftp_transfer_bytes_total{direction="upload",door="myftp"} 1000`,
		`myftp_quota_refusals_total 1`,
		`myftp_connections_served 2`,
		`myftp_pool_size `,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics has no %q", want)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", body)
	}
}
