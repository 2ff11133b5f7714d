package ftpdoor_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/myftp/myftp/core/ftpdoor"
)

// rawFTP is a minimal FTP client over net/textproto, for what the real clients cannot show:
// exact reply codes, data connections from another address or without TLS session reuse, a TLS
// data stream cut without close_notify. Every read and write has a deadline.
type rawFTP struct {
	t         testing.TB
	e         *env
	raw       net.Conn // the TCP control connection
	text      *textproto.Conn
	tls       *tls.Config // trusts the server's certificate; its session cache lets data connections resume
	protected bool        // PROT P: data connections run TLS
}

// ioTimeout bounds every exchange of the Go client.
const ioTimeout = 30 * time.Second

// clientTLS trusts the server's certificate (it names 127.0.0.1) and caches sessions.
func (e *env) clientTLS() *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(e.Cert.Leaf)
	if e.Cert.Leaf == nil {
		c, err := x509.ParseCertificate(e.Cert.Certificate[0])
		must(e.t, err)
		pool.AddCert(c)
	}
	return &tls.Config{RootCAs: pool, ServerName: e.host, ClientSessionCache: tls.NewLRUClientSessionCache(8)}
}

// dialRaw connects to the FTP door, from the address local (empty: any), and reads nothing.
func (e *env) dialRaw(t testing.TB, local string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: ioTimeout}
	if local != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(local)}
	}
	c, err := d.Dial("tcp", e.FTPAddr)
	must(t, err)
	c.SetDeadline(time.Now().Add(ioTimeout))
	t.Cleanup(func() { c.Close() })
	return c
}

// newRaw makes a client of a TCP connection to the door (TLS at once in implicit mode); it
// reads nothing.
func (e *env) newRaw(t testing.TB, raw net.Conn) *rawFTP {
	f := &rawFTP{t: t, e: e, raw: raw, tls: e.clientTLS()}
	var ctl net.Conn = raw
	if e.mode == ftpdoor.TLSImplicit {
		ctl = tls.Client(raw, f.tls)
	}
	f.text = textproto.NewConn(ctl)
	return f
}

// connect opens a control connection and reads the greeting.
func (e *env) connect(t testing.TB) *rawFTP {
	t.Helper()
	f := e.newRaw(t, e.dialRaw(t, ""))
	f.must(220, "")
	return f
}

// login connects, secures the control and data connections as the mode wants, and logs in.
func (e *env) login(t testing.TB, user, pass string) *rawFTP {
	t.Helper()
	f := e.connect(t)
	if e.mode == ftpdoor.TLSRequired {
		f.authTLS()
	}
	f.must(331, "USER %s", user)
	f.must(230, "PASS %s", pass)
	if e.mode != ftpdoor.TLSOff {
		f.must(200, "PBSZ 0")
		f.must(200, "PROT P")
		f.protected = true
	}
	f.must(200, "TYPE I")
	return f
}

// authTLS runs AUTH TLS and the handshake.
func (f *rawFTP) authTLS() {
	f.t.Helper()
	f.must(234, "AUTH TLS")
	tc := tls.Client(f.raw, f.tls)
	must(f.t, tc.Handshake())
	f.text = textproto.NewConn(tc)
}

// cmd sends a command (an empty format sends nothing) and returns the reply.
func (f *rawFTP) cmd(format string, args ...any) (int, string, error) {
	f.t.Helper()
	f.raw.SetDeadline(time.Now().Add(ioTimeout))
	if format != "" {
		if err := f.text.PrintfLine(format, args...); err != nil {
			return 0, "", err
		}
	}
	return f.reply()
}

// reply reads one reply.
func (f *rawFTP) reply() (int, string, error) {
	f.raw.SetDeadline(time.Now().Add(ioTimeout))
	code, msg, err := f.text.ReadResponse(0)
	var pe textproto.ProtocolError
	if errors.As(err, &pe) {
		f.t.Fatalf("malformed reply: %v", err)
	}
	return code, msg, err
}

// must sends a command and fails the test unless the reply has this code.
func (f *rawFTP) must(code int, format string, args ...any) string {
	f.t.Helper()
	got, msg, err := f.cmd(format, args...)
	if err != nil || got != code {
		f.t.Fatalf("%q: reply %d %q, %v; want %d", redact(format, args), got, msg, err, code)
	}
	return msg
}

// mustReply reads a reply and fails the test unless it has this code.
func (f *rawFTP) mustReply(code int) string {
	f.t.Helper()
	return f.must(code, "")
}

// redact shows a command for a failure message, without the password.
func redact(format string, args []any) string {
	switch {
	case strings.HasPrefix(format, "PASS"):
		return "PASS ..."
	case format == "":
		return "(reply)"
	}
	return fmt.Sprintf(format, args...)
}

// epsv asks for a passive data port and returns the address to connect to.
func (f *rawFTP) epsv() string {
	f.t.Helper()
	msg := f.must(229, "EPSV")
	i, j := strings.Index(msg, "(|||"), strings.LastIndex(msg, "|)")
	if i < 0 || j < i+4 {
		f.t.Fatalf("EPSV reply %q: no port", msg)
	}
	return net.JoinHostPort(f.e.host, msg[i+4:j])
}

// dataOpts say how a data connection is opened.
type dataOpts struct {
	from     string // local IP address; empty: any
	noResume bool   // a TLS handshake that does not resume the control connection's session
}

// dataConn is a data connection: conn is what to read and write (TLS when protected), raw the
// TCP connection under it.
type dataConn struct {
	conn net.Conn
	raw  net.Conn
	tls  *tls.Conn // nil when not protected
}

// dial connects a data connection to addr (from epsv); the TLS handshake, if any, starts with
// the first read or write, or handshake.
func (f *rawFTP) dial(addr string, o dataOpts) *dataConn {
	f.t.Helper()
	d := net.Dialer{Timeout: ioTimeout}
	if o.from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(o.from)}
	}
	raw, err := d.Dial("tcp", addr)
	must(f.t, err)
	raw.SetDeadline(time.Now().Add(ioTimeout))
	f.t.Cleanup(func() { raw.Close() })
	dc := &dataConn{conn: raw, raw: raw}
	if f.protected {
		cfg := f.tls
		if o.noResume {
			cfg = f.tls.Clone()
			cfg.ClientSessionCache = nil
		}
		dc.tls = tls.Client(raw, cfg)
		dc.conn = dc.tls
	}
	return dc
}

// open runs a transfer command on a fresh passive data connection: it sends EPSV, connects,
// sends the command and reads the first reply, which is returned with the connection.
func (f *rawFTP) open(o dataOpts, format string, args ...any) (*dataConn, int, string) {
	f.t.Helper()
	dc := f.dial(f.epsv(), o)
	code, msg, err := f.cmd(format, args...)
	must(f.t, err)
	return dc, code, msg
}

// retr downloads a file and returns its bytes, failing the test unless it ends with 226.
func (f *rawFTP) retr(name string) []byte {
	f.t.Helper()
	dc, code, msg := f.open(dataOpts{}, "RETR %s", name)
	if code != 150 {
		f.t.Fatalf("RETR %s: %d %s", name, code, msg)
	}
	data, err := io.ReadAll(dc.conn)
	must(f.t, err)
	dc.conn.Close()
	f.mustReply(226)
	return data
}

// stor uploads data, closing the data connection cleanly (close_notify over TLS), and returns
// the final reply.
func (f *rawFTP) stor(name string, data []byte) (int, string) {
	f.t.Helper()
	dc, code, msg := f.open(dataOpts{}, "STOR %s", name)
	if code != 150 {
		return code, msg
	}
	_, werr := dc.conn.Write(data)
	dc.conn.Close()
	code, msg, err := f.reply()
	if err != nil {
		f.t.Fatalf("STOR %s: no final reply: %v (write: %v)", name, err, werr)
	}
	return code, msg
}

// mustReplyAny reads a reply, failing the test only if there is none.
func (f *rawFTP) mustReplyAny() (int, string) {
	f.t.Helper()
	code, msg, err := f.reply()
	must(f.t, err)
	return code, msg
}

// closed fails the test unless the server has closed the control connection (after any replies
// still on the way).
func (f *rawFTP) closed(what string) {
	f.t.Helper()
	for range 10 {
		code, msg, err := f.reply()
		if err != nil {
			return
		}
		f.t.Logf("%s: reply %d %s before the close", what, code, msg)
	}
	f.t.Fatalf("%s: the connection is still open", what)
}
