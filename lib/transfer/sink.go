package transfer

import (
	"hash"
	"io"
	"sync"
	"sync/atomic"
)

// Chunk is the size of the buffers a Sink hands out: one data frame as the client sends it.
const Chunk = 256 << 10

// depth is how many buffers a Sink cycles through: one being filled by the caller, one being
// written, one being hashed, and one spare.
const depth = 4

// inlineMax is the largest expected stream that a Sink writes and hashes on the caller's
// goroutine: below it, handing each chunk to two goroutines costs more than the work it spreads
// (a 4 KiB file: about 2 µs of hashing and 3 µs of writing, against the wake-ups of two
// goroutines and their start).
const inlineMax = 64 << 10

// Sink moves a stream of chunks to a writer and a hash at the same time, on goroutines of its own,
// so that filling the next chunk (from the network or a file), writing one and hashing one use
// different cores. The writer and the hash each take the chunks in order at their own pace (one may
// run up to a few chunks ahead of the other); a buffer is reused once both are done with it. The
// caller gets a buffer with Buffer, fills it, and passes it (or a prefix of it) to Submit. Errors
// from the writer are returned by a later Submit, by Flush and by Close. A small stream (up to
// inlineMax expected, or of unknown size until it has taken Chunk bytes) is written and hashed
// by Submit itself, on the caller's goroutine.
//
// A Sink is used by one goroutine. Close must be called to end it.
type Sink struct {
	w      io.Writer
	h      hash.Hash // may be nil
	size   int
	made   int
	inline []byte // the one buffer of a small stream, written and hashed by Submit
	// unknown is set for a stream of unknown size, written inline until inlined reaches Chunk,
	// and then by the writer and the hasher.
	unknown bool
	inlined int64
	free    chan []byte
	writeq  chan *chunk
	hashq   chan *chunk
	wg      sync.WaitGroup // the writer and the hasher
	busy    sync.WaitGroup // chunks submitted and not yet written and hashed

	mu  sync.Mutex
	err error
}

// chunk is a submitted buffer and the number of goroutines (writer, hasher) still using it.
type chunk struct {
	b    []byte
	left atomic.Int32
}

// unknownStart is the size of the buffer of a stream of unknown size, written inline until it
// has taken Chunk bytes: the writes of an SFTP client (32 KiB) fit in one, and Chunk is a
// multiple of it, so that a stream read into whole buffers (FTP) keeps the boundaries of Chunk
// it always had (a part of an object store is a multiple of them: a part is written as soon as
// its last byte has arrived, not once a buffer that straddles it is full).
const unknownStart = 32 << 10

// NewSink returns a Sink writing to w and hashing into h (nil for no hash). total is the number of
// bytes expected, used to size the buffers for small streams; it may be an estimate. A negative
// total means unknown (an FTP or SFTP upload): the stream is written inline, with a small
// buffer, until it has taken Chunk bytes, and then as a large one.
func NewSink(w io.Writer, h hash.Hash, total int64) *Sink {
	switch {
	case total < 0:
		return &Sink{w: w, h: h, size: unknownStart, inline: make([]byte, unknownStart), unknown: true}
	case total <= inlineMax:
		size := int(max(total, 1))
		return &Sink{w: w, h: h, size: size, inline: make([]byte, size)}
	}
	s := &Sink{w: w, h: h}
	s.pipeline(int(min(total, Chunk)))
	return s
}

// pipeline starts the writer and the hasher, with buffers of size bytes.
func (s *Sink) pipeline(size int) {
	s.inline, s.size = nil, size
	s.free, s.writeq = make(chan []byte, depth), make(chan *chunk, depth)
	s.wg.Add(1)
	go s.write()
	if s.h != nil {
		s.hashq = make(chan *chunk, depth)
		s.wg.Add(1)
		go s.hash()
	}
}

// Buffer returns an empty buffer of at least one byte and at most Chunk bytes, waiting while all
// buffers are in use.
func (s *Sink) Buffer() []byte {
	if s.inline != nil && s.unknown && s.inlined >= Chunk && s.err == nil {
		s.pipeline(Chunk) // nothing is in flight: inline submits are done when they return
	}
	if s.inline != nil {
		return s.inline
	}
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
	if s.inline != nil {
		return s.submitInline(b)
	}
	if err := s.Err(); err != nil {
		s.free <- b
		return err
	}
	c := &chunk{b: b}
	c.left.Store(1)
	if s.hashq != nil {
		c.left.Store(2)
	}
	s.busy.Add(1)
	s.writeq <- c
	if s.hashq != nil {
		s.hashq <- c
	}
	return nil
}

// submitInline writes and hashes b at once (a small stream).
func (s *Sink) submitInline(b []byte) error {
	if s.err != nil {
		return s.err
	}
	if _, err := s.w.Write(b); err != nil {
		s.err = err
		return err
	}
	if s.h != nil {
		s.h.Write(b)
	}
	s.inlined += int64(len(b))
	return nil
}

// Flush waits until every submitted chunk is written and hashed, and returns the first write error.
// The Sink stays open.
func (s *Sink) Flush() error {
	if s.inline != nil {
		return s.err
	}
	s.busy.Wait()
	return s.Err()
}

// Err returns the first write error, if any.
func (s *Sink) Err() error {
	if s.inline != nil {
		return s.err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Close waits until every submitted chunk is written and hashed and returns the first write error.
func (s *Sink) Close() error {
	if s.inline != nil {
		return s.err
	}
	close(s.writeq)
	if s.hashq != nil {
		close(s.hashq)
	}
	s.wg.Wait()
	return s.Err()
}

func (s *Sink) write() {
	defer s.wg.Done()
	for c := range s.writeq {
		if s.Err() == nil {
			if _, err := s.w.Write(c.b); err != nil {
				s.setErr(err)
			}
		}
		s.release(c)
	}
}

func (s *Sink) hash() {
	defer s.wg.Done()
	for c := range s.hashq {
		s.h.Write(c.b)
		s.release(c)
	}
}

// release frees c's buffer when the last of its users is done with it.
func (s *Sink) release(c *chunk) {
	if c.left.Add(-1) == 0 {
		s.free <- c.b
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
