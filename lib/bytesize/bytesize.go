// Package bytesize parses and formats byte counts, the one place where myftp turns "1.5GiB" into
// 1610612736 and back.
//
// Grammar: a non-negative decimal number (digits, optionally with a fractional part) followed by an
// optional unit, with optional spaces between them. Units are case-insensitive:
//
//	(none), B          bytes
//	K, KiB             1024
//	M, MiB             1024^2
//	G, GiB             1024^3
//	T, TiB             1024^4
//	P, PiB             1024^5
//	E, EiB             1024^6
//	KB, MB, GB, TB     powers of 1000 (also PB, EB)
//
// A fractional byte count is rounded down ("1.5B" is 1 byte). Values that do not fit in an int64 are
// errors.
package bytesize

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"strings"
)

// ErrSyntax is returned (wrapped) for a string that is not a size.
var ErrSyntax = errors.New("bytesize: invalid size")

// ErrRange is returned (wrapped) for a size that does not fit in an int64.
var ErrRange = errors.New("bytesize: size out of range")

const (
	KiB int64 = 1 << (10 * (iota + 1))
	MiB
	GiB
	TiB
	PiB
	EiB
)

var units = map[string]int64{
	"": 1, "b": 1,
	"k": KiB, "kib": KiB, "m": MiB, "mib": MiB, "g": GiB, "gib": GiB, "t": TiB, "tib": TiB,
	"p": PiB, "pib": PiB, "e": EiB, "eib": EiB,
	"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12, "pb": 1e15, "eb": 1e18,
}

// Parse converts s to a number of bytes. See the package documentation for the grammar.
func Parse(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '.') {
		i++
	}
	num, unit := t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	mult, ok := units[unit]
	if num == "" || !ok || strings.Count(num, ".") > 1 || num[0] == '.' || num[len(num)-1] == '.' {
		return 0, fmt.Errorf("%w %q: want a number with an optional unit (B, K, KiB, KB, M, MiB, MB, G, GiB, GB, T, TiB, TB, ...)", ErrSyntax, s)
	}
	r, ok := new(big.Rat).SetString(num)
	if !ok {
		return 0, fmt.Errorf("%w %q", ErrSyntax, s)
	}
	r.Mul(r, new(big.Rat).SetInt64(mult))
	n := new(big.Int).Quo(r.Num(), r.Denom())
	if !n.IsInt64() {
		return 0, fmt.Errorf("%w %q: larger than %d bytes", ErrRange, s, int64(math.MaxInt64))
	}
	return n.Int64(), nil
}

// Format renders n in binary units as users see sizes everywhere in myftp: "0 B", "1023 B",
// "10 MiB" (whole units print no decimals), "52.3 MiB" (one decimal below 100, rounded down so that
// a transfer never shows a total it has not reached), "152 GiB". Negative values keep their sign.
func Format(n int64) string {
	if n < 0 {
		if n == math.MinInt64 {
			return "-8 EiB"
		}
		return "-" + Format(-n)
	}
	if n < KiB {
		return fmt.Sprintf("%d B", n)
	}
	names := []string{"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	unit, i := KiB, 0
	for i < len(names)-1 && n/unit >= 1024 {
		unit <<= 10
		i++
	}
	if n%unit == 0 {
		return fmt.Sprintf("%d %s", n/unit, names[i])
	}
	whole := n / unit
	if whole >= 100 {
		return fmt.Sprintf("%d %s", whole, names[i])
	}
	tenths := uint64(n%unit) * 10 / uint64(unit) // < 2^60 * 10: fits in a uint64
	return fmt.Sprintf("%d.%d %s", whole, tenths, names[i])
}

// FormatExact renders n as Format does, followed by the exact byte count: "10 MiB (10485760 bytes)".
func FormatExact(n int64) string {
	return fmt.Sprintf("%s (%d bytes)", Format(n), n)
}
