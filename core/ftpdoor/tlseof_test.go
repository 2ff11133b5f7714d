package ftpdoor_test

import (
	"net"
	"path/filepath"
	"testing"

	"github.com/myftp/myftp/core/server/servertest"
)

// TestStrictTLSEOF: a client uploads half a file over a protected data connection and then
// ends the TCP stream without TLS's close_notify (a FIN right after a complete TLS record: what
// the kernel of a killed client sends). With StrictTLSEOF the upload is not published: no 226,
// nothing under the name, the half kept as an unfinished upload. Without it the half file would
// be published as complete, which is what the setting is for.
func TestStrictTLSEOF(t *testing.T) {
	t.Parallel()
	for _, strict := range []bool{true, false} {
		t.Run(map[bool]string{true: "strict", false: "lenient"}[strict], func(t *testing.T) {
			t.Parallel()
			fc := doorDefaults()
			fc.StrictTLSEOF = strict
			e := start(t, servertest.Options{FTP: &fc})
			e.user("rita", 0)
			f := e.login(t, "rita", "rita-pw")
			data := randomBytes(14, 1<<20)
			half := data[:len(data)/2]

			dc, code, msg := f.open(dataOpts{}, "STOR cut.bin")
			if code != 150 {
				t.Fatalf("STOR: %d %s", code, msg)
			}
			if _, err := dc.conn.Write(half); err != nil {
				t.Fatal(err)
			}
			// The TCP stream ends here, TLS never closed.
			must(t, dc.raw.(*net.TCPConn).CloseWrite())
			code, msg = f.mustReplyAny()
			target := filepath.Join(e.Home("rita"), "cut.bin")
			lines := e.waitXfer(t, 1)
			if !strict {
				if code != 226 {
					t.Fatalf("without StrictTLSEOF: %d %s; want 226 (the cut upload taken as complete)", code, msg)
				}
				sameFile(t, target, half)
				wantXfer(t, lines[0], "i", "rita", "/rita/cut.bin", int64(len(half)), true)
				return
			}
			if code == 226 {
				t.Fatalf("an upload cut without close_notify was published: %d %s", code, msg)
			}
			t.Logf("reply to the cut upload: %d %s", code, msg)
			absent(t, target)
			if n := e.partialBytes("rita"); n != int64(len(half)) {
				t.Fatalf("the partial upload holds %d bytes; want the %d received", n, len(half))
			}
			wantXfer(t, lines[0], "i", "rita", "/rita/cut.bin", int64(len(half)), false)
			// The standard resume completes it.
			held := f.must(213, "SIZE cut.bin")
			f.must(350, "REST %s", held)
			dc, code, msg = f.open(dataOpts{}, "STOR cut.bin")
			if code != 150 {
				t.Fatalf("REST %s + STOR: %d %s", held, code, msg)
			}
			dc.conn.Write(data[len(half):])
			dc.conn.Close()
			f.mustReply(226)
			sameFile(t, target, data)
			e.checkUsage(t, "rita")
		})
	}
}

// TestRealClientsSendCloseNotify: curl, lftp and Python's ftplib end their uploads with TLS's
// close_notify, so that with StrictTLSEOF on (the default, set here explicitly) their uploads
// succeed and are published whole.
func TestRealClientsSendCloseNotify(t *testing.T) {
	t.Parallel()
	fc := doorDefaults()
	fc.StrictTLSEOF = true
	e := start(t, servertest.Options{FTP: &fc})
	e.user("sam", 0)
	local := t.TempDir()
	data := randomBytes(15, 1<<20+1)
	writeFile(t, local, "up.bin", data)

	wantOK(t, "curl", e.curl(t, local, "sam", "-T", "up.bin", "/curl.bin"))
	wantOK(t, "lftp", e.lftp(t, local, "sam", "put up.bin -o lftp.bin"))
	wantOK(t, "ftplib", e.python(t, local, "sam", `
f = connect(Reuse)
with open("up.bin", "rb") as src:
    f.storbinary("STOR ftplib.bin", src)
f.quit()
`))
	for _, name := range []string{"curl.bin", "lftp.bin", "ftplib.bin"} {
		sameFile(t, filepath.Join(e.Home("sam"), name), data)
	}
	for _, l := range e.waitXfer(t, 3) {
		if l.complete != "c" || l.service != "ftp" || l.bytes != "1048577" {
			t.Errorf("transfer log: %q; want complete ftp uploads of 1048577 bytes", l.raw)
		}
	}
}
