package ftpdoor

import (
	"errors"
	"io"
	"net"
	"time"
)

// An upload the store refuses mid-way (the quota passed, the disk full, the store unavailable) is
// answered with a reply on the control connection (552, 550), after the data connection is
// closed: RFC 959 (3.2) has the server close it on an error it cannot recover from, and says no
// more. But a client that has not finished sending cannot hear that reply if the data connection
// is simply closed: the kernel answers what still arrives for a closed socket with a reset, and
// curl and lftp, whose next send then fails with "Connection reset by peer", give up on the
// transfer without reading the control connection. Python's ftplib reads it; vsftpd, pure-ftpd
// and ProFTPD (whose lingering close waits for readability, not for the client's end) close at
// once and leave the same clients with the same reset.
//
// So the door closes the data connection in stages, as HTTP servers do (RFC 9112, 9.6; Apache
// httpd's lingering close): it stops storing at the refusal, reads and discards what the client
// still sends until the client ends the connection, and only then closes it and replies. The
// client, done sending, reads the reply and shows why. A client that keeps sending past the
// bounds (Config.RefusedDrainSize bytes, Config.RefusedDrainTime) is cut off as before, so that
// nobody can hold the transfer, and the session, by streaming garbage. Nothing of what is
// discarded reaches the store or the quota: the stream was refused before it.

// drainRefused reads and discards what the client still sends on r, the data connection of an
// upload the store refused, until the client ends it or the door's bounds are reached, and logs
// which. r must be the connection itself (a net.Conn, or TLS over one): without a read deadline
// to set, nothing is read.
func (s *session) drainRefused(r io.Reader, vpath string) {
	c, ok := r.(interface{ SetReadDeadline(time.Time) error })
	size, wait := s.d.cfg.RefusedDrainSize, s.d.cfg.RefusedDrainTime
	if !ok || size <= 0 || wait <= 0 || c.SetReadDeadline(time.Now().Add(wait)) != nil {
		return
	}
	n, err := io.CopyN(io.Discard, r, size)
	var ne net.Error
	switch {
	case err == nil:
		s.log.Info("refused upload cut: the client sent more than the door discards", "path", vpath, "discarded", n)
	case errors.As(err, &ne) && ne.Timeout():
		s.log.Info("refused upload cut: the client did not end it in time", "path", vpath, "discarded", n, "wait", wait)
	default: // io.EOF: the client ended it; or an ABOR, a reset, a TLS stream cut
		s.log.Info("refused upload drained", "path", vpath, "discarded", n, "end", err)
	}
}
