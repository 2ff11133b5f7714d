// Package conf holds myftp's settings: their defaults (the embedded settings.toml, which is also the
// documented file committed beside this package), a strict loader, and validation.
//
// Load reads <root>/conf/settings.toml (or an explicit file), fills in the defaults for every key the
// file leaves out, rejects unknown keys, wrong types and impossible values with an error that names
// the file and the key, and resolves relative paths against the root.
package conf

import (
	_ "embed"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/myftp/myftp/lib/account"
	"github.com/myftp/myftp/lib/bytesize"
	"github.com/myftp/myftp/lib/checksum"
)

//go:embed settings.toml
var defaultTOML string

// DefaultTOML returns the built-in settings file, the same text as conf/settings.toml.
func DefaultTOML() string { return defaultTOML }

// Settings is the whole configuration of the three programs.
type Settings struct {
	Server   Server   `toml:"server"`
	FTP      FTP      `toml:"ftp"`
	SFTP     SFTP     `toml:"sftp"`
	Metrics  Metrics  `toml:"metrics"`
	Limits   Limits   `toml:"limits"`
	Auth     Auth     `toml:"auth"`
	Accounts Accounts `toml:"accounts"`
	Storage  Storage  `toml:"storage"`
	Log      Log      `toml:"log"`
	Client   Client   `toml:"client"`

	// Root is the runtime root every relative path was resolved against. Not read from the file.
	Root string `toml:"-"`
	// File is the settings file that was read, or "" for the built-in defaults.
	File string `toml:"-"`
}

// Server configures the listener, the worker pool and TLS.
type Server struct {
	Listen          string   `toml:"listen"`
	Name            string   `toml:"name"`
	PoolSize        int      `toml:"pool_size"`
	QueueSize       int      `toml:"queue_size"`
	QueueTimeout    Duration `toml:"queue_timeout"`
	IdleTimeout     Duration `toml:"idle_timeout"`
	WriteTimeout    Duration `toml:"write_timeout"`
	ShutdownTimeout Duration `toml:"shutdown_timeout"`
	TLS             bool     `toml:"tls"`
	CertFile        string   `toml:"cert_file"`
	KeyFile         string   `toml:"key_file"`
	// ProxyProtocol makes the connections from TrustedProxies start with a PROXY header.
	ProxyProtocol      bool     `toml:"proxy_protocol"`
	TrustedProxies     []string `toml:"trusted_proxies"`
	ProxyHeaderTimeout Duration `toml:"proxy_header_timeout"`
}

// Proxies returns the trusted proxies as prefixes (an address as a prefix of its full length),
// or nil when proxy_protocol is off.
func (s Server) Proxies() []netip.Prefix {
	if !s.ProxyProtocol {
		return nil
	}
	ps := make([]netip.Prefix, 0, len(s.TrustedProxies))
	for _, t := range s.TrustedProxies {
		p, _ := parseProxy(t) // validated
		ps = append(ps, p)
	}
	return ps
}

// parseProxy parses an IP address or a CIDR prefix, without a zone; an IPv4-mapped address
// counts as IPv4, as the clients it names do.
func parseProxy(s string) (netip.Prefix, bool) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err == nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, false
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), true
}

// badProxy returns the first entry of trusted_proxies that is not an address or a prefix, or "".
func (s Server) badProxy() string {
	for _, t := range s.TrustedProxies {
		if _, ok := parseProxy(t); !ok {
			return t
		}
	}
	return ""
}

// FTP configures the FTP door.
type FTP struct {
	Listen          string `toml:"listen"`
	TLS             string `toml:"tls"`
	PassivePorts    string `toml:"passive_ports"`
	PublicHost      string `toml:"public_host"`
	Active          bool   `toml:"active"`
	RequireTLSReuse bool   `toml:"require_tls_reuse"`
	StrictTLSEOF    bool   `toml:"strict_tls_eof"`

	AcceptTimeout Duration `toml:"accept_timeout"`

	RefusedDrainSize Size     `toml:"refused_drain_size"`
	RefusedDrainTime Duration `toml:"refused_drain_time"`
}

// Ports returns the passive port range; zeros for "".
func (f FTP) Ports() (first, last int) {
	first, last, _ = parsePorts(f.PassivePorts)
	return first, last
}

// parsePorts parses "FIRST-LAST" (1 to 65535, FIRST <= LAST); "" is 0, 0.
func parsePorts(s string) (first, last int, ok bool) {
	if s == "" {
		return 0, 0, true
	}
	a, b, found := strings.Cut(s, "-")
	first, err1 := strconv.Atoi(strings.TrimSpace(a))
	last, err2 := strconv.Atoi(strings.TrimSpace(b))
	if !found || err1 != nil || err2 != nil || first < 1 || last > 65535 || first > last {
		return 0, 0, false
	}
	return first, last, true
}

// SFTP configures the SFTP door.
type SFTP struct {
	Listen  string `toml:"listen"`
	HostKey string `toml:"host_key"`
}

// HostKeyPath returns the host key file the server uses: the configured one, or
// conf/ssh_host_ed25519_key under the root, which is created if missing (created reports that).
func (s *Settings) HostKeyPath() (file string, generated bool) {
	if s.SFTP.HostKey != "" {
		return s.SFTP.HostKey, false
	}
	return filepath.Join(s.Root, "conf", "ssh_host_ed25519_key"), true
}

// Limits bounds what one client can cost the server.
type Limits struct {
	LoginAttempts         int      `toml:"login_attempts"`
	LoginTimeout          Duration `toml:"login_timeout"`
	ThrottleAfter         int      `toml:"throttle_after"`
	ThrottleWindow        Duration `toml:"throttle_window"`
	ThrottleDelay         Duration `toml:"throttle_delay"`
	ThrottleMaxDelay      Duration `toml:"throttle_max_delay"`
	MaxHeaderSize         Size     `toml:"max_header_size"`
	MaxPerAddress         int      `toml:"max_per_address"`
	MaxStartups           int      `toml:"max_startups"`
	MaxStartupsPerAddress int      `toml:"max_startups_per_address"`
	IPv6Prefix            int      `toml:"ipv6_prefix"`
	MaxSessionsPerAccount int      `toml:"max_sessions_per_account"`
}

// Auth sets the argon2id cost of new password hashes, and how long a new password must be.
type Auth struct {
	Argon2Memory  Size `toml:"argon2_memory"`
	Argon2Time    int  `toml:"argon2_time"`
	Argon2Threads int  `toml:"argon2_threads"`
	// MinPasswordLength is the fewest characters (Unicode code points) create_user accepts in a
	// new password.
	MinPasswordLength int `toml:"min_password_length"`
	// PasswordCache is how long myftps accepts a password it verified for an account again
	// without another argon2id hash (auth.Config.PasswordCache); 0 turns it off.
	PasswordCache Duration `toml:"password_cache"`
}

// Params returns the argon2id cost the settings give new password hashes.
func (a Auth) Params() account.Params {
	return account.Params{Memory: uint32(a.Argon2Memory / 1024), Time: uint32(a.Argon2Time), Threads: uint8(a.Argon2Threads)}
}

// Accounts chooses the account database: the files under Storage.DBDir, or PostgreSQL.
type Accounts struct {
	Backend string   `toml:"backend"`
	DSN     string   `toml:"dsn"`
	Timeout Duration `toml:"timeout"`
	Lease   Duration `toml:"lease"`
}

// Storage locates the account database and the homes.
type Storage struct {
	Backend         string   `toml:"backend"`
	S3              S3       `toml:"s3"`
	DBDir           string   `toml:"db_dir"`
	UploadDir       string   `toml:"upload_dir"`
	DefaultQuota    Size     `toml:"default_quota"`
	DefaultMaxFiles int64    `toml:"default_max_files"`
	MaxPartials     int64    `toml:"max_partials"`
	Fsync           bool     `toml:"fsync"`
	PartialTTL      Duration `toml:"partial_ttl"`
}

// Metrics configures the HTTP endpoint of Prometheus metrics and the health check.
type Metrics struct {
	Listen string `toml:"listen"`
}

// S3 configures homes on an S3-compatible object store (storage.backend = "s3"). Credentials come
// from the standard AWS environment variables or shared credentials file, never from here.
type S3 struct {
	Endpoint         string   `toml:"endpoint"`
	Bucket           string   `toml:"bucket"`
	Region           string   `toml:"region"`
	Prefix           string   `toml:"prefix"`
	PathStyle        bool     `toml:"path_style"`
	PartSize         Size     `toml:"part_size"`
	MaxRenameObjects int      `toml:"max_rename_objects"`
	RequestTimeout   Duration `toml:"request_timeout"`
	StallTimeout     Duration `toml:"stall_timeout"`
}

// Log configures the event log and the transfer log and their rotation.
type Log struct {
	Dir          string   `toml:"dir"`
	EventFile    string   `toml:"event_file"`
	TransferFile string   `toml:"transfer_file"`
	Level        string   `toml:"level"`
	MaxSize      Size     `toml:"max_size"`
	MaxBackups   int      `toml:"max_backups"`
	MaxAge       Duration `toml:"max_age"`
	Compress     bool     `toml:"compress"`
}

// Client holds myftpc's defaults.
type Client struct {
	Server         string `toml:"server"`
	KnownHosts     string `toml:"known_hosts"`
	TrustNew       bool   `toml:"trust_new"`
	AllowPlaintext bool   `toml:"allow_plaintext"`
	Checksum       string `toml:"checksum"`
}

// ErrInvalid is wrapped by every error about the content of a settings file.
var ErrInvalid = errors.New("conf: invalid settings")

// Defaults returns the built-in settings for root, exactly as if an empty file had been loaded.
func Defaults(root string) (*Settings, error) {
	return parse(root, "", "")
}

// Load reads the settings for root. file == "" means <root>/conf/settings.toml, and a missing file
// there means the defaults; an explicit file must exist. Keys the file leaves out keep their
// defaults.
func Load(root, file string) (*Settings, error) {
	explicit := file != ""
	if !explicit {
		file = filepath.Join(root, "conf", "settings.toml")
	}
	data, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) && !explicit {
		return Defaults(root)
	}
	if err != nil {
		return nil, fmt.Errorf("read settings: %w", err)
	}
	return parse(root, file, string(data))
}

func parse(root, file, text string) (*Settings, error) {
	var s Settings
	if _, err := toml.Decode(defaultTOML, &s); err != nil {
		return nil, fmt.Errorf("built-in settings: %w", err)
	}
	name := file
	if name == "" {
		name = "built-in settings"
	}
	md, err := toml.Decode(text, &s)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %w", name, ErrInvalid, err)
	}
	if keys := md.Undecoded(); len(keys) > 0 {
		return nil, fmt.Errorf("%s: %w: unknown key %q", name, ErrInvalid, keys[0].String())
	}
	if err := s.validate(); err != nil {
		return nil, fmt.Errorf("%s: %w: %w", name, ErrInvalid, err)
	}
	absRoot, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("root %q: %w", root, err)
	}
	s.Root, s.File = absRoot, file
	s.resolvePaths()
	return &s, nil
}

func (s *Settings) resolvePaths() {
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(s.Root, p)
	}
	s.Server.CertFile = abs(s.Server.CertFile)
	s.Server.KeyFile = abs(s.Server.KeyFile)
	s.SFTP.HostKey = abs(s.SFTP.HostKey)
	s.Storage.DBDir = abs(s.Storage.DBDir)
	s.Storage.UploadDir = abs(s.Storage.UploadDir)
	s.Log.Dir = abs(s.Log.Dir)
	s.Client.KnownHosts = expandHome(s.Client.KnownHosts, abs)
}

// expandHome turns a leading "~/" into the user's home directory; other paths go through abs.
func expandHome(p string, abs func(string) string) string {
	if rest, ok := strings.CutPrefix(p, "~/"); ok {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, rest)
		}
	}
	return abs(p)
}

// CertPaths returns the certificate and key files the server uses: the configured ones, or
// conf/server.crt and conf/server.key under the root for the self-signed pair.
func (s *Settings) CertPaths() (cert, key string, selfSigned bool) {
	if s.Server.CertFile != "" {
		return s.Server.CertFile, s.Server.KeyFile, false
	}
	dir := filepath.Join(s.Root, "conf")
	return filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key"), true
}

// Duration is a time.Duration written as a string: Go's syntax ("1h30m", "500ms") or whole or
// decimal days ("7d", "1.5d").
type Duration time.Duration

// D returns the duration as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// UnmarshalText parses a duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	if days, ok := strings.CutSuffix(s, "d"); ok {
		f, err := strconv.ParseFloat(days, 64)
		if err != nil || math.IsNaN(f) || f < 0 || f > 100*365 {
			return fmt.Errorf("invalid duration %q: want a number of days such as \"7d\"", s)
		}
		*d = Duration(f * float64(24*time.Hour))
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("invalid duration %q: want a string such as \"30s\", \"5m\" or \"7d\"", s)
	}
	*d = Duration(v)
	return nil
}

// MarshalText renders the duration in Go's syntax.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// Size is a byte count written as an integer or as a string with a unit (see package bytesize).
type Size int64

// UnmarshalTOML accepts a TOML integer or a size string.
func (z *Size) UnmarshalTOML(v any) error {
	switch v := v.(type) {
	case int64:
		if v < 0 {
			return fmt.Errorf("invalid size %d: must not be negative", v)
		}
		*z = Size(v)
	case string:
		n, err := bytesize.Parse(v)
		if err != nil {
			return fmt.Errorf("invalid size %q: want bytes or a size such as \"10MiB\" or \"1.5GB\"", v)
		}
		*z = Size(n)
	default:
		return fmt.Errorf("invalid size %v: want an integer or a string such as \"10MiB\"", v)
	}
	return nil
}

// validate checks every value a program could not run with.
func (s *Settings) validate() error {
	checks := []struct {
		key string
		got any
		bad bool
		msg string
	}{
		{"server.listen", s.Server.Listen, !validAddr(s.Server.Listen), "want HOST:PORT with a port from 0 to 65535"},
		{"server.name", s.Server.Name, s.Server.Name == "" || len(s.Server.Name) > 64, "want 1 to 64 characters"},
		{"server.pool_size", s.Server.PoolSize, s.Server.PoolSize < 1 || s.Server.PoolSize > 100_000, "want 1 to 100000"},
		{"server.queue_size", s.Server.QueueSize, s.Server.QueueSize < 0 || s.Server.QueueSize > 1_000_000, "want 0 to 1000000"},
		{"server.queue_timeout", s.Server.QueueTimeout, s.Server.QueueTimeout <= 0, "want a positive duration"},
		{"server.idle_timeout", s.Server.IdleTimeout, s.Server.IdleTimeout <= 0, "want a positive duration"},
		{"server.write_timeout", s.Server.WriteTimeout, s.Server.WriteTimeout <= 0, "want a positive duration"},
		{"server.shutdown_timeout", s.Server.ShutdownTimeout, s.Server.ShutdownTimeout < 0, "want a duration, 0 or more"},
		{"server.key_file", s.Server.KeyFile, (s.Server.CertFile == "") != (s.Server.KeyFile == ""), "cert_file and key_file must be set together"},
		{"server.trusted_proxies", s.Server.badProxy(), s.Server.badProxy() != "", "want IP addresses and CIDR prefixes, such as \"10.0.0.5\" or \"10.0.1.0/24\""},
		{"server.trusted_proxies", s.Server.TrustedProxies, s.Server.ProxyProtocol && len(s.Server.TrustedProxies) == 0,
			"want the load balancers' addresses when proxy_protocol is true"},
		{"server.proxy_header_timeout", s.Server.ProxyHeaderTimeout, s.Server.ProxyHeaderTimeout <= 0, "want a positive duration"},
		{"ftp.listen", s.FTP.Listen, s.FTP.Listen != "" && !validAddr(s.FTP.Listen), "want \"\" (off) or HOST:PORT"},
		{"ftp.tls", s.FTP.TLS, s.FTP.TLS != "required" && s.FTP.TLS != "implicit" && s.FTP.TLS != "off", "want \"required\", \"implicit\" or \"off\""},
		{"ftp.passive_ports", s.FTP.PassivePorts, !validPorts(s.FTP.PassivePorts), "want \"\" or \"FIRST-LAST\" with ports from 1 to 65535"},
		{"ftp.public_host", s.FTP.PublicHost, s.FTP.PublicHost != "" && !isIPv4(s.FTP.PublicHost), "want \"\" or an IPv4 address"},
		{"ftp.accept_timeout", s.FTP.AcceptTimeout, s.FTP.AcceptTimeout <= 0, "want a positive duration"},
		{"ftp.refused_drain_size", s.FTP.RefusedDrainSize, s.FTP.RefusedDrainSize < 0 || s.FTP.RefusedDrainSize > 1<<40, "want 0 (none) to 1TiB"},
		{"ftp.refused_drain_time", s.FTP.RefusedDrainTime, s.FTP.RefusedDrainTime < 0, "want a duration, 0 (none) or more"},
		{"sftp.listen", s.SFTP.Listen, s.SFTP.Listen != "" && !validAddr(s.SFTP.Listen), "want \"\" (off) or HOST:PORT"},
		{"metrics.listen", s.Metrics.Listen, s.Metrics.Listen != "" && !validAddr(s.Metrics.Listen), "want \"\" (off) or HOST:PORT"},
		{"limits.login_attempts", s.Limits.LoginAttempts, s.Limits.LoginAttempts < 1 || s.Limits.LoginAttempts > 100, "want 1 to 100"},
		{"limits.login_timeout", s.Limits.LoginTimeout, s.Limits.LoginTimeout <= 0, "want a positive duration"},
		{"limits.throttle_after", s.Limits.ThrottleAfter, s.Limits.ThrottleAfter < 0, "want 0 or more"},
		{"limits.throttle_window", s.Limits.ThrottleWindow, s.Limits.ThrottleWindow <= 0, "want a positive duration"},
		{"limits.throttle_delay", s.Limits.ThrottleDelay, s.Limits.ThrottleDelay < 0, "want a duration, 0 or more"},
		{"limits.throttle_max_delay", s.Limits.ThrottleMaxDelay, s.Limits.ThrottleMaxDelay < s.Limits.ThrottleDelay, "want at least throttle_delay"},
		{"limits.max_header_size", s.Limits.MaxHeaderSize, s.Limits.MaxHeaderSize < 1024 || s.Limits.MaxHeaderSize > 16<<20, "want 1KiB to 16MiB"},
		{"limits.max_per_address", s.Limits.MaxPerAddress, s.Limits.MaxPerAddress < 0, "want 0 (no limit) or more"},
		{"limits.max_startups", s.Limits.MaxStartups, s.Limits.MaxStartups < 0, "want 0 (no limit) or more"},
		{"limits.max_startups_per_address", s.Limits.MaxStartupsPerAddress, s.Limits.MaxStartupsPerAddress < 0, "want 0 (no limit) or more"},
		{"limits.max_sessions_per_account", s.Limits.MaxSessionsPerAccount, s.Limits.MaxSessionsPerAccount < 0, "want 0 (no limit) or more"},
		{"limits.ipv6_prefix", s.Limits.IPv6Prefix, s.Limits.IPv6Prefix < 16 || s.Limits.IPv6Prefix > 128, "want 16 to 128 (bits of an IPv6 address that name one client)"},
		{"auth.argon2_memory", s.Auth.Argon2Memory, s.Auth.Argon2Memory < 8<<10 || s.Auth.Argon2Memory > 4<<30, "want 8KiB to 4GiB"},
		{"auth.argon2_time", s.Auth.Argon2Time, s.Auth.Argon2Time < 1 || s.Auth.Argon2Time > 100, "want 1 to 100"},
		{"auth.argon2_threads", s.Auth.Argon2Threads, s.Auth.Argon2Threads < 1 || s.Auth.Argon2Threads > 255, "want 1 to 255"},
		{"auth.password_cache", s.Auth.PasswordCache, s.Auth.PasswordCache < 0, "want a duration, 0 (off) or more"},
		{"auth.min_password_length", s.Auth.MinPasswordLength, s.Auth.MinPasswordLength < 1 || s.Auth.MinPasswordLength > 1024, "want 1 to 1024"},
		{"accounts.backend", s.Accounts.Backend, s.Accounts.Backend != "files" && s.Accounts.Backend != "postgres", "want \"files\" or \"postgres\""},
		{"accounts.timeout", s.Accounts.Timeout, s.Accounts.Timeout <= 0, "want a positive duration"},
		{"accounts.lease", s.Accounts.Lease, s.Accounts.Lease.D() < 3*time.Second, "want 3s or more"},
		{"storage.backend", s.Storage.Backend, s.Storage.Backend != "local" && s.Storage.Backend != "s3", "want \"local\" or \"s3\""},
		{"storage.s3.endpoint", s.Storage.S3.Endpoint, s.Storage.Backend == "s3" && !validEndpoint(s.Storage.S3.Endpoint), "want http(s)://HOST[:PORT] when storage.backend is \"s3\""},
		{"storage.s3.bucket", s.Storage.S3.Bucket, s.Storage.Backend == "s3" && s.Storage.S3.Bucket == "", "want the bucket's name when storage.backend is \"s3\""},
		{"storage.s3.part_size", s.Storage.S3.PartSize, s.Storage.S3.PartSize < 5<<20 || s.Storage.S3.PartSize > 5<<30, "want 5MiB to 5GiB"},
		{"storage.s3.max_rename_objects", s.Storage.S3.MaxRenameObjects, s.Storage.S3.MaxRenameObjects < 1, "want 1 or more"},
		{"storage.s3.request_timeout", s.Storage.S3.RequestTimeout, s.Storage.S3.RequestTimeout <= 0, "want a positive duration"},
		{"storage.s3.stall_timeout", s.Storage.S3.StallTimeout, s.Storage.S3.StallTimeout <= 0, "want a positive duration"},
		{"storage.db_dir", s.Storage.DBDir, s.Storage.DBDir == "", "want a directory"},
		{"storage.upload_dir", s.Storage.UploadDir, s.Storage.UploadDir == "", "want a directory"},
		{"storage.upload_dir", s.Storage.UploadDir, s.holdsPrivate(s.Storage.UploadDir),
			"must not hold db_dir, log.dir, the conf directory or the certificate: users could read them"},
		{"storage.default_max_files", s.Storage.DefaultMaxFiles, s.Storage.DefaultMaxFiles < 1, "want 1 or more"},
		{"storage.max_partials", s.Storage.MaxPartials, s.Storage.MaxPartials < 1 || s.Storage.MaxPartials > 100_000, "want 1 to 100000"},
		{"storage.partial_ttl", s.Storage.PartialTTL, s.Storage.PartialTTL <= 0, "want a positive duration"},
		{"log.dir", s.Log.Dir, s.Log.Dir == "", "want a directory"},
		{"log.event_file", s.Log.EventFile, !plainName(s.Log.EventFile), "want a file name without directories"},
		{"log.transfer_file", s.Log.TransferFile, !plainName(s.Log.TransferFile), "want a file name without directories"},
		{"log.level", s.Log.Level, !validLevel(s.Log.Level), "want debug, info, warn or error"},
		{"log.max_size", s.Log.MaxSize, s.Log.MaxSize < 1<<20 || s.Log.MaxSize > 1<<50, "want 1MiB to 1PiB"},
		{"log.max_backups", s.Log.MaxBackups, s.Log.MaxBackups < 0, "want 0 or more"},
		{"log.max_age", s.Log.MaxAge, s.Log.MaxAge < 0, "want a duration, 0 (keep forever) or more"},
		{"client.server", s.Client.Server, !validAddr(s.Client.Server), "want HOST:PORT with a port from 0 to 65535"},
		{"client.known_hosts", s.Client.KnownHosts, s.Client.KnownHosts == "", "want a file path"},
		{"client.checksum", s.Client.Checksum, !slices.Contains(checksum.Transfer(), s.Client.Checksum),
			"want " + strings.Join(checksum.Transfer(), ", ")},
	}
	for _, c := range checks {
		if c.bad {
			return fmt.Errorf("%s = %s: %s", c.key, show(c.got), c.msg)
		}
	}
	return nil
}

// holdsPrivate reports whether dir is, or is above, one of the server's own directories or files.
func (s *Settings) holdsPrivate(dir string) bool {
	for _, p := range []string{s.Storage.DBDir, s.Log.Dir, filepath.Join(s.Root, "conf"), s.Server.CertFile, s.Server.KeyFile, s.SFTP.HostKey} {
		if p == "" {
			continue
		}
		if rel, err := filepath.Rel(dir, p); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return true
		}
	}
	return false
}

// show renders a setting's value the way it is written in the file.
func show(v any) string {
	switch v := v.(type) {
	case string:
		return strconv.Quote(v)
	case Duration:
		return strconv.Quote(v.D().String())
	case Size:
		return strconv.Quote(bytesize.Format(int64(v)))
	}
	return fmt.Sprint(v)
}

func validPorts(s string) bool { _, _, ok := parsePorts(s); return ok }

func isIPv4(s string) bool {
	ip := net.ParseIP(s)
	return ip != nil && ip.To4() != nil
}

func validAddr(addr string) bool {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	n, err := strconv.Atoi(port)
	return err == nil && n >= 0 && n <= 65535
}

func plainName(name string) bool {
	return name != "" && filepath.Base(name) == name && filepath.IsLocal(name)
}

func validLevel(l string) bool {
	switch l {
	case "debug", "info", "warn", "error":
		return true
	}
	return false
}

// RootEnv is the environment variable that names the runtime root when --root is not given.
const RootEnv = "MYFTP_ROOT"

// ResolveRoot picks the runtime root: the --root flag if set, else $MYFTP_ROOT (read through
// getenv), else the current directory. The result is absolute.
func ResolveRoot(flagRoot string, getenv func(string) string) (string, error) {
	root := flagRoot
	if root == "" {
		root = getenv(RootEnv)
	}
	if root == "" {
		root = "."
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return "", fmt.Errorf("root %q: %w", root, err)
	}
	return abs, nil
}

// validEndpoint reports whether e is an http or https URL of a host, without a path.
func validEndpoint(e string) bool {
	u, err := url.Parse(e)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && (u.Path == "" || u.Path == "/") && u.RawQuery == ""
}
