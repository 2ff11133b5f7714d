package conformance_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/myftp/myftp/core/server/servertest"
)

// procTimeout bounds every client process.
const procTimeout = 90 * time.Second

// proc is a client program (curl, sftp) running as a subprocess.
type proc struct {
	cmd            *exec.Cmd
	stdout, stderr syncBuffer
	done           chan struct{}
	code           int // exit status, once done is closed
}

// syncBuffer is a bytes.Buffer that a process writes while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startProc starts prog with args in dir, with the environment env (nil: the test's); with
// merge, its stderr goes to stdout, in the order written. The test's end kills it if it still
// runs, and so does procTimeout.
func startProc(t testing.TB, dir string, env []string, merge bool, prog string, args ...string) *proc {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), procTimeout)
	p := &proc{cmd: exec.CommandContext(ctx, prog, args...), done: make(chan struct{})}
	p.cmd.Dir, p.cmd.Env = dir, env
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	if merge {
		p.cmd.Stderr = &p.stdout
	}
	p.cmd.WaitDelay = 5 * time.Second
	if err := p.cmd.Start(); err != nil {
		cancel()
		t.Fatalf("%s: %v", prog, err)
	}
	go func() {
		defer cancel()
		err := p.cmd.Wait()
		var ee *exec.ExitError
		switch {
		case errors.As(err, &ee):
			p.code = ee.ExitCode()
		case err != nil:
			p.code = -1
			fmt.Fprintf(&p.stderr, "\n[test: %v]\n", err)
		}
		close(p.done)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
	})
	return p
}

// wait waits for the process to end (procTimeout kills it) and returns its error: nil when it
// exited with status 0, else a *failed that holds what it printed.
func (p *proc) wait(t testing.TB) error {
	t.Helper()
	<-p.done
	if p.code == 0 {
		return nil
	}
	return &failed{prog: p.cmd.Args[0], code: p.code, stdout: p.stdout.String(), stderr: p.stderr.String()}
}

// kill sends SIGKILL to the process, by its id, and waits for it to end.
func (p *proc) kill(t testing.TB) {
	t.Helper()
	if err := p.cmd.Process.Kill(); err != nil && !p.exited() {
		t.Fatalf("kill %d: %v", p.cmd.Process.Pid, err)
	}
	servertest.Await(t, "the end of the killed client", p.done)
}

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// failed is the error of a client process that exited with a status other than 0: what the
// user saw.
type failed struct {
	prog           string
	code           int
	stdout, stderr string
}

func (f *failed) Error() string {
	return fmt.Sprintf("%s: exit %d\nstdout:\n%s\nstderr:\n%s", f.prog, f.code, f.stdout, f.stderr)
}
