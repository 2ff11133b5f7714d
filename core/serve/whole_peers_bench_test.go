package serve_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/myftp/myftp/lib/certs"
)

// The peer benchmarks measure another server with exactly the client command lines of the door
// benchmarks, in the same run, so that the comparison the performance issue asks for ("the FTP
// door over FTPS not slower than vsftpd over FTPS") is one command:
//
//	MYFTP_BENCH_DIR=/dev/shm MYFTP_BENCH_SIZE=1GiB go test -run '^$' -bench 'FTPS' -benchtime 3x ./core/serve
//
// BenchmarkPeerVsftpdFTPS* start Debian's vsftpd 3.0.3 (apt-get install vsftpd) as
// peers-bench's 20_ftp.sh does (standalone, loopback, local users, no transfer log, no seccomp
// sandbox), with TLS required for logins and data (ssl_enable, force_local_logins_ssl,
// force_local_data_ssl, and vsftpd's default require_ssl_reuse, which curl and lftp honour over
// TLS 1.3), a self-signed ECDSA P-256 certificate made as myftps makes its own, on a free loopback
// port, in a directory of its own under MYFTP_BENCH_DIR; vsftpd is stopped by its PID when the
// benchmark ends. Its clients log in as peers-bench's test account (PB_USER, default pbuser,
// password PB_PASS, default peers-bench's), whose files go to a directory under MYFTP_BENCH_DIR
// (vsftpd's local_root), not to its home. They are skipped, saying why, when vsftpd, curl or the
// account is missing or the benchmark does not run as root (vsftpd switches to the account).

// vsftpdBin is where Debian installs vsftpd, in case /usr/sbin is not on PATH.
const vsftpdBin = "/usr/sbin/vsftpd"

// peerAccount is the local account the peers' clients log in as, made by peers-bench's
// 00_setup.sh with a yescrypt password, as Debian's PAM makes it.
type peerAccount struct {
	name, password string
	uid, gid       int
}

// needPeerAccount returns the peers' test account, or skips the benchmark saying how to make it.
func needPeerAccount(b *testing.B) peerAccount {
	name, password := benchEnv("PB_USER", "pbuser"), benchEnv("PB_PASS", "pb-Bench-2121")
	u, err := user.Lookup(name)
	if err != nil {
		b.Skipf("the peers' test account %q is missing (%v): make it as root with peers-bench's 00_setup.sh "+
			"(/work/shared/peers-bench), or name another local account and its password in PB_USER and PB_PASS", name, err)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		b.Skipf("account %q has no numeric uid and gid (%s, %s): not a Unix system", name, u.Uid, u.Gid)
	}
	return peerAccount{name: name, password: password, uid: uid, gid: gid}
}

// peer is a peer server started for one benchmark (vsftpd, OpenSSH's sshd), and the directory
// its account's files go to.
type peer struct {
	name   string // the program's name, for messages
	root   string // configuration, keys, log and the client's directories
	store  string // where the account's files go
	cmd    *exec.Cmd
	exited chan struct{} // closed once the server has exited and been waited for
}

// newPeer makes the benchmark's directory for the server name under MYFTP_BENCH_DIR (default:
// the system's temporary directory) and, in it, the directory store for the account's files,
// which the account owns; the server reaches it as the account, so the directory is open to all
// for reading.
func newPeer(b *testing.B, name string, acct peerAccount) *peer {
	root, err := os.MkdirTemp(benchEnv("MYFTP_BENCH_DIR", os.TempDir()), name+"-whole-")
	must(b, err)
	b.Cleanup(func() { os.RemoveAll(root) })
	must(b, os.Chmod(root, 0o755))
	v := &peer{name: name, root: root, store: filepath.Join(root, "store"), exited: make(chan struct{})}
	must(b, os.Mkdir(v.store, 0o755))
	must(b, os.Chown(v.store, acct.uid, acct.gid))
	return v
}

// startVsftpdFTPS starts vsftpd with FTPS required and returns the command lines that reach it.
func startVsftpdFTPS(b *testing.B) *ftpsBench {
	needTools(b, "curl")
	bin := vsftpdBin
	if p, err := exec.LookPath("vsftpd"); err == nil {
		bin = p
	} else if _, err := os.Stat(bin); err != nil {
		b.Skip("vsftpd is not installed (apt-get install vsftpd; peers-bench's 00_setup.sh does)")
	}
	acct := needPeerAccount(b)
	if os.Geteuid() != 0 {
		b.Skip("vsftpd serves local accounts only when started as root")
	}
	v := newPeer(b, "vsftpd", acct)
	// secure_chroot_dir: empty, the superuser's, not writable by the account.
	must(b, os.Mkdir(filepath.Join(v.root, "empty"), 0o755))
	cert, key := filepath.Join(v.root, "cert.pem"), filepath.Join(v.root, "key.pem")
	certPEM, keyPEM, err := certs.SelfSigned(nil, time.Now())
	must(b, err)
	must(b, os.WriteFile(cert, certPEM, 0o644))
	must(b, os.WriteFile(key, keyPEM, 0o600))
	addr := freeAddr(b)
	conf := filepath.Join(v.root, "vsftpd.conf")
	must(b, os.WriteFile(conf, []byte(vsftpdConfig(v, addr, cert, key)), 0o600))
	v.start(b, addr, bin, conf)
	f := newFTPSBench(b, v, addr, cert, acct.name, acct.password)
	// One untimed listing: the account logs in, over TLS, and reaches its directory.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	list := exec.CommandContext(ctx, "curl", slices.Concat(f.curl, []string{"-o", os.DevNull, f.url + "/"})...)
	if out, err := list.CombinedOutput(); err != nil {
		b.Fatalf("curl cannot list vsftpd's directory as %s (does PB_PASS hold the password 00_setup.sh set?): %v\n%s%s",
			acct.name, err, out, v.output())
	}
	return f
}

// config is vsftpd's configuration: peers-bench's (20_ftp.sh), on addr, passive ports chosen by
// the system, with TLS required for logins and data.
func vsftpdConfig(v *peer, addr, cert, key string) string {
	host, port, _ := net.SplitHostPort(addr)
	return fmt.Sprintf(`listen=YES
listen_ipv6=NO
listen_address=%s
listen_port=%s
background=NO
anonymous_enable=NO
local_enable=YES
write_enable=YES
local_umask=022
local_root=%s
chroot_local_user=NO
pasv_enable=YES
pasv_address=%s
port_enable=NO
connect_from_port_20=NO
max_clients=1000
max_per_ip=1000
xferlog_enable=NO
dirmessage_enable=NO
pam_service_name=vsftpd
secure_chroot_dir=%s
idle_session_timeout=600
data_connection_timeout=120
seccomp_sandbox=NO
ssl_enable=YES
rsa_cert_file=%s
rsa_private_key_file=%s
force_local_logins_ssl=YES
force_local_data_ssl=YES
`, host, port, v.store, host, filepath.Join(v.root, "empty"), cert, key)
}

// start runs the server bin with args in the foreground (for its PID) and returns once it
// accepts connections on addr; it is stopped by its PID when the benchmark ends.
func (v *peer) start(b *testing.B, addr, bin string, args ...string) {
	v.cmd = exec.Command(bin, args...)
	out, err := os.Create(filepath.Join(v.root, v.name+".out"))
	must(b, err)
	defer out.Close() // the server has its own copy
	v.cmd.Stdout, v.cmd.Stderr = out, out
	must(b, v.cmd.Start())
	go func() {
		v.cmd.Wait()
		close(v.exited)
	}()
	b.Cleanup(v.stop)
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close() // the server serves and drops this session; cpu waits for it to go
			return
		}
		select {
		case <-v.exited: // a bad configuration is refused by exiting at once
			b.Fatalf("%s exited at once%s", v.name, v.output())
		default:
		}
		if time.Now().After(deadline) {
			b.Fatalf("%s does not listen on %s after 20 s: %v%s", v.name, addr, err, v.output())
		}
		time.Sleep(20 * time.Millisecond) // polling a bounded wait for a process to listen
	}
}

// output is what the server wrote to its standard output and error, if anything, for a message.
func (v *peer) output() string {
	data, err := os.ReadFile(filepath.Join(v.root, v.name+".out"))
	if err != nil || len(data) == 0 {
		return ""
	}
	return "\n" + v.name + " wrote:\n" + string(data)
}

// stop ends the server by its PID (SIGTERM, then SIGKILL after 5 s) and waits for it.
func (v *peer) stop() {
	v.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-v.exited:
	case <-time.After(5 * time.Second):
		v.cmd.Process.Kill()
		<-v.exited
	}
}

func (v *peer) workDir(b *testing.B) string {
	d, err := os.MkdirTemp(v.root, "client-")
	must(b, err)
	return d
}

// seed copies dir/name into the account's directory, as an upload would leave it.
func (v *peer) seed(b *testing.B, dir, name string) {
	src, err := os.Open(filepath.Join(dir, name))
	must(b, err)
	defer src.Close()
	dst, err := os.OpenFile(filepath.Join(v.store, name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	must(b, err)
	_, err = io.Copy(dst, src)
	must(b, err)
	must(b, dst.Close())
}

func (v *peer) remove(b *testing.B, _, name string) {
	must(b, os.Remove(filepath.Join(v.store, name)))
}

// cpu is the CPU time of the server's listener and of the session processes it has waited for,
// once the sessions of the clients that have exited are gone: it waits, at most 10 s, until the
// listener has no children left. A session's process that waits for the processes serving the
// logged-in account counts them too (vsftpd's privileged process); those it does not wait for
// do not count: vsftpd's pre-login process, and sshd's process serving the logged-in account
// and its sftp-server, so that sshd's figure is nearly zero.
func (v *peer) cpu(b *testing.B) time.Duration {
	pid := v.cmd.Process.Pid
	children := fmt.Sprintf("/proc/%d/task/%d/children", pid, pid)
	deadline := time.Now().Add(10 * time.Second)
	for {
		data, err := os.ReadFile(children)
		if err != nil {
			b.Skipf("cannot count %s's sessions: %v", v.name, err)
		}
		if len(strings.TrimSpace(string(data))) == 0 {
			return procCPU(b, pid)
		}
		if time.Now().After(deadline) {
			b.Fatalf("%s still has session processes %s 10 s after its clients exited", v.name, data)
		}
		time.Sleep(5 * time.Millisecond) // polling a bounded wait for sessions to end
	}
}

// freeAddr returns 127.0.0.1:PORT with a port that was free a moment ago.
func freeAddr(b *testing.B) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(b, err)
	defer l.Close()
	return l.Addr().String()
}

func BenchmarkPeerVsftpdFTPSPut(b *testing.B)  { benchFTPSPut(b, startVsftpdFTPS(b)) }
func BenchmarkPeerVsftpdFTPSGet(b *testing.B)  { benchFTPSGet(b, startVsftpdFTPS(b)) }
func BenchmarkPeerVsftpdFTPSMput(b *testing.B) { benchFTPSMput(b, startVsftpdFTPS(b)) }
func BenchmarkPeerVsftpdFTPSMget(b *testing.B) { benchFTPSMget(b, startVsftpdFTPS(b)) }
