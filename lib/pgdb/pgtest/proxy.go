package pgtest

import (
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
)

// Proxy forwards loopback connections to the PostgreSQL server of a connection string until Cut,
// so that tests can take the database away from a program as a failed server or network does.
type Proxy struct {
	// DSN is the connection string of the same database, through the proxy.
	DSN string

	l     net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

// NewProxy starts a proxy to the server of dsn on a loopback port; it is cut when the test ends.
func NewProxy(t testing.TB, dsn string) *Proxy {
	t.Helper()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{l: l}
	p.DSN = fmt.Sprintf("host=127.0.0.1 port=%d user=%s dbname=%s sslmode=disable", l.Addr().(*net.TCPAddr).Port, cfg.User, cfg.Database)
	if cfg.Password != "" {
		p.DSN += " password=" + cfg.Password
	}
	target := net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port)))
	go p.serve(target)
	t.Cleanup(p.Cut)
	return p
}

func (p *Proxy) serve(target string) {
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, s)
		p.mu.Unlock()
		go func() { io.Copy(s, c); s.Close() }()
		go func() { io.Copy(c, s); c.Close() }()
	}
}

// Cut closes every connection through the proxy and stops listening: nothing answers on its
// address any more.
func (p *Proxy) Cut() {
	p.l.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}
