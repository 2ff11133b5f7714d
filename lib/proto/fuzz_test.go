package proto

import (
	"bytes"
	"io"
	"testing"
	"time"
)

// seedStream is real writer output: a login, a put with data, a done, a reply and a listing line.
func seedStream() []byte {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	w.WriteJSON(TypeRequest, Request{Op: OpLogin, User: "alice", Password: "pw"})
	w.WriteJSON(TypeRequest, Request{Op: OpPut, Path: "a b.txt", Size: 3, Mtime: time.Unix(1e9, 0).UTC(), Resume: true})
	w.WriteFrame(TypeData, []byte("abc"))
	w.WriteJSON(TypeRequest, Request{Op: OpDone, MD5: "900150983cd24fb0d6963f7d28e17f72"})
	w.WriteJSON(TypeReply, Reply{Code: CodeDataFollows, Size: 3})
	w.WriteFrame(TypeData, []byte(`{"name":"a","type":"f","size":1}`+"\n"))
	w.Flush()
	return buf.Bytes()
}

// FuzzReader feeds arbitrary bytes to the frame reader and the header decoders: they must never
// panic, never return a frame over its limit, and every request they accept must re-encode to an
// equal request.
func FuzzReader(f *testing.F) {
	f.Add(seedStream())
	f.Add([]byte{'Q', 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{'D', 0, 0, 0, 2, 'h'})
	f.Add([]byte{0x16, 3, 1, 0, 0xc8, 1})
	f.Fuzz(func(t *testing.T, in []byte) {
		r := NewReader(bytes.NewReader(in), MinMaxHeader)
		for range 64 {
			fr, err := r.Next()
			if err != nil {
				return
			}
			switch fr.Type {
			case TypeData:
				n, _ := io.Copy(io.Discard, r)
				if n > MaxData {
					t.Fatalf("data frame of %d bytes", n)
				}
			case TypeRequest:
				if fr.Len > MinMaxHeader {
					t.Fatalf("header frame of %d bytes", fr.Len)
				}
				checkRequest(t, fr.Payload)
			case TypeReply:
				DecodeReply(fr.Payload)
				DecodeEntry(fr.Payload)
			}
		}
	})
}

// FuzzDecodeRequest fuzzes the request decoder and validator directly.
func FuzzDecodeRequest(f *testing.F) {
	for _, s := range []string{`{"op":"login","user":"a","password":"b"}`, `{"op":"put","path":"x","size":9223372036854775807}`,
		`{"op":"get","path":"x","offset":5,"prefix_md5":"900150983cd24fb0d6963f7d28e17f72"}`, `{"op":"rename","path":"a","to":"../b"}`,
		`{"op":"put","path":"x","mtime":"2026-01-02T03:04:05.123Z"}`, `{"op":"list","long":true}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) { checkRequest(t, in) })
}

func checkRequest(t *testing.T, payload []byte) {
	req, err := DecodeRequest(payload)
	if err != nil {
		return
	}
	if req.Validate() != nil {
		return
	}
	var buf bytes.Buffer
	w := NewWriter(&buf)
	if err := w.WriteJSON(TypeRequest, req); err != nil {
		t.Fatalf("re-encode %+v: %v", req, err)
	}
	w.Flush()
	fr, err := NewReader(&buf, 1<<20).Next()
	if err != nil {
		t.Fatalf("re-read: %v", err)
	}
	back, err := DecodeRequest(fr.Payload)
	if err != nil || !back.Mtime.Equal(req.Mtime) {
		t.Fatalf("round trip of %+v: %+v, %v", req, back, err)
	}
	back.Mtime = req.Mtime
	if back != req {
		t.Fatalf("round trip of %+v gave %+v", req, back)
	}
}
