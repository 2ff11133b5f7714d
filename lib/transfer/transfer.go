// Package transfer holds what both ends of a transfer agree on outside the wire format: the
// client's partial-download file name, prefix hashing for resumes, and digest formatting.
package transfer

import (
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"path/filepath"
	"strings"

	"github.com/myftp/myftp/lib/checksum"
)

// PartialSuffix ends the name of a download in progress.
const PartialSuffix = ".myftp-partial"

// PartialName returns the file a download of target writes to before it is complete: a hidden
// file beside it, ".NAME.myftp-partial". It is renamed to target once the md5 is verified.
func PartialName(target string) string {
	dir, base := filepath.Split(target)
	return filepath.Join(dir, "."+base+PartialSuffix)
}

// IsPartial reports whether name (a base name) is a partial download.
func IsPartial(name string) bool {
	return strings.HasPrefix(name, ".") && strings.HasSuffix(name, PartialSuffix)
}

// HashPrefix feeds the first n bytes of r into a new hash of the checksum algo (package checksum)
// and returns it, so that the caller can go on hashing the rest of the file with the same state.
func HashPrefix(algo string, r io.Reader, n int64) (hash.Hash, error) {
	h := checksum.NewDigest(algo)
	if h == nil {
		return nil, fmt.Errorf("unknown checksum %q", algo)
	}
	got, err := io.CopyN(h, r, n)
	if err != nil {
		return nil, fmt.Errorf("hash first %d bytes: got %d: %w", n, got, err)
	}
	return h, nil
}

// Hex returns the hex digest of what h has seen.
func Hex(h hash.Hash) string { return hex.EncodeToString(h.Sum(nil)) }

// MismatchError is a transfer whose checksum did not match.
type MismatchError struct {
	Name      string
	Checksum  string // the algorithm; "" means md5
	Want, Got string
}

func (e *MismatchError) Error() string {
	algo := e.Checksum
	if algo == "" {
		algo = checksum.MD5
	}
	return fmt.Sprintf("%s mismatch for %s: expected %s, got %s", algo, e.Name, e.Want, e.Got)
}
