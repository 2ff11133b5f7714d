package server_test

import (
	"errors"
	"testing"

	"github.com/myftp/myftp/core/server/servertest"
	"github.com/myftp/myftp/lib/account"
	"github.com/myftp/myftp/lib/client"
	"github.com/myftp/myftp/lib/proto"
)

// TestAccountGoneReason: the 421 that ends the session of a deleted or disabled account says so in
// its reason field, which a client reads as a typed error (client.ErrAccountGone) and a client
// that does not know the field reads as any 421. Other 421s carry no reason.
func TestAccountGoneReason(t *testing.T) {
	t.Parallel()
	e := servertest.Start(t, servertest.Options{})
	e.AddUser("bob", "bob-password", 1<<20)
	e.AddUser("carol", "carol-password", 1<<20)

	raw := rawLogin(t, e.Addr, "bob", "bob-password")
	if _, err := e.DB.Update("bob", func(a *account.Account) error { a.Disabled = true; return nil }); err != nil {
		t.Fatal(err)
	}
	rep := raw.do(proto.Request{Op: proto.OpPwd})
	if rep.Code != proto.CodeUnavailable || rep.Reason != proto.ReasonAccountGone {
		t.Fatalf("reply %+v, want 421 with reason %q", rep, proto.ReasonAccountGone)
	}
	raw.expectClosed()

	carol := e.Login("carol", "carol-password")
	if _, err := e.DB.Delete("carol"); err != nil {
		t.Fatal(err)
	}
	_, err := carol.Pwd()
	if !errors.Is(err, client.ErrAccountGone) || !errors.Is(err, client.ErrClosed) {
		t.Fatalf("command of a deleted account: %v, want ErrAccountGone and ErrClosed", err)
	}
	wantReply(t, "command of a deleted account", err, proto.CodeUnavailable, "account disabled or deleted")

	// A 421 for another reason (too many failed logins) is not the account's end.
	c := e.Dial()
	for range 3 {
		err = c.Login("nobody", "wrong")
	}
	if !errors.Is(err, client.ErrClosed) || errors.Is(err, client.ErrAccountGone) {
		t.Fatalf("third failed login: %v, want ErrClosed without ErrAccountGone", err)
	}
}
