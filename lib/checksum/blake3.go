package checksum

import (
	"encoding/binary"
	"errors"
	"math/bits"

	"lukechampine.com/blake3/guts"
)

// blake3Hash is BLAKE3-256 (unkeyed) built on the compression functions of lukechampine.com/blake3
// (package guts, with SIMD), with a state that can be saved and restored, which that package's
// Hasher does not offer. It runs on the writer's goroutine only.
//
// BLAKE3 hashes 1 KiB chunks and combines their chaining values in a binary tree, left to right.
// The state is the chaining values of the complete subtrees so far (at most one per height:
// subtree i exists when bit i of the chunk count is set) and the last chunk, kept back until more
// data shows whether it is the last one of all (the root is finalized differently).
type blake3Hash struct {
	stack  [64][8]uint32 // stack[i]: chaining value of the subtree of 2^i chunks, if counter has bit i
	chunks uint64        // chunks combined into the stack
	buf    [guts.ChunkSize]byte
	buflen int
	// tmp is scratch for the kept bytes joined to the start of a write; when pending, it holds
	// a whole group, aligned, kept back instead of the last chunk (buflen is then 0). A write
	// that ends on a group boundary thus leaves its last group for one SIMD compression when
	// more data comes, rather than compressing 16 chunks one at a time to keep back the last.
	// It is made when first needed: a hash of a small file, or one made and not used (a
	// download whose checksum is recorded), does not clear 16 KiB.
	tmp     *[group]byte
	pending bool
}

func newBLAKE3() *blake3Hash { return &blake3Hash{} }

func (h *blake3Hash) Size() int      { return 32 }
func (h *blake3Hash) BlockSize() int { return guts.BlockSize }
func (h *blake3Hash) Reset()         { h.chunks, h.buflen, h.pending = 0, 0, false }

// push adds the chaining value of a subtree of 2^height chunks, which must start at a multiple
// of its size, merging it with the complete subtrees it completes.
func (h *blake3Hash) push(cv [8]uint32, height int) {
	i := height
	for h.chunks&(1<<i) != 0 {
		cv = guts.ChainingValue(guts.ParentNode(h.stack[i], cv, &guts.IV, 0))
		i++
	}
	h.stack[i] = cv
	h.chunks += 1 << height
}

func (h *blake3Hash) Write(p []byte) (int, error) {
	n := len(p)
	if h.pending && len(p) > 0 { // more data: the kept group is not the last
		h.pending = false
		h.compressGroup(h.tmp)
	}
	for h.buflen+len(p) > guts.ChunkSize { // more than the last chunk: some chunks are not the last
		switch {
		case h.chunks%guts.MaxSIMD == 0 && h.buflen+len(p) == group:
			// Exactly one group left, which may be the last: kept whole (see pending).
			h.scratch()
			copy(h.tmp[:], h.buf[:h.buflen])
			copy(h.tmp[h.buflen:], p)
			p, h.buflen, h.pending = nil, 0, true
		case h.chunks%guts.MaxSIMD == 0 && h.buflen+len(p) > group && h.buflen > 0:
			// The kept bytes and the start of p make a group: one SIMD compression.
			h.scratch()
			copy(h.tmp[:], h.buf[:h.buflen])
			k := copy(h.tmp[h.buflen:], p)
			h.compressGroup(h.tmp)
			p, h.buflen = p[k:], 0
		case h.chunks%guts.MaxSIMD == 0 && len(p) > group:
			h.compressGroup((*[group]byte)(p[:group]))
			p = p[group:]
		default: // one chunk, until the chunks are aligned to a group again
			k := copy(h.buf[h.buflen:], p)
			p = p[k:]
			h.push(guts.ChainingValue(guts.CompressChunk(h.buf[:], &guts.IV, h.chunks, 0)), 0)
			h.buflen = 0
		}
	}
	h.buflen += copy(h.buf[h.buflen:], p)
	return n, nil
}

// group is how many bytes one SIMD compression takes: MaxSIMD chunks.
const group = guts.MaxSIMD * guts.ChunkSize

// compressGroup adds MaxSIMD whole chunks; the chunk count is a multiple of MaxSIMD.
func (h *blake3Hash) compressGroup(g *[group]byte) {
	node := guts.CompressBuffer(g, group, &guts.IV, h.chunks, 0)
	h.push(guts.ChainingValue(node), bits.TrailingZeros(guts.MaxSIMD))
}

// scratch makes tmp if it is not made yet.
func (h *blake3Hash) scratch() {
	if h.tmp == nil {
		h.tmp = new([group]byte)
	}
}

// settle turns a pending group into the usual form: its chunks but the last compressed one at a
// time, the last one kept. The state is the same.
func (h *blake3Hash) settle() {
	if !h.pending {
		return
	}
	h.pending = false
	last := group - guts.ChunkSize
	for off := 0; off < last; off += guts.ChunkSize {
		h.push(guts.ChainingValue(guts.CompressChunk(h.tmp[off:off+guts.ChunkSize], &guts.IV, h.chunks, 0)), 0)
	}
	h.buflen = copy(h.buf[:], h.tmp[last:])
}

// Sum appends the 32-byte digest of what was written; the state is not changed.
func (h *blake3Hash) Sum(b []byte) []byte {
	h.settle()
	node := guts.CompressChunk(h.buf[:h.buflen], &guts.IV, h.chunks, 0)
	for i := bits.TrailingZeros64(h.chunks); i < bits.Len64(h.chunks); i++ {
		if h.chunks&(1<<i) != 0 {
			node = guts.ParentNode(h.stack[i], guts.ChainingValue(node), &guts.IV, 0)
		}
	}
	node.Flags |= guts.FlagRoot
	out := guts.WordsToBytes(guts.CompressNode(node))
	return append(b, out[:32]...)
}

// blake3Magic starts a saved state.
const blake3Magic = "myftp-blake3-v1\x00"

// MarshalBinary saves the state: the chunk count, the kept chunk, and the chaining values of the
// complete subtrees.
func (h *blake3Hash) MarshalBinary() ([]byte, error) {
	h.settle()
	b := append([]byte(blake3Magic), make([]byte, 10)...)
	binary.BigEndian.PutUint64(b[len(blake3Magic):], h.chunks)
	binary.BigEndian.PutUint16(b[len(blake3Magic)+8:], uint16(h.buflen))
	b = append(b, h.buf[:h.buflen]...)
	for i := 0; i < 64; i++ {
		if h.chunks&(1<<i) != 0 {
			for _, w := range h.stack[i] {
				b = binary.BigEndian.AppendUint32(b, w)
			}
		}
	}
	return b, nil
}

var errBLAKE3State = errors.New("checksum: not a saved blake3 state")

// UnmarshalBinary restores a state saved by MarshalBinary.
func (h *blake3Hash) UnmarshalBinary(b []byte) error {
	head := len(blake3Magic) + 10
	if len(b) < head || string(b[:len(blake3Magic)]) != blake3Magic {
		return errBLAKE3State
	}
	chunks := binary.BigEndian.Uint64(b[len(blake3Magic):])
	buflen := int(binary.BigEndian.Uint16(b[len(blake3Magic)+8:]))
	if buflen > guts.ChunkSize || chunks > 0 && buflen == 0 || len(b) != head+buflen+32*bits.OnesCount64(chunks) {
		return errBLAKE3State
	}
	var s blake3Hash
	s.chunks, s.buflen = chunks, copy(s.buf[:], b[head:head+buflen])
	rest := b[head+buflen:]
	for i := 0; i < 64; i++ {
		if chunks&(1<<i) != 0 {
			for j := range s.stack[i] {
				s.stack[i][j] = binary.BigEndian.Uint32(rest)
				rest = rest[4:]
			}
		}
	}
	*h = s
	return nil
}
