package proto

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

func TestParseFrameHeader(t *testing.T) {
	tests := []struct {
		in      [FrameHeaderLen]byte
		max     int
		want    Frame
		wantErr error
	}{
		{[5]byte{'Q', 0, 0, 0, 0}, 1024, Frame{Type: TypeRequest}, nil},
		{[5]byte{'R', 0, 0, 4, 0}, 1024, Frame{Type: TypeReply, Len: 1024}, nil},
		{[5]byte{'R', 0, 0, 4, 1}, 1024, Frame{}, ErrFrameTooLarge},
		{[5]byte{'Q', 0xff, 0xff, 0xff, 0xff}, 1024, Frame{}, ErrFrameTooLarge},
		{[5]byte{'D', 0, 0x10, 0, 0}, 1024, Frame{Type: TypeData, Len: MaxData}, nil},
		{[5]byte{'D', 0, 0x10, 0, 1}, 1024, Frame{}, ErrFrameTooLarge},
		{[5]byte{'X', 0, 0, 0, 1}, 1024, Frame{}, ErrFrameType},
		{[5]byte{0x16, 3, 1, 0, 0xc8}, 1024, Frame{}, ErrFrameType}, // a TLS ClientHello
	}
	for _, tt := range tests {
		got, err := ParseFrameHeader(tt.in, tt.max)
		if !errors.Is(err, tt.wantErr) {
			t.Errorf("ParseFrameHeader(%q) error = %v, want %v", tt.in[:], err, tt.wantErr)
			continue
		}
		if err == nil && (got.Type != tt.want.Type || got.Len != tt.want.Len) {
			t.Errorf("ParseFrameHeader(%q) = %+v, want %+v", tt.in[:], got, tt.want)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	mtime := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	req := Request{Op: OpPut, Path: "dir/文件 with space.txt", Size: 5 << 32, Mtime: mtime, Resume: true}
	if err := w.WriteJSON(TypeRequest, req); err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("x"), 70000)
	if err := w.WriteFrame(TypeData, data); err != nil {
		t.Fatal(err)
	}
	rep := Reply{Code: CodeSendData, Offset: 1 << 40, PrefixMD5: strings.Repeat("a", 32)}
	if err := w.WriteJSON(TypeReply, rep); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}

	r := NewReader(&buf, DefaultMaxHeader)
	f, err := r.Next()
	if err != nil || f.Type != TypeRequest {
		t.Fatalf("Next = %+v, %v", f, err)
	}
	gotReq, err := DecodeRequest(f.Payload)
	if err != nil || gotReq != req {
		t.Errorf("request = %+v, %v; want %+v", gotReq, err, req)
	}
	f, err = r.Next()
	if err != nil || f.Type != TypeData || f.Len != len(data) {
		t.Fatalf("Next = %+v, %v", f, err)
	}
	gotData, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(gotData, data) {
		t.Errorf("data: %d bytes, %v", len(gotData), err)
	}
	f, err = r.Next()
	if err != nil || f.Type != TypeReply {
		t.Fatalf("Next = %+v, %v", f, err)
	}
	gotRep, err := DecodeReply(f.Payload)
	if err != nil || gotRep.Offset != rep.Offset || gotRep.PrefixMD5 != rep.PrefixMD5 || gotRep.Code != rep.Code {
		t.Errorf("reply = %+v, %v", gotRep, err)
	}
	if _, err := r.Next(); err != io.EOF {
		t.Errorf("at the end: %v, want io.EOF", err)
	}
}

// TestNextSkipsUnreadData checks that a reader that ignores a data frame stays in step.
func TestNextSkipsUnreadData(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	w.WriteFrame(TypeData, []byte("ignored"))
	w.WriteJSON(TypeReply, Reply{Code: 226})
	w.Flush()
	r := NewReader(&buf, DefaultMaxHeader)
	if f, err := r.Next(); err != nil || f.Type != TypeData {
		t.Fatal(f, err)
	}
	if f, err := r.Next(); err != nil || f.Type != TypeReply {
		t.Fatalf("after skipping data: %+v, %v", f, err)
	}
}

func TestTruncated(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	w.WriteJSON(TypeRequest, Request{Op: OpPwd})
	w.Flush()
	whole := buf.Bytes()
	for n := 1; n < len(whole); n++ {
		_, err := NewReader(bytes.NewReader(whole[:n]), DefaultMaxHeader).Next()
		if err == nil || err == io.EOF {
			t.Errorf("%d of %d bytes: error %v, want an unexpected EOF", n, len(whole), err)
		}
	}
}

func TestOversizeIsRefusedBeforeReading(t *testing.T) {
	// A header announcing 4 GiB followed by nothing: the reader must refuse at once, not wait.
	r := NewReader(bytes.NewReader([]byte{'Q', 0xff, 0xff, 0xff, 0xff}), DefaultMaxHeader)
	if _, err := r.Next(); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("error = %v", err)
	}
	var w Writer
	if err := w.WriteFrame(TypeData, make([]byte, MaxData+1)); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("writing oversize data: %v", err)
	}
}

func TestDecodeRequestErrors(t *testing.T) {
	for _, in := range []string{``, `null`, `[]`, `{}`, `{"op":1}`, `{"op":"pwd"} {}`, `{"op":"pwd"`, `"pwd"`, `{"op":""}`} {
		if _, err := DecodeRequest([]byte(in)); !errors.Is(err, ErrMalformed) {
			t.Errorf("DecodeRequest(%q) error = %v, want ErrMalformed", in, err)
		}
	}
}

func TestValidate(t *testing.T) {
	md5 := strings.Repeat("0", 32)
	good := []Request{
		{Op: OpLogin, User: "a"}, {Op: OpPwd}, {Op: OpList}, {Op: OpCd}, {Op: OpRename, Path: "a", To: "b"},
		{Op: OpPut, Path: "a", Size: 0}, {Op: OpDone, MD5: md5}, {Op: OpGet, Path: "a"},
		{Op: OpGet, Path: "a", Offset: 3, PrefixMD5: md5},
		{Op: OpPut, Path: "a", Checksum: "blake3"}, {Op: OpDone, Sum: strings.Repeat("0", 64)},
		{Op: OpGet, Path: "a", Checksum: "sha256", Offset: 3, PrefixSum: strings.Repeat("0", 64)},
		{Op: OpSum, Path: "a"}, {Op: OpSum, Path: "a", Checksum: "md5"},
	}
	for _, r := range good {
		if err := r.Validate(); err != nil {
			t.Errorf("Validate(%v) = %v", r, err)
		}
	}
	bad := []struct {
		r    Request
		want error
	}{
		{Request{Op: "sudo"}, ErrUnknownOp},
		{Request{Op: OpLogin}, ErrBadArgs},
		{Request{Op: OpRename, Path: "a"}, ErrBadArgs},
		{Request{Op: OpRm}, ErrBadArgs},
		{Request{Op: OpPut, Path: "a", Size: -1}, ErrBadArgs},
		{Request{Op: OpDone, MD5: "XYZ"}, ErrBadArgs},
		{Request{Op: OpDone, MD5: strings.Repeat("A", 32)}, ErrBadArgs},
		{Request{Op: OpGet, Path: "a", Offset: 3}, ErrBadArgs},
		{Request{Op: OpGet, Path: "a", Offset: -3}, ErrBadArgs},
		{Request{Op: OpGet, Path: "a", Offset: 3, PrefixSum: "abc"}, ErrBadArgs}, // odd
		{Request{Op: OpPut, Path: "a", Checksum: "crc32"}, ErrBadArgs},
		{Request{Op: OpGet, Path: "a", Checksum: "BLAKE3"}, ErrBadArgs},
		{Request{Op: OpSum, Path: "a", Checksum: "sha1"}, ErrBadArgs},
		{Request{Op: OpSum, Checksum: "md5"}, ErrBadArgs},
		{Request{Op: OpDone, Sum: strings.Repeat("ab", 65)}, ErrBadArgs}, // longer than any digest
		{Request{Op: OpDone, Sum: strings.Repeat("ab", 32), MD5: "x"}, ErrBadArgs},
		{Request{Op: OpStat, Path: strings.Repeat("a", MaxPathLen+1)}, ErrBadArgs},
	}
	for _, tt := range bad {
		if err := tt.r.Validate(); !errors.Is(err, tt.want) {
			t.Errorf("Validate(%v) = %v, want %v", tt.r, err, tt.want)
		}
	}
}

func TestRequestStringHidesPassword(t *testing.T) {
	s := Request{Op: OpLogin, User: "alice", Password: "hunter2"}.String()
	if strings.Contains(s, "hunter2") {
		t.Errorf("String() = %s", s)
	}
}

func TestDecodeReply(t *testing.T) {
	r, err := DecodeReply([]byte(`{"code":552,"msg":"quota exceeded"}`))
	if err != nil {
		t.Fatal(err)
	}
	var re *ReplyError
	if !errors.As(r.Err(), &re) || re.Code != 552 {
		t.Errorf("Err() = %v", r.Err())
	}
	if (Reply{Code: 226}).Err() != nil {
		t.Error("226 is an error")
	}
	for _, in := range []string{`{"code":99}`, `{"code":600}`, `{}`, `x`} {
		if _, err := DecodeReply([]byte(in)); !errors.Is(err, ErrMalformed) {
			t.Errorf("DecodeReply(%q) = %v", in, err)
		}
	}
}

func TestDecodeEntry(t *testing.T) {
	e, err := DecodeEntry([]byte(`{"name":"a b","type":"d","size":4096,"mode":"drwx------","mtime":"2026-01-02T03:04:05Z"}`))
	if err != nil || e.Name != "a b" || e.Type != EntryDir || e.Size != 4096 || e.Mtime.Year() != 2026 {
		t.Errorf("DecodeEntry = %+v, %v", e, err)
	}
	for _, in := range []string{`{}`, `{"name":"x"}`, `{"name":"","type":"f"}`, `{"name":"x","type":"ff"}`} {
		if _, err := DecodeEntry([]byte(in)); err == nil {
			t.Errorf("DecodeEntry(%q) accepted", in)
		}
	}
}

// TestFieldNamesExact: field names match exactly, as JSON keys do; encoding/json alone would take
// "PATH", "Path", an escaped "\u0050ath" or "\u017fize" (a long s) for the lower-case field.
func TestFieldNamesExact(t *testing.T) {
	tests := []struct {
		payload string
		want    Request
	}{
		{`{"op":"stat","path":"a","PATH":"b"}`, Request{Op: OpStat, Path: "a"}},
		{`{"op":"stat","PATH":"b","path":"a"}`, Request{Op: OpStat, Path: "a"}},
		{`{"op":"noop","Path":5}`, Request{Op: OpNoop}},
		{`{"op":"stat","\u0050ath":"b","path":"a"}`, Request{Op: OpStat, Path: "a"}},
		{`{"op":"stat","pa\u0074h":"a"}`, Request{Op: OpStat, Path: "a"}}, // an escape of a lower-case letter is that letter
		{`{"op":"list","LONG":true}`, Request{Op: OpList}},
		{`{"op":"put","path":"a","\u017fize":9}`, Request{Op: OpPut, Path: "a"}},
		{`{"op":"put","path":"a","ſize":9}`, Request{Op: OpPut, Path: "a"}},
		{`{"op":"rename","path":"A\"B,\"PATH\":","to":"C","PATH":"x"}`, Request{Op: OpRename, Path: `A"B,"PATH":`, To: "C"}},
		{`{"op":"put","path":"Big.ISO","mtime":"2026-11-24T10:00:00Z","size":7}`,
			Request{Op: OpPut, Path: "Big.ISO", Mtime: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC), Size: 7}},
		{`{"op":"put","path":"Ünïcode <&> Name","SIZE":9,"size":3}`, Request{Op: OpPut, Path: "Ünïcode <&> Name", Size: 3}},
	}
	for _, tt := range tests {
		got, err := DecodeRequest([]byte(tt.payload))
		if err != nil || got != tt.want {
			t.Errorf("DecodeRequest(%s) = %+v, %v; want %+v", tt.payload, got, err, tt.want)
		}
	}
}

// TestNestedFieldNamesExact: keys of nested objects match exactly too (the entry of a stat reply),
// and a payload that takes the slow path keeps its 64-bit integers exact.
func TestNestedFieldNamesExact(t *testing.T) {
	rep, err := DecodeReply([]byte(`{"code":213,"entry":{"name":"a","type":"f","size":5,"SIZE":7,"Name":"b"},"Msg":"x"}`))
	if err != nil || rep.Entry == nil || rep.Entry.Name != "a" || rep.Entry.Size != 5 || rep.Msg != "" {
		t.Errorf("stat reply with folded nested keys: %+v (entry %+v), %v", rep, rep.Entry, err)
	}
	rep, err = DecodeReply([]byte(`{"code":213,"entry":{"name":"a","type":"f","Size":7}}`))
	if err != nil || rep.Entry == nil || rep.Entry.Size != 0 {
		t.Errorf("a nested \"Size\" was taken for size: %+v, %v", rep.Entry, err)
	}
	big := int64(1<<62 + 3) // not representable in a float64
	req, err := DecodeRequest([]byte(fmt.Sprintf(`{"op":"put","path":"a","size":%d,"PATH":"b"}`, big)))
	if err != nil || req.Size != big || req.Path != "a" {
		t.Errorf("slow path: %+v, %v; want size %d", req, err, big)
	}
	if _, err := DecodeRequest([]byte(`{"op":"noop","X":1} {"op":"quit"}`)); err == nil {
		t.Error("a payload with a second value after the object was accepted")
	}
}

// TestWriteJSONLimit: a payload over the limit set with SetMaxHeader is refused before anything
// is written, and "<", ">" and "&" are not escaped (which would make them six bytes each).
func TestWriteJSONLimit(t *testing.T) {
	var out bytes.Buffer
	w := NewWriter(&out)
	w.SetMaxHeader(64)
	if err := w.WriteJSON(TypeReply, Reply{Code: 550, Msg: strings.Repeat("x", 64)}); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("a reply over the limit: %v, want ErrFrameTooLarge", err)
	}
	if err := w.WriteJSON(TypeReply, Reply{Code: 550, Msg: "<&>"}); err != nil {
		t.Fatal(err)
	}
	w.Flush()
	if got := out.String()[FrameHeaderLen:]; got != `{"code":550,"msg":"<&>"}` {
		t.Errorf("written %q", out.String())
	}
}
