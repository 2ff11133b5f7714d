package conformance_test

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/myftp/myftp/core/server/servertest"
)

// sftp drives the SFTP door with OpenSSH's sftp in batch mode, logging in with the account's
// key; no configuration file nor anything of the user's ~/.ssh is read, and only the door's host
// key is trusted.
type sftp struct {
	t     *testing.T
	e     *env
	user  string
	local string
	sftp  string
}

func openSFTP(t *testing.T, e *env, user, local string) session {
	return &sftp{t: t, e: e, user: user, local: local, sftp: servertest.NeedClient(t, "sftp", "openssh-client")}
}

// start runs the batch of commands (one a line), with extra options before -b.
func (s *sftp) start(batch string, extra ...string) *proc {
	s.t.Helper()
	f, err := os.CreateTemp(s.e.clientHome, "batch-*")
	must(s.t, err)
	_, err = f.WriteString(batch)
	must(s.t, err)
	must(s.t, f.Close())
	_, port, err := net.SplitHostPort(s.e.SFTPAddr)
	must(s.t, err)
	args := []string{"-F", "/dev/null", "-P", port,
		"-o", "UserKnownHostsFile=" + s.e.knownHosts, "-o", "GlobalKnownHostsFile=/dev/null",
		"-o", "StrictHostKeyChecking=yes", "-o", "CheckHostIP=no", "-o", "UpdateHostKeys=no",
		"-o", "ConnectTimeout=20", "-o", "User=" + s.user, "-o", "BatchMode=yes",
		"-o", "PreferredAuthentications=publickey", "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none",
		"-i", s.e.keys[s.user]}
	args = append(args, extra...)
	args = append(args, "-b", f.Name(), "127.0.0.1")
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + s.e.clientHome, "LC_ALL=C"}
	return startProc(s.t, s.local, env, true, s.sftp, args...)
}

// run runs a batch; sftp -b stops at the first command that fails, with status 1.
func (s *sftp) run(format string, args ...any) (string, error) {
	s.t.Helper()
	p := s.start(fmt.Sprintf(format, args...))
	err := p.wait(s.t)
	return p.stdout.String(), err
}

// q quotes a name for sftp's command line.
func q(name string) string { return strconv.Quote(name) }

func (s *sftp) put(local, remote string) error {
	_, err := s.run("put %s %s\n", q(local), q(remote))
	return err
}

// putCut runs sftp slowed down (-l, in kbit/s) and kills it (SIGKILL) once the server holds
// part of the file.
func (s *sftp) putCut(local, remote string, rate int64, held func() bool, during func()) {
	s.t.Helper()
	p := s.start(fmt.Sprintf("put %s %s\n", q(local), q(remote)), "-l", fmt.Sprint(rate*8/1000))
	servertest.Eventually(s.t, "part of the upload held by the server", func() bool { return held() || p.exited() })
	if p.exited() {
		s.t.Fatalf("sftp ended before it was cut: %v", p.wait(s.t))
	}
	during()
	p.kill(s.t)
}

// reput: sftp stats the remote file (the bytes the server holds of the unfinished upload) and
// writes the rest from there.
func (s *sftp) reput(local, remote string) error {
	_, err := s.run("reput %s %s\n", q(local), q(remote))
	return err
}

func (s *sftp) get(remote, local string) error {
	_, err := s.run("get %s %s\n", q(remote), q(local))
	return err
}

// reget: sftp reads from the size of the local file on.
func (s *sftp) reget(remote, local string, prefix []byte) error {
	must(s.t, os.WriteFile(filepath.Join(s.local, local), prefix, 0o600))
	_, err := s.run("reget %s %s\n", q(remote), q(local))
	return err
}

// list lists with ls -1, one name a line after the echoed command.
func (s *sftp) list(dir string) ([]string, error) {
	if dir == "" {
		dir = "."
	}
	out, err := s.run("ls -1 %s\n", q(dir))
	var names []string
	for _, l := range lines(out) {
		if !strings.HasPrefix(l, "sftp> ") {
			names = append(names, strings.TrimPrefix(l, dir+"/"))
		}
	}
	return names, err
}

func (s *sftp) mkdir(dir string) error {
	_, err := s.run("mkdir %s\n", q(dir))
	return err
}

func (s *sftp) rename(from, to string) error {
	_, err := s.run("rename %s %s\n", q(from), q(to))
	return err
}
