package server_test

// Overload: far more clients than workers, and a flood of wrong passwords. The server must answer
// every client quickly (served, or told it is busy), keep its memory bounded, throttle the guesses,
// and serve a newcomer or a legitimate user as soon as it can.
//
// The clients run in the test's own process, so the memory figures include them: they are an upper
// bound of the server's. These tests are not parallel with others, so that the figures and the
// goroutine and descriptor counts are the server's and its clients' only.

import (
	"context"
	"crypto/md5"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/myftp/myftp/core/admission"

	"github.com/myftp/myftp/core/auth"
	"github.com/myftp/myftp/core/door"
	"github.com/myftp/myftp/core/server"
	"github.com/myftp/myftp/core/server/servertest"
	"github.com/myftp/myftp/lib/account"
	"github.com/myftp/myftp/lib/client"
	"github.com/myftp/myftp/lib/db"
	"github.com/myftp/myftp/lib/proto"
)

// relMaxMemory is the bound on heap and stack in use during an overload, for the server and its
// clients together.
const relMaxMemory = 512 << 20

// relMemory samples the heap and stack in use every 10 ms until the returned func is called, which
// returns the peak.
func relMemory() (peak func() uint64) {
	stop, done := make(chan struct{}), make(chan uint64)
	go func() {
		var max uint64
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			if v := m.HeapInuse + m.StackInuse; v > max {
				max = v
			}
			select {
			case <-stop:
				done <- max
				return
			case <-tick.C:
			}
		}
	}()
	return func() uint64 {
		close(stop)
		return <-done
	}
}

// relBurstClient is what one client of the burst saw.
type relBurstClient struct {
	answered time.Duration // from dialling to the greeting or the busy reply
	queued   bool          // the server said it had to wait
	err      error         // nil: served and uploaded
}

// TestOverloadBurst: 500 clients (MYFTP_LONG=1: 2000) dial at once a server of 32 workers and 64
// queue places; each logs in and uploads a small file. Every client is either served or told the
// server is busy: at once when the queue is full, after the queue timeout when it waited. Memory
// stays bounded, every served upload is stored whole, and a client that comes after the burst is
// served at once.
func TestOverloadBurst(t *testing.T) {
	n := 500
	if longTests() {
		n = 2000
	}
	const queueTimeout = 3 * time.Second
	base := countResources()
	e := servertest.Start(t, servertest.Options{Admission: admission.Config{PoolSize: 32, QueueSize: 64, QueueTimeout: queueTimeout}})
	e.AddUser("alice", "alice-pw", 0)
	e.Dial().Close() // records the server in known_hosts
	data := randomData(4<<10, 7)
	local := writeFile(t, t.TempDir(), "small.bin", data, past)

	peak := relMemory()
	results := make([]relBurstClient, n)
	var wg sync.WaitGroup
	gate := make(chan struct{})
	start := time.Now()
	for i := range results {
		wg.Go(func() {
			<-gate
			results[i] = relBurst(e, local, "f"+strconv.Itoa(i))
		})
	}
	close(gate)
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	servertest.Await(t, "the burst's clients", finished)
	took := time.Since(start)
	maxMem := peak()

	var served, busyAtOnce, busyQueued, waited int
	var slowestBusy, slowest time.Duration
	for i, r := range results {
		slowest = max(slowest, r.answered)
		if r.queued {
			waited++
		}
		switch {
		case r.err == nil:
			served++
			if r.answered > queueTimeout+relMargin {
				t.Errorf("client %d: served after %v, more than the queue timeout allows", i, r.answered)
			}
		case !errors.Is(r.err, client.ErrBusy):
			t.Errorf("client %d: %v, want success or ErrBusy", i, r.err)
		case r.queued:
			busyQueued++
			if r.answered < queueTimeout-20*time.Millisecond || r.answered > queueTimeout+relMargin {
				t.Errorf("client %d: waited, then told busy after %v; want the %v queue timeout", i, r.answered, queueTimeout)
			}
		default:
			busyAtOnce++
			slowestBusy = max(slowestBusy, r.answered)
			// Turned away without queueing: it must not have waited as long as a queued one does
			// (a looser bound than "at once", which a loaded machine cannot keep).
			if r.answered >= queueTimeout {
				t.Errorf("client %d: told busy after %v without being queued, as late as the %v queue timeout", i, r.answered, queueTimeout)
			}
		}
	}
	t.Logf("%d clients in %v: %d served (%d of them after waiting), %d busy at once (slowest answer %v), %d busy after waiting; slowest answer %v",
		n, took, served, waited-busyQueued, busyAtOnce, slowestBusy, busyQueued, slowest)
	t.Logf("peak heap+stack in use (server and clients): %.1f MiB", float64(maxMem)/(1<<20))
	if served < 32 {
		t.Errorf("only %d clients served, fewer than the pool", served)
	}
	if maxMem > relMaxMemory {
		t.Errorf("peak memory %d MiB, want at most %d MiB", maxMem>>20, relMaxMemory>>20)
	}
	for i, r := range results {
		if r.err != nil {
			continue
		}
		got, err := os.ReadFile(filepath.Join(e.Home("alice"), "f"+strconv.Itoa(i)))
		if err != nil || md5.Sum(got) != md5.Sum(data) {
			t.Errorf("client %d's upload: %d bytes, %v; want the %d bytes sent", i, len(got), err, len(data))
		}
	}

	// After the burst, a newcomer is served at once.
	servertest.Eventually(t, "the burst's sessions ended", func() bool { st := e.Server.Stats(); return st.Running == 0 && st.Waiting == 0 })
	cfg := e.ClientConfig()
	var notes []string
	cfg.Notify = func(msg string) { notes = append(notes, msg) }
	t0 := time.Now()
	c, err := client.Dial(context.Background(), cfg)
	if err != nil {
		t.Fatalf("a client after the burst: %v", err)
	}
	defer c.Close()
	if err := c.Login("alice", "alice-pw"); err != nil {
		t.Fatalf("login after the burst: %v", err)
	}
	if el := time.Since(t0); el > 2*time.Second || len(notes) > 0 {
		t.Errorf("a client after the burst: dial and login took %v, notices %q; want it at once", el, notes)
	}
	c.Close()
	e.Stop()
	noLeaks(t, base)
}

// relBurst is one client of the burst: dial, login, put, quit.
func relBurst(e *servertest.Env, local, remote string) relBurstClient {
	var r relBurstClient
	cfg := e.ClientConfig()
	cfg.Notify = func(msg string) {
		if strings.Contains(msg, "waiting for a free server slot") {
			r.queued = true
		}
	}
	start := time.Now()
	c, err := client.Dial(context.Background(), cfg)
	r.answered = time.Since(start) // the greeting or the refusal; the TLS handshake adds little
	if err != nil {
		r.err = err
		return r
	}
	defer c.Close()
	if err := c.Login("alice", "alice-pw"); err != nil {
		r.err = err
		return r
	}
	_, r.err = c.Put(context.Background(), local, remote, client.Options{})
	return r
}

// relCountingAccounts counts the lookups of one account by the authenticator: every one of them
// is followed by a password hash, so they count the guesses that were verified.
type relCountingAccounts struct {
	auth.Accounts
	name string
	mu   sync.Mutex
	at   []time.Time
}

func (a *relCountingAccounts) Get(name string) (account.Account, error) {
	if name == a.name {
		a.mu.Lock()
		a.at = append(a.at, time.Now())
		a.mu.Unlock()
	}
	return a.Accounts.Get(name)
}

func (a *relCountingAccounts) lookups() []time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.at)
}

// TestLoginFlood: 1,000 wrong passwords for one account (MYFTP_LONG=1: 5,000) from one address
// (127.0.0.40), 48 at a time, reconnecting after every third failure, against a server with the default throttle
// shape (after 5 failures, 100 ms doubling to 1 s) and 3 attempts per connection. Only a trickle of
// guesses is verified: the rest are refused at once, without hashing. Meanwhile another account
// logs in from another address again and again without failing, and memory stays bounded.
func TestLoginFlood(t *testing.T) {
	attempts := 1000
	if longTests() {
		attempts = 5000
	}
	const (
		workers  = 48
		pool     = 32
		after    = 5
		delay    = 100 * time.Millisecond
		maxDelay = time.Second
	)
	base := countResources()
	dir := t.TempDir()
	accounts, err := db.Open(filepath.Join(dir, "db"))
	if err != nil {
		t.Fatal(err)
	}
	counting := &relCountingAccounts{Accounts: accounts, name: "victim"}
	authn, err := auth.New(auth.Config{Accounts: counting, Params: servertest.Cheap(), MaxHashers: runtime.NumCPU(),
		ThrottleAfter: after, ThrottleWindow: 15 * time.Minute, ThrottleDelay: delay, ThrottleMaxDelay: maxDelay})
	if err != nil {
		t.Fatal(err)
	}
	e := servertest.Start(t, servertest.Options{Dir: dir, Config: server.Config{Services: door.Services{Auth: authn}, LoginAttempts: 3}, Admission: admission.Config{PoolSize: pool, QueueSize: 64}})
	e.AddUser("victim", "victim-pw", 0)
	e.AddUser("alice", "alice-pw", 0)
	e.Dial().Close() // records the server in known_hosts

	peak := relMemory()
	flooding := make(chan struct{})
	legit := make(chan relLegitResult, 1)
	go func() { legit <- relLegitLogins(e, flooding) }()

	var next atomic.Int64
	errs := make(chan error, workers)
	start := time.Now()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() { errs <- relGuess(from(e, "127.0.0.40"), &next, int64(attempts)) })
	}
	wg.Wait()
	took := time.Since(start)
	close(flooding)
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	maxMem := peak()
	l := servertest.Await(t, "the legitimate logins", legit)

	verified := counting.lookups()
	bound := after + pool + int(took/delay)
	t.Logf("%d wrong passwords in %v: %d verified (%.1f per second), %d refused without hashing; bound %d",
		attempts, took, len(verified), float64(len(verified))/took.Seconds(), attempts-len(verified), bound)
	if len(verified) > bound {
		t.Errorf("%d guesses verified in %v, want at most %d", len(verified), took, bound)
	}
	// Once the account is throttled at the maximum delay (well within the first 3 s), verified
	// guesses are spaced by it.
	const ramp = 3 * time.Second
	var late int
	for _, at := range verified {
		if at.Sub(start) > ramp {
			late++
		}
	}
	if rest := took - ramp; rest > 0 {
		t.Logf("after the first %v: %d verified in %v (%.2f per second)", ramp, late, rest.Round(time.Millisecond), float64(late)/rest.Seconds())
		if late > int(rest/maxDelay)+2 {
			t.Errorf("%d guesses verified in the last %v of the flood, want at most one per %v", late, rest, maxDelay)
		}
	}
	t.Logf("peak heap+stack in use (server and clients): %.1f MiB", float64(maxMem)/(1<<20))
	if maxMem > relMaxMemory {
		t.Errorf("peak memory %d MiB, want at most %d MiB", maxMem>>20, relMaxMemory>>20)
	}
	t.Logf("legitimate user: %d logins during the flood, slowest %v", l.logins, l.slowest)
	if l.err != nil {
		t.Errorf("the legitimate user's login during the flood: %v", l.err)
	}
	if l.logins == 0 {
		t.Error("the legitimate user did not log in during the flood")
	}
	e.Stop()
	noLeaks(t, base)
}

// relGuess is one attacker: it takes attempt numbers until attempts are used up and tries a wrong
// password for each, reconnecting when the server closes the connection. Every attempt must be
// answered with 530, or with 421 (after the third on a connection, or when throttled).
func relGuess(cfg client.Config, next *atomic.Int64, attempts int64) error {
	var c *client.Client
	defer func() {
		if c != nil {
			c.Close()
		}
	}()
	for {
		i := next.Add(1)
		if i > attempts {
			return nil
		}
		if c == nil || c.Err() != nil {
			if c != nil {
				c.Close()
			}
			var err error
			if c, err = client.Dial(context.Background(), cfg); err != nil {
				return err
			}
		}
		err := c.Login("victim", "guess-"+strconv.FormatInt(i, 10))
		var re *proto.ReplyError
		if !errors.As(err, &re) || (re.Code != proto.CodeNotLoggedIn && re.Code != proto.CodeUnavailable) {
			return errors.New("guess " + strconv.FormatInt(i, 10) + ": want 530 or 421, got " + relErrString(err))
		}
	}
}

func relErrString(err error) string {
	if err == nil {
		return "success"
	}
	return err.Error()
}

type relLegitResult struct {
	logins  int
	slowest time.Duration
	err     error
}

// relLegitLogins logs alice in (dial, login, pwd, quit) again and again until stop closes.
func relLegitLogins(e *servertest.Env, stop <-chan struct{}) relLegitResult {
	var r relLegitResult
	for i := 0; i < 10_000; i++ {
		select {
		case <-stop:
			return r
		default:
		}
		t0 := time.Now()
		c, err := client.Dial(context.Background(), e.ClientConfig())
		if err == nil {
			err = c.Login("alice", "alice-pw")
			if err == nil {
				_, err = c.Pwd()
			}
			c.Close()
		}
		if err != nil {
			r.err = err
			return r
		}
		r.logins++
		r.slowest = max(r.slowest, time.Since(t0))
	}
	return r
}
