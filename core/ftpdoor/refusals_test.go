package ftpdoor_test

import (
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/myftp/myftp/core/admission"
	"github.com/myftp/myftp/core/ftpdoor"
	"github.com/myftp/myftp/core/server/servertest"
)

// TestUserBeforeAuthTLS: when TLS is required, USER in clear text gets 421 and the connection
// is closed; the password is never asked for.
func TestUserBeforeAuthTLS(t *testing.T) {
	t.Parallel()
	e := startDefault(t)
	e.user("jack", 0)
	f := e.connect(t)
	f.must(421, "USER jack")
	f.closed("after USER in clear text")
}

// TestWrongPassword: a wrong password gets 530 and the connection is closed (the engine closes
// it after any failed PASS); curl reports a failed login (exit 67) and lftp fails.
func TestWrongPassword(t *testing.T) {
	t.Parallel()
	e := startDefault(t)
	e.user("kate", 0)
	f := e.connect(t)
	f.authTLS()
	f.must(331, "USER kate")
	if msg := f.must(530, "PASS wrong"); !strings.Contains(msg, "login incorrect") {
		t.Errorf("530 %q, want it to say login incorrect", msg)
	}
	f.closed("after a wrong password")

	prog := need(t, "curl", "curl")
	r := run(t, t.TempDir(), prog, "-q", "-sS", "--ssl-reqd", "--cacert", e.ca, "-u", "kate:wrong", "ftp://"+e.FTPAddr+"/")
	if r.code != 67 {
		t.Errorf("curl with a wrong password: %v; want exit 67 (login denied)", r)
	}
}

// TestDataConnectionFromAnotherAddress: a passive data connection from another address than
// the control connection's (127.0.0.2) is closed at once and never carries a byte, while the
// client's own connection to the same port gets the file; the port serves one transfer, so a
// second RETR without a new EPSV cannot reach the other address either. With TLS, whether or not
// it requires session reuse (the other address does a full handshake), and without TLS.
func TestDataConnectionFromAnotherAddress(t *testing.T) {
	t.Parallel()
	reuseOff := doorDefaults()
	reuseOff.RequireTLSReuse = false
	plain := doorDefaults()
	plain.TLSMode = ftpdoor.TLSOff
	for name, fc := range map[string]ftpdoor.Config{"tls": doorDefaults(), "tls-no-reuse": reuseOff, "plain": plain} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := start(t, servertest.Options{FTP: &fc})
			e.user("leo", 0)
			const secret = "leo's secret"
			writeFile(t, e.Home("leo"), "secret.txt", []byte(secret))
			f := e.login(t, "leo", "leo-pw")

			addr := f.epsv()
			thief := f.dial(addr, dataOpts{from: "127.0.0.2", noResume: true})
			f.text.PrintfLine("RETR secret.txt")
			own := f.dial(addr, dataOpts{})
			f.mustReply(150)
			got, err := io.ReadAll(own.conn)
			must(t, err)
			f.mustReply(226)
			if string(got) != secret {
				t.Fatalf("RETR on the client's own connection: %q, want %q", got, secret)
			}
			if code, msg := f.simple("RETR secret.txt"); code == 150 {
				t.Fatalf("a second RETR on a used passive port: %d %s", code, msg)
			}
			stolen, err := io.ReadAll(thief.conn)
			if len(stolen) > 0 {
				t.Fatalf("the connection from 127.0.0.2 received %q", stolen)
			}
			t.Logf("the connection from 127.0.0.2 read nothing: %v", err)
		})
	}
}

// TestDataConnectionWithoutTLSReuse: with RequireTLSReuse, a protected data connection that
// does a full TLS handshake instead of resuming the control connection's session is refused: a
// download sends nothing and an upload leaves no file. Without RequireTLSReuse it is served.
func TestDataConnectionWithoutTLSReuse(t *testing.T) {
	t.Parallel()
	e := startDefault(t)
	e.user("mia", 0)
	writeFile(t, e.Home("mia"), "secret.txt", []byte("mia's secret"))
	f := e.login(t, "mia", "mia-pw")

	dc, code, msg := f.open(dataOpts{noResume: true}, "RETR secret.txt")
	if code == 150 {
		got, err := io.ReadAll(dc.conn)
		if len(got) > 0 || err == nil {
			t.Fatalf("RETR without session reuse read %q, %v; want the handshake refused", got, err)
		}
		code, msg = f.mustReplyAny()
	}
	if code < 400 {
		t.Fatalf("RETR without session reuse: %d %s; want a refusal", code, msg)
	}
	t.Logf("RETR without session reuse: %d %s", code, msg)

	dc, code, msg = f.open(dataOpts{noResume: true}, "STOR planted.txt")
	if code == 150 {
		dc.conn.Write([]byte("planted"))
		dc.conn.Close()
		code, msg = f.mustReplyAny()
	}
	if code < 400 {
		t.Fatalf("STOR without session reuse: %d %s; want a refusal", code, msg)
	}
	absent(t, filepath.Join(e.Home("mia"), "planted.txt"))
	if got := f.retr("secret.txt"); string(got) != "mia's secret" {
		t.Fatalf("RETR with session reuse afterwards: %q", got)
	}

	fc := doorDefaults()
	fc.RequireTLSReuse = false
	e2 := start(t, servertest.Options{FTP: &fc})
	e2.user("mia", 0)
	writeFile(t, e2.Home("mia"), "secret.txt", []byte("mia's secret"))
	f2 := e2.login(t, "mia", "mia-pw")
	dc, code, msg = f2.open(dataOpts{noResume: true}, "RETR secret.txt")
	if code != 150 {
		t.Fatalf("RETR without session reuse, not required: %d %s", code, msg)
	}
	got, err := io.ReadAll(dc.conn)
	must(t, err)
	f2.mustReply(226)
	if string(got) != "mia's secret" {
		t.Fatalf("RETR without session reuse, not required: %q", got)
	}
}

// TestPoolFull: with two workers and a queue of one, two FTP control connections are served,
// a third waits in the queue, and a fourth is told 421 at once (its first line), in clear text
// before AUTH TLS, or over TLS in implicit mode. When a served session ends, the waiting one is
// greeted.
func TestPoolFull(t *testing.T) {
	t.Parallel()
	implicit := doorDefaults()
	implicit.TLSMode = ftpdoor.TLSImplicit
	for name, fc := range map[string]ftpdoor.Config{"explicit": doorDefaults(), "implicit": implicit} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := start(t, servertest.Options{FTP: &fc, Admission: admission.Config{PoolSize: 2, QueueSize: 1}})
			first := e.connect(t)
			e.connect(t)
			third := e.newRaw(t, e.dialRaw(t, ""))
			servertest.Eventually(t, "one connection waiting", func() bool { return e.Server.Stats().Waiting == 1 })
			fourth := e.connect421(t)
			if !strings.Contains(fourth, "busy") {
				t.Errorf("the fourth connection: 421 %q, want it to say the server is busy", fourth)
			}
			first.must(221, "QUIT")
			third.must(220, "")
			third.must(211, "FEAT") // served
		})
	}
}

// connect421 connects and fails the test unless the first reply is 421; it returns its text.
func (e *env) connect421(t testing.TB) string {
	t.Helper()
	f := e.newRaw(t, e.dialRaw(t, ""))
	code, msg, err := f.reply()
	if err != nil || code != 421 {
		t.Fatalf("first reply %d %q, %v; want 421", code, msg, err)
	}
	f.closed("after 421")
	return msg
}
