package sftpdoor

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"
)

// TestTellerWritesClean: messages reach standard error in order, once each in a run of the same,
// "myftps: " first, with control characters replaced (a file name can hold an escape sequence
// for the user's terminal) and the length bounded; they are all written once finish returns.
func TestTellerWritesClean(t *testing.T) {
	var out bytes.Buffer // read once finish has waited for the writer
	tl := newTeller(&out)
	tl.tell("quota exceeded: /a")
	tl.tell("quota exceeded: /a")
	tl.tell("busy: /x\x1b]0;owned\x07\n")
	tl.tell(strings.Repeat("é", 400))
	tl.finish(time.Minute)
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 3 || lines[0] != "myftps: quota exceeded: /a" || lines[1] != "myftps: busy: /x?]0;owned??" {
		t.Fatalf("written:\n%q", out.String())
	}
	if len(lines[2]) > maxToldLen+3 || !strings.HasSuffix(lines[2], "...") || !strings.HasPrefix(lines[2], "myftps: éé") {
		t.Errorf("a long message: %d bytes: %q", len(lines[2]), lines[2])
	}
	tl.tell("after the end") // dropped, and no panic
}

// TestTellerNeverHolds: a client that does not read its standard error (a pipe nobody reads)
// holds neither a request that tells a failure nor the end of the channel past finish's wait.
func TestTellerNeverHolds(t *testing.T) {
	r, w := io.Pipe()
	defer r.Close()
	tl := newTeller(w)
	for i := range 10 * maxTold {
		tl.tell(strings.Repeat("x", i+1)) // all different: none deduplicated
	}
	tl.finish(time.Millisecond)
}
