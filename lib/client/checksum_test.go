package client

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/myftp/myftp/lib/checksum"
	"github.com/myftp/myftp/lib/proto"
)

// TestOldServerMD5: a server that offers no checksums in its greeting (one from before they were
// negotiated) gets uploads named and verified as it expects, with md5 in the fields it reads, and
// the client verifies its downloads with md5 too.
func TestOldServerMD5(t *testing.T) {
	t.Parallel()
	data := bytes.Repeat([]byte("old server "), 50000)
	sum := md5.Sum(data)
	want := hex.EncodeToString(sum[:])
	got := make(chan string, 2) // what the server saw, or what went wrong
	c := fakeSession(t, func(r *proto.Reader, w *proto.Writer) {
		req, err := nextRequest(r)
		if err != nil || req.Op != proto.OpPut || req.Checksum != "" {
			got <- "put request " + req.Op + " " + req.Checksum
			return
		}
		w.WriteJSON(proto.TypeReply, proto.Reply{Code: proto.CodeSendData})
		w.Flush()
		var received []byte
		for {
			f, err := r.Next()
			if err != nil {
				got <- "reading the upload: " + err.Error()
				return
			}
			if f.Type == proto.TypeData {
				b, err := io.ReadAll(r) // a data frame's payload streams from the reader
				if err != nil {
					got <- "reading data: " + err.Error()
					return
				}
				received = append(received, b...)
				w.WriteJSON(proto.TypeReply, proto.Reply{Code: proto.CodeOK})
				w.Flush()
				continue
			}
			done, err := proto.DecodeRequest(f.Payload)
			if err != nil || done.Op != proto.OpDone || done.Sum != "" || !bytes.Equal(received, data) {
				got <- "done request " + done.Op + " sum " + done.Sum
				return
			}
			got <- done.MD5
			break
		}
		w.WriteJSON(proto.TypeReply, proto.Reply{Code: proto.CodeTransferDone, Size: int64(len(data)), MD5: want})
		w.Flush()
		if req, err := nextRequest(r); err != nil || req.Op != proto.OpGet || req.Checksum != "" {
			got <- "get request " + req.Op + " " + req.Checksum
			return
		}
		serveGet(w, data, len(data))
		got <- "served"
	})
	if c.Checksum() != checksum.MD5 {
		t.Fatalf("with a server that offers nothing the client picks %q, want md5", c.Checksum())
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "up.bin")
	if err := os.WriteFile(src, data, 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := c.Put(context.Background(), src, "", Options{})
	if err != nil {
		t.Fatalf("put: %v (server: %s)", err, <-got)
	}
	if md5 := <-got; md5 != want {
		t.Fatalf("the server received %q in done, want the md5 %s", md5, want)
	}
	if res.Checksum != checksum.MD5 || res.Sum != want {
		t.Errorf("put result %s %s, want md5 %s", res.Checksum, res.Sum, want)
	}
	res, err = c.Get(context.Background(), "up.bin", filepath.Join(dir, "down.bin"), Options{})
	if err != nil {
		t.Fatalf("get: %v (server: %s)", err, <-got)
	}
	if res.Checksum != checksum.MD5 || res.Sum != want {
		t.Errorf("get result %s %s, want md5 %s", res.Checksum, res.Sum, want)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "down.bin")); !bytes.Equal(b, data) {
		t.Errorf("downloaded %d bytes that differ from the %d uploaded", len(b), len(data))
	}
}
