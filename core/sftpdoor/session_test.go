package sftpdoor_test

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/myftp/myftp/core/server/servertest"
	"github.com/myftp/myftp/lib/account"
)

// TestAccountGone: a session whose account is disabled, deleted, or deleted and created again
// under the same name ends at its next request, which is refused (permission denied, with the
// reason in the status message) before the connection closes: OpenSSH's sftp, reading its batch
// from a pipe, shows the refused command, and its next command finds the connection closed. The
// old session creates nothing in the new account's home.
func TestAccountGone(t *testing.T) {
	t.Parallel()
	e := start(t, servertest.Options{})
	changes := map[string]func(name string){
		"disabled": func(name string) {
			_, err := e.DB.Update(name, func(a *account.Account) error { a.Disabled = true; return nil })
			must(t, err)
		},
		"deleted": func(name string) {
			_, err := e.DB.Delete(name)
			must(t, err)
		},
		"recreated": func(name string) {
			_, err := e.DB.Delete(name)
			must(t, err)
			e.AddUser(name, "new-pw", 0)
		},
	}
	for what, change := range changes {
		t.Run(what, func(t *testing.T) {
			t.Run("openssh", func(t *testing.T) {
				u := e.user(what+"-o", 0)
				stdin, w := io.Pipe()
				defer w.Close()
				p := e.sftpStdin(keyLogin(u), t.TempDir(), stdin)
				io.WriteString(w, "pwd\n")
				servertest.Eventually(t, "the first command's answer", func() bool {
					if p.exited() {
						t.Fatalf("sftp ended: %v", p.wait(t))
					}
					return strings.Contains(p.out.String(), "Remote working directory: /")
				})
				change(u.name)
				io.WriteString(w, "-mkdir planted\nls\n")
				w.Close()
				r := p.wait(t)
				// sftp may die of SIGPIPE writing the next request: exit -1.
				if r.code == 0 || !strings.Contains(r.out, `remote mkdir "/planted": Permission denied`) ||
					!(strings.Contains(r.out, "Connection closed") || strings.Contains(r.out, "closed by remote host")) {
					t.Errorf("sftp after the account was %s: %v\nwant mkdir refused, then the connection closed", what, r)
				}
				absent(t, filepath.Join(e.Home(u.name), "planted"))
			})
			t.Run("pkg-sftp", func(t *testing.T) {
				u := e.user(what+"-g", 0)
				conn, c := e.dial(u)
				if _, err := c.Stat("/"); err != nil {
					t.Fatal(err)
				}
				ended := make(chan error, 1)
				go func() { ended <- conn.Wait() }()
				change(u.name)
				if err := c.Mkdir("planted"); !errors.Is(err, fs.ErrPermission) {
					t.Errorf("mkdir after the account was %s: %v; want permission denied", what, err)
				}
				servertest.Await(t, "the end of the connection", ended)
				absent(t, filepath.Join(e.Home(u.name), "planted"))
			})
		})
	}
}

// sftpStdin starts OpenSSH's sftp reading its batch from stdin.
func (e *env) sftpStdin(l login, dir string, stdin io.Reader) *proc {
	e.t.Helper()
	sftpPath := need(e.t, "sftp", "openssh-client")
	args := append(e.sshOptions(l), "-P", e.port, "-b", "-", "127.0.0.1")
	return e.startProc(l, dir, stdin, sftpPath, args...)
}

// TestAccountGoneMidTransfer: an open download or upload does not outlive its account: its reads
// or writes fail once the account is disabled (looked up again at most every 200 ms), long before
// the end of a 1 GiB file, and the upload is not published.
func TestAccountGoneMidTransfer(t *testing.T) {
	t.Parallel()
	e := start(t, servertest.Options{})
	const size = 1 << 30
	disable := func(name string) {
		_, err := e.DB.Update(name, func(a *account.Account) error { a.Disabled = true; return nil })
		must(t, err)
	}
	t.Run("download", func(t *testing.T) {
		u := e.user("reader", 2*size)
		f, err := os.Create(filepath.Join(e.Home(u.name), "big.bin"))
		must(t, err)
		must(t, errors.Join(f.Truncate(size), f.Close())) // sparse: cheap to make, not to send
		_, c := e.dial(u)
		rf, err := c.Open("big.bin")
		must(t, err)
		buf := make([]byte, 1<<20)
		_, err = io.ReadFull(rf, buf)
		must(t, err)
		disable(u.name)
		var read int64
		for read < size {
			n, err := rf.Read(buf)
			read += int64(n)
			if err != nil {
				break
			}
		}
		if read >= size-1<<20 {
			t.Errorf("read the whole file after the account was disabled")
		}
	})
	t.Run("upload", func(t *testing.T) {
		u := e.user("writer", 2*size)
		_, c := e.dial(u)
		wf, err := c.Create("big.bin")
		must(t, err)
		buf := make([]byte, 1<<20)
		_, err = wf.Write(buf)
		must(t, err)
		disable(u.name)
		var written int64
		for written < size {
			n, err := wf.Write(buf)
			written += int64(n)
			if err != nil {
				break
			}
		}
		if written >= size-1<<20 {
			t.Errorf("wrote the whole file after the account was disabled")
		}
		wf.Close()
		e.waitIdle(t)
		absent(t, filepath.Join(e.Home(u.name), "big.bin"))
		e.checkUsage(t, u.name)
	})
}

// TestShutdownIdle: an idle SFTP session ends when the server shuts down, and the shutdown
// does not wait for it.
func TestShutdownIdle(t *testing.T) {
	t.Parallel()
	e := start(t, servertest.Options{})
	u := e.user("alice", 0)
	conn, c := e.dial(u)
	if _, err := c.Stat("/"); err != nil {
		t.Fatal(err)
	}
	ended := make(chan error, 1)
	go func() { ended <- conn.Wait() }()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := e.Server.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown with an idle SFTP session: %v", err)
	}
	servertest.Await(t, "the end of the idle session", ended)
}

// TestShutdownOpenFile: a session with a file open for an upload goes on after the server began
// to shut down (it opens no new file, and no new connection is accepted), until the file is
// closed: the close succeeds, the file is complete under its name, then the session ends and the
// shutdown returns.
func TestShutdownOpenFile(t *testing.T) {
	t.Parallel()
	e := start(t, servertest.Options{})
	u := e.user("alice", 0)
	conn, c := e.dial(u)
	data := randomBytes(30, 2<<20)
	writeFile(t, e.Home("alice"), "probe.txt", []byte("probe"))
	f, err := c.Create("up.bin")
	must(t, err)
	_, err = f.Write(data[:1<<20])
	must(t, err)

	srv := e.Server
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	stopped := make(chan error, 1)
	go func() { stopped <- srv.Shutdown(ctx) }()
	servertest.Eventually(t, "the session refusing to open files", func() bool {
		f, err := c.Open("probe.txt")
		if err == nil {
			f.Close()
		}
		return err != nil
	})
	if conn, err := net.Dial("tcp", e.SFTPAddr); err == nil {
		conn.Close()
		t.Error("a connection was accepted after the shutdown began")
	}
	if _, err := c.Create("other.bin"); err == nil {
		t.Error("a new file was opened after the shutdown began")
	}
	_, err = f.Write(data[1<<20:])
	if err != nil {
		t.Fatalf("write after the shutdown began: %v\n%s", err, e.serverLog())
	}
	if err := f.Close(); err != nil {
		t.Fatalf("close after the shutdown began: %v\n%s", err, e.serverLog())
	}
	sameBytes(t, filepath.Join(e.Home("alice"), "up.bin"), data)
	ended := make(chan error, 1)
	go func() { ended <- conn.Wait() }()
	servertest.Await(t, "the end of the session", ended)
	if err := servertest.Await(t, "the end of the shutdown", stopped); err != nil {
		t.Errorf("shutdown: %v, want the session to have finished in time", err)
	}
	absent(t, filepath.Join(e.Home("alice"), "other.bin"))
}
