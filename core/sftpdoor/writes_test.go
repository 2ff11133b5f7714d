package sftpdoor_test

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/pkg/sftp"

	"github.com/myftp/myftp/core/server/servertest"
	"github.com/myftp/myftp/lib/client"
)

// chunks cuts [from, size) into pieces of n bytes (the last may be shorter).
func chunks(from, size, n int) [][2]int {
	var cs [][2]int
	for off := from; off < size; off += n {
		cs = append(cs, [2]int{off, min(off+n, size)})
	}
	return cs
}

// writeChunks writes the pieces cs of data to f from 8 goroutines at once, in the order given.
func writeChunks(t testing.TB, f *sftp.File, data []byte, cs [][2]int) {
	t.Helper()
	next := make(chan [2]int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for range 8 {
		wg.Go(func() {
			for c := range next {
				if _, err := f.WriteAt(data[c[0]:c[1]], int64(c[0])); err != nil {
					mu.Lock()
					first = errors.Join(first, err)
					mu.Unlock()
				}
			}
		})
	}
	for _, c := range cs {
		next <- c
	}
	close(next)
	wg.Wait()
	if first != nil {
		t.Fatalf("WriteAt: %v", first)
	}
}

// TestOutOfOrderWrites: a file written by the pkg/sftp client with concurrent WriteAt calls in
// shuffled order is stored byte-identical, and the md5 the server records for it is right (the
// native client checks it against the bytes it downloads).
func TestOutOfOrderWrites(t *testing.T) {
	t.Parallel()
	e := start(t, servertest.Options{})
	u := e.user("alice", 0)
	_, c := e.dial(u)
	data := randomBytes(20, 3<<20+12345)
	cs := chunks(0, len(data), 4099)
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(cs), func(i, j int) { cs[i], cs[j] = cs[j], cs[i] })

	f, err := c.Create("shuffled.bin")
	must(t, err)
	writeChunks(t, f, data, cs)
	must(t, f.Close())
	sameBytes(t, filepath.Join(e.Home("alice"), "shuffled.bin"), data)

	dir := t.TempDir()
	res, err := e.Login("alice", u.password).Get(context.Background(), "shuffled.bin", filepath.Join(dir, "got"), client.Options{})
	if err != nil {
		t.Fatalf("native download: %v", err)
	}
	if want := servertest.Sum(res.Checksum, data); res.Sum != want {
		t.Errorf("the server's %s %s is not that of the data, %s", res.Checksum, res.Sum, want)
	}
	e.checkUsage(t, "alice")
}

// TestGap: a file closed with bytes never written does not appear under its name, and the close
// fails; what was written before the gap is kept, stat shows it as the file's size (as a client
// resuming the upload needs), and an append from there completes the file.
func TestGap(t *testing.T) {
	t.Parallel()
	e := start(t, servertest.Options{})
	u := e.user("alice", 0)
	_, c := e.dial(u)
	data := randomBytes(21, 1<<20)
	const gapFrom, gapTo = 300_000, 310_000
	var cs [][2]int
	for _, x := range chunks(0, len(data), 10_000) {
		if x[0] < gapFrom || x[0] >= gapTo {
			cs = append(cs, x)
		}
	}
	rand.New(rand.NewPCG(3, 4)).Shuffle(len(cs), func(i, j int) { cs[i], cs[j] = cs[j], cs[i] })

	f, err := c.Create("gap.bin")
	must(t, err)
	writeChunks(t, f, data, cs)
	if err := f.Close(); err == nil {
		t.Fatal("close of a file with a gap succeeded")
	}
	stored := filepath.Join(e.Home("alice"), "gap.bin")
	absent(t, stored)
	ents, err := c.ReadDir("/")
	must(t, err)
	for _, fi := range ents {
		if fi.Name() == "gap.bin" {
			t.Errorf("the file with a gap is listed")
		}
	}
	fi, err := c.Stat("gap.bin")
	if err != nil || fi.Size() != gapFrom {
		t.Fatalf("stat of the unfinished upload: %v, %v; want %d bytes", fi, err, gapFrom)
	}
	e.checkUsage(t, "alice")

	f, err = c.OpenFile("gap.bin", os.O_WRONLY|os.O_CREATE|os.O_APPEND)
	must(t, err)
	writeChunks(t, f, data, chunks(gapFrom, len(data), 32<<10))
	must(t, f.Close())
	sameBytes(t, stored, data)
	e.checkUsage(t, "alice")
}

// TestRewriteInPlace: a plain open for writing (no truncate, no append: scp, WinSCP, FileZilla)
// of a stored file rewrites it in place: the bytes written replace those of the file and the
// others stay; setting the size to what was written ends the file there (what scp does); any
// other size is refused, the file is not published and the stored file is left as it was (what
// was written is kept as an unfinished upload, as after any failed upload).
func TestRewriteInPlace(t *testing.T) {
	t.Parallel()
	e := start(t, servertest.Options{})
	u := e.user("alice", 0)
	_, c := e.dial(u)
	home := e.Home("alice")
	orig := randomBytes(22, 100_000)
	patch := randomBytes(23, 500)
	put := func(name string, data []byte) {
		f, err := c.Create(name)
		must(t, err)
		_, err = f.Write(data)
		must(t, errors.Join(err, f.Close()))
	}

	put("middle.bin", orig)
	f, err := c.OpenFile("middle.bin", os.O_WRONLY)
	must(t, err)
	_, err = f.WriteAt(patch, 1000)
	must(t, errors.Join(err, f.Close()))
	want := bytes.Clone(orig)
	copy(want[1000:], patch)
	sameBytes(t, filepath.Join(home, "middle.bin"), want)

	put("cut.bin", orig)
	f, err = c.OpenFile("cut.bin", os.O_WRONLY|os.O_CREATE)
	must(t, err)
	_, err = f.WriteAt(patch, 0)
	must(t, err)
	must(t, f.Truncate(int64(len(patch))))
	must(t, f.Close())
	sameBytes(t, filepath.Join(home, "cut.bin"), patch)

	put("kept.bin", orig)
	f, err = c.OpenFile("kept.bin", os.O_WRONLY|os.O_CREATE)
	must(t, err)
	_, err = f.WriteAt(patch, 0)
	must(t, err)
	if err := f.Truncate(10); err == nil {
		t.Error("a size other than what was written was accepted")
	}
	if err := f.Close(); err == nil {
		t.Error("the upload whose size could not be set was published")
	}
	sameBytes(t, filepath.Join(home, "kept.bin"), orig)
	if err := c.Truncate("kept.bin", 10); err == nil {
		t.Error("setstat of the size of a stored file succeeded")
	}
	sameBytes(t, filepath.Join(home, "kept.bin"), orig)
	e.checkUsage(t, "alice")
}

// TestPlainWriteResumes: an upload cut by the connection's end is continued by a plain open for
// writing (WinSCP and FileZilla resume so) that writes from the size stat reports.
func TestPlainWriteResumes(t *testing.T) {
	t.Parallel()
	e := start(t, servertest.Options{})
	u := e.user("alice", 0)
	data := randomBytes(24, 2<<20)
	conn, c := e.dial(u)
	f, err := c.Create("resumed.bin")
	must(t, err)
	_, err = f.Write(data[:700_000])
	must(t, err)
	conn.Close() // the handle is still open
	e.waitIdle(t)
	absent(t, filepath.Join(e.Home("alice"), "resumed.bin"))

	_, c = e.dial(u)
	fi, err := c.Stat("resumed.bin")
	if err != nil || fi.Size() != 700_000 {
		t.Fatalf("stat of the unfinished upload: %v, %v; want 700000 bytes", fi, err)
	}
	f, err = c.OpenFile("resumed.bin", os.O_WRONLY|os.O_CREATE)
	must(t, err)
	_, err = f.WriteAt(data[fi.Size():], fi.Size())
	must(t, errors.Join(err, f.Close()))
	sameBytes(t, filepath.Join(e.Home("alice"), "resumed.bin"), data)
	e.checkUsage(t, "alice")
}
