package sftpdoor

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

// TestPacketScanner: packets cut at every kind of boundary (inside the length, between packets,
// several in one write) are seen once each, when their last byte passes, with their length and
// their first bytes.
func TestPacketScanner(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	var stream []byte
	var ends []int      // offsets just past each packet
	var bodies [][]byte // each packet's bytes after its length
	for range 500 {
		body := make([]byte, r.IntN(70)+1)
		for i := range body {
			body[i] = byte(r.Uint32())
		}
		stream = binary.BigEndian.AppendUint32(stream, uint32(len(body)))
		stream = append(stream, body...)
		ends = append(ends, len(stream))
		bodies = append(bodies, body)
	}
	for _, maxCut := range []int{1, 3, 7, 100, len(stream)} {
		var s packetScanner
		seen := 0
		for off := 0; off < len(stream); {
			n := min(r.IntN(maxCut)+1, len(stream)-off)
			s.scan(stream[off:off+n], func(size uint32, first []byte) {
				want := bodies[seen]
				if int(size) != len(want) || !bytes.Equal(first, want[:min(len(want), scanKeep)]) {
					t.Fatalf("cuts up to %d bytes: packet %d seen as %d bytes starting %x, want %d starting %x",
						maxCut, seen, size, first, len(want), want[:min(len(want), scanKeep)])
				}
				seen++
			})
			off += n
			want := 0
			for _, e := range ends {
				if e <= off {
					want++
				}
			}
			if seen != want {
				t.Fatalf("cuts up to %d bytes: %d packets seen at offset %d, want %d", maxCut, seen, off, want)
			}
		}
	}
}
