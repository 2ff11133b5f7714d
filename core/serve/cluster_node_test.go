package serve_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/myftp/myftp/lib/storage/s3"
)

// clusterNode is one myftps of TestCluster: the real binary, run as a process of its own so that
// it can be killed, on a root of its own that shares the database, the bucket, the certificate
// and the host key with the other nodes.
type clusterNode struct {
	root   string
	cmd    *exec.Cmd
	exited chan struct{} // closed once the process has exited and been waited for
	state  *os.ProcessState
	// doors are the addresses it printed, by the word before "listening on": "" (native),
	// "ftp", "sftp", "metrics".
	doors       map[string]string
	fingerprint string // of its certificate
	hostKey     string // the fingerprint of its SSH host key
	quotaNode   string // the name its quota reservations are held under
}

// nodeConfig is what one node's settings say.
type nodeConfig struct {
	host            string // the loopback address of its doors, and its FTP public_host
	passive         string // its passive range, "FIRST-LAST"
	shared          string // the directory of the shared certificate, key and host key
	dsn             string
	s3              s3.Options
	shutdownTimeout string
}

// settings is the node's conf/settings.toml: the three doors and the metrics on the node's own
// address, the PROXY protocol from the balancer, the shared certificate and host key, accounts
// and quotas in PostgreSQL with a short lease, homes in the bucket, and no per-address or
// per-account limits (every client of the test comes from a few addresses).
func (n nodeConfig) settings() string {
	return fmt.Sprintf(`[server]
listen = "%[1]s:0"
pool_size = 100
shutdown_timeout = %[7]q
proxy_protocol = true
trusted_proxies = [%[2]q]
cert_file = %[3]q
key_file = %[4]q
[ftp]
listen = "%[1]s:0"
public_host = %[1]q
passive_ports = %[5]q
[sftp]
listen = "%[1]s:0"
host_key = %[6]q
[metrics]
listen = "%[1]s:0"
[limits]
max_per_address = 0
max_startups = 0
max_startups_per_address = 0
max_sessions_per_account = 0
throttle_after = 1000
[auth]
argon2_memory = "64KiB"
argon2_time = 1
[accounts]
backend = "postgres"
dsn = %[8]q
lease = "3s"
[storage]
fsync = false
backend = "s3"
[storage.s3]
endpoint = %[9]q
bucket = %[10]q
prefix = "homes"
path_style = true
part_size = "5MiB"
`, n.host, proxyIP, filepath.Join(n.shared, "server.crt"), filepath.Join(n.shared, "server.key"), n.passive,
		filepath.Join(n.shared, "ssh_host_ed25519_key"), n.shutdownTimeout, n.dsn, n.s3.Endpoint, n.s3.Bucket)
}

// writeRoot makes a runtime root with the node's settings.
func (n nodeConfig) writeRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "conf"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "conf", "settings.toml"), []byte(n.settings()), 0o600); err != nil {
		t.Fatal(err)
	}
	return root
}

// startNode runs myftps on root with the environment env and waits, at most 30 s, until it has
// said where its four listeners are; it is killed, if still running, when the test ends.
func startNode(t *testing.T, bin, root string, env []string) *clusterNode {
	t.Helper()
	n := &clusterNode{root: root, exited: make(chan struct{}), doors: map[string]string{}}
	n.cmd = exec.Command(filepath.Join(bin, "myftps"), "--root", root)
	n.cmd.Env = env
	stdout, err := n.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := n.cmd.Start(); err != nil {
		t.Fatalf("start myftps: %v", err)
	}
	go func() {
		n.cmd.Wait()
		n.state = n.cmd.ProcessState
		close(n.exited)
	}()
	t.Cleanup(func() {
		n.cmd.Process.Kill()
		<-n.exited
	})
	lines := make(chan string, 64)
	go readLines(stdout, lines)
	n.readStartup(t, lines)
	return n
}

// readLines sends the lines of r to lines while the channel has room, and drops the others, so
// that the process never blocks on a full pipe; it closes lines at the end of r.
func readLines(r io.Reader, lines chan<- string) {
	defer close(lines)
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		select {
		case lines <- sc.Text():
		default:
		}
	}
}

// nodeName finds the quota node's name in myftps's line "quotas kept in ... (node NAME)".
var nodeName = regexp.MustCompile(`^quotas kept in .*\(node (.+)\)$`)

// readStartup reads what myftps prints as it starts, until its metrics listen.
func (n *clusterNode) readStartup(t *testing.T, lines <-chan string) {
	t.Helper()
	var seen []string
	deadline := time.After(30 * time.Second)
	for n.doors["metrics"] == "" {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("myftps on %s ended while starting; stdout %q; log:\n%s", n.root, seen, n.eventLog(t))
			}
			seen = append(seen, line)
			n.parseLine(line)
		case <-deadline:
			t.Fatalf("myftps on %s did not say where its metrics are within 30 s; stdout %q", n.root, seen)
		}
	}
	for _, d := range []string{"", "ftp", "sftp"} {
		if n.doors[d] == "" || n.fingerprint == "" || n.hostKey == "" || n.quotaNode == "" {
			t.Fatalf("myftps on %s: stdout %q; want the three doors, the fingerprints and the quota node", n.root, seen)
		}
	}
}

// parseLine records what one line of myftps's stdout says.
func (n *clusterNode) parseLine(line string) {
	if fp, ok := strings.CutPrefix(line, "fingerprint "); ok {
		n.fingerprint = fp
	}
	if fp, ok := strings.CutPrefix(line, "sftp host key "); ok {
		n.hostKey = fp
	}
	if m := nodeName.FindStringSubmatch(line); m != nil {
		n.quotaNode = m[1]
	}
	if name, addr, ok := strings.Cut(line, "listening on "); ok {
		n.doors[strings.TrimSpace(name)] = addr
	}
}

// get asks the node's metrics endpoint for path and returns the status and the body.
func (n *clusterNode) get(t *testing.T, path string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+n.doors["metrics"]+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s of %s: %v", path, n.root, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s of %s: %v", path, n.root, err)
	}
	return resp.StatusCode, string(body)
}

// completeUploads matches the count of complete uploads of a door in /metrics.
var completeUploads = regexp.MustCompile(`(?m)^myftp_transfers_total\{direction="upload",door="(\w+)",result="complete"\} (\d+)$`)

// uploads returns the complete uploads the node has counted, by door.
func (n *clusterNode) uploads(t *testing.T) map[string]int {
	t.Helper()
	_, body := n.get(t, "/metrics")
	done := map[string]int{}
	for _, m := range completeUploads.FindAllStringSubmatch(body, -1) {
		done[m[1]], _ = strconv.Atoi(m[2])
	}
	return done
}

// running reports whether the process has not exited.
func (n *clusterNode) running() bool {
	select {
	case <-n.exited:
		return false
	default:
		return true
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (n *clusterNode) kill(t *testing.T) {
	t.Helper()
	if err := n.cmd.Process.Kill(); err != nil {
		t.Fatalf("kill myftps: %v", err)
	}
	<-n.exited
}

// terminate sends SIGTERM, as an operator or a service manager stops a node.
func (n *clusterNode) terminate(t *testing.T) {
	t.Helper()
	if err := n.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM to myftps: %v", err)
	}
}

// wait waits, at most d, for the process to exit, and returns its exit code.
func (n *clusterNode) wait(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case <-n.exited:
		return n.state.ExitCode()
	case <-time.After(d):
		t.Fatalf("myftps on %s did not exit within %v", n.root, d)
		return -1
	}
}

// eventLog returns the node's event log.
func (n *clusterNode) eventLog(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(n.root, "log", "myftps.log"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return string(data)
}
