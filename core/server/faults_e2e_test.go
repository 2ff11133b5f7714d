package server_test

// Faults: a disk that fills up or fails, an account disabled or deleted in the middle of an upload,
// and the modes of every file the programs create. Nothing the user was told is stored may be lost
// or corrupt, the quota must always equal what is on disk, and every interrupted upload must
// resume. The server killed in the middle of its work is in crash_e2e_test.go.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/myftp/myftp/core/admin"
	"github.com/myftp/myftp/core/serve"
	"github.com/myftp/myftp/core/server/servertest"
	"github.com/myftp/myftp/lib/account"
	"github.com/myftp/myftp/lib/client"
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
			data := randomData(3<<20, 11)
			big := writeFile(t, local, "big.bin", data, past)
			small := writeFile(t, local, "small.bin", []byte("a small file\n"), past)
			c := loginWith(t, e.ClientConfig(), "alice", "alice-pw")
			ctx := context.Background()

			const room = 1<<20 + 1000 // not a frame boundary
			fault.arm(room, tc.err)
			_, err := c.Put(ctx, big, "", client.Options{})
			wantReply(t, "put while the fault strikes", err, tc.code, tc.msg)
			if p, err := c.Pwd(); err != nil || p != "/" {
				t.Fatalf("pwd in the same session after the fault: %q, %v", p, err)
			}
			if parts := partials(t, home); len(parts) != 1 || only(parts) != room {
				t.Errorf("partial uploads after the fault: %v, want one of the %d bytes that reached the disk", parts, room)
			}
			usageIsDisk(t, "after the fault", c, home)
			_, err = c.Put(ctx, small, "", client.Options{})
			wantReply(t, "small put while the disk still fails", err, tc.code, "/small.bin")
			if parts := partials(t, home); len(parts) != 1 {
				t.Errorf("partial uploads after a put that failed at its first byte: %v, want only big.bin's", parts)
			}
			usageIsDisk(t, "after the second failure", c, home)

			fault.disarm()
			if _, err := c.Put(ctx, small, "", client.Options{}); err != nil {
				t.Fatalf("small put in the same session once the fault is gone: %v", err)
			}
			res, err := c.Put(ctx, big, "", client.Options{})
			if err != nil {
				t.Fatalf("put again once the fault is gone: %v", err)
			}
			if res.Offset != room || res.Sum != servertest.Sum(res.Checksum, data) {
				t.Errorf("put again: offset %d, %s %s; want a resume at %d and the data's", res.Offset, res.Checksum, res.Sum, room)
			}
			if got, err := os.ReadFile(filepath.Join(home, "big.bin")); err != nil || md5hex(got) != md5hex(data) {
				t.Errorf("stored big.bin: %d bytes, %v; want the %d bytes sent", len(got), err, len(data))
			}
			if parts := partials(t, home); len(parts) != 0 {
				t.Errorf("partial uploads left: %v", parts)
			}
			usageIsDisk(t, "at the end", c, home)
			other := loginWith(t, e.ClientConfig(), "alice", "alice-pw") // the server serves new sessions too
			usageIsDisk(t, "in a new session", other, home)
		})
	}
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
			data := randomData(4<<20, 12)
			src := writeFile(t, t.TempDir(), "big.bin", data, past)
			c := loginWith(t, e.ClientConfig(), "alice", "alice-pw")
			bob := loginWith(t, e.ClientConfig(), "bob", "bob-pw")
			var once sync.Once
			change := func(done, total int64) {
				if done < 1<<20 {
					return
				}
				once.Do(func() {
					// The server holds 1 MiB of it before the account goes (the client may be
					// far ahead of what the server has written).
					if !servertest.WaitFor(20*time.Second, func() bool { return only(partials(t, home)) >= 1<<20 }) {
						t.Errorf("the server never held 1 MiB of the upload")
					}
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
			again := loginWith(t, e.ClientConfig(), "alice", "alice-pw")
			res, err := again.Put(context.Background(), src, "", client.Options{})
			if err != nil {
				t.Fatalf("put after the account came back: %v", err)
			}
			if res.Offset < 1<<20 || res.Sum != servertest.Sum(res.Checksum, data) {
				t.Errorf("put after the account came back: offset %d, %s %s; want a resume past 1 MiB and the data's", res.Offset, res.Checksum, res.Sum)
			}
			if got, err := os.ReadFile(filepath.Join(home, "big.bin")); err != nil || md5hex(got) != md5hex(data) {
				t.Errorf("stored big.bin: %d bytes, %v", len(got), err)
			}
			usageIsDisk(t, "after the resume", again, home)
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
	data := randomData(100<<10, 13)
	a := dialRaw(t, e.Addr)
	a.request(proto.Request{Op: proto.OpLogin, User: "alice", Password: "alice-pw"})
	a.expect(proto.CodeLoggedIn, "")
	a.request(proto.Request{Op: proto.OpPut, Path: "x.bin", Size: int64(len(data)), Mtime: past})
	a.expect(proto.CodeSendData, "send data")
	a.frame(proto.TypeData, data)
	a.expect(proto.CodeOK, "")

	b := loginWith(t, e.ClientConfig(), "alice", "alice-pw")
	if _, err := b.Mkdir("x.bin", false); err != nil {
		t.Fatal(err)
	}
	a.request(proto.Request{Op: proto.OpDone, MD5: md5hex(data)})
	a.expect(proto.CodeUnavailFile, "is a directory")
	if err := b.Rmdir("x.bin"); err != nil {
		t.Fatal(err)
	}

	c := loginWith(t, e.ClientConfig(), "alice", "alice-pw") // a new session: its login expires stale partial uploads
	src := writeFile(t, t.TempDir(), "x.bin", data, past)
	res, err := c.Put(context.Background(), src, "", client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Offset != int64(len(data)) || res.Sum != servertest.Sum(res.Checksum, data) {
		t.Errorf("put after the refused commit: offset %d (%q), %s %s; want a resume at %d, nothing left to send",
			res.Offset, res.Restart, res.Checksum, res.Sum, len(data))
	}
	usageIsDisk(t, "after the resume", c, e.Home("alice"))
}

// TestFileModes runs the real programs in this process (create_user's admin.Main and myftps's
// serve.Main) on a root laid out as a git checkout (db/, file_upload/ and log/ at 0755, holding a
// .gitkeep), uploads, interrupts an upload, downloads, and then checks the mode
// of everything they created: private (0700 directories, 0600 files) except the public
// certificate (0644). Neither log nor create_user's output contains the password.
func TestFileModes(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Unix file modes")
	}
	t.Parallel()
	const password = "Modes-Password-e1f0"
	root, confDir := t.TempDir(), t.TempDir()
	for _, d := range []string{"db", "file_upload", "log"} { // as in a git checkout: 0755, with a .gitkeep
		if err := os.Mkdir(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, d, ".gitkeep"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
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
	src := writeFile(t, t.TempDir(), "a.txt", []byte("some content\n"), past)
	if _, err := c.Put(context.Background(), src, "docs/deep/a.txt", client.Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(context.Background(), "docs/deep/a.txt", filepath.Join(t.TempDir(), "a.txt"), client.Options{}); err != nil {
		t.Fatal(err)
	}
	// An interrupted upload: 10 of 100 bytes, then the connection drops.
	raw := dialRaw(t, a)
	raw.handshake()
	raw.request(proto.Request{Op: proto.OpLogin, User: "bob", Password: password})
	raw.expect(proto.CodeLoggedIn, "")
	raw.request(proto.Request{Op: proto.OpPut, Path: "docs/half.bin", Size: 100, Mtime: past})
	raw.expect(proto.CodeSendData, "")
	raw.frame(proto.TypeData, make([]byte, 10))
	raw.expect(proto.CodeOK, "")
	raw.raw.Close()
	home := filepath.Join(root, "file_upload", "bob")
	servertest.Eventually(t, "the interrupted upload is kept", func() bool {
		p := partials(t, home)
		return len(p) == 1 && only(p) == 10
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
			if rel == "." && skipRoot || d.Name() == ".gitkeep" {
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
		"file_upload/bob/docs/deep/a.txt", "file_upload/bob/.myftp/partial", "file_upload/bob/.myftp/meta", "log/myftps.log", "log/xferlog", "known_hosts"} {
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

// TestDeletedAccountUploadLeavesNoUsage: an account deleted with its home and created again under
// the same name and home while its old session is uploading: the old upload fails (421, at a
// data frame or at done) and nothing of it is charged to the new account, whose usage is what
// its empty home holds.
func TestDeletedAccountUploadLeavesNoUsage(t *testing.T) {
	t.Parallel()
	e := servertest.Start(t, servertest.Options{Plain: true})
	acct := e.AddUser("alice", "alice-pw", 0)
	home := e.Home("alice")
	const frame, frames = 256 << 10, 32
	data := randomData(frame, 14)
	old := dialRaw(t, e.Addr)
	old.login("alice", "alice-pw")
	old.request(proto.Request{Op: proto.OpPut, Path: "big.bin", Size: frame * frames, Mtime: past})
	old.expect(proto.CodeSendData, "send data")
	for range 4 {
		old.frame(proto.TypeData, data)
		old.expect(proto.CodeOK, "")
	}
	if _, err := e.DB.Delete("alice"); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(home); err != nil {
		t.Fatal(err)
	}
	acct.ID = 0
	if _, err := e.DB.Create(acct); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(home, 0o700); err != nil {
		t.Fatal(err)
	}
	fresh := loginWith(t, e.ClientConfig(), "alice", "alice-pw")
	var last proto.Reply
	for sent := 4; sent <= frames; sent++ {
		if sent < frames {
			old.frame(proto.TypeData, data)
		} else {
			old.request(proto.Request{Op: proto.OpDone, MD5: md5hex(bytes.Repeat(data, frames))})
		}
		var err error
		if last, err = old.next(); err != nil || last.Code != proto.CodeOK {
			break
		}
	}
	switch {
	case last.Code == proto.CodeUnavailable && strings.Contains(last.Msg, "account disabled or deleted"):
	case last.Code == proto.CodeUnavailFile && strings.Contains(last.Msg, "home directory was removed"):
		// The upload noticed first; the session ends at its next request.
		old.request(proto.Request{Op: proto.OpNoop})
		old.expect(proto.CodeUnavailable, "account disabled or deleted")
	default:
		t.Fatalf("the old session's upload went on: last reply %d %q", last.Code, last.Msg)
	}
	old.expectClosed()
	waitRunning(t, e, 1)
	usageIsDisk(t, "the new account", fresh, home)
	if used, _, err := fresh.Quota(); err != nil || used != 0 {
		t.Fatalf("the new account's usage: %d, %v; want 0", used, err)
	}
	mustNotExist(t, filepath.Join(home, "big.bin"))
}
