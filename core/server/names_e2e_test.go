package server_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/myftp/myftp/core/server/servertest"
	"github.com/myftp/myftp/lib/client"
	"github.com/myftp/myftp/lib/proto"
)

// TestRefusedNames: over the native protocol, names with a line or paragraph separator, NEL or a
// bidi control are refused as control characters are: 553 with a detail that says what was
// refused and does not echo the name, and nothing is created. A no-break space is a name like any
// other, and the transfer log writes it escaped, in one line of 18 fields.
func TestRefusedNames(t *testing.T) {
	t.Parallel()
	e := servertest.Start(t, servertest.Options{})
	e.AddUser(xUser, xPass, 0)
	c := loginWith(t, e.ClientConfig(), xUser, xPass)
	local := writeFile(t, t.TempDir(), "upload.txt", []byte("forged?"), past)
	for _, tc := range []struct{ name, detail string }{
		{"x\u2028Tue Nov 24 12:54:50 2026 1 6.6.6.6 1 /bob/secret b _ o r bob myftp 1 * c", "line separator"},
		{"a\u2029b.txt", "paragraph separator"},
		{"a\u0085b.txt", "control character"},
		{"invoice-\u202efdp.exe", "bidi control character"},
		{"\u2066a.txt\u2069", "bidi control character"},
		{"docs\u200f/a.txt", "bidi control character"},
	} {
		_, err := c.Put(context.Background(), local, tc.name, client.Options{})
		re := wantReply(t, "put "+tc.name, err, proto.CodeNameNotOK, "invalid path ("+tc.detail+")")
		if strings.ContainsAny(re.Msg, "\u2028\u2029\u0085\u202e\u2066\u2069\u200f") {
			t.Errorf("put %q: the refusal %q echoes the name", tc.name, re.Msg)
		}
		_, err = c.Mkdir(tc.name, true)
		wantReply(t, "mkdir "+tc.name, err, proto.CodeNameNotOK, tc.detail)
		err = c.Rename("nosuch.txt", tc.name)
		wantReply(t, "rename to "+tc.name, err, proto.CodeNameNotOK, tc.detail)
	}
	entries, err := os.ReadDir(e.Home(xUser))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range entries {
		if d.Name() != ".myftp" {
			t.Errorf("%s created in the home", d.Name())
		}
	}
	if p := partials(t, e.Home(xUser)); len(p) != 0 {
		t.Errorf("partial uploads left: %v", p)
	}

	if _, err := c.Put(context.Background(), local, "a\u00a0b.txt", client.Options{}); err != nil {
		t.Fatalf("put of a name with a no-break space: %v", err)
	}
	sameBytes(t, "the file with a no-break space", mustRead(t, filepath.Join(e.Home(xUser), "a\u00a0b.txt")), []byte("forged?"))
	logged := `/alice/a\u{00a0}b.txt`
	servertest.Eventually(t, "the transfer log names "+logged, func() bool {
		lines := readXferlog(t, e.Xferlog) // fails the test on a line that is not 18 fields
		return len(lines) == 1 && lines[0].path == logged
	})
	log := string(mustRead(t, e.Xferlog))
	if strings.Count(log, "\n") != 1 || strings.ContainsRune(log, '\u00a0') {
		t.Errorf("transfer log %q: want one line, the no-break space escaped", log)
	}
}
