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
// at a time.
type packetConn struct {
	ssh.Channel
	in, out packetCounter
	end     func() // closes the connection

	mu       sync.Mutex
	received int64 // whole packets read
	answered int64 // whole packets written
	endAt    int64 // end once answered reaches it; 0: not ending
}

func (c *packetConn) Read(p []byte) (int, error) {
	n, err := c.Channel.Read(p)
	if k := c.in.count(p[:n]); k > 0 {
		c.mu.Lock()
		c.received += k
		c.mu.Unlock()
	}
	return n, err
}

func (c *packetConn) Write(p []byte) (int, error) {
	n, err := c.Channel.Write(p)
	if k := c.out.count(p[:n]); k > 0 {
		c.mu.Lock()
		c.answered += k
		done := c.endAt > 0 && c.answered >= c.endAt
		c.mu.Unlock()
		if done {
			c.end()
		}
	}
	return n, err
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

// packetCounter finds the ends of length-prefixed packets in a byte stream.
type packetCounter struct {
	head  [4]byte // the length of the current packet, as far as it came
	nhead int
	left  uint32 // bytes of the current packet still to come after its length
}

// count consumes b and returns how many packets it ended.
func (pc *packetCounter) count(b []byte) int64 {
	var ended int64
	for len(b) > 0 {
		if pc.nhead < len(pc.head) {
			k := copy(pc.head[pc.nhead:], b)
			pc.nhead, b = pc.nhead+k, b[k:]
			if pc.nhead < len(pc.head) {
				break
			}
			pc.left = binary.BigEndian.Uint32(pc.head[:])
		} else {
			k := min(uint32(len(b)), pc.left)
			pc.left, b = pc.left-k, b[k:]
		}
		if pc.left == 0 {
			pc.nhead = 0
			ended++
		}
	}
	return ended
}
