package httpguard

import (
	"crypto/tls"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"syscall"
	"time"
)

// DialPolicy decides which peer addresses an HTTP connection may open sockets
// to. It is checked in net.Dialer.Control, that is after name resolution, for
// the exact address being connected to, once per attempt (every address of a
// multi-address host, every redirect hop, every new pooled connection). That
// is what defeats DNS rebinding, hosts that resolve to internal addresses, and
// redirects or IP-literal spellings aimed at them: whatever the URL said, the
// socket's destination is what gets checked.
//
// Always refused, whatever the policy says:
//
//   - unspecified addresses and 0.0.0.0/8 (Linux connects 0.0.0.0 and :: to
//     the local host);
//   - link-local 169.254.0.0/16 and fe80::/10, which hold cloud metadata
//     (169.254.169.254) — and the other metadata and host-service addresses:
//     fd00:ec2::/32 (AWS IMDS fd00:ec2::254, DNS, time), fd20:ce::254 (Google),
//     168.63.129.16 (Azure WireServer), 100.100.100.200 (Alibaba),
//     192.0.0.192 (Oracle, inside 192.0.0.0/24);
//   - multicast, 240.0.0.0/4 including broadcast 255.255.255.255, and other
//     IANA special-purpose blocks (192.0.0.0/24, 192.88.99.0/24 6to4 relay,
//     the documentation ranges 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24,
//     2001:db8::/32 and 3fff::/20, discard-only 100::/64, IPv4-translated
//     ::ffff:0:0:0/96, site-local fec0::/10);
//   - IPv6 forms that embed or tunnel to IPv4: IPv4-compatible ::a.b.c.d,
//     NAT64 64:ff9b::/96 and 64:ff9b:1::/48 (the error names the embedded
//     address), Teredo 2001::/32 and the rest of 2001::/23, and 6to4 2002::/16
//     when the embedded IPv4 address is not public;
//   - any other IPv6 address outside global unicast 2000::/3 (apart from
//     loopback and unique-local, below).
//
// IPv4-mapped addresses (::ffff:a.b.c.d) are unmapped and judged as IPv4.
//
// Loopback (127.0.0.0/8, ::1) and private ranges (10.0.0.0/8, 172.16.0.0/12,
// 192.168.0.0/16, 100.64.0.0/10 CGNAT, 198.18.0.0/15, fc00::/7) are refused
// unless AllowPrivate is set, and even then only the addresses listed in
// AllowedIPs. Public addresses are allowed. Addresses with a zone are refused.
//
// The zero DialPolicy allows public addresses only, on any port. Set
// AllowedPorts to the base URL's port so that the dial check also pins the
// port: otherwise only the same-origin redirect rule keeps requests on it, and
// a connection allowed its own loopback address could reach every other
// service on that host.
type DialPolicy struct {
	// AllowPrivate is the connection's allow_private_network.
	AllowPrivate bool
	// AllowedIPs are, when AllowPrivate is set, the addresses the configured
	// host resolved to at startup; only these loopback or private addresses
	// may be dialled. Empty allows none.
	AllowedIPs []netip.Addr
	// AllowedPorts, when not empty, are the only destination ports Control
	// allows, for every address.
	AllowedPorts []uint16
}

type addrClass int

const (
	classPublic addrClass = iota
	classPrivate
	classForbidden
)

type labelled struct {
	prefix netip.Prefix
	why    string
}

func mustPrefixes(l []struct{ p, why string }) []labelled {
	out := make([]labelled, len(l))
	for i, e := range l {
		out[i] = labelled{netip.MustParsePrefix(e.p), e.why}
	}
	return out
}

// Order matters: more specific entries come first so messages are precise.
var forbidden4 = mustPrefixes([]struct{ p, why string }{
	{"255.255.255.255/32", "the broadcast address"},
	{"0.0.0.0/8", `"this network" (0.0.0.0/8), which reaches the local host`},
	{"169.254.0.0/16", "link-local (169.254.0.0/16), which holds cloud metadata services"},
	{"168.63.129.16/32", "the Azure host services address (WireServer)"},
	{"100.100.100.200/32", "the Alibaba Cloud metadata address"},
	{"192.0.0.0/24", "IETF protocol assignments (192.0.0.0/24, including Oracle Cloud metadata)"},
	{"192.0.2.0/24", "documentation (192.0.2.0/24)"},
	{"192.88.99.0/24", "the 6to4 relay anycast range"},
	{"198.51.100.0/24", "documentation (198.51.100.0/24)"},
	{"203.0.113.0/24", "documentation (203.0.113.0/24)"},
	{"224.0.0.0/4", "multicast"},
	{"240.0.0.0/4", "reserved (240.0.0.0/4)"},
})

var private4 = mustPrefixes([]struct{ p, why string }{
	{"127.0.0.0/8", "loopback"},
	{"10.0.0.0/8", "private (10.0.0.0/8)"},
	{"172.16.0.0/12", "private (172.16.0.0/12)"},
	{"192.168.0.0/16", "private (192.168.0.0/16)"},
	{"100.64.0.0/10", "shared address space (100.64.0.0/10, CGNAT)"},
	{"198.18.0.0/15", "benchmarking (198.18.0.0/15)"},
})

var forbidden6 = mustPrefixes([]struct{ p, why string }{
	{"::/128", "the unspecified address, which reaches the local host"},
	{"fd00:ec2::/32", "AWS instance services (IMDS fd00:ec2::254, DNS, time)"},
	{"fd20:ce::254/128", "the Google Cloud metadata address"},
	{"::ffff:0:0:0/96", "IPv4-translated (::ffff:0:0:0/96)"},
	{"64:ff9b:1::/48", "local-use NAT64 (64:ff9b:1::/48)"},
	{"100::/64", "discard-only (100::/64)"},
	{"2001::/32", "Teredo (2001::/32), which tunnels to IPv4"},
	{"2001:db8::/32", "documentation (2001:db8::/32)"},
	{"2001::/23", "IETF protocol assignments (2001::/23)"},
	{"3fff::/20", "documentation (3fff::/20)"},
	{"fe80::/10", "link-local (fe80::/10)"},
	{"fec0::/10", "site-local (fec0::/10, deprecated)"},
	{"ff00::/8", "multicast"},
})

var (
	loopback6    = netip.MustParseAddr("::1")
	compat6      = netip.MustParsePrefix("::/96")
	nat64        = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour    = netip.MustParsePrefix("2002::/16")
	uniqueLocal  = netip.MustParsePrefix("fc00::/7")
	globalUnicst = netip.MustParsePrefix("2000::/3")
)

// classify sorts an unzoned address into public, private or forbidden, with a
// description for refusals.
func classify(a netip.Addr) (addrClass, string) {
	a = a.Unmap()
	if a.Is4() {
		for i := range forbidden4 {
			if l := &forbidden4[i]; l.prefix.Contains(a) {
				return classForbidden, l.why
			}
		}
		for i := range private4 {
			if l := &private4[i]; l.prefix.Contains(a) {
				return classPrivate, l.why
			}
		}
		return classPublic, ""
	}
	if a == loopback6 {
		return classPrivate, "loopback"
	}
	for i := range forbidden6 {
		if l := &forbidden6[i]; l.prefix.Contains(a) {
			return classForbidden, l.why
		}
	}
	b := a.As16()
	switch {
	case compat6.Contains(a):
		return classForbidden, "IPv4-compatible (deprecated), embedding " + embedded4(b[12:16]).String()
	case nat64.Contains(a):
		v4 := embedded4(b[12:16])
		return classForbidden, "NAT64 (64:ff9b::/96), embedding " + v4.String() + describe4(v4)
	case sixToFour.Contains(a):
		v4 := embedded4(b[2:6])
		if c, why := classify(v4); c != classPublic {
			return classForbidden, "6to4 (2002::/16), embedding " + v4.String() + ", " + why
		}
		return classPublic, ""
	case uniqueLocal.Contains(a):
		return classPrivate, "unique-local (fc00::/7)"
	case globalUnicst.Contains(a):
		return classPublic, ""
	}
	return classForbidden, "not a global unicast IPv6 address"
}

func embedded4(b []byte) netip.Addr { return netip.AddrFrom4([4]byte(b)) }

func describe4(v4 netip.Addr) string {
	if c, why := classify(v4); c != classPublic {
		return " (" + why + ")"
	}
	return ""
}

// CheckAddr reports whether the policy allows connecting to a, with a *Error
// naming the address and the reason when it does not.
func (p *DialPolicy) CheckAddr(a netip.Addr) error {
	if !a.IsValid() {
		return refusef("destination address is not a valid IP address")
	}
	if a.Zone() != "" {
		return refusef("destination address %s has a zone; zoned (link-scoped) addresses are refused", a)
	}
	class, why := classify(a)
	switch class {
	case classPublic:
		return nil
	case classForbidden:
		return refusef("destination address %s is refused: %s", a, why)
	}
	if !p.AllowPrivate {
		return refusef("destination address %s is refused: %s, and this connection does not allow private networks", a, why)
	}
	u := a.Unmap()
	for _, ok := range p.AllowedIPs {
		if ok.Unmap().WithZone("") == u {
			return nil
		}
	}
	return refusef("destination address %s is refused: %s, and not one of the addresses the connection's host resolved to at startup", a, why)
}

// Control is a net.Dialer Control hook. It parses the address being dialled
// and refuses it by policy (CheckAddr, then AllowedPorts); only TCP is
// allowed.
func (p *DialPolicy) Control(network, address string, _ syscall.RawConn) error {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return refusef("network %q is refused; only TCP is dialled", network)
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return refusef("dial address %q is not an IP address and port", address)
	}
	if err := p.CheckAddr(ap.Addr()); err != nil {
		return err
	}
	if len(p.AllowedPorts) > 0 && !slices.Contains(p.AllowedPorts, ap.Port()) {
		return refusef("destination port %d is refused: not the connection's port", ap.Port())
	}
	return nil
}

// Timeouts bound the phases of a guarded request; zero fields take defaults.
type Timeouts struct {
	Dial           time.Duration // TCP connect; default 10s
	TLSHandshake   time.Duration // default 10s
	ResponseHeader time.Duration // from request written to response headers; default 30s
	IdleConn       time.Duration // idle pooled connections are closed after; default 90s
}

// MaxResponseHeaderBytes bounds the response headers a guarded transport reads.
const MaxResponseHeaderBytes = 64 << 10

// NewTransport returns an HTTP/1.1 transport whose every connection is vetted
// by p (a nil p means the zero policy: public addresses only). It never uses
// a proxy: with one, the dial check would see the proxy's address, not the
// destination's. Compression stays on so the transport, not the agent,
// negotiates gzip and hands back plain bodies that masking can read.
// tlsConfig is cloned; nil means the defaults with TLS 1.2 at least.
// The overall request deadline is the caller's context.
func NewTransport(p *DialPolicy, tlsConfig *tls.Config, t Timeouts) *http.Transport {
	if p == nil {
		p = &DialPolicy{}
	}
	d := func(v, def time.Duration) time.Duration {
		if v > 0 {
			return v
		}
		return def
	}
	if tlsConfig == nil {
		tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	} else {
		tlsConfig = tlsConfig.Clone()
	}
	dialer := &net.Dialer{
		Timeout:   d(t.Dial, 10*time.Second),
		KeepAlive: 30 * time.Second,
		Control:   p.Control,
	}
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	return &http.Transport{
		Proxy:                  nil,
		DialContext:            dialer.DialContext,
		TLSClientConfig:        tlsConfig,
		TLSHandshakeTimeout:    d(t.TLSHandshake, 10*time.Second),
		ResponseHeaderTimeout:  d(t.ResponseHeader, 30*time.Second),
		IdleConnTimeout:        d(t.IdleConn, 90*time.Second),
		ExpectContinueTimeout:  time.Second,
		MaxIdleConns:           64,
		MaxIdleConnsPerHost:    8,
		MaxResponseHeaderBytes: MaxResponseHeaderBytes,
		Protocols:              &protocols,
	}
}
