package homefs

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
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

// TestPrefixMD5ReadsOneInterval: the md5 of any prefix of a stored file comes out right and is
// computed reading at most one state interval, for files stored by an upload, by a stream, and
// by a download that hashed the whole file; without states (or with broken ones) the whole prefix
// is read, and the answer is still right.
func TestPrefixMD5ReadsOneInterval(t *testing.T) {
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
	for _, name := range []string{"upload.bin", "stream.bin", "admin.bin"} {
		d, err := f.OpenDownload(name)
		if err != nil {
			t.Fatal(err)
		}
		if name == "admin.bin" { // made outside the server: a full download records its states
			h := f.NewMD5()
			io.Copy(h, d)
			f.RecordMD5(d, h)
		}
		for _, n := range []int64{0, 1, every - 1, every, 5*every + 7, int64(len(data)) - 1, int64(len(data))} {
			every, states := readStates(f.sums, d.rel, d.info)
			c := &countingReaderAt{r: d}
			h, err := f.hashPrefix(c, n, every, states)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := hex.EncodeToString(h.Sum(nil)), md5hex(data[:n]); got != want {
				t.Fatalf("%s: md5 of the first %d bytes %s, want %s", name, n, got, want)
			}
			if c.n.Load() >= 64<<10 {
				t.Fatalf("%s: the md5 of the first %d bytes read %d bytes, want less than one interval", name, n, c.n.Load())
			}
			pm, err := f.PrefixMD5(d, n)
			if err != nil || hex.EncodeToString(pm.Sum(nil)) != md5hex(data[:n]) {
				t.Fatalf("%s: PrefixMD5(%d): %v", name, n, err)
			}
		}
		// Broken states are not trusted.
		c := &countingReaderAt{r: d}
		h, err := f.hashPrefix(c, int64(len(data)), every, []string{"not base64!", "AAAA"})
		if err != nil || hex.EncodeToString(h.Sum(nil)) != md5hex(data) || c.n.Load() != int64(len(data)) {
			t.Fatalf("%s: with broken states: %v, read %d", name, err, c.n.Load())
		}
		d.Close()
	}
}

// TestResumedUploadUsesStates: an interrupted upload records the md5 states of what it received,
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
		raw, err := os.ReadFile(filepath.Join(base, "alice", partialPath(name)) + ".json")
		if err != nil {
			t.Fatal(err)
		}
		var meta partialMeta
		if err := json.Unmarshal(raw, &meta); err != nil || meta.Every != every || len(meta.States) != 700_000/every {
			t.Fatalf("%s: description %s: want %d states every %d", name, raw, 700_000/every, every)
		}
	}
	u = begin(t, f, "a.bin", int64(len(data)), srcMtime, true)
	if u.Offset() != 700_000 || u.PrefixMD5() != md5hex(data[:700_000]) {
		t.Fatalf("resumed at %d with prefix %s", u.Offset(), u.PrefixMD5())
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
	states := func(rel string) string {
		return filepath.Join(base, "u", reserved, sumsDir, key(rel)+".states")
	}
	put(t, f, "a", bytes.Repeat([]byte("x"), 200))
	if _, err := os.Stat(states("a")); err != nil {
		t.Fatalf("no states recorded for a file of three intervals: %v", err)
	}
	if err := f.Rename("a", "b"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(states("a")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the states stayed under the old name: %v", err)
	}
	if _, err := os.Stat(states("b")); err != nil {
		t.Errorf("the states did not follow the file: %v", err)
	}
	if err := f.Remove("b"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(states("b")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the states of a removed file stay: %v", err)
	}
}
