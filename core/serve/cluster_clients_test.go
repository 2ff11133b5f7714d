package serve_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The clients of TestCluster are the programs users run: myftpc (batch mode, --retry), curl over
// FTPS and OpenSSH's sftp with a key login, each putting one file through the balancer and
// getting it back. A program whose run fails for any reason but a quota refusal is run again, as
// a user or a script would, at most maxRuns times for one client in all.
const maxRuns = 8

// clusterAccount is an account of TestCluster.
type clusterAccount struct {
	name, password string
	quota          int64
	key            string // its SSH private key file, added with create_user key add
}

// clusterJob is one client of TestCluster and what became of it.
type clusterJob struct {
	id      int
	kind    string // "myftpc", "curl" or "sftp"
	account *clusterAccount
	dir     string // the client's own directory: its file and the copy it gets back
	name    string // the file's name, here and on the server
	size    int64

	runs    int             // programs run, every step and every retry together
	last    string          // what the last program said
	out     strings.Builder // what every program said, for the failure messages
	stored  bool            // the put and the get succeeded
	refused bool            // the put was refused for the quota
	err     error           // why neither
}

// back is the name of the copy the client gets back.
func (j *clusterJob) back() string { return j.name + ".back" }

// makeJob writes the client's file, of size random bytes, into its own directory under work.
func makeJob(t *testing.T, work string, id int, kind string, a *clusterAccount, size int64) *clusterJob {
	t.Helper()
	j := &clusterJob{id: id, kind: kind, account: a, dir: filepath.Join(work, fmt.Sprintf("c%02d", id)),
		name: fmt.Sprintf("c%02d-%s-%s.bin", id, kind, a.name), size: size}
	if err := os.Mkdir(j.dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(j.dir, j.name), randomData(uint64(id), size), 0o600); err != nil {
		t.Fatal(err)
	}
	return j
}

// randomData returns n bytes of a random stream seeded by seed.
func randomData(seed uint64, n int64) []byte {
	data := make([]byte, n)
	rng := rand.New(rand.NewPCG(seed, 16))
	for i := 0; i < len(data); i += 8 {
		v := rng.Uint64()
		for k := i; k < min(i+8, len(data)); k++ {
			data[k] = byte(v)
			v >>= 8
		}
	}
	return data
}

// program runs one client program in the client's directory, for at most a minute, records what
// it said, and returns its exit code (-1 if it did not exit by itself).
func (j *clusterJob) program(ctx context.Context, env []string, name string, args ...string) int {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir, cmd.Env = j.dir, env
	out, err := cmd.CombinedOutput()
	j.runs++
	j.last = string(out)
	code := cmd.ProcessState.ExitCode()
	fmt.Fprintf(&j.out, "$ %s %s\n%s[exit %d: %v]\n", filepath.Base(name), strings.Join(args, " "), out, code, err)
	return code
}

// step runs a program until it succeeds and returns true; it returns false when refused says
// that the run was refused for the quota (j.refused) or the client has run maxRuns programs
// (j.err).
func (j *clusterJob) step(ctx context.Context, env []string, refused func(string) bool, name string, args ...string) bool {
	for pause := 100 * time.Millisecond; j.runs < maxRuns && ctx.Err() == nil; pause = min(2*pause, 2*time.Second) {
		if j.program(ctx, env, name, args...) == 0 {
			return true
		}
		if refused(j.last) {
			j.refused = true
			return false
		}
		// A user runs it again after a moment: the path may still be held by the node that
		// died under the upload, until its lease (3 s here) has run out.
		select {
		case <-ctx.Done():
		case <-time.After(pause):
		}
	}
	j.err = fmt.Errorf("%s did not succeed in %d runs", filepath.Base(name), j.runs)
	return false
}

// never is the refusal test of a step that no quota refuses: a download.
func never(string) bool { return false }

// run is one client: it puts its file as its account through the balancer, gets it back, and
// records what became of it.
func (c *cluster) run(ctx context.Context, j *clusterJob) {
	switch j.kind {
	case "myftpc":
		c.runMyftpc(ctx, j)
	case "curl":
		c.runCurl(ctx, j)
	default:
		c.runSFTP(ctx, j)
	}
}

// runMyftpc runs myftpc in batch mode with --retry, once: it tries its first connection and login
// again when the node dies under them or turns it away, reconnects and resumes a transfer cut by a
// lost connection, and runs the get again when the node died between the put and the get. Exit 1
// is a failed command: the put refused for the quota, which myftpc says, or a failure.
func (c *cluster) runMyftpc(ctx context.Context, j *clusterJob) {
	env := append(os.Environ(), "MYFTP_PASSWORD="+j.account.password)
	args := []string{"--root", j.dir, "--known-hosts", c.known, "-u", j.account.name, "--retry", "5",
		"-c", fmt.Sprintf("put %s; get %s %s", j.name, j.name, j.back()), c.hp.Addrs[routeNative]}
	switch code := j.program(ctx, env, filepath.Join(c.bin, "myftpc"), args...); {
	case code == 0:
		j.stored = true
	case code == 1 && strings.Contains(j.last, "quota exceeded"):
		j.refused = true
	default:
		j.err = fmt.Errorf("myftpc: exit %d", code)
	}
}

// curlRefused reports whether curl's verbose output shows the FTP door's quota refusal.
func curlRefused(out string) bool {
	return strings.Contains(out, "< 552 ") && strings.Contains(out, "quota exceeded")
}

// runCurl puts and gets the file with curl over explicit FTPS through the balancer, from
// clientA, in passive mode to the address the PASV reply names: the node's own.
func (c *cluster) runCurl(ctx context.Context, j *clusterJob) {
	_, port, _ := net.SplitHostPort(c.hp.Addrs[routeFTP])
	url := "ftp://localhost:" + port + "/" + j.name
	args := []string{"-sS", "--fail", "-v", "--max-time", "50", "--ssl-reqd", "--cacert", c.cert,
		"-u", j.account.name + ":" + j.account.password, "--interface", clientA,
		"--resolve", "localhost:" + port + ":" + balancer, "--disable-epsv", "--no-ftp-skip-pasv-ip"}
	if !j.step(ctx, nil, curlRefused, c.curl, append(args, "-T", j.name, url)...) {
		return
	}
	j.stored = j.step(ctx, nil, never, c.curl, append(args, "-o", j.back(), url)...)
}

// runSFTP puts and gets the file with OpenSSH's sftp through the balancer, from clientB, with the
// account's key, checking the shared host key.
func (c *cluster) runSFTP(ctx context.Context, j *clusterJob) {
	_, port, _ := net.SplitHostPort(c.hp.Addrs[routeSFTP])
	sftp := func(refused func(string) bool, batch string) bool {
		file := filepath.Join(j.dir, "batch")
		if err := os.WriteFile(file, []byte(batch+"\n"), 0o600); err != nil {
			j.err = err
			return false
		}
		return j.step(ctx, nil, refused, c.sftp, "-F", "/dev/null", "-i", j.account.key, "-P", port, "-b", file,
			"-o", "BindAddress="+clientB, "-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile="+c.sshKnown,
			"-o", "BatchMode=yes", "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=20", j.account.name+"@"+balancer)
	}
	// OpenSSH's sftp shows only the status code, "Failure", never the server's message: the
	// node's event log says whether it was the quota (or, say, the path still held by the node
	// that died under the upload: then it is run again).
	refused := func(out string) bool {
		return strings.Contains(out, "Failure") && c.logged("quota exceeded: /"+j.name)
	}
	if sftp(refused, "put "+j.name) {
		j.stored = sftp(never, "get "+j.name+" "+j.back())
	}
}

// logged reports whether either node's event log has a line that contains s.
func (c *cluster) logged(s string) bool {
	for _, n := range c.nodes {
		if data, err := os.ReadFile(filepath.Join(n.root, "log", "myftps.log")); err == nil && bytes.Contains(data, []byte(s)) {
			return true
		}
	}
	return false
}

// interrupted reports whether a transfer of the client was cut and tried again: a program run
// again, or myftpc's --retry at work (it reconnects at once the first time, and says it tries
// again when it waits, or connects again for its first login).
func (j *clusterJob) interrupted() bool {
	steps := 2
	if j.kind == "myftpc" {
		steps = 1
	}
	out := j.out.String()
	return j.runs > steps || j.kind == "myftpc" && (strings.Contains(out, "reconnecting to ") ||
		strings.Contains(out, "connecting again to ") || strings.Contains(out, "trying again"))
}

// pasvReplies returns the address and port of every PASV reply in curl's output.
func pasvReplies(out string) [][2]string {
	var got [][2]string
	for _, m := range pasvReply.FindAllStringSubmatch(out, -1) {
		p1, _ := strconv.Atoi(m[5])
		p2, _ := strconv.Atoi(m[6])
		got = append(got, [2]string{strings.Join(m[1:5], "."), strconv.Itoa(p1*256 + p2)})
	}
	return got
}

// checkFiles checks what the client kept and what the bucket holds under its name: a client that
// stored its file got back the bytes it sent, and the bucket holds them; a refused client was
// told why; whatever the bucket holds under the name of any client is the whole file it sent.
func (c *cluster) checkFiles(t *testing.T, j *clusterJob, logs string) {
	t.Helper()
	sent, err := os.ReadFile(filepath.Join(j.dir, j.name))
	if err != nil {
		t.Fatal(err)
	}
	obj, inBucket := c.object(t, j.account.name, j.name)
	if inBucket && !bytes.Equal(obj, sent) {
		t.Errorf("client %d (%s, %s): the bucket holds %d bytes under %s that differ from the %d it sent", j.id, j.kind, j.account.name, len(obj), j.name, len(sent))
	}
	switch {
	case j.stored:
		got, err := os.ReadFile(filepath.Join(j.dir, j.back()))
		if err != nil || !bytes.Equal(got, sent) {
			t.Errorf("client %d (%s, %s): got back %d bytes (%v) that differ from the %d it sent", j.id, j.kind, j.account.name, len(got), err, len(sent))
		}
		if !inBucket {
			t.Errorf("client %d (%s, %s): its put succeeded but the bucket has no %s", j.id, j.kind, j.account.name, j.name)
		}
	case j.refused && (j.kind == "sftp" || j.kind == "curl" && !curlRefused(j.last)):
		if !strings.Contains(logs, "quota exceeded: /"+j.name) {
			t.Errorf("client %d (%s, %s) was refused, but no node's event log says it was for the quota:\n%s", j.id, j.kind, j.account.name, &j.out)
		}
	case j.refused:
	default:
		t.Errorf("client %d (%s, %s): %v\n%s", j.id, j.kind, j.account.name, errors.Join(j.err, errors.New("neither stored nor refused")), &j.out)
	}
}
