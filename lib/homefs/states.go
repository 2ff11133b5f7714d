package homefs

import (
	"encoding"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"slices"

	"github.com/myftp/myftp/lib/checksum"
)

// stateHash is a checksum's hash (see package checksum: every one can save its state) that keeps
// its internal state each time it has hashed a multiple of every bytes. Checking that a client's
// part of a file is the server's (a resume) needs the checksum of a prefix: from the nearest kept
// state, PrefixSum and a resumed upload read at most one interval, however large the file, so a
// resume request cannot make the server hash a whole file.
type stateHash struct {
	hash.Hash
	algo   string
	every  int64
	n      int64
	states [][]byte // states[i] is the state after (i+1)*every bytes
}

// NewHash returns the hash of the checksum algo (md5 when algo is ""), keeping the states a later
// resume needs every Options.StateEvery bytes; give it to Record once it has hashed a whole file.
// It returns nil for an algorithm package checksum does not know.
func (f *FS) NewHash(algo string) hash.Hash {
	if h := f.newStateHash(algo, -1); h != nil {
		return h
	}
	return nil
}

// StreamChecksum is the checksum algorithm this FS computes and records for uploads whose client
// sends none (see SetStreamChecksum; by default the store's Options.StreamChecksum); doors that
// hash downloads for the record use it too.
func (f *FS) StreamChecksum() string {
	if f.stream != "" {
		return f.stream
	}
	return f.store.opts.StreamChecksum
}

// SetStreamChecksum makes algo, one of checksum.Transfer(), the algorithm this FS computes and
// records for the streams it receives (BeginStream), in place of the store's: each door records
// the checksum its clients ask for, if any. It is called before the FS is used. A stream that
// continues an unfinished upload hashed with another algorithm hashes its first part again.
func (f *FS) SetStreamChecksum(algo string) error {
	if !slices.Contains(checksum.Transfer(), algo) {
		return fmt.Errorf("homefs: stream checksum %q: want one of %v", algo, checksum.Transfer())
	}
	f.stream = algo
	return nil
}

// newStateHash returns a stateHash of algo that will hash at most size bytes (-1: not known), or
// nil for an algorithm package checksum does not know. One that cannot reach the first state
// (size < every) keeps none, and hashes with package checksum's faster digest-only kind.
func (f *FS) newStateHash(algo string, size int64) *stateHash {
	if algo == "" {
		algo = checksum.MD5
	}
	every := f.store.opts.StateEvery
	var h hash.Hash
	if size >= 0 && size < every {
		h = checksum.NewDigest(algo)
	} else if h = checksum.New(algo); h != nil {
		if _, ok := h.(encoding.BinaryMarshaler); !ok {
			h = nil
		}
	}
	if h == nil {
		return nil
	}
	return &stateHash{Hash: h, algo: algo, every: every}
}

func (s *stateHash) Write(p []byte) (int, error) {
	total := len(p)
	for len(p) > 0 {
		next := (s.n/s.every + 1) * s.every
		k := min(int64(len(p)), next-s.n)
		s.Hash.Write(p[:k])
		s.n += k
		p = p[k:]
		if s.n == next {
			st, err := s.Hash.(encoding.BinaryMarshaler).MarshalBinary()
			if err != nil { // the hashes of package checksum always can
				panic(fmt.Sprintf("homefs: %s state: %v", s.algo, err))
			}
			s.states = append(s.states, st)
		}
	}
	return total, nil
}

func (s *stateHash) Reset() {
	s.Hash.Reset()
	s.n, s.states = 0, nil
}

// encoded returns the states of the first n bytes, for storing.
func (s *stateHash) encoded(n int64) []string {
	var out []string
	for i, st := range s.states {
		if int64(i+1)*s.every > n {
			break
		}
		out = append(out, base64.StdEncoding.EncodeToString(st))
	}
	return out
}

// hashPrefix returns a stateHash of algo (with states every `interval` bytes) that has hashed the
// first n bytes of r: from the latest of the stored states (made every `every` bytes) that lies
// within them, taken on trust (they were computed from these bytes), then reading the rest. size
// is the most bytes it will hash in all (-1: not known), as for newStateHash.
func (f *FS) hashPrefix(algo string, r io.ReaderAt, n int64, every int64, stored []string, size int64) (*stateHash, error) {
	h := f.newStateHash(algo, size)
	if h == nil {
		return nil, newErr(ErrInvalidPath, "", "unknown checksum algorithm "+algo)
	}
	if every == h.every {
		k := min(int64(len(stored)), n/every)
		for ; k > 0; k-- {
			if h.restore(stored[:k]) == nil {
				break
			}
		}
	}
	if n == h.n { // a new upload, or a prefix all in its states: no 32 KiB copy buffer for nothing
		return h, nil
	}
	if _, err := io.Copy(h, io.NewSectionReader(r, h.n, n-h.n)); err != nil {
		return nil, err
	}
	return h, nil
}

// restore sets h to the last of states (the state after len(states)*every bytes).
func (h *stateHash) restore(states []string) error {
	decoded := make([][]byte, len(states))
	for i, s := range states {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return err
		}
		decoded[i] = b
	}
	if err := h.Hash.(encoding.BinaryUnmarshaler).UnmarshalBinary(decoded[len(decoded)-1]); err != nil {
		h.Hash.Reset()
		return err
	}
	h.states, h.n = decoded, int64(len(decoded))*h.every
	return nil
}

// ResumeDownload decides where a download of d starts when the client already holds its first
// offset bytes, whose checksum in algo is prefix (hex), as BeginUpload decides for an upload. It
// returns the hash of algo that has hashed the file up to start, ready for the rest: start is
// offset when the file's prefix has the same checksum (computed from the nearest recorded state:
// at most one interval of the file is read, however large the offset), else 0, and restart then
// says why, for the client.
func (f *FS) ResumeDownload(d *Download, offset int64, prefix, algo string) (h hash.Hash, start int64, restart string, err error) {
	switch {
	case offset == 0:
		return f.NewHash(algo), 0, "", nil
	case offset > d.Info.Size:
		return f.NewHash(algo), 0, "the local partial file is longer than the remote file", nil
	}
	if h, err = f.PrefixSum(d, offset, algo); err != nil {
		return nil, 0, "", err
	}
	if hex.EncodeToString(h.Sum(nil)) != prefix {
		return f.NewHash(algo), 0, "the partial file is not a prefix of the remote file (one of them changed)", nil
	}
	return h, offset, "", nil
}

// PrefixSum returns the hash of the checksum algo (see FS.NewHash) that has hashed the first n
// bytes of d, reading at most one state interval of the file when states of algo are recorded
// (for every file stored by an upload in that algorithm, and by Record). Writing the rest of the
// file into it gives the checksum of the whole file.
func (f *FS) PrefixSum(d *Download, n int64, algo string) (hash.Hash, error) {
	if n < 0 || n > d.Info.Size {
		return nil, newErr(ErrOffset, d.Path, fmt.Sprintf("offset %d of a file of %d bytes", n, d.Info.Size))
	}
	h, err := f.hashPrefix(algo, d, n, d.sums.Every, d.sums.States[algo], d.Info.Size)
	var he *Error
	if errors.As(err, &he) {
		return nil, err
	}
	if err != nil {
		return nil, &Error{Kind: ErrIO, Path: d.Path, Err: err}
	}
	return h, nil
}
