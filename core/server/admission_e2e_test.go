package server_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/myftp/myftp/core/admission"
	"github.com/myftp/myftp/core/server/servertest"
	"github.com/myftp/myftp/lib/client"
	"github.com/myftp/myftp/lib/proto"
)

// defaultAdmission is the admission policy of the built-in settings, with a short login timeout
// so that silent connections come and go several times within a test.
func defaultAdmission(loginTimeout time.Duration) admission.Config {
	return admission.Config{PoolSize: 32, QueueSize: 64, QueueTimeout: 30 * time.Second, MaxPerAddress: 16,
		MaxStartups: 32, MaxStartupsPerAddress: 4, MaxSessionsPerAccount: 8, LoginTimeout: loginTimeout}
}

// silentFlood keeps as many silent TCP connections open from addr to the server as it will take
// (up to 16), opening a new one whenever one is closed, or 50 ms after one is refused, until stop
// closes or 2,000 connections have been made. It counts the connections the server accepted in h
// and those it refused in r.
func silentFlood(addr, server string, stop <-chan struct{}, h, r *atomic.Int64) {
	var wg sync.WaitGroup
	var dials atomic.Int64
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(addr)}, Timeout: 5 * time.Second}
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for dials.Add(1) <= 2000 {
				select {
				case <-stop:
					return
				default:
				}
				c, err := d.Dial("tcp", server)
				if err != nil {
					r.Add(1)
					continue
				}
				closed := make(chan struct{})
				go func() {
					select {
					case <-stop:
						c.Close()
					case <-closed:
					}
				}()
				// The greeting, then nothing: a refused connection hears 421 and is closed.
				pr := proto.NewReader(c, proto.DefaultMaxHeader)
				f, err := pr.Next()
				var rep proto.Reply
				if err == nil {
					rep, err = proto.DecodeReply(f.Payload)
				}
				if err == nil && rep.Code == proto.CodeUnavailable {
					r.Add(1)
					select { // the pace of the flood, not a synchronisation
					case <-stop:
					case <-time.After(50 * time.Millisecond):
					}
				} else {
					h.Add(1)
					io.Copy(io.Discard, c) // until the login timeout closes it
				}
				close(closed)
				c.Close()
			}
		}()
	}
	wg.Wait()
}

// TestSilentFloodLeavesRoom: silent connections from five addresses that reconnect as soon as
// they are dropped cannot keep a real user out: each of the user's logins is served at once (never
// queued, never refused), because an address may hold only max_startups_per_address connections
// that have not logged in, and each lives only login_timeout.
func TestSilentFloodLeavesRoom(t *testing.T) {
	t.Parallel()
	e := servertest.Start(t, servertest.Options{Admission: defaultAdmission(time.Second)})
	e.AddUser("alice", "alice-pw", 0)
	stop := make(chan struct{})
	var stopOnce sync.Once
	var wg sync.WaitGroup
	end := func() { stopOnce.Do(func() { close(stop) }); wg.Wait() }
	defer end()
	var held, refused atomic.Int64
	for i := range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			silentFlood(fmt.Sprintf("127.0.0.%d", 10+i), e.Addr, stop, &held, &refused)
		}()
	}
	servertest.Eventually(t, "the flood at its limit", func() bool { return e.Server.Stats().NotLoggedIn >= 20 })

	for i := range 6 {
		cfg := e.ClientConfig()
		var mu sync.Mutex
		var notices []string
		cfg.Notify = func(msg string) {
			if strings.Contains(msg, "waiting") {
				mu.Lock()
				notices = append(notices, msg)
				mu.Unlock()
			}
		}
		start := time.Now()
		c, err := client.Dial(context.Background(), cfg)
		if err != nil {
			t.Fatalf("login %d during the flood: %v (stats %+v)", i, err, e.Server.Stats())
		}
		if err := c.Login("alice", "alice-pw"); err != nil {
			t.Fatalf("login %d during the flood: %v", i, err)
		}
		mu.Lock()
		queued := notices
		mu.Unlock()
		if len(queued) > 0 {
			t.Fatalf("login %d was queued during the flood: %q", i, queued)
		}
		t.Logf("login %d in %v, stats %+v", i, time.Since(start), e.Server.Stats())
		c.Close()
		if i == 2 { // let the flood's first connections time out and come back
			servertest.Eventually(t, "the flood reconnecting", func() bool { return held.Load() >= 40 })
		}
	}
	if st := e.Server.Stats(); st.NotLoggedIn > 20 {
		t.Fatalf("five addresses hold %d connections that have not logged in, want at most 5 x 4", st.NotLoggedIn)
	}
	end()
	t.Logf("flood: %d connections held, %d refused", held.Load(), refused.Load())
}

// TestSessionsPerAccountLimit: one account cannot fill the pool with idle sessions; the session
// over the limit is told why after its password was checked, and other accounts log in.
func TestSessionsPerAccountLimit(t *testing.T) {
	t.Parallel()
	cfg := defaultAdmission(10 * time.Second)
	cfg.MaxPerAddress = 0
	e := servertest.Start(t, servertest.Options{Admission: cfg})
	e.AddUser("mallory", "mallory-pw", 0)
	e.AddUser("bob", "bob-pw", 0)
	var idle []*client.Client
	for range 8 {
		idle = append(idle, loginWith(t, e.ClientConfig(), "mallory", "mallory-pw"))
	}
	c := e.Dial()
	err := c.Login("mallory", "mallory-pw")
	wantReply(t, "ninth session of one account", err, proto.CodeUnavailable, "too many sessions of account mallory: the limit is 8")
	if err := c.Noop(); err == nil {
		t.Fatal("the refused session goes on")
	}
	c = e.Dial()
	err = c.Login("mallory", "wrong")
	wantReply(t, "a wrong password at the limit", err, proto.CodeNotLoggedIn, "login incorrect")
	loginWith(t, e.ClientConfig(), "bob", "bob-pw")
	idle[0].Close()
	servertest.Eventually(t, "a session of mallory's ended", func() bool { return e.Server.Stats().Running == 9 })
	loginWith(t, e.ClientConfig(), "mallory", "mallory-pw")
}
