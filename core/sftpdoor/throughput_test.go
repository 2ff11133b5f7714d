//go:build sftpthroughput

package sftpdoor_test

// A measurement, not a test: 1 GiB up and down with OpenSSH's sftp client against the
// in-process door, and against OpenSSH's own sftp-server behind a private sshd, in the same run,
// with OpenSSH's default cipher and with aes128-gcm@openssh.com. Data on /dev/shm, so that the
// disk is not what is measured. Run it alone, on an otherwise idle machine:
//
//	go test -tags sftpthroughput -run TestThroughput -v -timeout 30m ./core/sftpdoor
//
// SFTP_THROUGHPUT_SIZE changes the size (bytes, default 1 GiB).

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/myftp/myftp/core/server/servertest"
	"github.com/myftp/myftp/lib/homefs"
)

func TestThroughput(t *testing.T) {
	size := int64(1 << 30)
	if s := os.Getenv("SFTP_THROUGHPUT_SIZE"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		must(t, err)
		size = n
	}
	shm, err := os.MkdirTemp("/dev/shm", "myftp-throughput-")
	must(t, err)
	t.Cleanup(func() { os.RemoveAll(shm) })
	local := filepath.Join(shm, "local")
	must(t, os.MkdirAll(local, 0o700))
	src := filepath.Join(local, "src.bin")
	writeRandom(t, src, size)
	_, srcSum := fileSum(t, src)

	// The door, as myftps runs it by default (fsync on, which costs nothing on tmpfs).
	e := start(t, servertest.Options{Dir: filepath.Join(shm, "root"), Store: homefs.Options{Fsync: true}})
	u := e.user("alice", 4*size)
	door := target{name: "myftp SFTP door", env: e, login: keyLogin(u), port: e.port, remote: "/"}

	ossh := startSSHD(t, e, shm, u)

	ciphers := []string{"", "aes128-gcm@openssh.com"}
	type result struct{ up, down float64 }
	results := map[string]result{}
	for _, cipher := range ciphers {
		for _, tg := range []target{door, ossh} {
			up, down := tg.measure(t, local, src, srcSum, size, cipher)
			results[tg.name+" "+cipherName(cipher)] = result{up, down}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n%d bytes each way, OpenSSH's sftp client (%s), data on /dev/shm, MB = 10^6 bytes\n", size, sshVersion())
	fmt.Fprintf(&b, "%-26s %-24s %12s %12s\n", "server", "cipher", "upload MB/s", "download MB/s")
	for _, cipher := range ciphers {
		for _, tg := range []target{door, ossh} {
			r := results[tg.name+" "+cipherName(cipher)]
			fmt.Fprintf(&b, "%-26s %-24s %12.0f %12.0f\n", tg.name, cipherName(cipher), r.up, r.down)
		}
	}
	t.Log(b.String())
}

func cipherName(c string) string {
	if c == "" {
		return "default"
	}
	return c
}

func sshVersion() string {
	out, _ := exec.Command("ssh", "-V").CombinedOutput()
	return strings.TrimSpace(string(out))
}

// writeRandom writes size pseudo-random bytes to p.
func writeRandom(t testing.TB, p string, size int64) {
	t.Helper()
	f, err := os.Create(p)
	must(t, err)
	const chunk = 8 << 20
	for off, i := int64(0), uint64(0); off < size; off, i = off+chunk, i+1 {
		_, err := f.Write(randomBytes(i, int(min(chunk, size-off))))
		must(t, err)
	}
	must(t, f.Close())
}

// target is a server the sftp client measures against.
type target struct {
	name   string
	env    *env // for the client side: HOME, options
	login  login
	port   string
	remote string // directory the files go to, as the server names it
}

// measure uploads src and downloads it back, each timed as the sftp process's run, and checks
// both copies.
func (tg target) measure(t *testing.T, local, src, srcSum string, size int64, cipher string) (up, down float64) {
	t.Helper()
	extra := []string{"-P", tg.port}
	if cipher != "" {
		extra = append(extra, "-c", cipher)
	}
	remote := tg.remote + "up.bin"
	back := filepath.Join(local, "back.bin")
	run := func(batch string) float64 {
		t.Helper()
		begin := time.Now()
		r := tg.env.sftpTo(tg.login, local, batch, extra...)
		d := time.Since(begin)
		if r.code != 0 {
			t.Fatalf("%s: %q: %v", tg.name, batch, r)
		}
		return float64(size) / 1e6 / d.Seconds()
	}
	up = run(fmt.Sprintf("put %s %s\n", src, remote))
	down = run(fmt.Sprintf("get %s %s\n", remote, back))
	if _, sum := fileSum(t, back); sum != srcSum {
		t.Fatalf("%s: the downloaded copy differs", tg.name)
	}
	run(fmt.Sprintf("rm %s\n", remote)) // time not used
	must(t, os.Remove(back))
	t.Logf("%s, %s: up %.0f MB/s, down %.0f MB/s", tg.name, cipherName(cipher), up, down)
	return up, down
}

// sftpTo is sftp for a batch, where extra holds -P and the server's own options.
func (e *env) sftpTo(l login, dir, batch string, extra ...string) result {
	e.t.Helper()
	sftpPath := need(e.t, "sftp", "openssh-client")
	f, err := os.CreateTemp(e.client, "batch-*")
	must(e.t, err)
	_, err = f.WriteString(batch)
	must(e.t, errors.Join(err, f.Close()))
	args := append(e.sshOptions(l), extra...)
	args = append(args, "-b", f.Name(), "127.0.0.1")
	return e.startProc(l, dir, nil, sftpPath, args...).wait(e.t)
}

// startSSHD runs OpenSSH's sshd on a free loopback port, as root, public-key logins only with
// the key pub, serving sftp with OpenSSH's sftp-server; it is stopped by its process id at the
// end of the test. The clients of e trust its host key through their known_hosts.
func startSSHD(t *testing.T, e *env, shm string, u user) target {
	t.Helper()
	sshd := "/usr/sbin/sshd"
	server := "/usr/lib/openssh/sftp-server"
	for _, p := range []string{sshd, server} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s: %v (apt-get install -y openssh-server)", p, err)
		}
	}
	dir := filepath.Join(shm, "sshd")
	must(t, os.MkdirAll(filepath.Join(dir, "files"), 0o700))
	hostKey := filepath.Join(dir, "host_ed25519")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", hostKey).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	must(t, os.WriteFile(filepath.Join(dir, "authorized_keys"), ssh.MarshalAuthorizedKey(u.signer.PublicKey()), 0o600))
	port := freePort(t)
	config := filepath.Join(dir, "sshd_config")
	must(t, os.WriteFile(config, []byte(fmt.Sprintf(`ListenAddress 127.0.0.1:%s
HostKey %s
PidFile none
AuthorizedKeysFile %s
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
AllowUsers root
UsePAM no
StrictModes no
X11Forwarding no
AllowTcpForwarding no
Subsystem sftp %s
`, port, hostKey, filepath.Join(dir, "authorized_keys"), server)), 0o600))
	// sshd wants its privilege separation directory; Debian makes it at boot.
	must(t, os.MkdirAll("/run/sshd", 0o755))
	cmd := exec.Command(sshd, "-D", "-e", "-f", config)
	var log strings.Builder
	cmd.Stdout, cmd.Stderr = &log, &log
	must(t, cmd.Start())
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	hostPub, err := os.ReadFile(hostKey + ".pub")
	must(t, err)
	f, err := os.OpenFile(e.knownHosts, os.O_APPEND|os.O_WRONLY, 0)
	must(t, err)
	_, err = fmt.Fprintf(f, "[127.0.0.1]:%s %s", port, hostPub)
	must(t, errors.Join(err, f.Close()))
	servertest.Eventually(t, "sshd listening", func() bool {
		c, err := net.Dial("tcp", "127.0.0.1:"+port)
		if err == nil {
			io.Copy(io.Discard, io.LimitReader(c, 4))
			c.Close()
		}
		return err == nil
	})
	return target{name: "OpenSSH sshd + sftp-server", env: e, login: login{user: "root", key: u.key},
		port: port, remote: filepath.Join(dir, "files") + "/"}
}
