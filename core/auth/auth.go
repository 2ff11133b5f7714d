// Package auth decides who may log in: it verifies passwords against the account database, caps how
// many argon2id hashes run at once, and throttles failures per account and per remote address.
// It knows nothing of the wire protocol, so every front end of the server can use it.
package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/myftp/myftp/lib/account"
)

// Errors from Login. Callers must show ErrLoginIncorrect the same way whatever the cause (unknown
// account, wrong password, disabled account).
var (
	ErrLoginIncorrect = errors.New("auth: login incorrect")
	ErrThrottled      = errors.New("auth: too many failed logins, try again later")
)

// Accounts looks accounts up by name. *db.DB satisfies it.
type Accounts interface {
	Get(name string) (account.Account, error)
}

// Config configures an Authenticator.
type Config struct {
	Accounts Accounts
	// Params is the argon2id cost used for the stand-in hash that unknown accounts are checked
	// against, so that they take as long as known ones.
	Params account.Params
	// MaxHashers caps concurrent password hashes (argon2id is memory-hard). At least 1.
	MaxHashers int
	// Throttle settings; see Limiter.
	ThrottleAfter    int
	ThrottleWindow   time.Duration
	ThrottleDelay    time.Duration
	ThrottleMaxDelay time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	Log *slog.Logger
}

// Authenticator checks logins. It is safe for concurrent use.
type Authenticator struct {
	accounts Accounts
	hashers  chan struct{}
	limiter  *Limiter
	maxWait  time.Duration
	dummy    string
	log      *slog.Logger
}

// New returns an Authenticator.
func New(c Config) (*Authenticator, error) {
	dummy, err := account.HashPassword("myftp stand-in password", c.Params)
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return &Authenticator{
		accounts: c.Accounts,
		hashers:  make(chan struct{}, max(c.MaxHashers, 1)),
		limiter:  NewLimiter(c.ThrottleAfter, c.ThrottleWindow, c.ThrottleDelay, c.ThrottleMaxDelay, c.Now),
		maxWait:  c.ThrottleMaxDelay,
		dummy:    dummy,
		log:      c.Log,
	}, nil
}

// Login checks name and password for a client at remote (an address without port) and returns
// the account. An account that has failed too often gets one attempt per throttle delay: an
// attempt that would have to wait longer than the maximum delay fails at once with ErrThrottled,
// without hashing, so a flood cannot hold workers or memory. A failure from an address that has
// failed too often is answered only after that address's delay; a correct password is never
// delayed by its address, so other users behind the same address keep logging in.
func (a *Authenticator) Login(ctx context.Context, name, password, remote string) (account.Account, error) {
	norm, nameErr := account.NormalizeName(name)
	acctKey, addrKey := "account:"+norm, "address:"+remote
	if nameErr != nil {
		acctKey = "account:?invalid"
	}
	if err := a.waitTurn(ctx, acctKey); err != nil {
		return account.Account{}, err
	}
	acct, ok, err := a.check(ctx, norm, nameErr == nil, password)
	if err != nil {
		return account.Account{}, err
	}
	if ok {
		a.limiter.Reset(acctKey)
		return acct, nil
	}
	a.limiter.Fail(acctKey)
	if d := a.limiter.Fail(addrKey); d > 0 {
		if err := sleep(ctx, d); err != nil {
			return account.Account{}, err
		}
	}
	return account.Account{}, ErrLoginIncorrect
}

// waitTurn waits until the account key may try again, or fails at once if that is too far off.
func (a *Authenticator) waitTurn(ctx context.Context, key string) error {
	d, ok := a.limiter.Reserve(key, a.maxWait)
	if !ok {
		return ErrThrottled
	}
	if d == 0 {
		return nil
	}
	return sleep(ctx, d)
}

// check verifies the password with at most MaxHashers hashes at once. Unknown, malformed and
// disabled accounts cost one hash too, against the stand-in, and are reported the same way.
func (a *Authenticator) check(ctx context.Context, name string, validName bool, password string) (account.Account, bool, error) {
	var acct account.Account
	hash := a.dummy
	if validName {
		if got, err := a.accounts.Get(name); err == nil {
			acct, hash = got, got.PasswordHash
		}
	}
	select {
	case a.hashers <- struct{}{}:
	case <-ctx.Done():
		return acct, false, ctx.Err()
	}
	ok, err := account.VerifyPassword(hash, password)
	<-a.hashers
	if err != nil {
		a.log.Warn("unusable password hash", "account", name, "err", err)
	}
	return acct, ok && hash != a.dummy && !acct.Disabled, nil
}

// Check reports whether name may still use an open session: the account exists and is enabled. It
// returns the current record so that quota changes take effect.
func (a *Authenticator) Check(name string) (account.Account, error) {
	acct, err := a.accounts.Get(name)
	if err != nil {
		return acct, fmt.Errorf("account %q: %w", name, err)
	}
	if acct.Disabled {
		return acct, fmt.Errorf("account %q is disabled", name)
	}
	return acct, nil
}

// Tracked returns the number of keys the throttle remembers (for tests and monitoring).
func (a *Authenticator) Tracked() int { return a.limiter.Len() }

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
