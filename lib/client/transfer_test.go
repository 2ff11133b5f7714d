package client

import (
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/myftp/myftp/lib/proto"
	"github.com/myftp/myftp/lib/transfer"
)

func TestLocalTarget(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	os.Mkdir("sub", 0o755)
	tests := []struct{ remote, local, want string }{
		{"a.txt", "", "a.txt"},
		{"/docs/2024/a b.txt", "", "a b.txt"},
		{"docs/中文.txt", "", "中文.txt"},
		{"docs/a.txt", "sub", filepath.Join("sub", "a.txt")},
		{"docs/a.txt", dir, filepath.Join(dir, "a.txt")},
		{"docs/a.txt", "b.txt", "b.txt"},
		{"docs/a.txt", filepath.Join("sub", "b.txt"), filepath.Join("sub", "b.txt")},
		{"docs/a.txt", "missing/b.txt", "missing/b.txt"},
	}
	for _, tt := range tests {
		if got, err := LocalTarget(tt.remote, tt.local); got != tt.want || err != nil {
			t.Errorf("LocalTarget(%q, %q) = %q, %v; want %q", tt.remote, tt.local, got, err, tt.want)
		}
	}
	// Names a server could send to make a download land elsewhere, and names that are no file.
	for _, remote := range []string{"/", ".", "..", "docs/..", `..\..\x`, `a\b`} {
		if got, err := LocalTarget(remote, "sub"); err == nil {
			t.Errorf("LocalTarget(%q, sub) = %q, want an error", remote, got)
		}
	}
	if got, err := LocalTarget(`..\..\x`, "b.txt"); err != nil || got != "b.txt" {
		t.Errorf("an explicit local name is used as given: %q, %v", got, err)
	}
}

func TestOpenPartial(t *testing.T) {
	md5hex := func(b []byte) string { return fmt.Sprintf("%x", md5.Sum(b)) }
	t.Run("new", func(t *testing.T) {
		target := filepath.Join(t.TempDir(), "a.bin")
		pf, off, h, err := openPartial(target, true, "md5")
		if err != nil {
			t.Fatal(err)
		}
		defer pf.Close()
		if off != 0 || transfer.Hex(h) != md5hex(nil) || pf.Name() != transfer.PartialName(target) {
			t.Errorf("openPartial = %s, %d, %s", pf.Name(), off, transfer.Hex(h))
		}
		if _, err := os.Stat(target); err == nil {
			t.Error("the target was created")
		}
		// It gets the mode of any new file: what the umask leaves of 0666.
		ref, err := os.OpenFile(filepath.Join(filepath.Dir(target), "ref"), os.O_CREATE|os.O_WRONLY, 0o666)
		if err != nil {
			t.Fatal(err)
		}
		ref.Close()
		want, _ := os.Stat(ref.Name())
		if got, _ := pf.Stat(); got.Mode().Perm() != want.Mode().Perm() {
			t.Errorf("partial file mode %v, want %v (a new file's)", got.Mode().Perm(), want.Mode().Perm())
		}
	})
	have := []byte("the first part of the file")
	setup := func(t *testing.T) string {
		target := filepath.Join(t.TempDir(), "a.bin")
		if err := os.WriteFile(transfer.PartialName(target), have, 0o600); err != nil {
			t.Fatal(err)
		}
		return target
	}
	t.Run("resume", func(t *testing.T) {
		target := setup(t)
		pf, off, h, err := openPartial(target, true, "md5")
		if err != nil {
			t.Fatal(err)
		}
		if off != int64(len(have)) || transfer.Hex(h) != md5hex(have) {
			t.Errorf("openPartial = %d, %s; want %d, %s", off, transfer.Hex(h), len(have), md5hex(have))
		}
		// The file is positioned at its end, and the hash goes on from the prefix.
		pf.Write([]byte(", then the rest"))
		h.Write([]byte(", then the rest"))
		pf.Close()
		whole, _ := os.ReadFile(pf.Name())
		if string(whole) != string(have)+", then the rest" || transfer.Hex(h) != md5hex(whole) {
			t.Errorf("after appending: %q, md5 %s", whole, transfer.Hex(h))
		}
	})
	t.Run("no resume", func(t *testing.T) {
		target := setup(t)
		pf, off, h, err := openPartial(target, false, "md5")
		if err != nil {
			t.Fatal(err)
		}
		defer pf.Close()
		rest, _ := io.ReadAll(pf)
		if fi, _ := pf.Stat(); off != 0 || fi.Size() != 0 || len(rest) != 0 || transfer.Hex(h) != md5hex(nil) {
			t.Errorf("openPartial without resume = %d, size %d, md5 %s; want an empty file", off, fi.Size(), transfer.Hex(h))
		}
	})
	t.Run("directory missing", func(t *testing.T) {
		if pf, _, _, err := openPartial(filepath.Join(t.TempDir(), "no", "a.bin"), true, "md5"); err == nil {
			pf.Close()
			t.Fatal("openPartial in a missing directory succeeded")
		}
	})
}

func TestTargetOfPartial(t *testing.T) {
	for _, target := range []string{"a.txt", filepath.Join("dir", "中文 name.bin"), filepath.Join(t.TempDir(), ".hidden")} {
		if got := targetOf(transfer.PartialName(target)); got != filepath.Clean(target) {
			t.Errorf("targetOf(PartialName(%q)) = %q", target, got)
		}
	}
}

// TestLocalTargetDirectories: a local name ending in a separator must be a directory, and a target
// that is an existing directory is refused before the download rather than when the verified file
// cannot be renamed onto it.
func TestLocalTargetDirectories(t *testing.T) {
	t.Chdir(t.TempDir())
	os.MkdirAll(filepath.Join("sub", "a.txt"), 0o755) // a directory named like the remote file
	os.WriteFile("file", nil, 0o644)
	sep := string(filepath.Separator)
	if got, err := LocalTarget("docs/b.txt", "sub"+sep); err != nil || got != filepath.Join("sub", "b.txt") {
		t.Errorf("LocalTarget(docs/b.txt, sub/) = %q, %v; want the file in sub", got, err)
	}
	tests := []struct{ remote, local, want string }{
		{"b.txt", "missing" + sep, "missing" + sep + ": no such directory"},
		{"b.txt", "file" + sep, "file" + sep + ": not a directory"},
		{"docs/a.txt", "sub", filepath.Join("sub", "a.txt") + ": is a directory"},
		{"docs/a.txt", "sub" + sep, filepath.Join("sub", "a.txt") + ": is a directory"},
		{"docs/sub", "", "sub: is a directory"},
	}
	for _, tt := range tests {
		if got, err := LocalTarget(tt.remote, tt.local); err == nil || err.Error() != tt.want {
			t.Errorf("LocalTarget(%q, %q) = %q, %v; want error %q", tt.remote, tt.local, got, err, tt.want)
		}
	}
}

// TestGetTargetCheckedBeforeRequest: a get whose local target cannot take the file fails at once:
// no request reaches the server, no byte travels, and nothing is created locally.
func TestGetTargetCheckedBeforeRequest(t *testing.T) {
	ops := make(chan string, 10)
	c := fakeSession(t, func(r *proto.Reader, w *proto.Writer) {
		for {
			req, err := nextRequest(r)
			if err != nil {
				return
			}
			ops <- req.Op
			switch req.Op {
			case proto.OpGet:
				serveGet(w, []byte("content"), len("content"))
			default:
				w.WriteJSON(proto.TypeReply, proto.Reply{Code: proto.CodePath, Path: "/"})
				w.Flush()
			}
		}
	})
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "a.txt"), 0o755)
	os.WriteFile(filepath.Join(dir, "file"), nil, 0o644)
	sep := string(filepath.Separator)
	tests := []struct{ remote, local, want string }{
		{"docs/a.txt", dir, filepath.Join(dir, "a.txt") + ": is a directory"},
		{"b.txt", filepath.Join(dir, "missing") + sep, filepath.Join(dir, "missing") + sep + ": no such directory"},
		{"b.txt", filepath.Join(dir, "file") + sep, filepath.Join(dir, "file") + sep + ": not a directory"},
	}
	for _, tt := range tests {
		if _, err := c.Get(context.Background(), tt.remote, tt.local, Options{}); err == nil || err.Error() != tt.want {
			t.Errorf("Get(%q, %q) = %v; want %q", tt.remote, tt.local, err, tt.want)
		}
	}
	if _, err := c.Pwd(); err != nil { // the session is still in step, and the server saw everything sent
		t.Fatal(err)
	}
	if op := <-ops; op != proto.OpPwd {
		t.Errorf("the server received %s before the pwd; want no request from the failed gets", op)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("the directory holds %d entries, want only a.txt and file", len(entries))
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "a.txt")); len(entries) != 0 {
		t.Errorf("a.txt/ holds %d entries, want none", len(entries))
	}
}

// TestPutHearsWhyTheServerClosed: the server ends an upload's session with a 421 that says why
// and closes; the client, whose next data frame finds the connection closed, still reads that
// reply and returns it, rather than the failed write's "broken pipe".
func TestPutHearsWhyTheServerClosed(t *testing.T) {
	src := filepath.Join(t.TempDir(), "big.bin")
	if err := os.WriteFile(src, make([]byte, 8<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	c := fakeSession(t, func(r *proto.Reader, w *proto.Writer) {
		if _, err := nextRequest(r); err != nil { // put
			served <- err
			return
		}
		w.WriteJSON(proto.TypeReply, proto.Reply{Code: proto.CodeSendData})
		w.Flush()
		for { // every frame until the client can send no more: its writes have failed
			if _, err := r.Next(); err != nil {
				break
			}
		}
		w.WriteJSON(proto.TypeReply, proto.Reply{Code: proto.CodeUnavailable, Msg: "account disabled or deleted",
			Reason: proto.ReasonAccountGone})
		served <- w.Flush()
	})
	var once sync.Once
	_, err := c.Put(context.Background(), src, "", Options{Progress: func(done, total int64) {
		if done > 0 {
			// What a server that closed the connection does to the next write; the reply
			// saying why comes only after it.
			once.Do(func() { c.raw.(*net.TCPConn).CloseWrite() })
		}
	}})
	if ferr := <-served; ferr != nil {
		t.Fatalf("fake server: %v", ferr)
	}
	if !errors.Is(err, ErrAccountGone) || !errors.Is(err, ErrClosed) {
		t.Fatalf("put into a session the server closed with a 421: %v, want the 421's ErrAccountGone", err)
	}
}
