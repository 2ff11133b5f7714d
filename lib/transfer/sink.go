package transfer

import (
	"hash"
	"io"
	"sync"
)

// Chunk is the size of the buffers a Sink hands out: one data frame as the client sends it.
const Chunk = 256 << 10

// depth is how many buffers a Sink cycles through: one being filled by the caller, one being
// written, one being hashed, and one spare.
const depth = 4

// Sink moves a stream of chunks to a writer and a hash at the same time, on goroutines of its own,
// so that filling the next chunk (from the network or a file), writing the current one and hashing
// it use different cores. The caller gets a buffer with Buffer, fills it, and passes it (or a prefix
// of it) to Submit; chunks reach the writer and the hash in order. Errors from the writer are
// returned by a later Submit and by Close.
//
// A Sink is used by one goroutine. Close must be called to end it.
type Sink struct {
	w    io.Writer
	h    hash.Hash // may be nil
	size int
	made int
	free chan []byte
	full chan []byte
	done chan struct{}
	busy sync.WaitGroup // chunks submitted and not yet written and hashed

	mu  sync.Mutex
	err error
}

// NewSink returns a Sink writing to w and hashing into h (nil for no hash). total is the number of
// bytes expected, used to size the buffers for small streams; it may be an estimate.
func NewSink(w io.Writer, h hash.Hash, total int64) *Sink {
	size := int(min(max(total, 1), Chunk))
	s := &Sink{w: w, h: h, size: size, free: make(chan []byte, depth), full: make(chan []byte, depth), done: make(chan struct{})}
	go s.run()
	return s
}

// Buffer returns an empty buffer of at least one byte and at most Chunk bytes, waiting while all
// buffers are in use.
func (s *Sink) Buffer() []byte {
	if s.made < depth {
		select {
		case b := <-s.free:
			return b[:cap(b)]
		default:
			s.made++
			return make([]byte, s.size)
		}
	}
	b := <-s.free
	return b[:cap(b)]
}

// Submit queues b, a prefix of a buffer from Buffer, for writing and hashing. It returns the first
// error the writer met so far; after an error the data is dropped.
func (s *Sink) Submit(b []byte) error {
	if err := s.Err(); err != nil {
		s.free <- b
		return err
	}
	s.busy.Add(1)
	s.full <- b
	return nil
}

// Flush waits until every submitted chunk is written and hashed, and returns the first write error.
// The Sink stays open.
func (s *Sink) Flush() error {
	s.busy.Wait()
	return s.Err()
}

// Err returns the first write error, if any.
func (s *Sink) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Close waits until every submitted chunk is written and hashed and returns the first write error.
func (s *Sink) Close() error {
	close(s.full)
	<-s.done
	return s.Err()
}

// run writes each chunk while a helper goroutine hashes it, and frees the buffer when both are done.
func (s *Sink) run() {
	defer close(s.done)
	hashq := make(chan []byte)
	hashed := make(chan struct{})
	if s.h != nil {
		go func() {
			for b := range hashq {
				s.h.Write(b)
				hashed <- struct{}{}
			}
		}()
		defer close(hashq)
	}
	for b := range s.full {
		if s.h != nil {
			hashq <- b
		}
		if s.Err() == nil {
			if _, err := s.w.Write(b); err != nil {
				s.setErr(err)
			}
		}
		if s.h != nil {
			<-hashed
		}
		s.free <- b
		s.busy.Done()
	}
}

func (s *Sink) setErr(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		s.err = err
	}
}
