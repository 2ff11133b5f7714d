package proxyproto

import (
	"bufio"
	"bytes"
	"testing"
)

// seedHeaders are real writer output, one of each kind, followed by a client's first bytes.
func seedHeaders() [][]byte {
	var seeds [][]byte
	for _, h := range []Header{
		{Version: 1, Command: Proxy, Source: ap("192.0.2.7:51234"), Dest: ap("198.51.100.1:2121")},
		{Version: 1, Command: Proxy, Source: ap("[2001:db8::7]:51234"), Dest: ap("[2001:db8::1]:2121")},
		{Version: 1, Command: Proxy},
		{Version: 2, Command: Proxy, Source: ap("192.0.2.7:51234"), Dest: ap("198.51.100.1:2121")},
		{Version: 2, Command: Proxy, Source: ap("[2001:db8::7]:51234"), Dest: ap("[2001:db8::1]:2121")},
		{Version: 2, Command: Local},
	} {
		seeds = append(seeds, append(h.Append(nil), "SSH-2.0-client\r\n"...))
	}
	return seeds
}

// FuzzReadHeader feeds arbitrary bytes to Read: it must never panic nor read past its limits, and
// every header it accepts must be consistent and read back equal once written again.
func FuzzReadHeader(f *testing.F) {
	for _, s := range seedHeaders() {
		f.Add(s)
	}
	f.Add([]byte(v2(0x21, 0x11, append(append([]byte{}, ipv4Block...), 0x04, 0, 3, 'a', 'b', 'c')...)))
	f.Add([]byte("PROXY UNKNOWN " + maxV6 + " " + maxV6 + " 65535 65535\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		src := bytes.NewReader(in)
		r := bufio.NewReader(src)
		h, err := Read(r)
		if err != nil {
			return
		}
		used := len(in) - r.Buffered() - src.Len()
		switch {
		case h.Version == 1 && used > MaxV1Size, h.Version == 2 && used > v2FixedSize+MaxV2Length:
			t.Fatalf("a version %d header of %d bytes", h.Version, used)
		case h.Version != 1 && h.Version != 2:
			t.Fatalf("version %d", h.Version)
		case h.HasAddrs() && (!h.Dest.IsValid() || h.Source.Addr().Is4() != h.Dest.Addr().Is4()):
			t.Fatalf("addresses of two families: %+v", h)
		}
		again, err := Read(bufio.NewReader(bytes.NewReader(h.Append(nil))))
		if err != nil || again != h {
			t.Fatalf("%+v written as %q reads back as %+v, %v", h, h.Append(nil), again, err)
		}
	})
}
