package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// maxRemembered bounds how many accounts verifications remembers at once.
const maxRemembered = 4096

// verifications shares the cost of verifying passwords. Identical attempts (same name, stored
// hash and password) that overlap wait for one hash instead of one each: a client that opens
// several connections at once (FileZilla, lftp's parallel transfers, a batch of curl) pays
// argon2id once. And a password verified against an account's stored hash is remembered for
// ttl, so that the same client logging in again soon (curl once per file) does not pay it again.
//
// What is remembered is an HMAC-SHA256, under a key made at start and held only in memory, of
// the name, the stored hash and the password; never the password. A changed password is a new
// stored hash, which matches nothing remembered. Only successes are remembered: a wrong password
// always costs a whole hash. Unknown names go through the same sharing as accounts (against their
// stand-in hash), so overlapping attempts cost the same whether the name exists or not.
type verifications struct {
	ttl    time.Duration // 0: nothing is remembered (overlapping attempts still share)
	now    func() time.Time
	key    [32]byte
	flight singleflight.Group

	mu         sync.Mutex
	remembered map[string]remembered // by name
}

type remembered struct {
	mac   [sha256.Size]byte
	until time.Time
}

func newVerifications(ttl time.Duration, now func() time.Time) *verifications {
	v := &verifications{ttl: ttl, now: now, remembered: map[string]remembered{}}
	rand.Read(v.key[:]) // never fails (crypto/rand, Go 1.24 and later)
	return v
}

// verify reports whether password matches hash, the stored hash of name (or its stand-in): from
// memory if it matched within ttl, else through run, which computes the hash under ctx. Attempts
// that overlap share one run; if the run was given up because another caller's ctx ended, this
// caller runs it again under its own.
func (v *verifications) verify(ctx context.Context, name, hash, password string, run func(context.Context) (bool, error)) (bool, error) {
	mac := v.mac(name, hash, password)
	if v.recall(name, mac) {
		return true, nil
	}
	for {
		ch := v.flight.DoChan(string(mac[:]), func() (any, error) { return run(ctx) })
		select {
		case r := <-ch:
			if r.Err != nil && ctx.Err() == nil && (errors.Is(r.Err, context.Canceled) || errors.Is(r.Err, context.DeadlineExceeded)) {
				continue // the caller that ran it gave up; this one has not
			}
			ok, _ := r.Val.(bool)
			if ok && r.Err == nil {
				v.remember(name, mac)
			}
			return ok, r.Err
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
}

// mac returns the HMAC of an attempt, over its three fields with their lengths.
func (v *verifications) mac(name, hash, password string) [sha256.Size]byte {
	m := hmac.New(sha256.New, v.key[:])
	var n [8]byte
	for _, s := range []string{name, hash, password} {
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		m.Write(n[:])
		m.Write([]byte(s))
	}
	var sum [sha256.Size]byte
	m.Sum(sum[:0])
	return sum
}

// recall reports whether mac was verified for name within ttl.
func (v *verifications) recall(name string, mac [sha256.Size]byte) bool {
	if v.ttl <= 0 {
		return false
	}
	v.mu.Lock()
	r, ok := v.remembered[name]
	v.mu.Unlock()
	return ok && hmac.Equal(r.mac[:], mac[:]) && v.now().Before(r.until)
}

// remember records that mac was verified for name now, in place of what was remembered for name.
// When full, it forgets what has expired, or else one account chosen at random.
func (v *verifications) remember(name string, mac [sha256.Size]byte) {
	if v.ttl <= 0 {
		return
	}
	now := v.now()
	v.mu.Lock()
	defer v.mu.Unlock()
	if _, ok := v.remembered[name]; !ok && len(v.remembered) >= maxRemembered {
		for n, r := range v.remembered {
			if !now.Before(r.until) {
				delete(v.remembered, n)
			}
		}
		for n := range v.remembered {
			if len(v.remembered) < maxRemembered {
				break
			}
			delete(v.remembered, n)
		}
	}
	v.remembered[name] = remembered{mac: mac, until: now.Add(v.ttl)}
}

// forget drops what is remembered for name.
func (v *verifications) forget(name string) {
	v.mu.Lock()
	delete(v.remembered, name)
	v.mu.Unlock()
}
