package server_test

// Faults: a disk that fills up or fails, an account disabled or deleted in the middle of an upload,
// the modes of every file the programs create, and the real myftps killed with SIGKILL in the
// middle of many uploads and of many commits. Nothing the user was told is stored may be lost or
// corrupt, the quota must always equal what is on disk, and every interrupted upload must resume.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/myftp/myftp/core/admin"
	"github.com/myftp/myftp/core/serve"
	"github.com/myftp/myftp/core/server/servertest"
	"github.com/myftp/myftp/lib/account"
	"github.com/myftp/myftp/lib/client"
	"github.com/myftp/myftp/lib/db"
	"github.com/myftp/myftp/lib/homefs"
	"github.com/myftp/myftp/lib/proto"
)

// relFault is a disk that fails on demand: while armed, the writes of all uploads together succeed
// for budget more bytes and then fail with err, the way a file system that fills up fails a write
// halfway.
type relFault struct {
	mu     sync.Mutex
	armed  bool
	budget int64
	err    error
}

func (f *relFault) arm(budget int64, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.armed, f.budget, f.err = true, budget, err
}

func (f *relFault) disarm() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.armed = false
}

// wrap is the store's WrapWriter.
func (f *relFault) wrap(w io.Writer) io.Writer {
	return writeFn(func(p []byte) (int, error) {
		f.mu.Lock()
		if !f.armed {
			f.mu.Unlock()
			return w.Write(p)
		}
		n := min(int64(len(p)), f.budget)
		f.budget -= n
		err := f.err
		f.mu.Unlock()
		k, werr := w.Write(p[:n])
		if werr != nil || k < len(p) {
			return k, relFirstErr(werr, &fs.PathError{Op: "write", Path: "partial upload", Err: err})
		}
		return k, nil
	})
}

func relFirstErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// relDiskUsage adds up what a home holds on disk the way the quota counts it: the user's files and
// the data of partial uploads, not the server's descriptions of them or its md5 records.
func relDiskUsage(t testing.TB, home string) int64 {
	t.Helper()
	var n int64
	err := filepath.WalkDir(home, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(home, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() && rel == ".myftp/sums" {
			return filepath.SkipDir
		}
		if !d.Type().IsRegular() || strings.HasPrefix(rel, ".myftp/") && strings.HasSuffix(rel, ".json") {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		n += fi.Size()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// relUsageIsDisk checks that the quota the client is told equals what the home holds on disk.
func relUsageIsDisk(t testing.TB, what string, c *client.Client, home string) {
	t.Helper()
	used, _, err := c.Quota()
	if err != nil {
		t.Fatalf("%s: quota: %v", what, err)
	}
	if disk := relDiskUsage(t, home); used != disk {
		t.Errorf("%s: quota says %d bytes used, the home holds %d", what, used, disk)
	}
}

// TestDiskFaults fills the disk in the middle of an upload (ENOSPC) and fails a write (EIO). The
// client gets a clear reply (452 no space, 451 i/o error), the same session goes on, the quota
// equals the disk, an upload that fails at its first byte leaves nothing, and once the fault is
// gone the big upload resumes where the disk stopped and ends correct.
func TestDiskFaults(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		err  error
		code int
		msg  string
	}{
		{"disk full", syscall.ENOSPC, proto.CodeNoSpace, "no space left on the server: /big.bin"},
		{"i/o error", syscall.EIO, proto.CodeLocalError, "i/o error on the server: /big.bin"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fault := &relFault{}
			e := servertest.Start(t, servertest.Options{Store: homefs.Options{WrapWriter: fault.wrap}})
			e.AddUser("alice", "alice-pw", 0)
			home, local := e.Home("alice"), t.TempDir()
			data := relRandom(3<<20, 11)
			big := relWriteFile(t, local, "big.bin", data, relPast)
			small := relWriteFile(t, local, "small.bin", []byte("a small file\n"), relPast)
			c := loginAs(t, e, "alice", "alice-pw")
			ctx := context.Background()

			const room = 1<<20 + 1000 // not a frame boundary
			fault.arm(room, tc.err)
			_, err := c.Put(ctx, big, "", client.Options{})
			wantReply(t, "put while the fault strikes", err, tc.code, tc.msg)
			if p, err := c.Pwd(); err != nil || p != "/" {
				t.Fatalf("pwd in the same session after the fault: %q, %v", p, err)
			}
			if parts := relPartials(t, home); len(parts) != 1 || relOnly(parts) != room {
				t.Errorf("partial uploads after the fault: %v, want one of the %d bytes that reached the disk", parts, room)
			}
			relUsageIsDisk(t, "after the fault", c, home)
			_, err = c.Put(ctx, small, "", client.Options{})
			wantReply(t, "small put while the disk still fails", err, tc.code, "/small.bin")
			if parts := relPartials(t, home); len(parts) != 1 {
				t.Errorf("partial uploads after a put that failed at its first byte: %v, want only big.bin's", parts)
			}
			relUsageIsDisk(t, "after the second failure", c, home)

			fault.disarm()
			if _, err := c.Put(ctx, small, "", client.Options{}); err != nil {
				t.Fatalf("small put in the same session once the fault is gone: %v", err)
			}
			res, err := c.Put(ctx, big, "", client.Options{})
			if err != nil {
				t.Fatalf("put again once the fault is gone: %v", err)
			}
			if res.Offset != room || res.MD5 != relMD5(data) {
				t.Errorf("put again: offset %d, md5 %s; want a resume at %d and md5 %s", res.Offset, res.MD5, room, relMD5(data))
			}
			if got, err := os.ReadFile(filepath.Join(home, "big.bin")); err != nil || relMD5(got) != relMD5(data) {
				t.Errorf("stored big.bin: %d bytes, %v; want the %d bytes sent", len(got), err, len(data))
			}
			if parts := relPartials(t, home); len(parts) != 0 {
				t.Errorf("partial uploads left: %v", parts)
			}
			relUsageIsDisk(t, "at the end", c, home)
			other := loginAs(t, e, "alice", "alice-pw") // the server serves new sessions too
			relUsageIsDisk(t, "in a new session", other, home)
		})
	}
}

func relOnly(m map[string]int64) int64 {
	for _, v := range m {
		return v
	}
	return -1
}

func relMD5(b []byte) string {
	sum := md5.Sum(b)
	return hex.EncodeToString(sum[:])
}

// TestFaultAccountChangedDuringUpload disables, or deletes, an account while its upload streams.
// The data frames already under way are taken, and the next command (done) gets 421 and the
// session closes: nothing is stored under the final name. Enabled again, the account resumes the
// upload from what the server kept and ends with a correct file and a quota equal to the disk.
func TestFaultAccountChangedDuringUpload(t *testing.T) {
	t.Parallel()
	for _, deleted := range []bool{false, true} {
		name := map[bool]string{false: "disabled", true: "deleted"}[deleted]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := servertest.Start(t, servertest.Options{})
			acct := e.AddUser("alice", "alice-pw", 0)
			e.AddUser("bob", "bob-pw", 0)
			home := e.Home("alice")
			data := relRandom(4<<20, 12)
			src := relWriteFile(t, t.TempDir(), "big.bin", data, relPast)
			c := loginAs(t, e, "alice", "alice-pw")
			bob := loginAs(t, e, "bob", "bob-pw")
			var once sync.Once
			change := func(done, total int64) {
				if done < 1<<20 {
					return
				}
				once.Do(func() {
					var err error
					if deleted {
						_, err = e.DB.Delete("alice")
					} else {
						_, err = e.DB.Update("alice", func(a *account.Account) error { a.Disabled = true; return nil })
					}
					if err != nil {
						t.Errorf("%s the account: %v", name, err)
					}
				})
			}
			_, err := c.Put(context.Background(), src, "", client.Options{Progress: change})
			wantReply(t, "upload of an account "+name+" meanwhile", err, proto.CodeUnavailable, "account disabled or deleted")
			if !errors.Is(err, client.ErrClosed) {
				t.Errorf("upload of an account %s meanwhile: %v, want the connection closed", name, err)
			}
			if _, err := os.Lstat(filepath.Join(home, "big.bin")); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("big.bin stored for an account %s during its upload: %v", name, err)
			}
			if p, err := bob.Pwd(); err != nil || p != "/" {
				t.Errorf("another account's session: %q, %v", p, err)
			}
			waitRunning(t, e, 1) // alice's session ended, bob's goes on

			if deleted {
				acct.ID = 0
				if _, err := e.DB.Create(acct); err != nil {
					t.Fatal(err)
				}
			} else if _, err := e.DB.Update("alice", func(a *account.Account) error { a.Disabled = false; return nil }); err != nil {
				t.Fatal(err)
			}
			again := loginAs(t, e, "alice", "alice-pw")
			res, err := again.Put(context.Background(), src, "", client.Options{})
			if err != nil {
				t.Fatalf("put after the account came back: %v", err)
			}
			if res.Offset < 1<<20 || res.MD5 != relMD5(data) {
				t.Errorf("put after the account came back: offset %d, md5 %s; want a resume past 1 MiB, md5 %s", res.Offset, res.MD5, relMD5(data))
			}
			if got, err := os.ReadFile(filepath.Join(home, "big.bin")); err != nil || relMD5(got) != relMD5(data) {
				t.Errorf("stored big.bin: %d bytes, %v", len(got), err)
			}
			relUsageIsDisk(t, "after the resume", again, home)
		})
	}
}

// TestFaultCommitRefusedKeepsPartial: an upload whose done fails after all its data arrived (here
// another session made a directory of its name meanwhile; a crash during the commit leaves the same
// state) keeps its partial file for a resume, also across a new login, which expires only partial
// uploads left untouched for the partial TTL. The partial carries the source's modification time
// by then, which may be years old.
func TestFaultCommitRefusedKeepsPartial(t *testing.T) {
	t.Parallel()
	e := servertest.Start(t, servertest.Options{Plain: true})
	e.AddUser("alice", "alice-pw", 0)
	data := relRandom(100<<10, 13)
	a := relDialRaw(t, e.Addr)
	a.request(proto.Request{Op: proto.OpLogin, User: "alice", Password: "alice-pw"})
	a.expect(proto.CodeLoggedIn, "")
	a.request(proto.Request{Op: proto.OpPut, Path: "x.bin", Size: int64(len(data)), Mtime: relPast})
	a.expect(proto.CodeSendData, "send data")
	a.frame(proto.TypeData, data)
	a.expect(proto.CodeOK, "")

	b := loginAs(t, e, "alice", "alice-pw")
	if _, err := b.Mkdir("x.bin", false); err != nil {
		t.Fatal(err)
	}
	a.request(proto.Request{Op: proto.OpDone, MD5: relMD5(data)})
	a.expect(proto.CodeUnavailFile, "is a directory")
	if err := b.Rmdir("x.bin"); err != nil {
		t.Fatal(err)
	}

	c := loginAs(t, e, "alice", "alice-pw") // a new session: its login expires stale partial uploads
	src := relWriteFile(t, t.TempDir(), "x.bin", data, relPast)
	res, err := c.Put(context.Background(), src, "", client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Offset != int64(len(data)) || res.MD5 != relMD5(data) {
		t.Errorf("put after the refused commit: offset %d (%q), md5 %s; want a resume at %d, nothing left to send",
			res.Offset, res.Restart, res.MD5, len(data))
	}
	relUsageIsDisk(t, "after the resume", c, e.Home("alice"))
}

// TestFileModes runs the real programs in this process (create_user's admin.Main and myftps's
// serve.Main) on a fresh root, uploads, interrupts an upload, downloads, and then checks the mode
// of everything they created: private (0700 directories, 0600 files) except the public
// certificate (0644). Neither log nor create_user's output contains the password.
func TestFileModes(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Unix file modes")
	}
	t.Parallel()
	const password = "Modes-Password-e1f0"
	root, confDir := t.TempDir(), t.TempDir()
	settings := filepath.Join(confDir, "settings.toml")
	if err := os.WriteFile(settings, []byte("[server]\nlisten = \"127.0.0.1:0\"\n\n[auth]\nargon2_memory = \"64KiB\"\nargon2_time = 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var adminOut, adminErr bytes.Buffer
	if code := admin.Main(context.Background(), []string{"--root", root, "--conf", settings, "--account", "bob", "--password-stdin"},
		strings.NewReader(password+"\n"), &adminOut, &adminErr); code != 0 {
		t.Fatalf("create_user: exit %d\n%s%s", code, &adminOut, &adminErr)
	}

	ctx, stop := context.WithCancel(context.Background())
	out, outW := io.Pipe()
	var serverErr bytes.Buffer
	exited := make(chan int, 1)
	go func() {
		defer outW.Close()
		exited <- serve.Main(ctx, []string{"--root", root, "--conf", settings}, outW, &serverErr)
	}()
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "listening on "); ok {
				addr <- a
			}
		}
		close(addr)
	}()
	a, ok := <-addr
	if !ok {
		t.Fatalf("myftps did not start:\n%s", &serverErr)
	}

	clientHome := t.TempDir()
	knownHosts := filepath.Join(clientHome, ".myftp", "known_hosts")
	c, err := client.Dial(context.Background(), client.Config{Addr: a, KnownHosts: knownHosts, IOTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Login("bob", password); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Mkdir("docs/deep", true); err != nil {
		t.Fatal(err)
	}
	src := relWriteFile(t, t.TempDir(), "a.txt", []byte("some content\n"), relPast)
	if _, err := c.Put(context.Background(), src, "docs/deep/a.txt", client.Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(context.Background(), "docs/deep/a.txt", filepath.Join(t.TempDir(), "a.txt"), client.Options{}); err != nil {
		t.Fatal(err)
	}
	// An interrupted upload: 10 of 100 bytes, then the connection drops.
	raw := relDialRaw(t, a)
	raw.handshake()
	raw.request(proto.Request{Op: proto.OpLogin, User: "bob", Password: password})
	raw.expect(proto.CodeLoggedIn, "")
	raw.request(proto.Request{Op: proto.OpPut, Path: "docs/half.bin", Size: 100, Mtime: relPast})
	raw.expect(proto.CodeSendData, "")
	raw.frame(proto.TypeData, make([]byte, 10))
	raw.expect(proto.CodeOK, "")
	raw.raw.Close()
	home := filepath.Join(root, "file_upload", "bob")
	eventually(t, "the interrupted upload is kept", func() bool {
		p := relPartials(t, home)
		return len(p) == 1 && relOnly(p) == 10
	})
	c.Close()
	stop()
	if code := <-exited; code != 0 {
		t.Fatalf("myftps exited %d:\n%s", code, &serverErr)
	}

	want := func(rel string, isDir bool) fs.FileMode {
		switch {
		case rel == filepath.Join("conf", "server.crt"):
			return 0o644
		case isDir:
			return 0o700
		}
		return 0o600
	}
	var seen []string
	check := func(base string, skipRoot bool) {
		err := filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(base, p)
			if rel == "." && skipRoot {
				return nil
			}
			fi, err := d.Info()
			if err != nil {
				return err
			}
			seen = append(seen, rel)
			if got, w := fi.Mode().Perm(), want(rel, d.IsDir()); got != w {
				t.Errorf("%s: mode %#o, want %#o", p, got, w)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	check(root, true)
	check(filepath.Join(clientHome, ".myftp"), false)
	for _, must := range []string{"conf/server.key", "conf/server.crt", "db/accounts/bob.json", "db/id_user_rs.json",
		"file_upload/bob/docs/deep/a.txt", "file_upload/bob/.myftp/partial", "file_upload/bob/.myftp/sums", "log/myftps.log", "log/xferlog", "known_hosts"} {
		if !slices.Contains(seen, filepath.FromSlash(must)) {
			t.Errorf("%s was not created; the check saw %q", must, seen)
		}
	}
	for _, f := range []string{"myftps.log", "xferlog"} {
		if b, err := os.ReadFile(filepath.Join(root, "log", f)); err != nil || bytes.Contains(b, []byte(password)) {
			t.Errorf("log/%s: %v, or it contains the password", f, err)
		}
	}
	for what, b := range map[string][]byte{"create_user's output": adminOut.Bytes(), "create_user's errors": adminErr.Bytes(), "myftps's stderr": serverErr.Bytes()} {
		if bytes.Contains(b, []byte(password)) {
			t.Errorf("%s contains the password", what)
		}
	}
}

// relProcess is a running myftps.
type relProcess struct {
	cmd    *exec.Cmd
	addr   string
	stderr *os.File
}

// relStartMyftps runs bin on root and waits until it listens.
func relStartMyftps(t *testing.T, bin, root string) *relProcess {
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
	p := &relProcess{cmd: cmd, stderr: stderr}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
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
			t.Fatalf("myftps ended without listening:\n%s", p.log())
		}
		p.addr = a
	case <-time.After(30 * time.Second):
		t.Fatalf("myftps did not listen within 30 s:\n%s", p.log())
	}
	return p
}

func (p *relProcess) log() string {
	b, _ := os.ReadFile(p.stderr.Name())
	return string(b)
}

// killed waits for the process that was sent SIGKILL and checks that the signal ended it.
func (p *relProcess) killed(t *testing.T) {
	t.Helper()
	p.cmd.Wait()
	if ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("myftps ended with %v, want SIGKILL\n%s", p.cmd.ProcessState, p.log())
	}
}

// relKillRoot prepares a runtime root for myftps: a server of pool workers on a free loopback port,
// cheap password hashing, and the given accounts (password: name + "-pw").
func relKillRoot(t *testing.T, pool int, users []string) string {
	t.Helper()
	root := t.TempDir()
	if err := os.Mkdir(filepath.Join(root, "conf"), 0o700); err != nil {
		t.Fatal(err)
	}
	settings := fmt.Sprintf("[server]\nlisten = \"127.0.0.1:0\"\npool_size = %d\n\n[auth]\nargon2_memory = \"64KiB\"\nargon2_time = 1\n", pool)
	if err := os.WriteFile(filepath.Join(root, "conf", "settings.toml"), []byte(settings), 0o600); err != nil {
		t.Fatal(err)
	}
	accounts, err := db.Open(filepath.Join(root, "db"))
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		hash, err := account.HashPassword(u+"-pw", servertest.Cheap())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := accounts.Create(account.Account{Name: u, PasswordHash: hash, Quota: 1 << 40}); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// relKillClients logs in sessions to a myftps process.
type relKillClients struct {
	t          *testing.T
	knownHosts string
}

// open dials and logs in; it may run on any goroutine. The session is closed when the test ends.
func (k relKillClients) open(addr, user string) (*client.Client, error) {
	c, err := client.Dial(context.Background(), client.Config{Addr: addr, KnownHosts: k.knownHosts, IOTimeout: 60 * time.Second})
	if err != nil {
		return nil, err
	}
	k.t.Cleanup(func() { c.Close() })
	return c, c.Login(user, user+"-pw")
}

// login is open for the test's goroutine: it fails the test on error.
func (k relKillClients) login(addr, user string) *client.Client {
	k.t.Helper()
	c, err := k.open(addr, user)
	if err != nil {
		k.t.Fatalf("login %s: %v", user, err)
	}
	return c
}

// relSource is a local file and where it goes.
type relSource struct {
	user, local, remote, md5 string
	size                     int64
}

// relCheckRoot checks what a root holds after a crash, with a server running on it again: every
// file under a final name is complete (its md5 is its source's; a name without a source is an
// error), every account record parses, and each account's quota equals its home's disk use. It
// returns the remote names stored per user.
func relCheckRoot(t *testing.T, root string, k relKillClients, addr string, users []string, sources map[string]relSource) map[string]bool {
	t.Helper()
	stored := map[string]bool{}
	for _, u := range users {
		home := filepath.Join(root, "file_upload", u)
		err := filepath.WalkDir(home, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && d.Name() == ".myftp" {
				return filepath.SkipDir
			}
			if d.IsDir() {
				return nil
			}
			rel, _ := filepath.Rel(home, p)
			key := u + "/" + filepath.ToSlash(rel)
			src, ok := sources[key]
			b, rerr := os.ReadFile(p)
			switch {
			case !ok:
				t.Errorf("%s: a file no client sent", key)
			case rerr != nil || relMD5(b) != src.md5:
				t.Errorf("%s: %d bytes, md5 %s (%v); want %d bytes, md5 %s: a partial or corrupt file under a final name",
					key, len(b), relMD5(b), rerr, src.size, src.md5)
			default:
				stored[key] = true
			}
			return nil
		})
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
		c := k.login(addr, u)
		relUsageIsDisk(t, u, c, home)
		c.Close()
	}
	accounts, err := db.Open(filepath.Join(root, "db"))
	if err != nil {
		t.Fatal(err)
	}
	probs, err := accounts.Check()
	if err != nil || len(probs) > 0 {
		t.Errorf("account database after the crash: %v, %v", probs, err)
	}
	return stored
}

// TestKillServer kills the real myftps with SIGKILL, as the kernel's OOM killer or a power cut of
// the process would, and restarts it on the same root.
func TestKillServer(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("SIGKILL is a Unix signal")
	}
	t.Parallel()
	bin := buildMyftps(t, t.TempDir())
	t.Run("mid uploads", func(t *testing.T) { t.Parallel(); relKillMidUploads(t, bin) })
	t.Run("mid commits", func(t *testing.T) { t.Parallel(); relKillMidCommits(t, bin) })
}

// relKillMidUploads: 50 clients (MYFTP_LONG=1: 100) of five accounts upload files of 1 to 4 MiB at
// once. When the clients have sent half of all the bytes, and the server's disk holds half of them
// (the rest is in the sockets' buffers) with most unfinished uploads holding some, the server is
// killed. After a restart nothing under a final name is partial or corrupt, the database is sound
// and quotas equal the disk; every interrupted upload resumes exactly from what its partial file
// holds to a correct file.
func relKillMidUploads(t *testing.T, bin string) {
	clients := 50
	if relLong() {
		clients = 100
	}
	users := []string{"u0", "u1", "u2", "u3", "u4"}
	root := relKillRoot(t, clients+16, users) // every client is served at once, with room for the checks
	k := relKillClients{t: t, knownHosts: filepath.Join(t.TempDir(), "known_hosts")}
	local := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	sources := map[string]relSource{}
	var list []relSource
	var total int64
	for i := range clients {
		size := 1<<20 + rng.IntN(3<<20)
		data := relRandom(size, uint64(100+i))
		s := relSource{user: users[i%len(users)], remote: fmt.Sprintf("f%03d.bin", i), md5: relMD5(data), size: int64(size)}
		s.local = relWriteFile(t, local, s.remote, data, relPast)
		sources[s.user+"/"+s.remote] = s
		list = append(list, s)
		total += s.size
	}

	srv := relStartMyftps(t, bin, root)
	sessions := make([]*client.Client, clients)
	for i, s := range list {
		sessions[i] = k.login(srv.addr, s.user)
	}
	var sent, stored atomic.Int64
	var triggered atomic.Bool
	killed := make(chan struct{})
	killWhenStored := func() { // on a goroutine of its own: the uploads go on meanwhile
		defer close(killed)
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			bytes, started, finished := relStoredBytes(root, users)
			stored.Store(bytes)
			if bytes >= total/2 && started*4 >= (clients-finished)*3 {
				break
			}
			time.Sleep(time.Millisecond)
		}
		srv.cmd.Process.Signal(syscall.SIGKILL)
	}
	errs := make([]error, clients)
	var wg sync.WaitGroup
	for i, s := range list {
		wg.Go(func() {
			var last int64
			_, errs[i] = sessions[i].Put(context.Background(), s.local, s.remote, client.Options{Progress: func(done, _ int64) {
				if sent.Add(done-last) >= total/2 && triggered.CompareAndSwap(false, true) {
					go killWhenStored()
				}
				last = done
			}})
		})
	}
	wg.Wait()
	if !triggered.Load() {
		t.Fatal("every upload finished before the server was killed")
	}
	<-killed
	srv.killed(t)

	held := map[string]int64{} // what each interrupted upload's partial file holds
	for _, u := range users {
		for target, size := range relPartialTargets(t, filepath.Join(root, "file_upload", u)) {
			held[u+"/"+target] = size
		}
	}
	srv = relStartMyftps(t, bin, root)
	done := relCheckRoot(t, root, k, srv.addr, users, sources)
	var interrupted, acknowledged, holding int
	for i, s := range list {
		key := s.user + "/" + s.remote
		switch {
		case errs[i] == nil:
			acknowledged++
			if !done[key] {
				t.Errorf("%s: the client was told it is stored, but it is not", key)
			}
		case !done[key]:
			interrupted++
			if held[key] > 0 {
				holding++
			}
		}
	}
	t.Logf("killed with %d of %d MiB sent and %d MiB on the server's disk: %d uploads acknowledged, %d stored but not acknowledged, %d interrupted (%d of them with data kept)",
		sent.Load()>>20, total>>20, stored.Load()>>20, acknowledged, len(done)-acknowledged, interrupted, holding)
	if holding*2 <= interrupted {
		t.Errorf("only %d of %d interrupted uploads kept data for a resume", holding, interrupted)
	}

	var resumed atomic.Int64
	for i, s := range list {
		key := s.user + "/" + s.remote
		if errs[i] == nil || done[key] {
			continue
		}
		wg.Go(func() {
			c, err := k.open(srv.addr, s.user)
			var res client.Result
			if err == nil {
				res, err = c.Put(context.Background(), s.local, s.remote, client.Options{})
				c.Close()
			}
			switch {
			case err != nil:
				t.Errorf("%s: put after the restart: %v", key, err)
			case res.Offset != held[key] || res.MD5 != s.md5:
				t.Errorf("%s: put after the restart started at byte %d (%q), md5 %s; want byte %d, what the server kept, and md5 %s",
					key, res.Offset, res.Restart, res.MD5, held[key], s.md5)
			case res.Offset > 0:
				resumed.Add(1)
			}
		})
	}
	wg.Wait()
	t.Logf("%d of %d interrupted uploads resumed", resumed.Load(), interrupted)
	done = relCheckRoot(t, root, k, srv.addr, users, sources)
	if len(done) != clients {
		t.Errorf("%d files stored after the resumes, want %d", len(done), clients)
	}
	for _, u := range users {
		if p := relPartials(t, filepath.Join(root, "file_upload", u)); len(p) != 0 {
			t.Errorf("%s: partial uploads left after every upload finished: %v", u, p)
		}
	}
}

// relStoredBytes adds up the bytes of the given accounts' homes on disk (files and partial
// uploads), and counts the partial uploads that hold data and the finished files. It runs while
// the server writes, so files may come and go.
func relStoredBytes(root string, users []string) (bytes int64, started, finished int) {
	for _, u := range users {
		filepath.WalkDir(filepath.Join(root, "file_upload", u), func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() || strings.HasSuffix(p, ".json") {
				return nil
			}
			fi, err := d.Info()
			if err != nil {
				return nil
			}
			bytes += fi.Size()
			switch {
			case !strings.Contains(filepath.ToSlash(p), "/.myftp/"):
				finished++
			case fi.Size() > 0:
				started++
			}
			return nil
		})
	}
	return bytes, started, finished
}

// relPartialTargets returns, for each partial upload of home, its target (relative to the home)
// and the bytes its data file holds.
func relPartialTargets(t testing.TB, home string) map[string]int64 {
	t.Helper()
	dir := filepath.Join(home, ".myftp", "partial")
	metas, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	held := map[string]int64{}
	for _, m := range metas {
		var meta struct{ Path string }
		b, err := os.ReadFile(m)
		if err == nil {
			err = json.Unmarshal(b, &meta)
		}
		fi, serr := os.Stat(strings.TrimSuffix(m, ".json"))
		if err != nil || serr != nil {
			t.Errorf("partial upload %s: %v, %v", m, err, serr)
			continue
		}
		held[meta.Path] = fi.Size()
	}
	return held
}

// relKillMidCommits: four sessions upload batches of small files (pipelined, so most of the
// server's time goes to committing: fsync, rename, md5 record) until the server is killed after
// 200 files were acknowledged. After a restart the same holds as after a kill mid-upload, and
// every file uploads again to a correct copy.
func relKillMidCommits(t *testing.T, bin string) {
	users := []string{"c0", "c1"}
	root := relKillRoot(t, 32, users)
	k := relKillClients{t: t, knownHosts: filepath.Join(t.TempDir(), "known_hosts")}
	local := t.TempDir()
	srv := relStartMyftps(t, bin, root)

	var mu sync.Mutex
	sources := map[string]relSource{}
	var acked atomic.Int64
	var kill sync.Once
	var wg sync.WaitGroup
	for w := range 4 {
		user := users[w%len(users)]
		c := k.login(srv.addr, user)
		wg.Go(func() {
			for batch := 0; batch < 200; batch++ {
				items, err := relSmallBatch(local, user, w, batch, &mu, sources)
				if err != nil {
					t.Error(err)
					return
				}
				err = c.PutMany(context.Background(), items, client.Options{}, func(_ int, _ client.Result, err error) {
					if err == nil && acked.Add(1) >= 200 {
						kill.Do(func() { srv.cmd.Process.Signal(syscall.SIGKILL) })
					}
				})
				if c.Err() != nil {
					return // the server is gone
				}
				if err != nil {
					t.Errorf("batch before the kill: %v", err)
					return
				}
			}
			t.Error("the server was never killed")
		})
	}
	wg.Wait()
	srv.killed(t)
	t.Logf("killed after %d small files were acknowledged, %d sent", acked.Load(), len(sources))

	srv = relStartMyftps(t, bin, root)
	stored := relCheckRoot(t, root, k, srv.addr, users, sources)
	for _, u := range users {
		var items []client.Item
		for key, s := range sources {
			if s.user == u && !stored[key] {
				items = append(items, client.Item{Local: s.local, Remote: s.remote})
			}
		}
		c := k.login(srv.addr, u)
		if err := c.PutMany(context.Background(), items, client.Options{}, nil); err != nil {
			t.Errorf("%s: uploading the %d missing files after the restart: %v", u, len(items), err)
		}
		c.Close()
	}
	if stored = relCheckRoot(t, root, k, srv.addr, users, sources); len(stored) != len(sources) {
		t.Errorf("%d files stored after the second round, want %d", len(stored), len(sources))
	}
}

// relSmallBatch writes the 25 local files of one batch (1 to 16 KiB each) and records them. It runs
// on the uploading goroutines.
func relSmallBatch(local, user string, w, batch int, mu *sync.Mutex, sources map[string]relSource) ([]client.Item, error) {
	var items []client.Item
	rng := rand.New(rand.NewPCG(uint64(w), uint64(batch)))
	for i := range 25 {
		name := fmt.Sprintf("w%d-b%03d-%02d.bin", w, batch, i)
		data := relRandom(1<<10+rng.IntN(15<<10), uint64(w)<<32|uint64(batch)<<8|uint64(i))
		s := relSource{user: user, local: filepath.Join(local, name), remote: name, md5: relMD5(data), size: int64(len(data))}
		if err := os.WriteFile(s.local, data, 0o644); err != nil {
			return nil, err
		}
		mu.Lock()
		sources[user+"/"+name] = s
		mu.Unlock()
		items = append(items, client.Item{Local: s.local, Remote: name})
	}
	return items, nil
}
