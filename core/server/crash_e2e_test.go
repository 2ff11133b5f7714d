package server_test

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/myftp/myftp/lib/account"
	"github.com/myftp/myftp/lib/client"
	"github.com/myftp/myftp/lib/db"
)

// buildMyftps builds bin/myftps into dir with the go command that runs the tests.
func buildMyftps(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "myftps")
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command on PATH to build myftps: %v", err)
	}
	out, err := exec.Command(goTool, "build", "-o", bin, "github.com/myftp/myftp/bin/myftps").CombinedOutput()
	if err != nil {
		t.Fatalf("build myftps: %v\n%s", err, out)
	}
	return bin
}

// myftps is a running server process.
type myftps struct {
	cmd    *exec.Cmd
	addr   string
	stderr *os.File
}

// startMyftps runs the myftps binary on root and waits until it listens.
func startMyftps(t *testing.T, bin, root string) *myftps {
	t.Helper()
	stderr, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	out, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--root", root)
	cmd.Stdout, cmd.Stderr = w, stderr
	err = cmd.Start()
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	s := &myftps{cmd: cmd, stderr: stderr}
	t.Cleanup(s.kill)
	addr := make(chan string, 1)
	go func() {
		defer out.Close()
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "listening on "); ok {
				addr <- a
			}
		}
		close(addr)
	}()
	select {
	case a, ok := <-addr:
		if !ok {
			t.Fatalf("myftps ended without listening:\n%s", s.log())
		}
		s.addr = a
	case <-time.After(30 * time.Second):
		t.Fatalf("myftps did not listen within 30 s:\n%s", s.log())
	}
	return s
}

func (s *myftps) log() string {
	b, _ := os.ReadFile(s.stderr.Name())
	return string(b)
}

// kill ends the process with SIGKILL: no chance to clean up, as in a crash or an OOM kill.
func (s *myftps) kill() {
	if s.cmd.ProcessState == nil {
		s.cmd.Process.Kill()
		s.cmd.Wait()
	}
}

// TestServerKilledMidPut kills the real server process with SIGKILL in the middle of an upload:
// nothing appears under the final name, a restarted server on the same root counts the partial
// upload in the quota exactly as it lies on disk, and the upload resumes where the server stopped.
func TestServerKilledMidPut(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("SIGKILL is a Unix signal")
	}
	t.Parallel()
	bin := buildMyftps(t, t.TempDir())
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "conf"), 0o700)
	settings := "[server]\nlisten = \"127.0.0.1:0\"\n\n[auth]\nargon2_memory = \"64KiB\"\nargon2_time = 1\n"
	if err := os.WriteFile(filepath.Join(root, "conf", "settings.toml"), []byte(settings), 0o600); err != nil {
		t.Fatal(err)
	}
	accounts, err := db.Open(filepath.Join(root, "db"))
	if err != nil {
		t.Fatal(err)
	}
	hash, err := account.HashPassword(xPass, account.Params{Memory: 64, Time: 1, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := accounts.Create(account.Account{Name: xUser, PasswordHash: hash, Quota: 1 << 30}); err != nil {
		t.Fatal(err)
	}
	home := filepath.Join(root, "file_upload", xUser)
	local, knownHosts := t.TempDir(), filepath.Join(t.TempDir(), "known_hosts")
	login := func(addr string) *client.Client {
		t.Helper()
		c, err := client.Dial(context.Background(), client.Config{Addr: addr, KnownHosts: knownHosts, IOTimeout: 30 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if err := c.Login(xUser, xPass); err != nil {
			t.Fatal(err)
		}
		return c
	}

	srv := startMyftps(t, bin, root)
	c := login(srv.addr)
	small := writeFile(t, local, "small.txt", randomData(100<<10, 200), past)
	if _, err := c.Put(context.Background(), small, "", client.Options{}); err != nil {
		t.Fatal(err)
	}
	const size, cut = 12 * MiB, 5 * MiB
	data := randomData(size, 201)
	src := writeFile(t, local, "big.bin", data, past)
	var once sync.Once
	_, err = c.Put(context.Background(), src, "", client.Options{Progress: func(done, _ int64) {
		if done < cut {
			return
		}
		once.Do(func() {
			if !waitFor(func() bool { p := partialsIn(t, home); return len(p) == 1 && p[0] >= done }) {
				t.Errorf("the server never stored %d bytes: %v", done, partialsIn(t, home))
			}
			mustNotExist(t, filepath.Join(home, "big.bin"))
			srv.cmd.Process.Signal(syscall.SIGKILL)
		})
	}})
	if err == nil {
		t.Fatal("the put survived the server's death")
	}
	srv.cmd.Wait()
	if ws, ok := srv.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("myftps ended with %v, want SIGKILL", srv.cmd.ProcessState)
	}
	mustNotExist(t, filepath.Join(home, "big.bin"))
	if p := partialsIn(t, home); len(p) != 1 || p[0] != cut {
		t.Fatalf("partial uploads after the kill: %v, want one of %d bytes", p, cut)
	}

	srv = startMyftps(t, bin, root)
	c = login(srv.addr)
	used, _, err := c.Quota()
	if disk := diskUsage(t, home); err != nil || used != disk || used != 100<<10+cut {
		t.Errorf("after the restart: used %d (%v), on disk %d; want %d", used, err, disk, 100<<10+cut)
	}
	res, err := c.Put(context.Background(), src, "", client.Options{})
	if err != nil {
		t.Fatalf("put after the restart: %v\n%s", err, srv.log())
	}
	if res.Offset != cut || res.Sent() != size-cut || res.MD5 != md5hex(data) {
		t.Errorf("resumed put: %+v, want offset %d and md5 %s", res, cut, md5hex(data))
	}
	sameBytes(t, "server copy", mustRead(t, filepath.Join(home, "big.bin")), data)
	if used, _, err := c.Quota(); err != nil || used != diskUsage(t, home) || used != 100<<10+size {
		t.Errorf("after the resumed put: used %d (%v), on disk %d; want %d", used, err, diskUsage(t, home), 100<<10+size)
	}
	c.Close()
	srv.cmd.Process.Signal(os.Interrupt)
	if err := srv.cmd.Wait(); err != nil {
		t.Errorf("graceful stop: %v\n%s", err, srv.log())
	}
}
