package client

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"testing"

	"github.com/myftp/myftp/lib/proto"
	"github.com/myftp/myftp/lib/transfer"
)

// TestSumAndStatMany: the requests of SumMany and StatMany all go out before the first answer is
// read (the fake server reads them all first), and each path gets its own answer, in order: a
// checksum or an entry, or the server's refusal.
func TestSumAndStatMany(t *testing.T) {
	t.Parallel()
	const n = 100 // more than a window
	sumOf := func(i int) string { s := md5.Sum(fmt.Appendf(nil, "%d", i)); return hex.EncodeToString(s[:]) }
	problems := make(chan string, 1)
	c := fakeSession(t, func(r *proto.Reader, w *proto.Writer) {
		for _, op := range []string{proto.OpSum, proto.OpStat} {
			for start := 0; start < n; start += batchWindow {
				end := min(start+batchWindow, n)
				var reqs []proto.Request
				for range end - start {
					req, err := nextRequest(r)
					if err != nil || req.Op != op || req.Checksum != "" { // md5, the fake's only checksum, is not named
						problems <- fmt.Sprintf("request %+v, %v", req, err)
						return
					}
					reqs = append(reqs, req)
				}
				for i, req := range reqs {
					i += start
					switch {
					case i%10 == 3:
						w.WriteJSON(proto.TypeReply, proto.Reply{Code: proto.CodeUnavailFile, Msg: "no such file: " + req.Path})
					case op == proto.OpSum:
						w.WriteJSON(proto.TypeReply, proto.Reply{Code: proto.CodeOK, Checksum: "md5", Sum: sumOf(i), MD5: sumOf(i)})
					default:
						w.WriteJSON(proto.TypeReply, proto.Reply{Code: proto.CodeStat, Entry: &proto.Entry{Name: req.Path, Type: "f", Size: int64(i)}})
					}
				}
				w.Flush()
			}
		}
		problems <- ""
	})
	paths := make([]string, n)
	for i := range paths {
		paths[i] = fmt.Sprintf("f%d", i)
	}
	calls := 0
	err := c.SumMany(paths, func(i int, sum string, err error) {
		var re *proto.ReplyError
		switch {
		case i != calls:
			t.Errorf("SumMany: call %d for path %d", calls, i)
		case i%10 == 3 && (!errors.As(err, &re) || re.Code != proto.CodeUnavailFile || sum != ""):
			t.Errorf("SumMany %d: %q, %v; want the refusal", i, sum, err)
		case i%10 != 3 && (err != nil || sum != sumOf(i)):
			t.Errorf("SumMany %d: %q, %v", i, sum, err)
		}
		calls++
	})
	if err != nil || calls != n {
		t.Fatalf("SumMany: %v after %d calls", err, calls)
	}
	calls = 0
	err = c.StatMany(paths, func(i int, e proto.Entry, err error) {
		if (i%10 == 3) != (err != nil) || err == nil && (e.Name != paths[i] || e.Size != int64(i)) {
			t.Errorf("StatMany %d: %+v, %v", i, e, err)
		}
		calls++
	})
	if err != nil || calls != n {
		t.Fatalf("StatMany: %v after %d calls", err, calls)
	}
	if p := <-problems; p != "" {
		t.Fatal(p)
	}
}

// TestSumRefusesOtherAlgorithm: a sum reply in another algorithm than the connection's is a
// protocol error: it cannot be compared with anything.
func TestSumRefusesOtherAlgorithm(t *testing.T) {
	t.Parallel()
	c := fakeSession(t, func(r *proto.Reader, w *proto.Writer) {
		if _, err := nextRequest(r); err == nil {
			w.WriteJSON(proto.TypeReply, proto.Reply{Code: proto.CodeOK, Checksum: "sha256", Sum: "ab"})
			w.Flush()
		}
		nextRequest(r)
	})
	if sum, err := c.Sum("a"); !errors.Is(err, ErrProtocol) || c.Err() == nil {
		t.Fatalf("Sum = %q, %v; want a protocol error that closes the connection", sum, err)
	}
}

// TestGetTo: a download into a writer gets every byte and the result of the transfer; when the
// checksum does not match, the data has been written and the error is a MismatchError.
func TestGetTo(t *testing.T) {
	t.Parallel()
	data := bytes.Repeat([]byte("stdout "), 100000)
	c := fakeSession(t, func(r *proto.Reader, w *proto.Writer) {
		for _, corrupt := range []bool{false, true} {
			req, err := nextRequest(r)
			if err != nil || req.Op != proto.OpGet || req.Offset != 0 {
				return
			}
			sent := data
			if corrupt {
				sent = bytes.ToUpper(data)
			}
			sum := md5.Sum(data)
			w.WriteJSON(proto.TypeReply, proto.Reply{Code: proto.CodeDataFollows, Size: int64(len(data))})
			for b := sent; len(b) > 0; b = b[min(len(b), 1<<16):] {
				w.WriteFrame(proto.TypeData, b[:min(len(b), 1<<16)])
			}
			w.WriteJSON(proto.TypeReply, proto.Reply{Code: proto.CodeTransferDone, Size: int64(len(data)), MD5: hex.EncodeToString(sum[:])})
			w.Flush()
		}
		nextRequest(r)
	})
	var out bytes.Buffer
	res, err := c.GetTo(context.Background(), "docs/a.txt", &out, Options{})
	if err != nil || !bytes.Equal(out.Bytes(), data) || res.Size != int64(len(data)) || res.Checksum != "md5" || res.Remote != "docs/a.txt" {
		t.Fatalf("GetTo: %+v, %v, %d bytes", res, err, out.Len())
	}
	out.Reset()
	_, err = c.GetTo(context.Background(), "docs/a.txt", &out, Options{})
	var mismatch *transfer.MismatchError
	if !errors.As(err, &mismatch) || mismatch.Name != "a.txt" || out.Len() != len(data) {
		t.Fatalf("GetTo of corrupt data: %v, %d bytes written", err, out.Len())
	}
	if c.Err() != nil {
		t.Errorf("the session is lost after a mismatch: %v", c.Err())
	}
}
