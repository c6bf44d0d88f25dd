// Package netguard keeps the requests the server makes on its users'
// behalf (binary downloads, webhook deliveries) off non-public networks:
// the check runs on the address actually dialled, after DNS and on every
// redirect, so a public name resolving to a private address is refused too.
package netguard

import (
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"
)

// carrierNAT is the shared address space of RFC 6598, not routed publicly.
var carrierNAT = netip.MustParsePrefix("100.64.0.0/10")

// Public reports whether ip is routed publicly: not loopback, private,
// link-local, CGNAT, multicast or unspecified.
func Public(ip netip.Addr) bool {
	ip = ip.Unmap()
	return !(ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() || carrierNAT.Contains(ip))
}

// Dialer returns a dialer with timeout that, unless allowPrivate, refuses
// non-public addresses; the error adds rule, the policy in words, and
// setting, the variable that allows them.
func Dialer(timeout time.Duration, allowPrivate bool, rule, setting string) *net.Dialer {
	d := &net.Dialer{Timeout: timeout}
	if !allowPrivate {
		d.Control = func(_, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return fmt.Errorf("address %s: %w", address, err)
			}
			ip, err := netip.ParseAddr(host)
			if err != nil {
				return fmt.Errorf("address %s: %w", address, err)
			}
			if !Public(ip) {
				return fmt.Errorf("address %s is not public; %s (%s=true for local use)", ip.Unmap(), rule, setting)
			}
			return nil
		}
	}
	return d
}
