package server

import (
	"github.com/myftp/myftp/core/logger"
	"github.com/myftp/myftp/lib/account"
	"github.com/myftp/myftp/lib/homefs"
	"github.com/myftp/myftp/lib/proto"
)

// Uploads are published in the background, so that the uploads a client pipelines (mput) share
// the flushes that make them durable (group commit) instead of each waiting for its own, and the
// session reads the next upload meanwhile. A done that verifies starts its upload's publishing
// and holds a place in the reply stream; the replies after it are held behind it, so replies keep
// the order of the requests. Whichever goroutine finishes the first held publishing writes the
// replies that are then ready and flushes them. The session settles (waits until nothing is held)
// before any request other than put and done, which might look at what was published, and when
// too much is held.
const (
	maxPublishing = 64  // uploads of one session being published at once
	maxHeld       = 512 // replies held behind them
)

// held is a reply waiting for the uploads published before it: either a reply, or the place of a
// publishing upload's reply.
type held struct {
	rep proto.Reply
	pub *publishing
}

// publishing is a verified upload being published.
type publishing struct {
	up       *upload
	acct     account.Account // the session's account when the upload was verified
	sum      string
	finished bool // guarded by the session's wmu
	entry    homefs.Entry
	err      error
}

// publish starts publishing the verified upload up, whose checksum is sum, and holds its reply's
// place.
func (s *session) publish(up *upload, sum string) {
	p := &publishing{up: up, acct: s.acct, sum: sum}
	s.wmu.Lock()
	s.held = append(s.held, held{pub: p})
	s.publishing++
	s.wmu.Unlock()
	go func() {
		entry, err := up.Publish()
		s.wmu.Lock()
		defer s.wmu.Unlock()
		p.entry, p.err, p.finished = entry, err, true
		s.release()
	}()
}

// release writes the held replies that are ready, in order, up to the first upload still being
// published, and flushes them. s.wmu is held.
func (s *session) release() {
	n := 0
	for _, h := range s.held {
		if h.pub != nil {
			if !h.pub.finished {
				break
			}
			s.publishing--
			s.published(h.pub)
		} else {
			s.writeReply(h.rep)
		}
		n++
	}
	if n == 0 {
		return
	}
	s.held = s.held[n:]
	if len(s.held) == 0 {
		s.held = nil
	}
	s.flushLocked()
	s.settled.Broadcast()
}

// settle waits until no reply is held: every upload being published is stored (or failed) and its
// reply written.
func (s *session) settle() {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	for len(s.held) > 0 {
		s.settled.Wait()
	}
}

// mustSettle reports whether too much is held for the session to go on reading.
func (s *session) mustSettle() bool {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.publishing >= maxPublishing || len(s.held) >= maxHeld
}

// published logs the outcome of a publishing and writes the reply to its done. s.wmu is held.
func (s *session) published(p *publishing) {
	up := p.up
	s.logTransferOf(p.acct, logger.Incoming, up.Path(), up.Written()-up.Offset(), up.start, p.err == nil)
	if p.err != nil {
		s.log.Info("upload failed", "path", up.Path(), "err", p.err)
		s.writeReply(s.replyFor(p.err))
		return
	}
	s.log.Info("upload complete", "path", up.Path(), "size", p.entry.Size, up.Checksum(), p.sum, "resumed_at", up.Offset())
	s.writeReply(digests(proto.Reply{Code: proto.CodeTransferDone, Msg: "File [" + p.entry.Name + "] upload successful",
		Size: p.entry.Size, Offset: up.Offset()}, up.Checksum(), p.sum))
}
