package progress

import (
	"fmt"
	"strings"
	"time"

	"github.com/myftp/myftp/lib/bytesize"
)

// State is what one line shows.
type State struct {
	Label       string
	Done, Total int64
	// Moved is the bytes that moved during Elapsed: Done less the offset a resumed transfer
	// started at. The speed is Moved / Elapsed.
	Moved   int64
	Elapsed time.Duration
	// Final shows the time taken instead of the time left.
	Final bool
}

const (
	minBar = 10 // narrowest bar drawn; below it the bar is left out
	maxBar = 30
)

// Render returns the line for st, at most width columns wide:
//
//	big.iso [=========>          ]  45%  45.2 MiB / 100 MiB  12.3 MiB/s  ETA 0:05
//
// The numbers always show; the label is shortened with "…" to fit beside them, and the bar, from
// 10 to 30 columns, is left out when it does not fit.
func Render(st State, width int) string {
	stats := Stats(st)
	room := width - textWidth(stats) - 1 // the space before the numbers
	if room < 1 {
		return truncate(stats, width)
	}
	var b strings.Builder
	used := 0
	if label := truncate(st.Label, room); label != "" { // the label goes first, then the bar if it fits
		b.WriteString(label + " ")
		used = textWidth(label) + 1
	}
	if barW := min(room-used, maxBar); barW >= minBar {
		b.WriteString(drawBar(st.Done, st.Total, barW) + " ")
	}
	b.WriteString(stats)
	return truncate(b.String(), width)
}

// Stats returns the numbers of a line: percentage, bytes done and total, speed, and the time
// left (or, when final, the time taken).
func Stats(st State) string {
	rate := Rate(st.Moved, st.Elapsed)
	speed := "--/s"
	if rate > 0 {
		speed = bytesize.Format(int64(rate)) + "/s"
	}
	tail := "ETA --:--"
	switch {
	case st.Final:
		tail = "in " + Duration(st.Elapsed)
	case rate > 0:
		left := float64(max(st.Total-st.Done, 0)) / rate
		tail = "ETA " + Clock(time.Duration(left*float64(time.Second)))
	}
	return fmt.Sprintf("%3d%%  %s / %s  %s  %s", Percent(st.Done, st.Total), bytesize.Format(st.Done),
		bytesize.Format(st.Total), speed, tail)
}

// Percent returns done as a whole percentage of total, from 0 to 100 (100 for an empty total).
func Percent(done, total int64) int {
	if total <= 0 {
		return 100
	}
	p := float64(done) / float64(total) * 100
	return int(min(max(p, 0), 100))
}

// Rate returns bytes per second, or 0 when no time passed.
func Rate(bytes int64, elapsed time.Duration) float64 {
	if elapsed <= 0 || bytes <= 0 {
		return 0
	}
	return float64(bytes) / elapsed.Seconds()
}

// Clock renders d rounded to the second as m:ss, or h:mm:ss from an hour on.
func Clock(d time.Duration) string {
	s := int64(d.Round(time.Second) / time.Second)
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

// Duration renders a time taken: "0.4s" below a minute, else as Clock.
func Duration(d time.Duration) string {
	if d < time.Minute {
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	return Clock(d)
}

// drawBar returns "[====>     ]" of width columns, brackets included.
func drawBar(done, total int64, width int) string {
	inner := width - 2
	full := inner * Percent(done, total) / 100
	var b strings.Builder
	b.WriteByte('[')
	b.WriteString(strings.Repeat("=", full))
	if full < inner {
		b.WriteByte('>')
		b.WriteString(strings.Repeat(" ", inner-full-1))
	}
	b.WriteByte(']')
	return b.String()
}

// truncate shortens s to at most width columns, ending with "…" when it cut.
func truncate(s string, width int) string {
	if textWidth(s) <= width {
		return s
	}
	if width <= 0 {
		return ""
	}
	var b strings.Builder
	w := 0
	for _, r := range s {
		if w+runeWidth(r) > width-1 {
			break
		}
		b.WriteRune(r)
		w += runeWidth(r)
	}
	return b.String() + "…"
}

// textWidth returns the columns s takes on a terminal.
func textWidth(s string) int {
	w := 0
	for _, r := range s {
		w += runeWidth(r)
	}
	return w
}

// runeWidth is 2 for the wide characters of East Asian scripts, 1 otherwise: enough to keep a
// line with a Chinese file name from wrapping.
func runeWidth(r rune) int {
	switch {
	case r >= 0x1100 && r <= 0x115F, r >= 0x2E80 && r <= 0xA4CF, r >= 0xAC00 && r <= 0xD7A3,
		r >= 0xF900 && r <= 0xFAFF, r >= 0xFE30 && r <= 0xFE4F, r >= 0xFF00 && r <= 0xFF60,
		r >= 0xFFE0 && r <= 0xFFE6, r >= 0x20000 && r <= 0x3FFFD:
		return 2
	}
	return 1
}
