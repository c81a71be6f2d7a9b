package httpguard

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/airlockhq/airlock/policy"
)

var benchRoutes = []Route{
	{Methods: []string{"*"}, Path: "/v1/admin/**", Effect: EffectDeny},
	{Methods: []string{"GET", "HEAD"}, Path: "/v1/customers/*/orders"},
	{Methods: []string{"POST"}, Path: "/v1/search", Access: policy.Read},
	{Methods: []string{"DELETE"}, Path: "/v1/customers/*", Effect: EffectApprove},
	{Methods: []string{"GET"}, Path: "/v1/reports/**/pdf"},
	{Methods: []string{"GET", "PUT"}, Path: "/v1/customers/**"},
}

const benchPath = "/v1/customers/42/orders/2024/caf%C3%A9"

func BenchmarkJoinPath(b *testing.B) {
	base := mustURL(b, "https://api.internal/api/v2")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := JoinPath(base, benchPath); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMatchRoute(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if d, err := MatchRoute(benchRoutes, "GET", benchPath); err != nil || d.RouteIndex != 5 {
			b.Fatal(d, err)
		}
	}
}

func BenchmarkCheckAddr(b *testing.B) {
	addrs := []netip.Addr{
		netip.MustParseAddr("93.184.215.14"),
		netip.MustParseAddr("10.0.0.5"),
		netip.MustParseAddr("2606:4700::6810:84e5"),
		netip.MustParseAddr("::ffff:169.254.169.254"),
	}
	p := &DialPolicy{AllowPrivate: true, AllowedIPs: []netip.Addr{netip.MustParseAddr("10.0.0.5")}}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		err := p.CheckAddr(addrs[i%len(addrs)])
		if (err == nil) != (i%len(addrs) != 3) {
			b.Fatal(err)
		}
	}
}

// BenchmarkGuard is the per-call work before any I/O: path, route, headers
// and one address check.
func BenchmarkGuard(b *testing.B) {
	base := mustURL(b, "https://api.internal/api/v2")
	p := &DialPolicy{}
	addr := netip.MustParseAddr("93.184.215.14")
	hdr := map[string]string{"Accept": "application/json", "X-Request-Id": "r-1"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := JoinPath(base, benchPath); err != nil {
			b.Fatal(err)
		}
		if _, err := MatchRoute(benchRoutes, "GET", benchPath); err != nil {
			b.Fatal(err)
		}
		if _, err := FilterHeaders(hdr); err != nil {
			b.Fatal(err)
		}
		if err := p.CheckAddr(addr); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGuardedGET is a whole guarded call against a loopback server
// allowed by address and port, over pooled keep-alive connections.
func BenchmarkGuardedGET(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Set-Cookie", "s=1")
		io.WriteString(w, `{"id":42,"orders":[]}`)
	}))
	defer srv.Close()
	base := mustURL(b, srv.URL+"/api/v2")
	client := &http.Client{
		Transport:     NewTransport(loopbackPolicy(b, srv), nil, Timeouts{}),
		CheckRedirect: SameOriginRedirects(base, DefaultMaxRedirects),
	}
	defer client.CloseIdleConnections()
	hdr := map[string]string{"Accept": "application/json"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := MatchRoute(benchRoutes, "GET", benchPath); err != nil {
			b.Fatal(err)
		}
		u, err := BuildURL(base, benchPath, map[string]any{"limit": float64(10)})
		if err != nil {
			b.Fatal(err)
		}
		h, err := FilterHeaders(hdr)
		if err != nil {
			b.Fatal(err)
		}
		req, err := http.NewRequest("GET", u.String(), nil)
		if err != nil {
			b.Fatal(err)
		}
		req.Header = h
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		if got := SafeResponseHeaders(resp.Header); got.Get("Set-Cookie") != "" {
			b.Fatal("Set-Cookie passed")
		}
	}
}
