package server_test

// Hostile clients, what they send: random bytes, frames and uploads of impossible sizes, more or
// less data than an upload declared, and TLS and clear text mixed up. TestHostileClients
// (hostile_e2e_test.go) runs each of these attacks.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/myftp/myftp/core/server/servertest"
	"github.com/myftp/myftp/lib/client"
	"github.com/myftp/myftp/lib/proto"
)

// relRandomBytes sends random bytes (seeded, so a failure can be replayed) on fresh connections. The
// server must answer with a 500 (malformed), a 503 (a data frame out of place) or a 421 (the frame
// never completed before the deadline), or close; never hang past the deadline.
func relRandomBytes(t *testing.T, e *servertest.Env, login bool) {
	seeds := uint64(6)
	if longTests() {
		seeds = 300
	}
	for seed := uint64(1); seed <= seeds; seed++ {
		rng := rand.New(rand.NewPCG(seed, 0x5eed))
		junk := make([]byte, 16+rng.IntN(2000))
		for i := range junk {
			junk[i] = byte(rng.Uint32())
		}
		switch seed { // a few start as frames the server reads on
		case 1: // a request of random length: mostly too large
			junk[0] = byte(proto.TypeRequest)
		case 2: // a request of 256 bytes of random "JSON"
			copy(junk, []byte{byte(proto.TypeRequest), 0, 0, 1, 0})
		case 3: // a data frame out of place, then more junk
			copy(junk, []byte{byte(proto.TypeData), 0, 0, 0, 8})
		case 4: // a request longer than what follows: the deadline ends it
			binary.BigEndian.PutUint32(junk[1:], uint32(len(junk)))
			junk[0] = byte(proto.TypeRequest)
		}
		c := relMallory(t, e, login)
		start := c.last
		c.write(junk)
		limit := relIdle
		if !login {
			limit = relPreLogin
		}
		replies, took := c.closedWithin(start, limit+relMargin)
		for _, rep := range replies {
			if rep.Code != proto.CodeSyntax && rep.Code != proto.CodeBadSequence && rep.Code != proto.CodeUnavailable {
				t.Errorf("seed %d: reply %d %q to random bytes", seed, rep.Code, rep.Msg)
			}
		}
		t.Logf("seed %d: %d random bytes starting 0x%02x: replies %v, closed after %v", seed, len(junk), junk[0], relCodes(replies), took)
	}
}

func relCodes(replies []proto.Reply) []int {
	var cs []int
	for _, r := range replies {
		cs = append(cs, r.Code)
	}
	return cs
}

// relHugeFrame announces frames of 2^32-1 bytes: the server refuses them from the header alone.
func relHugeFrame(t *testing.T, e *servertest.Env, p *relProbe) {
	for _, typ := range []proto.FrameType{proto.TypeRequest, proto.TypeData} {
		for _, login := range []bool{false, true} {
			c := relMallory(t, e, login)
			start := c.last
			c.write([]byte{byte(typ), 0xFF, 0xFF, 0xFF, 0xFF})
			replies, took := c.closedWithin(start, relMargin)
			relWantGoodbye(t, replies, proto.CodeSyntax, "frame too large")
			t.Logf("%s frame of 4 GiB (login %v): 500, closed after %v", typ, login, took)
		}
	}
}

// relHugePut declares an upload of 2^63-1 bytes to an account that already stores a file: the
// quota check must not overflow. The put is refused with 552 before anything is created, and the
// account's usage and later uploads are unaffected.
func relHugePut(t *testing.T, e *servertest.Env, p *relProbe) {
	c := rawLogin(t, e.Addr, "hugeput", "hugeput-pw")
	home := e.Home("hugeput")
	name := "small.txt"
	relRawPut(t, c, name, []byte("0123456789"), time.Time{})
	var before int64
	c.request(proto.Request{Op: proto.OpQuota})
	before = c.expect(proto.CodeOK, "quota").Used
	for _, resume := range []bool{false, true} {
		for _, size := range []int64{math.MaxInt64, math.MaxInt64 - 5, 1 << 62} {
			c.request(proto.Request{Op: proto.OpPut, Path: "huge.bin", Size: size, Resume: resume})
			c.expect(proto.CodeQuota, "quota exceeded")
		}
	}
	if parts := partials(t, home); len(parts) != 0 {
		t.Errorf("partial files after refused puts: %v", parts)
	}
	if _, err := os.Lstat(filepath.Join(home, "huge.bin")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("huge.bin exists after a refused put: %v", err)
	}
	c.request(proto.Request{Op: proto.OpQuota})
	if rep := c.expect(proto.CodeOK, "quota"); rep.Used != before {
		t.Errorf("usage %d after the refused puts, want %d", rep.Used, before)
	}
	// The quota's reservations are intact: an upload that fits still works, and one byte more than
	// the free space is still refused.
	relRawPut(t, c, name, []byte("abcdefghij"), time.Time{})
	c.request(proto.Request{Op: proto.OpQuota})
	rep := c.expect(proto.CodeOK, "quota")
	c.request(proto.Request{Op: proto.OpPut, Path: "over.bin", Size: rep.Free + 1})
	c.expect(proto.CodeQuota, "quota exceeded")
}

// relRawPut uploads data to name on a raw logged-in connection.
func relRawPut(t testing.TB, c *rawConn, name string, data []byte, mtime time.Time) {
	t.Helper()
	c.request(proto.Request{Op: proto.OpPut, Path: name, Size: int64(len(data)), Mtime: mtime})
	c.expect(proto.CodeSendData, "")
	c.frame(proto.TypeData, data)
	c.expect(proto.CodeOK, "")
	c.request(proto.Request{Op: proto.OpDone, MD5: md5hex(data)})
	c.expect(proto.CodeTransferDone, "upload successful")
}

// relPlainToTLS skips the handshake and logs in in clear text: the server takes it for a broken
// handshake and closes at once, without answering in clear.
func relPlainToTLS(t *testing.T, e *servertest.Env, p *relProbe) {
	c := dialRaw(t, e.Addr)
	start := time.Now()
	c.request(proto.Request{Op: proto.OpLogin, User: "mallory", Password: "mallory-pw"})
	replies, took := c.closedWithin(start, relMargin)
	if len(replies) != 0 {
		t.Fatalf("a TLS server answered a clear-text request: %+v", replies)
	}
	t.Logf("clear-text frames to a TLS server: closed after %v", took)
}

// relTLSToPlain starts a TLS handshake with a plain server: its ClientHello is a frame of unknown
// type 0x16, answered with 500 and a close.
func relTLSToPlain(t *testing.T, e *servertest.Env, hello []byte) {
	c := dialRaw(t, e.Addr)
	start := time.Now()
	if err := c.write(hello); err != nil {
		t.Fatal(err)
	}
	replies, took := c.closedWithin(start, relMargin)
	relWantGoodbye(t, replies, proto.CodeSyntax, "unknown frame type 0x16")
	t.Logf("TLS ClientHello to a plain server: 500, closed after %v", took)
}

// relTooMuchData declares 10 bytes and sends more. The frame that goes past the declared size is
// refused whole with 554 and nothing beyond the size is written; the upload is closed (further
// data and done get 503), nothing appears under the final name, and the session goes on.
func relTooMuchData(t *testing.T, e *servertest.Env, p *relProbe) {
	c := rawLogin(t, e.Addr, "over", "over-pw")
	home := e.Home("over")
	for _, frames := range [][]int{{6, 6}, {11}} {
		name := fmt.Sprintf("over-%d.bin", len(frames))
		before := partials(t, home)
		c.request(proto.Request{Op: proto.OpPut, Path: name, Size: 10, Mtime: past})
		c.expect(proto.CodeSendData, "send data")
		var ok int
		for i, n := range frames {
			c.frame(proto.TypeData, []byte(strings.Repeat("x", n)))
			if i < len(frames)-1 {
				c.expect(proto.CodeOK, "")
				ok += n
			}
		}
		c.expect(proto.CodeTransferFail, "more data than the declared 10 bytes")
		c.frame(proto.TypeData, []byte("y"))
		c.expect(proto.CodeBadSequence, "no upload in progress")
		c.request(proto.Request{Op: proto.OpDone, MD5: strings.Repeat("0", 32)})
		c.expect(proto.CodeBadSequence, "no upload in progress")
		c.request(proto.Request{Op: proto.OpPwd})
		c.expect(proto.CodePath, "/")
		if _, err := os.Lstat(filepath.Join(home, name)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s stored after too much data: %v", name, err)
		}
		for k, size := range partials(t, home) {
			if _, old := before[k]; !old && size != int64(ok) {
				t.Errorf("frames %v: partial upload of %d bytes, want the %d accepted", frames, size, ok)
			}
			if size > 10 {
				t.Errorf("partial upload of %d bytes for a 10-byte file", size)
			}
		}
	}
}

// relTooLittleData declares 10 bytes, sends 6 and says done: 554, the partial is kept, and a later
// put by the real client resumes it to a correct file.
func relTooLittleData(t *testing.T, e *servertest.Env, p *relProbe) {
	c := rawLogin(t, e.Addr, "short", "short-pw")
	data := []byte("0123456789")
	name := "short.bin"
	c.request(proto.Request{Op: proto.OpPut, Path: name, Size: 10, Mtime: past})
	c.expect(proto.CodeSendData, "send data")
	c.frame(proto.TypeData, data[:6])
	c.expect(proto.CodeOK, "")
	c.request(proto.Request{Op: proto.OpDone, MD5: md5hex(data)})
	c.expect(proto.CodeTransferFail, "received 6 of 10 bytes")
	c.request(proto.Request{Op: proto.OpPwd})
	c.expect(proto.CodePath, "/")

	local := writeFile(t, t.TempDir(), name, data, past)
	cl := loginWith(t, e.ClientConfig(), "short", "short-pw")
	res, err := cl.Put(context.Background(), local, name, client.Options{})
	if err != nil {
		t.Fatalf("put after the short upload: %v", err)
	}
	if res.Offset != 6 || res.Sum != servertest.Sum(res.Checksum, data) {
		t.Errorf("resumed put: offset %d, md5 %s; want offset 6", res.Offset, res.Sum)
	}
	if got, err := os.ReadFile(filepath.Join(e.Home("short"), name)); err != nil || string(got) != string(data) {
		t.Errorf("stored %q, %v; want %q", got, err, data)
	}
}
