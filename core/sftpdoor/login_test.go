package sftpdoor_test

import (
	"strings"
	"testing"
	"time"

	"github.com/myftp/myftp/core/auth"
	"github.com/myftp/myftp/core/server/servertest"
	"github.com/myftp/myftp/lib/account"
)

// TestLogin: OpenSSH's sftp logs in with the account's password (given through SSH_ASKPASS) or
// its key; a wrong password, an unknown account, a key that is not the account's and a disabled
// account (by password and by key) are refused, with the same words whatever the cause.
func TestLogin(t *testing.T) {
	t.Parallel()
	e := start(t, servertest.Options{})
	alice := e.user("alice", 0)
	bob := e.user("bob", 0)
	carol := e.user("carol", 0)
	_, err := e.DB.Update("carol", func(a *account.Account) error { a.Disabled = true; return nil })
	must(t, err)
	dir := t.TempDir()

	for _, l := range []login{passwordLogin(alice), keyLogin(alice)} {
		out := e.sftpOK(l, dir, "pwd\n")
		if !strings.Contains(out, "Remote working directory: /\n") {
			t.Errorf("login %+v: %s", l, out)
		}
	}
	refused := func(what string, l login, want string) {
		t.Helper()
		r := e.sftp(l, dir, "pwd\n")
		if r.code == 0 || !strings.Contains(r.out, want) || strings.Contains(r.out, "Remote working directory") {
			t.Errorf("%s: %v\nwant refused with %q", what, r, want)
		}
	}
	const byPassword = "Permission denied (password,publickey)."
	refused("wrong password", login{user: "alice", password: "not-alice-pw"}, "alice@127.0.0.1: "+byPassword)
	refused("unknown account", login{user: "nobody", password: "whatever"}, "nobody@127.0.0.1: "+byPassword)
	refused("bob's key for alice", login{user: "alice", key: bob.key}, "alice@127.0.0.1: "+byPassword)
	refused("disabled account, password", passwordLogin(carol), "carol@127.0.0.1: "+byPassword)
	refused("disabled account, key", keyLogin(carol), "carol@127.0.0.1: "+byPassword)
	if log := e.serverLog(); !strings.Contains(log, `account=carol reason="disabled account"`) {
		t.Errorf("the server did not log the disabled account's attempt:\n%s", log)
	}
}

// TestThrottle: after throttle_after wrong passwords for an account from one address, the next
// attempt from there is refused at once, even with the right password, and the client shows why:
// "too many failed logins from 127.0.0.1, retry in N s" (an SSH banner). Keys are not throttled:
// they cannot be guessed.
func TestThrottle(t *testing.T) {
	t.Parallel()
	e := start(t, servertest.Options{Auth: auth.Config{ThrottleAfter: 3, ThrottleWindow: time.Hour,
		ThrottleDelay: time.Hour, ThrottleMaxDelay: time.Hour}})
	u := e.user("alice", 0)
	dir := t.TempDir()
	for i := range 3 {
		r := e.sftp(login{user: "alice", password: "wrong"}, dir, "pwd\n")
		if r.code == 0 || strings.Contains(r.out, "too many failed logins") {
			t.Fatalf("wrong password %d: %v", i+1, r)
		}
	}
	r := e.sftp(passwordLogin(u), dir, "pwd\n")
	if r.code == 0 || !strings.Contains(r.out, "too many failed logins from 127.0.0.1, retry in 3600 s") {
		t.Fatalf("the attempt after 3 failures: %v\nwant the throttle's banner", r)
	}
	e.sftpOK(keyLogin(u), dir, "pwd\n")
}
