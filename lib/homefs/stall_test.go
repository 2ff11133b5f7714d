package homefs

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// stallingLedger is a mapLedger whose next Change, once armed, waits until released: a ledger
// in a database that does not answer.
type stallingLedger struct {
	*mapLedger
	armed   atomic.Bool   // the next Change stalls
	entered chan struct{} // closed when the stalled Change began
	release chan struct{}
}

func (l *stallingLedger) Change(ctx context.Context, home string, d Counts, lim Limits) (Counts, error) {
	if l.armed.CompareAndSwap(true, false) {
		close(l.entered)
		<-l.release
	}
	return l.mapLedger.Change(ctx, home, d, lim)
}

// TestQuotaRefreshDoesNotWaitForTheLedger: every command of every door rechecks its account and
// sets the home's quotas again (door.Services.Recheck); while another session of the home waits
// for the ledger under the home's lock (a database that does not answer), those commands go on.
// The ledger is released after 10 s at the latest, so that a failing run ends.
func TestQuotaRefreshDoesNotWaitForTheLedger(t *testing.T) {
	t.Parallel()
	l := &stallingLedger{mapLedger: newMapLedger(), entered: make(chan struct{}), release: make(chan struct{})}
	s, f := openHome(t, t.TempDir(), "u", 1000, Options{Ledger: l})
	other := openAgain(t, s, "u", 1000)
	l.armed.Store(true)
	stalled := make(chan error, 1)
	go func() {
		_, err := f.Mkdir("d", false) // one Change, under the home's lock
		stalled <- err
	}()
	<-l.entered
	safety := time.AfterFunc(10*time.Second, func() { close(l.release) })
	other.SetQuota(2000)
	other.SetMaxFiles(50)
	if !safety.Stop() {
		t.Error("setting the quotas waited for the stalled ledger")
	} else {
		close(l.release)
	}
	if err := <-stalled; err != nil {
		t.Fatalf("the stalled mkdir: %v", err)
	}
	if used, quota := other.Usage(); quota != 2000 || used != 0 {
		t.Errorf("Usage after the refresh: %d of %d; want 0 of 2000", used, quota)
	}
	if _, maxFiles := other.FileCount(); maxFiles != 50 {
		t.Errorf("FileCount's limit after the refresh: %d; want 50", maxFiles)
	}
}
