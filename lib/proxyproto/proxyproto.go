// Package proxyproto reads and writes the header of the PROXY protocol, versions 1 and 2, that a
// TCP proxy such as HAProxy sends first on a connection to a server, to tell it whom the
// connection is from (https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt).
//
// Version 1 is one line of text, at most MaxV1Size bytes, CRLF included:
//
//	PROXY TCP4 192.0.2.7 198.51.100.1 51234 2121\r\n
//	PROXY TCP6 2001:db8::7 2001:db8::1 51234 2121\r\n
//	PROXY UNKNOWN\r\n                               (anything may follow UNKNOWN up to the CRLF)
//
// Version 2 is binary: a 16-byte fixed part, then Length bytes of addresses and of TLVs, which
// this package skips:
//
//	+-----------------------------+---------+--------+-------------------------+
//	| signature (12 B)            | ver|cmd | fam|tp | length: uint16, big-end |
//	| 0D 0A 0D 0A 00 0D 0A 51 ... | 0x2|0-1 | 0-3|0-2|                         |
//	+-----------------------------+---------+--------+-------------------------+
//	then for TCP over IPv4 (0x11):  src 4 B, dst 4 B, src port 2 B, dst port 2 B   (12 B)
//	     for TCP over IPv6 (0x21):  src 16 B, dst 16 B, src port 2 B, dst port 2 B (36 B)
//	     then TLVs, up to Length
//
// A header without addresses (a v2 LOCAL command, as HAProxy's health checks send; v1 UNKNOWN;
// v2 UDP, unix sockets or an unspecified family) is valid: the receiver then uses the
// connection's own addresses, as the specification says.
package proxyproto

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
)

// Sizes the reader accepts.
const (
	// MaxV1Size is the longest version 1 header, CRLF included (the specification's worst case,
	// "PROXY UNKNOWN" with two full IPv6 addresses and ports).
	MaxV1Size = 107
	// MaxV2Length is the largest Length of a version 2 header the reader accepts: room for the
	// longest address block (unix sockets, 216 bytes) and every TLV a proxy sends in practice.
	MaxV2Length = 4096
	// v2FixedSize is the fixed part of a version 2 header.
	v2FixedSize = 16
)

// Errors of Read. Every error it returns wraps one of them.
var (
	// ErrNoHeader: the connection does not start with a PROXY header.
	ErrNoHeader = errors.New("proxyproto: no PROXY header")
	// ErrInvalid: the header is malformed, too long, or cut short.
	ErrInvalid = errors.New("proxyproto: invalid PROXY header")
)

// v1Prefix starts every version 1 header; v2Sig every version 2 one.
var (
	v1Prefix = []byte("PROXY ")
	v2Sig    = []byte("\r\n\r\n\x00\r\nQUIT\n")
)

// Command says whether the proxy relays a client's connection or opened its own.
type Command byte

// The commands.
const (
	// Local is a connection the proxy made on its own behalf (a health check): the connection's
	// own addresses are the right ones.
	Local Command = 0
	// Proxy is a connection relayed for a client, whose addresses the header carries.
	Proxy Command = 1
)

// Header is what a PROXY header says.
type Header struct {
	Version int // 1 or 2
	Command Command
	// Source is the client's address and Dest the one it connected to (the proxy's). Both are
	// the zero AddrPort when the header carries no addresses: the receiver then uses the
	// connection's own. When set, they are of one family: IPv4, or IPv6.
	Source, Dest netip.AddrPort
}

// HasAddrs reports whether the header names the client's address.
func (h Header) HasAddrs() bool { return h.Source.IsValid() }

// Read reads one header from r and nothing after it (what r has buffered past the header is the
// connection's data). It fails with ErrNoHeader, as soon as the first bytes show it, when r does
// not start with a header, and with ErrInvalid for a malformed or cut header; a read error of r is
// returned wrapped. The caller bounds the time Read may wait with a deadline on the connection.
func Read(r *bufio.Reader) (Header, error) {
	first, err := r.Peek(1)
	if err != nil {
		return Header{}, cutShort(err)
	}
	switch first[0] {
	case v1Prefix[0]:
		return readV1(r)
	case v2Sig[0]:
		return readV2(r)
	}
	return Header{}, ErrNoHeader
}

// readV1 reads a version 1 line of at most MaxV1Size bytes, CRLF included.
func readV1(r *bufio.Reader) (Header, error) {
	line := make([]byte, 0, MaxV1Size)
	for {
		b, err := r.ReadByte()
		if err != nil {
			return Header{}, cutShort(err)
		}
		line = append(line, b)
		if n := len(line); n <= len(v1Prefix) && line[n-1] != v1Prefix[n-1] {
			return Header{}, ErrNoHeader
		}
		if b == '\n' {
			break
		}
		if len(line) == MaxV1Size {
			return Header{}, fmt.Errorf("%w: no CRLF within %d bytes", ErrInvalid, MaxV1Size)
		}
	}
	body, ok := bytes.CutSuffix(line[len(v1Prefix):], []byte("\r\n"))
	if !ok {
		return Header{}, fmt.Errorf("%w: the line does not end with CRLF", ErrInvalid)
	}
	return parseV1(body)
}

// cutShort is the error of a header that ended before it was complete.
func cutShort(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: cut short", ErrInvalid)
	}
	return fmt.Errorf("proxyproto: read: %w", err)
}

// parseV1 parses what follows "PROXY " up to the CRLF.
func parseV1(body []byte) (Header, error) {
	h := Header{Version: 1, Command: Proxy}
	if rest, ok := bytes.CutPrefix(body, []byte("UNKNOWN")); ok && (len(rest) == 0 || rest[0] == ' ') {
		return h, nil // the specification: ignore what follows UNKNOWN
	}
	f := bytes.Split(body, []byte(" "))
	if len(f) != 5 {
		return Header{}, fmt.Errorf("%w: want PROTO SRC DST SRCPORT DSTPORT, got %q", ErrInvalid, body)
	}
	var want6 bool
	switch string(f[0]) {
	case "TCP4":
	case "TCP6":
		want6 = true
	default:
		return Header{}, fmt.Errorf("%w: unknown protocol %q", ErrInvalid, f[0])
	}
	var addrs [2]netip.Addr
	var ports [2]uint16
	for i := range 2 {
		var err error
		if addrs[i], err = parseV1Addr(f[1+i], want6); err != nil {
			return Header{}, err
		}
		if ports[i], err = parseV1Port(f[3+i]); err != nil {
			return Header{}, err
		}
	}
	h.Source, h.Dest = netip.AddrPortFrom(addrs[0], ports[0]), netip.AddrPortFrom(addrs[1], ports[1])
	return h, nil
}

// parseV1Addr parses an address of the family of the line's protocol, without a zone; IPv4
// octets with leading zeros are refused (netip does), as the specification asks.
func parseV1Addr(b []byte, want6 bool) (netip.Addr, error) {
	a, err := netip.ParseAddr(string(b))
	if err != nil || a.Is6() != want6 || a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("%w: bad address %q", ErrInvalid, b)
	}
	return a, nil
}

// parseV1Port parses a decimal port from 0 to 65535 without leading zeros.
func parseV1Port(b []byte) (uint16, error) {
	n, err := strconv.ParseUint(string(b), 10, 16)
	if err != nil || (len(b) > 1 && b[0] == '0') {
		return 0, fmt.Errorf("%w: bad port %q", ErrInvalid, b)
	}
	return uint16(n), nil
}

// readV2 reads a version 2 header: the fixed part, the addresses, and the TLVs, which it skips.
func readV2(r *bufio.Reader) (Header, error) {
	fixed, err := r.Peek(v2FixedSize)
	for i := range min(len(fixed), len(v2Sig)) { // refuse a wrong signature before waiting for more
		if fixed[i] != v2Sig[i] {
			return Header{}, ErrNoHeader
		}
	}
	if err != nil {
		return Header{}, cutShort(err)
	}
	verCmd, famProto := fixed[12], fixed[13]
	length := int(binary.BigEndian.Uint16(fixed[14:16]))
	if _, err := r.Discard(v2FixedSize); err != nil {
		return Header{}, cutShort(err)
	}
	switch {
	case verCmd>>4 != 2:
		return Header{}, fmt.Errorf("%w: version %d", ErrInvalid, verCmd>>4)
	case verCmd&0xf > byte(Proxy):
		return Header{}, fmt.Errorf("%w: command %d", ErrInvalid, verCmd&0xf)
	case length > MaxV2Length:
		return Header{}, fmt.Errorf("%w: length %d over %d", ErrInvalid, length, MaxV2Length)
	}
	h := Header{Version: 2, Command: Command(verCmd & 0xf)}
	addrLen, ok := v2AddrLen(famProto)
	if !ok && h.Command == Proxy { // a LOCAL command's family is ignored
		return Header{}, fmt.Errorf("%w: address family and protocol 0x%02x", ErrInvalid, famProto)
	}
	if h.Command == Local || addrLen == 0 { // no addresses to use: skip the block
		_, err := r.Discard(length)
		return h, discardErr(err)
	}
	if length < addrLen {
		return Header{}, fmt.Errorf("%w: length %d too short for family 0x%02x", ErrInvalid, length, famProto)
	}
	var block [36]byte
	if _, err := io.ReadFull(r, block[:addrLen]); err != nil {
		return Header{}, cutShort(err)
	}
	h.Source, h.Dest = v2Addrs(block[:addrLen])
	_, err = r.Discard(length - addrLen)
	return h, discardErr(err)
}

// v2AddrLen returns the size of the address block of a family and protocol byte that names
// addresses the reader uses (TCP over IPv4 or IPv6), 0 for the other valid ones (unspecified,
// UDP, unix sockets), and false for an invalid one.
func v2AddrLen(famProto byte) (int, bool) {
	switch famProto {
	case 0x11:
		return 12, true
	case 0x21:
		return 36, true
	}
	return 0, famProto>>4 <= 3 && famProto&0xf <= 2
}

// v2Addrs decodes an address block of TCP over IPv4 (12 bytes) or IPv6 (36 bytes).
func v2Addrs(b []byte) (src, dst netip.AddrPort) {
	n := (len(b) - 4) / 2
	s, _ := netip.AddrFromSlice(b[:n])
	d, _ := netip.AddrFromSlice(b[n : 2*n])
	ports := b[2*n:]
	return netip.AddrPortFrom(s, binary.BigEndian.Uint16(ports)), netip.AddrPortFrom(d, binary.BigEndian.Uint16(ports[2:]))
}

func discardErr(err error) error {
	if err != nil {
		return cutShort(err)
	}
	return nil
}

// Append appends h, encoded in its Version (1, or else 2), to b. A header without addresses is
// written as "PROXY UNKNOWN" in version 1 and with an unspecified family in version 2 (with
// its Command; Local is what health checks send). Source and Dest must be of one family.
func (h Header) Append(b []byte) []byte {
	if h.Version == 1 {
		return h.appendV1(b)
	}
	return h.appendV2(b)
}

func (h Header) appendV1(b []byte) []byte {
	b = append(b, v1Prefix...)
	if !h.HasAddrs() {
		return append(b, "UNKNOWN\r\n"...)
	}
	proto := "TCP4 "
	if h.Source.Addr().Is6() {
		proto = "TCP6 "
	}
	b = append(b, proto...)
	b = h.Source.Addr().AppendTo(b)
	b = append(b, ' ')
	b = h.Dest.Addr().AppendTo(b)
	return fmt.Appendf(b, " %d %d\r\n", h.Source.Port(), h.Dest.Port())
}

func (h Header) appendV2(b []byte) []byte {
	b = append(b, v2Sig...)
	b = append(b, 0x20|byte(h.Command)&0xf)
	if !h.HasAddrs() {
		return append(b, 0x00, 0, 0)
	}
	fam, addrs := byte(0x11), [][]byte{h.Source.Addr().AsSlice(), h.Dest.Addr().AsSlice()}
	if h.Source.Addr().Is6() {
		fam = 0x21
	}
	b = append(b, fam)
	b = binary.BigEndian.AppendUint16(b, uint16(2*len(addrs[0])+4))
	b = append(append(b, addrs[0]...), addrs[1]...)
	b = binary.BigEndian.AppendUint16(b, h.Source.Port())
	return binary.BigEndian.AppendUint16(b, h.Dest.Port())
}
