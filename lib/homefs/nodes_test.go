package homefs

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
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
