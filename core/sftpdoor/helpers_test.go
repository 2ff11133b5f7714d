package sftpdoor_test

// End-to-end tests of the SFTP door with real clients: OpenSSH's sftp, scp and ssh run as
// subprocesses, and for what only a program can do (writes in a chosen order, a file held open)
// the pkg/sftp client over golang.org/x/crypto/ssh. Every server runs in-process (servertest) on
// 127.0.0.1; every client gets a HOME of its own and -F /dev/null, so nothing of the user's ~/.ssh
// is read, and a known_hosts file holding only the door's host key, so every connection also
// proves that the server presents that key.

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	mrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/myftp/myftp/core/server/servertest"
	"github.com/myftp/myftp/core/sftpdoor"
	"github.com/myftp/myftp/lib/account"
)

// env is a server with its SFTP door, and a client side: a HOME for the OpenSSH clients, a
// known_hosts file with the door's host key, and key pairs.
type env struct {
	*servertest.Env
	t          testing.TB
	port       string
	client     string // the clients' HOME; keys, scripts and known_hosts live here too
	knownHosts string
}

// doorDefaults is the SFTP door as myftps configures it by default.
func doorDefaults() sftpdoor.Config {
	return sftpdoor.Config{IdleTimeout: time.Minute, WriteTimeout: time.Minute}
}

// start runs a server with the SFTP door of opt.SFTP, or doorDefaults if it is nil.
func start(t testing.TB, opt servertest.Options) *env {
	t.Helper()
	if opt.SFTP == nil {
		c := doorDefaults()
		opt.SFTP = &c
	}
	se := servertest.Start(t, opt)
	_, port, err := net.SplitHostPort(se.SFTPAddr)
	must(t, err)
	e := &env{Env: se, t: t, port: port, client: t.TempDir()}
	e.knownHosts = filepath.Join(e.client, "known_hosts")
	line := knownhosts.Line([]string{knownhosts.Normalize(se.SFTPAddr)}, se.HostKey.PublicKey())
	must(t, os.WriteFile(e.knownHosts, []byte(line+"\n"), 0o600))
	return e
}

// user is an account with a password and an SSH key.
type user struct {
	name, password string
	key            string // private key file, mode 0600
	signer         ssh.Signer
}

// user creates an account with the quota (0: 1 GiB), the password name+"-pw" and a new ed25519
// key added to the account as create_user key add would.
func (e *env) user(name string, quota int64) user {
	e.t.Helper()
	e.AddUser(name, name+"-pw", quota)
	u := user{name: name, password: name + "-pw"}
	u.key, u.signer = e.newKey(name)
	e.addKey(name, u.signer.PublicKey())
	return u
}

// newKey makes an ed25519 key pair and writes the private key, in OpenSSH's format, to a file
// of the client side.
func (e *env) newKey(comment string) (string, ssh.Signer) {
	e.t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	must(e.t, err)
	block, err := ssh.MarshalPrivateKey(priv, comment)
	must(e.t, err)
	f, err := os.CreateTemp(e.client, "id_ed25519_*")
	must(e.t, err)
	_, err = f.Write(pem.EncodeToMemory(block))
	must(e.t, errors.Join(err, f.Close()))
	signer, err := ssh.NewSignerFromKey(priv)
	must(e.t, err)
	return f.Name(), signer
}

// addKey adds pub to the account's keys.
func (e *env) addKey(name string, pub ssh.PublicKey) {
	e.t.Helper()
	keys, err := account.ParseKeys(ssh.MarshalAuthorizedKey(pub))
	must(e.t, err)
	_, err = e.DB.Update(name, func(a *account.Account) error {
		a.AddKeys(keys)
		return nil
	})
	must(e.t, err)
}

// need returns the path of a client program (see servertest.NeedClient).
func need(t testing.TB, prog, pkg string) string { return servertest.NeedClient(t, prog, pkg) }

// login says how an OpenSSH client logs in.
type login struct {
	user     string
	key      string // a private key file: public-key login
	password string // else a password given through SSH_ASKPASS
}

func keyLogin(u user) login      { return login{user: u.name, key: u.key} }
func passwordLogin(u user) login { return login{user: u.name, password: u.password} }

// sshOptions are the options every OpenSSH client gets, before its own: no configuration file,
// only the door's host key trusted, and the login method of l. BatchMode=no must come before
// sftp's -b, which asks for BatchMode=yes (ssh keeps the first value of an option).
func (e *env) sshOptions(l login) []string {
	opts := []string{"-F", "/dev/null",
		"-o", "UserKnownHostsFile=" + e.knownHosts, "-o", "GlobalKnownHostsFile=/dev/null",
		"-o", "StrictHostKeyChecking=yes", "-o", "CheckHostIP=no", "-o", "UpdateHostKeys=no",
		"-o", "ConnectTimeout=20", "-o", "ServerAliveInterval=0", "-o", "User=" + l.user}
	if l.key != "" {
		return append(opts, "-o", "BatchMode=yes", "-o", "PreferredAuthentications=publickey",
			"-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none", "-i", l.key)
	}
	return append(opts, "-o", "BatchMode=no", "-o", "PreferredAuthentications=password",
		"-o", "NumberOfPasswordPrompts=1", "-o", "PubkeyAuthentication=no")
}

// clientEnv is the environment of an OpenSSH client: the private HOME, and for a password login
// an SSH_ASKPASS script that prints the password.
func (e *env) clientEnv(l login) []string {
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + e.client, "LC_ALL=C"}
	if l.key == "" {
		f, err := os.CreateTemp(e.client, "askpass-*.sh")
		must(e.t, err)
		_, err = fmt.Fprintf(f, "#!/bin/sh\nprintf '%%s\\n' '%s'\n", strings.ReplaceAll(l.password, "'", `'\''`))
		must(e.t, errors.Join(err, f.Close()))
		must(e.t, os.Chmod(f.Name(), 0o700))
		env = append(env, "SSH_ASKPASS="+f.Name(), "SSH_ASKPASS_REQUIRE=force", "DISPLAY=:0")
	}
	return env
}

// result is what a finished client process left.
type result struct {
	out  string // stdout and stderr, in the order written (one pipe)
	code int    // exit status
}

func (r result) String() string { return fmt.Sprintf("exit %d, output:\n%s", r.code, r.out) }

// procTimeout bounds every client process.
const procTimeout = 90 * time.Second

// proc is an OpenSSH client process.
type proc struct {
	cmd  *exec.Cmd
	out  syncBuffer
	done chan struct{}
	code int
}

// syncBuffer is a bytes.Buffer safe for a process's output and a test reading it meanwhile.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startProc starts prog with args in dir, with the client environment of l and stdin (nil: none).
// The test's end kills it if it still runs, and procTimeout does.
func (e *env) startProc(l login, dir string, stdin io.Reader, prog string, args ...string) *proc {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), procTimeout)
	p := &proc{cmd: exec.CommandContext(ctx, prog, args...), done: make(chan struct{})}
	p.cmd.Dir, p.cmd.Env, p.cmd.Stdin = dir, e.clientEnv(l), stdin
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	p.cmd.WaitDelay = 5 * time.Second
	if err := p.cmd.Start(); err != nil {
		cancel()
		e.t.Fatalf("%s: %v", prog, err)
	}
	go func() {
		defer cancel()
		err := p.cmd.Wait()
		var ee *exec.ExitError
		switch {
		case errors.As(err, &ee):
			p.code = ee.ExitCode()
		case err != nil:
			p.code = -1
			fmt.Fprintf(&p.out, "\n[test: %v]\n", err)
		}
		close(p.done)
	}()
	e.t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
	})
	return p
}

// wait waits for the process to end and returns what it left.
func (p *proc) wait(t testing.TB) result {
	t.Helper()
	servertest.Await(t, fmt.Sprintf("the end of %s", p.cmd.Args[0]), p.done)
	return result{out: p.out.String(), code: p.code}
}

// kill sends SIGKILL to the process, by its id, and waits for it to end.
func (p *proc) kill(t testing.TB) {
	t.Helper()
	if err := p.cmd.Process.Kill(); err != nil && !p.exited() {
		t.Fatalf("kill %d: %v", p.cmd.Process.Pid, err)
	}
	servertest.Await(t, "the end of the killed client", p.done)
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

// sftpBatch starts OpenSSH's sftp on the batch of commands (one a line) in the local directory
// dir, with extra options before -b.
func (e *env) sftpBatch(l login, dir, batch string, extra ...string) *proc {
	e.t.Helper()
	sftpPath := need(e.t, "sftp", "openssh-client")
	f, err := os.CreateTemp(e.client, "batch-*")
	must(e.t, err)
	_, err = f.WriteString(batch)
	must(e.t, errors.Join(err, f.Close()))
	args := append(e.sshOptions(l), "-P", e.port)
	args = append(args, extra...)
	args = append(args, "-b", f.Name(), "127.0.0.1")
	return e.startProc(l, dir, nil, sftpPath, args...)
}

// sftp runs a batch to its end.
func (e *env) sftp(l login, dir, batch string, extra ...string) result {
	e.t.Helper()
	return e.sftpBatch(l, dir, batch, extra...).wait(e.t)
}

// sftpOK runs a batch that must succeed and returns its output.
func (e *env) sftpOK(l login, dir, batch string, extra ...string) string {
	e.t.Helper()
	r := e.sftp(l, dir, batch, extra...)
	if r.code != 0 {
		e.t.Fatalf("sftp batch %q: %v", batch, r)
	}
	return r.out
}

// scp runs OpenSSH's scp (SFTP underneath, as since OpenSSH 9) with args in dir.
func (e *env) scp(l login, dir string, args ...string) result {
	e.t.Helper()
	scpPath := need(e.t, "scp", "openssh-client")
	all := append(e.sshOptions(l), "-P", e.port)
	return e.startProc(l, dir, nil, scpPath, append(all, args...)...).wait(e.t)
}

// ssh runs OpenSSH's ssh with args (after the host) and stdin.
func (e *env) ssh(l login, stdin io.Reader, opts []string, args ...string) *proc {
	e.t.Helper()
	sshPath := need(e.t, "ssh", "openssh-client")
	all := append(e.sshOptions(l), "-p", e.port)
	all = append(all, opts...)
	all = append(all, "127.0.0.1")
	return e.startProc(l, e.client, stdin, sshPath, append(all, args...)...)
}

// dial logs in u with its key over golang.org/x/crypto/ssh and opens the sftp subsystem with
// pkg/sftp's client. Both are closed at the end of the test.
func (e *env) dial(u user, opts ...sftp.ClientOption) (*ssh.Client, *sftp.Client) {
	e.t.Helper()
	conn, client, err := e.tryDial(u, opts...)
	if err != nil {
		e.t.Fatalf("sftp session of %s: %v", u.name, err)
	}
	return conn, client
}

func (e *env) tryDial(u user, opts ...sftp.ClientOption) (*ssh.Client, *sftp.Client, error) {
	conn, err := ssh.Dial("tcp", e.SFTPAddr, &ssh.ClientConfig{User: u.name, Auth: []ssh.AuthMethod{ssh.PublicKeys(u.signer)},
		HostKeyCallback: ssh.FixedHostKey(e.HostKey.PublicKey()), Timeout: 20 * time.Second})
	if err != nil {
		return nil, nil, err
	}
	client, err := sftp.NewClient(conn, opts...)
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	e.t.Cleanup(func() {
		client.Close()
		conn.Close()
	})
	return conn, client, nil
}

// wantRefusedUpload checks what an upload of name refused for the quota leaves in the home of
// account, the only transfer of the test: no file under the name, no partial upload, no usage,
// and one incomplete upload in the transfer log. The session must have ended (waitIdle).
func (e *env) wantRefusedUpload(t testing.TB, account, name string) {
	t.Helper()
	absent(t, filepath.Join(e.Home(account), name))
	if p := e.partials(account); len(p) != 0 {
		t.Errorf("partial uploads left: %v", p)
	}
	if used := e.checkUsage(t, account); used != 0 {
		t.Errorf("usage %d after a refused upload, want 0", used)
	}
	for _, l := range e.xferlog(t) {
		wantXfer(t, l, "i", account, "/"+account+"/"+name, -1, false)
	}
}

// serverLog returns the server's event log so far.
func (e *env) serverLog() string {
	data, err := os.ReadFile(filepath.Join(e.Dir, "log", "myftps.log"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		e.t.Fatal(err)
	}
	return string(data)
}

// waitIdle waits until the server serves no connection: every session has ended and released
// what it held (open uploads are aborted before a session's worker returns).
func (e *env) waitIdle(t testing.TB) {
	t.Helper()
	e.waitRunning(t, 0)
}

// waitRunning waits until the server serves n connections.
func (e *env) waitRunning(t testing.TB, n int) {
	t.Helper()
	servertest.Eventually(t, fmt.Sprintf("%d connections served", n), func() bool { return e.Server.Stats().Running == n })
}

// partials returns the sizes of the unfinished uploads of a home: the data files in
// .myftp/partial (their descriptions, *.json, are left out).
func (e *env) partials(name string) []int64 {
	var sizes []int64
	ents, _ := os.ReadDir(filepath.Join(e.Home(name), ".myftp", "partial"))
	for _, d := range ents {
		if fi, err := d.Info(); err == nil && fi.Mode().IsRegular() && !strings.HasSuffix(d.Name(), ".json") {
			sizes = append(sizes, fi.Size())
		}
	}
	return sizes
}

// checkUsage fails the test unless the usage the server counts for the account equals what its
// home holds on disk, and is within its quota; it returns the usage.
func (e *env) checkUsage(t testing.TB, name string) int64 {
	t.Helper()
	acct, err := e.DB.Get(name)
	must(t, err)
	h, err := e.Store.Open(acct.Home, acct.Quota)
	must(t, err)
	defer h.Close()
	used, quota := h.Usage()
	disk := diskBytes(t, e.Home(name))
	if used != disk || used > quota {
		t.Fatalf("account %s: usage %d, on disk %d, quota %d; want usage = disk <= quota", name, used, disk, quota)
	}
	return used
}

// diskBytes is what a home holds against its quota, counted on disk as the server counts it:
// the regular files, and of the reserved .myftp directory only the data of unfinished uploads
// (.myftp/partial/KEY, not KEY.json); symbolic links are not followed.
func diskBytes(t testing.TB, home string) int64 {
	t.Helper()
	var n int64
	err := filepath.WalkDir(home, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(home, p)
		parts := strings.Split(filepath.ToSlash(rel), "/")
		if parts[0] == ".myftp" && !(len(parts) == 1 || parts[1] == "partial") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || parts[0] == ".myftp" && (len(parts) != 3 || strings.HasSuffix(p, ".json")) {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		n += fi.Size()
		return nil
	})
	must(t, err)
	return n
}

// xferLine is one line of the transfer log, split into its fields.
type xferLine struct {
	bytes, path, direction, user, service, complete string
	raw                                             string
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

// wantXfer fails the test unless l records a transfer by the sftp service of user, in the
// direction dir (i or o), of the file path (as the log writes it: /HOME/path), of that many bytes
// (unless negative), complete or not.
func wantXfer(t testing.TB, l xferLine, dir, user, path string, bytes int64, complete bool) {
	t.Helper()
	c := "i"
	if complete {
		c = "c"
	}
	if l.service != "sftp" || l.direction != dir || l.user != user || l.path != path || l.complete != c ||
		(bytes >= 0 && l.bytes != fmt.Sprint(bytes)) {
		t.Errorf("xferlog line %q: want service sftp, direction %s, user %s, path %s, %d bytes, completion %s",
			l.raw, dir, user, path, bytes, c)
	}
}

// randomBytes returns n bytes that depend only on seed.
func randomBytes(seed uint64, n int) []byte {
	r := mrand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), 0x5f})
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

// fileSum returns the size and sha256 of the file at p.
func fileSum(t testing.TB, p string) (int64, string) {
	t.Helper()
	f, err := os.Open(p)
	must(t, err)
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	must(t, err)
	return n, hex.EncodeToString(h.Sum(nil))
}

// sameFile fails the test unless the files at got and want have the same bytes.
func sameFile(t testing.TB, got, want string) {
	t.Helper()
	gn, gs := fileSum(t, got)
	wn, ws := fileSum(t, want)
	if gn != wn || gs != ws {
		t.Errorf("%s: %d bytes, sha256 %.16s; want those of %s: %d bytes, sha256 %.16s", got, gn, gs, want, wn, ws)
	}
}

// sameBytes fails the test unless the file at p holds exactly want.
func sameBytes(t testing.TB, p string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(p)
	if err != nil {
		t.Errorf("%s: %v", p, err)
		return
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s: %d bytes; want %d bytes, other content", p, len(got), len(want))
	}
}

// absent fails the test if anything exists at p.
func absent(t testing.TB, p string) {
	t.Helper()
	if fi, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s exists (%v, %v); want nothing under that name", p, fi, err)
	}
}

// treeSums maps every file under root (by slash path relative to root) to its sha256 and every
// directory to "dir"; the reserved .myftp of a home is left out.
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
		case rel == ".myftp":
			return filepath.SkipDir
		case d.IsDir():
			m[rel] = "dir"
		case d.Type().IsRegular():
			_, m[rel] = fileSum(t, p)
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
	for p, w := range want {
		if g, ok := got[p]; !ok {
			t.Errorf("%s: %s missing", what, p)
		} else if g != w {
			t.Errorf("%s: %s differs", what, p)
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			t.Errorf("%s: %s should not be there", what, p)
		}
	}
}
