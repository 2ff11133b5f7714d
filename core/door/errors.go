package door

import (
	"errors"

	"github.com/myftp/myftp/lib/account"
	"github.com/myftp/myftp/lib/homefs"
	"github.com/myftp/myftp/lib/storage"
)

// TryAgain reports whether err is the failure of something the server depends on that did not
// answer in time: the store (an error wrapping storage.ErrUnavailable), the quota accounting (a
// homefs error wrapping account.ErrUnavailable: the ledger lives in the account database) or
// the account database itself (account.ErrUnavailable, from Recheck). Such a failure says
// nothing about the request or the account, and the same request may succeed later: every door
// answers it with its code for a transient failure and msg, which ends with the path as the user
// names it, if there is one.
func TryAgain(err error) (msg string, ok bool) {
	var he *homefs.Error
	inHome := errors.As(err, &he)
	switch {
	case errors.Is(err, storage.ErrUnavailable):
		msg = "storage unavailable, try again later"
	case inHome && errors.Is(err, account.ErrUnavailable):
		msg = "quota accounting unavailable, try again later"
	case errors.Is(err, account.ErrUnavailable):
		return "account database unavailable, try again later", true
	default:
		return "", false
	}
	if inHome && he.Path != "" {
		msg += ": " + he.Path
	}
	return msg, true
}
