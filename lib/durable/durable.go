// Package durable makes written files reach stable storage in groups: the callers that ask at
// about the same time share one flush, the way a database lets the transactions that commit
// together share one flush of its log (group commit).
//
// On Linux a flush is one syncfs(2) per filesystem, whatever the number of files: ten uploads
// that finish together cost one flush instead of ten fsyncs and ten directory fsyncs. Elsewhere,
// and on Linux kernels before 5.8 (whose syncfs does not report write errors), a flush fsyncs each
// file of the group, several at once.
package durable

import (
	"errors"
	"os"
	"sync"
)

// Syncer flushes files to stable storage, grouping the calls that overlap. It is safe for
// concurrent use; the zero value is not usable: use New.
type Syncer struct {
	flush func([]*os.File) error
	whole bool // flush is a syncfs

	mu       sync.Mutex
	cond     sync.Cond
	flushing bool   // a flush is running
	next     *batch // the files of the callers waiting for the next flush
}

// batch is the files that one flush makes durable, and its outcome.
type batch struct {
	files []*os.File
	done  bool
	err   error
}

// New returns a Syncer for files on any filesystem.
func New() *Syncer {
	s := &Syncer{}
	s.flush, s.whole = flusher()
	s.cond.L = &s.mu
	return s
}

// WholeFilesystem reports whether a flush covers everything written to the filesystems of the
// files it is given (syncfs): then a Sync of any file also makes durable a rename on its
// filesystem, without a flush of the directory.
func (s *Syncer) WholeFilesystem() bool { return s.whole }

// Sync returns once what was written to files before the call is on stable storage, with their
// metadata (size, names in a directory: pass the directory to make a rename in it durable). The
// files must stay open until Sync returns. A call that arrives while a flush runs waits for the
// next one, which serves every call that arrived meanwhile. The error is the first one the flush
// met; it may concern another caller's file of the same group, so a caller cannot assume that its
// own files are durable after an error.
func (s *Syncer) Sync(files ...*os.File) error {
	if len(files) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.next == nil {
		s.next = &batch{}
	}
	b := s.next
	b.files = append(b.files, files...)
	for !b.done {
		if s.flushing {
			s.cond.Wait()
			continue
		}
		// No flush runs: this caller runs the one for its group (b is still s.next: a group is
		// only taken by the caller that flushes it).
		s.flushing = true
		s.next = nil
		s.mu.Unlock()
		err := s.flush(b.files)
		s.mu.Lock()
		b.done, b.err = true, err
		s.flushing = false
		s.cond.Broadcast()
	}
	return b.err
}

// fsyncAll fsyncs every file, up to parallel at once, and returns the errors joined. Concurrent
// fsyncs let a journaling filesystem commit them together.
func fsyncAll(files []*os.File, parallel int) error {
	if len(files) == 1 {
		return files[0].Sync()
	}
	errs := make([]error, len(files))
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i, f := range files {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			errs[i] = f.Sync()
			<-sem
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
