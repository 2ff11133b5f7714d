package serve_test

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/myftp/myftp/lib/bytesize"
	"github.com/myftp/myftp/lib/client"
)

// checkLoad checks what became of the clients once node 1 was killed under them: each stored
// its file whole or, in the small account only, was refused for the quota and told so; some
// were cut by the kill and finished on node 2; the small account holds no more than its quota
// in the bucket, as create_user list shows; curl's passive connections went to the node that
// served the control connection.
func (c *cluster) checkLoad(t *testing.T, jobs []*clusterJob, small *clusterAccount) {
	t.Helper()
	logs := c.nodes[0].eventLog(t) + c.nodes[1].eventLog(t)
	var cut, refused, stored int
	for _, j := range jobs {
		c.checkFiles(t, j, logs)
		if j.refused && j.account != small {
			t.Errorf("client %d (%s) of %s, whose quota has room for every file, was refused:\n%s", j.id, j.kind, j.account.name, &j.out)
		}
		if j.interrupted() {
			cut++
		}
		if j.account == small && j.refused {
			refused++
		}
		if j.account == small && j.stored {
			stored++
		}
	}
	t.Logf("%d clients of %d were cut by the kill and tried again; %d of %s's were refused for its quota of %s, %d stored their file",
		cut, len(jobs), refused, small.name, bytesize.Format(small.quota), stored)
	if cut == 0 {
		t.Error("no client was cut by the kill of node 1: it came too late to test a node dying under transfers")
	}
	if refused == 0 || stored == 0 {
		t.Errorf("%s: %d clients refused, %d stored; want some of each (a quota too small for all its clients' files)", small.name, refused, stored)
	}
	used := c.bucketUsage(t, small.name)
	if used > small.quota {
		t.Errorf("%s holds %d bytes in the bucket, past its quota of %d", small.name, used, small.quota)
	}
	if shown := c.usedShown(t, small.name); shown != bytesize.Format(used) {
		t.Errorf("create_user list shows %s using %s; the bucket holds %s", small.name, shown, bytesize.Format(used))
	}
	c.checkPASV(t, jobs)
}

// checkPASV checks that every PASV reply curl got names one node's own address and a port of that
// node's passive range, and that both nodes answered some: node 1 before it died, node 2 after.
func (c *cluster) checkPASV(t *testing.T, jobs []*clusterJob) {
	t.Helper()
	var seen [2]int
	for _, j := range jobs {
		for _, r := range pasvReplies(j.out.String()) {
			port, _ := strconv.Atoi(r[1])
			ok := false
			for i, host := range nodeHosts {
				if r[0] == host && port >= c.ranges[i][0] && port <= c.ranges[i][1] {
					seen[i]++
					ok = true
				}
			}
			if !ok {
				t.Errorf("client %d: PASV announced %s:%d, which is neither node's own address and passive range (%s %v, %s %v)",
					j.id, r[0], port, nodeHosts[0], c.ranges[0], nodeHosts[1], c.ranges[1])
			}
		}
	}
	if seen[0] == 0 || seen[1] == 0 {
		t.Errorf("PASV replies: %d from node 1, %d from node 2; want both to have served curl", seen[0], seen[1])
	}
}

// checkLease: once the dead node's lease has expired, node 2 has given back what node 1
// reserved, the held upload of the small account included: nothing stays reserved in the
// database, and the small account can store exactly what the bucket shows free of its quota,
// and not one byte more.
func (c *cluster) checkLease(t *testing.T, small *clusterAccount) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := pgx.Connect(ctx, c.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(context.Background())
	dead := c.nodes[0].quotaNode
	eventually(t, "node 1's lease and reservations given back", func() bool {
		var n int
		if err := db.QueryRow(ctx, `SELECT (SELECT count(*) FROM quota_nodes WHERE node = $1) +
			(SELECT count(*) FROM home_reservations WHERE node = $1)`, dead).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 0
	})
	// A live node keeps a row per home it reserved in, at 0 bytes once it gave them back.
	var held, reserved int64
	if err := db.QueryRow(ctx, `SELECT (SELECT coalesce(sum(bytes), 0) FROM home_reservations), (SELECT coalesce(sum(reserved), 0) FROM home_usage)`).
		Scan(&held, &reserved); err != nil {
		t.Fatal(err)
	}
	if held != 0 || reserved != 0 {
		t.Errorf("after every upload ended: %d bytes held in home_reservations, %d reserved in home_usage; want none", held, reserved)
	}
	free := small.quota - c.bucketUsage(t, small.name)
	if free <= 0 {
		t.Fatalf("%s has no room left in its quota (%d bytes): nothing shows whether node 1's reservation was given back", small.name, free)
	}
	cl := c.dial(t, routeNative)
	if err := cl.Login(small.name, small.password); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Put(ctx, c.localFile(t, "rest.bin", free), "rest.bin", client.Options{}); err != nil {
		t.Fatalf("put of the %d bytes the bucket shows free of %s's quota: %v", free, small.name, err)
	}
	_, err = cl.Put(ctx, c.localFile(t, "one.bin", 1), "one.bin", client.Options{})
	checkRefused(t, "a put of one byte into a full quota", err)
	if used := c.bucketUsage(t, small.name); used != small.quota {
		t.Errorf("%s holds %d bytes in the bucket; want its whole quota, %d", small.name, used, small.quota)
	}
	if shown := c.usedShown(t, small.name); shown != bytesize.Format(small.quota) {
		t.Errorf("create_user list shows %s using %s; want its quota, %s", small.name, shown, bytesize.Format(small.quota))
	}
}

// drain: SIGTERM to node 2 while an upload is in progress there makes its /healthz answer 503,
// lets the upload finish, and the process exits 0.
func (c *cluster) drain(t *testing.T, a *clusterAccount) {
	t.Helper()
	n := c.nodes[1]
	if status, body := n.get(t, "/healthz"); status != http.StatusOK {
		t.Fatalf("/healthz of node 2 before it drains: %d %q", status, body)
	}
	local := c.localFile(t, "drain.bin", 8<<20)
	held := c.holdPut(t, routeNode2, a, local, "drain.bin")
	n.terminate(t)
	eventually(t, "node 2's /healthz answers 503 once it drains", func() bool {
		status, _ := n.get(t, "/healthz")
		return status == http.StatusServiceUnavailable
	})
	if !n.running() {
		t.Fatal("node 2 exited with an upload in progress")
	}
	if err := held.wait(t); err != nil {
		t.Fatalf("the upload in progress when node 2 was told to stop: %v", err)
	}
	if exit := n.wait(t, 30*time.Second); exit != 0 {
		t.Errorf("node 2 exited %d after SIGTERM, want 0; log:\n%s", exit, n.eventLog(t))
	}
	sent, err := os.ReadFile(local)
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := c.object(t, a.name, "drain.bin"); !ok || !bytes.Equal(got, sent) {
		t.Errorf("the bucket holds %d bytes (%v) for the upload that finished during the drain; want the %d sent", len(got), ok, len(sent))
	}
}
