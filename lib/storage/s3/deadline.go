package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/myftp/myftp/lib/storage"
)

// Deadlines. A store that accepts a connection and then stops answering (a hung node, a network
// that drops packets) must not hold a session forever, so every request to it runs under a guard:
//
//   - a request that carries no file data (a HEAD, a page of a listing, a small record, the start,
//     completion or abortion of a multipart upload, a copy) must be answered within
//     Options.RequestTimeout, minio-go's retries included: one deadline covers them all;
//   - a transfer (a part, a single PUT of a file, a GET stream) is cut when no byte of it has moved
//     for Options.StallTimeout, however long the whole transfer takes. The clock runs only while
//     the backend waits on the store: a GET stream that its reader leaves alone (a client that
//     pauses) is not cut for it.
//
// A guard cuts a request by cancelling its context. net/http then closes the connection, which
// ends a read or write blocked on the network, and minio-go retries no more. One condition makes
// this work: a request's body must never block in Read. After a cancellation,
// http.Transport.RoundTrip waits for the goroutine that writes the request (persistConn.writeLoop,
// through mapRoundTripError's wait on writeLoopDone), and nothing the transport does can wake a
// Read blocked in the body: only the body itself can (an io.Pipe whose writer stalls holds
// RoundTrip until the writer comes back). Every body this package sends is already in memory (a
// part or a record), so a stalled network blocks the connection's Write, which the close ends,
// never the body's Read.

// ErrTimeout is the error of a request the store did not answer in time: no answer within
// Options.RequestTimeout, or a transfer that moved no byte for Options.StallTimeout. Errors
// that wrap it wrap storage.ErrUnavailable too: the operation may succeed if tried again, and an
// upload cut so keeps its whole parts for a resume.
var ErrTimeout = errors.New("s3: the store did not answer in time")

// timeoutError is the error of a guard that cut its request.
type timeoutError struct {
	stall bool // no byte moved (a transfer), rather than no answer (a request)
	after time.Duration
}

func (e *timeoutError) Error() string {
	if e.stall {
		return fmt.Sprintf("%v: no byte moved for %v", ErrTimeout, e.after)
	}
	return fmt.Sprintf("%v: no answer within %v", ErrTimeout, e.after)
}

func (e *timeoutError) Unwrap() []error { return []error{ErrTimeout, storage.ErrUnavailable} }

// Timeout reports true, as the network's timeouts do.
func (e *timeoutError) Timeout() bool { return true }

// guard cancels its context once its clock, while running, reaches its limit without being
// restarted. It is used by one request (or one stream) at a time; its clock may be restarted from
// the goroutine that feeds a request's body while another waits for the answer.
type guard struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	cause  *timeoutError
	timer  *time.Timer
}

// newGuard returns a guard on a context derived from parent, its clock running: it cuts after
// limit of silence; a stall guard (a transfer's) says so in its error.
func newGuard(parent context.Context, limit time.Duration, stall bool) *guard {
	ctx, cancel := context.WithCancelCause(parent)
	g := &guard{ctx: ctx, cancel: cancel, cause: &timeoutError{stall: stall, after: limit}}
	g.timer = time.AfterFunc(limit, func() { cancel(g.cause) })
	return g
}

// restart starts the clock again from zero: something moved, or the backend waits again.
func (g *guard) restart() { g.timer.Reset(g.cause.after) }

// pause stops the clock: the backend is not waiting on the store.
func (g *guard) pause() { g.timer.Stop() }

// stop releases the guard and cancels its context: its request is over.
func (g *guard) stop() {
	g.timer.Stop()
	g.cancel(context.Canceled)
}

// cut reports whether the guard cut its request.
func (g *guard) cut() bool { return context.Cause(g.ctx) == error(g.cause) }

// check returns err, or the guard's timeout error if err came of the guard cutting the request
// (whatever minio-go or net/http made of the cancellation).
func (g *guard) check(err error) error {
	if err != nil && g.cut() {
		return g.cause
	}
	return err
}

// moving is an in-memory body (it never blocks in Read: see above) that restarts its guard's
// clock at every read that moves bytes. It seeks, so that minio-go can send it again on a retry.
type moving struct {
	r interface {
		io.Reader
		io.Seeker
	}
	g *guard
}

func (m *moving) Read(p []byte) (int, error) {
	n, err := m.r.Read(p)
	if n > 0 {
		m.g.restart()
	}
	return n, err
}

func (m *moving) Seek(off int64, whence int) (int64, error) { return m.r.Seek(off, whence) }

// request returns a guard for a request that carries no file data: no answer within
// RequestTimeout, or within one RequestTimeout per started maxCopy bytes for one that copies or
// completes size bytes on the store.
func (b *Backend) request(ctx context.Context, size int64) *guard {
	return newGuard(ctx, b.opts.RequestTimeout*time.Duration(1+size/maxCopy), false)
}

// transfer returns a guard for a transfer: cut after StallTimeout without a byte moving.
func (b *Backend) transfer(ctx context.Context) *guard {
	return newGuard(ctx, b.opts.StallTimeout, true)
}
