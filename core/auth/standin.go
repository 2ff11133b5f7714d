package auth

import (
	"cmp"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"math/bits"
	"slices"
	"sync"

	"github.com/myftp/myftp/lib/account"
)

// maxStandIns is how many distinct parameter sets unknown names are spread over: the most common
// among the accounts.
const maxStandIns = 8

// standIns chooses the parameters of the stand-in hash that an unknown name is checked against, so
// that unknown names cost what accounts cost (OpenSSH CVE-2016-6210): the parameter sets of the
// accounts, each for a share of the names that is its share of the accounts. The choice is a keyed
// hash of the name, a place in [0, 1) cut into ranges as wide as the shares, so one unknown name
// gets the same parameters at every attempt, as an account does. When an account is rehashed, the
// range of the current parameters only widens: names move to them, never away, as accounts do.
type standIns struct {
	key     []byte
	current account.Params

	mu      sync.Mutex
	byName  map[string]account.Params // every account seen, by normal name
	counts  map[account.Params]int    // accounts by parameters
	choices []choice                  // the most common sets, in a fixed order; nil: none known
	total   int                       // sum of the counts of choices
}

type choice struct {
	p account.Params
	n int
}

func newStandIns(current account.Params) *standIns {
	key := make([]byte, 32)
	rand.Read(key) // never fails (crypto/rand, Go 1.24 and later)
	return &standIns{key: key, current: current, byName: map[string]account.Params{}, counts: map[account.Params]int{}}
}

// observe records the parameters of the password hash of the account called name. A hash whose
// parameters cannot be read does not count.
func (s *standIns) observe(name, hash string) {
	p, err := account.ParamsOf(hash)
	if err != nil {
		s.forget(name)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.byName[name]; ok {
		if old == p {
			return
		}
		s.uncount(old)
	}
	s.byName[name] = p
	s.counts[p]++
	s.rebuild()
}

// forget drops the account called name, if it was seen.
func (s *standIns) forget(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.byName[name]; ok {
		delete(s.byName, name)
		s.uncount(old)
		s.rebuild()
	}
}

func (s *standIns) uncount(p account.Params) {
	if s.counts[p]--; s.counts[p] == 0 {
		delete(s.counts, p)
	}
}

// rebuild makes choices from counts: the maxStandIns most common sets, ordered by parameters.
func (s *standIns) rebuild() {
	all := make([]choice, 0, len(s.counts))
	for p, n := range s.counts {
		all = append(all, choice{p, n})
	}
	slices.SortFunc(all, func(a, b choice) int { return cmp.Or(cmp.Compare(b.n, a.n), order(a.p, b.p)) })
	all = all[:min(len(all), maxStandIns)]
	slices.SortFunc(all, func(a, b choice) int { return order(a.p, b.p) })
	s.choices, s.total = all, 0
	for _, c := range all {
		s.total += c.n
	}
}

// order sorts parameters by memory, time and threads.
func order(a, b account.Params) int {
	return cmp.Or(cmp.Compare(a.Memory, b.Memory), cmp.Compare(a.Time, b.Time), cmp.Compare(a.Threads, b.Threads))
}

// params returns the parameters that the unknown name is checked with: the current ones if no
// account is known.
func (s *standIns) params(name string) account.Params {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(name))
	u := binary.BigEndian.Uint64(m.Sum(nil))
	s.mu.Lock()
	defer s.mu.Unlock()
	// u / 2^64 scaled to [0, total): a name keeps its place as the counts change.
	at, _ := bits.Mul64(u, uint64(s.total))
	for _, c := range s.choices {
		if at < uint64(c.n) {
			return c.p
		}
		at -= uint64(c.n)
	}
	return s.current
}

// hash returns the stand-in hash of the unknown name: the same for the same name and parameters
// (as an account's hash stays the same), so that identical attempts share their hash as an
// account's do (see verifications), and unlike any other.
func (s *standIns) hash(name string) string {
	m := hmac.New(sha512.New, s.key)
	m.Write([]byte("stand-in hash\x00"))
	m.Write([]byte(name))
	var seed [account.StandInSeedLen]byte
	copy(seed[:], m.Sum(nil))
	return account.StandInHash(s.params(name), seed)
}
