package source

import (
	"net/netip"
	"testing"
)

func TestOf(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		addr   string
		prefix int
		want   string
	}{
		{"192.0.2.7", 64, "192.0.2.7"},
		{"::ffff:192.0.2.7", 64, "192.0.2.7"}, // IPv4-mapped: IPv4
		{"2001:db8:1:2:3:4:5:6", 64, "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff::1", 64, "2001:db8:1:2::/64"}, // same /64
		{"2001:db8:1:3::1", 64, "2001:db8:1:3::/64"},      // the next /64
		{"2001:db8:1:2:3:4:5:6", 48, "2001:db8:1::/48"},
		{"2001:db8:1:2:3:4:5:6", 128, "2001:db8:1:2:3:4:5:6"},
		{"2001:db8:1:2:3:4:5:6", 0, "2001:db8:1:2:3:4:5:6"},
		{"fe80::1%eth0", 64, "fe80::/64"}, // the zone is dropped
		{"::1", 64, "::/64"},
	} {
		got := Name(Of(netip.MustParseAddr(tc.addr), tc.prefix))
		if got != tc.want {
			t.Errorf("Of(%s, %d) = %s, want %s", tc.addr, tc.prefix, got, tc.want)
		}
	}
	if Of(netip.MustParseAddr("2001:db8::1"), 64) != Of(netip.MustParseAddr("2001:db8::2"), 64) {
		t.Error("two addresses of one /64 are two sources")
	}
	if p := Of(netip.Addr{}, 64); p.IsValid() || Name(p) != "unknown address" {
		t.Errorf("the zero address: %v %q", p, Name(p))
	}
	if _, ok := Parse("not an address", 64); ok {
		t.Error("Parse accepted a name")
	}
}
