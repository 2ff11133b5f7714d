package client

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/myftp/myftp/lib/certs"
	"github.com/myftp/myftp/lib/proto"
)

// peer is a server that greets (with TLS or not), runs the handshake, and then reports how many
// bytes it received until the client closed the connection, one count per connection.
type peer struct {
	addr     string
	fp       string   // the certificate's fingerprint, "" without TLS
	received chan int // bytes received after the greeting (and the handshake); -1: no handshake
}

func startPeer(t *testing.T, withTLS bool) *peer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &peer{addr: l.Addr().String(), received: make(chan int, 10)}
	var cfg *tls.Config
	if withTLS {
		certPEM, keyPEM, err := certs.SelfSigned(nil, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		cfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13}
		p.fp = certs.Fingerprint(cert.Certificate[0])
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go p.serve(conn, cfg)
		}
	}()
	return p
}

func (p *peer) serve(conn net.Conn, cfg *tls.Config) {
	defer conn.Close()
	w := proto.NewWriter(conn)
	w.WriteJSON(proto.TypeReply, proto.Reply{Code: proto.CodeReady, Version: proto.Version, Server: "peer", TLS: cfg != nil})
	if w.Flush() != nil {
		return
	}
	var r io.Reader = conn
	if cfg != nil {
		tc := tls.Server(conn, cfg)
		if tc.Handshake() != nil {
			p.received <- -1
			return
		}
		r = tc
	}
	n, _ := io.Copy(io.Discard, r)
	p.received <- int(n)
}

// bytesAfter waits for the end of the peer's next connection and returns how many bytes it
// received after the greeting and the handshake.
func (p *peer) bytesAfter(t *testing.T) int {
	t.Helper()
	select {
	case n := <-p.received:
		return n
	case <-time.After(10 * time.Second):
		t.Fatal("the peer did not see the connection end")
		return 0
	}
}

// TestDialTrustNew: a server that known_hosts does not list is put to TrustNew after the
// handshake; refused, Dial fails with ErrNotTrusted, records nothing and has sent nothing inside
// TLS; accepted, it is recorded and Notify says so; known, TrustNew is not asked again; another
// certificate on the address is ErrHostKeyMismatch without asking.
func TestDialTrustNew(t *testing.T) {
	p := startPeer(t, true)
	kh := filepath.Join(t.TempDir(), "known_hosts")
	var asked []string
	var notes []string
	answer := errors.New("no thanks")
	cfg := Config{Addr: p.addr, KnownHosts: kh, DialTimeout: 10 * time.Second,
		Notify: func(m string) { notes = append(notes, m) },
		TrustNew: func(ctx context.Context, addr, fp string) error {
			asked = append(asked, addr+" "+fp)
			return answer
		}}

	_, err := Dial(context.Background(), cfg)
	if !errors.Is(err, ErrNotTrusted) || !errors.Is(err, answer) || !strings.Contains(err.Error(), p.addr) {
		t.Fatalf("Dial refused by TrustNew = %v; want ErrNotTrusted wrapping the answer, naming the address", err)
	}
	if len(asked) != 1 || asked[0] != p.addr+" "+p.fp {
		t.Errorf("TrustNew asked %q, want once about %s %s", asked, p.addr, p.fp)
	}
	if n := p.bytesAfter(t); n != 0 {
		t.Errorf("%d bytes sent inside TLS to a server not trusted", n)
	}
	if _, err := os.Stat(kh); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("known_hosts after a refusal: %v", err)
	}

	answer = nil
	c, err := Dial(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if data, _ := os.ReadFile(kh); string(data) != p.addr+" "+p.fp+"\n" {
		t.Errorf("known_hosts %q after trusting", data)
	}
	if len(notes) != 1 || notes[0] != "new server "+p.addr+": fingerprint "+p.fp+" recorded in "+kh {
		t.Errorf("notes %q", notes)
	}

	asked = nil
	if c, err = Dial(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if len(asked) != 0 {
		t.Errorf("TrustNew asked about a known server: %q", asked)
	}

	other := startPeer(t, true)
	if err := os.WriteFile(kh, []byte(other.addr+" "+p.fp+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.Addr = other.addr
	if _, err := Dial(context.Background(), cfg); !errors.Is(err, ErrHostKeyMismatch) || len(asked) != 0 {
		t.Errorf("Dial of a changed certificate = %v, asked %q; want ErrHostKeyMismatch without asking", err, asked)
	}
}

// TestDialTrustNewInterrupted: a context that ends while TrustNew waits (Ctrl-C at the question)
// is Dial's error as it is.
func TestDialTrustNewInterrupted(t *testing.T) {
	p := startPeer(t, true)
	ctx, cancel := context.WithCancel(context.Background())
	_, err := Dial(ctx, Config{Addr: p.addr, KnownHosts: filepath.Join(t.TempDir(), "known_hosts"),
		TrustNew: func(ctx context.Context, addr, fp string) error {
			cancel()
			<-ctx.Done()
			return ctx.Err()
		}})
	if err != context.Canceled {
		t.Fatalf("Dial = %v, want context.Canceled itself", err)
	}
}

// TestDialRequireTLS: with RequireTLS a server that greets without TLS is refused and gets not a
// byte; without it, or with Insecure, it is accepted with a warning.
func TestDialRequireTLS(t *testing.T) {
	p := startPeer(t, false)
	kh := filepath.Join(t.TempDir(), "known_hosts")
	_, err := Dial(context.Background(), Config{Addr: p.addr, KnownHosts: kh, RequireTLS: true})
	if !errors.Is(err, ErrPlain) || errors.Is(err, ErrHostKeyMismatch) {
		t.Fatalf("Dial with RequireTLS = %v, want ErrPlain", err)
	}
	if n := p.bytesAfter(t); n != 0 {
		t.Errorf("%d bytes sent to a plain server with RequireTLS", n)
	}
	for _, cfg := range []Config{{Addr: p.addr, KnownHosts: kh}, {Addr: p.addr, KnownHosts: kh, RequireTLS: true, Insecure: true}} {
		var notes []string
		cfg.Notify = func(m string) { notes = append(notes, m) }
		c, err := Dial(context.Background(), cfg)
		if err != nil {
			t.Fatalf("Dial %+v = %v", cfg, err)
		}
		c.Close()
		if len(notes) != 1 || !strings.HasPrefix(notes[0], "WARNING: "+p.addr+" does not use TLS") {
			t.Errorf("notes %q", notes)
		}
		p.bytesAfter(t)
	}
}

// TestDialDowngrade: a server known_hosts records with TLS that greets without it is refused
// whatever RequireTLS says (ErrHostKeyMismatch and ErrPlain), and gets not a byte; Insecure goes
// on.
func TestDialDowngrade(t *testing.T) {
	p := startPeer(t, false)
	kh := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(kh, []byte(p.addr+" "+fpA+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Dial(context.Background(), Config{Addr: p.addr, KnownHosts: kh})
	if !errors.Is(err, ErrHostKeyMismatch) || !errors.Is(err, ErrPlain) || !strings.Contains(err.Error(), fpA) {
		t.Fatalf("Dial = %v, want ErrHostKeyMismatch and ErrPlain naming the recorded fingerprint", err)
	}
	if n := p.bytesAfter(t); n != 0 {
		t.Errorf("%d bytes sent to a downgraded server", n)
	}
	c, err := Dial(context.Background(), Config{Addr: p.addr, KnownHosts: kh, Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}
