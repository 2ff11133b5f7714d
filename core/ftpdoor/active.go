package ftpdoor

import (
	"crypto/tls"
	"errors"
	"io"
	"os"
	"time"
)

// The engine dials active-mode data connections itself (PORT, EPRT), with no hook to wrap them
// in an idleConn as passive ones are, and puts no deadline on them. The door bounds them where
// they reach it: io.Copy hands the connection to an upload's ReadFrom and to a download's WriteTo,
// which set a deadline before each read, and before each write of at most maxBoundedWrite bytes.
// The writes are cut small because over TLS (the engine's TLS is above the TCP connection here) a
// write that times out part way leaves the connection unusable: a client that reads slowly, but
// reads, must not be cut. (A transfer in ASCII mode goes through the engine's converter and is
// not bounded; the door turns ASCII conversion off.)

// maxBoundedWrite is the most a bounded write of an active data connection sends under one
// deadline: one TLS record.
const maxBoundedWrite = 16 << 10

// deadliner is a connection whose deadlines can be set (net.Conn, *tls.Conn).
type deadliner interface {
	SetReadDeadline(time.Time) error
	SetWriteDeadline(time.Time) error
}

// boundedAlready reports whether c is a passive data connection (idleConn bounds it), possibly
// under TLS.
func boundedAlready(c any) bool {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	_, ok := c.(*dataConn)
	return ok
}

// activeReader bounds each read of an active data connection by idle.
type activeReader struct {
	r    io.Reader
	c    deadliner
	idle time.Duration
}

func (a activeReader) Read(p []byte) (int, error) {
	a.c.SetReadDeadline(time.Now().Add(a.idle))
	n, err := a.r.Read(p)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		err = &IdleError{Limit: a.idle}
	}
	return n, err
}

// boundReads returns r with its reads bounded by the session's idle_timeout if r is an active
// data connection, else r.
func (s *session) boundReads(r io.Reader) io.Reader {
	c, ok := r.(deadliner)
	if !ok || boundedAlready(r) || s.d.cfg.IdleTimeout <= 0 {
		return r
	}
	return activeReader{r: r, c: c, idle: s.d.cfg.IdleTimeout}
}

// activeWriter bounds each write of an active data connection by write, in pieces of at most
// maxBoundedWrite bytes.
type activeWriter struct {
	w     io.Writer
	c     deadliner
	write time.Duration
}

func (a activeWriter) Write(p []byte) (int, error) {
	written := 0
	for written < len(p) {
		k := min(len(p)-written, maxBoundedWrite)
		a.c.SetWriteDeadline(time.Now().Add(a.write))
		n, err := a.w.Write(p[written : written+k])
		written += n
		if errors.Is(err, os.ErrDeadlineExceeded) {
			// Over TLS, the engine's Close would try close_notify on a connection whose client
			// reads nothing, and report that failure rather than this one: the TCP connection
			// under it is closed now, which the engine takes as a connection already gone.
			if tc, ok := a.w.(*tls.Conn); ok {
				tc.NetConn().Close()
			}
			return written, &IdleError{Write: true, Limit: a.write}
		}
		if err != nil {
			return written, err
		}
	}
	return written, nil
}

// boundWrites returns w with its writes bounded by the session's write_timeout if w is an
// active data connection, else w.
func (s *session) boundWrites(w io.Writer) io.Writer {
	c, ok := w.(deadliner)
	if !ok || boundedAlready(w) || s.d.cfg.WriteTimeout <= 0 {
		return w
	}
	return activeWriter{w: w, c: c, write: s.d.cfg.WriteTimeout}
}
