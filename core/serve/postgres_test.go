package serve_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/jackc/pgx/v5"
	"golang.org/x/crypto/ssh"
	"net"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/myftp/myftp/core/admin"
	"github.com/myftp/myftp/lib/db"
	"github.com/myftp/myftp/lib/pgdb/pgtest"
	"github.com/myftp/myftp/lib/proto"
)

// createUser runs create_user with args on root and returns its stdout, failing the test unless
// it exits with want.
func createUser(t *testing.T, root, stdin string, want int, args ...string) string {
	t.Helper()
	var out, errs bytes.Buffer
	if code := admin.Main(context.Background(), append([]string{"--root", root}, args...), strings.NewReader(stdin), &out, &errs); code != want {
		t.Fatalf("create_user %s: exit %d, want %d: %s%s", strings.Join(args, " "), code, want, &out, &errs)
	}
	return out.String() + errs.String()
}

// pgRoot makes a runtime root whose accounts are in the PostgreSQL database dsn.
func pgRoot(t *testing.T, dsn string) string {
	t.Helper()
	root := t.TempDir()
	conf := settings + fmt.Sprintf("[accounts]\nbackend = \"postgres\"\ndsn = %q\n", dsn)
	if err := os.MkdirAll(filepath.Join(root, "conf"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "conf", "settings.toml"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	return root
}

// TestServeOnPostgres: two servers on one PostgreSQL database serve the accounts create_user
// makes, imports, disables and deletes there, each change seen by both at once; a database that
// stops answering is "try again later", not a wrong password.
func TestServeOnPostgres(t *testing.T) {
	proxy := pgtest.NewProxy(t, pgtest.Database(t))
	root1, root2 := pgRoot(t, proxy.DSN), pgRoot(t, proxy.DSN)
	createUser(t, root1, password+"\n", 0, "--account", "bob", "--quota", "1MiB", "--password-stdin")

	carol := newRoot(t, settings) // a single server's accounts, to import: bob, whom we drop, and carol
	createUser(t, carol, password+"\n", 0, "--account", "carol", "--password-stdin")
	files, err := db.Open(filepath.Join(carol, "db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := files.Delete("bob"); err != nil {
		t.Fatal(err)
	}
	if out := createUser(t, root2, "", 0, "import", "--from", filepath.Join(carol, "db")); !strings.Contains(out, "imported 1 account") {
		t.Fatalf("import: %q", out)
	}

	node1, node2 := start(t, root1), start(t, root2)
	if !strings.Contains(strings.Join(node1.stdout, "\n"), "accounts in the PostgreSQL database") {
		t.Errorf("stdout %q: want where the accounts are", node1.stdout)
	}
	var notes []string
	bob := dial(t, node1, filepath.Join(t.TempDir(), "known_hosts"), &notes)
	if err := bob.Login("bob", password); err != nil {
		t.Fatalf("bob on node 1: %v", err)
	}
	if _, err := bob.Pwd(); err != nil {
		t.Fatal(err)
	}
	c := dial(t, node2, filepath.Join(t.TempDir(), "known_hosts"), &notes)
	if err := c.Login("carol", password); err != nil {
		t.Fatalf("imported carol on node 2: %v", err)
	}
	if err := dial(t, node2, filepath.Join(t.TempDir(), "known_hosts"), &notes).Login("bob", "not-"+password); code(err) != proto.CodeNotLoggedIn {
		t.Fatalf("wrong password on node 2: %v, want %d", err, proto.CodeNotLoggedIn)
	}

	createUser(t, root2, "", 0, "disable", "bob") // on the other node's root: the same database
	// The nodes hear of the change from PostgreSQL, at once but not in step with create_user.
	eventually(t, "bob's session on node 1 ends after create_user disable bob", func() bool {
		_, err := bob.Pwd()
		return err != nil
	})
	if err := dial(t, node1, filepath.Join(t.TempDir(), "known_hosts"), &notes).Login("bob", password); err == nil {
		t.Fatal("disabled bob logs in on node 1")
	}
	createUser(t, root1, "", 0, "delete", "carol")
	eventually(t, "carol's session on node 2 ends after create_user delete carol", func() bool {
		_, err := c.Pwd()
		return err != nil
	})

	proxy.Cut() // the database gone: a login is "try again later", not a failed login
	eventually(t, "login with the database gone says try again later", func() bool {
		err := dial(t, node1, filepath.Join(t.TempDir(), "known_hosts"), &notes).Login("bob", password)
		if code(err) != proto.CodeUnavailable && code(err) != proto.CodeNotLoggedIn {
			t.Fatalf("login with the database gone: %v", err)
		}
		return code(err) == proto.CodeUnavailable && strings.Contains(err.Error(), "try again later")
	})
}

// code is the reply code of err, or 0.
func code(err error) int {
	var re *proto.ReplyError
	if errors.As(err, &re) {
		return int(re.Code)
	}
	return 0
}

// eventually calls cond until it holds, at most 10 s: for what reaches a node asynchronously, as
// PostgreSQL's notification of a change does.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10 s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestCheckOnPostgres: create_user check on PostgreSQL reports a key that an edit by hand broke,
// which cannot log in, and is content otherwise.
func TestCheckOnPostgres(t *testing.T) {
	dsn := pgtest.Database(t)
	root := pgRoot(t, dsn)
	createUser(t, root, password+"\n", 0, "--account", "bob", "--password-stdin")
	keys := filepath.Join(t.TempDir(), "keys.pub")
	if err := os.WriteFile(keys, []byte(testKey+" bob@laptop\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	createUser(t, root, "", 0, "key", "add", "bob", keys)
	if out := createUser(t, root, "", 0, "check"); !strings.Contains(out, "database ok") {
		t.Fatalf("check: %q", out)
	}
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), `UPDATE ssh_keys SET key = left(key, 20)`); err != nil {
		t.Fatal(err)
	}
	if out := createUser(t, root, "", 1, "check"); !strings.Contains(out, "account bob: key 1") || !strings.Contains(out, "cannot log in") {
		t.Fatalf("check with a broken key: %q", out)
	}
}

// testKey is an SSH public key for tests.
const testKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIH/cNOB+zEH6eB+wzNeXJeg3jhXc5n9WUQhWVAjDJIAA"

// TestDoorsWithDatabaseGone: with the account database cut away, the FTP and SFTP doors tell a
// login to try again later (FTP's engine answers every refused login with 530, so the text says
// it; SFTP says it in a banner), rather than that the password is wrong.
func TestDoorsWithDatabaseGone(t *testing.T) {
	proxy := pgtest.NewProxy(t, pgtest.Database(t))
	root := pgRoot(t, proxy.DSN)
	createUser(t, root, password+"\n", 0, "--account", "bob", "--password-stdin")
	f, err := os.OpenFile(filepath.Join(root, "conf", "settings.toml"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(f, "[ftp]\nlisten = \"127.0.0.1:0\"\ntls = \"off\"\npassive_ports = \"\"\n[sftp]\nlisten = \"127.0.0.1:0\"\n")
	f.Close()
	r := start(t, root)
	ftpAddr, sftpAddr := doorAddrs(t, r)
	if reply := ftpLogin(t, ftpAddr); !strings.HasPrefix(reply, "230") {
		t.Fatalf("FTP login with the database up: %q", reply)
	}
	proxy.Cut()
	eventually(t, "an FTP login with the database gone is told to try again later", func() bool {
		reply := ftpLogin(t, ftpAddr)
		return strings.HasPrefix(reply, "530") && strings.Contains(reply, "account database unavailable, try again later")
	})
	var banner string
	cfg := &ssh.ClientConfig{User: "bob", Auth: []ssh.AuthMethod{ssh.Password(password)},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(), Timeout: 10 * time.Second,
		BannerCallback: func(msg string) error { banner += msg; return nil }}
	if c, err := ssh.Dial("tcp", sftpAddr, cfg); err == nil {
		c.Close()
		t.Fatal("an SSH login with the database gone succeeded")
	}
	if !strings.Contains(banner, "account database unavailable, try again later") {
		t.Errorf("SSH banner %q: want it told to try again later", banner)
	}
}

// ftpLogin logs bob in over plain FTP and returns the reply to PASS.
func ftpLogin(t *testing.T, addr string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	tc := textproto.NewConn(c)
	if _, _, err := tc.ReadResponse(220); err != nil {
		t.Fatalf("FTP greeting: %v", err)
	}
	if _, err := tc.Cmd("USER bob"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := tc.ReadResponse(331); err != nil {
		t.Fatalf("USER: %v", err)
	}
	if _, err := tc.Cmd("PASS %s", password); err != nil {
		t.Fatal(err)
	}
	code, msg, _ := tc.ReadResponse(230)
	return fmt.Sprintf("%d %s", code, msg)
}
