package sftpdoor_test

import (
	"encoding/binary"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/myftp/myftp/core/server/servertest"
)

// TestLimits: OpenSSH's sftp learns the door's limits (limits@openssh.com) and then reads and
// writes 255 KiB a request, as with its own sftp-server; a file of several such requests and a
// remainder goes up and comes back byte-identical.
func TestLimits(t *testing.T) {
	t.Parallel()
	e := start(t, servertest.Options{})
	u := e.user("alice", 0)
	dir := t.TempDir()
	writeFile(t, dir, "f", randomBytes(1, 5<<20+123))
	out := e.sftpOK(keyLogin(u), dir, "put f\nget f g\n", "-vvv")
	// OpenSSH 9.2 says "server upload/download buffer sizes 261120 / 261120; using 261120 /
	// 261120", later versions "Using server upload size 261120" and the same for downloads.
	if !strings.Contains(out, "Received limits reply") || strings.Count(out, "261120") < 2 {
		t.Errorf("sftp -vvv does not say that it uses the door's limits:\n%s", out)
	}
	sameFile(t, filepath.Join(e.Home("alice"), "f"), filepath.Join(dir, "f"))
	sameFile(t, filepath.Join(dir, "g"), filepath.Join(dir, "f"))
}

// TestLimitsPackets: at the protocol level, the server's VERSION lists limits@openssh.com, a
// limits request gets the limits (packet 256 KiB, read and write 255 KiB, at most 256 open handles),
// and another unknown extension still gets "operation unsupported", in its turn.
func TestLimitsPackets(t *testing.T) {
	t.Parallel()
	e := start(t, servertest.Options{})
	u := e.user("alice", 0)
	conn, err := ssh.Dial("tcp", e.SFTPAddr, &ssh.ClientConfig{User: u.name, Auth: []ssh.AuthMethod{ssh.PublicKeys(u.signer)},
		HostKeyCallback: ssh.FixedHostKey(e.HostKey.PublicKey())})
	must(t, err)
	defer conn.Close()
	sess, err := conn.NewSession()
	must(t, err)
	defer sess.Close()
	w, err := sess.StdinPipe()
	must(t, err)
	r, err := sess.StdoutPipe()
	must(t, err)
	must(t, sess.RequestSubsystem("sftp"))

	send := func(fields ...any) {
		var b []byte
		for _, f := range fields {
			switch f := f.(type) {
			case byte:
				b = append(b, f)
			case uint32:
				b = binary.BigEndian.AppendUint32(b, f)
			case string:
				b = append(binary.BigEndian.AppendUint32(b, uint32(len(f))), f...)
			}
		}
		_, err := w.Write(append(binary.BigEndian.AppendUint32(nil, uint32(len(b))), b...))
		must(t, err)
	}
	recv := func() []byte {
		var n [4]byte
		_, err := io.ReadFull(r, n[:])
		must(t, err)
		b := make([]byte, binary.BigEndian.Uint32(n[:]))
		_, err = io.ReadFull(r, b)
		must(t, err)
		return b
	}

	send(byte(1), uint32(3)) // INIT, version 3
	version := recv()
	if version[0] != 2 || !strings.Contains(string(version), "\x00\x00\x00\x12limits@openssh.com\x00\x00\x00\x011") {
		t.Fatalf("VERSION %q does not list limits@openssh.com", version)
	}
	send(byte(200), uint32(7), "limits@openssh.com")
	send(byte(200), uint32(8), "nothing@example.com")
	limits := recv()
	want := binary.BigEndian.AppendUint32([]byte{201}, 7)
	for _, v := range []uint64{256 << 10, 255 << 10, 255 << 10, 256} { // packet, read, write, open handles
		want = binary.BigEndian.AppendUint64(want, v)
	}
	if string(limits) != string(want) {
		t.Errorf("limits reply %x, want %x", limits, want)
	}
	other := recv()
	if len(other) < 13 || other[0] != 101 || binary.BigEndian.Uint32(other[1:]) != 8 || binary.BigEndian.Uint32(other[5:]) != 8 {
		t.Errorf("reply to an unknown extension %x, want status 8 (unsupported) for id 8", other)
	}
}
