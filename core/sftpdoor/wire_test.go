package sftpdoor_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/myftp/myftp/core/server/servertest"
)

// The door's SFTP server spoken packet by packet, as a client that writes its own requests would:
// what no real client sends (malformed requests, reads larger than the limits) and what the
// replies hold exactly.

// rawSFTP is an sftp channel on which the test writes requests and reads replies itself.
type rawSFTP struct {
	t   testing.TB
	in  io.WriteCloser
	out io.Reader
}

// raw logs in u with its key and starts the sftp subsystem, past INIT and VERSION; the
// connection is closed at the end of t.
func (e *env) raw(t testing.TB, u user) *rawSFTP {
	t.Helper()
	conn, err := ssh.Dial("tcp", e.SFTPAddr, &ssh.ClientConfig{User: u.name, Auth: []ssh.AuthMethod{ssh.PublicKeys(u.signer)},
		HostKeyCallback: ssh.FixedHostKey(e.HostKey.PublicKey()), Timeout: 20 * time.Second})
	must(t, err)
	t.Cleanup(func() { conn.Close() })
	sess, err := conn.NewSession()
	must(t, err)
	in, err := sess.StdinPipe()
	must(t, err)
	out, err := sess.StdoutPipe()
	must(t, err)
	must(t, sess.RequestSubsystem("sftp"))
	r := &rawSFTP{t: t, in: in, out: out}
	r.send([]byte{1, 0, 0, 0, 3}) // INIT, version 3
	if v := r.recv(); len(v) < 5 || v[0] != 2 || binary.BigEndian.Uint32(v[1:]) != 3 {
		t.Fatalf("INIT answered % x, want VERSION 3", v[:min(len(v), 5)])
	}
	return r
}

// send writes one packet whose bytes after the length are body.
func (r *rawSFTP) send(body []byte) {
	r.t.Helper()
	_, err := r.in.Write(append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...))
	must(r.t, err)
}

// recv reads one packet and returns its bytes after the length.
func (r *rawSFTP) recv() []byte {
	r.t.Helper()
	var head [4]byte
	if _, err := io.ReadFull(r.out, head[:]); err != nil {
		r.t.Fatalf("reading a reply: %v", err)
	}
	body := make([]byte, binary.BigEndian.Uint32(head[:]))
	if _, err := io.ReadFull(r.out, body); err != nil {
		r.t.Fatalf("reading a reply of %d bytes: %v", len(body), err)
	}
	return body
}

// request builds a request of type typ with id and its fields: uint32, uint64 or string.
func request(typ byte, id uint32, fields ...any) []byte {
	b := binary.BigEndian.AppendUint32([]byte{typ}, id)
	for _, f := range fields {
		switch v := f.(type) {
		case uint32:
			b = binary.BigEndian.AppendUint32(b, v)
		case uint64:
			b = binary.BigEndian.AppendUint64(b, v)
		case string:
			b = append(binary.BigEndian.AppendUint32(b, uint32(len(v))), v...)
		default:
			panic(fmt.Sprintf("field of type %T", f))
		}
	}
	return b
}

// reply is what the test reads of a reply: its type, id, and the rest.
type reply struct {
	typ  byte
	id   uint32
	rest []byte
}

func (r *rawSFTP) reply() reply {
	r.t.Helper()
	b := r.recv()
	if len(b) < 5 {
		r.t.Fatalf("reply of %d bytes: % x", len(b), b)
	}
	return reply{typ: b[0], id: binary.BigEndian.Uint32(b[1:]), rest: b[5:]}
}

// status returns the code of a STATUS reply, or fails.
func (p reply) status(t testing.TB) uint32 {
	t.Helper()
	if p.typ != 101 || len(p.rest) < 4 {
		t.Fatalf("reply type %d (% x), want a status", p.typ, p.rest[:min(len(p.rest), 16)])
	}
	return binary.BigEndian.Uint32(p.rest)
}

// data returns the bytes of a DATA reply, or fails.
func (p reply) data(t testing.TB) []byte {
	t.Helper()
	if p.typ != 103 || len(p.rest) < 4 || int(binary.BigEndian.Uint32(p.rest)) != len(p.rest)-4 {
		t.Fatalf("reply type %d (% x), want data", p.typ, p.rest[:min(len(p.rest), 16)])
	}
	return p.rest[4:]
}

// handle returns the handle of a HANDLE reply, or fails.
func (p reply) handle(t testing.TB) string {
	t.Helper()
	if p.typ != 102 || len(p.rest) < 4 || int(binary.BigEndian.Uint32(p.rest)) != len(p.rest)-4 {
		t.Fatalf("reply type %d (% x), want a handle", p.typ, p.rest[:min(len(p.rest), 16)])
	}
	return string(p.rest[4:])
}

// TestReads: a read gets at most what the file holds from its offset, and at most the limits
// the door states (255 KiB, what OpenSSH's sftp then asks for); a read at the end gets end of
// file; a read on a handle that does not exist fails, and the session goes on.
func TestReads(t *testing.T) {
	t.Parallel()
	e := start(t, servertest.Options{})
	u := e.user("alice", 0)
	small, big := randomBytes(1, 4096), randomBytes(2, 300<<10)
	_, c := e.dial(u)
	for name, data := range map[string][]byte{"small": small, "big": big} {
		f, err := c.Create(name)
		must(t, err)
		_, err = f.Write(data)
		must(t, err)
		must(t, f.Close())
	}
	r := e.raw(t, u)
	const asked = 1 << 31
	for _, tc := range []struct {
		name string
		data []byte
	}{{"small", small}, {"big", big}} {
		r.send(request(3, 10, "/"+tc.name, uint32(1), uint32(0))) // OPEN, read
		h := r.reply().handle(t)
		var got []byte
		for id := uint32(11); ; id++ {
			r.send(request(5, id, h, uint64(len(got)), uint32(asked)))
			p := r.reply()
			if p.id != id {
				t.Fatalf("%s: reply to request %d has id %d", tc.name, id, p.id)
			}
			if p.typ == 101 {
				if code := p.status(t); code != 1 {
					t.Fatalf("%s: read at %d: status %d, want end of file (1)", tc.name, len(got), code)
				}
				break
			}
			d := p.data(t)
			if want := min(len(tc.data)-len(got), 256<<10-1024); len(d) != want {
				t.Fatalf("%s: read of %d bytes at %d got %d bytes, want %d", tc.name, asked, len(got), len(d), want)
			}
			got = append(got, d...)
		}
		if !bytes.Equal(got, tc.data) {
			t.Fatalf("%s: read %d bytes, not the file's %d", tc.name, len(got), len(tc.data))
		}
		r.send(request(5, 98, h, uint64(0), uint32(0))) // a read of nothing reads nothing
		if d := r.reply().data(t); len(d) != 0 {
			t.Fatalf("%s: read of 0 bytes got %d", tc.name, len(d))
		}
		r.send(request(4, 99, h)) // CLOSE
		if code := r.reply().status(t); code != 0 {
			t.Fatalf("%s: close: status %d", tc.name, code)
		}
	}
	r.send(request(5, 100, "no-such-handle", uint64(0), uint32(10)))
	if p := r.reply(); p.id != 100 || p.status(t) != 4 {
		t.Fatalf("read on no handle: reply %+v, want failure (4)", p)
	}
	r.send(request(16, 101, ".")) // REALPATH
	if p := r.reply(); p.id != 101 || p.typ != 104 {
		t.Fatalf("realpath after a failed read: reply type %d id %d", p.typ, p.id)
	}
}

// FuzzRequests: whatever one request holds (of any type, cut anywhere, with any lengths), the
// door answers it, with its id, and keeps serving the channel: the request after it is answered.
// Each input runs in a session of its own, of one account.
func FuzzRequests(f *testing.F) {
	for _, seed := range [][]byte{
		request(3, 1, "/f", uint32(0x1a), uint32(0)), // OPEN to write
		request(3, 2, "/f", uint32(1), uint32(0)),    // OPEN to read
		request(3, 3, "/f", uint32(0), uint32(0)),    // OPEN, neither
		request(4, 4, "1"),                           // CLOSE
		request(5, 5, "1", uint64(0), uint32(1<<20)), // READ
		request(6, 6, "1", uint64(1<<63), "data"),    // WRITE far away
		request(7, 7, "/"), request(8, 8, "1"),       // LSTAT, FSTAT
		request(9, 9, "/", uint32(8), uint32(1), uint32(2)), // SETSTAT times
		request(10, 10, "1", uint32(1), uint64(5)),          // FSETSTAT size
		request(11, 11, "/"), request(12, 12, "1"),          // OPENDIR, READDIR
		request(13, 13, "/nothing"), request(14, 14, "/d", uint32(0)), request(15, 15, "/d"),
		request(16, 16, "/../.."), request(17, 17, "../etc/passwd"),
		request(18, 18, "/a", "/b"), request(19, 19, "/l"), request(20, 20, "/t", "/l"),
		request(200, 21, "posix-rename@openssh.com", "/a", "/b"),
		request(200, 22, "statvfs@openssh.com", "/"),
		request(200, 23, "hardlink@openssh.com", "/a", "/b"),
		request(200, 24, "limits@openssh.com"),
		request(200, 25, "no-such-extension@example.com"),
		{1, 0, 0, 0, 3}, {3}, {5, 0, 0, 0}, {99, 0, 0, 0, 26}, request(3, 27, "/f"),
		append(request(6, 28, "1", uint64(0)), 0xff, 0xff, 0xff, 0xff),
	} {
		f.Add(seed)
	}
	e := start(f, servertest.Options{})
	u := e.user("fuzz", 0)
	f.Fuzz(func(t *testing.T, body []byte) {
		if len(body) == 0 || len(body) > 256<<10 {
			return // an empty or too long packet ends the session, as it should
		}
		r := e.raw(t, u)
		r.send(body)
		want := uint32(0)
		if len(body) >= 5 {
			want = binary.BigEndian.Uint32(body[1:])
		}
		if body[0] == 1 { // INIT: VERSION, without an id
			if p := r.recv(); p[0] != 2 {
				t.Fatalf("INIT answered with type %d", p[0])
			}
		} else if p := r.reply(); p.id != want {
			t.Fatalf("request of type %d with id %d answered with id %d (type %d)", body[0], want, p.id, p.typ)
		}
		r.send(request(16, 0xfeedface, "."))
		if p := r.reply(); p.id != 0xfeedface || p.typ != 104 {
			t.Fatalf("the next request was answered with type %d, id %#x", p.typ, p.id)
		}
	})
}

// TestOpenHandles: a channel holds at most the number of open files and directories the door
// states in its limits (each holds a file descriptor or a listing, so that a client cannot take
// them all from the server's other users); past it an open fails with the reason, and once one
// is closed another opens.
func TestOpenHandles(t *testing.T) {
	t.Parallel()
	e := start(t, servertest.Options{})
	u := e.user("alice", 0)
	_, c := e.dial(u)
	f, err := c.Create("f")
	must(t, err)
	must(t, f.Close())
	r := e.raw(t, u)
	r.send(request(200, 1, "limits@openssh.com"))
	p := r.reply()
	if p.typ != 201 || len(p.rest) != 32 {
		t.Fatalf("limits: reply type %d of %d bytes", p.typ, len(p.rest))
	}
	most := binary.BigEndian.Uint64(p.rest[24:])
	if most == 0 || most > 4096 {
		t.Fatalf("limits state %d open handles, want a bound", most)
	}
	var handles []string
	for i := range most {
		typ := byte(3) // OPEN, and every other one OPENDIR
		body := request(typ, uint32(10+i), "/f", uint32(1), uint32(0))
		if i%2 == 1 {
			body = request(11, uint32(10+i), "/")
		}
		r.send(body)
		handles = append(handles, r.reply().handle(t))
	}
	r.send(request(3, 5000, "/f", uint32(1), uint32(0)))
	p = r.reply()
	if code := p.status(t); code != 4 || !bytes.Contains(p.rest, []byte("too many open")) {
		t.Fatalf("open past the limit: status %d %q, want failure saying why", code, p.rest)
	}
	r.send(request(4, 5001, handles[0]))
	if code := r.reply().status(t); code != 0 {
		t.Fatalf("close: status %d", code)
	}
	r.send(request(11, 5002, "/"))
	r.reply().handle(t)
}
