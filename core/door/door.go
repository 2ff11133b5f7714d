// Package door holds what every door of myftps (the native protocol, FTP, SFTP) shares beyond
// admission: the core services a door serves its sessions from, and the rules every door applies
// the same way with them. A session's home is opened with the account's limits; before each
// command the account is looked up again, and a session whose account was deleted, disabled or
// made anew ends, while one whose account cannot be looked up now is refused the command and
// stays; a failure of what the server depends on (the store, the quota accounting, the account
// database) is answered "try again later" (TryAgain); every transfer, finished or not, is one
// line of the transfer log, naming the door.
package door

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"time"

	"github.com/myftp/myftp/core/logger"
	"github.com/myftp/myftp/lib/account"
	"github.com/myftp/myftp/lib/homefs"
)

// Authenticator decides logins and whether a logged-in account may go on. *auth.Authenticator
// satisfies it.
type Authenticator interface {
	Login(ctx context.Context, name, password, remote string) (account.Account, error)
	Check(name string) (account.Account, error)
}

// Homes opens a session's view of a home directory. *homefs.Store satisfies it.
type Homes interface {
	Open(home string, quota int64) (*homefs.FS, error)
}

// TransferLogger records finished and interrupted transfers. *logger.TransferLog satisfies it.
type TransferLogger interface {
	Log(logger.Transfer) error
}

// Services are what a door serves sessions from. Auth and Homes are required.
type Services struct {
	Auth      Authenticator
	Homes     Homes
	Transfers TransferLogger // nil: transfers are not logged
	Log       *slog.Logger   // nil: events are not logged
}

// Logger returns Log, or a logger that discards.
func (s Services) Logger() *slog.Logger {
	if s.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Log
}

// Check reports what a door needs and does not have.
func (s Services) Check() error {
	if s.Auth == nil || s.Homes == nil {
		return errors.New("door: Auth and Homes are required")
	}
	return nil
}

// OpenHome opens the home of a logged-in account with its quotas.
func (s Services) OpenHome(acct account.Account) (*homefs.FS, error) {
	fs, err := s.Homes.Open(acct.Home, acct.Quota)
	if err != nil {
		return nil, fmt.Errorf("open the home of %s: %w", acct.Name, err)
	}
	fs.SetMaxFiles(acct.MaxFiles)
	return fs, nil
}

// ErrAccountGone is wrapped by the error of Recheck when a session must end.
var ErrAccountGone = errors.New("account disabled or deleted")

// Recheck looks up again the account a session logged in as (acct, as it was then). It fails,
// wrapping ErrAccountGone, when the account was deleted or disabled, or deleted and made anew
// under the same name (another id or home: another account, whose home the session must not
// reach); otherwise it applies the account's current quotas to fs and returns its record.
//
// When the account database cannot answer, Recheck fails with an error that wraps
// account.ErrUnavailable and not ErrAccountGone: the account could not be verified, so the door
// must not serve the request (TryAgain gives the answer), but nothing says it is gone, so the
// session stays, and its next request is checked again. A database outage thus refuses work
// without ending every session of every node; a session whose account was deleted meanwhile
// ends at its first request once the database answers.
func (s Services) Recheck(acct account.Account, fs *homefs.FS) (account.Account, error) {
	now, err := s.Auth.Check(acct.Name)
	if errors.Is(err, account.ErrUnavailable) {
		return acct, fmt.Errorf("look up the account again: %w", err)
	}
	if err == nil && (now.ID != acct.ID || now.Home != acct.Home) {
		err = fmt.Errorf("account %q was deleted and created again (id %d, home %q; the session's: id %d, home %q)",
			now.Name, now.ID, now.Home, acct.ID, acct.Home)
	}
	if err != nil {
		return now, fmt.Errorf("%w: %w", ErrAccountGone, err)
	}
	fs.SetQuota(now.Quota)
	fs.SetMaxFiles(now.MaxFiles)
	return now, nil
}

// LogEscape logs a request refused because its path leaves the home directory (".." above it, or a
// symbolic link that points out of it): an attempt on the jail, as a warning on a session's log,
// which names the account and the client's address; op, the request, may be "". It reports
// whether err was such a refusal; other errors are not logged.
func LogEscape(log *slog.Logger, op, path string, err error) bool {
	if !errors.Is(err, homefs.ErrOutside) {
		return false
	}
	args := []any{"path", path}
	if op != "" {
		args = append([]any{"op", op}, args...)
	}
	log.Warn("attempt to leave the home directory refused", args...)
	return true
}

// Transfer is one transfer to log.
type Transfer struct {
	Service  string // the door: "myftp", "ftp", "sftp"
	Account  account.Account
	Remote   string // the client's address, without port
	Dir      logger.Direction
	Path     string // the file as the user sees it ("/docs/a.txt")
	Bytes    int64  // that travelled in this transfer
	Start    time.Time
	Complete bool
}

// LogTransfer writes t as one line of the transfer log, the file named as the server stores it
// (under the account's home). A failure to write is logged as a warning.
func (s Services) LogTransfer(t Transfer) {
	if s.Transfers == nil {
		return
	}
	now := time.Now()
	err := s.Transfers.Log(logger.Transfer{End: now, Duration: now.Sub(t.Start), Remote: t.Remote, Bytes: t.Bytes,
		Path: path.Join("/", t.Account.Home, t.Path), Dir: t.Dir, User: t.Account.Name, Complete: t.Complete,
		Service: t.Service})
	if err != nil {
		s.Logger().Warn("transfer log", "err", err)
	}
}
