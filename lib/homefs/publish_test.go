package homefs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// TestVerifiedUploadIsWaitedFor: while a verified upload is being published, a new upload of the
// same path waits for it instead of being refused as busy (a client that pipelines two uploads of
// one name meets its own), and then replaces the published file; an upload still receiving data
// keeps other uploads of its path out.
func TestVerifiedUploadIsWaitedFor(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	_, f := openHome(t, base, "alice", 1<<30, Options{Fsync: true})
	first, second := []byte("the first version\n"), []byte("the second, longer version\n")

	u := begin(t, f, "a.txt", int64(len(first)), srcMtime, false)
	u.Write(first)
	if _, err := f.BeginUpload("a.txt", 5, srcMtime, false, ""); !errors.Is(err, ErrBusy) {
		t.Fatalf("a second upload while the first receives data: %v, want ErrBusy", err)
	}
	if err := u.Verify(md5hex(first)); err != nil {
		t.Fatal(err)
	}
	// Between Verify and Publish, a claim of the path is told to wait, not refused.
	v := &Upload{f: f, rel: "a.txt", vpath: "/a.txt", size: int64(len(second)), mtime: srcMtime, algo: "md5"}
	wait, err := f.tryClaim(v, false)
	if wait == nil || err != nil {
		t.Fatalf("claim during publishing: wait %v, err %v; want a channel to wait on", wait, err)
	}
	next := make(chan error, 1)
	go func() {
		v, err := f.BeginUpload("a.txt", int64(len(second)), srcMtime, false, "")
		if err == nil {
			v.Write(second)
			_, err = v.Commit(md5hex(second))
		}
		next <- err
	}()
	if _, err := u.Publish(); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	if err := <-next; err != nil {
		t.Fatalf("the upload that waited: %v", err)
	}
	if got := readFile(t, base+"/alice/a.txt"); string(got) != string(second) {
		t.Errorf("a.txt holds %q, want the second version", got)
	}
	checkUsage(t, f, base, "alice", int64(len(second)))
}

// TestConcurrentPublishes: many uploads of one home and of another, verified and then published
// at once (sharing flushes), all land whole, and the accounting equals the disk.
func TestConcurrentPublishes(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	s, f := openHome(t, base, "alice", 1<<30, Options{Fsync: true})
	g := openAgain(t, s, "bob", 1<<30)
	var ups []*Upload
	var total int64
	for i := range 40 {
		fs := f
		if i%2 == 1 {
			fs = g
		}
		data := randomBytes(1000+i*37, uint64(i))
		u := begin(t, fs, fmt.Sprintf("f%02d.bin", i), int64(len(data)), srcMtime, false)
		u.Write(data)
		if err := u.Verify(md5hex(data)); err != nil {
			t.Fatal(err)
		}
		ups = append(ups, u)
		if i%2 == 0 {
			total += int64(len(data))
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, len(ups))
	for i, u := range ups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = u.Publish()
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("publish %d: %v", i, err)
		}
	}
	for i := range 40 {
		home := "alice"
		if i%2 == 1 {
			home = "bob"
		}
		if got := readFile(t, fmt.Sprintf("%s/%s/f%02d.bin", base, home, i)); string(got) != string(randomBytes(1000+i*37, uint64(i))) {
			t.Errorf("%s/f%02d.bin differs", home, i)
		}
	}
	checkUsage(t, f, base, "alice", total)
	if p := partialFiles(t, base+"/alice"); len(p) != 0 {
		t.Errorf("partial files left: %v", p)
	}
}

// TestDescriptionWrittenWhenNeeded: an upload writes its partial file's description only once it
// holds describeAfter bytes or stops unfinished, so a small upload that completes creates one
// file; meanwhile Partials still lists it, and an interrupted one resumes as before.
func TestDescriptionWrittenWhenNeeded(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	_, f := openHome(t, base, "alice", 1<<30, Options{})
	desc := func(name string) bool {
		_, err := os.Stat(filepath.Join(base, "alice", filepath.FromSlash(descPath(name))))
		return err == nil
	}
	listed := func() []PartialInfo {
		var got []PartialInfo
		if err := f.Partials(func(p PartialInfo) error { got = append(got, p); return nil }); err != nil {
			t.Fatal(err)
		}
		return got
	}

	small := randomBytes(4000, 1)
	u := begin(t, f, "small.bin", int64(len(small)), srcMtime, false)
	u.Write(small[:1500])
	if desc("small.bin") {
		t.Error("a small upload in progress wrote its description")
	}
	if got := listed(); len(got) != 1 || got[0].Path != "/small.bin" || got[0].Size != 1500 || got[0].Total != 4000 {
		t.Errorf("Partials during the small upload: %+v", got)
	}
	u.Abort()
	if !desc("small.bin") {
		t.Fatal("the interrupted upload kept its data without a description: it cannot resume")
	}
	u = begin(t, f, "small.bin", int64(len(small)), srcMtime, true)
	if u.Offset() != 1500 {
		t.Fatalf("resume at %d, want 1500", u.Offset())
	}
	u.Write(small[1500:])
	if _, err := u.Commit(md5hex(small)); err != nil {
		t.Fatal(err)
	}

	big := randomBytes(describeAfter+5000, 2)
	u = begin(t, f, "big.bin", int64(len(big)), srcMtime, false)
	u.Write(big[:describeAfter-1])
	if desc("big.bin") {
		t.Error("the description was written before describeAfter bytes")
	}
	u.Write(big[describeAfter-1 : describeAfter+10])
	if !desc("big.bin") {
		t.Error("an upload past describeAfter bytes has no description: a crash would lose its resume")
	}
	u.Write(big[describeAfter+10:])
	if _, err := u.Commit(md5hex(big)); err != nil {
		t.Fatal(err)
	}
	if p := partialFiles(t, filepath.Join(base, "alice")); len(p) != 0 || desc("big.bin") || desc("small.bin") {
		t.Errorf("left in .myftp/partial: %v", p)
	}
	checkUsage(t, f, base, "alice", int64(len(small)+len(big)))
}
