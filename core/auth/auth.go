// Package auth decides who may log in: it verifies passwords against the account database, caps how
// many argon2id hashes run at once, rehashes passwords stored with old parameters, makes unknown
// names cost what accounts cost, throttles failures per remote address and per address and
// account, and logs failures without letting a client flood the log. It knows nothing of the wire
// protocol, so every front end of the server can use it.
package auth

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/myftp/myftp/lib/account"
	"github.com/myftp/myftp/lib/source"
)

// Errors from Login. Callers must show ErrLoginIncorrect the same way whatever the cause (unknown
// account, wrong password, disabled account). A throttled attempt fails with a *ThrottledError,
// which matches ErrThrottled.
var (
	ErrLoginIncorrect = errors.New("auth: login incorrect")
	ErrThrottled      = errors.New("auth: too many failed logins, try again later")
)

// ThrottledError is the error of a login attempt refused, before any check, because its address
// (or that account from that address) failed too often. It says nothing about the account, so
// that it can be shown to the client as it is: the same name, known or not, gets the same answer.
type ThrottledError struct {
	Addr string // the source: the remote address, or for IPv6 its prefix ("2001:db8::/64")
	// RetryAfter is how long to wait before the next attempt, rounded up to whole seconds and at
	// least 1 s. An attempt after it is checked, unless more failures came in between.
	RetryAfter time.Duration
}

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("auth: too many failed logins from %s, retry in %d s", e.Addr, e.RetryAfter/time.Second)
}

// Is reports whether target is ErrThrottled.
func (e *ThrottledError) Is(target error) bool { return target == ErrThrottled }

// Accounts looks accounts up by name. *db.DB satisfies it, and the two optional interfaces below.
//
// If Accounts also has List (accountLister), New reads the parameters of the existing accounts'
// hashes from it, so that unknown names cost what they cost from the start. If it has Update
// (accountUpdater), Login stores the rehash of a password found with other parameters than
// Config.Params.
type Accounts interface {
	Get(name string) (account.Account, error)
}

// accountLister lists every account.
type accountLister interface {
	List() ([]account.Account, error)
}

// accountUpdater changes an account under the database lock: fn gets the current record, and its
// error, returned as is, cancels the change.
type accountUpdater interface {
	Update(name string, fn func(*account.Account) error) (account.Account, error)
}

// errPasswordChanged cancels a rehash: the password changed since it was verified.
var errPasswordChanged = errors.New("auth: password changed since it was verified")

// addressFactor is how many more failures an address tolerates, over all the names it tries,
// than one account from it.
const addressFactor = 4

// Config configures an Authenticator.
type Config struct {
	Accounts Accounts
	// Params is the argon2id cost of password hashes. A password stored with other parameters is
	// rehashed with these at its next successful login (if Accounts has Update). Unknown names are
	// checked against stand-ins with the parameters of the existing accounts (see Login), with
	// these only while no account is known. New fails if a hash cannot hold them.
	Params account.Params
	// MaxHashers caps concurrent password hashes (argon2id is memory-hard). At least 1.
	MaxHashers int
	// ThrottleAfter is how many failures one account may have from one remote address within
	// ThrottleWindow before that account is throttled from that address; the address as a whole,
	// whatever the names it tries, is throttled after 4 x ThrottleAfter. Values below 1 count
	// as 1. Failures from other addresses never count: nobody can lock an account's owner out.
	ThrottleAfter int
	// ThrottleWindow is how long failures are counted from the first; a key is forgotten once its
	// window has passed and its wait is over.
	ThrottleWindow time.Duration
	// ThrottleDelay is the wait before a throttled key may try again; it doubles with each further
	// failure, up to ThrottleMaxDelay. 0 turns throttling off.
	ThrottleDelay    time.Duration
	ThrottleMaxDelay time.Duration
	// IPv6Prefix is how many leading bits of an IPv6 address name its source for the throttle
	// (package source): one host usually holds a whole /64. 0 means source.DefaultIPv6Prefix,
	// 128 each address.
	IPv6Prefix int
	// PasswordCache is how long a password verified against an account's stored hash is
	// remembered, so that the same password for the same account and stored hash is accepted
	// again within it without a hash. 0 remembers nothing. Whatever it is, overlapping identical
	// attempts share one hash. See verifications for what is kept.
	PasswordCache time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Log receives failed logins (see Authenticator.Login), rehashes and hash problems; nil
	// discards them.
	Log *slog.Logger
}

// Authenticator checks logins. It is safe for concurrent use.
type Authenticator struct {
	accounts Accounts
	updater  accountUpdater // nil: no rehash
	params   account.Params
	standIns *standIns
	verified *verifications
	hashers  chan struct{}
	limiter  *Limiter
	after    int
	prefix   int // IPv6 prefix length that names a source
	log      *slog.Logger
	failures *failureLog
	verify   func(hash, password string) (bool, error)               // account.VerifyPassword; tests count calls
	hash     func(password string, p account.Params) (string, error) // account.HashPassword; tests count calls
}

// New returns an Authenticator. If Accounts has List, New reads every account: an error there is
// logged, and the parameters of the accounts are then learnt as they are looked up.
func New(c Config) (*Authenticator, error) {
	if _, err := account.ParamsOf(account.StandInHash(c.Params, [account.StandInSeedLen]byte{})); err != nil {
		return nil, fmt.Errorf("auth: Params %+v: %w", c.Params, err)
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	a := &Authenticator{
		accounts: c.Accounts,
		params:   c.Params,
		standIns: newStandIns(c.Params),
		verified: newVerifications(c.PasswordCache, c.Now),
		hashers:  make(chan struct{}, max(c.MaxHashers, 1)),
		limiter:  NewLimiter(c.ThrottleWindow, c.ThrottleDelay, c.ThrottleMaxDelay, c.Now),
		after:    max(c.ThrottleAfter, 1),
		prefix:   cmp.Or(c.IPv6Prefix, source.DefaultIPv6Prefix),
		log:      c.Log,
		failures: newFailureLog(c.Log, c.Now),
		verify:   account.VerifyPassword,
		hash:     account.HashPassword,
	}
	a.updater, _ = c.Accounts.(accountUpdater)
	if l, ok := c.Accounts.(accountLister); ok {
		list, err := l.List()
		if err != nil {
			a.log.Warn("cannot list the accounts for their hash parameters", "err", err)
		}
		for _, acct := range list {
			a.standIns.observe(acct.Name, acct.PasswordHash)
		}
	}
	return a, nil
}

// Login checks name and password for a client at remote (an IP address without port) and returns
// the account.
//
// Failures are counted per remote address and per address and account, never per account alone,
// so failures from elsewhere cannot refuse a correct password. While the address, or this account
// from it, is throttled (see Config.ThrottleAfter), the attempt fails at once with a
// *ThrottledError, before the account is looked up or any hash computed, and costs nothing: Login
// never sleeps. Otherwise a wrong password, an unknown or invalid name and a disabled account all
// cost one hash and fail with ErrLoginIncorrect, and all count the same, so that neither the
// error nor the throttle tells whether an account exists. A correct password clears the failures
// of that account from that address, not those of the address.
//
// Attempts that overlap with the same name and password share one hash (a client opening
// several connections at once pays one), and with Config.PasswordCache a password verified for an
// account is accepted again within that time without a hash; a wrong one is never remembered.
//
// Nor does the time taken tell it. An unknown or invalid name is checked against a stand-in hash
// with the parameters of one of the existing accounts, chosen from the name with a secret key
// made by New: one name costs the same at every attempt, as an account does (until a restart,
// which makes a new key), and names cost what accounts cost, in the same proportions (over the 8
// most common parameter sets; Config.Params while no account is known). The accounts are those
// listed by New and those looked up since.
//
// After a correct password whose hash has other parameters than Config.Params, Login hashes it
// again with Config.Params (also within MaxHashers; skipped if ctx ends first) and stores the new
// hash through Accounts' Update, unless the stored hash changed since it was verified. The login
// succeeds whether or not that works: a rehash is logged at Info, a failure at Warn.
//
// Login logs every failure it returns, ErrLoginIncorrect or *ThrottledError, through the same
// bounded per-address summary as LogFailure: front ends need not log them again. If ctx ends
// while waiting for a hasher, Login returns ctx.Err() and counts nothing; if the account database
// cannot answer, an error wrapping account.ErrUnavailable, counting nothing either.
func (a *Authenticator) Login(ctx context.Context, name, password, remote string) (account.Account, error) {
	addr := a.sourceOf(remote)
	norm, valid := normalName(name)
	keys := a.keys(addr, norm)
	if wait, ok := a.limiter.Begin(keys...); !ok {
		err := &ThrottledError{Addr: addr, RetryAfter: max((wait + time.Second - 1).Truncate(time.Second), time.Second)}
		a.failures.record(addr, name, "throttled", "retry_in", err.RetryAfter)
		return account.Account{}, err
	}
	acct, why, err := a.check(ctx, name, norm, valid, password)
	switch {
	case err != nil:
		a.limiter.Release(keys...)
		return account.Account{}, err
	case why != "":
		a.limiter.Fail(keys...)
		a.failures.record(addr, name, why)
		return account.Account{}, ErrLoginIncorrect
	}
	a.limiter.Release(keys[0])
	a.limiter.Reset(keys[1])
	a.rehash(ctx, acct, password)
	return acct, nil
}

// rehash stores password hashed with the current parameters if acct's verified hash has others.
func (a *Authenticator) rehash(ctx context.Context, acct account.Account, password string) {
	if p, err := account.ParamsOf(acct.PasswordHash); a.updater == nil || err != nil || p == a.params {
		return
	}
	select {
	case a.hashers <- struct{}{}:
	case <-ctx.Done():
		return
	}
	hash, err := a.hash(password, a.params)
	<-a.hashers
	if err == nil {
		_, err = a.updater.Update(acct.Name, func(cur *account.Account) error {
			if cur.PasswordHash != acct.PasswordHash {
				return errPasswordChanged
			}
			cur.PasswordHash = hash
			return nil
		})
	}
	switch {
	case errors.Is(err, errPasswordChanged):
		a.log.Debug("password not rehashed: changed meanwhile", "account", acct.Name)
	case err != nil:
		a.log.Warn("password not rehashed", "account", acct.Name, "err", err)
	default:
		a.standIns.observe(acct.Name, hash)
		a.log.Info("password rehashed with the current parameters", "account", acct.Name)
	}
}

// keys returns the throttle keys of an attempt: the address, then the address and account. All
// invalid names from an address share one key (norm is ""), which no valid name has.
func (a *Authenticator) keys(addr, norm string) []Key {
	return []Key{
		{Name: "addr\x00" + addr, After: addressFactor * a.after},
		{Name: "user\x00" + addr + "\x00" + norm, After: a.after},
	}
}

// normalName returns the normal form of an account name, or "" and false if it is not a valid
// name. An overlong name is refused before NormalizeName, whose error would quote all of it.
func normalName(name string) (string, bool) {
	if len(name) > account.MaxNameLen {
		return "", false
	}
	norm, err := account.NormalizeName(name)
	return norm, err == nil
}

// sourceOf returns the source of a remote IP address, as the throttle counts it: the address
// (IPv4-mapped IPv6 as IPv4, no zone), or for IPv6 its prefix, so that one host has one key
// however many of its addresses it uses; anything else is returned as it is.
func (a *Authenticator) sourceOf(remote string) string {
	src, ok := source.Parse(remote, a.prefix)
	if !ok {
		return remote
	}
	return source.Name(src)
}

// check verifies the password with at most MaxHashers hashes at once and returns why it failed,
// or "" if it did not. name is the normal form of raw, or "" if raw is not valid. Unknown and
// invalid names cost one hash too, against a stand-in; disabled accounts, against their own.
func (a *Authenticator) check(ctx context.Context, raw, name string, validName bool, password string) (account.Account, string, error) {
	var acct account.Account
	var hash string
	why := "invalid name"
	if validName {
		why = "unknown account"
		got, err := a.accounts.Get(name)
		switch {
		case err == nil:
			acct, hash, why = got, got.PasswordHash, ""
			a.standIns.observe(name, hash)
		case errors.Is(err, account.ErrUnavailable): // says nothing about the password: count nothing
			a.log.Warn("login not checked: account database unavailable", "account", name, "err", err)
			return acct, "", fmt.Errorf("auth: %w", err)
		default:
			a.standIns.forget(name)
			a.verified.forget(name)
		}
	}
	if why != "" {
		hash = a.standIns.hash(cmp.Or(name, raw))
	}
	ok, err := a.verified.verify(ctx, cmp.Or(name, raw), hash, password, func(ctx context.Context) (bool, error) {
		select {
		case a.hashers <- struct{}{}:
		case <-ctx.Done():
			return false, ctx.Err()
		}
		defer func() { <-a.hashers }()
		return a.verify(hash, password)
	})
	if err != nil && ctx.Err() != nil { // gave up waiting for a hasher: nothing was checked
		return account.Account{}, "", ctx.Err()
	}
	if err != nil {
		a.log.Warn("unusable password hash", "account", name, "err", err)
	}
	switch {
	case why != "":
	case !ok:
		why = "wrong password"
	case acct.Disabled:
		why = "disabled account"
	}
	if why != "" {
		return account.Account{}, why, nil
	}
	return acct, "", nil
}

// LogFailure logs a failed login of name from remote for a front end that refuses a login
// without calling Login (Login logs its own failures). Per address, the first 5 failures of a
// minute get a line each ("login failed", with the name cut to 100 bytes and quoted if it holds
// control characters), the others one "more failed logins" line with their count. Memory is
// bounded however many addresses fail.
func (a *Authenticator) LogFailure(remote, name, reason string) {
	a.failures.record(a.sourceOf(remote), name, reason)
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
