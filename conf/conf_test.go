package conf

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestDefaultsEqualCommittedFile checks that the embedded defaults are the committed settings.toml,
// byte for byte, and that loading that file gives the same settings as having no file at all.
func TestDefaultsEqualCommittedFile(t *testing.T) {
	committed, err := os.ReadFile("settings.toml")
	if err != nil {
		t.Fatal(err)
	}
	if string(committed) != DefaultTOML() {
		t.Fatal("embedded defaults differ from conf/settings.toml")
	}
	root := t.TempDir()
	def, err := Load(root, "")
	if err != nil {
		t.Fatalf("Load without a file: %v", err)
	}
	if def.File != "" {
		t.Errorf("File = %q, want empty for the built-in defaults", def.File)
	}
	fromFile, err := Load(root, "settings.toml")
	if err != nil {
		t.Fatalf("Load(settings.toml): %v", err)
	}
	fromFile.File = ""
	if !reflect.DeepEqual(def, fromFile) {
		t.Errorf("committed file loads as\n%+v\nwant the defaults\n%+v", fromFile, def)
	}
}

func TestDefaultValues(t *testing.T) {
	root := t.TempDir()
	s, err := Defaults(root)
	if err != nil {
		t.Fatal(err)
	}
	if s.Server.PoolSize != 32 || s.Server.QueueSize != 64 || !s.Server.TLS {
		t.Errorf("server defaults: %+v", s.Server)
	}
	if s.Storage.DefaultQuota != 1<<30 {
		t.Errorf("default quota = %d, want 1 GiB", s.Storage.DefaultQuota)
	}
	if s.Storage.DefaultMaxFiles != 100_000 || s.Storage.MaxPartials != 100 {
		t.Errorf("default_max_files = %d, max_partials = %d; want 100000, 100", s.Storage.DefaultMaxFiles, s.Storage.MaxPartials)
	}
	if s.Storage.S3.RequestTimeout.D() != time.Minute || s.Storage.S3.StallTimeout.D() != time.Minute {
		t.Errorf("s3 request_timeout = %v, stall_timeout = %v; want 1m each", s.Storage.S3.RequestTimeout.D(), s.Storage.S3.StallTimeout.D())
	}
	if s.Storage.PartialTTL.D() != 7*24*time.Hour {
		t.Errorf("partial_ttl = %v, want 7 days", s.Storage.PartialTTL.D())
	}
	if s.Storage.DBDir != filepath.Join(root, "db") || s.Storage.UploadDir != filepath.Join(root, "file_upload") {
		t.Errorf("paths not resolved against the root: %q %q", s.Storage.DBDir, s.Storage.UploadDir)
	}
	if s.Limits.MaxHeaderSize != 64<<10 || s.Limits.MaxPerAddress != 16 {
		t.Errorf("limits defaults: %+v", s.Limits)
	}
	if s.Auth.MinPasswordLength != 8 {
		t.Errorf("min_password_length = %d, want 8", s.Auth.MinPasswordLength)
	}
	if s.Auth.PasswordCache.D() != 10*time.Minute {
		t.Errorf("password_cache = %v, want 10m", s.Auth.PasswordCache.D())
	}
	if s.FTP.RefusedDrainSize != 64<<20 || s.FTP.RefusedDrainTime.D() != 10*time.Second {
		t.Errorf("ftp refused_drain_size = %d, refused_drain_time = %v; want 64 MiB, 10s", s.FTP.RefusedDrainSize, s.FTP.RefusedDrainTime.D())
	}
}

func TestLoadOverrides(t *testing.T) {
	root := t.TempDir()
	writeSettings(t, root, `
[server]
pool_size = 2
queue_timeout = "1.5s"
[storage]
default_quota = "1.5G"
upload_dir = "/srv/homes"
[limits]
max_header_size = 4096
`)
	s, err := Load(root, "")
	if err != nil {
		t.Fatal(err)
	}
	if s.Server.PoolSize != 2 || s.Server.QueueTimeout.D() != 1500*time.Millisecond {
		t.Errorf("server = %+v", s.Server)
	}
	if s.Server.QueueSize != 64 {
		t.Errorf("queue_size = %d, want the default 64 when the file leaves it out", s.Server.QueueSize)
	}
	if s.Storage.DefaultQuota != 3<<29 || s.Storage.UploadDir != "/srv/homes" {
		t.Errorf("storage = %+v", s.Storage)
	}
	if s.Limits.MaxHeaderSize != 4096 {
		t.Errorf("max_header_size = %d", s.Limits.MaxHeaderSize)
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name, text string
		want       []string // substrings of the error
	}{
		{"unknown key", "[server]\npool_sise = 3\n", []string{"unknown key", "server.pool_sise"}},
		{"unknown section", "[nonsense]\nx = 1\n", []string{"unknown key", "nonsense"}},
		{"wrong type", "[server]\npool_size = \"many\"\n", []string{"pool_size"}},
		{"negative pool", "[server]\npool_size = -3\n", []string{"server.pool_size", "want 1 to 100000"}},
		{"port 70000", "[server]\nlisten = \"127.0.0.1:70000\"\n", []string{"server.listen", "port"}},
		{"bad quota unit", "[storage]\ndefault_quota = \"12XB\"\n", []string{"default_quota", "12XB"}},
		{"negative quota", "[storage]\ndefault_quota = -1\n", []string{"default_quota", "negative"}},
		{"bad duration", "[server]\nidle_timeout = \"soon\"\n", []string{"idle_timeout", "soon"}},
		{"zero duration", "[server]\nidle_timeout = \"0s\"\n", []string{"server.idle_timeout", "positive"}},
		{"bad level", "[log]\nlevel = \"loud\"\n", []string{"log.level"}},
		{"negative per-address limit", "[limits]\nmax_per_address = -1\n", []string{"limits.max_per_address", "no limit"}},
		{"IPv6 prefix over 128 bits", "[limits]\nipv6_prefix = 129\n", []string{"limits.ipv6_prefix", "want 16 to 128"}},
		{"uploads hold the database", "[storage]\nupload_dir = \".\"\n", []string{"storage.upload_dir", "must not hold db_dir"}},
		{"uploads hold the logs", "[storage]\nupload_dir = \"/srv/x\"\n[log]\ndir = \"/srv/x/log\"\n", []string{"storage.upload_dir", "users could read them"}},
		{"no files", "[storage]\ndefault_max_files = 0\n", []string{"storage.default_max_files", "want 1 or more"}},
		{"no partial uploads", "[storage]\nmax_partials = 0\n", []string{"storage.max_partials", "want 1 to 100000"}},
		{"empty passwords", "[auth]\nmin_password_length = 0\n", []string{"auth.min_password_length", "want 1 to 1024"}},
		{"negative password cache", "[auth]\npassword_cache = \"-1s\"\n", []string{"auth.password_cache", "want a duration, 0 (off) or more"}},
		{"no stall timeout", "[storage.s3]\nstall_timeout = \"0s\"\n", []string{"storage.s3.stall_timeout", "positive"}},
		{"negative request timeout", "[storage.s3]\nrequest_timeout = \"-1s\"\n", []string{"storage.s3.request_timeout", "positive"}},
		{"not a number of days", "[storage]\npartial_ttl = \"NaNd\"\n", []string{"partial_ttl", "number of days"}},
		{"huge log size", "[log]\nmax_size = 9223372036854775807\n", []string{"log.max_size", "1PiB"}},
		{"cert without key", "[server]\ncert_file = \"a.crt\"\n", []string{"key_file"}},
		{"proxies needed", "[server]\nproxy_protocol = true\n", []string{"server.trusted_proxies", "load balancers' addresses"}},
		{"proxy not an address", "[server]\ntrusted_proxies = [\"10.0.0.5\", \"balancer.example\"]\n",
			[]string{"server.trusted_proxies", `"balancer.example"`, "CIDR"}},
		{"proxy prefix too long", "[server]\ntrusted_proxies = [\"10.0.0.0/33\"]\n", []string{"server.trusted_proxies", `"10.0.0.0/33"`}},
		{"proxy with a zone", "[server]\ntrusted_proxies = [\"fe80::1%eth0\"]\n", []string{"server.trusted_proxies", `"fe80::1%eth0"`}},
		{"negative drain", "[ftp]\nrefused_drain_size = -1\n", []string{"ftp.refused_drain_size", "negative"}},
		{"huge drain", "[ftp]\nrefused_drain_size = \"2TiB\"\n", []string{"ftp.refused_drain_size", "want 0 (none) to 1TiB"}},
		{"negative drain time", "[ftp]\nrefused_drain_time = \"-1s\"\n", []string{"ftp.refused_drain_time", "0 (none) or more"}},
		{"no header timeout", "[server]\nproxy_header_timeout = \"0s\"\n", []string{"server.proxy_header_timeout", "positive"}},
		{"syntax", "[server\n", []string{"settings.toml"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			file := writeSettings(t, root, tt.text)
			_, err := Load(root, "")
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			for _, w := range append(tt.want, file) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// TestProxies: the trusted proxies are read as prefixes, an address as one of its full length
// (an IPv4-mapped one as IPv4), and none is trusted while proxy_protocol is off.
func TestProxies(t *testing.T) {
	root := t.TempDir()
	proxies := `trusted_proxies = ["10.0.0.5", "10.0.1.7/24", "::ffff:192.0.2.1", "fd00:1::/64", "2001:db8::9"]`
	writeSettings(t, root, "[server]\n"+proxies+"\n")
	s, err := Load(root, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Server.Proxies(); got != nil {
		t.Errorf("Proxies() = %v with proxy_protocol off, want none", got)
	}
	if s.Server.ProxyHeaderTimeout.D() != 5*time.Second {
		t.Errorf("proxy_header_timeout = %v, want the default 5s", s.Server.ProxyHeaderTimeout.D())
	}
	writeSettings(t, root, "[server]\nproxy_protocol = true\n"+proxies+"\n")
	if s, err = Load(root, ""); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range s.Server.Proxies() {
		got = append(got, p.String())
	}
	want := "10.0.0.5/32 10.0.1.0/24 192.0.2.1/32 fd00:1::/64 2001:db8::9/128"
	if strings.Join(got, " ") != want {
		t.Errorf("Proxies() = %v, want %s", got, want)
	}
}

func TestExplicitFileMustExist(t *testing.T) {
	if _, err := Load(t.TempDir(), "/nonexistent/settings.toml"); err == nil {
		t.Fatal("Load of a missing --conf file succeeded")
	}
}

func TestDurationDays(t *testing.T) {
	var d Duration
	if err := d.UnmarshalText([]byte("1.5d")); err != nil || d.D() != 36*time.Hour {
		t.Errorf("1.5d = %v, %v", d.D(), err)
	}
	if err := d.UnmarshalText([]byte("-1d")); err == nil {
		t.Error("-1d accepted")
	}
}

func writeSettings(t *testing.T, root, text string) string {
	t.Helper()
	dir := filepath.Join(root, "conf")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "settings.toml")
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

// FuzzLoad feeds arbitrary text to the loader: it must return settings or an error, never panic, and
// whatever it accepts must pass validation again.
func FuzzLoad(f *testing.F) {
	f.Add(DefaultTOML())
	f.Add("[server]\npool_size = 2\n")
	f.Add("[storage]\ndefault_quota = \"1.5GiB\"\n")
	f.Add("[server]\nlisten = \"[::1]:0\"\n")
	f.Fuzz(func(t *testing.T, text string) {
		s, err := parse(t.TempDir(), "fuzz.toml", text)
		if err != nil {
			return
		}
		if err := s.validate(); err != nil {
			t.Fatalf("accepted settings fail validation: %v", err)
		}
	})
}

func TestResolveRoot(t *testing.T) {
	env := map[string]string{RootEnv: "/srv/myftp"}
	if r, _ := ResolveRoot("/flag", func(k string) string { return env[k] }); r != filepath.Clean("/flag") {
		t.Errorf("flag: %q", r)
	}
	if r, _ := ResolveRoot("", func(k string) string { return env[k] }); r != filepath.Clean("/srv/myftp") {
		t.Errorf("env: %q", r)
	}
	wd, _ := os.Getwd()
	if r, _ := ResolveRoot("", func(string) string { return "" }); r != wd {
		t.Errorf("default: %q, want %q", r, wd)
	}
}

func TestAuthParams(t *testing.T) {
	s, err := Defaults(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if p := s.Auth.Params(); p.Memory != 19*1024 || p.Time != 2 || p.Threads != 1 {
		t.Errorf("default argon2 parameters %+v, want 19 MiB, 2 passes, 1 thread", p)
	}
}
