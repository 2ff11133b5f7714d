package sftpdoor_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/myftp/myftp/core/server/servertest"
	"github.com/myftp/myftp/lib/checksum"
	"github.com/myftp/myftp/lib/client"
)

// TestUploadRecordsBLAKE3: the server records the BLAKE3 of what OpenSSH's sftp uploads (SFTP
// clients ask for no checksum; myftp's own clients verify with BLAKE3), and a native sum is
// answered from that record: with one byte of the stored file changed behind the server's back
// (size and time kept, so the record still looks valid), it still gives the digest of what sftp
// sent, while a sum in SHA-256, which the door did not record, reads the changed file.
func TestUploadRecordsBLAKE3(t *testing.T) {
	t.Parallel()
	e := start(t, servertest.Options{})
	u := e.user("alice", 0)
	dir := t.TempDir()
	data := randomBytes(7, 1<<20+5)
	writeFile(t, dir, "f.bin", data)
	e.sftpOK(keyLogin(u), dir, "put f.bin\n")

	stored := filepath.Join(e.Home("alice"), "f.bin")
	fi, err := os.Stat(stored)
	must(t, err)
	changed := append([]byte{data[0] ^ 0xff}, data[1:]...)
	must(t, os.WriteFile(stored, changed, 0o600))
	must(t, os.Chtimes(stored, fi.ModTime(), fi.ModTime()))

	for algo, want := range map[string]string{
		checksum.BLAKE3: servertest.Sum(checksum.BLAKE3, data),
		checksum.SHA256: servertest.Sum(checksum.SHA256, changed),
	} {
		cfg := e.ClientConfig()
		cfg.Checksum = algo
		c, err := client.Dial(t.Context(), cfg)
		must(t, err)
		must(t, c.Login("alice", u.password))
		sum, err := c.Sum("f.bin")
		c.Close()
		if err != nil || sum != want {
			t.Errorf("native %s sum after an sftp put: %s, %v; want %s", algo, sum, err, want)
		}
	}
}
