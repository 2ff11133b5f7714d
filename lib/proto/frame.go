// Package proto is the myftp wire format, in one place: frames, the JSON request and reply headers
// carried in them, status codes, and the listing entries. PROTOCOL.md beside this file describes it
// for people writing other clients.
//
// Every message is a frame:
//
//	+------+----------------------------+----------------------+
//	| type | length: uint32, big-endian |  payload (length B)  |
//	+------+----------------------------+----------------------+
//	  1 B              4 B
//
// Frame types:
//
//	'Q' request  payload: a JSON object (Request), at most the peer's header limit
//	'R' reply    payload: a JSON object (Reply), at most the peer's header limit
//	'D' data     payload: raw bytes, at most MaxData: file content or listing lines
//
// A reader refuses an unknown type or an oversize payload before reading the payload: a header that
// announces more than the limit costs the reader nothing.
package proto

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// FrameType is the first byte of every frame.
type FrameType byte

// The frame types.
const (
	TypeRequest FrameType = 'Q'
	TypeReply   FrameType = 'R'
	TypeData    FrameType = 'D'
)

func (t FrameType) String() string {
	switch t {
	case TypeRequest:
		return "request"
	case TypeReply:
		return "reply"
	case TypeData:
		return "data"
	}
	return fmt.Sprintf("frame type 0x%02x", byte(t))
}

const (
	// FrameHeaderLen is the size of the type and length prefix of every frame.
	FrameHeaderLen = 5
	// MaxData is the largest data frame payload.
	MaxData = 1 << 20
	// DefaultMaxHeader is the default limit on request and reply payloads.
	DefaultMaxHeader = 64 << 10
	// MinMaxHeader is the smallest header limit a peer may announce.
	MinMaxHeader = 1 << 10
	// bufSize is the stream buffer of Reader and Writer: small, because an idle session keeps
	// both; bulk data bypasses it.
	bufSize = 4 << 10
)

// Errors for malformed frames. They are final for a connection: after one, the stream cannot be
// trusted to be in step.
var (
	ErrFrameTooLarge = errors.New("proto: frame too large")
	ErrFrameType     = errors.New("proto: unknown frame type")
	ErrMalformed     = errors.New("proto: malformed header")
)

// Reader reads frames from a stream. Request and reply payloads are read whole (they are bounded
// by the header limit); data payloads are streamed through Read so that file content is never held
// in memory as a whole.
type Reader struct {
	br        *bufio.Reader
	maxHeader int
	remaining int // unread bytes of the current data frame
	buf       []byte
	hdr       [FrameHeaderLen]byte
}

// NewReader returns a Reader over r that refuses request and reply payloads over maxHeader bytes.
// r is buffered internally; reads of data into large slices bypass the buffer.
func NewReader(r io.Reader, maxHeader int) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, bufSize), maxHeader: maxHeader}
}

// Frame is the frame most recently returned by Reader.Next.
type Frame struct {
	Type FrameType
	// Len is the payload length.
	Len int
	// Payload holds the payload of a request or reply frame, valid until the next call to Next.
	// It is nil for data frames, whose payload is read through Reader.Read.
	Payload []byte
}

// Next reads the next frame. Any unread data of the previous data frame is discarded first.
func (r *Reader) Next() (Frame, error) {
	if r.remaining > 0 {
		if _, err := r.br.Discard(r.remaining); err != nil {
			return Frame{}, fmt.Errorf("skip data: %w", eof(err))
		}
		r.remaining = 0
	}
	if _, err := io.ReadFull(r.br, r.hdr[:]); err != nil {
		return Frame{}, err // io.EOF at a frame boundary is a clean end
	}
	f, err := ParseFrameHeader(r.hdr, r.maxHeader)
	if err != nil {
		return f, err
	}
	if f.Type == TypeData {
		r.remaining = f.Len
		return f, nil
	}
	if cap(r.buf) < f.Len {
		r.buf = make([]byte, f.Len)
	}
	f.Payload = r.buf[:f.Len]
	if _, err := io.ReadFull(r.br, f.Payload); err != nil {
		return Frame{}, fmt.Errorf("read %s: %w", f.Type, eof(err))
	}
	return f, nil
}

// ParseFrameHeader decodes a frame's type and length and checks them against the limits.
func ParseFrameHeader(h [FrameHeaderLen]byte, maxHeader int) (Frame, error) {
	f := Frame{Type: FrameType(h[0])}
	n := binary.BigEndian.Uint32(h[1:])
	limit := maxHeader
	switch f.Type {
	case TypeRequest, TypeReply:
	case TypeData:
		limit = MaxData
	default:
		return f, fmt.Errorf("%w 0x%02x", ErrFrameType, h[0])
	}
	if uint64(n) > uint64(limit) {
		return f, fmt.Errorf("%w: %s of %d bytes, limit %d", ErrFrameTooLarge, f.Type, n, limit)
	}
	f.Len = int(n)
	return f, nil
}

// Read reads from the payload of the current data frame, returning io.EOF at its end.
func (r *Reader) Read(p []byte) (int, error) {
	if r.remaining == 0 {
		return 0, io.EOF
	}
	if len(p) > r.remaining {
		p = p[:r.remaining]
	}
	n, err := r.br.Read(p)
	r.remaining -= n
	if err != nil {
		return n, eof(err)
	}
	return n, nil
}

// WriteTo copies the rest of the current data frame's payload to w.
func (r *Reader) WriteTo(w io.Writer) (int64, error) {
	n, err := io.CopyN(w, r.br, int64(r.remaining))
	r.remaining -= int(n)
	return n, eof(err)
}

// Buffered reports how many bytes are already read from the stream but not yet consumed.
func (r *Reader) Buffered() int { return r.br.Buffered() }

// Pending reports whether the next frame can be taken without waiting for the peer: its header is
// buffered and, for a request or reply, its whole payload too (a data frame's payload streams: its
// sender does not wait for anything before sending the rest). A server flushes its replies when
// nothing is pending, so that pipelined requests get their replies in few writes, and a reply is
// never held back while the server waits for the rest of a frame.
func (r *Reader) Pending() bool {
	if r.remaining > 0 || r.br.Buffered() < FrameHeaderLen {
		return false
	}
	h, err := r.br.Peek(FrameHeaderLen)
	if err != nil {
		return false
	}
	if FrameType(h[0]) == TypeData {
		return true
	}
	return uint64(r.br.Buffered()) >= FrameHeaderLen+uint64(binary.BigEndian.Uint32(h[1:]))
}

// eof turns an io.EOF inside a frame into io.ErrUnexpectedEOF: the peer went away mid-frame.
func eof(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// Writer writes frames to a buffered stream. Call Flush to send what was written.
type Writer struct {
	bw        *bufio.Writer
	hdr       [FrameHeaderLen]byte
	maxHeader int // 0: no limit on WriteJSON payloads
}

// SetMaxHeader makes WriteJSON refuse, with ErrFrameTooLarge and before writing anything, a payload
// over n bytes: the limit the peer reads with.
func (w *Writer) SetMaxHeader(n int) { w.maxHeader = n }

// NewWriter returns a Writer over w.
func NewWriter(w io.Writer) *Writer {
	return &Writer{bw: bufio.NewWriterSize(w, bufSize)}
}

// WriteJSON writes a request or reply frame whose payload is v encoded as JSON. "<", ">" and "&"
// are written as they are, not escaped for HTML (which would make a name of them six times longer).
func (w *Writer) WriteJSON(t FrameType, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("encode %s: %w", t, err)
	}
	payload := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	if w.maxHeader > 0 && len(payload) > w.maxHeader {
		return fmt.Errorf("%w: %s of %d bytes, limit %d", ErrFrameTooLarge, t, len(payload), w.maxHeader)
	}
	return w.WriteFrame(t, payload)
}

// WriteFrame writes one frame with the given payload. A data payload over MaxData is refused.
func (w *Writer) WriteFrame(t FrameType, payload []byte) error {
	if t == TypeData && len(payload) > MaxData {
		return fmt.Errorf("%w: data of %d bytes, limit %d", ErrFrameTooLarge, len(payload), MaxData)
	}
	if uint64(len(payload)) > 1<<32-1 {
		return fmt.Errorf("%w: %d bytes", ErrFrameTooLarge, len(payload))
	}
	w.hdr[0] = byte(t)
	binary.BigEndian.PutUint32(w.hdr[1:], uint32(len(payload)))
	if _, err := w.bw.Write(w.hdr[:]); err != nil {
		return err
	}
	_, err := w.bw.Write(payload)
	return err
}

// Flush sends everything written so far.
func (w *Writer) Flush() error { return w.bw.Flush() }

// Buffered returns the number of bytes written but not yet flushed.
func (w *Writer) Buffered() int { return w.bw.Buffered() }
