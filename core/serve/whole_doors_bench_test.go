package serve_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// The whole-program benchmarks of the FTP and SFTP doors run myftps as whole_bench_test.go does
// and drive it with the standard clients, one process per measured command, connect, handshake
// and login included: curl over explicit FTPS (--ssl-reqd, trusting the certificate myftps wrote
// with --cacert) and lftp for many small files; OpenSSH's sftp in batch mode (-b) with a key
// login and aes128-gcm@openssh.com, the cipher the peers' figures use. The FTPS command lines
// measure vsftpd too (BenchmarkPeerVsftpdFTPS*, whole_peers_bench_test.go), and the sftp command
// lines OpenSSH's sftp-server (BenchmarkPeerSSHSFTP*, whole_peers_ssh_bench_test.go), so that the
// figures compare. Run them
// with
//
//	MYFTP_BENCH_DIR=/dev/shm MYFTP_BENCH_SIZE=1GiB go test -run '^$' -bench 'WholeFTPS|WholeSFTP' -benchtime 3x ./core/serve
//
// A benchmark whose client is not installed is skipped.

// clientTimeout bounds each run of a client.
const clientTimeout = 10 * time.Minute

var (
	ftpsDoor = extraDoor{"ftp", "[ftp]\nlisten = \"127.0.0.1:0\"\ntls = \"required\"\npassive_ports = \"\"\n"}
	sftpDoor = extraDoor{"sftp", "[sftp]\nlisten = \"127.0.0.1:0\"\n"}
)

// needTools skips the benchmark unless every program of tools is on PATH.
func needTools(b *testing.B, tools ...string) {
	for _, t := range tools {
		if _, err := exec.LookPath(t); err != nil {
			b.Skipf("%s is not installed", t)
		}
	}
}

// run runs the program name in dir with args and returns how long it took, from start to exit.
func run(b *testing.B, dir, name string, args ...string) time.Duration {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), clientTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	if err != nil {
		b.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out.String())
	}
	return took
}

// ftpsBench is a server reached over explicit FTPS (myftps's FTP door, or vsftpd), and the curl
// and lftp command lines that reach it: the same for every such server, so that their figures
// compare.
type ftpsBench struct {
	benchTarget
	url  string   // ftp://127.0.0.1:PORT
	curl []string // curl's flags: explicit TLS required, the server's certificate, the login
	lftp string   // lftp's settings and open command, to precede the commands of a lftp -c
}

// newFTPSBench returns the command lines that reach the FTPS server at addr, which presents the
// certificate in the PEM file cert and takes the login user, password.
func newFTPSBench(b *testing.B, t benchTarget, addr, cert, user, password string) *ftpsBench {
	host, port, err := net.SplitHostPort(addr)
	must(b, err)
	return &ftpsBench{benchTarget: t, url: "ftp://" + net.JoinHostPort(host, port),
		curl: []string{"-sS", "--fail", "--ssl-reqd", "--cacert", cert, "-u", user + ":" + password},
		lftp: fmt.Sprintf("set ftp:ssl-force yes; set ftp:ssl-protect-data yes; set ssl:ca-file %s; set net:max-retries 1; "+
			"set cmd:fail-exit yes; open -u %s,%s -p %s %s", cert, user, password, port, host)}
}

// startFTPS starts myftps with its FTP door on, TLS required.
func startFTPS(b *testing.B) *ftpsBench {
	needTools(b, "curl")
	w := startWhole(b, ftpsDoor)
	return newFTPSBench(b, w, w.doors["ftp"], filepath.Join(w.root, "conf", "server.crt"), "bench", "bench-password")
}

// lftpRun runs one lftp process in dir that logs in and runs cmds.
func (f *ftpsBench) lftpRun(b *testing.B, dir, cmds string) time.Duration {
	return run(b, dir, "lftp", "-c", f.lftp+"; "+cmds)
}

// benchFTPSPut: curl uploads the big file.
func benchFTPSPut(b *testing.B, f *ftpsBench) {
	benchPutBig(b, f, func(dir, name string) time.Duration {
		return run(b, dir, "curl", slices.Concat(f.curl, []string{"-T", "big.bin", f.url + "/" + name})...)
	})
}

// benchFTPSGet: curl downloads the big file.
func benchFTPSGet(b *testing.B, f *ftpsBench) {
	benchGetBig(b, f, func(dir, name string) time.Duration {
		return run(b, dir, "curl", slices.Concat(f.curl, []string{"-o", name, f.url + "/big.bin"})...)
	})
}

// benchFTPSMput: lftp uploads the small files in one session.
func benchFTPSMput(b *testing.B, f *ftpsBench) {
	needTools(b, "lftp")
	benchPutSmall(b, f, func(dir string, i int) time.Duration {
		return f.lftpRun(b, dir, fmt.Sprintf("mkdir up%d; mput -O up%d small/*", i, i))
	})
}

// benchFTPSMget: lftp downloads the small files in one session, each run into a new directory;
// lftp uploaded them, untimed, before.
func benchFTPSMget(b *testing.B, f *ftpsBench) {
	needTools(b, "lftp")
	benchGetSmall(b, f, func(dir string) { f.lftpRun(b, dir, "mkdir up; mput -O up small/*") },
		func(dir string, i int) time.Duration {
			return f.lftpRun(b, dir, fmt.Sprintf("mget -O got%d up/*", i))
		})
}

func BenchmarkWholeFTPSPut(b *testing.B)  { benchFTPSPut(b, startFTPS(b)) }
func BenchmarkWholeFTPSGet(b *testing.B)  { benchFTPSGet(b, startFTPS(b)) }
func BenchmarkWholeFTPSMput(b *testing.B) { benchFTPSMput(b, startFTPS(b)) }
func BenchmarkWholeFTPSMget(b *testing.B) { benchFTPSMget(b, startFTPS(b)) }

// sftpBench is a server reached over SFTP with a key login (myftps's SFTP door, or OpenSSH's
// sftp-server), and the sftp command line that reaches it: the same for every such server, so
// that their figures compare.
type sftpBench struct {
	benchTarget
	args []string // sftp's flags and destination, to follow with -b BATCHFILE
}

// newSFTPBench returns the sftp command line that reaches the SFTP server at addr as user with
// the private key in the file key, keeping the server's host key in known.
func newSFTPBench(b *testing.B, t benchTarget, addr, key, known, user string) *sftpBench {
	host, port, err := net.SplitHostPort(addr)
	must(b, err)
	return &sftpBench{benchTarget: t, args: []string{"-F", "/dev/null", "-i", key, "-P", port,
		"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=" + known,
		"-o", "BatchMode=yes", "-o", "LogLevel=ERROR", "-o", "Compression=no", "-o", "Ciphers=aes128-gcm@openssh.com",
		user + "@" + host}}
}

// startSFTP starts myftps with its SFTP door on, and lets a new key log in as its account.
func startSFTP(b *testing.B) *sftpBench {
	needTools(b, "sftp", "ssh-keygen")
	w := startWhole(b, sftpDoor)
	keys := w.workDir(b)
	key := filepath.Join(keys, "id_ed25519")
	run(b, keys, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "bench", "-f", key)
	run(b, keys, filepath.Join(w.bin, "create_user"), "--root", w.root, "key", "add", "bench", key+".pub")
	return newSFTPBench(b, w, w.doors["sftp"], key, filepath.Join(keys, "known_hosts"), "bench")
}

// sftp runs one sftp process in dir with the batch of commands cmds and returns how long it took.
func (s *sftpBench) sftp(b *testing.B, dir, cmds string) time.Duration {
	b.Helper()
	batch, err := os.CreateTemp(dir, "batch-")
	must(b, err)
	defer os.Remove(batch.Name())
	_, err = batch.WriteString(cmds + "\n")
	must(b, err)
	must(b, batch.Close())
	return run(b, dir, "sftp", append([]string{"-b", batch.Name()}, s.args...)...)
}

// benchSFTPPut: sftp uploads the big file.
func benchSFTPPut(b *testing.B, s *sftpBench) {
	benchPutBig(b, s, func(dir, name string) time.Duration {
		return s.sftp(b, dir, "put big.bin "+name)
	})
}

// benchSFTPGet: sftp downloads the big file.
func benchSFTPGet(b *testing.B, s *sftpBench) {
	benchGetBig(b, s, func(dir, name string) time.Duration {
		return s.sftp(b, dir, "get big.bin "+name)
	})
}

// benchSFTPMput: one sftp session uploads the small files.
func benchSFTPMput(b *testing.B, s *sftpBench) {
	benchPutSmall(b, s, func(dir string, i int) time.Duration {
		return s.sftp(b, dir, fmt.Sprintf("mkdir up%d\nput small/* up%d/", i, i))
	})
}

// benchSFTPMget: one sftp session downloads the small files.
func benchSFTPMget(b *testing.B, s *sftpBench) {
	benchGetSmall(b, s, func(dir string) { s.sftp(b, dir, "mkdir up\nput small/* up/") },
		func(dir string, i int) time.Duration {
			return s.sftp(b, dir, fmt.Sprintf("get up/* got%d/", i))
		})
}

func BenchmarkWholeSFTPPut(b *testing.B)  { benchSFTPPut(b, startSFTP(b)) }
func BenchmarkWholeSFTPGet(b *testing.B)  { benchSFTPGet(b, startSFTP(b)) }
func BenchmarkWholeSFTPMput(b *testing.B) { benchSFTPMput(b, startSFTP(b)) }
func BenchmarkWholeSFTPMget(b *testing.B) { benchSFTPMget(b, startSFTP(b)) }
