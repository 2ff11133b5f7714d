package serve_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"golang.org/x/crypto/ssh"

	"github.com/myftp/myftp/core/server/servertest"
	"github.com/myftp/myftp/lib/bytesize"
	"github.com/myftp/myftp/lib/certs"
	"github.com/myftp/myftp/lib/client"
	"github.com/myftp/myftp/lib/pgdb/pgtest"
	"github.com/myftp/myftp/lib/proto"
	"github.com/myftp/myftp/lib/proxyproto/haproxytest"
	"github.com/myftp/myftp/lib/storage/s3"
	"github.com/myftp/myftp/lib/storage/s3/s3test"
)

// The routes of TestCluster's balancer, in the order of its frontends' addresses.
const (
	routeNative = iota // the native door of both nodes, balanced
	routeFTP           // the FTP door of both nodes, balanced
	routeSFTP          // the SFTP door of both nodes, balanced
	routeNode1         // the native door of node 1 alone
	routeNode2         // the native door of node 2 alone
)

// adminFrom is where the test's own Go clients connect to the balancer from.
const adminFrom = "127.0.0.6"

// nodeHosts are the loopback addresses of the two nodes' doors; each announces its own in PASV.
var nodeHosts = [2]string{"127.0.0.11", "127.0.0.12"}

// cluster is TestCluster's world: two myftps processes on one PostgreSQL database and one
// bucket, sharing a certificate and an SSH host key, behind HAProxy.
type cluster struct {
	bin, work  string
	curl, sftp string   // the client programs
	env        []string // the environment of myftps and create_user: the S3 credentials
	dsn        string
	s3         s3.Options
	store      *minio.Client // the bucket, read by the test directly
	roots      [2]string
	ranges     [2][2]int // the nodes' passive port ranges
	nodes      [2]*clusterNode
	hp         *haproxytest.HAProxy
	cert       string // the shared certificate: curl's --cacert
	known      string // myftpc's known_hosts: the balancer's native frontends, the shared certificate
	sshKnown   string // sftp's known_hosts: the balancer's SFTP frontend, the shared host key
	accounts   []*clusterAccount
}

// TestCluster is issue 16's scenario, with the real programs: two myftps nodes (processes of
// their own) on one PostgreSQL database and one S3 bucket, behind HAProxy. An account created,
// disabled, enabled and deleted with create_user takes effect on each node. Then 40 clients of 3
// accounts (myftpc, curl over FTPS, OpenSSH's sftp) put a file each and get it back, while node 1
// is SIGKILLed under their transfers: every client finishes on node 2, every file stored is the
// one sent, and the account whose quota is too small for all its clients never passes it, its
// refused clients told why. After the lease, what the dead node reserved is given back: nothing
// stays reserved and the small account can fill exactly what the bucket shows free. Last, node 2
// drains on SIGTERM: /healthz answers 503 while an upload finishes, and it exits 0.
//
// MYFTP_CLUSTER_SIZE sets the size of the smallest client file (default 2MiB; each is up to
// twice that).
func TestCluster(t *testing.T) {
	// Not parallel: with 40 client processes, two servers, MinIO and PostgreSQL it takes the
	// machine; in parallel with the package's other tests, their timeouts would be at risk.
	c := newCluster(t)
	jobs, small := c.makeJobs(t)
	c.startNodes(t)
	c.accountLifecycle(t)
	held := c.holdPut(t, routeNode1, small, c.localFile(t, "held.bin", jobs[0].size), "held.bin")
	c.load(t, jobs, held)
	c.checkLoad(t, jobs, small)
	c.checkLease(t, small)
	c.drain(t, c.accounts[0])
}

// newCluster finds the services and the client programs (or skips), and makes the shared keys
// and the nodes' roots.
func newCluster(t *testing.T) *cluster {
	haproxytest.Need(t)
	c := &cluster{curl: servertest.NeedClient(t, "curl", "curl"), sftp: servertest.NeedClient(t, "sftp", "openssh-client")}
	servertest.NeedClient(t, "ssh-keygen", "openssh-client")
	c.s3, c.dsn = s3test.Bucket(t), pgtest.Database(t)
	store, err := minio.New(strings.TrimPrefix(c.s3.Endpoint, "http://"), &minio.Options{Creds: c.s3.Credentials, BucketLookup: minio.BucketLookupPath})
	if err != nil {
		t.Fatal(err)
	}
	c.store = store
	c.env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+os.Getenv(s3test.EnvAccess), "AWS_SECRET_ACCESS_KEY="+os.Getenv(s3test.EnvSecret))
	c.bin, c.work = binaries(t), t.TempDir()
	shared := t.TempDir()
	c.cert = filepath.Join(shared, "server.crt")
	if _, _, err := certs.LoadOrCreate(c.cert, filepath.Join(shared, "server.key"), nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := certs.LoadOrCreateHostKey(filepath.Join(shared, "ssh_host_ed25519_key")); err != nil {
		t.Fatal(err)
	}
	c.passiveRanges(t)
	for i := range c.roots {
		c.roots[i] = nodeConfig{host: nodeHosts[i], passive: fmt.Sprintf("%d-%d", c.ranges[i][0], c.ranges[i][1]),
			shared: shared, dsn: c.dsn, s3: c.s3, shutdownTimeout: "20s"}.writeRoot(t)
	}
	return c
}

// passiveRanges picks two passive ranges that do not overlap: both nodes listen on this machine.
func (c *cluster) passiveRanges(t *testing.T) {
	t.Helper()
	first, last := freeRange(t, 20)
	c.ranges[0] = [2]int{first, last}
	for range 20 {
		if first, last = freeRange(t, 20); last < c.ranges[0][0] || first > c.ranges[0][1] {
			c.ranges[1] = [2]int{first, last}
			return
		}
	}
	t.Fatal("no second passive range apart from the first")
}

// startNodes starts both nodes and the balancer, and checks that the nodes present one
// certificate and one host key, which the clients' known_hosts files then pin.
func (c *cluster) startNodes(t *testing.T) {
	t.Helper()
	for i, root := range c.roots {
		c.nodes[i] = startNode(t, c.bin, root, c.env)
	}
	if a, b := c.nodes[0], c.nodes[1]; a.fingerprint != b.fingerprint || a.hostKey != b.hostKey {
		t.Fatalf("the nodes present certificates %s and %s, host keys %s and %s: want one of each", a.fingerprint, b.fingerprint, a.hostKey, b.hostKey)
	}
	balanced := func(door string) haproxytest.Route {
		r := haproxytest.Route{Bind: balancer, SendProxy: "send-proxy-v2", Source: proxyIP}
		for _, n := range c.nodes {
			r.Nodes = append(r.Nodes, haproxytest.Node{Addr: n.doors[door], Health: n.doors["metrics"]})
		}
		return r
	}
	direct := func(n *clusterNode) haproxytest.Route {
		return haproxytest.Route{Bind: balancer, Server: n.doors[""], SendProxy: "send-proxy-v2", Source: proxyIP}
	}
	c.hp = haproxytest.Start(t, balanced(""), balanced("ftp"), balanced("sftp"), direct(c.nodes[0]), direct(c.nodes[1]))
	c.writeKnownHosts(t)
}

// writeKnownHosts records the shared certificate for the balancer's native frontends, and the
// shared host key for its SFTP frontend: a node that presented another would be refused.
func (c *cluster) writeKnownHosts(t *testing.T) {
	t.Helper()
	var lines strings.Builder
	for _, r := range []int{routeNative, routeNode1, routeNode2} {
		fmt.Fprintf(&lines, "%s %s\n", c.hp.Addrs[r], c.nodes[0].fingerprint)
	}
	c.known = filepath.Join(c.work, "known_hosts")
	if err := os.WriteFile(c.known, []byte(lines.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	key, err := certs.LoadHostKey(filepath.Join(filepath.Dir(c.cert), "ssh_host_ed25519_key"))
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(c.hp.Addrs[routeSFTP])
	line := fmt.Sprintf("[%s]:%s %s", balancer, port, ssh.MarshalAuthorizedKey(key.PublicKey()))
	c.sshKnown = filepath.Join(c.work, "ssh_known_hosts")
	if err := os.WriteFile(c.sshKnown, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
}

// admin runs create_user on root with args, stdin as its input, and returns its output.
func (c *cluster) admin(t *testing.T, root, stdin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(c.bin, "create_user"), append([]string{"--root", root}, args...)...)
	cmd.Env, cmd.Stdin = c.env, strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("create_user %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// dial connects the Go client through the balancer's route from adminFrom, trusting only the
// certificate known_hosts records.
func (c *cluster) dial(t *testing.T, route int) *client.Client {
	t.Helper()
	cl, err := dialCluster(c.hp.Addrs[route], c.known)
	if err != nil {
		t.Fatalf("dial route %d: %v", route, err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

func dialCluster(addr, known string) (*client.Client, error) {
	return client.Dial(context.Background(), client.Config{Addr: addr, KnownHosts: known,
		TrustNew:  func(context.Context, string, string) error { return errors.New("not in known_hosts") },
		LocalAddr: &net.TCPAddr{IP: net.ParseIP(adminFrom)}, DialTimeout: 10 * time.Second, IOTimeout: 30 * time.Second})
}

// localFile writes a file of n random bytes into the test's directory and returns its path.
func (c *cluster) localFile(t *testing.T, name string, n int64) string {
	t.Helper()
	p := filepath.Join(c.work, name)
	if err := os.WriteFile(p, randomData(uint64(len(name))<<32|uint64(n), n), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// columns separates the columns of create_user list, two spaces apart or more.
var columns = regexp.MustCompile(`\s{2,}`)

// usedShown returns the USED column of create_user list for account.
func (c *cluster) usedShown(t *testing.T, account string) string {
	t.Helper()
	for _, line := range strings.Split(c.admin(t, c.roots[1], "", "list"), "\n") {
		// ID, ACCOUNT, HOME, QUOTA, USED, FILES, DISABLED
		if cols := columns.Split(strings.TrimSpace(line), -1); len(cols) == 7 && cols[1] == account {
			return cols[4]
		}
	}
	t.Fatalf("create_user list does not list %s", account)
	return ""
}

// bucketUsage sums the sizes of the files of account's home in the bucket, its unfinished
// uploads included, as the quota counts them (and not the server's records beside them).
func (c *cluster) bucketUsage(t *testing.T, account string) int64 {
	t.Helper()
	ctx := context.Background()
	prefix := "homes/" + account + "/"
	var sum int64
	for o := range c.store.ListObjects(ctx, c.s3.Bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		if !strings.HasPrefix(o.Key, prefix+".myftp/") {
			sum += o.Size
		}
	}
	for u := range c.store.ListIncompleteUploads(ctx, c.s3.Bucket, prefix, true) {
		if u.Err != nil {
			t.Fatal(u.Err)
		}
		t.Errorf("an unfinished upload is left in %s's home: %s", account, u.Key)
	}
	return sum
}

// object returns the bytes the bucket holds for the file name of account, and whether it has any.
func (c *cluster) object(t *testing.T, account, name string) ([]byte, bool) {
	t.Helper()
	ctx := context.Background()
	key := "homes/" + account + "/" + name
	if _, err := c.store.StatObject(ctx, c.s3.Bucket, key, minio.StatObjectOptions{}); err != nil {
		if minio.ToErrorResponse(err).Code == "NoSuchKey" {
			return nil, false
		}
		t.Fatal(err)
	}
	o, err := c.store.GetObject(ctx, c.s3.Bucket, key, minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	data, err := io.ReadAll(o)
	if err != nil {
		t.Fatal(err)
	}
	return data, true
}

// sizeEnv is MYFTP_CLUSTER_SIZE, or def.
func sizeEnv(t *testing.T, def int64) int64 {
	t.Helper()
	s := os.Getenv("MYFTP_CLUSTER_SIZE")
	if s == "" {
		return def
	}
	n, err := bytesize.Parse(s)
	if err != nil || n < 1 {
		t.Fatalf("MYFTP_CLUSTER_SIZE=%q: want a size", s)
	}
	return n
}

// heldPut is a native upload held still in the middle of its data, until released.
type heldPut struct {
	release func()
	result  chan error
}

// holdPut logs in as a through route, starts putting local as remote, and returns once the data
// flows: the server has reserved the upload's size, and the upload waits for release.
func (c *cluster) holdPut(t *testing.T, route int, a *clusterAccount, local, remote string) *heldPut {
	t.Helper()
	cl := c.dial(t, route)
	if err := cl.Login(a.name, a.password); err != nil {
		t.Fatalf("login %s on route %d: %v", a.name, route, err)
	}
	started, release := make(chan struct{}), make(chan struct{})
	h := &heldPut{release: sync.OnceFunc(func() { close(release) }), result: make(chan error, 1)}
	t.Cleanup(h.release)
	var once sync.Once
	go func() {
		_, err := cl.Put(context.Background(), local, remote, client.Options{Progress: func(int64, int64) {
			once.Do(func() {
				close(started)
				<-release
			})
		}})
		h.result <- err
	}()
	select {
	case <-started:
	case err := <-h.result:
		t.Fatalf("put %s as %s: %v, before its data flowed", remote, a.name, err)
	case <-time.After(30 * time.Second):
		t.Fatalf("put %s as %s: no data flowed within 30 s", remote, a.name)
	}
	return h
}

// wait returns the held upload's result, once released, waiting at most a minute.
func (h *heldPut) wait(t *testing.T) error {
	t.Helper()
	h.release()
	select {
	case err := <-h.result:
		return err
	case <-time.After(time.Minute):
		t.Fatal("a released upload did not end within a minute")
		return nil
	}
}

// checkRefused checks that err is the server's quota refusal, saying so.
func checkRefused(t *testing.T, what string, err error) {
	t.Helper()
	if code(err) != proto.CodeQuota || !strings.Contains(err.Error(), "quota exceeded") {
		t.Errorf("%s: %v; want it refused for the quota, saying so", what, err)
	}
}
