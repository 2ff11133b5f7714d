package sftpdoor

import (
	"encoding/binary"
	"sync"

	"golang.org/x/crypto/ssh"
)

// packetConn is an sftp channel as the door's server uses it. It counts the packets that come
// in and the replies that go out (an SFTP packet is a uint32 length and that many bytes, and
// every request gets one reply), so that a session that must end (its account is gone, or the
// server stops and its last file was closed) can end once the requests received so far are
// answered: the client learns that its file was stored, or why it is refused, before the
// connection closes. Only the server reads and writes (one goroutine), a whole reply in each
// write.
type packetConn struct {
	ssh.Channel
	in  packetScanner
	end func() // closes the connection

	mu       sync.Mutex
	received int64 // whole packets read
	answered int64 // whole packets written
	endAt    int64 // end once answered reaches it; 0: not ending
}

const (
	// limitsExt is OpenSSH's extension by which a client learns how much it may read and write
	// a request. OpenSSH's sftp (8.6 and later) then reads and writes up to limitsRW bytes a
	// request, as with its own sftp-server, instead of 32 KiB: eight times fewer requests,
	// replies and writes to the file for the same data.
	limitsExt = "limits@openssh.com"
	// limitsPacket is the longest packet the door reads, and limitsRW the most data a read or
	// write may carry within it, as OpenSSH's sftp-server states them.
	limitsPacket = 256 << 10
	limitsRW     = limitsPacket - 1024
)

func (c *packetConn) Read(p []byte) (int, error) {
	n, err := c.Channel.Read(p)
	c.in.scan(p[:n], c.receivedPacket)
	return n, err
}

// receivedPacket counts a request read whole.
func (c *packetConn) receivedPacket(uint32, []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.received++
}

// Write writes one whole reply, as the server does with each, and counts it.
func (c *packetConn) Write(p []byte) (int, error) {
	n, err := c.Channel.Write(p)
	if err == nil {
		c.answeredPacket()
	}
	return n, err
}

// limitsReply is the reply to the limits request id: the longest packet, read and write, and
// the number of files and directories a channel may hold open.
func limitsReply(id uint32) []byte {
	b := make([]byte, 4, 4+1+4+4*8) // the length, set below
	b = append(b, fxpExtendedReply)
	b = binary.BigEndian.AppendUint32(b, id)
	for _, v := range []uint64{limitsPacket, limitsRW, limitsRW, maxHandles} {
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
