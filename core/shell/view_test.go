package shell

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/myftp/myftp/lib/client"
)

// newTestView returns the batch view of a shell whose standard output is a terminal (the buffer
// out), with one lane.
func newTestView(out *syncBuffer, dir string, jobs []fileJob) *batchView {
	s := &session{env: Env{Stdout: out, Stderr: out, Now: time.Now}, out: out, outTerm: true}
	v := s.newBatchView(dir, jobs, true)
	v.moving = make([]int64, 1)
	return v
}

// TestBatchBarAfterInterrupt: a batch interrupted between two files leaves its bar as it stood,
// labelled with the last file that started, not with the next one, which never did.
func TestBatchBarAfterInterrupt(t *testing.T) {
	var out syncBuffer
	v := newTestView(&out, download, []fileJob{{name: "a.txt", size: 3}, {name: "b.txt", size: 100}})
	v.started(0, 0, 3)
	v.progress(0, 3)
	v.done(0, 0, client.Result{Remote: "a.txt", Size: 3, Checksum: "blake3", Sum: "00"}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // Ctrl-C before b.txt started
	v.end(ctx)
	screen := out.String()
	last := screen[strings.LastIndexByte(screen, '\r')+1:]
	if !strings.Contains(screen, "File [a.txt] download successful") || !strings.Contains(last, "a.txt") || strings.Contains(last, "b.txt") {
		t.Errorf("the bar left on the screen: %q; want the last file that started, a.txt (all: %q)", last, screen)
	}
}

// TestBatchBarGoesAway: a batch that ends takes its bar down: the line of the last file is
// followed by nothing (the total comes next), not by a bar about that file.
func TestBatchBarGoesAway(t *testing.T) {
	var out syncBuffer
	v := newTestView(&out, upload, []fileJob{{name: "a.txt", size: 3}})
	v.started(0, 0, 3)
	v.progress(0, 3)
	v.done(0, 0, client.Result{Remote: "a.txt", Size: 3, Checksum: "blake3", Sum: "00"}, nil)
	v.end(context.Background())
	screen := out.String()
	if last := screen[strings.LastIndexByte(screen, '\r')+1:]; !strings.HasPrefix(last, "File [a.txt] upload successful: 3 B in ") ||
		!strings.HasSuffix(last, ", blake3 00\n") {
		t.Errorf("the screen ends with %q; want the file's line (all: %q)", last, screen)
	}
}

// TestBatchBarNotBeforeStart: the bar is not drawn before the first file starts (a batch
// interrupted while its first request waits shows no file).
func TestBatchBarNotBeforeStart(t *testing.T) {
	var out syncBuffer
	v := newTestView(&out, download, []fileJob{{name: "a.txt", size: 3}})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	v.end(ctx)
	if out.String() != "" {
		t.Errorf("screen %q, want nothing", out.String())
	}
}
