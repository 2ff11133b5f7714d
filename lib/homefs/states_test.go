package homefs

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/myftp/myftp/lib/checksum"
)

// countingReaderAt counts the bytes read through it.
type countingReaderAt struct {
	r io.ReaderAt
	n atomic.Int64
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.n.Add(int64(n))
	return n, err
}

// TestPrefixSumReadsOneInterval: the checksum of any prefix of a stored file comes out right and
// is computed reading at most one state interval, for files stored by an upload (md5), by a
// stream (sha256), and by a download that hashed the whole file (blake3); without states (or with
// broken ones) the whole prefix is read, and the answer is still right.
func TestPrefixSumReadsOneInterval(t *testing.T) {
	t.Parallel()
	const every = 64 << 10
	base := t.TempDir()
	_, f := openHome(t, base, "alice", 1<<30, Options{StateEvery: every})
	data := randomBytes(1<<20+12345, 21)
	put(t, f, "upload.bin", data)
	s := stream(t, f, "stream.bin", 0)
	io.Copy(s, bytes.NewReader(data))
	commitStream(t, s, data)
	if err := os.WriteFile(filepath.Join(base, "alice", "admin.bin"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	for name, algo := range map[string]string{"upload.bin": "md5", "stream.bin": "sha256", "admin.bin": "blake3"} {
		d, err := f.OpenDownload(name)
		if err != nil {
			t.Fatal(err)
		}
		if name == "admin.bin" { // made outside the server: a full download records its states
			h := f.NewHash(algo)
			io.Copy(h, d)
			f.Record(d, h)
		}
		for _, n := range []int64{0, 1, every - 1, every, 5*every + 7, int64(len(data)) - 1, int64(len(data))} {
			r, _ := f.loadRecord(d.rel, d.info)
			every, states := r.Every, r.States[algo]
			c := &countingReaderAt{r: d}
			h, err := f.hashPrefix(algo, c, n, every, states, int64(len(data)))
			if err != nil {
				t.Fatal(err)
			}
			w := checksum.New(algo)
			w.Write(data[:n])
			if got, want := hex.EncodeToString(h.Sum(nil)), hex.EncodeToString(w.Sum(nil)); got != want {
				t.Fatalf("%s: %s of the first %d bytes %s, want %s", name, algo, n, got, want)
			}
			if c.n.Load() >= 64<<10 {
				t.Fatalf("%s: the %s of the first %d bytes read %d bytes, want less than one interval", name, algo, n, c.n.Load())
			}
			pm, err := f.PrefixSum(d, n, algo)
			if err != nil || !bytes.Equal(pm.Sum(nil), w.Sum(nil)) {
				t.Fatalf("%s: PrefixSum(%d, %s): %v", name, n, algo, err)
			}
		}
		// Broken states are not trusted.
		c := &countingReaderAt{r: d}
		h, err := f.hashPrefix("md5", c, int64(len(data)), every, []string{"not base64!", "AAAA"}, -1)
		if err != nil || hex.EncodeToString(h.Sum(nil)) != md5hex(data) || c.n.Load() != int64(len(data)) {
			t.Fatalf("%s: with broken states: %v, read %d", name, err, c.n.Load())
		}
		d.Close()
	}
}

// TestResumedUploadUsesStates: an interrupted upload records the hash states of what it received,
// so that resuming it hashes at most one interval of the partial file; the resumed file is right.
func TestResumedUploadUsesStates(t *testing.T) {
	t.Parallel()
	const every = 64 << 10
	base := t.TempDir()
	_, f := openHome(t, base, "alice", 1<<30, Options{StateEvery: every, Fsync: true})
	data := randomBytes(1<<20, 22)
	u := begin(t, f, "a.bin", int64(len(data)), srcMtime, false)
	u.Write(data[:700_000])
	u.Abort()
	s := stream(t, f, "b.bin", 0)
	s.Write(data[:700_000])
	s.Abort()
	for _, name := range []string{"a.bin", "b.bin"} {
		raw, err := os.ReadFile(filepath.Join(base, "alice", filepath.FromSlash(descPath(name))))
		if err != nil {
			t.Fatal(err)
		}
		var meta partialMeta
		if err := json.Unmarshal(raw, &meta); err != nil || meta.Every != every || len(meta.States) != 700_000/every {
			t.Fatalf("%s: description %s: want %d states every %d", name, raw, 700_000/every, every)
		}
	}
	u = begin(t, f, "a.bin", int64(len(data)), srcMtime, true)
	if u.Offset() != 700_000 || u.PrefixSum() != md5hex(data[:700_000]) {
		t.Fatalf("resumed at %d with prefix %s", u.Offset(), u.PrefixSum())
	}
	u.Write(data[700_000:])
	if _, err := u.Commit(md5hex(data)); err != nil {
		t.Fatal(err)
	}
	s = stream(t, f, "b.bin", Append)
	s.Write(data[700_000:])
	commitStream(t, s, data)
}

// The md5 states recorded with a file go with it: removed with it, moved with it.
func TestStatesFollowTheFile(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	_, f := openHome(t, base, "u", 1<<20, Options{StateEvery: 64})
	states := func(rel string) int {
		info, err := f.home.Stat(f.ctx(), rel)
		if err != nil {
			return -1
		}
		r, _ := f.loadRecord(rel, info)
		return len(r.States["md5"])
	}
	put(t, f, "a", bytes.Repeat([]byte("x"), 200))
	if n := states("a"); n != 3 {
		t.Fatalf("%d states recorded for a file of three intervals", n)
	}
	if err := f.Rename("a", "b"); err != nil {
		t.Fatal(err)
	}
	if n := states("b"); n != 3 {
		t.Errorf("the states did not follow the file: %d", n)
	}
	if err := f.Remove("b"); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(base, "u", "b"), bytes.Repeat([]byte("x"), 200))
	if n := states("b"); n != 0 {
		t.Errorf("the states of a removed file stay with a new file of its name: %d", n)
	}
}
