package logger

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
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
	want := "Wed Nov  4 09:05:07 2026 3 127.0.0.1 10485760 /alice/my_file_.txt b _ i r alice myftp 1 * c\n" +
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
