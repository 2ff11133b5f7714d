package server_test

import (
	"context"
	"fmt"
	"net"
	"net/textproto"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"github.com/myftp/myftp/core/ftpdoor"
	"github.com/myftp/myftp/core/server/servertest"
	"github.com/myftp/myftp/core/sftpdoor"
	"github.com/myftp/myftp/lib/account"
	"github.com/myftp/myftp/lib/client"
	"github.com/myftp/myftp/lib/homefs"
	"github.com/myftp/myftp/lib/proto"
)

// A flood of empty directories stops at the file count quota, whatever the bytes: the server's
// default, then the account's own limit, changed while the session runs. Another account is not
// affected.
func TestFileCountQuota(t *testing.T) {
	t.Parallel()
	e := servertest.Start(t, servertest.Options{Store: homefs.Options{DefaultMaxFiles: 100}})
	e.AddUser("flood", "flood-pw", 0)
	e.AddUser("other", "other-pw", 0)
	c := loginWith(t, e.ClientConfig(), "flood", "flood-pw")
	made := 0
	for i := range 300 {
		if _, err := c.Mkdir(fmt.Sprintf("d%03d", i), false); err != nil {
			wantReply(t, "mkdir past the file count quota", err, proto.CodeQuota,
				"quota exceeded: /d100 (file count quota: 100 of 100 files and directories used")
			break
		}
		made++
	}
	if made != 100 {
		t.Fatalf("%d empty directories made, want 100", made)
	}
	if u, err := c.Usage(); err != nil || u != (client.Usage{Used: 0, Quota: 1 << 30, Files: 100, MaxFiles: 100}) {
		t.Errorf("quota: %+v, %v; want 0 bytes of 1 GiB, 100 files of 100", u, err)
	}
	// An upload needs two entries (its partial file and its description) while it runs.
	src := writeFile(t, t.TempDir(), "f.txt", []byte("some bytes"), time.Now())
	_, err := c.Put(context.Background(), src, "f.txt", client.Options{})
	wantReply(t, "put at the file count quota", err, proto.CodeQuota, "file count quota")

	// The account's own limit applies from the session's next command.
	if _, err := e.DB.Update("flood", func(a *account.Account) error { a.MaxFiles = 103; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Put(context.Background(), src, "f.txt", client.Options{}); err != nil {
		t.Fatalf("put under the raised limit: %v", err)
	}
	_, err = c.Mkdir("x/y/z", true)
	wantReply(t, "mkdir -p of three with room for two", err, proto.CodeQuota, "101 of 103")
	if _, err := c.Mkdir("x/y", true); err != nil {
		t.Errorf("mkdir -p of two with room for two: %v", err)
	}
	if u, err := c.Usage(); err != nil || u.Files != 103 || u.MaxFiles != 103 {
		t.Errorf("quota: %+v, %v; want 103 files of 103", u, err)
	}
	if m, err := homefs.Measure(e.Home("flood")); err != nil || m.Files != 103 {
		t.Errorf("the home holds %+v (%v); the server counts 103 entries", m, err)
	}
	o := loginWith(t, e.ClientConfig(), "other", "other-pw")
	if _, err := o.Mkdir("mine", false); err != nil {
		t.Errorf("another account: %v", err)
	}
}

// leavePartial starts an upload of size bytes to p and sends data, leaving it open: the next put
// of the session closes it, keeping its partial file for a resume.
func leavePartial(s *rawConn, p string, data []byte, size int64) {
	s.t.Helper()
	s.request(proto.Request{Op: proto.OpPut, Path: p, Size: size})
	s.expect(proto.CodeSendData, "")
	s.frame(proto.TypeData, data)
	s.expect(proto.CodeOK, "")
}

// Unfinished uploads are limited per account, and the user can list and remove them, with or
// without a stored file of the same name.
func TestPartialUploadsLimitedListedRemoved(t *testing.T) {
	t.Parallel()
	e := servertest.Start(t, servertest.Options{Store: homefs.Options{MaxPartials: 3}})
	e.AddUser("alice", "alice-pw", 0)
	c := loginWith(t, e.ClientConfig(), "alice", "alice-pw")
	src := writeFile(t, t.TempDir(), "stored.txt", []byte("stored"), time.Now())
	if _, err := c.Put(context.Background(), src, "b", client.Options{}); err != nil {
		t.Fatal(err)
	}

	s := rawLogin(t, e.Addr, "alice", "alice-pw")
	for _, p := range []string{"a", "b", "c"} {
		leavePartial(s, p, []byte("12"), 10)
	}
	s.request(proto.Request{Op: proto.OpPut, Path: "d", Size: 10}) // closes c's upload, which stays
	s.expect(proto.CodeQuota, "quota exceeded: /d (3 unfinished uploads kept, at most 3: resume or remove them (myftpc: partials, rm --partial NAME))")

	var got []proto.Partial
	if err := c.Partials(func(p proto.Partial) error { got = append(got, p); return nil }); err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(got, func(a, b proto.Partial) int { return strings.Compare(a.Path, b.Path) })
	if len(got) != 3 {
		t.Fatalf("partials: %+v, want a, b and c", got)
	}
	for i, p := range got {
		if want := "/" + string(rune('a'+i)); p.Path != want || p.Size != 2 || p.Total != 10 || time.Since(p.Mtime) > time.Hour {
			t.Errorf("partial %d: %+v, want %s holding 2 bytes of 10, written just now", i, p, want)
		}
	}
	if err := c.RmPartial("b"); err != nil {
		t.Fatalf("rm --partial b: %v", err)
	}
	sameBytes(t, "b, whose unfinished upload was removed", mustRead(t, filepath.Join(e.Home("alice"), "b")), []byte("stored"))
	err := c.RmPartial("b")
	wantReply(t, "rm --partial of a name without one", err, proto.CodeUnavailFile, "no such file or directory: /b (no unfinished upload)")
	// Another account's unfinished uploads cannot be named, by .. or through a link: rm --partial
	// touches only the account's own .myftp/partial.
	e.AddUser("bob", "bob-pw", 0)
	b := rawLogin(t, e.Addr, "bob", "bob-pw")
	leavePartial(b, "x", []byte("bob's"), 10)
	b.request(proto.Request{Op: proto.OpQuit})
	b.expect(proto.CodeBye, "")
	must(t, os.Symlink("../bob", filepath.Join(e.Home("alice"), "peer")))
	err = c.RmPartial("../bob/x")
	wantReply(t, "rm --partial outside the home", err, proto.CodeUnavailFile, "leaves the home directory")
	err = c.RmPartial("peer/x")
	wantReply(t, "rm --partial through a link to another home", err, proto.CodeUnavailFile, "no unfinished upload")
	if p := partials(t, e.Home("bob")); len(p) != 1 {
		t.Errorf("bob's unfinished uploads: %v, want his one", p)
	}
	must(t, os.Remove(filepath.Join(e.Home("alice"), "peer")))

	s.request(proto.Request{Op: proto.OpPut, Path: "d", Size: 10})
	s.expect(proto.CodeSendData, "")
	s.frame(proto.TypeData, []byte("0123456789"))
	s.expect(proto.CodeOK, "")
	s.request(proto.Request{Op: proto.OpDone, MD5: md5hex([]byte("0123456789"))})
	s.expect(proto.CodeTransferDone, "")
	usageIsDisk(t, "after the removal and the upload", c, e.Home("alice"))
	if u, err := c.Usage(); err != nil || u.Files != 2+4 {
		t.Errorf("quota: %+v, %v; want 6 entries: b, d and the two unfinished uploads a and c", u, err)
	}
}

// An account's first login needs no new file: with .myftp impossible to make (here a file is in
// its way, as a full disk would refuse it), the login succeeds, the server logs why the home could
// not be marked, and only an upload fails, saying why.
func TestFirstLoginWithoutRoom(t *testing.T) {
	t.Parallel()
	e := servertest.Start(t, servertest.Options{})
	e.AddUser("newbie", "newbie-pw", 0)
	must(t, os.WriteFile(filepath.Join(e.Home("newbie"), ".myftp"), []byte("in the way"), 0o600))
	c := loginWith(t, e.ClientConfig(), "newbie", "newbie-pw")
	if _, err := c.Mkdir("docs", false); err != nil {
		t.Errorf("mkdir: %v", err)
	}
	if got := listing(t, c, "/", false); len(got) != 1 || got[0].Name != "docs" {
		t.Errorf("ls: %+v", got)
	}
	src := writeFile(t, t.TempDir(), "f.txt", []byte("data"), time.Now())
	_, err := c.Put(context.Background(), src, "f.txt", client.Options{})
	wantReply(t, "put", err, proto.CodeLocalError, "cannot make its directory for unfinished uploads")
	log, err := os.ReadFile(filepath.Join(e.Dir, "log", "myftps.log"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(log), "home measured but not marked") || !strings.Contains(string(log), "home=newbie") {
		t.Errorf("the event log does not say the home could not be marked:\n%s", log)
	}
	// A second login measures the home again, and succeeds too.
	c2 := loginWith(t, e.ClientConfig(), "newbie", "newbie-pw")
	if u, err := c2.Usage(); err != nil || u.Files != 1 {
		t.Errorf("quota after the second login: %+v, %v; want 1 entry (docs)", u, err)
	}
}

// The FTP and SFTP doors apply the account's file count quota, at login and when it changes
// during a session, as the native door does.
func TestDoorsApplyTheFileCountQuota(t *testing.T) {
	t.Parallel()
	e := servertest.Start(t, servertest.Options{FTP: &ftpdoor.Config{TLSMode: ftpdoor.TLSOff}, SFTP: &sftpdoor.Config{}})
	for _, name := range []string{"ftpuser", "sftpuser"} {
		e.AddUser(name, name+"-pw", 0)
		if _, err := e.DB.Update(name, func(a *account.Account) error { a.MaxFiles = 2; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	raise := func(name string) {
		t.Helper()
		if _, err := e.DB.Update(name, func(a *account.Account) error { a.MaxFiles = 3; return nil }); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("ftp", func(t *testing.T) {
		t.Parallel()
		c := ftpLogin(t, e.FTPAddr, "ftpuser", "ftpuser-pw")
		c.want(t, "MKD a", 257)
		c.want(t, "MKD b", 257)
		// The engine answers every failed MKD 550, with the reason.
		if msg := c.want(t, "MKD c", 550); !strings.Contains(msg, "file count quota: 2 of 2") {
			t.Errorf("MKD past the file count quota: %q", msg)
		}
		raise("ftpuser")
		c.want(t, "MKD c", 257)
	})
	t.Run("sftp", func(t *testing.T) {
		t.Parallel()
		conn, err := ssh.Dial("tcp", e.SFTPAddr, &ssh.ClientConfig{User: "sftpuser",
			Auth:            []ssh.AuthMethod{ssh.Password("sftpuser-pw")},
			HostKeyCallback: ssh.FixedHostKey(e.HostKey.PublicKey()), Timeout: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		c, err := sftp.NewClient(conn)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		must(t, c.Mkdir("a"))
		must(t, c.Mkdir("b"))
		if err := c.Mkdir("c"); err == nil {
			t.Fatal("mkdir past the file count quota succeeded")
		}
		raise("sftpuser")
		must(t, c.Mkdir("c"))
	})
}

// ftpConn is a plain FTP control connection.
type ftpConn struct{ *textproto.Conn }

// ftpLogin connects to a plain FTP door and logs in.
func ftpLogin(t *testing.T, addr, user, password string) ftpConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(30 * time.Second))
	c := ftpConn{textproto.NewConn(nc)}
	if _, _, err := c.ReadResponse(220); err != nil {
		t.Fatalf("greeting: %v", err)
	}
	c.want(t, "USER "+user, 331)
	c.want(t, "PASS "+password, 230)
	return c
}

// want sends the command line and checks the reply's code; it returns the reply's text.
func (c ftpConn) want(t *testing.T, line string, code int) string {
	t.Helper()
	if err := c.PrintfLine("%s", line); err != nil {
		t.Fatal(err)
	}
	got, msg, err := c.ReadResponse(0)
	if got != code {
		t.Fatalf("%s: %d %s (%v), want %d", line, got, msg, err, code)
	}
	return msg
}
