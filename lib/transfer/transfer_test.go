package transfer

import (
	"bytes"
	"crypto/md5"
	"crypto/rand"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"
)

func TestPartialName(t *testing.T) {
	got := PartialName(filepath.Join("dir", "my file.txt"))
	if want := filepath.Join("dir", ".my file.txt.myftp-partial"); got != want {
		t.Errorf("PartialName = %q, want %q", got, want)
	}
	if !IsPartial(filepath.Base(got)) || IsPartial("my file.txt") || IsPartial("x.myftp-partial") {
		t.Error("IsPartial does not recognise partial names exactly")
	}
}

func TestHashPrefix(t *testing.T) {
	data := []byte("hello, world")
	h, err := HashPrefix("md5", bytes.NewReader(data), 5)
	if err != nil {
		t.Fatal(err)
	}
	h.Write(data[5:])
	if want := md5.Sum(data); Hex(h) != strings.ToLower(hexOf(want[:])) {
		t.Errorf("prefix state continued = %s, want md5 of the whole", Hex(h))
	}
	if _, err := HashPrefix("md5", bytes.NewReader(data), 100); err == nil {
		t.Error("a prefix longer than the data was hashed without error")
	}
}

func hexOf(b []byte) string {
	const digits = "0123456789abcdef"
	var s []byte
	for _, c := range b {
		s = append(s, digits[c>>4], digits[c&15])
	}
	return string(s)
}

// TestSinkWritesAndHashesInOrder streams random chunks of random sizes through a Sink and checks
// the written bytes and the hash against the input.
// The expected size is only an estimate: a stream may be longer than said.
func TestSinkWritesAndHashesInOrder(t *testing.T) {
	for _, c := range []struct{ total, said int }{{0, 0}, {1, 1}, {4096, 4096}, {3*4096 + 5, 100},
		{inlineMax + 1, inlineMax}, {Chunk + 1, Chunk + 1}, {5*Chunk + 17, 5*Chunk + 17},
		{0, -1}, {4096, -1}, {inlineMax, -1}, {inlineMax + 1, -1}, {5*Chunk + 17, -1}} {
		total := c.total
		data := make([]byte, total)
		rand.Read(data)
		var out bytes.Buffer
		h := md5.New()
		s := NewSink(&out, h, int64(c.said))
		for rest := data; len(rest) > 0; {
			b := s.Buffer()
			n := copy(b, rest)
			rest = rest[n:]
			if err := s.Submit(b[:n]); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out.Bytes(), data) {
			t.Fatalf("total %d: written bytes differ", total)
		}
		if want := md5.Sum(data); Hex(h) != hexOf(want[:]) {
			t.Fatalf("total %d: hash differs", total)
		}
	}
}

type failAfter struct {
	n   int
	err error
}

func (f *failAfter) Write(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, f.err
	}
	f.n--
	return len(p), nil
}

// TestSinkReportsWriteErrors: a write that fails is reported by Close, and by Submit if it is
// seen there, whether the stream is small (written by Submit itself) or large (by goroutines).
func TestSinkReportsWriteErrors(t *testing.T) {
	boom := errors.New("disk full")
	for _, c := range []struct {
		total int64
		fail  int
	}{{4096, 2}, {10 * Chunk, 2}, {-1, 2}, {-1, 5}} { // unknown size: failing inline, and later
		total := c.total
		s := NewSink(&failAfter{n: c.fail, err: boom}, md5.New(), total)
		var sawErr error
		for range 10 {
			b := s.Buffer()
			if err := s.Submit(b); err != nil {
				sawErr = err
				break
			}
		}
		if err := s.Close(); !errors.Is(err, boom) {
			t.Fatalf("total %d: Close = %v, want the write error", total, err)
		}
		if sawErr != nil && !errors.Is(sawErr, boom) {
			t.Errorf("total %d: Submit returned %v", total, sawErr)
		}
	}
}

// TestSinkOfUnknownSize: a stream of unknown size gets small buffers while it is small, and
// large ones once it is not; filled whole, they end on the multiples of Chunk, as the large ones
// always did (an object store's part, a multiple of Chunk, is complete as soon as its last byte
// is submitted, not held in a buffer that straddles its end).
func TestSinkOfUnknownSize(t *testing.T) {
	s := NewSink(io.Discard, md5.New(), -1)
	var sizes []int
	ends := map[int]bool{}
	for sent := 0; sent < 3*Chunk; {
		b := s.Buffer()
		sizes = append(sizes, len(b))
		if err := s.Submit(b); err != nil {
			t.Fatal(err)
		}
		sent += len(b)
		ends[sent] = true
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if sizes[0] > inlineMax || sizes[len(sizes)-1] != Chunk {
		t.Fatalf("buffer sizes %v: want at most %d at first and %d in the end", sizes, inlineMax, Chunk)
	}
	for k := 1; k <= 3; k++ {
		if !ends[k*Chunk] {
			t.Fatalf("buffer sizes %v: no buffer ends at %d", sizes, k*Chunk)
		}
	}
}

func TestSinkWithoutHash(t *testing.T) {
	s := NewSink(io.Discard, nil, 3)
	b := s.Buffer()
	if len(b) != 3 {
		t.Errorf("buffer for a 3-byte stream has %d bytes", len(b))
	}
	if err := s.Submit(b); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestMismatchError(t *testing.T) {
	e := &MismatchError{Name: "a", Want: "x", Got: "y"}
	if !strings.Contains(e.Error(), "expected x, got y") {
		t.Error(e.Error())
	}
}
