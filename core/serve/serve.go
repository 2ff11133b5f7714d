// Package serve is the myftps program: it reads the settings, opens the logs, the account database
// and the homes, sets up TLS, and runs a server.Server until the context ends (SIGINT/SIGTERM), then
// shuts it down gracefully.
package serve

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/myftp/myftp/conf"
	"github.com/myftp/myftp/core/accounts"
	"github.com/myftp/myftp/core/admission"
	"github.com/myftp/myftp/core/auth"
	"github.com/myftp/myftp/core/door"
	"github.com/myftp/myftp/core/ftpdoor"
	"github.com/myftp/myftp/core/homes"
	"github.com/myftp/myftp/core/logger"
	"github.com/myftp/myftp/core/metrics"
	"github.com/myftp/myftp/core/server"
	"github.com/myftp/myftp/core/sftpdoor"
	"github.com/myftp/myftp/lib/bytesize"
	"github.com/myftp/myftp/lib/certs"
	"github.com/myftp/myftp/lib/db"
	"github.com/myftp/myftp/lib/homefs"
	"github.com/myftp/myftp/lib/pgdb"
)

const usage = `usage: myftps [--root DIR] [--conf FILE] [--listen HOST:PORT]

Serves the accounts in DIR/db and their homes under DIR/file_upload, or where the settings put them
(a PostgreSQL database, an S3 bucket).

  --root DIR          runtime root (default $MYFTP_ROOT, else the current directory)
  --conf FILE         settings file (default DIR/conf/settings.toml; built-in defaults if missing)
  --listen HOST:PORT  listen address, overriding the settings ("127.0.0.1:0" picks a free port)

It prints "fingerprint SHA256:..." (with TLS on) and "listening on HOST:PORT" once it accepts
connections. SIGINT or SIGTERM stops it gracefully.
`

// Main runs myftps with args (without the program name) and returns the exit code: 0 after a
// graceful stop, 1 on a runtime error, 2 on a usage or settings error.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("myftps", flag.ContinueOnError)
	fl.SetOutput(stderr)
	fl.Usage = func() { fmt.Fprint(stderr, usage) }
	root := fl.String("root", "", "")
	confFile := fl.String("conf", "", "")
	listen := fl.String("listen", "", "")
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fl.NArg() > 0 {
		fmt.Fprintf(stderr, "myftps: unexpected argument %q\n", fl.Arg(0))
		return 2
	}
	dir, err := conf.ResolveRoot(*root, os.Getenv)
	if err != nil {
		fmt.Fprintln(stderr, "myftps:", err)
		return 2
	}
	s, err := conf.Load(dir, *confFile)
	if err != nil {
		fmt.Fprintln(stderr, "myftps:", err)
		return 2
	}
	if *listen != "" {
		s.Server.Listen = *listen
	}
	if err := run(ctx, s, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "myftps:", err)
		return 1
	}
	return 0
}

func run(ctx context.Context, s *conf.Settings, stdout, stderr io.Writer) error {
	logs, err := logger.Open(logConfig(s), stderr)
	if err != nil {
		return err
	}
	defer logs.Close()
	var events *metrics.Events
	if s.Metrics.Listen != "" { // every warning and error of the event log counted, from the start
		events = &metrics.Events{}
		logs.Event = slog.New(events.Handler(logs.Event.Handler()))
	}
	c, err := openCore(ctx, s, logs, stdout, stderr)
	if err != nil {
		return err
	}
	defer c.close()
	var srv *admission.Server
	if s.Metrics.Listen != "" { // before the doors, whose services it counts
		c.metrics = metrics.New(func() admission.Stats { return srv.Stats() }, events) // read once serving
	}
	doors, err := newDoors(s, c, logs, stdout, stderr)
	if err != nil {
		return err
	}
	srv, err = admission.New(admissionConfig(s, logs.Event))
	if err != nil {
		return err
	}
	if ps := s.Server.Proxies(); len(ps) > 0 {
		logs.Event.Info("PROXY protocol on: connections from the trusted proxies must start with a header", "trusted_proxies", ps)
	}
	served := make(chan error, len(doors))
	for _, d := range doors {
		l, err := listen(ctx, d.addr)
		if err != nil {
			srv.Close()
			return fmt.Errorf("%slisten: %w", d.prefix, err)
		}
		fmt.Fprintf(stdout, "%slistening on %s\n", d.prefix, l.Addr())
		logs.Event.Info("listening", "door", d.name, "addr", l.Addr().String(), "pool_size", s.Server.PoolSize,
			"queue_size", s.Server.QueueSize, "root", s.Root)
		go func() { served <- srv.Serve(l, d.door) }()
	}
	if c.metrics != nil {
		stop, err := serveMetrics(ctx, s.Metrics.Listen, c.metrics, stdout, logs.Event)
		if err != nil {
			srv.Close()
			return err
		}
		defer stop()
	}
	select {
	case <-ctx.Done():
		if c.metrics != nil {
			c.metrics.Drain() // the balancer's checks fail first
		}
	case err := <-served:
		srv.Close()
		return err
	}
	st := srv.Stats()
	logs.Event.Info("shutting down", "running", st.Running, "waiting", st.Waiting, "pool_size", st.PoolSize, "queue_size", st.QueueSize)
	sctx, cancel := context.WithTimeout(context.Background(), s.Server.ShutdownTimeout.D())
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		logs.Event.Warn("shutdown timeout: remaining sessions were closed", "err", err)
	}
	for range doors {
		<-served
	}
	logs.Event.Info("stopped")
	return nil
}

// admissionConfig is the policy every door shares.
func admissionConfig(s *conf.Settings, log *slog.Logger) admission.Config {
	return admission.Config{PoolSize: s.Server.PoolSize, QueueSize: s.Server.QueueSize, QueueTimeout: s.Server.QueueTimeout.D(),
		MaxPerAddress: s.Limits.MaxPerAddress, MaxStartups: s.Limits.MaxStartups, MaxStartupsPerAddress: s.Limits.MaxStartupsPerAddress,
		IPv6Prefix:            s.Limits.IPv6Prefix,
		MaxSessionsPerAccount: s.Limits.MaxSessionsPerAccount, LoginTimeout: s.Limits.LoginTimeout.D(),
		TrustedProxies: s.Server.Proxies(), ProxyHeaderTimeout: s.Server.ProxyHeaderTimeout.D(), Log: log}
}

func logConfig(s *conf.Settings) logger.Config {
	return logger.Config{Dir: s.Log.Dir, EventFile: s.Log.EventFile, TransferFile: s.Log.TransferFile, Level: s.Log.Level,
		MaxSize: int64(s.Log.MaxSize), MaxBackups: s.Log.MaxBackups, MaxAge: s.Log.MaxAge.D(), Compress: s.Log.Compress}
}

// core is what every door serves: the accounts, the homes, the certificate.
type core struct {
	accounts accounts.Store
	quotas   *pgdb.Quotas // the ledger shared by the nodes; nil when homefs keeps its own
	auth     *auth.Authenticator
	homes    *homefs.Store
	cert     *tls.Certificate // nil when no door uses TLS
	metrics  *metrics.Metrics // nil when [metrics] listen is off
}

// openCore opens the account database and the homes, and loads or creates the certificate if a
// door needs it, printing its fingerprint.
func openCore(ctx context.Context, s *conf.Settings, logs *logger.Logs, stdout, stderr io.Writer) (*core, error) {
	store, _, err := accounts.Open(ctx, s)
	if err != nil {
		return nil, err
	}
	if files, ok := store.(*db.DB); ok {
		if probs, err := files.Check(); err == nil {
			for _, p := range probs {
				logs.Event.Warn("account database", "problem", p.String())
			}
		}
	} else {
		fmt.Fprintln(stdout, "accounts in the", store.Where())
	}
	c := &core{accounts: store}
	if pg, ok := store.(*pgdb.DB); ok && s.Storage.Backend == "s3" { // homes every node sees
		if c.quotas, err = pg.Quotas(ctx, s.Accounts.Lease.D(), logs.Event); err != nil {
			store.Close()
			return nil, err
		}
		fmt.Fprintf(stdout, "quotas kept in the %s, shared by every node (node %s)\n", pg.Where(), c.quotas.Node())
	}
	if err := c.openServices(s, logs, stdout, stderr); err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

// close gives back this node's quota lease and closes the account database.
func (c *core) close() {
	if c.quotas != nil {
		c.quotas.Close()
	}
	c.accounts.Close()
}

// openServices makes the authenticator and the homes on the account database and the quota
// ledger of c.
func (c *core) openServices(s *conf.Settings, logs *logger.Logs, stdout, stderr io.Writer) error {
	if err := os.MkdirAll(s.Storage.UploadDir, 0o700); err != nil {
		return fmt.Errorf("upload directory: %w", err)
	}
	os.Chmod(s.Storage.UploadDir, 0o700) // also when it existed (a checkout's is 0755); best effort
	authn, err := auth.New(auth.Config{Accounts: c.accounts, Params: s.Auth.Params(), MaxHashers: runtime.NumCPU(),
		PasswordCache: s.Auth.PasswordCache.D(),
		ThrottleAfter: s.Limits.ThrottleAfter, ThrottleWindow: s.Limits.ThrottleWindow.D(),
		ThrottleDelay: s.Limits.ThrottleDelay.D(), ThrottleMaxDelay: s.Limits.ThrottleMaxDelay.D(), IPv6Prefix: s.Limits.IPv6Prefix,
		Log: logs.Event})
	if err != nil {
		return err
	}
	backend, err := homes.Backend(s)
	if err != nil {
		return err
	}
	if s.Storage.Backend == "s3" {
		fmt.Fprintln(stdout, homes.Describe(s))
	}
	c.auth = authn
	opts := homefs.Options{
		PartialTTL: s.Storage.PartialTTL.D(), FormatSize: bytesize.Format, DefaultMaxFiles: s.Storage.DefaultMaxFiles,
		MaxPartials: s.Storage.MaxPartials, Log: logs.Event,
		QuotaRefused: func() { // c.metrics is set, or not, before the first session
			if c.metrics != nil {
				c.metrics.QuotaRefused()
			}
		}}
	if c.quotas != nil {
		opts.Ledger = c.quotas
	}
	c.homes = homefs.New(backend, opts)
	if !s.Server.TLS {
		fmt.Fprintln(stderr, "myftps: WARNING: tls = false: passwords and files travel in clear text; use this for debugging only")
	}
	if s.Server.TLS || s.FTP.Listen != "" && s.FTP.TLS != "off" {
		if c.cert, err = certificate(s, logs.Event, stdout); err != nil {
			return err
		}
	}
	return nil
}

// services are what the door named name serves sessions from, counted when metrics are on.
func (c *core) services(logs *logger.Logs, name string) door.Services {
	s := door.Services{Auth: c.auth, Homes: c.homes, Transfers: logs.Transfer, Log: logs.Event}
	if c.metrics != nil {
		s = c.metrics.Services(name, s)
	}
	return s
}

// listener is a door to serve on an address.
type listener struct {
	name, prefix, addr string // prefix starts the "listening on" line
	door               admission.Door
}

// newDoors makes the doors the settings switch on: the native one always, FTP and SFTP with their
// listen settings.
func newDoors(s *conf.Settings, c *core, logs *logger.Logs, stdout, stderr io.Writer) ([]listener, error) {
	var nativeTLS *tls.Config
	if s.Server.TLS {
		nativeTLS = &tls.Config{Certificates: []tls.Certificate{*c.cert}, MinVersion: tls.VersionTLS13}
	}
	native, err := server.New(server.Config{
		Name: s.Server.Name, IdleTimeout: s.Server.IdleTimeout.D(), WriteTimeout: s.Server.WriteTimeout.D(),
		LoginAttempts: s.Limits.LoginAttempts, MaxHeader: int(s.Limits.MaxHeaderSize),
		TLS: nativeTLS, Services: c.services(logs, "myftp"),
	})
	if err != nil {
		return nil, err
	}
	doors := []listener{{name: "myftp", addr: s.Server.Listen, door: native}}
	if s.FTP.Listen != "" {
		fd, err := newFTP(s, c, logs, stderr)
		if err != nil {
			return nil, err
		}
		doors = append(doors, listener{name: "ftp", prefix: "ftp ", addr: s.FTP.Listen, door: fd})
	}
	if s.SFTP.Listen != "" {
		sd, err := newSFTP(s, c, logs, stdout)
		if err != nil {
			return nil, err
		}
		doors = append(doors, listener{name: "sftp", prefix: "sftp ", addr: s.SFTP.Listen, door: sd})
	}
	return doors, nil
}

// newSFTP wires the [sftp] settings into the SFTP door, loading or creating the host key and
// printing its fingerprint.
func newSFTP(s *conf.Settings, c *core, logs *logger.Logs, stdout io.Writer) (*sftpdoor.Door, error) {
	file, generated := s.HostKeyPath()
	var key ssh.Signer
	var err error
	if generated {
		var created bool
		key, created, err = certs.LoadOrCreateHostKey(file)
		if created {
			logs.Event.Info("created an SSH host key", "file", file)
		}
	} else {
		key, err = certs.LoadHostKey(file)
	}
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(stdout, "sftp host key %s\n", ssh.FingerprintSHA256(key.PublicKey()))
	return sftpdoor.New(sftpdoor.Config{HostKey: key, IdleTimeout: s.Server.IdleTimeout.D(), WriteTimeout: s.Server.WriteTimeout.D(),
		Services: c.services(logs, "sftp")})
}

// newFTP wires the [ftp] settings into the FTP door.
func newFTP(s *conf.Settings, c *core, logs *logger.Logs, stderr io.Writer) (*ftpdoor.Door, error) {
	cfg := ftpdoor.Config{Name: s.Server.Name, PublicHost: s.FTP.PublicHost, Active: s.FTP.Active,
		RequireTLSReuse: s.FTP.RequireTLSReuse, StrictTLSEOF: s.FTP.StrictTLSEOF, IdleTimeout: s.Server.IdleTimeout.D(),
		WriteTimeout: s.Server.WriteTimeout.D(), AcceptTimeout: s.FTP.AcceptTimeout.D(),
		RefusedDrainSize: int64(s.FTP.RefusedDrainSize), RefusedDrainTime: s.FTP.RefusedDrainTime.D(),
		Services: c.services(logs, "ftp")}
	cfg.PassivePorts[0], cfg.PassivePorts[1] = s.FTP.Ports()
	switch s.FTP.TLS {
	case "off":
		cfg.TLSMode = ftpdoor.TLSOff
		fmt.Fprintln(stderr, "myftps: WARNING: [ftp] tls = \"off\": FTP passwords and files travel in clear text")
	case "implicit":
		cfg.TLSMode = ftpdoor.TLSImplicit
	default:
		cfg.TLSMode = ftpdoor.TLSRequired
	}
	if cfg.TLSMode != ftpdoor.TLSOff {
		// TLS 1.2 too: FTP clients are older on average than myftpc.
		cfg.TLS = &tls.Config{Certificates: []tls.Certificate{*c.cert}, MinVersion: tls.VersionTLS12}
	}
	return ftpdoor.New(cfg)
}

// serveMetrics serves the metrics and the health check on addr until stop is called.
func serveMetrics(ctx context.Context, addr string, m *metrics.Metrics, stdout io.Writer, log *slog.Logger) (stop func(), err error) {
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics listen: %w", err)
	}
	fmt.Fprintf(stdout, "metrics listening on %s\n", l.Addr())
	log.Info("listening", "door", "metrics", "addr", l.Addr().String())
	hs := &http.Server{Handler: m.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute,
		WriteTimeout: time.Minute, IdleTimeout: time.Minute}
	go hs.Serve(l)
	return func() { hs.Close() }, nil
}

// listen opens the server's TCP listener. Its connections probe a silent peer after 15 s and give
// up after three unanswered probes 5 s apart, so that a session whose client vanished without a
// word (a network gone, a laptop asleep) ends in about 30 s, releasing the upload it held for a
// resume from the client's next connection, rather than at idle_timeout.
func listen(ctx context.Context, addr string) (net.Listener, error) {
	lc := net.ListenConfig{KeepAliveConfig: net.KeepAliveConfig{
		Enable: true, Idle: 15 * time.Second, Interval: 5 * time.Second, Count: 3}}
	return lc.Listen(ctx, "tcp", addr)
}

// certificate loads or creates the certificate and prints its fingerprint.
func certificate(s *conf.Settings, log *slog.Logger, stdout io.Writer) (*tls.Certificate, error) {
	certFile, keyFile, selfSigned := s.CertPaths()
	var cert tls.Certificate
	var err error
	if selfSigned {
		var created bool
		cert, created, err = certs.LoadOrCreate(certFile, keyFile, nil)
		if created {
			log.Info("created a self-signed certificate", "cert", certFile, "key", keyFile)
		}
	} else {
		cert, err = certs.Load(certFile, keyFile)
	}
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(stdout, "fingerprint %s\n", certs.Fingerprint(cert.Certificate[0]))
	return &cert, nil
}
