package homefs

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/myftp/myftp/lib/checksum"
)

// stream begins a stream that must be accepted.
func stream(t testing.TB, f *FS, p string, offset int64) *Stream {
	t.Helper()
	s, err := f.BeginStream(p, offset)
	if err != nil {
		t.Fatalf("BeginStream(%q, %d): %v", p, offset, err)
	}
	return s
}

// commitStream commits s and checks the checksum it reports (sha256, the store's default for
// streams) against want.
func commitStream(t testing.TB, s *Stream, want []byte) Entry {
	t.Helper()
	e, sum, err := s.Commit()
	if err != nil {
		t.Fatalf("Commit(%s): %v", s.Path(), err)
	}
	if w := sha256.Sum256(want); sum != hex.EncodeToString(w[:]) {
		t.Fatalf("Commit(%s): sha256 %s, want %x", s.Path(), sum, w)
	}
	return e
}

// checkStored checks that p holds want, that its recorded md5 is right, and that the home's usage
// is what a restart would measure.
func checkStored(t testing.TB, base, home string, f *FS, p string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(filepath.Join(base, home, p))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s holds %d bytes, not the %d sent", p, len(got), len(want))
	}
	if sum, err := f.Checksum(p, "md5"); err != nil || sum != md5hex(want) {
		t.Fatalf("recorded md5 of %s: %q, %v; want %s", p, sum, err, md5hex(want))
	}
	if used, _ := f.Usage(); used != measured(t, base, home) {
		t.Fatalf("usage %d, but a restart would measure %d", used, measured(t, base, home))
	}
}

// TestStreamSequential: a stream of unknown size is invisible until committed, then stored with
// its md5 recorded, through Write and through ReadFrom (what io.Copy uses).
func TestStreamSequential(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	_, f := openHome(t, base, "alice", 1<<30, Options{Fsync: true})
	data := randomBytes(3<<20+17, 1)
	for _, via := range []string{"Write", "ReadFrom"} {
		name := via + ".bin"
		s := stream(t, f, name, 0)
		switch via {
		case "Write":
			for rest := data; len(rest) > 0; {
				n := min(len(rest), 40_000)
				if _, err := s.Write(rest[:n]); err != nil {
					t.Fatal(err)
				}
				rest = rest[n:]
			}
		case "ReadFrom":
			if n, err := io.Copy(s, bytes.NewReader(data)); err != nil || n != int64(len(data)) {
				t.Fatalf("io.Copy = %d, %v", n, err)
			}
		}
		if _, err := f.Stat(name); !errors.Is(err, ErrNotFound) {
			t.Fatalf("%s visible before Commit: %v", name, err)
		}
		e := commitStream(t, s, data)
		if e.Size != int64(len(data)) {
			t.Fatalf("entry size %d", e.Size)
		}
		checkStored(t, base, "alice", f, name, data)
	}
}

// TestStreamResume: an aborted stream keeps its partial file, which Held and StatHeld report;
// Append or the held size continues it, any other offset is refused, and 0 starts again.
func TestStreamResume(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	_, f := openHome(t, base, "alice", 1<<30, Options{})
	data := randomBytes(1<<20, 2)
	for _, offset := range []int64{Append, 300_000} {
		s := stream(t, f, "f.bin", 0)
		s.Write(data[:300_000])
		s.Abort()
		s.Abort() // twice is harmless
		if n, unfinished, err := f.Held("f.bin"); err != nil || n != 300_000 || !unfinished {
			t.Fatalf("Held = %d, %v, %v; want 300000, true", n, unfinished, err)
		}
		if e, err := f.StatHeld("f.bin"); err != nil || e.Size != 300_000 || e.Type != 'f' {
			t.Fatalf("StatHeld = %+v, %v", e, err)
		}
		if _, err := f.Stat("f.bin"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Stat of an unfinished upload: %v, want not found", err)
		}
		_, err := f.BeginStream("f.bin", 299_999)
		wantKind(t, "a resume at the wrong offset", err, ErrOffset)
		s = stream(t, f, "f.bin", offset)
		if s.Offset() != 300_000 {
			t.Fatalf("resumed at %d", s.Offset())
		}
		io.Copy(s, bytes.NewReader(data[300_000:]))
		commitStream(t, s, data)
		checkStored(t, base, "alice", f, "f.bin", data)
		if err := f.Remove("f.bin"); err != nil {
			t.Fatal(err)
		}
	}
	// Starting again from 0 discards the unfinished upload and its space.
	s := stream(t, f, "g.bin", 0)
	s.Write(data)
	s.Abort()
	s = stream(t, f, "g.bin", 0)
	s.Write(data[:10])
	commitStream(t, s, data[:10])
	checkStored(t, base, "alice", f, "g.bin", data[:10])
}

// TestStreamAppendToStored: appending to a stored file continues a copy of it, published whole;
// the stored file stays readable as it was until then.
func TestStreamAppendToStored(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	// Room for the old file and what is appended, not for a second copy of the old file.
	_, f := openHome(t, base, "alice", 1<<20+1000, Options{})
	old := randomBytes(1<<20, 3)
	put(t, f, "log.txt", old)
	_, err := f.BeginStream("log.txt", 100)
	wantKind(t, "append at the wrong offset", err, ErrOffset)
	s := stream(t, f, "log.txt", Append)
	if _, err := s.Write([]byte("more")); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(base, "alice", "log.txt")); !bytes.Equal(got, old) {
		t.Fatal("the stored file changed before the append was committed")
	}
	want := append(bytes.Clone(old), "more"...)
	commitStream(t, s, want)
	checkStored(t, base, "alice", f, "log.txt", want)
}

// TestStreamQuota: a stream is refused at once in a full home and cut at the byte that would pass
// the quota; nothing past the quota is kept, no file appears, the partial file is gone and the
// usage is back where it was. Replacing a file may use its space.
func TestStreamQuota(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	_, f := openHome(t, base, "alice", 1000, Options{})
	put(t, f, "keep.txt", randomBytes(400, 4))

	s := stream(t, f, "big.bin", 0)
	if _, err := s.Write(randomBytes(600, 5)); err != nil {
		t.Fatalf("a write that fits exactly: %v", err)
	}
	_, err := s.Write([]byte{1})
	wantKind(t, "one byte over", err, ErrQuota)
	_, _, err = s.Commit() // a caller that goes on regardless stores nothing
	wantKind(t, "commit after a write refused for the quota", err, ErrQuota)
	if _, err := f.Stat("big.bin"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a stream over quota left %v", err)
	}
	if n, _, _ := f.Held("big.bin"); n != 0 {
		t.Fatalf("%d bytes kept of a stream over quota", n)
	}
	if used, _ := f.Usage(); used != 400 || used != measured(t, base, "alice") {
		t.Fatalf("usage %d after the refused stream, want 400", used)
	}

	full := stream(t, f, "fill.bin", 0)
	full.Write(randomBytes(600, 6))
	commitStream(t, full, randomBytes(600, 6))
	_, err = f.BeginStream("new.bin", 0)
	wantKind(t, "a stream into a full home", err, ErrQuota)

	// Replacing keep.txt (400 bytes) may take its 400 bytes, not one more.
	r := stream(t, f, "keep.txt", 0)
	if _, err := r.Write(randomBytes(400, 7)); err != nil {
		t.Fatalf("a replacement of the same size: %v", err)
	}
	_, err = r.Write([]byte{1})
	wantKind(t, "a replacement one byte larger", err, ErrQuota)
	r.Abort()
	if got, _ := os.ReadFile(filepath.Join(base, "alice", "keep.txt")); !bytes.Equal(got, randomBytes(400, 4)) {
		t.Fatal("a failed replacement changed the stored file")
	}
	if used, _ := f.Usage(); used != 1000 || used != measured(t, base, "alice") {
		t.Fatalf("usage %d, want 1000", used)
	}
}

// TestStreamOutOfOrder: pieces written in a random order by several goroutines at once (as SFTP
// clients do) make the right file with the right md5.
func TestStreamOutOfOrder(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	_, f := openHome(t, base, "alice", 1<<30, Options{})
	data := randomBytes(5<<20+123, 8)
	const piece = 32 << 10
	var offs []int64
	for off := int64(0); off < int64(len(data)); off += piece {
		offs = append(offs, off)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	// Shuffle within windows of 64 pieces, as a client with 64 requests in flight would.
	for i := 0; i < len(offs); i += 64 {
		w := offs[i:min(i+64, len(offs))]
		rng.Shuffle(len(w), func(a, b int) { w[a], w[b] = w[b], w[a] })
	}
	s := stream(t, f, "ooo.bin", 0)
	next := make(chan int64)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for off := range next {
				end := min(off+piece, int64(len(data)))
				if _, err := s.WriteAt(data[off:end], off); err != nil {
					t.Error(err)
				}
			}
		})
	}
	for _, off := range offs {
		next <- off
	}
	close(next)
	wg.Wait()
	commitStream(t, s, data)
	checkStored(t, base, "alice", f, "ooo.bin", data)
}

// TestStreamHeldThenOverlap: pieces beyond a gap are held in memory until the gap is filled; a
// piece that overlaps a held one sends them all to the file, and the writes that follow (one in
// order over pieces already written) still make the right file with the right checksum.
func TestStreamHeldThenOverlap(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	_, f := openHome(t, base, "alice", 1<<30, Options{})
	data := randomBytes(300_000, 12)
	s := stream(t, f, "held.bin", 0)
	for _, w := range [][2]int{{200_000, 300_000}, {100_000, 250_000}, {0, 120_000}, {280_000, 290_000}} {
		if _, err := s.WriteAt(data[w[0]:w[1]], int64(w[0])); err != nil {
			t.Fatalf("write %d to %d: %v", w[0], w[1], err)
		}
	}
	commitStream(t, s, data)
	checkStored(t, base, "alice", f, "held.bin", data)
}

// TestStreamGap: a file with a gap is not published; what came before the gap is kept and a
// resume continues from there, never leaving a hole of zeros.
func TestStreamGap(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	_, f := openHome(t, base, "alice", 1<<30, Options{})
	data := randomBytes(300_000, 9)
	s := stream(t, f, "gap.bin", 0)
	s.WriteAt(data[:100_000], 0)
	s.WriteAt(data[200_000:], 200_000)
	_, _, err := s.Commit()
	wantKind(t, "commit with a gap", err, ErrSize)
	if _, err := f.Stat("gap.bin"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a file with a gap was published: %v", err)
	}
	if n, _, _ := f.Held("gap.bin"); n != 100_000 {
		t.Fatalf("held %d bytes after the gap, want the 100000 before it", n)
	}
	if used, _ := f.Usage(); used != measured(t, base, "alice") {
		t.Fatalf("usage %d, but a restart would measure %d", used, measured(t, base, "alice"))
	}
	s = stream(t, f, "gap.bin", Append)
	s.WriteAt(data[100_000:], 100_000)
	commitStream(t, s, data)
	checkStored(t, base, "alice", f, "gap.bin", data)
}

// TestStreamRewrite: data written again over earlier data (a client retrying) still ends with the
// md5 of what the file finally holds.
func TestStreamRewrite(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	_, f := openHome(t, base, "alice", 1<<30, Options{})
	data := randomBytes(500_000, 10)
	s := stream(t, f, "re.bin", 0)
	s.WriteAt(data, 0)
	s.WriteAt(randomBytes(1000, 11), 1000) // wrong bytes
	s.WriteAt(data[1000:2000], 1000)       // and right again
	s.WriteAt(data[400_000:], 400_000)
	commitStream(t, s, data)
	checkStored(t, base, "alice", f, "re.bin", data)
}

// TestStreamBusyAndRemove: one upload of a name at a time, whichever door began it; removing a
// name that has only an unfinished upload removes the upload.
func TestStreamBusyAndRemove(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	s, f := openHome(t, base, "alice", 1<<30, Options{})
	g := openAgain(t, s, "alice", 1<<30)
	a := stream(t, f, "x", 0)
	_, err := g.BeginStream("x", 0)
	wantKind(t, "a second stream of one name", err, ErrBusy)
	_, err = g.BeginUpload("x", 10, srcMtime, false, "")
	wantKind(t, "an upload beside a stream", err, ErrBusy)
	a.Write(randomBytes(5000, 12))
	a.Abort()
	if err := g.Remove("x"); err != nil {
		t.Fatalf("remove of an unfinished upload: %v", err)
	}
	if n, _, err := f.Held("x"); n != 0 || !errors.Is(err, ErrNotFound) {
		t.Fatalf("after the remove: held %d, %v", n, err)
	}
	if used, _ := f.Usage(); used != 0 || used != measured(t, base, "alice") {
		t.Fatalf("usage %d after removing the unfinished upload", used)
	}
}

// TestStreamReplacedFileMoved: a stream that uses the space of the file it replaces fails with
// ErrQuota when that file is moved away (its space is not freed) and the stream no longer fits.
func TestStreamReplacedFileMoved(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	s, f := openHome(t, base, "alice", 1000, Options{})
	g := openAgain(t, s, "alice", 1000)
	put(t, f, "a", randomBytes(600, 13))
	st := stream(t, f, "a", 0)
	if _, err := st.Write(randomBytes(500, 14)); err != nil {
		t.Fatal(err)
	}
	if err := g.Rename("a", "b"); err != nil {
		t.Fatal(err)
	}
	_, err := st.Write([]byte{1})
	wantKind(t, "a write after the replaced file moved away", err, ErrQuota)
	st.Abort()
	if used, _ := f.Usage(); used != 600 || used != measured(t, base, "alice") {
		t.Fatalf("usage %d, want 600", used)
	}
}

// TestStreamMtimeAndDiskError: SetMtime dates the published file; a disk error fails the write
// and keeps only what reached the disk.
func TestStreamMtimeAndDiskError(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	_, f := openHome(t, base, "alice", 1<<30, Options{})
	s := stream(t, f, "dated", 0)
	s.Write([]byte("hello"))
	s.SetMtime(srcMtime)
	commitStream(t, s, []byte("hello"))
	if e, _ := f.Stat("dated"); !e.Mtime.Equal(srcMtime) {
		t.Fatalf("mtime %v, want %v", e.Mtime, srcMtime)
	}

	base2 := t.TempDir()
	full := errors.New("disk full")
	var written int
	_, g := openHome(t, base2, "bob", 1<<30, Options{WrapWriter: func(w io.Writer) io.Writer {
		return writeFunc(func(p []byte) (int, error) {
			if written+len(p) > 100_000 {
				return 0, &fs.PathError{Op: "write", Path: "x", Err: full}
			}
			written += len(p)
			return w.Write(p)
		})
	}})
	s = stream(t, g, "big", 0)
	_, err := io.Copy(s, bytes.NewReader(randomBytes(1<<20, 15)))
	if _, _, cerr := s.Commit(); err == nil && cerr == nil {
		t.Fatal("a stream through a full disk was committed")
	}
	if _, err := g.Stat("big"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a failed stream was published: %v", err)
	}
	if used, _ := g.Usage(); used != measured(t, base2, "bob") {
		t.Fatalf("usage %d, but a restart would measure %d", used, measured(t, base2, "bob"))
	}
}

type writeFunc func([]byte) (int, error)

func (w writeFunc) Write(p []byte) (int, error) { return w(p) }

// TestStreamChecksumPerFS: each FS (each door's session) records the checksum chosen for its
// streams, and no other; a stream that continues an unfinished upload hashed with another
// algorithm hashes the part already received again, so the digest is of the whole file.
func TestStreamChecksumPerFS(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	s, ftp := openHome(t, base, "alice", 1<<30, Options{})
	sftp := openAgain(t, s, "alice", 1<<30)
	if err := sftp.SetStreamChecksum(checksum.CRC32); err == nil {
		t.Fatal("SetStreamChecksum(crc32), not a transfer checksum: no error")
	}
	if err := sftp.SetStreamChecksum(checksum.BLAKE3); err != nil {
		t.Fatal(err)
	}
	if ftp.StreamChecksum() != checksum.SHA256 || sftp.StreamChecksum() != checksum.BLAKE3 {
		t.Fatalf("stream checksums %s and %s; want the store's sha256 and the chosen blake3", ftp.StreamChecksum(), sftp.StreamChecksum())
	}
	sumOf := func(algo string, data []byte) string {
		h := checksum.New(algo)
		h.Write(data)
		return hex.EncodeToString(h.Sum(nil))
	}
	recorded := func(f *FS, name string) (blake3, sha256 string) {
		t.Helper()
		d, err := f.OpenDownload(name)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		return d.Recorded(checksum.BLAKE3), d.Recorded(checksum.SHA256)
	}
	data := randomBytes(5<<20+3, 7)
	for _, f := range []*FS{ftp, sftp} {
		algo := f.StreamChecksum()
		st := stream(t, f, algo+".bin", 0)
		io.Copy(st, bytes.NewReader(data))
		if st.Checksum() != algo {
			t.Errorf("stream of an FS set to %s says %s", algo, st.Checksum())
		}
		if _, sum, err := st.Commit(); err != nil || sum != sumOf(algo, data) {
			t.Fatalf("Commit: %s %s, %v; want %s", algo, sum, err, sumOf(algo, data))
		}
		b3, sha := recorded(f, algo+".bin")
		want := map[string][2]string{checksum.BLAKE3: {sumOf(checksum.BLAKE3, data), ""}, checksum.SHA256: {"", sumOf(checksum.SHA256, data)}}[algo]
		if b3 != want[0] || sha != want[1] {
			t.Errorf("a stream with %s recorded blake3 %q and sha256 %q; want %q and %q", algo, b3, sha, want[0], want[1])
		}
	}
	st := stream(t, ftp, "resumed.bin", 0)
	st.Write(data[:3<<20])
	st.Abort()
	st = stream(t, sftp, "resumed.bin", Append)
	if st.Offset() != 3<<20 {
		t.Fatalf("resumed at %d, want %d", st.Offset(), 3<<20)
	}
	io.Copy(st, bytes.NewReader(data[3<<20:]))
	if _, sum, err := st.Commit(); err != nil || sum != sumOf(checksum.BLAKE3, data) {
		t.Fatalf("Commit of a sha256 stream continued as blake3: %s, %v; want %s", sum, err, sumOf(checksum.BLAKE3, data))
	}
	checkStored(t, base, "alice", sftp, "resumed.bin", data)
	if b3, _ := recorded(sftp, "resumed.bin"); b3 != sumOf(checksum.BLAKE3, data) {
		t.Errorf("recorded blake3 of the resumed stream: %q", b3)
	}
}
