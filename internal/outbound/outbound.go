// Package outbound is the policy for the addresses the daemon connects to.
// Web maps, styles and server answers name the hosts it fetches from, so
// a hostile one could point it at the link-local network or a cloud
// metadata service (169.254.169.254 hands out instance credentials). The
// policy is checked when a connection is dialled, on the resolved address,
// so redirects and DNS names that resolve to such addresses are covered.
// Loopback stays allowed (local servers, tests, the emulator).
package outbound

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"syscall"
)

// blocked are refused unless the policy allows them.
var blocked = []struct {
	prefix netip.Prefix
	what   string
}{
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local address (cloud metadata services live here)"},
	{netip.MustParsePrefix("fe80::/10"), "IPv6 link-local address"},
	{netip.MustParsePrefix("100.100.100.200/32"), "cloud metadata address (Alibaba Cloud)"},
	{netip.MustParsePrefix("fd00:ec2::254/128"), "cloud metadata address (AWS IPv6)"},
	{netip.MustParsePrefix("168.63.129.16/32"), "cloud platform address (Azure WireServer)"},
}

// Policy decides which addresses may be dialled. The zero value refuses
// link-local and cloud metadata addresses and allows everything else.
type Policy struct {
	// AllowLinkLocal turns the check off (a device whose ArcGIS server is
	// really on a link-local address).
	AllowLinkLocal bool
	// Allow lists networks allowed although they are in the blocked set.
	Allow []netip.Prefix
}

// BlockedAddressError is returned when a connection to a refused address
// was attempted.
type BlockedAddressError struct {
	Address string // ip:port dialled
	Reason  string
}

func (e *BlockedAddressError) Error() string {
	return fmt.Sprintf("outbound connection to %s refused: %s (allow it in the outbound policy if it is intended)", e.Address, e.Reason)
}

// Check returns a *BlockedAddressError when address (ip:port or ip) may not
// be dialled.
func (p Policy) Check(address string) error {
	host := address
	if h, _, err := net.SplitHostPort(address); err == nil {
		host = h
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		// Control is called with resolved addresses; anything else is
		// not an IP and cannot be judged here.
		return nil
	}
	ip = ip.Unmap().WithZone("")
	if p.AllowLinkLocal {
		return nil
	}
	for _, a := range p.Allow {
		if a.Contains(ip) {
			return nil
		}
	}
	for _, b := range blocked {
		if b.prefix.Contains(ip) {
			return &BlockedAddressError{Address: address, Reason: b.what}
		}
	}
	return nil
}

// Control is a net.Dialer Control function enforcing the policy on the
// resolved address of every connection.
func (p Policy) Control(network, address string, _ syscall.RawConn) error {
	return p.Check(address)
}

// Dialer returns d (or a new dialer) with the policy as its Control,
// keeping a Control d already had.
func (p Policy) Dialer(d *net.Dialer) *net.Dialer {
	if d == nil {
		d = &net.Dialer{}
	}
	nd := *d
	prev := d.Control
	nd.Control = func(network, address string, c syscall.RawConn) error {
		if err := p.Check(address); err != nil {
			return err
		}
		if prev != nil {
			return prev(network, address, c)
		}
		return nil
	}
	return &nd
}

// Proxy wraps a transport's Proxy function: through a proxy the dialer
// sees only the proxy's address, so a target given as a refused IP address
// literal is refused here. (A name that the proxy resolves to such an
// address is the proxy's to refuse.)
func (p Policy) Proxy(next func(*http.Request) (*url.URL, error)) func(*http.Request) (*url.URL, error) {
	return func(req *http.Request) (*url.URL, error) {
		if err := p.Check(req.URL.Hostname()); err != nil {
			return nil, err
		}
		if next == nil {
			return nil, nil
		}
		return next(req)
	}
}
