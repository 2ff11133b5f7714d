// Package checksum names the checksums myftp verifies files with, makes their hashes, and picks
// the one two ends of a transfer share. md5 is what every myftp client and server speaks; sha256
// and blake3 are stronger (md5 is broken for collisions) and faster (blake3 about four times as
// fast as md5 on one core, and it spreads a large write over several). Every hash New returns can
// save and restore its state (encoding.BinaryMarshaler and BinaryUnmarshaler), which is what lets
// a resume check a prefix of a file from a state kept along the way rather than reading it all;
// NewDigest returns hashes for a digest only, faster where that helps.
package checksum

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"hash"
	"hash/crc32"
	"slices"

	zeebo "github.com/zeebo/blake3"
)

// Names of the algorithms, as the protocol, the settings and the records spell them.
const (
	BLAKE3 = "blake3"
	SHA256 = "sha256"
	MD5    = "md5"
	// Computed for FTP's HASH and its relatives only; never negotiated for a transfer.
	SHA1   = "sha1"
	SHA512 = "sha512"
	CRC32  = "crc32"
)

// Transfer returns the algorithms a transfer can be verified with, best first.
func Transfer() []string { return []string{BLAKE3, SHA256, MD5} }

// New returns a new hash of the named algorithm, or nil for a name it does not know.
func New(algo string) hash.Hash {
	switch algo {
	case BLAKE3:
		return newBLAKE3()
	case SHA256:
		return sha256.New()
	case MD5:
		return md5.New()
	case SHA1:
		return sha1.New()
	case SHA512:
		return sha512.New()
	case CRC32:
		return crc32.NewIEEE()
	}
	return nil
}

// NewDigest returns a new hash of the named algorithm for a digest only, or nil for a name it
// does not know, whose state may not be saved: for blake3, github.com/zeebo/blake3, which is
// faster than the resumable hash New builds on lukechampine.com/blake3's compression functions on
// small files everywhere (5.5 against 7.9 us for 4 KiB) and on large ones without AVX-512 (about
// twice on an AMD EPYC); with AVX-512 the resumable one is faster on large data (4.6 against
// 3.6 GB/s on an Intel Xeon), which did not show in a whole download, where hashing runs beside
// the network and the disk. Digests are the same as New's.
func NewDigest(algo string) hash.Hash {
	if algo == BLAKE3 {
		return zeebo.New()
	}
	return New(algo)
}

// Size returns the length in bytes of the named algorithm's digest, or 0 for a name it does not
// know.
func Size(algo string) int {
	switch algo {
	case BLAKE3, SHA256:
		return 32
	case MD5:
		return md5.Size
	case SHA1:
		return sha1.Size
	case SHA512:
		return sha512.Size
	case CRC32:
		return crc32.Size
	}
	return 0
}

// Valid reports whether sum is a digest of algo written as lowercase hex.
func Valid(algo, sum string) bool {
	if n := Size(algo); n == 0 || len(sum) != 2*n {
		return false
	}
	for i := 0; i < len(sum); i++ {
		if c := sum[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// Pick returns the algorithm a transfer uses: preferred if the other end offers it, else the
// best of the transfer algorithms it offers; md5 when it offers none (an end that says nothing
// speaks md5 only).
func Pick(preferred string, offered []string) string {
	if len(offered) == 0 {
		return MD5
	}
	if slices.Contains(offered, preferred) && slices.Contains(Transfer(), preferred) {
		return preferred
	}
	for _, a := range Transfer() {
		if slices.Contains(offered, a) {
			return a
		}
	}
	return MD5
}
