package httprequest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/airlockhq/airlock/config"
	"github.com/airlockhq/airlock/policy"
	"github.com/airlockhq/airlock/policy/httpguard"
)

// resolver looks up the addresses of a host name. It is a field, not a
// global, so tests can make a name resolve anywhere without /etc/hosts.
type resolver func(ctx context.Context, host string) ([]netip.Addr, error)

func systemResolver(ctx context.Context, host string) ([]netip.Addr, error) {
	return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
}

// serverResolver resolves through the DNS server at addr (IP:port) only,
// for connections that name their own resolver.
func serverResolver(addr string) resolver {
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}
	return func(ctx context.Context, host string) ([]netip.Addr, error) {
		return r.LookupNetIP(ctx, "ip", host)
	}
}

// lookupFor is the resolver a connection uses: its own DNS server when it
// names one, else lookup.
func lookupFor(h *config.HTTPSettings, lookup resolver) resolver {
	if h.Resolver != "" {
		return serverResolver(h.Resolver)
	}
	return lookup
}

// startupLookupTimeout bounds resolving a base URL's host at start-up.
const startupLookupTimeout = 10 * time.Second

// defaultRoutes apply when a connection lists none: everything under the
// base URL, GET and HEAD as reads and every other method as a write.
var defaultRoutes = []httpguard.Route{{Methods: []string{"*"}, Path: "/**"}}

// conn is one http connection, ready to send guarded requests.
type conn struct {
	name        string
	base        *url.URL
	basePath    string // escaped, without a trailing slash
	routes      []httpguard.Route
	headers     http.Header // operator headers, canonical names
	allow       *httpguard.HeaderPolicy
	scrub       *scrubber
	client      *http.Client
	dial        func(ctx context.Context, network, addr string) (net.Conn, error)
	timeout     time.Duration
	maxRequest  int
	maxResponse int
}

// newConn builds the connection: it resolves the base URL's host (refusing
// one that resolves to an address no policy allows, such as cloud metadata),
// pins the dial policy to that host's addresses and port when private
// networks are allowed, and loads the TLS material.
func newConn(name string, c *config.Connection, lookup resolver) (*conn, error) {
	h := &c.HTTP
	lookup = lookupFor(h, lookup)
	base, err := url.Parse(h.BaseURL)
	if err != nil {
		return nil, errors.New("base_url is not a URL")
	}
	if err := httpguard.CheckBaseURL(base); err != nil {
		return nil, err
	}
	port, err := basePort(base)
	if err != nil {
		return nil, err
	}
	dp := &httpguard.DialPolicy{AllowPrivate: h.AllowPrivateNetwork, AllowedPorts: []uint16{port}}
	addrs, err := resolveBase(base.Hostname(), lookup)
	switch {
	case err != nil && h.AllowPrivateNetwork:
		// The allowed addresses are what the host resolves to now; no
		// answer, no connection.
		return nil, fmt.Errorf("allow_private_network needs the base URL's host to resolve at start-up: %w", err)
	case err != nil:
		// Public APIs may resolve later; every dial is checked anyway.
	default:
		if h.AllowPrivateNetwork {
			dp.AllowedIPs = addrs
		}
		for _, a := range addrs {
			if err := dp.CheckAddr(a); err != nil {
				return nil, fmt.Errorf("base URL host %s: %w", base.Hostname(), err)
			}
		}
	}
	tlsConf, err := loadTLS(h.TLS)
	if err != nil {
		return nil, err
	}
	routes := h.Routes
	if len(routes) == 0 {
		routes = defaultRoutes
	}
	for i := range routes {
		if err := routes[i].Validate(); err != nil {
			return nil, fmt.Errorf("routes[%d]: %w", i, err)
		}
	}
	allow, err := httpguard.NewHeaderPolicy(h.AllowHeaders)
	if err != nil {
		return nil, fmt.Errorf("allow_headers: %w", err)
	}
	cn := &conn{
		name: name, base: base, basePath: strings.TrimRight(base.EscapedPath(), "/"), routes: routes, allow: allow,
		headers: make(http.Header, len(h.Headers)), timeout: h.Timeout,
		maxRequest: h.MaxRequestBytes, maxResponse: h.MaxResponseBytes,
	}
	for k, v := range h.Headers {
		cn.headers.Set(k, v)
	}
	cn.scrub = newScrubber(cn.headers)
	if cn.timeout <= 0 {
		cn.timeout = config.DefaultHTTPTimeout
	}
	if cn.maxRequest <= 0 {
		cn.maxRequest = config.DefaultHTTPMaxRequestBytes
	}
	if cn.maxResponse <= 0 {
		cn.maxResponse = config.DefaultHTTPMaxResponseBytes
	}
	tr := httpguard.NewTransport(dp, tlsConf, httpguard.Timeouts{ResponseHeader: cn.timeout})
	cn.dial = resolvingDial(tr.DialContext, lookup)
	tr.DialContext = cn.dial
	cn.client = &http.Client{Transport: tr, CheckRedirect: cn.checkRedirect}
	return cn, nil
}

func basePort(u *url.URL) (uint16, error) {
	p := u.Port()
	if p == "" {
		if u.Scheme == "https" {
			return 443, nil
		}
		return 80, nil
	}
	n, err := strconv.ParseUint(p, 10, 16)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("base URL port %q is not a port number", p)
	}
	return uint16(n), nil
}

// resolveBase returns the addresses host stands for: itself when it is an
// IP literal, else what the resolver says.
func resolveBase(host string, lookup resolver) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a}, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), startupLookupTimeout)
	defer cancel()
	addrs, err := lookup(ctx, host)
	if err != nil {
		return nil, fmt.Errorf("resolving %s: %w", host, err)
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("resolving %s: no addresses", host)
	}
	return addrs, nil
}

// resolvingDial resolves host names with lookup and dials each address in
// turn through inner, whose Control hook checks it. IP literals go straight
// to inner. Refusals are kept (errors.As finds them) when no address works.
func resolvingDial(inner func(ctx context.Context, network, addr string) (net.Conn, error), lookup resolver) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(address)
		if err != nil {
			return nil, err
		}
		if _, err := netip.ParseAddr(host); err == nil {
			return inner(ctx, network, address)
		}
		addrs, err := lookup(ctx, host)
		if err != nil {
			return nil, fmt.Errorf("resolving the connection's host: %w", err)
		}
		if len(addrs) == 0 {
			return nil, errors.New("the connection's host has no addresses")
		}
		var errs []error
		for _, a := range addrs {
			c, err := inner(ctx, network, net.JoinHostPort(a.String(), port))
			if err == nil {
				return c, nil
			}
			errs = append(errs, err)
			if ctx.Err() != nil {
				break
			}
		}
		return nil, errors.Join(errs...)
	}
}

func loadTLS(t *config.HTTPTLS) (*tls.Config, error) {
	if t == nil {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls: loading the client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls: ca_file %s holds no PEM certificates", t.CAFile)
		}
		tc.RootCAs = pool
	}
	return tc, nil
}

type accessKey struct{}

// checkRedirect follows at most httpguard.DefaultMaxRedirects redirects,
// each on the base URL's origin and under its path (then checked again at
// dial time), to an allow route whose access class is no more than the
// original call's: a read must not be bounced into an admin route.
func (cn *conn) checkRedirect(req *http.Request, via []*http.Request) error {
	if err := httpguard.RoutedRedirects(cn.base, httpguard.DefaultMaxRedirects, cn.routes)(req, via); err != nil {
		return err
	}
	rel, err := httpguard.RelativePath(cn.base, req.URL)
	if err != nil {
		return err
	}
	d, err := httpguard.MatchRoute(cn.routes, req.Method, rel)
	if err != nil {
		return err
	}
	if granted, ok := req.Context().Value(accessKey{}).(policy.Access); !ok || rank(d.Access) > rank(granted) {
		return &httpguard.Error{Msg: fmt.Sprintf("redirect refused: %s %s needs %s access, more than the call was allowed", req.Method, rel, d.Access)}
	}
	return nil
}

func rank(a policy.Access) int { return slices.Index(policy.AccessClasses, a) }

// check opens (and closes) one guarded TCP connection to the base URL's
// host and port.
func (cn *conn) check(ctx context.Context) error {
	port, _ := basePort(cn.base)
	c, err := cn.dial(ctx, "tcp", net.JoinHostPort(cn.base.Hostname(), strconv.Itoa(int(port))))
	if err != nil {
		return cn.scrub.err(err)
	}
	return c.Close()
}
