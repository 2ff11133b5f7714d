package checksum

import (
	"hash"
	"testing"

	"lukechampine.com/blake3"
)

// BenchmarkHash measures each algorithm on the 256 KiB writes a transfer makes.
func BenchmarkHash(b *testing.B) {
	buf := random(256<<10, 9)
	for _, tc := range []struct {
		name string
		new  func() hash.Hash
	}{
		{MD5, func() hash.Hash { return New(MD5) }},
		{SHA256, func() hash.Hash { return New(SHA256) }},
		{BLAKE3, func() hash.Hash { return New(BLAKE3) }},
		{"blake3-digest", func() hash.Hash { return NewDigest(BLAKE3) }},
		{"blake3-reference", func() hash.Hash { return blake3.New(32, nil) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			h := tc.new()
			b.SetBytes(int64(len(buf)))
			for b.Loop() {
				h.Write(buf)
			}
		})
	}
}
