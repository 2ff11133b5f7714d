package sftpdoor

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

// TestPacketCounter: packets cut at every kind of boundary (inside the length, between packets,
// several in one write) are counted once each, when their last byte passes.
func TestPacketCounter(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	var stream []byte
	var ends []int // offsets just past each packet
	for range 500 {
		body := make([]byte, r.IntN(70)+1)
		stream = binary.BigEndian.AppendUint32(stream, uint32(len(body)))
		stream = append(stream, body...)
		ends = append(ends, len(stream))
	}
	for _, maxCut := range []int{1, 3, 7, 100, len(stream)} {
		var pc packetCounter
		var counted int64
		for off := 0; off < len(stream); {
			n := min(r.IntN(maxCut)+1, len(stream)-off)
			counted += pc.count(stream[off : off+n])
			off += n
			want := int64(0)
			for _, e := range ends {
				if e <= off {
					want++
				}
			}
			if counted != want {
				t.Fatalf("cuts up to %d bytes: %d packets counted at offset %d, want %d", maxCut, counted, off, want)
			}
		}
	}
}
