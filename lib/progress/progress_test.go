package progress

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// clock is a fake time source that tests move by hand; functions scheduled with afterFunc run
// when advance passes their time.
type clock struct {
	t      time.Time
	timers []timer
}

type timer struct {
	at time.Time
	f  func()
}

func (c *clock) now() time.Time { return c.t }

func (c *clock) afterFunc(d time.Duration, f func()) {
	c.timers = append(c.timers, timer{c.t.Add(d), f})
}

func (c *clock) advance(d time.Duration) {
	c.t = c.t.Add(d)
	due := c.timers[:0:0]
	rest := c.timers[:0]
	for _, tm := range c.timers {
		if !tm.at.After(c.t) {
			due = append(due, tm)
		} else {
			rest = append(rest, tm)
		}
	}
	c.timers = rest
	for _, tm := range due {
		tm.f()
	}
}

func newBar(term bool) (*Bar, *bytes.Buffer, *clock) {
	var buf bytes.Buffer
	c := &clock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	return New(&buf, Options{Terminal: term, Now: c.now, Width: 100, AfterFunc: c.afterFunc}), &buf, c
}

// lastLine returns what a terminal shows after out: the text after the last carriage return.
func lastLine(out string) string {
	out = strings.TrimRight(out, "\n")
	return strings.TrimRight(out[strings.LastIndex(out, "\r")+1:], " ")
}

func TestStats(t *testing.T) {
	const MiB = 1 << 20
	tests := []struct {
		name string
		st   State
		want string
	}{
		{"start", State{Total: 100 * MiB}, "  0%  0 B / 100 MiB  --/s  ETA --:--"},
		{"half", State{Done: 50 * MiB, Total: 100 * MiB, Moved: 50 * MiB, Elapsed: 5 * time.Second},
			" 50%  50 MiB / 100 MiB  10 MiB/s  ETA 0:05"},
		{"fractions", State{Done: 52*MiB + 300*1024, Total: 100 * MiB, Moved: 3 * MiB / 2, Elapsed: time.Second},
			" 52%  52.2 MiB / 100 MiB  1.5 MiB/s  ETA 0:32"},
		{"resumed: the offset is not speed", State{Done: 60 * MiB, Total: 100 * MiB, Moved: 10 * MiB, Elapsed: 2 * time.Second},
			" 60%  60 MiB / 100 MiB  5 MiB/s  ETA 0:08"},
		{"hours", State{Done: 1024, Total: 10 * 1024 * MiB, Moved: 1024, Elapsed: time.Second},
			"  0%  1 KiB / 10 GiB  1 KiB/s  ETA 2912:42:39"},
		{"final", State{Done: 10 * MiB, Total: 10 * MiB, Moved: 10 * MiB, Elapsed: 2500 * time.Millisecond, Final: true},
			"100%  10 MiB / 10 MiB  4 MiB/s  in 2.5s"},
		{"empty file", State{Final: true}, "100%  0 B / 0 B  --/s  in 0.0s"},
		{"grew past its total", State{Done: 20, Total: 10}, "100%  20 B / 10 B  --/s  ETA --:--"},
	}
	for _, tt := range tests {
		if got := Stats(tt.st); got != tt.want {
			t.Errorf("%s: Stats = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestRender(t *testing.T) {
	st := State{Label: "big.iso", Done: 45 << 20, Total: 100 << 20, Moved: 45 << 20, Elapsed: 9 * time.Second}
	got := Render(st, 79)
	want := "big.iso [============>              ]  45%  45 MiB / 100 MiB  5 MiB/s  ETA 0:11"
	if got != want {
		t.Errorf("Render =\n%q, want\n%q", got, want)
	}
	if w := textWidth(got); w > 79 {
		t.Errorf("line of %d columns, want at most 79", w)
	}
}

func TestRenderNarrow(t *testing.T) {
	st := State{Label: "[3/200] a-very-long-file-name-that-does-not-fit.tar.gz", Done: 1 << 20, Total: 4 << 20}
	for _, width := range []int{20, 40, 60, 79, 120} {
		got := Render(st, width)
		if w := textWidth(got); w > width {
			t.Errorf("width %d: %q is %d columns", width, got, w)
		}
		if width >= 60 && !strings.Contains(got, " 25%  1 MiB / 4 MiB") {
			t.Errorf("width %d: %q lost the numbers", width, got)
		}
		if width >= 60 && !strings.HasPrefix(got, "[3/200] a-very") {
			t.Errorf("width %d: %q lost the label", width, got)
		}
	}
	if got := Render(State{Label: "x", Done: 1, Total: 4}, 200); !strings.Contains(got, "["+strings.Repeat("=", 7)+">") {
		t.Errorf("wide line %q: want a bar of %d columns", got, maxBar)
	}
}

func TestRenderWideCharacters(t *testing.T) {
	st := State{Label: strings.Repeat("中文名", 10) + ".txt", Done: 1, Total: 2}
	got := Render(st, 79)
	if w := textWidth(got); w > 79 {
		t.Errorf("%q is %d columns wide, want at most 79", got, w)
	}
	if !strings.HasPrefix(got, "中文名") || !strings.Contains(got, "…") {
		t.Errorf("%q: want the label cut with …", got)
	}
}

func TestClock(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0:00", 1499 * time.Millisecond: "0:01", 61 * time.Second: "1:01", time.Hour + 2*time.Minute + 3*time.Second: "1:02:03",
	} {
		if got := Clock(d); got != want {
			t.Errorf("Clock(%v) = %q, want %q", d, got, want)
		}
	}
	if got := Duration(90 * time.Second); got != "1:30" {
		t.Errorf("Duration(90s) = %q", got)
	}
}

// TestRedrawLimit checks that the line is drawn at most once per 100 ms, whatever the number of
// updates, and that Finish always draws the last state.
func TestRedrawLimit(t *testing.T) {
	b, out, c := newBar(true)
	b.Start("f.bin")
	for i := range 1000 {
		b.Update(int64(i), 1000) // all at the same instant
	}
	if n := b.Redraws(); n != 1 {
		t.Fatalf("%d redraws for 1000 updates in no time, want 1", n)
	}
	c.advance(99 * time.Millisecond)
	b.Update(500, 1000)
	if n := b.Redraws(); n != 1 {
		t.Fatalf("redrawn after 99 ms: %d redraws", n)
	}
	c.advance(time.Millisecond)
	b.Update(600, 1000)
	if n := b.Redraws(); n != 2 {
		t.Fatalf("not redrawn after 100 ms: %d redraws", n)
	}
	// One simulated second of updates every millisecond: ten redraws.
	for range 1000 {
		c.advance(time.Millisecond)
		b.Update(700, 1000)
	}
	if n := b.Redraws(); n != 12 {
		t.Errorf("%d redraws after one more second of updates, want 12", n)
	}
	c.advance(10 * time.Millisecond)
	b.Update(1000, 1000)
	b.Finish()
	if n := b.Redraws(); n != 13 {
		t.Errorf("Finish did not draw the final state: %d redraws", n)
	}
	if got := lastLine(out.String()); !strings.HasPrefix(got, "f.bin [") || !strings.Contains(got, "100%  1000 B / 1000 B") {
		t.Errorf("final line %q", got)
	}
	if !strings.HasSuffix(out.String(), "\n") || strings.Count(out.String(), "\n") != 1 {
		t.Errorf("Finish must end the line once: %q", out.String())
	}
}

func TestSpeedAndETA(t *testing.T) {
	b, out, c := newBar(true)
	b.Start("r.bin")
	b.Update(50<<20, 100<<20) // resumed at 50 MiB
	c.advance(2 * time.Second)
	b.Update(60<<20, 100<<20) // 10 MiB in 2 s
	want := " 60%  60 MiB / 100 MiB  5 MiB/s  ETA 0:08"
	if got := lastLine(out.String()); !strings.HasSuffix(got, want) {
		t.Errorf("line %q, want it to end with %q", got, want)
	}
	c.advance(8 * time.Second)
	b.Update(100<<20, 100<<20)
	b.Finish()
	if got := lastLine(out.String()); !strings.HasSuffix(got, "100%  100 MiB / 100 MiB  5 MiB/s  in 10.0s") {
		t.Errorf("final line %q", got)
	}
}

func TestShorterLineIsPadded(t *testing.T) {
	b, out, c := newBar(true)
	b.Start("a-long-name.bin")
	b.Update(0, 100)
	first := out.Len()
	b.SetLabel("x")
	c.advance(time.Second)
	b.Update(50, 100)
	second := out.String()[first:]
	if len(second)-1 < first-1 { // "\r" + line + padding covers the old line
		t.Errorf("redraw %q does not cover the previous line of %d bytes", second, first-1)
	}
}

func TestPrintlnAboveTheBar(t *testing.T) {
	b, out, _ := newBar(true)
	b.Start("a.bin")
	b.Update(1, 2)
	b.Println("File [a.bin] upload successful")
	if got := out.String(); !strings.Contains(got, "\r"+strings.Repeat(" ", textWidth(Render(State{Label: "a.bin", Done: 1, Total: 2}, 99)))+"\r") ||
		!strings.HasSuffix(got, "\rFile [a.bin] upload successful\n") {
		t.Errorf("the bar was not erased before the line: %q", got)
	}
}

// TestNotATerminal: nothing is drawn, but Println still writes.
func TestNotATerminal(t *testing.T) {
	b, out, c := newBar(false)
	b.Start("a.bin")
	for i := range 100 {
		c.advance(time.Second)
		b.Update(int64(i), 100)
	}
	b.Finish()
	b.Clear()
	if out.Len() != 0 || b.Redraws() != 0 {
		t.Fatalf("drew on a non-terminal: %q", out.String())
	}
	b.Println("summary")
	if out.String() != "summary\n" {
		t.Errorf("Println wrote %q", out.String())
	}
}

func TestFinishWithoutUpdate(t *testing.T) {
	b, out, _ := newBar(true)
	b.Start("never.bin")
	b.Finish()
	if out.Len() != 0 {
		t.Errorf("Finish drew a transfer that never started: %q", out.String())
	}
}

// TestStalledTransferShowsItsState checks that an update too soon to be drawn is drawn a moment
// later, so that a transfer that stops moving shows where it stopped.
func TestStalledTransferShowsItsState(t *testing.T) {
	b, out, c := newBar(true)
	b.Start("f.bin")
	b.Update(0, 1000)
	b.Update(250, 1000) // at the same instant: too soon
	if got := lastLine(out.String()); !strings.Contains(got, "0%") {
		t.Fatalf("line after the first update: %q", got)
	}
	c.advance(100 * time.Millisecond) // no more updates: the transfer stalls
	if got := lastLine(out.String()); !strings.Contains(got, "25%  250 B / 1000 B") {
		t.Errorf("the stalled transfer shows %q, want its last state, 25%%", got)
	}
	if n := b.Redraws(); n != 2 {
		t.Errorf("%d redraws, want 2", n)
	}
}
