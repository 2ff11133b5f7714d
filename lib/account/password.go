package account

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Params are the argon2id cost parameters, stored inside every hash string so that they can be
// raised later without invalidating existing passwords.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8
}

// DefaultParams returns the OWASP recommendation for argon2id: 19 MiB, two passes, one thread. The
// settings (section [auth]) can raise them.
func DefaultParams() Params { return Params{Memory: 19 * 1024, Time: 2, Threads: 1} }

const (
	saltLen = 16
	keyLen  = 32
)

// Errors from password handling.
var (
	ErrEmptyPassword = errors.New("account: empty password")
	ErrBadHash       = errors.New("account: malformed password hash")
)

// HashPassword returns an argon2id hash string of password with a fresh random 16-byte salt, in the
// usual form $argon2id$v=19$m=MEMORY,t=TIME,p=THREADS$SALT$HASH (unpadded standard base64).
func HashPassword(password string, p Params) (string, error) {
	if password == "" {
		return "", ErrEmptyPassword
	}
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return formatHash(p, salt, argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, keyLen)), nil
}

// StandInSeedLen is the length of the seed of a stand-in hash: its salt, then its key.
const StandInSeedLen = saltLen + keyLen

// StandInHash returns a well-formed hash string with parameters p whose salt and key are the
// seed instead of derived from a password: no password matches it (short of guessing a key of 32
// random bytes), and verifying one against it costs what verifying against a real hash with p
// costs. It stands in for the hash of an account that does not exist, and costs nothing to make.
// A random seed gives a new one each time; a seed derived from a secret and a name gives one name
// the same stand-in each time, as an account keeps its hash. Parameters that VerifyPassword would
// refuse give a hash that it refuses.
func StandInHash(p Params, seed [StandInSeedLen]byte) string {
	return formatHash(p, seed[:saltLen], seed[saltLen:])
}

func formatHash(p Params, salt, key []byte) string {
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// VerifyPassword reports whether password matches hash, comparing in constant time. A malformed
// hash is an error, never a match.
func VerifyPassword(hash, password string) (bool, error) {
	p, salt, key, err := parseHash(hash)
	if err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, uint32(len(key)))
	return subtle.ConstantTimeCompare(got, key) == 1, nil
}

// ParamsOf returns the cost parameters stored in hash.
func ParamsOf(hash string) (Params, error) {
	p, _, _, err := parseHash(hash)
	return p, err
}

func parseHash(hash string) (p Params, salt, key []byte, err error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, nil, nil, fmt.Errorf("%w: not an argon2id hash", ErrBadHash)
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return p, nil, nil, fmt.Errorf("%w: unsupported version %q", ErrBadHash, parts[2])
	}
	var threads uint32
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &threads); err != nil {
		return p, nil, nil, fmt.Errorf("%w: parameters %q", ErrBadHash, parts[3])
	}
	// Bounds keep a hand-edited hash from asking for absurd memory or time.
	if p.Memory < 8 || p.Memory > 4<<20 || p.Time < 1 || p.Time > 100 || threads < 1 || threads > 255 {
		return p, nil, nil, fmt.Errorf("%w: parameters out of range %q", ErrBadHash, parts[3])
	}
	p.Threads = uint8(threads)
	b64 := base64.RawStdEncoding
	if salt, err = b64.DecodeString(parts[4]); err != nil || len(salt) < 8 {
		return p, nil, nil, fmt.Errorf("%w: salt", ErrBadHash)
	}
	if key, err = b64.DecodeString(parts[5]); err != nil || len(key) < 16 || len(key) > 64 {
		return p, nil, nil, fmt.Errorf("%w: key", ErrBadHash)
	}
	return p, salt, key, nil
}
