// Package source names where a connection comes from, for the limits and the login throttle that
// count per source: an IPv4 address, or for IPv6 the prefix that one host or one site usually
// holds (a /64 by default), since whoever has one IPv6 address can use any of its /64.
package source

import "net/netip"

// DefaultIPv6Prefix is the length of the IPv6 prefix that counts as one source, as for OpenSSH's
// PerSourceNetBlockSize.
const DefaultIPv6Prefix = 64

// Of returns the source of addr: the address itself for IPv4 (an IPv4-mapped IPv6 address counts
// as IPv4), its first ipv6Prefix bits for IPv6 (128, or a length outside 1 to 128: the address
// alone). The zone is dropped. The zero Addr gives the zero Prefix.
func Of(addr netip.Addr, ipv6Prefix int) netip.Prefix {
	if !addr.IsValid() {
		return netip.Prefix{}
	}
	addr = addr.Unmap().WithZone("")
	bits := addr.BitLen()
	if addr.Is6() && ipv6Prefix >= 1 && ipv6Prefix < 128 {
		bits = ipv6Prefix
	}
	p, err := addr.Prefix(bits)
	if err != nil {
		return netip.PrefixFrom(addr, addr.BitLen())
	}
	return p
}

// Name renders a source for people: an address alone ("192.0.2.7", "2001:db8::1"), or a prefix
// ("2001:db8::/64").
func Name(p netip.Prefix) string {
	if !p.IsValid() {
		return "unknown address"
	}
	if p.IsSingleIP() {
		return p.Addr().String()
	}
	return p.String()
}

// Parse returns the source of a host string (an IP address, as net.SplitHostPort gives it), or
// false if it is not one.
func Parse(host string, ipv6Prefix int) (netip.Prefix, bool) {
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Prefix{}, false
	}
	return Of(addr, ipv6Prefix), true
}
