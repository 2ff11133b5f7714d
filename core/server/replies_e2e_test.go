package server_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/myftp/myftp/core/server"
	"github.com/myftp/myftp/core/server/servertest"
	"github.com/myftp/myftp/lib/proto"
)

// PROTOCOL.md §2: an R payload is at most the header limit announced in the greeting, and a
// receiver treats a larger one as malformed. The 502 reply to an unknown op of 65,000 "<" within
// the limit was six times over it (the op echoed whole, each "<" escaped for HTML as \u003c).
func TestReplyWithinHeaderLimit(t *testing.T) {
	t.Parallel()
	e := servertest.Start(t, servertest.Options{})
	c := dialSecure(t, e.Addr)
	op := strings.Repeat("<", proto.DefaultMaxHeader-20)
	payload := []byte(`{"op":"` + op + `"}`)
	if len(payload) > c.greeting.MaxHeader {
		t.Fatalf("request of %d bytes is over the limit %d itself", len(payload), c.greeting.MaxHeader)
	}
	c.frame(proto.TypeRequest, payload)
	f, err := c.r.Next() // a reader with the announced limit, as PROTOCOL.md prescribes
	if err != nil {
		t.Fatalf("request of %d bytes (limit %d): reading the reply: %v", len(payload), c.greeting.MaxHeader, err)
	}
	if f.Len > c.greeting.MaxHeader {
		t.Fatalf("reply of %d bytes, over the announced max_header %d", f.Len, c.greeting.MaxHeader)
	}
}

// The same with an ordinary request: a server configured with max_header_size = 1KiB (the allowed
// minimum) answers a stat of a missing 990-byte path, sent within the limit, with a 550 whose
// message repeats the path: the message is cut to fit.
func TestReplyWithinSmallHeaderLimit(t *testing.T) {
	t.Parallel()
	e := servertest.Start(t, servertest.Options{Config: server.Config{MaxHeader: proto.MinMaxHeader}})
	e.AddUser(xUser, xPass, 0)
	c := dialSecure(t, e.Addr)
	c.r = proto.NewReader(c.conn, c.greeting.MaxHeader)
	c.login(xUser, xPass)
	p := strings.Repeat(strings.Repeat("a", 240)+"/", 5)[:990]
	req, _ := json.Marshal(proto.Request{Op: proto.OpStat, Path: p})
	if len(req) > c.greeting.MaxHeader {
		t.Fatalf("request of %d bytes is over the limit %d itself", len(req), c.greeting.MaxHeader)
	}
	c.frame(proto.TypeRequest, req)
	if _, err := c.next(); err != nil {
		t.Fatalf("stat request of %d bytes (max_header %d): reading the reply: %v", len(req), c.greeting.MaxHeader, err)
	}
}

// PROTOCOL.md §4: "Unknown fields are ignored, whatever their type". JSON keys are case-sensitive
// and the protocol's fields are lower case; encoding/json matches keys case-insensitively, so
// "Path" (an unknown field) was taken for "path": with a number it ended the session (500), and
// with a string it was used as the path.
func TestFieldNamesMatchExactly(t *testing.T) {
	t.Parallel()
	e := servertest.Start(t, servertest.Options{})
	e.AddUser(xUser, xPass, 0)
	if err := os.WriteFile(filepath.Join(e.Home(xUser), "secret.txt"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := rawLogin(t, e.Addr, xUser, xPass)
	c.frame(proto.TypeRequest, []byte(`{"op":"stat","path":"nosuch","PATH":"secret.txt"}`))
	if rep := c.reply(); rep.Code != proto.CodeUnavailFile {
		t.Errorf(`stat "path":"nosuch" with an unknown field "PATH": reply %d %q, want 550 for nosuch`, rep.Code, rep.Msg)
	}
	c.frame(proto.TypeRequest, []byte(`{"op":"noop","Path":5}`))
	if rep := c.reply(); rep.Code != proto.CodeOK {
		t.Errorf(`noop with an unknown field "Path":5: reply %d %q, want 200`, rep.Code, rep.Msg)
	}
}

// A complete request followed by the first bytes of the next one: the reply to the complete request
// is sent at once, not held back while the server waits for the rest of the next frame.
func TestReplyNotHeldBehindPartialFrame(t *testing.T) {
	t.Parallel()
	e := servertest.Start(t, servertest.Options{})
	e.AddUser(xUser, xPass, 0)
	c := rawLogin(t, e.Addr, xUser, xPass)
	noop := []byte(`{"op":"noop"}`)
	b := append([]byte{byte(proto.TypeRequest), 0, 0, 0, byte(len(noop))}, noop...)
	b = append(b, byte(proto.TypeRequest), 0) // the next frame's header, in part
	c.mustWrite(b)
	c.raw.SetReadDeadline(time.Now().Add(3 * time.Second))
	if rep, err := c.next(); err != nil {
		t.Fatalf("reply to a complete noop not sent within 3 s while the next frame is incomplete: %v", err)
	} else if rep.Code != proto.CodeOK {
		t.Fatalf("reply %d %q", rep.Code, rep.Msg)
	}
}

// PROTOCOL.md §6: "A list without long sends only name, type and size 0", also for a path that
// names a file.
func TestShortListOfFile(t *testing.T) {
	t.Parallel()
	e := servertest.Start(t, servertest.Options{})
	e.AddUser(xUser, xPass, 0)
	if err := os.WriteFile(filepath.Join(e.Home(xUser), "a.txt"), []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := rawLogin(t, e.Addr, xUser, xPass)
	c.request(proto.Request{Op: proto.OpList, Path: "a.txt"})
	c.expect(proto.CodeDataFollows, "")
	f, err := c.r.Next()
	if err != nil || f.Type != proto.TypeData {
		t.Fatalf("want a data frame: %v %v", f.Type, err)
	}
	line := make([]byte, f.Len)
	if _, err := c.r.Read(line); err != nil {
		t.Fatal(err)
	}
	c.expect(proto.CodeTransferDone, "")
	ent, err := proto.DecodeEntry([]byte(strings.TrimSpace(string(line))))
	if err != nil {
		t.Fatal(err)
	}
	if ent.Size != 0 || ent.Mode != "" || !ent.Mtime.IsZero() {
		t.Errorf("short list of a file: %s, want only name, type and size 0", line)
	}
}
