package admission

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/myftp/myftp/lib/source"
	"sync"
)

// ErrTooManySessions is wrapped by the error of a Conn.Login refused because the account holds
// MaxSessionsPerAccount sessions already.
var ErrTooManySessions = errors.New("admission: too many sessions of one account")

// SessionLimitError is the error of a login refused by MaxSessionsPerAccount.
type SessionLimitError struct {
	Account string
	Limit   int
}

func (e *SessionLimitError) Error() string {
	return fmt.Sprintf("too many sessions of account %s: the limit is %d", e.Account, e.Limit)
}

// Is reports that e is an ErrTooManySessions.
func (e *SessionLimitError) Is(target error) bool { return target == ErrTooManySessions }

// limits counts connections per remote address, connections that have not logged in (per address
// and in all), and sessions per account. Addresses and accounts that hold nothing are forgotten,
// so the maps are as large as what is connected now. Connections without an IP address (pipes)
// count only toward the total of those not logged in.
type limits struct {
	maxPerAddr, maxStartups, maxStartupsPerAddr, maxPerAccount int

	mu       sync.Mutex
	addrs    map[netip.Prefix]*addrCount
	startups int
	accounts map[string]int
}

type addrCount struct{ conns, startups int }

func newLimits(cfg Config) *limits {
	return &limits{maxPerAddr: cfg.MaxPerAddress, maxStartups: cfg.MaxStartups, maxStartupsPerAddr: cfg.MaxStartupsPerAddress,
		maxPerAccount: cfg.MaxSessionsPerAccount, addrs: map[netip.Prefix]*addrCount{}, accounts: map[string]int{}}
}

// admit counts a new connection from addr, not logged in, or returns why it is refused. held
// says that the connection is already counted among those not logged in, without an address (a
// proxied one, while its header was read: see hold); if it is refused, it no longer is.
func (l *limits) admit(addr netip.Prefix, held bool) (refusal string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if why := l.refusal(addr, held); why != "" {
		if held {
			l.startups--
		}
		return why
	}
	if !held {
		l.startups++
	}
	if addr.IsValid() {
		a := l.addrs[addr]
		if a == nil {
			a = &addrCount{}
			l.addrs[addr] = a
		}
		a.conns++
		a.startups++
	}
	return ""
}

// refusal says why one more connection from addr is refused, or "".
func (l *limits) refusal(addr netip.Prefix, held bool) string {
	a := l.addrs[addr]
	if a == nil {
		a = &addrCount{}
	}
	switch {
	case !addr.IsValid():
	case over(a.conns, l.maxPerAddr):
		return fmt.Sprintf("too many connections from %s: the limit is %d", source.Name(addr), l.maxPerAddr)
	case over(a.startups, l.maxStartupsPerAddr):
		return fmt.Sprintf("too many connections from %s that have not logged in: the limit is %d", source.Name(addr), l.maxStartupsPerAddr)
	}
	if !held && over(l.startups, l.maxStartups) {
		return "server busy: too many connections are logging in, try again later"
	}
	return ""
}

// hold counts a connection whose address is not known yet among those not logged in, or
// returns why it is refused; admit(addr, true) gives it its address, or release(Prefix{}, "",
// false) forgets it.
func (l *limits) hold() (refusal string) { return l.admit(netip.Prefix{}, false) }

// over reports whether n has reached a positive limit.
func over(n, limit int) bool { return limit > 0 && n >= limit }

// login moves a connection from addr from the count of those not logged in to the sessions of
// account, unless the account holds its limit.
func (l *limits) login(addr netip.Prefix, account string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if over(l.accounts[account], l.maxPerAccount) {
		return &SessionLimitError{Account: account, Limit: l.maxPerAccount}
	}
	l.accounts[account]++
	l.startups--
	if a := l.addrs[addr]; a != nil {
		a.startups--
	}
	return nil
}

// check reports whether account may have one more session now.
func (l *limits) check(account string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if over(l.accounts[account], l.maxPerAccount) {
		return &SessionLimitError{Account: account, Limit: l.maxPerAccount}
	}
	return nil
}

// release forgets a closed connection.
func (l *limits) release(addr netip.Prefix, account string, loggedIn bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if loggedIn {
		if l.accounts[account] <= 1 {
			delete(l.accounts, account)
		} else {
			l.accounts[account]--
		}
	} else {
		l.startups--
	}
	a := l.addrs[addr]
	if a == nil {
		return
	}
	a.conns--
	if !loggedIn {
		a.startups--
	}
	if a.conns <= 0 {
		delete(l.addrs, addr)
	}
}

func (l *limits) notLoggedIn() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.startups
}

// remoteIP returns the IP address of conn's peer (an IPv4-mapped IPv6 address as IPv4), or the
// zero Addr if it has none.
func remoteIP(conn net.Conn) netip.Addr {
	if a, ok := conn.RemoteAddr().(*net.TCPAddr); ok {
		return a.AddrPort().Addr().Unmap()
	}
	ap, err := netip.ParseAddrPort(conn.RemoteAddr().String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}
