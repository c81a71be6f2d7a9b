package httpguard

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestCheckAddr(t *testing.T) {
	const (
		pub   = iota // allowed by every policy
		priv         // allowed only with AllowPrivate and listed
		never        // refused by every policy
	)
	cases := []struct {
		addr string
		want int
		why  string // part of the refusal message
	}{
		// Public.
		{"8.8.8.8", pub, ""},
		{"1.1.1.1", pub, ""},
		{"172.32.0.1", pub, ""},
		{"100.128.0.1", pub, ""},
		{"2606:4700:4700::1111", pub, ""},
		{"::ffff:8.8.8.8", pub, ""},
		{"2002:808:808::1", pub, ""}, // 6to4 embedding public 8.8.8.8
		// Loopback and private.
		{"127.0.0.1", priv, "loopback"},
		{"127.1.2.3", priv, "loopback"},
		{"::1", priv, "loopback"},
		{"::ffff:127.0.0.1", priv, "loopback"},
		{"10.0.0.5", priv, "10.0.0.0/8"},
		{"172.16.0.1", priv, "172.16.0.0/12"},
		{"172.31.255.255", priv, "172.16.0.0/12"},
		{"192.168.1.1", priv, "192.168.0.0/16"},
		{"100.64.0.1", priv, "CGNAT"},
		{"198.18.0.1", priv, "benchmarking"},
		{"198.19.255.255", priv, "benchmarking"},
		{"fd12:3456::1", priv, "unique-local"},
		{"fc00::1", priv, "unique-local"},
		// Link-local and cloud metadata.
		{"169.254.169.254", never, "link-local"},
		{"169.254.0.1", never, "link-local"},
		{"::ffff:169.254.169.254", never, "link-local"},
		{"::ffff:a9fe:a9fe", never, "link-local"},
		{"fe80::1", never, "link-local"},
		{"febf::1", never, "link-local"},
		{"fd00:ec2::254", never, "AWS"},
		{"fd00:ec2::23", never, "AWS"},
		{"fd20:ce::254", never, "Google"},
		{"168.63.129.16", never, "Azure"},
		{"100.100.100.200", never, "Alibaba"},
		{"192.0.0.192", never, "Oracle"},
		// Unspecified, this-network, broadcast, multicast, reserved.
		{"0.0.0.0", never, "this network"},
		{"0.1.2.3", never, "this network"},
		{"::", never, "unspecified"},
		{"255.255.255.255", never, "broadcast"},
		{"240.0.0.1", never, "reserved"},
		{"224.0.0.1", never, "multicast"},
		{"239.255.255.250", never, "multicast"},
		{"ff02::1", never, "multicast"},
		{"ff05::1:3", never, "multicast"},
		// Documentation, benchmarking and protocol ranges.
		{"192.0.2.1", never, "documentation"},
		{"198.51.100.1", never, "documentation"},
		{"203.0.113.1", never, "documentation"},
		{"192.88.99.1", never, "6to4 relay"},
		{"2001:db8::1", never, "documentation"},
		{"3fff::1", never, "documentation"},
		{"2001:2::1", never, "IETF"},
		{"100::1", never, "discard"},
		{"fec0::1", never, "site-local"},
		// IPv6 forms embedding IPv4.
		{"64:ff9b::a9fe:a9fe", never, "169.254.169.254 (link-local"},
		{"64:ff9b::7f00:1", never, "127.0.0.1 (loopback"},
		{"64:ff9b::808:808", never, "NAT64"},
		{"64:ff9b:1::1", never, "NAT64"},
		{"::7f00:1", never, "IPv4-compatible"},
		{"::a9fe:a9fe", never, "IPv4-compatible"},
		{"::8.8.8.8", never, "IPv4-compatible"},
		{"::ffff:0:7f00:1", never, "IPv4-translated"},
		{"2002:7f00:1::1", never, "127.0.0.1"},
		{"2002:a9fe:a9fe::1", never, "169.254.169.254"},
		{"2002:a00:5::", never, "10.0.0.5"},
		{"2001:0:4136:e378:8000:63bf:3fff:fdd2", never, "Teredo"},
		{"2001::1", never, "Teredo"},
		// Outside global unicast.
		{"4000::1", never, "global unicast"},
		{"e000::1", never, "global unicast"},
	}
	open := &DialPolicy{}
	allowLocal := &DialPolicy{AllowPrivate: true}
	for _, c := range cases {
		a := netip.MustParseAddr(c.addr)
		listed := &DialPolicy{AllowPrivate: true, AllowedIPs: []netip.Addr{a}}
		errOpen, errAllow, errListed := open.CheckAddr(a), allowLocal.CheckAddr(a), listed.CheckAddr(a)
		var wantOpen, wantListed bool // whether each is allowed
		switch c.want {
		case pub:
			wantOpen, wantListed = true, true
		case priv:
			wantListed = true
		}
		if (errOpen == nil) != wantOpen {
			t.Errorf("%s: DialPolicy{} CheckAddr = %v, want allowed=%v", c.addr, errOpen, wantOpen)
		}
		if (errAllow == nil) != wantOpen {
			t.Errorf("%s: AllowPrivate with no AllowedIPs: CheckAddr = %v, want allowed=%v", c.addr, errAllow, wantOpen)
		}
		if (errListed == nil) != wantListed {
			t.Errorf("%s: AllowPrivate listing it: CheckAddr = %v, want allowed=%v", c.addr, errListed, wantListed)
		}
		if c.why != "" {
			var e *Error
			if !errors.As(errOpen, &e) || !strings.Contains(e.Msg, c.why) {
				t.Errorf("%s: error %v does not mention %q", c.addr, errOpen, c.why)
			}
		}
	}
}

func TestCheckAddrAllowedIPs(t *testing.T) {
	p := &DialPolicy{AllowPrivate: true, AllowedIPs: []netip.Addr{
		netip.MustParseAddr("10.0.0.5"),
		netip.MustParseAddr("::ffff:127.0.0.1"), // mapped forms compare unmapped
		netip.MustParseAddr("fd12::1"),
	}}
	for _, s := range []string{"10.0.0.5", "::ffff:10.0.0.5", "127.0.0.1", "fd12::1"} {
		if err := p.CheckAddr(netip.MustParseAddr(s)); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
	for _, s := range []string{"10.0.0.6", "127.0.0.2", "::1", "169.254.169.254", "fe80::1%eth0", "fd12::1%eth0"} {
		if err := p.CheckAddr(netip.MustParseAddr(s)); err == nil {
			t.Errorf("%s allowed", s)
		}
	}
	if err := p.CheckAddr(netip.Addr{}); err == nil {
		t.Error("invalid address allowed")
	}
}

// Go's parsers do not accept the legacy IPv4 spellings (decimal, hex, octal,
// short forms). So such a host is never an IP literal to Go: it would go to
// the resolver, whose answer is what Control checks; and Control itself
// refuses anything that isn't a canonical address.
func TestLegacyIPv4Spellings(t *testing.T) {
	p := &DialPolicy{}
	for _, s := range []string{"2130706433", "0x7f000001", "0177.0.0.1", "0x7f.0.0.1", "127.1", "017700000001", "127.0.0.01"} {
		if _, err := netip.ParseAddr(s); err == nil {
			t.Errorf("netip.ParseAddr(%q) succeeded", s)
		}
		if ip := net.ParseIP(s); ip != nil {
			t.Errorf("net.ParseIP(%q) = %v", s, ip)
		}
		if err := p.Control("tcp4", net.JoinHostPort(s, "80"), nil); err == nil {
			t.Errorf("Control(%q) allowed", s)
		}
	}
}

func TestControl(t *testing.T) {
	p := &DialPolicy{AllowPrivate: true, AllowedIPs: []netip.Addr{netip.MustParseAddr("127.0.0.1")}}
	cases := []struct {
		network, address string
		ok               bool
	}{
		{"tcp4", "127.0.0.1:80", true},
		{"tcp", "8.8.8.8:443", true},
		{"tcp6", "[2606:4700:4700::1111]:443", true},
		{"tcp4", "127.0.0.2:80", false},
		{"tcp6", "[::1]:80", false},
		{"tcp6", "[::ffff:169.254.169.254]:80", false},
		{"tcp6", "[fe80::1%eth0]:80", false},
		{"tcp4", "0.0.0.0:80", false},
		{"tcp6", "[::]:80", false},
		{"udp4", "8.8.8.8:53", false},
		{"unix", "/var/run/docker.sock", false},
		{"tcp4", "localhost:80", false},
		{"tcp4", "127.0.0.1", false},
	}
	for _, c := range cases {
		if err := p.Control(c.network, c.address, nil); (err == nil) != c.ok {
			t.Errorf("Control(%s, %s) = %v, want ok=%v", c.network, c.address, err, c.ok)
		}
	}
	p.AllowedPorts = []uint16{8443}
	if err := p.Control("tcp4", "127.0.0.1:8443", nil); err != nil {
		t.Errorf("allowed port refused: %v", err)
	}
	for _, a := range []string{"127.0.0.1:22", "8.8.8.8:443"} {
		if err := p.Control("tcp4", a, nil); err == nil || !strings.Contains(err.Error(), "port") {
			t.Errorf("Control(%s) with AllowedPorts [8443] = %v", a, err)
		}
	}
}

// honeypot is a loopback listener that records every connection it accepts.
type honeypot struct {
	ln    net.Listener
	conns chan net.Conn
}

func newHoneypot(t *testing.T) *honeypot {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &honeypot{ln: ln, conns: make(chan net.Conn, 64)}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(h.conns)
				return
			}
			h.conns <- c
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		for c := range h.conns {
			c.Close()
		}
	})
	return h
}

func (h *honeypot) port() string {
	return strconv.Itoa(h.ln.Addr().(*net.TCPAddr).Port)
}

// assertNoHits proves that nothing reached the honeypot: it connects a
// sentinel and checks that the first connection accepted is the sentinel.
// Accepts are in arrival order, so any earlier connection would come first.
func (h *honeypot) assertNoHits(t *testing.T) {
	t.Helper()
	s, err := net.Dial("tcp4", h.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := <-h.conns
	defer c.Close()
	if c.RemoteAddr().String() != s.LocalAddr().String() {
		t.Fatalf("honeypot was hit by %s before the sentinel %s", c.RemoteAddr(), s.LocalAddr())
	}
}

func TestHoneypotNeverDialled(t *testing.T) {
	hp := newHoneypot(t)
	policies := map[string]*DialPolicy{
		"public only":           {},
		"private, other IPs":    {AllowPrivate: true, AllowedIPs: []netip.Addr{netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("10.0.0.5")}},
		"private, no IPs":       {AllowPrivate: true},
		"nil policy (defaults)": nil,
	}
	targets := []string{
		"http://127.0.0.1:" + hp.port() + "/",
		"http://0.0.0.0:" + hp.port() + "/",            // Linux connects 0.0.0.0 to the local host
		"http://[::ffff:127.0.0.1]:" + hp.port() + "/", // IPv4-mapped loopback
		"http://[::]:" + hp.port() + "/",
		"http://[::1]:" + hp.port() + "/",
	}
	for name, p := range policies {
		client := &http.Client{Transport: NewTransport(p, nil, Timeouts{Dial: 5 * time.Second})}
		for _, target := range targets {
			req, _ := http.NewRequestWithContext(context.Background(), "GET", target, nil)
			resp, err := client.Do(req)
			if err == nil {
				resp.Body.Close()
				t.Errorf("%s: GET %s succeeded", name, target)
				continue
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Errorf("%s: GET %s: error %v is not a policy refusal", name, target, err)
			}
		}
		client.CloseIdleConnections()
	}
	hp.assertNoHits(t)
}

func TestNewTransport(t *testing.T) {
	tr := NewTransport(nil, nil, Timeouts{})
	if tr.Proxy != nil {
		t.Error("transport uses a proxy")
	}
	if tr.MaxResponseHeaderBytes != MaxResponseHeaderBytes || tr.ResponseHeaderTimeout != 30*time.Second ||
		tr.TLSHandshakeTimeout != 10*time.Second || tr.IdleConnTimeout != 90*time.Second {
		t.Errorf("defaults not applied: %+v", tr)
	}
	if tr.TLSClientConfig == nil || tr.TLSClientConfig.MinVersion == 0 {
		t.Error("no TLS minimum version")
	}
	if tr.DisableCompression {
		t.Error("compression disabled: the agent could not be kept from negotiating it")
	}
	if tr.Protocols == nil || tr.Protocols.HTTP2() || !tr.Protocols.HTTP1() {
		t.Errorf("protocols = %v, want HTTP/1.1 only", tr.Protocols)
	}
	tr = NewTransport(nil, nil, Timeouts{ResponseHeader: time.Second})
	if tr.ResponseHeaderTimeout != time.Second {
		t.Error("timeout not applied")
	}
}
