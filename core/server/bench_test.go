package server_test

import (
	"bufio"
	"context"
	"fmt"
	"github.com/myftp/myftp/core/admission"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/myftp/myftp/core/auth"
	"github.com/myftp/myftp/core/server/servertest"
	"github.com/myftp/myftp/lib/account"
	"github.com/myftp/myftp/lib/client"
)

// addUserWithParams creates an account whose password is hashed with p (Env.AddUser uses the cheap
// test cost).
func addUserWithParams(b *testing.B, e *servertest.Env, name, password string, p account.Params) {
	b.Helper()
	hash, err := account.HashPassword(password, p)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := e.DB.Create(account.Account{Name: name, PasswordHash: hash, Quota: 1 << 30}); err != nil {
		b.Fatal(err)
	}
	if err := os.MkdirAll(e.Home(name), 0o700); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkLogin measures what a user waits for to start a session: TCP connect, greeting, TLS 1.3
// handshake, and a login whose password is checked with argon2id at the default cost
// (account.DefaultParams), then quit.
func BenchmarkLogin(b *testing.B) {
	e := servertest.Start(b, servertest.Options{Auth: auth.Config{Params: account.DefaultParams()}})
	addUserWithParams(b, e, "bob", "bob-pw", account.DefaultParams())
	cfg := e.ClientConfig()
	ctx := context.Background()
	e.Dial() // records the server in known_hosts
	for b.Loop() {
		c, err := client.Dial(ctx, cfg)
		if err != nil {
			b.Fatal(err)
		}
		if err := c.Login("bob", "bob-pw"); err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
}

// BenchmarkPwd measures one request round trip on a logged-in TLS session.
func BenchmarkPwd(b *testing.B) {
	e := servertest.Start(b, servertest.Options{})
	e.AddUser("bob", "bob-pw", 0)
	c := e.Login("bob", "bob-pw")
	for b.Loop() {
		if _, err := c.Pwd(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkIdleSessionMemory reports the server's memory per idle, logged-in TLS session.
//
// The server runs in this process; the N clients (MYFTP_BENCH_SESSIONS, default 500) run in a
// child process (this test binary again, running TestIdleClientsHelper), so that nothing the
// clients hold is counted. After one warm-up session (first-use costs such as the home's usage
// scan), the heap and stack in use are measured after a GC with no session open and again with
// the N sessions open and idle; the difference divided by N is B/session. Each iteration of the
// loop is one such measurement of the open sessions.
func BenchmarkIdleSessionMemory(b *testing.B) {
	n := 500
	if v := os.Getenv("MYFTP_BENCH_SESSIONS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			b.Fatalf("MYFTP_BENCH_SESSIONS=%q: want a positive number", v)
		}
	}
	e := servertest.Start(b, servertest.Options{Admission: admission.Config{PoolSize: n + 8, QueueSize: 8}})
	e.AddUser("bob", "bob-pw", 0)
	warm := e.Login("bob", "bob-pw")
	warm.Close()
	waitRunning(b, e, 0)
	heap0, goroutines0 := memInUse()

	stop := startIdleClients(b, e.Addr, n)
	defer stop()
	waitRunning(b, e, n)
	var heap uint64
	var goroutines int
	for b.Loop() {
		heap, goroutines = memInUse()
	}
	b.ReportMetric(float64(int64(heap)-int64(heap0))/float64(n), "B/session")
	b.ReportMetric(float64(goroutines-goroutines0)/float64(n), "goroutines/session")
}

// memInUse returns the heap and stack bytes in use after a collection, and the goroutine count.
func memInUse() (uint64, int) {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse + m.StackInuse, runtime.NumGoroutine()
}

// startIdleClients runs the helper process with n sessions logged in to addr and returns when they
// all are; stop ends it.
func startIdleClients(b *testing.B, addr string, n int) (stop func()) {
	b.Helper()
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^TestIdleClientsHelper$", "-test.count=1", "-test.timeout=10m")
	cmd.Env = append(os.Environ(), "MYFTP_IDLE_HELPER_ADDR="+addr, "MYFTP_IDLE_HELPER_SESSIONS="+strconv.Itoa(n))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	stop = func() {
		stdin.Close()
		cmd.Wait()
	}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "ready ") {
			go io.Copy(io.Discard, stdout)
			return stop
		}
	}
	stop()
	b.Fatalf("helper process ended before its sessions were ready: %v", sc.Err())
	return nil
}

// TestIdleClientsHelper is the child process of BenchmarkIdleSessionMemory: it logs in
// MYFTP_IDLE_HELPER_SESSIONS sessions to MYFTP_IDLE_HELPER_ADDR, prints "ready N", and keeps them
// idle until its stdin closes. Run as a test, it does nothing.
func TestIdleClientsHelper(t *testing.T) {
	addr := os.Getenv("MYFTP_IDLE_HELPER_ADDR")
	if addr == "" {
		t.Skip("the helper process of BenchmarkIdleSessionMemory")
	}
	n, err := strconv.Atoi(os.Getenv("MYFTP_IDLE_HELPER_SESSIONS"))
	if err != nil {
		t.Fatal(err)
	}
	clients := make([]*client.Client, n)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	next := make(chan int)
	for range 8 {
		wg.Go(func() {
			for i := range next {
				c, err := client.Dial(context.Background(), client.Config{Addr: addr, Insecure: true})
				if err == nil {
					err = c.Login("bob", "bob-pw")
				}
				clients[i] = c
				if err != nil {
					errs <- err
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	fmt.Println("ready", n)
	io.Copy(io.Discard, os.Stdin)
	for _, c := range clients {
		c.Close()
	}
}
