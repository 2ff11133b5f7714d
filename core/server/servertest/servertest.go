// Package servertest starts real myftp servers on 127.0.0.1 for tests and benchmarks, the way
// net/http/httptest does for HTTP: a temporary root with an account database and homes, a TLS
// certificate, and a native server.Server behind an admission.Server listening on a free loopback
// port. CutProxy, in front of one, loses a plain session's connection at a chosen request, as a
// server's machine dying at that point would.
package servertest

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/myftp/myftp/core/admission"
	"github.com/myftp/myftp/core/auth"
	"github.com/myftp/myftp/core/ftpdoor"
	"github.com/myftp/myftp/core/logger"
	"github.com/myftp/myftp/core/server"
	"github.com/myftp/myftp/core/sftpdoor"
	"github.com/myftp/myftp/lib/account"
	"github.com/myftp/myftp/lib/bytesize"
	"github.com/myftp/myftp/lib/certs"
	"github.com/myftp/myftp/lib/client"
	"github.com/myftp/myftp/lib/db"
	"github.com/myftp/myftp/lib/homefs"
	"github.com/myftp/myftp/lib/storage"
)

// Cheap is an argon2id cost that keeps tests fast; the code paths are the same as at full cost.
func Cheap() account.Params { return account.Params{Memory: 64, Time: 1, Threads: 1} }

// Options change the server a test gets. Zero values mean sensible test defaults.
type Options struct {
	Plain bool // no TLS
	// Config overrides; Auth, Homes, TLS and Log are filled in by Start when nil.
	Config server.Config
	// Admission overrides; a zero PoolSize means 32, a zero QueueTimeout 30 s and a zero
	// LoginTimeout one minute (a zero QueueSize means no queue). Log is filled in.
	Admission admission.Config
	// Store options for the homes; Log is filled in.
	Store homefs.Options
	// Backend holds the homes; nil means directories under Dir/file_upload on the local disk,
	// with Store.Fsync.
	Backend storage.Backend
	// Auth configuration; Accounts is filled in.
	Auth auth.Config
	// FTP, if not nil, starts the FTP door too, on another free loopback port (Env.FTPAddr), with
	// the same accounts, homes, logs and admission. Auth, Homes, Transfers, Log and TLS (the
	// server's certificate, unless TLSMode is TLSOff) are filled in when nil.
	FTP *ftpdoor.Config
	// SFTP, if not nil, starts the SFTP door too (Env.SFTPAddr), like FTP; a new ed25519 host key
	// is made when HostKey is nil (Env.HostKey).
	SFTP *sftpdoor.Config
	// Dir is the runtime root; empty means a new temporary directory.
	Dir string
	// LogTo receives the event log; nil discards it.
	LogTo io.Writer
}

// Env is a running server and everything around it.
type Env struct {
	T          testing.TB
	Dir        string // runtime root: db/, file_upload/, log/, known_hosts
	DB         *db.DB
	Store      *homefs.Store
	Backend    storage.Backend   // Options.Backend; nil for the local disk
	Server     *admission.Server // accepts, queues and limits connections
	Native     *server.Server    // the native door
	FTP        *ftpdoor.Door     // the FTP door, if Options.FTP asked for it
	FTPAddr    string
	SFTP       *sftpdoor.Door // the SFTP door, if Options.SFTP asked for it
	SFTPAddr   string
	HostKey    ssh.Signer
	Addr       string
	KnownHosts string
	Cert       tls.Certificate
	Xferlog    string // path of the transfer log
	listener   net.Listener
	logs       *logger.Logs
}

// Start runs a server for the duration of the test.
func Start(t testing.TB, opt Options) *Env {
	t.Helper()
	e := &Env{T: t, Dir: opt.Dir, Backend: opt.Backend}
	if e.Dir == "" {
		e.Dir = t.TempDir()
	}
	var err error
	if e.DB, err = db.Open(filepath.Join(e.Dir, "db")); err != nil {
		t.Fatal(err)
	}
	if e.logs, err = logger.Open(logger.Config{Dir: filepath.Join(e.Dir, "log"), EventFile: "myftps.log", TransferFile: "xferlog",
		Level: "debug", MaxSize: 1 << 20}, opt.LogTo); err != nil {
		t.Fatal(err)
	}
	e.Xferlog = filepath.Join(e.Dir, "log", "xferlog")
	if opt.Backend != nil {
		e.Store = homefs.New(opt.Backend, e.withStoreDefaults(opt.Store))
	} else {
		e.Store = homefs.NewStore(filepath.Join(e.Dir, "file_upload"), e.withStoreDefaults(opt.Store))
	}
	cfg := e.config(opt)
	if e.Native, err = server.New(cfg); err != nil {
		t.Fatal(err)
	}
	if e.Server, err = admission.New(e.admission(opt.Admission)); err != nil {
		t.Fatal(err)
	}
	if e.listener, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	e.Addr = e.listener.Addr().String()
	e.KnownHosts = filepath.Join(e.Dir, "known_hosts")
	go e.Server.Serve(e.listener, e.Native)
	t.Cleanup(e.Stop)
	if opt.FTP != nil {
		e.startFTP(*opt.FTP, cfg)
	}
	if opt.SFTP != nil {
		e.startSFTP(*opt.SFTP, cfg)
	}
	return e
}

// startSFTP starts the SFTP door on a free loopback port, sharing the native door's parts.
func (e *Env) startSFTP(sc sftpdoor.Config, native server.Config) {
	if sc.Auth == nil {
		sc.Auth = native.Auth
	}
	if sc.Homes == nil {
		sc.Homes = native.Homes
	}
	if sc.Transfers == nil {
		sc.Transfers = native.Transfers
	}
	if sc.Log == nil {
		sc.Log = native.Log
	}
	if sc.HostKey == nil {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			e.T.Fatal(err)
		}
		if sc.HostKey, err = ssh.NewSignerFromKey(priv); err != nil {
			e.T.Fatal(err)
		}
	}
	e.HostKey = sc.HostKey
	var err error
	if e.SFTP, err = sftpdoor.New(sc); err != nil {
		e.T.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		e.T.Fatal(err)
	}
	e.SFTPAddr = l.Addr().String()
	go e.Server.Serve(l, e.SFTP)
}

// startFTP starts the FTP door on a free loopback port, sharing the native door's parts.
func (e *Env) startFTP(fc ftpdoor.Config, native server.Config) {
	if fc.Auth == nil {
		fc.Auth = native.Auth
	}
	if fc.Homes == nil {
		fc.Homes = native.Homes
	}
	if fc.Transfers == nil {
		fc.Transfers = native.Transfers
	}
	if fc.Log == nil {
		fc.Log = native.Log
	}
	if fc.TLSMode != ftpdoor.TLSOff && fc.TLS == nil {
		fc.TLS = &tls.Config{Certificates: []tls.Certificate{e.certificate()}, MinVersion: tls.VersionTLS12}
	}
	var err error
	if e.FTP, err = ftpdoor.New(fc); err != nil {
		e.T.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		e.T.Fatal(err)
	}
	e.FTPAddr = l.Addr().String()
	go e.Server.Serve(l, e.FTP)
}

// withStoreDefaults completes the homes' options: sizes in human units, and the event log.
func (e *Env) withStoreDefaults(o homefs.Options) homefs.Options {
	if o.FormatSize == nil {
		o.FormatSize = bytesize.Format
	}
	if o.Log == nil {
		o.Log = e.logs.Event
	}
	return o
}

// admission completes the admission policy with the test defaults.
func (e *Env) admission(a admission.Config) admission.Config {
	if a.PoolSize == 0 {
		a.PoolSize = 32
	}
	if a.QueueTimeout == 0 {
		a.QueueTimeout = 30 * time.Second
	}
	if a.LoginTimeout == 0 {
		a.LoginTimeout = time.Minute
	}
	if a.Log == nil {
		a.Log = e.logs.Event
	}
	return a
}

// config completes the server configuration with the test's parts.
func (e *Env) config(opt Options) server.Config {
	cfg := opt.Config
	a := opt.Auth
	a.Accounts = e.DB
	if a.Params == (account.Params{}) {
		a.Params = Cheap()
	}
	if a.MaxHashers == 0 {
		a.MaxHashers = runtime.NumCPU()
	}
	if a.Log == nil {
		a.Log = e.logs.Event
	}
	if a.ThrottleWindow == 0 {
		a.ThrottleAfter, a.ThrottleWindow, a.ThrottleDelay, a.ThrottleMaxDelay = 5, time.Minute, 50*time.Millisecond, time.Second
	}
	authn, err := auth.New(a)
	if err != nil {
		e.T.Fatal(err)
	}
	if cfg.Auth == nil {
		cfg.Auth = authn
	}
	cfg.Homes = e.Store
	cfg.Transfers = e.logs.Transfer
	if cfg.Log == nil {
		cfg.Log = e.logs.Event
	}
	if !opt.Plain && cfg.TLS == nil {
		cfg.TLS = &tls.Config{Certificates: []tls.Certificate{e.certificate()}, MinVersion: tls.VersionTLS13}
	}
	return cfg
}

// certificate returns the server's certificate, making a self-signed one the first time.
func (e *Env) certificate() tls.Certificate {
	if e.Cert.Certificate != nil {
		return e.Cert
	}
	certPEM, keyPEM, err := certs.SelfSigned(nil, time.Now())
	if err != nil {
		e.T.Fatal(err)
	}
	if e.Cert, err = tls.X509KeyPair(certPEM, keyPEM); err != nil {
		e.T.Fatal(err)
	}
	return e.Cert
}

// Stop shuts the server down (at most 5 s) and closes its logs. Start registers it as cleanup.
func (e *Env) Stop() {
	if e.Server == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	e.Server.Shutdown(ctx)
	e.logs.Close()
	e.Server = nil
}

// AddUser creates an account with the given quota (0 means 1 GiB) and returns it.
func (e *Env) AddUser(name, password string, quota int64) account.Account {
	e.T.Helper()
	hash, err := account.HashPassword(password, Cheap())
	if err != nil {
		e.T.Fatal(err)
	}
	if quota == 0 {
		quota = 1 << 30
	}
	a, err := e.DB.Create(account.Account{Name: name, PasswordHash: hash, Quota: quota})
	if err != nil {
		e.T.Fatal(err)
	}
	if err := os.MkdirAll(e.Home(name), 0o700); err != nil {
		e.T.Fatal(err)
	}
	return a
}

// Usage returns the bytes the server counts for the account name, and what a server started
// afresh on the same storage measures.
func (e *Env) Usage(name string) (counted, measured int64) {
	e.T.Helper()
	acct, err := e.DB.Get(name)
	if err != nil {
		e.T.Fatal(err)
	}
	fresh := homefs.NewStore(filepath.Join(e.Dir, "file_upload"), homefs.Options{})
	if e.Backend != nil {
		fresh = homefs.New(e.Backend, homefs.Options{})
	}
	for i, st := range []*homefs.Store{e.Store, fresh} {
		f, err := st.Open(acct.Home, acct.Quota)
		if err != nil {
			e.T.Fatal(err)
		}
		used, _ := f.Usage()
		f.Close()
		if i == 0 {
			counted = used
		} else {
			measured = used
		}
	}
	return counted, measured
}

// PartialBytes returns what the unfinished uploads of the account name hold, as the server
// counts them, or -1 if its home cannot be opened (a store that is down).
func (e *Env) PartialBytes(name string) int64 {
	acct, err := e.DB.Get(name)
	if err != nil {
		return -1
	}
	f, err := e.Store.Open(acct.Home, acct.Quota)
	if err != nil {
		return -1
	}
	defer f.Close()
	var n int64
	f.Partials(func(p homefs.PartialInfo) error { n += p.Size; return nil })
	return n
}

// Home returns the absolute home directory of an account created by AddUser.
func (e *Env) Home(name string) string {
	return filepath.Join(e.Dir, "file_upload", name)
}

// ClientConfig returns a client configuration that trusts this server.
func (e *Env) ClientConfig() client.Config {
	return client.Config{Addr: e.Addr, KnownHosts: e.KnownHosts, DialTimeout: 10 * time.Second, IOTimeout: 30 * time.Second}
}

// Dial connects a client; it fails the test on error.
func (e *Env) Dial() *client.Client {
	e.T.Helper()
	c, err := client.Dial(context.Background(), e.ClientConfig())
	if err != nil {
		e.T.Fatal(err)
	}
	e.T.Cleanup(func() { c.Close() })
	return c
}

// Login dials and logs in; it fails the test on error.
func (e *Env) Login(user, password string) *client.Client {
	e.T.Helper()
	c := e.Dial()
	if err := c.Login(user, password); err != nil {
		e.T.Fatalf("login %s: %v", user, err)
	}
	return c
}

// Discard is a logger that drops everything, for servers whose log is not of interest.
func Discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
