package pgdb_test

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/jackc/pgx/v5"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/myftp/myftp/lib/homefs"
	"github.com/myftp/myftp/lib/homefs/ledgertest"
	"github.com/myftp/myftp/lib/pgdb"
	"github.com/myftp/myftp/lib/pgdb/pgtest"
)

// quotas returns a node's quota ledger on the database of dsn.
func quotas(t *testing.T, dsn string, lease time.Duration) (*pgdb.DB, *pgdb.Quotas) {
	t.Helper()
	d, err := pgdb.Open(context.Background(), pgdb.Options{DSN: dsn, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	q, err := d.Quotas(context.Background(), lease, nil)
	if err != nil {
		d.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close(); d.Close() })
	return d, q
}

func TestQuotasContract(t *testing.T) {
	t.Parallel()
	_, q := quotas(t, pgtest.Database(t), time.Minute)
	ledgertest.Run(t, q)
}

// TestQuotasAcrossNodes: homefs on two nodes, each with its own ledger on one database and its
// own view of one directory, races uploads for the last bytes of a quota: never both pass, the
// loser hears the quota's counts, and nothing stays reserved.
func TestQuotasAcrossNodes(t *testing.T) {
	t.Parallel()
	dsn := pgtest.Database(t)
	base := t.TempDir()
	if err := os.MkdirAll(filepath.Join(base, "u"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(base, "u", "old"), make([]byte, 90), 0o600); err != nil {
		t.Fatal(err)
	}
	var nodes [2]*homefs.FS
	var ledgers [2]*pgdb.Quotas
	for i := range nodes {
		_, ledgers[i] = quotas(t, dsn, time.Minute)
		f, err := homefs.NewStore(base, homefs.Options{Ledger: ledgers[i]}).Open("u", 100)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		nodes[i] = f
	}
	data := make([]byte, 10)
	for round := range 20 {
		var ups [2]*homefs.Upload
		var errs [2]error
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i, f := range nodes {
			wg.Go(func() {
				<-start
				ups[i], errs[i] = f.BeginUpload(fmt.Sprintf("n%d-%d", i, round), 10, time.Now(), false, "")
			})
		}
		close(start)
		wg.Wait()
		w := -1
		for i, err := range errs {
			if err == nil && errors.Is(errs[1-i], homefs.ErrQuota) {
				w = i
			}
		}
		if w < 0 {
			t.Fatalf("round %d: %v; want one upload through and the other refused for the quota", round, errs)
		}
		if msg := errs[1-w].Error(); !strings.Contains(msg, "used 100 bytes of 100 bytes") {
			t.Errorf("round %d: the loser heard %q", round, msg)
		}
		if round%2 == 0 {
			ups[w].Abort()
			continue
		}
		ups[w].Write(data)
		sum := md5.Sum(data)
		if _, err := ups[w].Commit(hex.EncodeToString(sum[:])); err != nil {
			t.Fatal(err)
		}
		if err := nodes[1-w].Remove(ups[w].Path()); err != nil { // the other node frees it
			t.Fatal(err)
		}
	}
	for i, f := range nodes {
		if used, _ := f.Usage(); used != 90 {
			t.Errorf("node %d: usage %d after every upload ended, want 90", i, used)
		}
	}
}

// TestDeadNodeReservationsGiveBack: a node that stops renewing its lease (its database cut
// away) loses its reservations to the other nodes once the lease has run out; the home is marked
// to be measured again; the cut node makes no reservation meanwhile.
func TestDeadNodeReservationsGivenBack(t *testing.T) {
	t.Parallel()
	dsn := pgtest.Database(t)
	proxy := pgtest.NewProxy(t, dsn)
	_, dying := quotas(t, proxy.DSN, 3*time.Second)
	_, alive := quotas(t, dsn, 3*time.Second)
	ctx := context.Background()
	measure := func(context.Context) (homefs.Counts, error) { return homefs.Counts{Bytes: 10, Files: 1}, nil }
	if _, err := dying.Load(ctx, "u", "t", measure); err != nil {
		t.Fatal(err)
	}
	lim := homefs.Limits{Bytes: homefs.AtMost(100)}
	if _, err := dying.Change(ctx, "u", homefs.Counts{Reserved: 80}, lim); err != nil {
		t.Fatal(err)
	}
	if _, err := alive.Change(ctx, "u", homefs.Counts{Reserved: 20}, lim); !errors.Is(err, homefs.ErrQuota) {
		t.Fatalf("20 bytes while the other node holds 80 of the 90 free: %v, want a refusal", err)
	}
	proxy.Cut()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := alive.Change(ctx, "u", homefs.Counts{Reserved: 20}, lim)
		if err == nil {
			if c.Reserved != 20 {
				t.Fatalf("after the sweep: %+v, want only the 20 bytes just reserved", c)
			}
			break
		}
		if !errors.Is(err, homefs.ErrQuota) || time.Now().After(deadline) {
			t.Fatalf("the dead node's reservation is still held: %v", err)
		}
		time.Sleep(50 * time.Millisecond) // the lease is 3 s; the live node sweeps every 750 ms
	}
	if _, err := dying.Change(ctx, "u", homefs.Counts{Reserved: 1}, homefs.Limits{}); !errors.Is(err, pgdb.ErrLeaseLost) {
		t.Errorf("a reservation by the cut node: %v, want ErrLeaseLost", err)
	}
	measured := false
	if _, err := alive.Load(ctx, "u", "t", func(context.Context) (homefs.Counts, error) {
		measured = true
		return homefs.Counts{Bytes: 50, Files: 2}, nil
	}); err != nil || !measured {
		t.Errorf("load after the sweep: measured %v, %v; want the home measured again (the dead node's upload kept data)", measured, err)
	}
}

// TestHolds: a path one node uploads is busy for the others until it is released, or until the
// node's lease ends.
func TestHolds(t *testing.T) {
	t.Parallel()
	dsn := pgtest.Database(t)
	proxy := pgtest.NewProxy(t, dsn)
	_, a := quotas(t, proxy.DSN, 3*time.Second)
	_, b := quotas(t, dsn, 3*time.Second)
	ctx := context.Background()
	if err := a.Hold(ctx, "u", "f"); err != nil {
		t.Fatal(err)
	}
	if err := a.Hold(ctx, "u", "f"); err != nil {
		t.Fatalf("the holder holds again: %v", err)
	}
	if err := b.Hold(ctx, "u", "f"); !errors.Is(err, homefs.ErrBusy) {
		t.Fatalf("another node holds a held path: %v, want ErrBusy", err)
	}
	if err := b.Hold(ctx, "v", "f"); err != nil {
		t.Fatalf("the same name in another home: %v", err)
	}
	a.Release(ctx, "u", "f")
	if err := b.Hold(ctx, "u", "f"); err != nil {
		t.Fatalf("after the release: %v", err)
	}
	b.Release(ctx, "u", "f")
	if err := a.Hold(ctx, "u", "g"); err != nil {
		t.Fatal(err)
	}
	proxy.Cut() // node a is gone: its hold ends with its lease
	deadline := time.Now().Add(20 * time.Second)
	for err := b.Hold(ctx, "u", "g"); err != nil; err = b.Hold(ctx, "u", "g") {
		if !errors.Is(err, homefs.ErrBusy) || time.Now().After(deadline) {
			t.Fatalf("the dead node's hold: %v", err)
		}
		time.Sleep(50 * time.Millisecond) // the lease is 3 s; the live node sweeps every 750 ms
	}
}

// TestRemeasureKeepsRunningReservations: a node whose lease ended gave back its reservations and
// marked the home to be measured again; the next login on a node with an upload running into that
// home measures it, and that upload's reservation must stay counted, or another node's upload
// passes the quota.
func TestRemeasureKeepsRunningReservations(t *testing.T) {
	t.Parallel()
	dsn := pgtest.Database(t)
	base := t.TempDir()
	if err := os.MkdirAll(filepath.Join(base, "u"), 0o700); err != nil {
		t.Fatal(err)
	}
	_, la := quotas(t, dsn, time.Minute)
	_, lb := quotas(t, dsn, time.Minute)
	_, gone := quotas(t, dsn, 3*time.Second)
	sa, sb := homefs.NewStore(base, homefs.Options{Ledger: la}), homefs.NewStore(base, homefs.Options{Ledger: lb})
	fa, err := sa.Open("u", 100)
	if err != nil {
		t.Fatal(err)
	}
	defer fa.Close()
	up, err := fa.BeginUpload("big", 60, time.Now(), false, "")
	if err != nil {
		t.Fatal(err)
	}
	defer up.Abort()
	ctx := context.Background()
	if _, err := gone.Change(ctx, "u", homefs.Counts{Reserved: 1}, homefs.Limits{}); err != nil {
		t.Fatal(err)
	}
	// Node gone stops: its lease ends at once, as a dead node's runs out, its reservation is
	// given back and the home marked to be measured again. Then the account logs in again on
	// node a.
	gone.Close()
	again, err := sa.Open("u", 100)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	fb, err := sb.Open("u", 100)
	if err != nil {
		t.Fatal(err)
	}
	defer fb.Close()
	if other, err := fb.BeginUpload("other", 60, time.Now(), false, ""); !errors.Is(err, homefs.ErrQuota) {
		if other != nil {
			other.Abort()
		}
		t.Fatalf("60 bytes on node b while node a uploads 60 of a 100-byte quota: %v, want a quota refusal", err)
	}
	up.Abort()
	if c, err := lb.Change(ctx, "u", homefs.Counts{}, homefs.Limits{}); err != nil || c.Reserved != 0 {
		t.Errorf("after the upload ended: %+v, %v; want nothing reserved", c, err)
	}
}

// TestReleaseTakesOnlyItsHold: a release deletes the hold its Hold took and no newer one, as when
// a release retried late (or committed after it timed out here) meets the path held again.
func TestReleaseTakesOnlyItsHold(t *testing.T) {
	t.Parallel()
	dsn := pgtest.Database(t)
	_, a := quotas(t, dsn, time.Minute)
	_, b := quotas(t, dsn, time.Minute)
	ctx := context.Background()
	if err := a.Hold(ctx, "u", "f"); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	// The path held again meanwhile: the row now carries another token.
	if _, err := conn.Exec(ctx, `UPDATE upload_holds SET token = 'newer'`); err != nil {
		t.Fatal(err)
	}
	a.Release(ctx, "u", "f")
	if err := b.Hold(ctx, "u", "f"); !errors.Is(err, homefs.ErrBusy) {
		t.Fatalf("another node after a stale release: %v, want ErrBusy (the newer hold kept)", err)
	}
	if err := a.Hold(ctx, "u", "f"); err != nil {
		t.Fatal(err)
	}
	a.Release(ctx, "u", "f")
	if err := b.Hold(ctx, "u", "f"); err != nil {
		t.Fatalf("another node after the release of the current hold: %v", err)
	}
}
