package admission

import "testing"

// TestSlotsClosedByDrain: once Shutdown has drained the queue, a connection accepted late is not
// queued (it would wait for a worker that never comes, then hear "server busy").
func TestSlotsClosedByDrain(t *testing.T) {
	q := newQueue(1, 2)
	if ok, wait := q.push(&waiter{}); !ok || wait {
		t.Fatalf("first push: ok %v, wait %v; want it taken at once", ok, wait)
	}
	if got := len(q.drain()); got != 1 {
		t.Fatalf("drain returned %d waiters, want 1", got)
	}
	if ok, _ := q.push(&waiter{}); ok {
		t.Fatal("a push after drain was queued")
	}
	if running, waiting := q.counts(); running != 0 || waiting != 0 {
		t.Fatalf("after drain: %d running, %d waiting", running, waiting)
	}
}
