package ftpdoor_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// pyPrelude starts every Python script: argv is host, port, CA file, user, password. Reuse is
// the few lines a Python program needs against a server that requires TLS session reuse on data
// connections (ftplib does not pass the control connection's session to them).
const pyPrelude = `
import ftplib, hashlib, io, json, os, ssl, sys
host, port, cafile, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
ctx = ssl.create_default_context(cafile=cafile)  # pins the server's certificate; it names 127.0.0.1

class Reuse(ftplib.FTP_TLS):
    def ntransfercmd(self, cmd, rest=None):
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:
            conn = self.context.wrap_socket(conn, server_hostname=self.host, session=self.sock.session)
        return conn, size

def connect(cls):
    f = cls(context=ctx, timeout=20)
    f.connect(host, port)
    f.login(user, password)
    f.prot_p()
    return f

def out(*args):
    print(*args, flush=True)
`

// python runs a script (after pyPrelude) against the door as user, in dir.
func (e *env) python(t testing.TB, dir, user, script string) result {
	t.Helper()
	return run(t, dir, need(t, "python3", "python3"), "-I", "-c", pyPrelude+script,
		e.host, e.port, e.ca, user, user+"-pw")
}

// TestFtplibTLSReuse: with RequireTLSReuse (the default), plain ftplib.FTP_TLS, whose data
// connections do not resume the control connection's TLS session, is refused its data
// connection; the subclass passing session=self.sock.session lists, uploads and downloads.
func TestFtplibTLSReuse(t *testing.T) {
	t.Parallel()
	e := startDefault(t)
	e.user("hana", 0)
	writeFile(t, e.Home("hana"), "x.txt", []byte("hello"))
	r := e.python(t, t.TempDir(), "hana", `
f = connect(ftplib.FTP_TLS)
try:
    f.mlsd_list = list(f.mlsd())
    out("plain: listed", f.mlsd_list)
except ssl.SSLError as e:
    out("plain: data connection refused:", e.reason)
    try:
        f.getresp()
    except ftplib.Error as e:
        out("plain: reply", str(e)[:3])
f.close()
f = connect(Reuse)
out("reuse: listed", sorted(name for name, facts in f.mlsd()))
f.storbinary("STOR y.txt", io.BytesIO(b"world"))
buf = io.BytesIO()
f.retrbinary("RETR x.txt", buf.write)
out("reuse: got", buf.getvalue().decode())
f.quit()
`)
	wantOK(t, "ftplib", r)
	for _, want := range []string{
		"plain: data connection refused: SSLV3_ALERT_BAD_CERTIFICATE\n",
		"plain: reply 550\n",
		"reuse: listed ['x.txt']\n",
		"reuse: got hello\n",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("no %q in\n%v", want, r)
		}
	}
	sameFile(t, filepath.Join(e.Home("hana"), "y.txt"), []byte("world"))
}

// TestFtplibSession: ftplib (with the reuse subclass) logs in, protects the data channel, lists
// with MLSD, uploads and downloads byte-identical files, resumes an upload cut without TLS
// close_notify with storbinary(rest=N) after SIZE, downloads the end of a file with
// retrbinary(rest=N), and reads HASH (SHA-256 by default, MD5 after OPTS) and AVBL.
func TestFtplibSession(t *testing.T) {
	t.Parallel()
	e := startDefault(t)
	const quota = 50 << 20
	e.user("ivan", quota)
	local := t.TempDir()
	data := randomBytes(7, 2<<20+123)
	writeFile(t, local, "data.bin", data)
	r := e.python(t, local, "ivan", `
data = open("data.bin", "rb").read()
f = connect(Reuse)
f.storbinary("STOR whole.bin", io.BytesIO(data))
f.mkd("sub dir")
for name, facts in sorted(f.mlsd()):
    out("mlsd", name, facts["type"], facts.get("size", "-"))

# An upload cut as a killed client cuts it: the TLS layer is not closed (no close_notify).
conn = f.transfercmd("STOR part.bin")
conn.sendall(data[:700000])
conn.close()
try:
    out("cut upload:", f.getresp())
except ftplib.Error as e:
    out("cut upload refused:", str(e)[:3])
held = f.size("part.bin")
out("size after the cut:", held)
out("nlst while unfinished:", sorted(f.nlst()))
src = io.BytesIO(data)
src.seek(held)
out("resume:", f.storbinary("STOR part.bin", src, rest=held)[:3])

got = io.BytesIO()
f.retrbinary("RETR part.bin", got.write)
out("part.bin identical:", got.getvalue() == data)
tail = io.BytesIO()
f.retrbinary("RETR whole.bin", tail.write, rest=1000000)
out("tail identical:", tail.getvalue() == data[1000000:])

out("hash:", f.sendcmd("HASH whole.bin").splitlines()[-1])
f.sendcmd("OPTS HASH MD5")
out("hash:", f.sendcmd("HASH whole.bin").splitlines()[-1])
out("avbl:", f.sendcmd("AVBL"))
f.quit()
`)
	wantOK(t, "ftplib", r)
	sha := sha256.Sum256(data)
	n := len(data)
	for _, want := range []string{
		"mlsd sub dir dir ",
		fmt.Sprintf("mlsd whole.bin file %d\n", n),
		"cut upload refused: 550\n",
		"nlst while unfinished: ['sub dir', 'whole.bin']\n",
		"resume: 226\n",
		"part.bin identical: True\n",
		"tail identical: True\n",
		fmt.Sprintf("hash: 213 SHA-256 0-%d %s whole.bin\n", n, hex.EncodeToString(sha[:])),
		fmt.Sprintf("hash: 213 MD5 0-%d %s whole.bin\n", n, md5hex(data)),
		fmt.Sprintf("avbl: 213 %d\n", quota-2*n),
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("no %q in\n%v", want, r)
		}
	}
	// The server keeps what it had read when the connection ended: the kernel drops what it
	// had not, when the client's close is a reset (Python had not read the ticket the server
	// sent on the data connection).
	var held int64
	if _, err := fmt.Sscanf(r.stdout[strings.Index(r.stdout, "size after the cut: "):], "size after the cut: %d", &held); err != nil ||
		held <= 0 || held > 700000 {
		t.Fatalf("SIZE after the cut: %d, %v; want 1 to 700000\n%v", held, err, r)
	}
	sameFile(t, filepath.Join(e.Home("ivan"), "part.bin"), data)
	lines := e.waitXfer(t, 5)
	wantXfer(t, lines[1], "i", "ivan", "/ivan/part.bin", held, false)
	wantXfer(t, lines[2], "i", "ivan", "/ivan/part.bin", int64(n)-held, true)
	wantXfer(t, lines[4], "o", "ivan", "/ivan/whole.bin", int64(n-1000000), true)
	e.checkUsage(t, "ivan")
}
