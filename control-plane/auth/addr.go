package auth

import "net/netip"

// ipv6PrefixBits is the IPv6 prefix the per-address limits key on: /64 is
// the smallest block a network hands one subscriber (RFC 6177, SLAAC), so
// one attacker, or one person's rotating privacy addresses, hold a whole
// /64 at least.
const ipv6PrefixBits = 64

// addressKey is what the per-address login limits and the known-address
// set key on, for ip as callers pass it to Login (an address without a
// port): an IPv4 address, or an IPv4-mapped IPv6 one, is its own key
// ("192.0.2.7", a /32); any other IPv6 address is keyed by its /64 prefix
// ("2001:db8:1:2::/64"), zone dropped. A string that is not an address is
// its own key (it cannot stand for more than one client).
func addressKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap()
	if a.Is4() {
		return a.String()
	}
	p, err := a.WithZone("").Prefix(ipv6PrefixBits)
	if err != nil {
		return ip // unreachable: a zoneless IPv6 address always has a /64
	}
	return p.String()
}
