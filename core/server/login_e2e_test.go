package server_test

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/myftp/myftp/core/auth"
	"github.com/myftp/myftp/core/server/servertest"
	"github.com/myftp/myftp/lib/account"
	"github.com/myftp/myftp/lib/client"
	"github.com/myftp/myftp/lib/proto"
)

// TestWrongLoginRepliesIdentical: an unknown account, a wrong password, a disabled account and an
// impossible name all get the same reply, so that the reply does not tell which accounts exist.
func TestWrongLoginRepliesIdentical(t *testing.T) {
	t.Parallel()
	e := servertest.Start(t, servertest.Options{})
	e.AddUser("bob", "bob-pw", 0)
	e.AddUser("dis", "dis-pw", 0)
	if _, err := e.DB.Update("dis", func(a *account.Account) error { a.Disabled = true; return nil }); err != nil {
		t.Fatal(err)
	}
	cases := []struct{ what, user, pw string }{
		{"unknown account", "nobody", "bob-pw"},
		{"wrong password", "bob", "bob-PW"},
		{"empty password", "bob", ""},
		{"disabled account", "dis", "dis-pw"},
		{"impossible name", "../bob", "bob-pw"},
	}
	var first *proto.ReplyError
	for _, tc := range cases {
		c := e.Dial() // one connection each: the third failure on a connection is answered otherwise
		err := c.Login(tc.user, tc.pw)
		var re *proto.ReplyError
		if !errors.As(err, &re) {
			t.Fatalf("%s: %v, want a reply", tc.what, err)
		}
		if re.Code != proto.CodeNotLoggedIn || re.Msg != "login incorrect" {
			t.Errorf("%s: reply %d %q, want 530 \"login incorrect\"", tc.what, re.Code, re.Msg)
		}
		if first == nil {
			first = re
		} else if *re != *first {
			t.Errorf("%s: reply %v differs from %v", tc.what, re, first)
		}
		if err := c.Noop(); err != nil {
			t.Errorf("%s: the session should go on after one failure: %v", tc.what, err)
		}
	}
}

// TestThreeFailuresCloseTheConnection: the third failed login on one connection is answered with a
// 421 and the connection is closed; before that, a right password still works.
func TestThreeFailuresCloseTheConnection(t *testing.T) {
	t.Parallel()
	e := servertest.Start(t, servertest.Options{})
	e.AddUser("bob", "bob-pw", 0)

	c := e.Dial()
	for i := range 2 {
		err := c.Login("bob", "nope")
		wantReply(t, "failure "+string(rune('1'+i)), err, proto.CodeNotLoggedIn, "login incorrect")
	}
	if err := c.Login("bob", "bob-pw"); err != nil {
		t.Fatalf("right password after two failures: %v", err)
	}

	c = e.Dial()
	for range 2 {
		c.Login("nobody", "nope")
	}
	err := c.Login("nobody", "nope")
	if !errors.Is(err, client.ErrClosed) {
		t.Fatalf("third failure: %v, want the connection closed", err)
	}
	wantReply(t, "third failure", err, proto.CodeUnavailable, "too many failed logins")
	if err := c.Login("bob", "bob-pw"); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("login after the third failure: %v, want ErrClosed", err)
	}
	waitRunning(t, e, 1)
}

// from returns a client configuration for the server of e that connects from the loopback
// address ip (such as 127.0.0.5), so that a test can play several hosts.
func from(e *servertest.Env, ip string) client.Config {
	cfg := e.ClientConfig()
	cfg.LocalAddr = &net.TCPAddr{IP: net.ParseIP(ip)}
	return cfg
}

// tryLogin dials with cfg and logs in once; the connection is closed again.
func tryLogin(t *testing.T, cfg client.Config, user, password string) error {
	t.Helper()
	c, err := client.Dial(t.Context(), cfg)
	if err != nil {
		t.Fatalf("dial from %v: %v", cfg.LocalAddr, err)
	}
	defer c.Close()
	return c.Login(user, password)
}

// TestThrottleBySourceAddress: once an address has failed throttle_after times on an account, its
// next attempt there is refused at once with 421 and how long to wait, even with the right
// password; the wait doubles with each further failure. Other addresses are not affected, and
// after the wait the address gets one attempt again.
func TestThrottleBySourceAddress(t *testing.T) {
	t.Parallel()
	const (
		after = 3
		delay = 300 * time.Millisecond
	)
	e := servertest.Start(t, servertest.Options{Auth: auth.Config{ThrottleAfter: after, ThrottleWindow: time.Minute,
		ThrottleDelay: delay, ThrottleMaxDelay: 10 * delay}})
	e.AddUser("victim", "victim-pw", 0)
	e.Dial() // records the server in known_hosts
	mallory := from(e, "127.0.0.20")
	for k := range after {
		err := tryLogin(t, mallory, "victim", fmt.Sprint("guess-", k))
		wantReply(t, "a wrong password", err, proto.CodeNotLoggedIn, "login incorrect")
	}
	err := tryLogin(t, mallory, "victim", "victim-pw")
	wantReply(t, "the right password from a throttled address", err, proto.CodeUnavailable,
		"too many failed logins from 127.0.0.20, retry in 1 s")
	err = tryLogin(t, mallory, "nobody", "guess")
	wantReply(t, "an unknown account from the throttled address", err, proto.CodeNotLoggedIn, "login incorrect")
	if err := tryLogin(t, from(e, "127.0.0.21"), "victim", "victim-pw"); err != nil {
		t.Fatalf("the owner from another address: %v", err)
	}
	// After the wait, one attempt; a failure doubles the wait.
	var failed error
	if !servertest.WaitFor(15*time.Second, func() bool {
		failed = tryLogin(t, mallory, "victim", "guess-again")
		var re *proto.ReplyError
		return errors.As(failed, &re) && re.Code == proto.CodeNotLoggedIn
	}) {
		t.Fatalf("no attempt allowed after the wait: %v", failed)
	}
	err = tryLogin(t, mallory, "victim", "victim-pw")
	wantReply(t, "after a further failure", err, proto.CodeUnavailable, "too many failed logins from 127.0.0.20, retry in")
}

// TestStrangersCannotLockOut: wrong passwords for one account from twenty other addresses (each
// up to its own throttle) do not keep the account's owner out: every one of the owner's logins,
// made between the strangers' attempts, succeeds.
func TestStrangersCannotLockOut(t *testing.T) {
	t.Parallel()
	e := servertest.Start(t, servertest.Options{Auth: auth.Config{ThrottleAfter: 3, ThrottleWindow: time.Minute,
		ThrottleDelay: 10 * time.Second, ThrottleMaxDelay: time.Minute}})
	e.AddUser("victim", "victim-pw", 0)
	e.Dial()
	owner := from(e, "127.0.0.1")
	for round := range 5 {
		for i := range 20 {
			stranger := from(e, fmt.Sprintf("127.0.0.%d", 30+i))
			err := tryLogin(t, stranger, "victim", fmt.Sprint("guess-", round))
			var re *proto.ReplyError
			if !errors.As(err, &re) || (re.Code != proto.CodeNotLoggedIn && re.Code != proto.CodeUnavailable) {
				t.Fatalf("stranger %d, round %d: %v, want 530 or 421", i, round, err)
			}
		}
		for range 4 {
			if err := tryLogin(t, owner, "victim", "victim-pw"); err != nil {
				t.Fatalf("round %d: the owner's login: %v", round, err)
			}
		}
	}
}

// TestLogsNeverContainPasswords logs in right, wrong, as a disabled and an unknown account, and
// sends a broken login frame, all with distinctive passwords; neither log may contain them.
func TestLogsNeverContainPasswords(t *testing.T) {
	t.Parallel()
	const (
		right = "Correct-Horse-7f3a9c"
		wrong = "Wrong-Battery-91b2e4"
	)
	e := servertest.Start(t, servertest.Options{Plain: true})
	e.AddUser("bob", right, 0)
	e.AddUser("dis", right, 0)
	if _, err := e.DB.Update("dis", func(a *account.Account) error { a.Disabled = true; return nil }); err != nil {
		t.Fatal(err)
	}
	c := e.Login("bob", right)
	if err := c.Noop(); err != nil {
		t.Fatal(err)
	}
	for _, who := range []string{"bob", "dis", "nobody"} {
		for _, pw := range []string{wrong, right} {
			lc := e.Dial()
			lc.Login(who, pw)
			lc.Close()
		}
	}
	w := dialRaw(t, e.Addr)
	w.frame(proto.TypeRequest, []byte(`{"op":"login","user":"bob","password":"`+wrong+`"`))
	w.expect(proto.CodeSyntax, "malformed")
	w = dialRaw(t, e.Addr)
	w.frame(proto.TypeRequest, []byte(`{"op":"login","user":"bob","password":"`+wrong+`"} trailing`))
	w.expect(proto.CodeSyntax, "malformed")
	c.Close()
	waitRunning(t, e, 0) // every session has ended and logged its end

	events, err := os.ReadFile(filepath.Join(e.Dir, "log", "myftps.log"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(events), "login failed") || !strings.Contains(string(events), "malformed frame") {
		t.Fatalf("the event log lacks the login failures; is it the right file?\n%s", events)
	}
	xfer, _ := os.ReadFile(e.Xferlog)
	for _, pw := range []string{right, wrong} {
		if strings.Contains(string(events), pw) {
			t.Errorf("the event log contains the password %q", pw)
		}
		if strings.Contains(string(xfer), pw) {
			t.Errorf("the transfer log contains the password %q", pw)
		}
	}
}

// TestAccountChangedDuringSession: an account disabled or deleted while its session is open gets a
// 421 at its next command and the connection closes; other sessions go on, and a changed quota
// takes effect at once.
func TestAccountChangedDuringSession(t *testing.T) {
	t.Parallel()
	e := servertest.Start(t, servertest.Options{})
	for _, u := range []string{"bob", "carol", "dave", "erin"} {
		e.AddUser(u, u+"-pw", 1<<20)
	}
	bob, carol, dave := e.Login("bob", "bob-pw"), e.Login("carol", "carol-pw"), e.Login("dave", "dave-pw")

	if _, err := e.DB.Update("bob", func(a *account.Account) error { a.Disabled = true; return nil }); err != nil {
		t.Fatal(err)
	}
	_, err := bob.Pwd()
	if !errors.Is(err, client.ErrClosed) {
		t.Fatalf("command of a disabled account: %v, want the connection closed", err)
	}
	wantReply(t, "command of a disabled account", err, proto.CodeUnavailable, "account disabled or deleted")
	if err := bob.Noop(); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("second command of a disabled account: %v", err)
	}

	if _, err := e.DB.Delete("carol"); err != nil {
		t.Fatal(err)
	}
	err = carol.List("", false, func(proto.Entry) error { return nil })
	wantReply(t, "command of a deleted account", err, proto.CodeUnavailable, "account disabled or deleted")

	// A name deleted and created again is a new account: the old session does not go on in it.
	erin := e.Login("erin", "erin-pw")
	if _, err := e.DB.Delete("erin"); err != nil {
		t.Fatal(err)
	}
	e.AddUser("erin", "new-pw", 1<<20)
	_, err = erin.Mkdir("planted", false)
	wantReply(t, "command of a deleted and re-created account", err, proto.CodeUnavailable, "account disabled or deleted")
	if _, err := os.Stat(filepath.Join(e.Home("erin"), "planted")); err == nil {
		t.Error("the old session created a directory in the new account's home")
	}

	if _, err := e.DB.Update("dave", func(a *account.Account) error { a.Quota = 5 << 20; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, q, err := dave.Quota(); err != nil || q != 5<<20 {
		t.Fatalf("dave's quota after the change: %d, %v; want %d", q, err, 5<<20)
	}
	waitRunning(t, e, 1)

	err = e.Dial().Login("bob", "bob-pw")
	wantReply(t, "login of the disabled account", err, proto.CodeNotLoggedIn, "login incorrect")
	err = e.Dial().Login("carol", "carol-pw")
	wantReply(t, "login of the deleted account", err, proto.CodeNotLoggedIn, "login incorrect")
}
