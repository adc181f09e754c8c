package imports

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/cleanroom-oss/cleanroom"
)

// The server connects to an address its tenants choose, so an endpoint is checked twice: its URL
// when it is saved (scheme, form, a literal address), and every address the server actually dials,
// after name resolution (so a name that resolves, or later re-resolves, to an internal address is
// refused too). What is refused:
//
//   - always: link-local addresses (169.254.0.0/16, where clouds serve instance metadata and
//     credentials, and fe80::/10), the other well-known metadata addresses (fd00:ec2::254,
//     100.100.100.200, 192.0.0.0/24), unspecified, multicast, reserved (240/4) and broadcast
//     addresses, and Teredo (2001::/32);
//   - unless the operator allows private endpoints (--import-allow-private): loopback, private
//     (10/8, 172.16/12, 192.168/16, fc00::/7, fec0::/10), shared (100.64/10) and benchmarking
//     (198.18/15) ranges: the deployment's own network.
//
// An IPv6 address that carries an IPv4 address (IPv4-mapped and -compatible, NAT64, 6to4) is
// judged by that IPv4 address.
//
// Plain http is accepted for a loopback endpoint (when private ones are allowed) or when the
// operator allows it (--import-allow-http); otherwise endpoints speak https.

// Policy is what the operator allows of import endpoints.
type Policy struct {
	// AllowPrivate admits loopback and private addresses.
	AllowPrivate bool
	// AllowHTTP admits plain http endpoints beyond loopback.
	AllowHTTP bool
}

var (
	alwaysRefused = []netip.Prefix{
		netip.MustParsePrefix("169.254.0.0/16"),
		netip.MustParsePrefix("fe80::/10"),
		netip.MustParsePrefix("fd00:ec2::254/128"),
		netip.MustParsePrefix("100.100.100.200/32"),
		netip.MustParsePrefix("0.0.0.0/8"),
		netip.MustParsePrefix("192.0.0.0/24"), // IETF protocol assignments (192.0.0.192: a cloud's metadata)
		netip.MustParsePrefix("240.0.0.0/4"),  // reserved, and broadcast
		netip.MustParsePrefix("2001::/32"),    // Teredo: tunnels to an address the server cannot judge
	}
	privateRanges = []netip.Prefix{
		netip.MustParsePrefix("100.64.0.0/10"),
		netip.MustParsePrefix("198.18.0.0/15"),
		netip.MustParsePrefix("fec0::/10"), // site-local (deprecated, still routed in some networks)
	}
	// embedded4 are IPv6 ranges whose addresses carry an IPv4 address, which is judged instead:
	// NAT64 (well-known and local-use prefixes) and IPv4-compatible addresses in the last 32 bits,
	// 6to4 in bits 16 to 47.
	embedded4 = []netip.Prefix{
		netip.MustParsePrefix("64:ff9b::/96"),
		netip.MustParsePrefix("64:ff9b:1::/48"),
		netip.MustParsePrefix("::/96"),
	}
	sixToFour = netip.MustParsePrefix("2002::/16")
)

// ipv4Of returns the IPv4 address a carries (a itself when it carries none).
func ipv4Of(a netip.Addr) netip.Addr {
	a = a.Unmap()
	if !a.Is6() {
		return a
	}
	b := a.As16()
	if sixToFour.Contains(a) {
		return netip.AddrFrom4([4]byte(b[2:6]))
	}
	for _, p := range embedded4 {
		// ::/96 holds :: and ::1 too, which are judged as IPv6.
		if p.Contains(a) && !(p.Bits() == 96 && p.Addr().IsUnspecified() && (a.IsUnspecified() || a.IsLoopback())) {
			return netip.AddrFrom4([4]byte(b[12:]))
		}
	}
	return a
}

// refusedAddress is the error of an endpoint address the policy refuses.
type refusedAddress struct {
	addr    netip.Addr
	private bool // refused only because private addresses are not allowed
}

func (r *refusedAddress) Error() string { return "refused address " + r.addr.String() }

// userError is what users read of a refused address.
func (r *refusedAddress) userError(endpoint string) *cleanroom.Error {
	if r.private {
		return cleanroom.Errorf(cleanroom.EINVALID, "The endpoint %s is at %s, a private or loopback address, and this server does not connect to private addresses.", endpoint, r.addr).
			With("field", "endpoint").
			Hint("Use the bucket's public endpoint, or ask the operator to allow endpoints in the deployment's own network (--import-allow-private).")
	}
	return cleanroom.Errorf(cleanroom.EINVALID, "The endpoint %s is at %s, a link-local, metadata or otherwise reserved address, which this server never connects to.", endpoint, r.addr).
		With("field", "endpoint").Hint("Use the bucket's S3 endpoint URL.")
}

// check returns a *refusedAddress error unless the policy allows connecting to a.
func (p Policy) check(a netip.Addr) error {
	a = ipv4Of(a) // an IPv4 address reached through NAT64, 6to4 or the like: judge the IPv4 address
	if a.IsUnspecified() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() || a.IsInterfaceLocalMulticast() || a.IsMulticast() {
		return &refusedAddress{addr: a}
	}
	for _, r := range alwaysRefused {
		if r.Contains(a) {
			return &refusedAddress{addr: a}
		}
	}
	private := a.IsLoopback() || a.IsPrivate()
	for _, r := range privateRanges {
		private = private || r.Contains(a)
	}
	if private && !p.AllowPrivate {
		return &refusedAddress{addr: a, private: true}
	}
	return nil
}

// isLoopbackName reports whether host names this machine.
func isLoopbackName(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	return host == "localhost" || strings.HasSuffix(host, ".localhost")
}

// Endpoint checks an endpoint URL as it is saved and returns its normalised form
// (scheme://host[:port]). A host name is resolved only when the server connects (see dial).
func (p Policy) Endpoint(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	bad := func(format string, args ...any) error {
		return cleanroom.Errorf(cleanroom.EINVALID, format, args...).With("field", "endpoint").
			Hint("Give the S3 endpoint's base URL, such as https://s3.eu-west-1.amazonaws.com or https://storage.example.com:9000, without the bucket or a path.")
	}
	if raw == "" {
		return "", bad("The endpoint is empty.")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return "", bad("The endpoint %q is not a URL.", raw)
	}
	if u.User != nil {
		return "", bad("The endpoint must not carry a user name or password; give the access key and secret in their own fields.")
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", bad("The endpoint %q has a path or query; give the base URL only.", raw)
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "https" && scheme != "http" {
		return "", bad("The endpoint's scheme is %q; it must be https.", u.Scheme)
	}
	host := u.Hostname()
	if host == "" {
		return "", bad("The endpoint %q has no host.", raw)
	}
	if port := u.Port(); port != "" {
		var n int
		if _, err := fmt.Sscanf(port, "%d", &n); err != nil || n < 1 || n > 65535 {
			return "", bad("The endpoint's port %q is not a port number.", port)
		}
	}
	loopback := isLoopbackName(host)
	if a, err := netip.ParseAddr(host); err == nil {
		if err := p.check(a); err != nil {
			var r *refusedAddress
			errors.As(err, &r)
			return "", r.userError(raw)
		}
		loopback = a.Unmap().IsLoopback()
	} else if loopback && !p.AllowPrivate {
		return "", (&refusedAddress{addr: netip.MustParseAddr("127.0.0.1"), private: true}).userError(raw)
	}
	if scheme == "http" && !p.AllowHTTP && !(loopback && p.AllowPrivate) {
		return "", cleanroom.Errorf(cleanroom.EINVALID, "The endpoint must use https: the credentials' signatures and your files would cross the network in the clear.").
			With("field", "endpoint").Hint("Use the https:// URL of the endpoint, or ask the operator to allow plain http (--import-allow-http).")
	}
	return scheme + "://" + strings.ToLower(u.Host), nil
}

// transport returns the HTTP transport of the S3 client: every connection it opens is checked
// against the policy after name resolution, no proxy from the environment is used (the check
// would judge the proxy), and bodies are never decompressed on the way (sizes stay the objects').
func (p Policy) transport() *http.Transport {
	d := &net.Dialer{
		Timeout:   10 * time.Second,
		KeepAlive: 30 * time.Second,
		Control: func(network, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("imports: dial %s: %w", address, err)
			}
			return p.check(ap.Addr())
		},
	}
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          16,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: time.Minute,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
	}
}

// dialContext is the transport's dialer, for tests.
func (p Policy) dialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return p.transport().DialContext(ctx, network, addr)
}
