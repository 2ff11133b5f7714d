package serve_test

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/myftp/myftp/lib/client"
	"github.com/myftp/myftp/lib/proto"
)

// The phases of TestCluster, in their order.

// clients is the number of clients that run at once; kinds are their programs, in turn.
const clients = 40

var kinds = [3]string{"myftpc", "curl", "sftp"}

// makeJobs writes the clients' files and creates their three accounts with create_user, each
// with an SSH key for sftp: two with room for all their clients' files, and the small one, whose
// quota takes two fifths of its clients' files. It returns the clients and the small account.
func (c *cluster) makeJobs(t *testing.T) ([]*clusterJob, *clusterAccount) {
	t.Helper()
	base := sizeEnv(t, 2<<20)
	for _, name := range []string{"ann", "ben", "cid"} {
		c.accounts = append(c.accounts, &clusterAccount{name: name, password: name + "-Cluster-Secret-7", quota: 1 << 40})
	}
	small := c.accounts[2]
	var jobs []*clusterJob
	var smallTotal int64
	for i := range clients {
		a := c.accounts[i/3%3]
		j := makeJob(t, c.work, i, kinds[i%3], a, base+int64(i)*131<<10%base+int64(i))
		jobs = append(jobs, j)
		if a == small {
			smallTotal += j.size
		}
	}
	small.quota = smallTotal * 2 / 5
	for i, a := range c.accounts {
		root := c.roots[i%2] // the administrator works on either machine: one database
		c.admin(t, root, a.password+"\n", "--account", a.name, "--quota", strconv.FormatInt(a.quota, 10), "--password-stdin")
		a.key = filepath.Join(c.work, a.name+"_ed25519")
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", a.name, "-f", a.key).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v\n%s", err, out)
		}
		c.admin(t, root, "", "key", "add", a.name, a.key+".pub")
	}
	return jobs, small
}

// accountLifecycle: an account created, disabled, enabled again and deleted with create_user,
// while both nodes run, takes effect on each: its sessions on both end at the disable and at
// the delete, and a login on either is refused meanwhile. The nodes hear of each change from
// PostgreSQL, at once but not in step with create_user: hence eventually.
func (c *cluster) accountLifecycle(t *testing.T) {
	t.Helper()
	const name, password = "dan", "Dan-Cluster-Secret-3"
	c.admin(t, c.roots[1], password+"\n", "--account", name, "--password-stdin")
	sessions := c.loginEach(t, name, password)
	c.admin(t, c.roots[0], "", "disable", name)
	c.sessionsEnd(t, sessions, name, password, "disable")
	c.admin(t, c.roots[1], "", "enable", name)
	sessions = c.loginEach(t, name, password)
	c.admin(t, c.roots[0], "", "delete", name)
	c.sessionsEnd(t, sessions, name, password, "delete")
}

// loginEach logs in as name on each node, through its own route, as soon as the node allows it,
// and returns the two sessions.
func (c *cluster) loginEach(t *testing.T, name, password string) [2]*client.Client {
	t.Helper()
	var sessions [2]*client.Client
	for i, route := range []int{routeNode1, routeNode2} {
		eventually(t, fmt.Sprintf("%s logs in on node %d", name, i+1), func() bool {
			cl := c.dial(t, route)
			err := cl.Login(name, password)
			if err != nil && code(err) != proto.CodeNotLoggedIn {
				t.Fatalf("login %s on node %d: %v", name, i+1, err)
			}
			sessions[i] = cl
			return err == nil
		})
	}
	return sessions
}

// sessionsEnd checks that the sessions end after create_user's change, and that a new login on
// their node is then refused.
func (c *cluster) sessionsEnd(t *testing.T, sessions [2]*client.Client, name, password, change string) {
	t.Helper()
	for i, s := range sessions {
		eventually(t, fmt.Sprintf("the session on node %d ends after create_user %s", i+1, change), func() bool {
			_, err := s.Pwd()
			return err != nil
		})
		route := []int{routeNode1, routeNode2}[i]
		if err := c.dial(t, route).Login(name, password); code(err) != proto.CodeNotLoggedIn {
			t.Errorf("login on node %d after create_user %s: %v, want %d", i+1, change, err, proto.CodeNotLoggedIn)
		}
	}
}

// load runs the clients at once and SIGKILLs node 1 under their transfers, once it has
// completed an upload of each door; then it releases the upload held on node 1, which fails,
// and waits for every client to end, at most 3 minutes.
func (c *cluster) load(t *testing.T, jobs []*clusterJob, held *heldPut) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	var wg sync.WaitGroup
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	for _, j := range jobs {
		wg.Go(func() { c.run(ctx, j) })
	}
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	c.killWhenBusy(t, done)
	if err := held.wait(t); err == nil {
		t.Error("the upload held on node 1 succeeded although node 1 was killed under it")
	}
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatal("the clients did not end within 3 minutes")
	}
}

// killWhenBusy polls node 1's metrics until it has completed an upload of each door, with the
// other clients still running, and then SIGKILLs it.
func (c *cluster) killWhenBusy(t *testing.T, done <-chan struct{}) {
	t.Helper()
	n := c.nodes[0]
	for deadline := time.Now().Add(2 * time.Minute); ; {
		u := n.uploads(t)
		if u["myftp"] > 0 && u["ftp"] > 0 && u["sftp"] > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node 1 did not complete an upload of each door within 2 minutes: %v", u)
		}
		select {
		case <-done:
			t.Fatalf("every client ended before node 1 completed an upload of each door (%v): no node was killed under them", u)
		case <-time.After(20 * time.Millisecond): // polling, between two scrapes
		}
	}
	n.kill(t)
}
