package durable

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

// fakeFlush records the groups it is asked to flush; each flush waits for a value on release
// when hold is set, so a test can keep a flush running while more callers arrive.
type fakeFlush struct {
	mu      sync.Mutex
	groups  [][]string
	hold    bool
	release chan error
	started chan struct{}
}

func (f *fakeFlush) flush(files []*os.File) error {
	names := make([]string, len(files))
	for i, file := range files {
		names[i] = filepath.Base(file.Name())
	}
	f.mu.Lock()
	f.groups = append(f.groups, names)
	hold := f.hold
	f.mu.Unlock()
	if !hold {
		return nil
	}
	f.started <- struct{}{}
	return <-f.release
}

func newFake(t *testing.T, hold bool) (*Syncer, *fakeFlush) {
	f := &fakeFlush{hold: hold, release: make(chan error), started: make(chan struct{}, 1)}
	s := New()
	s.flush = f.flush
	return s, f
}

func openFiles(t *testing.T, n int) []*os.File {
	t.Helper()
	dir := t.TempDir()
	files := make([]*os.File, n)
	for i := range files {
		f, err := os.Create(filepath.Join(dir, "f"+string(rune('a'+i))))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		files[i] = f
	}
	return files
}

// waiting reports how many files wait for the next flush.
func (s *Syncer) waiting() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.next == nil {
		return 0
	}
	return len(s.next.files)
}

// TestCallsDuringAFlushShareTheNext: while one flush runs, every call that arrives waits for the
// next one, and that single flush serves them all; nobody returns before a flush that includes
// its files has ended.
func TestCallsDuringAFlushShareTheNext(t *testing.T) {
	s, f := newFake(t, true)
	files := openFiles(t, 6)
	first := make(chan error, 1)
	go func() { first <- s.Sync(files[0]) }()
	<-f.started // the first flush runs, holding files[0] only

	errs := make(chan error, 5)
	for _, file := range files[1:] {
		go func() { errs <- s.Sync(file) }()
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.waiting() < 5 {
		if time.Now().After(deadline) {
			t.Fatalf("%d of 5 callers joined the next group", s.waiting())
		}
		time.Sleep(time.Millisecond) // polling a condition, bounded by the deadline
	}
	select {
	case err := <-errs:
		t.Fatalf("a caller returned (%v) before any flush of its file", err)
	default:
	}
	f.release <- nil // the first flush ends
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	<-f.started // the second flush: all five
	f.release <- nil
	for range 5 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.groups) != 2 || len(f.groups[0]) != 1 || len(f.groups[1]) != 5 {
		t.Fatalf("flushes %v, want one of fa and one of the other five", f.groups)
	}
	second := slices.Clone(f.groups[1])
	slices.Sort(second)
	if !slices.Equal(second, []string{"fb", "fc", "fd", "fe", "ff"}) {
		t.Errorf("second flush %v", second)
	}
}

// TestFlushErrorReachesItsGroup: every caller whose files were in a failed flush gets the error;
// the next group is flushed anew and succeeds.
func TestFlushErrorReachesItsGroup(t *testing.T) {
	s, f := newFake(t, true)
	files := openFiles(t, 3)
	boom := errors.New("disk on fire")
	errs := make(chan error, 2)
	go func() { errs <- s.Sync(files[0], files[1]) }()
	<-f.started
	f.release <- boom
	if err := <-errs; !errors.Is(err, boom) {
		t.Fatalf("Sync = %v, want the flush's error", err)
	}
	go func() { errs <- s.Sync(files[2]) }()
	<-f.started
	f.release <- nil
	if err := <-errs; err != nil {
		t.Fatalf("the next group: %v", err)
	}
}

// TestSyncRealFiles: on this machine's filesystem, files and their directory are flushed without
// error by many concurrent callers, and no call is lost.
func TestSyncRealFiles(t *testing.T) {
	s := New()
	files := openFiles(t, 20)
	dir, err := os.Open(filepath.Dir(files[0].Name()))
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	var wg sync.WaitGroup
	errs := make(chan error, len(files))
	for _, f := range files {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := f.Write([]byte("data")); err != nil {
				errs <- err
				return
			}
			errs <- s.Sync(f, dir)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if err := s.Sync(); err != nil {
		t.Errorf("Sync of nothing: %v", err)
	}
}
