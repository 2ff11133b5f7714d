package ftpdoor_test

// End-to-end tests of the FTP door with real clients (curl, lftp, Python's ftplib) run as
// subprocesses, and a minimal Go client (rawclient_test.go) for what only raw sockets can show.
// Every server runs in-process (servertest) on 127.0.0.1.

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/myftp/myftp/core/ftpdoor"
	"github.com/myftp/myftp/core/server/servertest"
	"github.com/myftp/myftp/lib/homefs"
)

// env is a server with its FTP door, and what clients need to reach it.
type env struct {
	*servertest.Env
	t    testing.TB
	mode ftpdoor.TLSMode
	host string // 127.0.0.1
	port string
	ca   string // the server's certificate (PEM), for clients that can pin it
}

// doorDefaults is the FTP door as conf/settings.toml configures it by default.
func doorDefaults() ftpdoor.Config {
	return ftpdoor.Config{TLSMode: ftpdoor.TLSRequired, RequireTLSReuse: true, StrictTLSEOF: true,
		IdleTimeout: time.Minute, RefusedDrainSize: 64 << 20, RefusedDrainTime: 10 * time.Second}
}

// start runs a server with the FTP door of opt.FTP, or doorDefaults if it is nil.
func start(t testing.TB, opt servertest.Options) *env {
	t.Helper()
	if opt.FTP == nil {
		c := doorDefaults()
		opt.FTP = &c
	}
	se := servertest.Start(t, opt)
	host, port, err := net.SplitHostPort(se.FTPAddr)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{Env: se, t: t, mode: opt.FTP.TLSMode, host: host, port: port}
	if opt.FTP.TLSMode != ftpdoor.TLSOff {
		e.ca = filepath.Join(se.Dir, "server.pem")
		cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: se.Cert.Certificate[0]})
		if err := os.WriteFile(e.ca, cert, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// startDefault runs a server with the FTP door as configured by default.
func startDefault(t testing.TB) *env { return start(t, servertest.Options{}) }

// user creates an account whose password is name+"-pw", with the quota (0: 1 GiB).
func (e *env) user(name string, quota int64) string {
	e.AddUser(name, name+"-pw", quota)
	return name + "-pw"
}

// need returns the path of a client program (see servertest.NeedClient).
func need(t testing.TB, prog, pkg string) string { return servertest.NeedClient(t, prog, pkg) }

// result is what a finished client process left.
type result struct {
	stdout, stderr string
	code           int // exit status
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// procTimeout bounds every client process.
const procTimeout = 60 * time.Second

// run runs a client to its end, in dir, and returns what it left; it fails the test if the
// process cannot start or outlives procTimeout.
func run(t testing.TB, dir string, prog string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), procTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, prog, args...)
	cmd.Dir = dir
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("%s %q: still running after %v\n%v", prog, args, procTimeout, r)
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("%s: %v", prog, err)
	}
	return r
}

// proc is a client running in the background, to be killed mid-transfer.
type proc struct {
	cmd    *exec.Cmd
	out    bytes.Buffer
	done   chan struct{}
	err    error
	cancel context.CancelFunc
}

// startProc starts a client in dir; the test's end kills it if it still runs.
func startProc(t testing.TB, dir, prog string, args ...string) *proc {
	t.Helper()
	return startProcIn(t, dir, nil, prog, args...)
}

// startProcIn is startProc with the client's standard input read from stdin.
func startProcIn(t testing.TB, dir string, stdin io.Reader, prog string, args ...string) *proc {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), procTimeout)
	p := &proc{cmd: exec.CommandContext(ctx, prog, args...), done: make(chan struct{}), cancel: cancel}
	p.cmd.Dir, p.cmd.Stdin = dir, stdin
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	p.cmd.WaitDelay = 5 * time.Second
	if err := p.cmd.Start(); err != nil {
		cancel()
		t.Fatalf("%s: %v", prog, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
		cancel()
	})
	return p
}

// kill sends SIGKILL to the client, by its process id, and waits for it to end.
func (p *proc) kill(t testing.TB) {
	t.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatalf("kill %d: %v", p.cmd.Process.Pid, err)
	}
	servertest.Await(t, "the killed client's end", p.done)
}

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// randomBytes returns n bytes that depend only on seed.
func randomBytes(seed uint64, n int) []byte {
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), 0xf7})
	b := make([]byte, n)
	r.Read(b)
	return b
}

// writeFile writes data to dir/name, creating the directories on the way, and returns its path.
func writeFile(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(name))
	must(t, os.MkdirAll(filepath.Dir(p), 0o755))
	must(t, os.WriteFile(p, data, 0o644))
	return p
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// sameFile fails the test unless the file at p holds exactly want.
func sameFile(t testing.TB, p string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: %d bytes, md5 %s; want %d bytes, md5 %s", p, len(got), md5hex(got), len(want), md5hex(want))
	}
}

func md5hex(b []byte) string { s := md5.Sum(b); return hex.EncodeToString(s[:]) }

// absent fails the test if anything exists at p.
func absent(t testing.TB, p string) {
	t.Helper()
	if fi, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("%s exists (%v, %v); want nothing under that name", p, fi, err)
	}
}

// partialBytes is what the unfinished uploads of a home hold: the data files in
// .myftp/partial (their descriptions, *.json, are not counted).
func (e *env) partialBytes(name string) int64 {
	var n int64
	ents, _ := os.ReadDir(filepath.Join(e.Home(name), ".myftp", "partial"))
	for _, d := range ents {
		if fi, err := d.Info(); err == nil && fi.Mode().IsRegular() && !strings.HasSuffix(d.Name(), ".json") {
			n += fi.Size()
		}
	}
	return n
}

// checkUsage fails the test unless the usage the server counts for the account equals what its
// home holds on disk, and is within its quota.
func (e *env) checkUsage(t testing.TB, name string) int64 {
	t.Helper()
	acct, err := e.DB.Get(name)
	must(t, err)
	h, err := e.Store.Open(acct.Home, acct.Quota)
	must(t, err)
	defer h.Close()
	used, quota := h.Usage()
	disk, err := homefs.DiskUsage(e.Home(name))
	must(t, err)
	if used != disk || used > quota {
		t.Fatalf("account %s: usage %d, on disk %d, quota %d; want usage = disk <= quota", name, used, disk, quota)
	}
	return used
}

// xferLine is one line of the transfer log, split into its fields.
type xferLine struct {
	bytes     string
	path      string
	direction string // i or o
	user      string
	service   string
	complete  string // c or i
	raw       string
}

// xferlog returns the lines of the transfer log.
func (e *env) xferlog(t testing.TB) []xferLine {
	t.Helper()
	data, err := os.ReadFile(e.Xferlog)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	must(t, err)
	var lines []xferLine
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if l == "" {
			continue
		}
		f := strings.Fields(l)
		if len(f) != 18 {
			t.Fatalf("xferlog line with %d fields, want 18: %q", len(f), l)
		}
		lines = append(lines, xferLine{bytes: f[7], path: f[8], direction: f[11], user: f[13], service: f[14],
			complete: f[17], raw: l})
	}
	return lines
}

// waitXfer waits until the transfer log holds n lines and returns them.
func (e *env) waitXfer(t testing.TB, n int) []xferLine {
	t.Helper()
	var lines []xferLine
	servertest.Eventually(t, fmt.Sprintf("%d lines in the transfer log", n), func() bool {
		lines = e.xferlog(t)
		return len(lines) >= n
	})
	if len(lines) != n {
		t.Fatalf("transfer log: %d lines, want %d:\n%v", len(lines), n, lines)
	}
	return lines
}

// wantXfer fails the test unless l records a transfer by the ftp service of the account, in the
// direction dir (i or o), of the file vpath (as the log writes it: /HOME/path) and of that many
// bytes, complete or not.
func wantXfer(t testing.TB, l xferLine, dir, user, vpath string, bytes int64, complete bool) {
	t.Helper()
	c := "i"
	if complete {
		c = "c"
	}
	if l.service != "ftp" || l.direction != dir || l.user != user || l.path != vpath || l.complete != c ||
		(bytes >= 0 && l.bytes != fmt.Sprint(bytes)) {
		t.Fatalf("xferlog line %q: want service ftp, direction %s, user %s, path %s, %d bytes, completion %s",
			l.raw, dir, user, vpath, bytes, c)
	}
}

// treeSums maps every regular file under root (by slash path relative to root) to its sha256,
// and every directory to "dir"; the reserved .myftp of a home is left out.
func treeSums(t testing.TB, root string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		switch {
		case rel == ".":
			return nil
		case rel == ".myftp":
			return filepath.SkipDir
		case d.IsDir():
			m[rel] = "dir"
		case d.Type().IsRegular():
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			s := sha256.Sum256(data)
			m[rel] = hex.EncodeToString(s[:])
		default:
			m[rel] = d.Type().String()
		}
		return nil
	})
	must(t, err)
	return m
}

// sameTree fails the test unless the trees hold the same names with the same contents.
func sameTree(t testing.TB, what string, want, got map[string]string) {
	t.Helper()
	bad := 0
	for p, w := range want {
		if g, ok := got[p]; !ok {
			t.Errorf("%s: %s missing", what, p)
			bad++
		} else if g != w {
			t.Errorf("%s: %s differs", what, p)
			bad++
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			t.Errorf("%s: %s is extra", what, p)
			bad++
		}
	}
	if bad > 0 {
		t.FailNow()
	}
}

// lines splits a client's output into its non-empty lines, without line ends.
func splitLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimRight(l, "\r"); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// sorted returns s sorted.
func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
