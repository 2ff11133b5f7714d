package shell

import (
	"fmt"
	"io"
	"os"

	"github.com/myftp/myftp/lib/progress"
	"golang.org/x/term"
)

// say prints a status line, which tells what a command did ("directory /docs created"), as
// opposed to what it was asked to show (a listing): on standard output, and nowhere with -q.
func (s *session) say(format string, args ...any) {
	if !s.opt.quiet {
		fmt.Fprintf(s.env.Stdout, format+"\n", args...)
	}
}

// meter is the progress display of a transfer command: its bar, and the status lines that go
// with it (a resume notice, the summary of each file), which are written above the bar when they
// share a stream.
type meter struct {
	*progress.Bar
	out  io.Writer // where the status lines go; nil with -q
	same bool      // the bar is drawn on out
}

// newMeter returns a transfer's display. The bar is drawn on standard output when it is a
// terminal (unless -q); --progress draws it on standard error when standard output is not one
// (standard output then carries what the commands produce and the status lines only).
func (s *session) newMeter() *meter {
	w, width := s.out, s.width()
	drawn := s.outTerm && (!s.opt.quiet || s.opt.progress)
	if s.opt.progress && !s.outTerm {
		w, drawn, width = s.env.Stderr, true, stderrWidth(s.env.Stderr)
	}
	m := &meter{Bar: progress.New(w, progress.Options{Terminal: drawn, Now: s.env.Now, Width: width})}
	if !s.opt.quiet {
		m.out, m.same = s.out, w == s.out
	}
	return m
}

// Println writes a status line: above the bar when they share a stream, else on its own stream.
func (m *meter) Println(line string) {
	switch {
	case m.out == nil:
	case m.same:
		m.Bar.Println(line)
	default:
		m.Clear() // the two streams may end up in one place (2>&1)
		fmt.Fprintln(m.out, line)
	}
}

// stderrWidth returns the width of standard error if it is a terminal, else 0.
func stderrWidth(w io.Writer) int {
	if f, ok := w.(*os.File); ok {
		if width, _, err := term.GetSize(int(f.Fd())); err == nil {
			return width
		}
	}
	return 0
}
