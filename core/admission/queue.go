package admission

import (
	"sync"
	"time"
)

// waiter is a connection in the queue.
type waiter struct {
	c     *Conn
	door  Door
	timer *time.Timer   // the queue timeout; nil without one
	said  chan struct{} // closed once enqueue is done writing to the connection
}

func (w *waiter) stopTimer() {
	if w.timer != nil {
		w.timer.Stop()
	}
}

// queue is the bounded queue in front of the worker pool. A connection may wait when all workers
// are busy, up to capacity waiting; it leaves the queue when a worker is free for it, or when it
// expires.
type queue struct {
	mu       sync.Mutex
	items    []*waiter
	assigned int // connections handed to workers and not finished
	pool     int
	capacity int
	closed   bool          // set by drain: nothing more is queued
	wake     chan struct{} // has a token when next may find work
}

func newQueue(pool, capacity int) *queue {
	return &queue{pool: pool, capacity: capacity, wake: make(chan struct{}, 1)}
}

func (q *queue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// push adds w unless the queue was drained or as many connections as the free workers plus the
// queue size are already waiting. wait reports whether w will have to wait for a worker.
func (q *queue) push(w *waiter) (ok, wait bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	free := q.pool - q.assigned
	if q.closed || len(q.items) >= q.capacity+free {
		return false, false
	}
	q.items = append(q.items, w)
	q.signal()
	return true, len(q.items) > free
}

// next waits for a free worker and a waiting connection, assigns them, and returns the
// connection; nil when done closes.
func (q *queue) next(done <-chan struct{}) *waiter {
	for {
		q.mu.Lock()
		if q.assigned < q.pool && len(q.items) > 0 {
			w := q.items[0]
			q.items[0] = nil
			q.items = q.items[1:]
			q.assigned++
			q.mu.Unlock()
			return w
		}
		q.mu.Unlock()
		select {
		case <-q.wake:
		case <-done:
			return nil
		}
	}
}

// release frees the worker of a finished connection.
func (q *queue) release() {
	q.mu.Lock()
	q.assigned--
	q.mu.Unlock()
	q.signal()
}

// remove takes w out of the queue and reports whether it was still waiting.
func (q *queue) remove(w *waiter) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i, x := range q.items {
		if x == w {
			q.items = append(q.items[:i], q.items[i+1:]...)
			return true
		}
	}
	return false
}

// drain empties and closes the queue and returns what was in it. A connection accepted while the
// server shuts down is refused by push, rather than left waiting for a worker that never comes.
func (q *queue) drain() []*waiter {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	items := q.items
	q.items = nil
	return items
}

// counts returns the connections being served and those waiting for a worker.
func (q *queue) counts() (running, waiting int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.assigned, max(len(q.items)-(q.pool-q.assigned), 0)
}
