package logger

import (
	"bytes"
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

func TestTransferLine(t *testing.T) {
	var buf bytes.Buffer
	l := NewTransferLog(&buf)
	end := time.Date(2026, 11, 4, 9, 5, 7, 0, time.UTC)
	if err := l.Log(Transfer{End: end, Duration: 2600 * time.Millisecond, Remote: "127.0.0.1", Bytes: 10485760,
		Path: "/alice/my file\n.txt", Dir: Incoming, User: "alice", Complete: true}); err != nil {
		t.Fatal(err)
	}
	if err := l.Log(Transfer{End: end, Duration: 10 * time.Millisecond, Remote: "::1", Bytes: 5, Path: "/bob/文件", Dir: Outgoing, User: "bob"}); err != nil {
		t.Fatal(err)
	}
	want := "Wed Nov  4 09:05:07 2026 3 127.0.0.1 10485760 /alice/my_file\\x0a.txt b _ i r alice myftp 1 * c\n" +
		"Wed Nov  4 09:05:07 2026 1 ::1 5 /bob/文件 b _ o r bob myftp 1 * i\n"
	if buf.String() != want {
		t.Errorf("got\n%s\nwant\n%s", buf.String(), want)
	}
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if n := len(strings.Fields(line)); n != 18 {
			t.Errorf("line has %d fields, xferlog readers expect 18: %q", n, line)
		}
	}
}

// TestFieldEscapes: what a field of the transfer log becomes, among others the names a red team
// used to forge lines and to hide an extension.
func TestFieldEscapes(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"", "_"},
		{"/alice/a.txt", "/alice/a.txt"},
		{"/bob/文件 名 😀.txt", "/bob/文件_名_😀.txt"},
		{"/c/café_ñ", "/c/café_ñ"},
		{"a\nb\rc\td", `a\x0ab\x0dc\x09d`},
		{"\x00\x1b[2J\x1b]0;pwned\x07\x7f", `\x00\x1b[2J\x1b]0;pwned\x07\x7f`},
		{"\xff\xfe-\xc3", `\xff\xfe-\xc3`},
		{`back\slash \x41`, `back\\slash_\\x41`},
		{"nel\u0085", `nel\u{0085}`},
		{"c1\u009b31m", `c1\u{009b}31m`},
		{"invoice-\u202efdp.exe", `invoice-\u{202e}fdp.exe`},
		{"\u2066\u2067\u2068\u2069\u202a\u202b\u202c\u202d\u200e\u200f\u061c", `\u{2066}\u{2067}\u{2068}\u{2069}\u{202a}\u{202b}\u{202c}\u{202d}\u{200e}\u{200f}\u{061c}`},
		{"a\u2028b\u2029c", `a\u{2028}b\u{2029}c`},
		{"no\u00a0break\u202fnarrow\u3000ideographic\u1680ogham\u2003em\u205fmath", `no\u{00a0}break\u{202f}narrow\u{3000}ideographic\u{1680}ogham\u{2003}em\u{205f}math`},
		{"\ufeffzero\u200bwidth\u2060joiner\u00adsoft", `\u{feff}zero\u{200b}width\u{2060}joiner\u{00ad}soft`},
		{"👩\u200d💻", `👩\u{200d}💻`},
		{"tag\U000e0041", `tag\u{e0041}`},
		{"private\ue000", `private\u{e000}`},
		{"\ufffd is printable", "\ufffd_is_printable"},
	}
	for _, tc := range tests {
		if got := field(tc.in); got != tc.want {
			t.Errorf("field(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestTransferLineCannotBeForged: a file name cannot make a reader that splits lines on any
// Unicode line break, or fields on any whitespace, see a second transfer or other fields.
func TestTransferLineCannotBeForged(t *testing.T) {
	t.Parallel()
	forged := "Tue Nov 24 12:54:50 2026 1 6.6.6.6 1 /bob/secret b _ o r bob myftp 1 * c"
	for _, sep := range []string{"\n", "\r", "\r\n", "\v", "\f", "\x1c", "\x1d", "\x1e", "\u0085", "\u2028", "\u2029"} {
		for _, space := range []string{" ", "\u00a0", "\u2000", "\u3000", "\x1f", "\t"} {
			line := logLine(t, Transfer{End: time.Now(), Remote: "10.0.0.1", Bytes: 1, Dir: Incoming, User: "alice", Complete: true,
				Path: "/alice/x" + sep + strings.ReplaceAll(forged, " ", space)})
			checkLine(t, line)
		}
	}
}

// TestTransferLineProperty: for random names (any bytes, any code points, and every space,
// separator and bidi control), every Log call writes exactly one line of 18 fields, the fields
// hold nothing a reader could split on or that reorders text, and the escapes undo to the name.
func TestTransferLineProperty(t *testing.T) {
	t.Parallel()
	var tricky []rune
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if unicode.IsSpace(r) || unicode.In(r, unicode.Z, unicode.Cc, unicode.Cf) {
			tricky = append(tricky, r)
		}
	}
	tricky = append(tricky, '\\', '_', 'x', 'u', '{', '}', utf8.RuneError)
	rng := rand.New(rand.NewPCG(9, 11))
	name := func() string {
		var b []byte
		for n := rng.IntN(16); n > 0; n-- {
			switch rng.IntN(4) {
			case 0:
				b = append(b, byte(rng.IntN(256))) // any byte, UTF-8 or not
			case 1:
				b = utf8.AppendRune(b, rune(rng.IntN(unicode.MaxRune+1))) // surrogates come out as U+FFFD
			case 2:
				b = utf8.AppendRune(b, tricky[rng.IntN(len(tricky))])
			default:
				b = append(b, byte(' '+rng.IntN(0x5f)))
			}
		}
		return string(b)
	}
	for range 5000 {
		tr := Transfer{End: time.Now(), Duration: time.Second, Bytes: 7, Dir: Outgoing,
			Remote: name(), Path: "/alice/" + name(), User: name()}
		fields := checkLine(t, logLine(t, tr))
		for i, in := range map[int]string{6: tr.Remote, 8: tr.Path, 13: tr.User} {
			want := strings.ReplaceAll(in, " ", "_")
			if in == "" {
				want = "_"
			}
			if got := unescape(t, fields[i]); got != want {
				t.Fatalf("field %d of %q is %q, which reads as %q", i, in, fields[i], got)
			}
		}
	}
}

// logLine returns what one Log call writes.
func logLine(t *testing.T, tr Transfer) string {
	t.Helper()
	var buf bytes.Buffer
	if err := NewTransferLog(&buf).Log(tr); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// pyLineBreak is what Python's str.splitlines splits on; pySpace what str.split() does.
func pyLineBreak(r rune) bool {
	return strings.ContainsRune("\n\r\v\f\x1c\x1d\x1e\u0085\u2028\u2029", r)
}

func pySpace(r rune) bool { return unicode.IsSpace(r) || r >= 0x1c && r <= 0x1f }

// checkLine checks that line is one line of 18 fields for strings.Fields and for Python, with no
// byte below 0x21, DEL, space, format or bidi control character in any field, and returns them.
func checkLine(t *testing.T, line string) []string {
	t.Helper()
	body, ok := strings.CutSuffix(line, "\n")
	if !ok || strings.IndexFunc(body, pyLineBreak) >= 0 {
		t.Fatalf("not one line: %q", line)
	}
	fields := strings.Fields(body)
	if py := strings.FieldsFunc(body, pySpace); len(fields) != 18 || len(py) != 18 {
		t.Fatalf("%d fields (%d for Python), want 18: %q", len(fields), len(py), line)
	}
	for _, f := range fields {
		for i := 0; i < len(f); i++ {
			if f[i] < 0x21 || f[i] == 0x7f {
				t.Fatalf("field %q holds byte %#x", f, f[i])
			}
		}
		if !utf8.ValidString(f) || strings.IndexFunc(f, func(r rune) bool {
			return unicode.IsSpace(r) || unicode.In(r, unicode.Z, unicode.C, unicode.Bidi_Control)
		}) >= 0 {
			t.Fatalf("field %q holds a character that is not printable", f)
		}
	}
	return fields
}

// unescape undoes the escapes of field.
func unescape(t *testing.T, f string) string {
	t.Helper()
	var b strings.Builder
	for i := 0; i < len(f); {
		rest := f[i:]
		switch {
		case rest[0] != '\\':
			b.WriteByte(rest[0])
			i++
		case strings.HasPrefix(rest, `\\`):
			b.WriteByte('\\')
			i += 2
		case strings.HasPrefix(rest, `\x`) && len(rest) >= 4:
			n, err := strconv.ParseUint(rest[2:4], 16, 8)
			if err != nil {
				t.Fatalf("bad escape in %q: %v", f, err)
			}
			b.WriteByte(byte(n))
			i += 4
		case strings.HasPrefix(rest, `\u{`) && strings.Contains(rest, "}"):
			end := strings.IndexByte(rest, '}')
			n, err := strconv.ParseUint(rest[3:end], 16, 32)
			if err != nil || end-3 < 4 {
				t.Fatalf("bad escape in %q: %v", f, err)
			}
			b.WriteRune(rune(n))
			i += end + 1
		default:
			t.Fatalf("lone backslash in %q", f)
		}
	}
	return b.String()
}

func TestOpenWritesBothFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "log")
	var stderr bytes.Buffer
	logs, err := Open(Config{Dir: dir, EventFile: "ev.log", TransferFile: "xferlog", Level: "info", MaxSize: 1 << 20, MaxBackups: 1}, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	logs.Event.Info("hello", "user", "alice")
	logs.Event.Debug("hidden")
	if err := logs.Transfer.Log(Transfer{End: time.Now(), Path: "/a", Dir: Incoming, User: "alice", Complete: true}); err != nil {
		t.Fatal(err)
	}
	if err := logs.Close(); err != nil {
		t.Fatal(err)
	}
	ev, _ := os.ReadFile(filepath.Join(dir, "ev.log"))
	if !strings.Contains(string(ev), "msg=hello user=alice") || strings.Contains(string(ev), "hidden") {
		t.Errorf("event log = %q", ev)
	}
	if stderr.String() != string(ev) {
		t.Errorf("stderr = %q, want the same as the file", stderr.String())
	}
	x, _ := os.ReadFile(filepath.Join(dir, "xferlog"))
	if !strings.HasSuffix(string(x), " /a b _ i r alice myftp 1 * c\n") {
		t.Errorf("xferlog = %q", x)
	}
}

func TestOpenBadLevel(t *testing.T) {
	if _, err := Open(Config{Dir: t.TempDir(), EventFile: "e", TransferFile: "x", Level: "loud"}, nil); err == nil {
		t.Fatal("bad level accepted")
	}
}

// failingWriter is a stderr that fails, as a closed terminal or a full disk does.
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) {
	return 0, errors.New("write /dev/stderr: input/output error")
}

// TestEventFileWithoutStderr: the event log file gets every line even when stderr fails, and an
// existing log directory open to others is made private.
func TestEventFileWithoutStderr(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "log")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	logs, err := Open(Config{Dir: dir, EventFile: "ev.log", TransferFile: "xferlog", Level: "info", MaxSize: 1 << 20}, failingWriter{})
	if err != nil {
		t.Fatal(err)
	}
	logs.Event.Info("kept", "user", "alice")
	if err := logs.Close(); err != nil {
		t.Fatal(err)
	}
	if ev, _ := os.ReadFile(filepath.Join(dir, "ev.log")); !strings.Contains(string(ev), "msg=kept user=alice") {
		t.Errorf("event log = %q", ev)
	}
	if fi, err := os.Stat(dir); err != nil || runtime.GOOS != "windows" && fi.Mode().Perm() != 0o700 {
		t.Errorf("log directory: %v, %v; want mode 0700", fi.Mode(), err)
	}
}

// TestClosedLogsMakeNoFiles: a line logged after Close (by a goroutine that ends after the
// server) is dropped: neither log file is made again, whatever happened to them since.
func TestClosedLogsMakeNoFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "log")
	logs, err := Open(Config{Dir: dir, EventFile: "ev.log", TransferFile: "xferlog", Level: "info"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	logs.Event.Info("before")
	if err := logs.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	logs.Event.Info("late")
	if err := logs.Transfer.Log(Transfer{End: time.Now(), Path: "/late", Dir: Incoming, User: "alice"}); err == nil {
		t.Error("a transfer logged after Close: no error")
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the log directory after late lines: %v; want it gone", err)
	}
}
