package auth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// logCapture is a slog handler that keeps the records and writes them as text.
type logCapture struct {
	mu      sync.Mutex
	records []slog.Record
	text    bytes.Buffer
}

func (c *logCapture) Enabled(context.Context, slog.Level) bool { return true }
func (c *logCapture) WithAttrs([]slog.Attr) slog.Handler       { return c }
func (c *logCapture) WithGroup(string) slog.Handler            { return c }

func (c *logCapture) Handle(ctx context.Context, r slog.Record) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.records = append(c.records, r.Clone())
	return slog.NewTextHandler(&c.text, nil).Handle(ctx, r)
}

// attr returns the value of key in r.
func attr(r slog.Record, key string) slog.Value {
	var v slog.Value
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == key {
			v = a.Value
			return false
		}
		return true
	})
	return v
}

func TestLogName(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 150)
	for _, tc := range []struct{ name, want string }{
		{"alice", "alice"},
		{"bob smith", "bob smith"},
		{"", ""},
		{"evil\nlevel=ERROR msg=forged", `"evil\nlevel=ERROR msg=forged"`},
		{"\x1b[2Jclear", `"\x1b[2Jclear"`},
		{`"quoted"`, `"\"quoted\""`},
		{long, long[:100] + "..."},
		{"\x00" + long, `"\x00` + long[:99] + `..."`},
	} {
		if got := logName(tc.name); got != tc.want {
			t.Errorf("logName(%q) = %s, want %s", tc.name, got, tc.want)
		}
	}
}

// TestLogFailuresBounded sends 1000 failed logins with 64 KiB names (with control characters)
// from one address over 100 s: the log gets a few lines each minute, with the names cut, and a
// summary that accounts for every other failure.
func TestLogFailuresBounded(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	capture := &logCapture{}
	a := newAuth(t, Config{Accounts: newAccounts(t, map[string]string{"alice": "alice-pw"}), MaxHashers: 1,
		ThrottleAfter: 5, ThrottleWindow: time.Minute, ThrottleDelay: 100 * ms, ThrottleMaxDelay: time.Second,
		Now: clock.Now, Log: slog.New(capture)})
	name := "evil\n" + strings.Repeat("\x1b[2J", 16<<10)
	var throttledN int
	for range 1000 {
		if _, err := a.Login(context.Background(), name, "x", "203.0.113.7"); errors.Is(err, ErrThrottled) {
			throttledN++
		}
		clock.Advance(100 * ms)
	}
	// Another address's failure, a minute later, brings out the last summary of the first.
	clock.Advance(time.Minute)
	a.LogFailure("198.51.100.1", "alice", "public key refused")

	capture.mu.Lock()
	defer capture.mu.Unlock()
	var single, summarised int64
	for _, r := range capture.records {
		switch r.Message {
		case "login failed":
			if attr(r, "remote").String() != "203.0.113.7" {
				continue
			}
			single++
			// Cut to 100 bytes, each escaped in at most 4, quoted, with "...".
			if acct := attr(r, "account").String(); len(acct) > 4*100+5 || !strings.HasPrefix(acct, `"evil\n\x1b[2J`) || !strings.HasSuffix(acct, `..."`) {
				t.Errorf("account logged as %d bytes: %.200s", len(acct), acct)
			}
		case "more failed logins":
			summarised += attr(r, "count").Int64()
		default:
			t.Errorf("unexpected log record %q", r.Message)
		}
	}
	t.Logf("%d records, %d bytes; %d failures logged one by one, %d summarised; %d attempts throttled",
		len(capture.records), capture.text.Len(), single, summarised, throttledN)
	if single+summarised != 1000 {
		t.Errorf("%d logged one by one + %d summarised, want 1000", single, summarised)
	}
	// 100 s are two minutes of the address: 5 lines and a summary each, plus the other address.
	if n := len(capture.records); n > 2*(logEach+1)+1 {
		t.Errorf("%d log records, want at most %d", n, 2*(logEach+1)+1)
	}
	if lines := strings.Count(capture.text.String(), "\n"); lines != len(capture.records) {
		t.Errorf("%d log lines for %d records: a name broke a line", lines, len(capture.records))
	}
	if n := capture.text.Len(); n > 16<<10 {
		t.Errorf("%d bytes of log, want at most 16 KiB", n)
	}
	if throttledN < 800 { // about 106 are checked: 5, then one per wait of 0.1 s doubling to 1 s
		t.Errorf("only %d of 1000 attempts throttled", throttledN)
	}
}

// TestLogFailureMemoryBounded fails from more addresses than the log remembers.
func TestLogFailureMemoryBounded(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	f := newFailureLog(slog.New(slog.DiscardHandler), clock.Now)
	for i := range 3 * logMaxAddrs {
		f.record(fmt.Sprintf("10.%d.%d.%d", i>>16, i>>8&255, i&255), "x", "test")
		if n := len(f.addrs); n > logMaxAddrs {
			t.Fatalf("%d addresses remembered, bound %d", n, logMaxAddrs)
		}
	}
	clock.Advance(logPeriod)
	f.record("192.0.2.1", "x", "test")
	if n := len(f.addrs); n != 1 {
		t.Fatalf("%d addresses remembered a minute later, want 1", n)
	}
}
