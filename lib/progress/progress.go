// Package progress draws a transfer's progress on one terminal line: a label, a bar, the
// percentage, the bytes done and the total in human units, the speed and the time left.
//
// A Bar writes only when it was told that its writer is a terminal; otherwise drawing does
// nothing and only Println writes, so that the same code serves a terminal and a pipe. It redraws
// at most once per Interval (ten times a second by default), reads the time from an injected
// clock, and draws with a carriage return and spaces only, which every terminal understands (wrap
// the writer with go-ansi on Windows for the rest). Render is the pure function that makes the
// line, for tests and for other front ends.
package progress

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// DefaultInterval is the shortest time between two redraws: ten redraws a second.
const DefaultInterval = 100 * time.Millisecond

// DefaultWidth is the line width used when the terminal's is not known.
const DefaultWidth = 80

// Options configure a Bar.
type Options struct {
	// Terminal says that the writer is a terminal. Without it the bar draws nothing.
	Terminal bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Width is the terminal's width in columns; 0 means DefaultWidth. The line is kept one column
	// shorter so that it never wraps.
	Width int
	// Interval is the shortest time between redraws; 0 means DefaultInterval.
	Interval time.Duration
	// AfterFunc runs f once after d, as time.AfterFunc does (nil means time.AfterFunc). An update
	// that comes too soon to be drawn is drawn that way later, so a transfer that stalls shows
	// where it stands, not where it was a moment before.
	AfterFunc func(d time.Duration, f func())
}

// Bar is the progress line of one transfer (or of a batch of transfers). Its methods may be called
// from several goroutines.
type Bar struct {
	w   io.Writer
	opt Options

	mu      sync.Mutex
	label   string
	started bool      // Update was called since Start
	start   time.Time // time of the first Update
	base    int64     // done at the first Update: a resumed transfer's offset
	done    int64
	total   int64
	last    time.Time // time of the last redraw
	shown   int       // width of the line on screen; 0 when no line is drawn
	redraws int
	pending bool // a later redraw is scheduled
}

// New returns a bar that draws on w.
func New(w io.Writer, opt Options) *Bar {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Width <= 0 {
		opt.Width = DefaultWidth
	}
	if opt.Interval <= 0 {
		opt.Interval = DefaultInterval
	}
	if opt.AfterFunc == nil {
		opt.AfterFunc = func(d time.Duration, f func()) { time.AfterFunc(d, f) }
	}
	return &Bar{w: w, opt: opt}
}

// Terminal reports whether the bar draws.
func (b *Bar) Terminal() bool { return b.opt.Terminal }

// Start begins a new transfer called label. The speed and the time left are measured from its
// first Update, so that a resumed transfer's offset does not count as speed.
func (b *Bar) Start(label string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.label, b.started, b.done, b.total = label, false, 0, 0
}

// SetLabel changes the label without restarting the measures (the current file of a batch).
func (b *Bar) SetLabel(label string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.label = label
}

// Update records that done of total bytes are done and redraws the line unless it was redrawn
// less than an Interval ago. Its signature fits client.Options.Progress.
func (b *Bar) Update(done, total int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.opt.Now()
	if !b.started {
		b.started, b.start, b.base = true, now, done
	}
	b.done, b.total = done, total
	if since := now.Sub(b.last); b.shown > 0 && since < b.opt.Interval {
		if !b.pending && b.opt.Terminal {
			b.pending = true
			b.opt.AfterFunc(b.opt.Interval-since, b.late)
		}
		return
	}
	b.draw(now, false)
}

// late draws an update that came too soon to be drawn, if the line is still up and nothing was
// drawn meanwhile.
func (b *Bar) late() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.pending = false
	now := b.opt.Now()
	if b.started && b.shown > 0 && now.Sub(b.last) >= b.opt.Interval {
		b.draw(now, false)
	}
}

// Finish draws the last state, with the average speed and the time taken instead of the time
// left, and ends the line. It does nothing if nothing was drawn since Start.
func (b *Bar) Finish() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.started || !b.opt.Terminal {
		return
	}
	b.draw(b.opt.Now(), true)
	io.WriteString(b.w, "\n")
	b.shown = 0
	b.started = false
}

// Clear erases the line the bar is drawn on, so that something else can be written there; the
// next Update draws it again (when the interval allows).
func (b *Bar) Clear() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.clear()
}

// Println writes s and a newline above the bar: on a terminal the bar's line is erased first. It
// writes in both modes: it is how a caller prints the lines that go with the transfers.
func (b *Bar) Println(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.clear()
	io.WriteString(b.w, s+"\n")
}

// Redraws returns how many times the line was drawn, for tests.
func (b *Bar) Redraws() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.redraws
}

func (b *Bar) clear() {
	if b.shown > 0 {
		fmt.Fprintf(b.w, "\r%s\r", strings.Repeat(" ", b.shown))
		b.shown = 0
	}
}

// draw writes the line over the previous one, padding with spaces where it was longer.
func (b *Bar) draw(now time.Time, final bool) {
	if !b.opt.Terminal {
		return
	}
	st := State{Label: b.label, Done: b.done, Total: b.total, Moved: b.done - b.base, Elapsed: now.Sub(b.start), Final: final}
	line := Render(st, b.opt.Width-1)
	n := textWidth(line)
	pad := ""
	if n < b.shown {
		pad = strings.Repeat(" ", b.shown-n)
	}
	io.WriteString(b.w, "\r"+line+pad)
	b.shown, b.last = n, now
	b.redraws++
}
