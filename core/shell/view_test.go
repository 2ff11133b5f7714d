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
	v.moving, v.now = map[int]int64{}, make([]int, 1)
	return v
}

// TestBatchBarAfterInterrupt: a batch interrupted between two files leaves its bar as it stood,
// labelled with the last file that started, not with the next one, which never did.
func TestBatchBarAfterInterrupt(t *testing.T) {
	var out syncBuffer
	v := newTestView(&out, download, []fileJob{{name: "a.txt", size: 3}, {name: "b.txt", size: 100}})
	v.started(0, 0, 0, 3)
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
	v.started(0, 0, 0, 3)
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

// TestBatchViewOverlap: a download's data may start before the file ahead of it is reported done
// (that one is still being made durable): the bar then names the new file with its own count,
// and counts the bytes of both, once each.
func TestBatchViewOverlap(t *testing.T) {
	var out syncBuffer
	v := newTestView(&out, download, []fileJob{{name: "a.txt", size: 3}, {name: "b.txt", size: 100}})
	v.started(0, 0, 0, 3)
	v.progress(0, 3)
	v.started(0, 1, 0, 100) // b starts; a is not done yet
	v.progress(0, 40)
	if got := v.label(1); got != "[2/2] b.txt" {
		t.Errorf("label %q, want [2/2] b.txt", got)
	}
	if n := v.doneBytes(); n != 43 {
		t.Errorf("%d bytes done, want 43 (all of a, 40 of b)", n)
	}
	v.done(0, 0, client.Result{Remote: "a.txt", Size: 3, Checksum: "blake3", Sum: "00"}, nil)
	v.progress(0, 100)
	if n := v.doneBytes(); n != 103 {
		t.Errorf("%d bytes done after a's report, want 103", n)
	}
	v.done(0, 1, client.Result{Remote: "b.txt", Size: 100, Checksum: "blake3", Sum: "01"}, nil)
	if n := v.doneBytes(); n != 103 || v.files != 2 {
		t.Errorf("at the end: %d bytes, %d files; want 103 and 2", n, v.files)
	}
}
