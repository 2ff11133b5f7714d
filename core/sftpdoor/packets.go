package sftpdoor

import (
	"encoding/binary"
	"sync"

	"golang.org/x/crypto/ssh"
)

// packetConn is an sftp channel as the request server uses it. It counts the packets that come
// in and the replies that go out (an SFTP packet is a uint32 length and that many bytes, and
// every request gets one reply), so that a session that must end (its account is gone, or the
// server stops and its last file was closed) can end once the requests received so far are
// answered: the client learns that its file was stored, or why it is refused, before the
// connection closes. Only the request server reads (one goroutine), and it writes one packet
// at a time, with one call or two (a header, then its data).
//
// It also serves OpenSSH's limits@openssh.com extension, which pkg/sftp does not know: the
// server's VERSION reply announces it, and the reply pkg/sftp gives to the request (a status,
// "operation unsupported", sent in its turn) is replaced by the limits. OpenSSH's sftp (8.6 and
// later) then reads and writes up to limitsRW bytes a request, as with its own sftp-server,
// instead of 32 KiB: eight times fewer requests, replies and writes to the file for the same
// data. Small replies are assembled whole so that they can be changed, and so that each goes
// out in one SSH packet (pkg/sftp writes a header and a payload apart).
type packetConn struct {
	ssh.Channel
	in  packetScanner
	end func() // closes the connection

	wmu     sync.Mutex
	pending []byte // the start of the reply being written: all of it if it is small
	rest    int64  // bytes of a large reply still to pass through

	mu        sync.Mutex
	received  int64    // whole packets read
	answered  int64    // whole packets written
	endAt     int64    // end once answered reaches it; 0: not ending
	limits    []uint32 // ids of the limits requests received and not yet answered
	versioned bool     // the VERSION reply went out
}

// SFTP packet types and the status code the door looks for (draft-ietf-secsh-filexfer-02).
const (
	fxpVersion       = 2
	fxpStatus        = 101
	fxpExtended      = 200
	fxpExtendedReply = 201
	fxOpUnsupported  = 8
)

const (
	limitsExt = "limits@openssh.com"
	// limitsPacket is the longest packet the request server reads (pkg/sftp refuses a longer
	// one), and limitsRW the most data a read or write may carry within it, as OpenSSH's
	// sftp-server states them.
	limitsPacket = 256 << 10
	limitsRW     = limitsPacket - 1024
	// maxAssembled is the longest reply assembled whole before it is written; longer ones (file
	// data, long listings) pass through as they come.
	maxAssembled = 4 << 10
)

func (c *packetConn) Read(p []byte) (int, error) {
	n, err := c.Channel.Read(p)
	c.in.scan(p[:n], c.receivedPacket)
	return n, err
}

// receivedPacket counts a request read whole, and notes it if it asks for the limits.
func (c *packetConn) receivedPacket(size uint32, first []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.received++
	if id, ok := limitsRequest(size, first); ok {
		c.limits = append(c.limits, id)
	}
}

// limitsRequest reports whether a packet of size bytes that starts with first is a limits
// request (type, id, the extension's name), and returns its id.
func limitsRequest(size uint32, first []byte) (uint32, bool) {
	const want = 1 + 4 + 4 + len(limitsExt)
	if size != uint32(want) || len(first) < want || first[0] != fxpExtended ||
		binary.BigEndian.Uint32(first[5:]) != uint32(len(limitsExt)) || string(first[9:want]) != limitsExt {
		return 0, false
	}
	return binary.BigEndian.Uint32(first[1:]), true
}

func (c *packetConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	n := len(p)
	for len(p) > 0 {
		rest, err := c.writeSome(p)
		if err != nil {
			return n - len(p), err
		}
		p = rest
	}
	return n, nil
}

// writeSome writes the start of p, up to the end of a reply at most, and returns the rest.
// c.wmu is held.
func (c *packetConn) writeSome(p []byte) ([]byte, error) {
	if c.rest > 0 { // inside a large reply
		k := int(min(int64(len(p)), c.rest))
		if _, err := c.Channel.Write(p[:k]); err != nil {
			return p, err
		}
		if c.rest -= int64(k); c.rest == 0 {
			c.answeredPacket()
		}
		return p[k:], nil
	}
	if len(c.pending) == 0 && len(p) >= 4 {
		if size := 4 + int64(binary.BigEndian.Uint32(p)); size > maxAssembled {
			k := int(min(int64(len(p)), size))
			if _, err := c.Channel.Write(p[:k]); err != nil {
				return p, err
			}
			if c.rest = size - int64(k); c.rest == 0 {
				c.answeredPacket()
			}
			return p[k:], nil
		}
	}
	if len(c.pending) < 4 { // the length came in pieces
		k := min(4-len(c.pending), len(p))
		c.pending, p = append(c.pending, p[:k]...), p[k:]
		if len(c.pending) < 4 {
			return p, nil
		}
		if size := 4 + int64(binary.BigEndian.Uint32(c.pending)); size > maxAssembled {
			_, err := c.Channel.Write(c.pending)
			c.pending, c.rest = c.pending[:0], size-4
			return p, err
		}
	}
	size := 4 + int(binary.BigEndian.Uint32(c.pending))
	k := min(size-len(c.pending), len(p))
	c.pending, p = append(c.pending, p[:k]...), p[k:]
	if len(c.pending) < size {
		return p, nil
	}
	_, err := c.Channel.Write(c.amend(c.pending))
	c.pending = c.pending[:0]
	if err == nil {
		c.answeredPacket()
	}
	return p, err
}

// amend returns the whole reply pkt as the client gets it: the first VERSION announces the
// limits extension, and the status pkg/sftp gives to a limits request becomes the limits.
func (c *packetConn) amend(pkt []byte) []byte {
	if len(pkt) < 5 {
		return pkt
	}
	switch pkt[4] {
	case fxpVersion:
		c.mu.Lock()
		first := !c.versioned
		c.versioned = true
		c.mu.Unlock()
		if first {
			pkt = appendString(appendString(pkt, limitsExt), "1")
			binary.BigEndian.PutUint32(pkt, uint32(len(pkt)-4))
		}
	case fxpStatus:
		if len(pkt) >= 13 && binary.BigEndian.Uint32(pkt[9:]) == fxOpUnsupported {
			if id := binary.BigEndian.Uint32(pkt[5:]); c.takeLimits(id) {
				return limitsReply(id)
			}
		}
	}
	return pkt
}

// takeLimits reports whether id is that of a limits request waiting for its answer, which it
// then no longer is.
func (c *packetConn) takeLimits(id uint32) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, l := range c.limits {
		if l == id {
			c.limits = append(c.limits[:i], c.limits[i+1:]...)
			return true
		}
	}
	return false
}

// limitsReply is the reply to the limits request id: the longest packet, read and write, and
// the number of open handles, which the door does not limit (zero: not stated; OpenSSH's
// client then keeps its 64 requests in flight).
func limitsReply(id uint32) []byte {
	b := make([]byte, 4, 4+1+4+4*8) // the length, set below
	b = append(b, fxpExtendedReply)
	b = binary.BigEndian.AppendUint32(b, id)
	for _, v := range []uint64{limitsPacket, limitsRW, limitsRW, 0} {
		b = binary.BigEndian.AppendUint64(b, v)
	}
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b
}

func appendString(b []byte, s string) []byte {
	return append(binary.BigEndian.AppendUint32(b, uint32(len(s))), s...)
}

// answeredPacket counts a reply written whole, and ends the connection if it was the last
// one awaited.
func (c *packetConn) answeredPacket() {
	c.mu.Lock()
	c.answered++
	done := c.endAt > 0 && c.answered >= c.endAt
	c.mu.Unlock()
	if done {
		c.end()
	}
}

// endWhenAnswered makes the channel end the connection once every request received so far is
// answered, and reports whether one is not yet; if none is, the caller ends it.
func (c *packetConn) endWhenAnswered() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.answered >= c.received {
		return false
	}
	if c.endAt == 0 {
		c.endAt = c.received
	}
	return true
}

// scanKeep is how many bytes of each packet a packetScanner keeps: enough for a limits request.
const scanKeep = 32

// packetScanner finds the ends of length-prefixed packets in a byte stream, and keeps the first
// bytes of each.
type packetScanner struct {
	head   [4]byte // the length of the current packet, as far as it came
	nhead  int
	size   uint32 // the length of the current packet
	left   uint32 // bytes of the current packet still to come after its length
	first  [scanKeep]byte
	nfirst int
}

// scan consumes b and calls ended for each packet that ends in it, with its length and its
// first bytes (at most scanKeep), which ended must not keep.
func (s *packetScanner) scan(b []byte, ended func(size uint32, first []byte)) {
	for len(b) > 0 {
		if s.nhead < len(s.head) {
			k := copy(s.head[s.nhead:], b)
			s.nhead, b = s.nhead+k, b[k:]
			if s.nhead < len(s.head) {
				break
			}
			s.size = binary.BigEndian.Uint32(s.head[:])
			s.left, s.nfirst = s.size, 0
		} else {
			k := min(uint32(len(b)), s.left)
			s.nfirst += copy(s.first[s.nfirst:], b[:k])
			s.left, b = s.left-k, b[k:]
		}
		if s.left == 0 {
			s.nhead = 0
			ended(s.size, s.first[:s.nfirst])
		}
	}
}
