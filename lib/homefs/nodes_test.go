package homefs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/myftp/myftp/lib/storage"
	"github.com/myftp/myftp/lib/storage/local"
)

// twoNodes opens the home "u" (quota 100, 90 bytes used) on two Stores, two nodes, over the same
// directory and one shared ledger.
func twoNodes(t *testing.T) (base string, shared *mapLedger, nodes [2]*FS) {
	t.Helper()
	base = t.TempDir()
	writeFile(t, filepath.Join(base, "u", "old"), make([]byte, 90))
	shared = newMapLedger()
	for i := range nodes {
		_, nodes[i] = openHome(t, base, "u", 100, Options{Ledger: shared})
	}
	if shared.measures != 1 {
		t.Fatalf("the home was measured %d times; the second node must take the first one's count", shared.measures)
	}
	return base, shared, nodes
}

// race runs do on both nodes at once and returns their errors.
func race(nodes [2]*FS, do func(i int, f *FS) error) [2]error {
	var (
		start = make(chan struct{})
		wg    sync.WaitGroup
		errs  [2]error
	)
	for i, f := range nodes {
		wg.Go(func() {
			<-start
			errs[i] = do(i, f)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

// winner checks that exactly one of errs is nil and the other the quota's refusal, with the
// counts the winner left, and returns the winner.
func winner(t *testing.T, round int, errs [2]error, need int64) int {
	t.Helper()
	want := fmt.Sprintf("(used 100 bytes of 100 bytes, upload needs %d bytes more)", need)
	for i, err := range errs {
		other := errs[1-i]
		if err == nil && errors.Is(other, ErrQuota) {
			if msg := other.Error(); !strings.HasSuffix(msg, want) {
				t.Errorf("round %d: the loser heard %q, want it to end %q", round, msg, want)
			}
			return i
		}
	}
	t.Fatalf("round %d: errors %v; want one upload through and the other refused for the quota", round, errs)
	return -1
}

// Two uploads for the last bytes of a quota, one on each node at once: never both pass.
func TestTwoNodesShareTheQuota(t *testing.T) {
	t.Parallel()
	base, shared, nodes := twoNodes(t)
	data := make([]byte, 10)
	for round := range 50 {
		var ups [2]*Upload
		errs := race(nodes, func(i int, f *FS) (err error) {
			ups[i], err = f.BeginUpload(fmt.Sprintf("n%d-%d", i, round), 10, srcMtime, false, "")
			return err
		})
		w := winner(t, round, errs, 10)
		if round%2 == 0 {
			ups[w].Abort()
			continue
		}
		ups[w].Write(data)
		if _, err := ups[w].Commit(md5hex(data)); err != nil {
			t.Fatal(err)
		}
		if err := nodes[1-w].Remove(ups[w].Path()); err != nil { // the other node frees it
			t.Fatal(err)
		}
	}
	for _, f := range nodes {
		checkUsage(t, f, base, "u", 90)
		checkFiles(t, f, base, "u", 1)
	}
	if c := shared.held("u"); c.Reserved != 0 {
		t.Errorf("reserved %d after every upload ended", c.Reserved)
	}
}

// Two streams of unknown size, one on each node, each writing the last bytes of the quota at
// once: one write passes, the other is refused and its upload is not stored.
func TestTwoNodesShareTheQuotaStreaming(t *testing.T) {
	t.Parallel()
	base, shared, nodes := twoNodes(t)
	for round := range 50 {
		var streams [2]*Stream
		for i, f := range nodes {
			s, err := f.BeginStream(fmt.Sprintf("s%d-%d", i, round), 0)
			if err != nil {
				t.Fatalf("round %d: node %d: %v", round, i, err)
			}
			streams[i] = s
		}
		errs := race(nodes, func(i int, _ *FS) error {
			_, err := streams[i].Write(make([]byte, 10))
			return err
		})
		w := winner(t, round, errs, 10)
		if _, _, err := streams[1-w].Commit(); !errors.Is(err, ErrQuota) {
			t.Errorf("round %d: the loser's commit: %v, want ErrQuota", round, err)
		}
		if _, _, err := streams[w].Commit(); err != nil {
			t.Fatal(err)
		}
		if err := nodes[1-w].Remove(streams[w].Path()); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range nodes {
		checkUsage(t, f, base, "u", 90)
		checkFiles(t, f, base, "u", 1)
	}
	if c := shared.held("u"); c.Reserved != 0 || c.Partials != 0 {
		t.Errorf("the ledger holds %+v after every stream ended, want nothing reserved or unfinished", c)
	}
}

// Two nodes that open a new home at once agree on its mark: the second to mark it (here made to
// find no mark, as if it had looked just before the first wrote one) takes the first's. So the
// first node does not take the home for one made anew at its next open: its upload in progress
// there is stored, and nobody measures the home again.
func TestTwoNodesMarkANewHomeAtOnce(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	writeFile(t, filepath.Join(base, "u", "old"), make([]byte, 10))
	shared := newMapLedger()
	a, first := openHome(t, base, "u", 100, Options{Ledger: shared})
	data := []byte("0123456789")
	up, err := first.BeginUpload("new", int64(len(data)), srcMtime, false, "")
	if err != nil {
		t.Fatal(err)
	}
	late := New(&lateMark{Backend: local.New(base, local.Options{})}, Options{Ledger: shared})
	second, err := late.Open("u", 100)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	openAgain(t, a, "u", 100) // another session on the first node
	if _, err := up.Write(data); err != nil {
		t.Fatalf("the first node's upload after the second node opened the home: %v", err)
	}
	if _, err := up.Commit(md5hex(data)); err != nil {
		t.Fatalf("the first node's upload after the second node opened the home: %v", err)
	}
	if shared.measures != 1 {
		t.Errorf("the home was measured %d times; want once, both nodes on one mark", shared.measures)
	}
	checkUsage(t, second, base, "u", 20)
}

// lateMark is a backend whose first read of a home's mark finds none, as a node does that looks
// just before another node marks the home.
type lateMark struct {
	storage.Backend
	read atomic.Bool
}

func (b *lateMark) OpenHome(ctx context.Context, rel string, create bool) (storage.Home, error) {
	h, err := b.Backend.OpenHome(ctx, rel, create)
	if err != nil {
		return nil, err
	}
	return lateMarkHome{Home: h, b: b}, nil
}

type lateMarkHome struct {
	storage.Home
	b *lateMark
}

func (h lateMarkHome) Meta(ctx context.Context, key string) ([]byte, error) {
	if key == tokenKey && !h.b.read.Swap(true) {
		return nil, &fs.PathError{Op: "meta", Path: key, Err: storage.ErrNotExist}
	}
	return h.Home.Meta(ctx, key)
}
