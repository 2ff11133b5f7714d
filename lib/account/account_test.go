package account

import (
	"errors"
	"strings"
	"testing"
)

func TestNormalizeName(t *testing.T) {
	good := map[string]string{"alice": "alice", "Alice": "alice", "a": "a", "0day": "0day", "j.doe_2-x": "j.doe_2-x",
		strings.Repeat("a", 32): strings.Repeat("a", 32)}
	for in, want := range good {
		if got, err := NormalizeName(in); err != nil || got != want {
			t.Errorf("NormalizeName(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", ".alice", "-a", "_a", "al ice", "al/ice", "älice", "a\x00", strings.Repeat("a", 33), "..", "a:b"} {
		if _, err := NormalizeName(in); !errors.Is(err, ErrInvalidName) {
			t.Errorf("NormalizeName(%q) error = %v; want ErrInvalidName", in, err)
		}
	}
}

func TestNormalizeHome(t *testing.T) {
	good := map[string]string{"alice": "alice", "team/alice": "team/alice", "team//alice/": "team/alice", `team\bob`: "team/bob"}
	for in, want := range good {
		if got, err := NormalizeHome(in); err != nil || got != want {
			t.Errorf("NormalizeHome(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "/etc", "../x", "a/../../x", "a/..", ".", ".hidden", "a/.myftp", "Alice", "a b", "C:/x"} {
		if _, err := NormalizeHome(in); !errors.Is(err, ErrInvalidHome) {
			t.Errorf("NormalizeHome(%q) error = %v; want ErrInvalidHome", in, err)
		}
	}
}

// cheap keeps the tests fast; the format and the checks are the same at any cost.
var cheap = Params{Memory: 64, Time: 1, Threads: 1}

func TestPasswordRoundTrip(t *testing.T) {
	h, err := HashPassword("correct horse", cheap)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Errorf("hash %q is not in the $argon2id$v=19$m=,t=,p=$salt$key form", h)
	}
	if strings.Contains(h, "correct horse") {
		t.Fatal("hash contains the password")
	}
	if ok, err := VerifyPassword(h, "correct horse"); !ok || err != nil {
		t.Errorf("right password: %v, %v", ok, err)
	}
	if ok, err := VerifyPassword(h, "correct horsf"); ok || err != nil {
		t.Errorf("wrong password: %v, %v", ok, err)
	}
	h2, _ := HashPassword("correct horse", cheap)
	if h2 == h {
		t.Error("two hashes of one password are equal: the salt is not random")
	}
	if p, err := ParamsOf(h); err != nil || p != cheap {
		t.Errorf("ParamsOf = %+v, %v", p, err)
	}
}

func TestDefaultParamsHash(t *testing.T) {
	h, err := HashPassword("pw", DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("hash %q", h)
	}
}

func TestEmptyPassword(t *testing.T) {
	if _, err := HashPassword("", cheap); !errors.Is(err, ErrEmptyPassword) {
		t.Errorf("error = %v", err)
	}
}

func TestVerifyMalformed(t *testing.T) {
	h, _ := HashPassword("pw", cheap)
	parts := strings.Split(h, "$")
	bad := []string{"", "plain", "$argon2i$v=19$m=64,t=1,p=1$" + parts[4] + "$" + parts[5],
		"$argon2id$v=18$m=64,t=1,p=1$" + parts[4] + "$" + parts[5],
		"$argon2id$v=19$m=999999999,t=1,p=1$" + parts[4] + "$" + parts[5],
		"$argon2id$v=19$m=64,t=1,p=1$!!$" + parts[5],
		"$argon2id$v=19$m=64,t=1,p=1$" + parts[4] + "$",
	}
	for _, b := range bad {
		if ok, err := VerifyPassword(b, "pw"); ok || !errors.Is(err, ErrBadHash) {
			t.Errorf("VerifyPassword(%q) = %v, %v; want ErrBadHash", b, ok, err)
		}
	}
}
