package auth

import (
	"log/slog"
	"strconv"
	"sync"
	"time"
)

// Limits of the failure log: what one address can make the server write is bounded.
const (
	logEach     = 5           // failures of an address logged one by one per logPeriod
	logPeriod   = time.Minute // after logEach, one summary line per address per period
	logNameMax  = 100         // bytes of a name logged, as OpenSSH
	logMaxAddrs = 10000       // addresses remembered at once
)

// failureLog logs failed logins without letting a client flood the log: per address, the first
// logEach failures of a minute get a line each, the rest of that minute one summary line. It is
// safe for concurrent use.
type failureLog struct {
	log *slog.Logger
	now func() time.Time

	mu    sync.Mutex
	addrs map[string]*addrFailures
	swept time.Time // last sweep of finished periods
}

type addrFailures struct {
	start time.Time // of the address's current period
	count int       // failures in it
	last  time.Time // of the latest failure
}

type summary struct {
	addr string
	f    addrFailures
}

func newFailureLog(log *slog.Logger, now func() time.Time) *failureLog {
	return &failureLog{log: log, now: now, addrs: map[string]*addrFailures{}}
}

// record logs one failure of name from addr, or counts it for the address's summary. attrs are
// added to the line.
func (f *failureLog) record(addr, name, reason string, attrs ...any) {
	now := f.now()
	f.mu.Lock()
	var done []summary
	if now.Sub(f.swept) >= logPeriod {
		done = f.sweep(now, done)
	}
	a := f.addrs[addr]
	if a != nil && now.Sub(a.start) >= logPeriod {
		done = append(done, summary{addr, *a})
		a = nil
	}
	if a == nil {
		if len(f.addrs) >= logMaxAddrs {
			done = f.evict(done)
		}
		a = &addrFailures{start: now}
		f.addrs[addr] = a
	}
	a.count++
	a.last = now
	one := a.count <= logEach
	f.mu.Unlock()

	for _, s := range done {
		f.summarise(s)
	}
	if one {
		f.log.Info("login failed", append([]any{"remote", addr, "account", logName(name), "reason", reason}, attrs...)...)
	}
}

// sweep collects and forgets the addresses whose period is over. f.mu is held.
func (f *failureLog) sweep(now time.Time, done []summary) []summary {
	f.swept = now
	for addr, a := range f.addrs {
		if now.Sub(a.start) >= logPeriod {
			done = append(done, summary{addr, *a})
			delete(f.addrs, addr)
		}
	}
	return done
}

// evict forgets a tenth of the addresses, after a sweep that found none to forget; their
// summaries come early. f.mu is held.
func (f *failureLog) evict(done []summary) []summary {
	if done = f.sweep(f.now(), done); len(f.addrs) < logMaxAddrs {
		return done
	}
	n := len(f.addrs) / 10
	for addr, a := range f.addrs {
		if n--; n < 0 {
			break
		}
		done = append(done, summary{addr, *a})
		delete(f.addrs, addr)
	}
	return done
}

// summarise writes the summary line of a finished period, if some of its failures were not
// logged one by one.
func (f *failureLog) summarise(s summary) {
	if n := s.f.count - logEach; n > 0 {
		f.log.Warn("more failed logins", "remote", s.addr, "count", n, "since", s.f.start, "last", s.f.last)
	}
}

// logName is name as it may be logged: cut to logNameMax bytes (marked by "..."), and quoted
// with Go escapes (%q) if it holds anything but printable characters or a quote, so that a log
// line always holds one line and only what the name says.
func logName(name string) string {
	if len(name) > logNameMax {
		name = name[:logNameMax] + "..."
	}
	if q := strconv.Quote(name); q[1:len(q)-1] != name {
		return q
	}
	return name
}
