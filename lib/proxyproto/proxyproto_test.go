package proxyproto

import (
	"bufio"
	"errors"
	"io"
	"net/netip"
	"strings"
	"testing"
)

// v2 builds a version 2 header by hand: the signature, ver|cmd, fam|proto, the length of rest,
// and rest.
func v2(verCmd, famProto byte, rest ...byte) string {
	return string(v2Sig) + string([]byte{verCmd, famProto, byte(len(rest) >> 8), byte(len(rest))}) + string(rest)
}

// ones repeats b n times.
func ones(b byte, n int) []byte { return []byte(strings.Repeat(string(b), n)) }

var (
	ipv4Block = []byte{192, 0, 2, 7, 198, 51, 100, 1, 0xc8, 0x22, 0x08, 0x49} // 192.0.2.7:51234 -> 198.51.100.1:2121
	// [2001:db8::7]:51234 -> [2001:db8::1]:2121
	ipv6Block = []byte{
		0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7,
		0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
		0xc8, 0x22, 0x08, 0x49}
	maxV6 = strings.Repeat("ffff:", 7) + "ffff"
)

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

// TestRead covers the specification's examples of both versions, the longest lines it allows,
// the headers without addresses that a receiver must accept, and what it says to refuse.
func TestRead(t *testing.T) {
	client4 := Header{Command: Proxy, Source: ap("192.0.2.7:51234"), Dest: ap("198.51.100.1:2121")}
	client6 := Header{Command: Proxy, Source: ap("[2001:db8::7]:51234"), Dest: ap("[2001:db8::1]:2121")}
	v1h := func(h Header) Header { h.Version = 1; return h }
	v2h := func(h Header) Header { h.Version = 2; return h }
	tests := []struct {
		name, in string
		want     Header
		err      error // nil: want, and the data after the header is still there
	}{
		{"v1 TCP4", "PROXY TCP4 192.0.2.7 198.51.100.1 51234 2121\r\n", v1h(client4), nil},
		{"v1 TCP6", "PROXY TCP6 2001:db8::7 2001:db8::1 51234 2121\r\n", v1h(client6), nil},
		{"v1 longest TCP4", "PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n",
			v1h(Header{Command: Proxy, Source: ap("255.255.255.255:65535"), Dest: ap("255.255.255.255:65535")}), nil},
		{"v1 longest TCP6 (104 bytes)", "PROXY TCP6 " + maxV6 + " " + maxV6 + " 65535 65535\r\n",
			v1h(Header{Command: Proxy, Source: ap("[" + maxV6 + "]:65535"), Dest: ap("[" + maxV6 + "]:65535")}), nil},
		{"v1 UNKNOWN", "PROXY UNKNOWN\r\n", v1h(Header{Command: Proxy}), nil},
		{"v1 UNKNOWN worst case (107 bytes)", "PROXY UNKNOWN " + maxV6 + " " + maxV6 + " 65535 65535\r\n", v1h(Header{Command: Proxy}), nil},
		{"v1 port 0", "PROXY TCP4 192.0.2.7 198.51.100.1 0 2121\r\n",
			v1h(Header{Command: Proxy, Source: ap("192.0.2.7:0"), Dest: ap("198.51.100.1:2121")}), nil},

		{"v2 TCP4", v2(0x21, 0x11, ipv4Block...), v2h(client4), nil},
		{"v2 TCP6", v2(0x21, 0x21, ipv6Block...), v2h(client6), nil},
		{"v2 TCP4 with TLVs", v2(0x21, 0x11, append(append([]byte{}, ipv4Block...), 0x04, 0, 3, 'a', 'b', 'c')...), v2h(client4), nil},
		{"v2 LOCAL", v2(0x20, 0x00), v2h(Header{Command: Local}), nil},
		{"v2 LOCAL with addresses, ignored", v2(0x20, 0x11, ipv4Block...), v2h(Header{Command: Local}), nil},
		{"v2 LOCAL with any family", v2(0x20, 0xff), v2h(Header{Command: Local}), nil},
		{"v2 PROXY UNSPEC", v2(0x21, 0x00), v2h(Header{Command: Proxy}), nil},
		{"v2 UDP over IPv4: no addresses to use", v2(0x21, 0x12, ipv4Block...), v2h(Header{Command: Proxy}), nil},
		{"v2 unix stream", v2(0x21, 0x31, make([]byte, 216)...), v2h(Header{Command: Proxy}), nil},
		{"v2 longest", v2(0x21, 0x11, append(append([]byte{}, ipv4Block...), make([]byte, MaxV2Length-12)...)...), v2h(client4), nil},

		{"TLS hello", "\x16\x03\x01\x00\xc8\x01", Header{}, ErrNoHeader},
		{"SSH version", "SSH-2.0-OpenSSH_9.2\r\n", Header{}, ErrNoHeader},
		{"FTP command", "USER bob\r\n", Header{}, ErrNoHeader},
		{"PROXZ", "PROXZ TCP4\r\n", Header{}, ErrNoHeader},
		{"PROXY without a space", "PROXY\r\n", Header{}, ErrNoHeader},
		{"v2 wrong signature", "\r\n\r\n\x00\r\nQUIX\n\x21\x11\x00\x0c", Header{}, ErrNoHeader},
		{"empty", "", Header{}, ErrInvalid},

		{"v1 no CRLF in 107 bytes", "PROXY UNKNOWN " + strings.Repeat("x", 200), Header{}, ErrInvalid},
		{"v1 108 bytes", "PROXY UNKNOWN " + maxV6 + " " + maxV6 + " 65535 655350\r\n", Header{}, ErrInvalid},
		{"v1 LF alone", "PROXY TCP4 192.0.2.7 198.51.100.1 51234 2121\n", Header{}, ErrInvalid},
		{"v1 cut short", "PROXY TCP4 192.0.2.7", Header{}, ErrInvalid},
		{"v1 TCP5", "PROXY TCP5 192.0.2.7 198.51.100.1 51234 2121\r\n", Header{}, ErrInvalid},
		{"v1 IPv6 in TCP4", "PROXY TCP4 2001:db8::7 2001:db8::1 51234 2121\r\n", Header{}, ErrInvalid},
		{"v1 IPv4 in TCP6", "PROXY TCP6 192.0.2.7 198.51.100.1 51234 2121\r\n", Header{}, ErrInvalid},
		{"v1 leading zero in an address", "PROXY TCP4 192.0.2.07 198.51.100.1 51234 2121\r\n", Header{}, ErrInvalid},
		{"v1 leading zero in a port", "PROXY TCP4 192.0.2.7 198.51.100.1 051234 2121\r\n", Header{}, ErrInvalid},
		{"v1 port over 65535", "PROXY TCP4 192.0.2.7 198.51.100.1 65536 2121\r\n", Header{}, ErrInvalid},
		{"v1 two spaces", "PROXY TCP4  192.0.2.7 198.51.100.1 51234 2121\r\n", Header{}, ErrInvalid},
		{"v1 a field missing", "PROXY TCP4 192.0.2.7 198.51.100.1 51234\r\n", Header{}, ErrInvalid},
		{"v1 zone", "PROXY TCP6 fe80::1%eth0 2001:db8::1 51234 2121\r\n", Header{}, ErrInvalid},
		{"v1 UNKNOWNX", "PROXY UNKNOWNX\r\n", Header{}, ErrInvalid},
		{"v2 version 1", v2(0x11, 0x11, ipv4Block...), Header{}, ErrInvalid},
		{"v2 command 2", v2(0x22, 0x11, ipv4Block...), Header{}, ErrInvalid},
		{"v2 family 4", v2(0x21, 0x41, ipv4Block...), Header{}, ErrInvalid},
		{"v2 protocol 3", v2(0x21, 0x13, ipv4Block...), Header{}, ErrInvalid},
		{"v2 length short of the addresses", v2(0x21, 0x21, ipv4Block...), Header{}, ErrInvalid},
		{"v2 length over the limit", v2(0x21, 0x11, make([]byte, MaxV2Length+1)...), Header{}, ErrInvalid},
		{"v2 fixed part cut short", string(v2Sig) + "\x21\x11\x00", Header{}, ErrInvalid},
		{"v2 addresses cut short", v2(0x21, 0x11, ipv4Block...)[:20], Header{}, ErrInvalid},
		{"v2 TLVs cut short", v2(0x21, 0x11, append(append([]byte{}, ipv4Block...), ones(0, 9)...)...)[:16+14], Header{}, ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const data = "SSH-2.0-client\r\n"
			r := bufio.NewReader(strings.NewReader(tt.in + data))
			if tt.err != nil {
				r = bufio.NewReader(strings.NewReader(tt.in))
			}
			got, err := Read(r)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("Read = %+v, %v; want %v", got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Read = %+v, %v; want %+v", got, err, tt.want)
			}
			if rest, _ := io.ReadAll(r); string(rest) != data {
				t.Errorf("after the header: %q, want %q", rest, data)
			}
		})
	}
}

// TestAppend: the writer's output is what the specification shows, and reads back as written.
func TestAppend(t *testing.T) {
	client6 := Header{Command: Proxy, Source: ap("[2001:db8::7]:51234"), Dest: ap("[2001:db8::1]:2121")}
	tests := []struct {
		h    Header
		want string
	}{
		{Header{Version: 1, Command: Proxy, Source: ap("192.0.2.7:51234"), Dest: ap("198.51.100.1:2121")},
			"PROXY TCP4 192.0.2.7 198.51.100.1 51234 2121\r\n"},
		{Header{Version: 1, Command: Proxy, Source: client6.Source, Dest: client6.Dest}, "PROXY TCP6 2001:db8::7 2001:db8::1 51234 2121\r\n"},
		{Header{Version: 1, Command: Proxy}, "PROXY UNKNOWN\r\n"},
		{Header{Version: 2, Command: Proxy, Source: ap("192.0.2.7:51234"), Dest: ap("198.51.100.1:2121")}, v2(0x21, 0x11, ipv4Block...)},
		{Header{Version: 2, Command: Proxy, Source: client6.Source, Dest: client6.Dest}, v2(0x21, 0x21, ipv6Block...)},
		{Header{Version: 2, Command: Local}, v2(0x20, 0x00)},
	}
	for _, tt := range tests {
		b := tt.h.Append(nil)
		if string(b) != tt.want {
			t.Errorf("Append(%+v) = %q, want %q", tt.h, b, tt.want)
		}
		got, err := Read(bufio.NewReader(strings.NewReader(string(b))))
		if err != nil || got != tt.h {
			t.Errorf("Read(Append(%+v)) = %+v, %v", tt.h, got, err)
		}
	}
}
