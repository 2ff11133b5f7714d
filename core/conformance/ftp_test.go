package conformance_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/myftp/myftp/core/server/servertest"
)

// ftp drives the FTP door with curl, over explicit TLS, pinning the server's certificate.
type ftp struct {
	t     *testing.T
	e     *env
	user  string
	local string
	curl  string
}

func openFTP(t *testing.T, e *env, user, local string) session {
	return &ftp{t: t, e: e, user: user, local: local, curl: servertest.NeedClient(t, "curl", "curl")}
}

// url is the ftp:// URL of the remote name (a directory's ends in /).
func (f *ftp) url(remote string) string { return "ftp://" + f.e.FTPAddr + "/" + remote }

// start starts curl with args; -v shows the server's replies on stderr, so that a refusal
// shows its code and message.
func (f *ftp) start(args ...string) *proc {
	f.t.Helper()
	// -q: no ~/.curlrc; -m bounds the whole run.
	all := []string{"-q", "-sS", "-v", "--connect-timeout", "10", "-m", "60", "-u", f.user + ":" + f.user + "-pw",
		"--ssl-reqd", "--cacert", f.e.ca}
	return startProc(f.t, f.local, nil, false, f.curl, append(all, args...)...)
}

func (f *ftp) run(args ...string) (string, error) {
	f.t.Helper()
	p := f.start(args...)
	err := p.wait(f.t)
	return p.stdout.String(), err
}

func (f *ftp) put(local, remote string) error {
	_, err := f.run("-T", local, f.url(remote))
	return err
}

// putCut runs curl slowed down (--limit-rate) and kills it (SIGKILL) once the server holds part
// of the file.
func (f *ftp) putCut(local, remote string, rate int64, held func() bool, during func()) {
	f.t.Helper()
	p := f.start("--limit-rate", fmt.Sprint(rate), "-T", local, f.url(remote))
	servertest.Eventually(f.t, "part of the upload held by the server", func() bool { return held() || p.exited() })
	if p.exited() {
		f.t.Fatalf("curl ended before it was cut: %v", p.wait(f.t))
	}
	during()
	p.kill(f.t)
}

// reput: curl -C - -T asks SIZE (the bytes the server holds of the unfinished upload) and
// sends the rest with APPE.
func (f *ftp) reput(local, remote string) error {
	_, err := f.run("-C", "-", "-T", local, f.url(remote))
	return err
}

func (f *ftp) get(remote, local string) error {
	_, err := f.run(f.url(remote), "-o", local)
	return err
}

// reget: curl -C - sends REST with the size of the local file, then RETR.
func (f *ftp) reget(remote, local string, prefix []byte) error {
	must(f.t, os.WriteFile(filepath.Join(f.local, local), prefix, 0o600))
	_, err := f.run("-C", "-", f.url(remote), "-o", local)
	return err
}

// list lists with NLST (curl --list-only).
func (f *ftp) list(dir string) ([]string, error) {
	if dir != "" && !strings.HasSuffix(dir, "/") {
		dir += "/"
	}
	out, err := f.run("--list-only", f.url(dir))
	return lines(out), err
}

func (f *ftp) mkdir(dir string) error {
	_, err := f.run("-Q", "MKD "+dir, f.url(""))
	return err
}

func (f *ftp) rename(from, to string) error {
	_, err := f.run("-Q", "RNFR "+from, "-Q", "RNTO "+to, f.url(""))
	return err
}
