package homefs

import (
	"crypto/md5"
	"encoding"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"time"
)

// stateHash is an md5 that keeps its internal state each time it has hashed a multiple of every
// bytes.
type stateHash struct {
	hash.Hash
	every  int64
	n      int64
	states [][]byte // states[i] is the state after (i+1)*every bytes
}

// NewMD5 returns an md5 hash that also keeps the states a later resume needs, every
// Options.StateEvery bytes; give it to RecordMD5 once it has hashed a whole file. Checking that a
// client's part of a file is the server's (a resume) needs the md5 of a prefix: from the nearest
// kept state, PrefixMD5 and a resumed upload read at most one interval, however large the file,
// so a resume request cannot make the server hash a whole file.
func (f *FS) NewMD5() hash.Hash { return newStateHash(f.store.opts.StateEvery) }

func newStateHash(every int64) *stateHash { return &stateHash{Hash: md5.New(), every: every} }

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
			if err != nil { // crypto/md5 always can
				panic(fmt.Sprintf("homefs: md5 state: %v", err))
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

// hashPrefix returns a stateHash (with states every `interval` bytes) that has hashed the first n
// bytes of r: from the latest of the stored states (made every `every` bytes) that lies within
// them, taken on trust (they were computed from these bytes), then reading the rest.
func (f *FS) hashPrefix(r io.ReaderAt, n int64, every int64, stored []string) (*stateHash, error) {
	h := newStateHash(f.store.opts.StateEvery)
	if every == h.every {
		k := min(int64(len(stored)), n/every)
		for ; k > 0; k-- {
			if h.restore(stored[:k]) == nil {
				break
			}
		}
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

// stateRecord is kept beside a stored file's checksum record (KEY.states): the md5 states of the
// file, valid while it keeps the same size, modification time and id.
type stateRecord struct {
	Size   int64     `json:"size"`
	Mtime  time.Time `json:"mtime"`
	ID     uint64    `json:"id,omitempty"`
	Every  int64     `json:"every"`
	States []string  `json:"states"`
}

// writeStates records the md5 states of the file at rel, as fi describes it. Files shorter than
// one interval have none, and get no record.
func writeStates(sums *os.Root, rel string, h hash.Hash, fi fs.FileInfo) {
	sh, ok := h.(*stateHash)
	if !ok || len(sh.states) == 0 {
		sums.Remove(key(rel) + ".states")
		return
	}
	data, err := json.Marshal(stateRecord{Size: fi.Size(), Mtime: fi.ModTime(), ID: fileID(fi), Every: sh.every,
		States: sh.encoded(fi.Size())})
	if err == nil {
		sums.WriteFile(key(rel)+".states", data, 0o600)
	}
}

// readStates returns the recorded md5 states of the file at rel if they are still true of fi.
func readStates(sums *os.Root, rel string, fi fs.FileInfo) (every int64, states []string) {
	data, err := sums.ReadFile(key(rel) + ".states")
	if err != nil {
		return 0, nil
	}
	var r stateRecord
	if json.Unmarshal(data, &r) != nil || r.Size != fi.Size() || !r.Mtime.Equal(fi.ModTime()) || r.ID != fileID(fi) {
		return 0, nil
	}
	return r.Every, r.States
}

// PrefixMD5 returns an md5 hash (see FS.NewMD5) that has hashed the first n bytes of d, reading at
// most one state interval of the file when its states are recorded (they are recorded for every
// file stored by an upload, and by RecordMD5). Writing the rest of the file into it gives the
// md5 of the whole file.
func (f *FS) PrefixMD5(d *Download, n int64) (hash.Hash, error) {
	if n < 0 || n > d.Info.Size {
		return nil, newErr(ErrOffset, d.Path, fmt.Sprintf("offset %d of a file of %d bytes", n, d.Info.Size))
	}
	var every int64
	var states []string
	if sums, err := f.metaRoot(sumsDir); err == nil {
		every, states = readStates(sums, d.rel, d.info)
	}
	h, err := f.hashPrefix(d, n, every, states)
	if err != nil {
		return nil, &Error{Kind: ErrIO, Path: d.Path, Err: err}
	}
	return h, nil
}
