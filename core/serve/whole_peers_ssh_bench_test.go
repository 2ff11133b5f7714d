package serve_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// BenchmarkPeerSSHSFTP* measure OpenSSH's sftp-server with the sftp command lines of
// BenchmarkWholeSFTP* (whole_doors_bench_test.go), by the same loops, so that the comparison the
// performance issue asks for ("the SFTP door not slower than OpenSSH's sftp-server") is one
// command:
//
//	MYFTP_BENCH_DIR=/dev/shm MYFTP_BENCH_SIZE=1GiB go test -run '^$' -bench 'SFTP' -benchtime 3x ./core/serve
//
// They start Debian's sshd (openssh-server) as peers-bench's 30_ssh.sh does (sshd_common.sh: key
// logins only, no PAM, no strict modes, sftp-server as the sftp subsystem, LogLevel ERROR), with
// a host key, a client key and an authorized_keys file of their own, on a free loopback port, in
// a directory of their own under MYFTP_BENCH_DIR; sftp-server starts in the store directory there
// (its -d flag), so that the account's files go there, not to its home. sshd is stopped by its
// PID when the benchmark ends. The clients log in as peers-bench's test account (PB_USER, default
// pbuser). They are skipped, saying why, when sshd, sftp-server, sftp or the account is missing
// or the benchmark does not run as root (sshd switches to the account). Their server-cpu-s/op is
// nearly zero and means nothing (see peer.cpu): their rest-cpu-s/op is the whole machine's, to
// compare with the door's server-cpu-s/op and rest-cpu-s/op added up.

// Where Debian's openssh-server installs sshd and sftp-server.
const (
	sshdBin       = "/usr/sbin/sshd"
	sftpServerBin = "/usr/lib/openssh/sftp-server"
)

// startSSHSFTP starts sshd with sftp-server as its sftp subsystem and returns the sftp command
// line that reaches it.
func startSSHSFTP(b *testing.B) *sftpBench {
	needTools(b, "sftp", "ssh-keygen")
	for _, p := range []string{sshdBin, sftpServerBin} {
		if _, err := os.Stat(p); err != nil {
			b.Skipf("%s is missing (apt-get install openssh-server): %v", p, err)
		}
	}
	acct := needPeerAccount(b)
	if os.Geteuid() != 0 {
		b.Skip("sshd serves local accounts only when started as root")
	}
	v := newPeer(b, "sshd", acct)
	hostKey, key := filepath.Join(v.root, "host_ed25519"), filepath.Join(v.root, "id_ed25519")
	run(b, v.root, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "host", "-f", hostKey)
	run(b, v.root, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "bench", "-f", key)
	pub, err := os.ReadFile(key + ".pub")
	must(b, err)
	authorized := filepath.Join(v.root, "authorized_keys") // sshd reads it as the account
	must(b, os.WriteFile(authorized, pub, 0o644))
	// sshd refuses to start without its privilege separation directory.
	must(b, os.MkdirAll("/run/sshd", 0o755))
	addr := freeAddr(b)
	conf := filepath.Join(v.root, "sshd_config")
	must(b, os.WriteFile(conf, []byte(sshdConfig(v, addr, hostKey, authorized, acct.name)), 0o600))
	if out, err := exec.Command(sshdBin, "-t", "-f", conf).CombinedOutput(); err != nil {
		b.Fatalf("sshd -t refuses the configuration: %v\n%s", err, out)
	}
	v.start(b, addr, sshdBin, "-D", "-e", "-f", conf)
	s := newSFTPBench(b, v, addr, key, filepath.Join(v.root, "known_hosts"), acct.name)
	// One untimed session: the account logs in with the key and reaches the store.
	probe := v.workDir(b)
	s.sftp(b, probe, "pwd")
	return s
}

// sshdConfig is sshd's configuration: peers-bench's (sshd_common.sh), on addr, with the keys and
// authorized_keys of the benchmark, and sftp-server starting in the store.
func sshdConfig(v *peer, addr, hostKey, authorized, user string) string {
	host, port, _ := net.SplitHostPort(addr)
	return fmt.Sprintf(`Port %s
ListenAddress %s
HostKey %s
PidFile none
AuthenticationMethods publickey
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
AllowUsers %s
AuthorizedKeysFile %s
Subsystem sftp %s -d %s
LogLevel ERROR
MaxStartups 64
`, port, host, hostKey, user, authorized, sftpServerBin, v.store)
}

func BenchmarkPeerSSHSFTPPut(b *testing.B)  { benchSFTPPut(b, startSSHSFTP(b)) }
func BenchmarkPeerSSHSFTPGet(b *testing.B)  { benchSFTPGet(b, startSSHSFTP(b)) }
func BenchmarkPeerSSHSFTPMput(b *testing.B) { benchSFTPMput(b, startSSHSFTP(b)) }
func BenchmarkPeerSSHSFTPMget(b *testing.B) { benchSFTPMget(b, startSSHSFTP(b)) }
