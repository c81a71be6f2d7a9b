package httpguard

import (
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestFilterHeadersRefuses(t *testing.T) {
	cases := []struct {
		h    map[string]string
		want string
	}{
		{map[string]string{"Host": "evil.example"}, "Host is refused"},
		{map[string]string{"host": "127.0.0.1"}, "Host is refused"},
		{map[string]string{"X-Host": "evil.example"}, "X-Host is refused"},
		{map[string]string{"Authorization": "Bearer x"}, "credentials"},
		{map[string]string{"authorization": "Bearer x"}, "credentials"},
		{map[string]string{"Proxy-Authorization": "Basic x"}, "proxy"},
		{map[string]string{"Proxy-Connection": "keep-alive"}, "proxy"},
		{map[string]string{"Cookie": "s=1"}, "credentials"},
		{map[string]string{"Set-Cookie": "s=1"}, "response header"},
		{map[string]string{"Connection": "close"}, "hop-by-hop"},
		{map[string]string{"Keep-Alive": "timeout=5"}, "hop-by-hop"},
		{map[string]string{"TE": "trailers"}, "hop-by-hop"},
		{map[string]string{"Trailer": "X"}, "hop-by-hop"},
		{map[string]string{"Transfer-Encoding": "chunked"}, "framing"},
		{map[string]string{"Upgrade": "websocket"}, "upgrades"},
		{map[string]string{"Content-Length": "0"}, "framing"},
		{map[string]string{"Expect": "100-continue"}, "100-continue"},
		{map[string]string{"X-Forwarded-For": "127.0.0.1"}, "client address"},
		{map[string]string{"X-Forwarded-Host": "admin"}, "client address"},
		{map[string]string{"Forwarded": "for=127.0.0.1"}, "client address"},
		{map[string]string{"X-Real-IP": "127.0.0.1"}, "client address"},
		{map[string]string{"True-Client-IP": "127.0.0.1"}, "client address"},
		{map[string]string{"X-Original-URL": "/admin"}, "path"},
		{map[string]string{"X-Rewrite-URL": "/admin"}, "path"},
		{map[string]string{"X-HTTP-Method-Override": "DELETE"}, "method"},
		{map[string]string{"X-Method-Override": "DELETE"}, "method"},
		{map[string]string{"X-Middleware-Subrequest": "middleware"}, "middleware"},
		{map[string]string{"Accept-Encoding": "gzip"}, "masked"},
		{map[string]string{"Range": "bytes=8-20"}, "partial"},
		{map[string]string{"Origin": "https://app"}, "browser"},
		{map[string]string{"Sec-Fetch-Site": "same-origin"}, "browser"},
		{map[string]string{"X-Api-Key": "k"}, "credential"},
		{map[string]string{"X-Auth-Token": "k"}, "credential"},
		{map[string]string{"X-Amz-Security-Token": "k"}, "credential"},
		{map[string]string{"X-Session-Id": "k"}, "credential"},
		{map[string]string{"X-Functions-Key": "k"}, "credential"},
		{map[string]string{"User-Agent": "agent"}, "allow-list"},
		{map[string]string{"Foo": "bar"}, "allow-list"},
		{map[string]string{"X-Ok": "a\r\nHost: evil"}, "control"},
		{map[string]string{"X-Ok": "a\nb"}, "control"},
		{map[string]string{"X-Ok": "a\x00"}, "control"},
		{map[string]string{"X-Ok": "café"}, "non-ASCII"},
		{map[string]string{"X-Ok": strings.Repeat("v", maxHeaderValueLen+1)}, "longer"},
		{map[string]string{"X-Ok\r\nHost": "evil"}, "token"},
		{map[string]string{"X Ok": "v"}, "token"},
		{map[string]string{"X-Ok:": "v"}, "token"},
		{map[string]string{"": "v"}, "token"},
		{map[string]string{"Accept": "1", "accept": "2"}, "more than once"},
		{map[string]string{"Accept": "*/*", "Host": "evil"}, "Host"},
	}
	for _, c := range cases {
		got, err := FilterHeaders(c.h)
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("FilterHeaders(%q) = %v, %v; want *Error mentioning %q", c.h, got, err, c.want)
			continue
		}
		if !strings.Contains(e.Msg, c.want) {
			t.Errorf("FilterHeaders(%q) error %q does not mention %q", c.h, e.Msg, c.want)
		}
		if got != nil {
			t.Errorf("FilterHeaders(%q) returned headers with an error", c.h)
		}
	}
	many := map[string]string{}
	for i := range maxHeaders + 1 {
		many[fmt.Sprintf("X-H%d", i)] = "v"
	}
	if _, err := FilterHeaders(many); err == nil {
		t.Error("FilterHeaders accepted too many headers")
	}
}

func TestFilterHeadersAccepts(t *testing.T) {
	in := map[string]string{
		"accept":            "application/json",
		"Accept-Language":   "en",
		"Content-Type":      "application/json; charset=utf-8",
		"If-None-Match":     `"abc"`,
		"If-Match":          `W/"x"`,
		"If-Modified-Since": "Wed, 21 Oct 2015 07:28:00 GMT",
		"X-Request-Id":      "r-1",
		"Idempotency-Key":   "k-1",
		"Traceparent":       "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
	}
	got, err := FilterHeaders(in)
	if err != nil {
		t.Fatal(err)
	}
	want := http.Header{
		"Accept":            {"application/json"},
		"Accept-Language":   {"en"},
		"Content-Type":      {"application/json; charset=utf-8"},
		"If-None-Match":     {`"abc"`},
		"If-Match":          {`W/"x"`},
		"If-Modified-Since": {"Wed, 21 Oct 2015 07:28:00 GMT"},
		"X-Request-Id":      {"r-1"},
		"Idempotency-Key":   {"k-1"},
		"Traceparent":       {"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("FilterHeaders = %v, want %v", got, want)
	}
	if h, err := FilterHeaders(nil); err != nil || len(h) != 0 {
		t.Errorf("FilterHeaders(nil) = %v, %v", h, err)
	}
}

// Identity, tenant and role headers that back ends trust are refused unless
// the operator allows them on the connection, and the refusal names the
// header and the option.
func TestFilterHeadersIdentityHeadersNeedAllowList(t *testing.T) {
	for _, name := range []string{
		"X-Scope-OrgID", "X-Amzn-Oidc-Identity", "X-Amzn-Oidc-Data", "X-MS-CLIENT-PRINCIPAL",
		"X-MS-CLIENT-PRINCIPAL-NAME", "X-Consumer-Username", "X-Consumer-Custom-ID", "X-User",
		"X-User-Email", "X-Userid", "X-SSL-Client-Cert", "X-SSL-Client-S-DN", "X-Pomerium-Claim-Email",
		"X-Tailscale-User", "X-Role", "X-Admin", "X-Sudo", "X-Tenant", "X-Goog-Authenticated-User-Email",
		"X-Webauth-User", "Remote-User", "X-Forwarded-User", "X-Remote-User", "X-Custom-Thing",
	} {
		h, err := FilterHeaders(map[string]string{name: "admin"})
		var e *Error
		if !errors.As(err, &e) || h != nil {
			t.Errorf("FilterHeaders(%s) = %v, %v; want a refusal", name, h, err)
			continue
		}
		canon := http.CanonicalHeaderKey(name)
		if !strings.Contains(e.Msg, "header "+canon+" ") || !strings.Contains(e.Msg, AllowOption) && !strings.Contains(e.Msg, "credential") {
			t.Errorf("refusal of %s does not name the header and %s: %q", name, AllowOption, e.Msg)
		}
	}
	p, err := NewHeaderPolicy([]string{"x-scope-orgid", "X-Forwarded-User", "Range"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := p.Filter(map[string]string{"X-Scope-OrgID": "tenant-1", "x-forwarded-user": "u", "Range": "bytes=0-9", "Accept": "*/*"})
	if err != nil {
		t.Fatal(err)
	}
	if got.Get("X-Scope-Orgid") != "tenant-1" || got.Get("X-Forwarded-User") != "u" || got.Get("Range") != "bytes=0-9" || len(got) != 4 {
		t.Errorf("Filter = %v", got)
	}
	if _, err := p.Filter(map[string]string{"X-Role": "admin"}); err == nil {
		t.Error("an operator's allow-list let another header through")
	}
	if !p.Allowed("X-SCOPE-ORGID") || p.Allowed("X-Role") || defaultHeaderPolicy.Allowed("X-Scope-OrgID") {
		t.Error("Allowed disagrees with the allow-list")
	}
}

// Hop-by-hop, framing, credential and override headers can never be
// allowed by an operator.
func TestNewHeaderPolicyRefusesGatewayHeaders(t *testing.T) {
	for _, name := range []string{
		"Authorization", "authorization", "Cookie", "Proxy-Authorization", "Proxy-Connection", "Host", "X-Host",
		"Connection", "Keep-Alive", "TE", "Trailer", "Transfer-Encoding", "Upgrade", "Content-Length", "Expect",
		"Accept-Encoding", "Content-Encoding", "X-Api-Key", "X-Auth-Token", "X-Amz-Security-Token", "X-Session-Id",
		"X-Csrf-Token", "X-Functions-Key", "X-HTTP-Method-Override", "X-Method-Override", "X-Original-URL",
		"X-Rewrite-URL", "", "X A", "X-Ok\r\n",
	} {
		p, err := NewHeaderPolicy([]string{"X-Ok", name})
		var e *Error
		if !errors.As(err, &e) || p != nil {
			t.Errorf("NewHeaderPolicy(%q) = %v, %v; want a refusal", name, p, err)
			continue
		}
		if name != "" && isToken(name) && !strings.Contains(e.Msg, "can never be allowed") {
			t.Errorf("NewHeaderPolicy(%q): %q", name, e.Msg)
		}
	}
	for _, name := range []string{"Accept", "Idempotency-Key", "X-Scope-OrgID", "X-Forwarded-For", "Origin", "If-Range", "X-Trace"} {
		if err := CheckAllowableHeader(name); err != nil {
			t.Errorf("CheckAllowableHeader(%q) = %v", name, err)
		}
	}
}

func TestSafeResponseHeaders(t *testing.T) {
	in := http.Header{
		"Content-Type":          {"application/json"},
		"Content-Length":        {"12"},
		"Etag":                  {`"v1"`},
		"Last-Modified":         {"Wed, 21 Oct 2015 07:28:00 GMT"},
		"Cache-Control":         {"no-store"},
		"Retry-After":           {"5"},
		"X-Request-Id":          {"r-1"},
		"Ratelimit":             {"limit=10, remaining=9"},
		"Ratelimit-Remaining":   {"9"},
		"X-Ratelimit-Limit":     {"100"},
		"Location":              {"/api/v2/users/5"},
		"Set-Cookie":            {"session=secret"},
		"Www-Authenticate":      {`Bearer realm="x"`},
		"Authorization":         {"Bearer secret"},
		"Proxy-Authenticate":    {"Basic"},
		"Server":                {"nginx/1.2 internal-host-7"},
		"X-Amz-Security-Token":  {"secret"},
		"X-Backend-Host":        {"10.0.0.5"},
		"Ratelimitx":            {"odd"},
		"X-Request-Id-Evil\r\n": {"x"},
	}
	got := SafeResponseHeaders(in)
	want := http.Header{
		"Content-Type":        {"application/json"},
		"Content-Length":      {"12"},
		"Etag":                {`"v1"`},
		"Last-Modified":       {"Wed, 21 Oct 2015 07:28:00 GMT"},
		"Cache-Control":       {"no-store"},
		"Retry-After":         {"5"},
		"X-Request-Id":        {"r-1"},
		"Ratelimit":           {"limit=10, remaining=9"},
		"Ratelimit-Remaining": {"9"},
		"X-Ratelimit-Limit":   {"100"},
		"Location":            {"/api/v2/users/5"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("SafeResponseHeaders = %v\nwant %v", got, want)
	}
	for _, loc := range []string{"https://evil.example/", "//evil.example/", "/\\evil", "http://10.0.0.5/x", "/a\r\nSet-Cookie: x", "relative"} {
		if got := SafeResponseHeaders(http.Header{"Location": {loc}}); len(got) != 0 {
			t.Errorf("Location %q kept: %v", loc, got)
		}
	}
	if got := SafeResponseHeaders(http.Header{"Content-Type": {"a\x00b"}}); len(got) != 0 {
		t.Errorf("control character kept: %v", got)
	}
}

// FuzzFilterHeaders checks that whatever FilterHeaders accepts is one
// canonical, token-named header whose value cannot split the header block.
func FuzzFilterHeaders(f *testing.F) {
	for _, c := range [][2]string{
		{"Accept", "application/json"}, {"Host", "evil"}, {"X-Ok", "a\r\nHost: evil"},
		{"x-forwarded-for", "1"}, {"X-Api-Key", "k"}, {"X-Ok\n", "v"}, {"X-Tenant", "a\tb"},
	} {
		f.Add(c[0], c[1])
	}
	f.Fuzz(func(t *testing.T, name, value string) {
		h, err := FilterHeaders(map[string]string{name: value})
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || h != nil {
				t.Fatalf("FilterHeaders(%q: %q) = %v, %v", name, value, h, err)
			}
			return
		}
		if len(h) != 1 {
			t.Fatalf("FilterHeaders(%q: %q) = %v", name, value, h)
		}
		for k, vs := range h {
			if k != http.CanonicalHeaderKey(name) || !isToken(k) || len(vs) != 1 || vs[0] != value {
				t.Fatalf("FilterHeaders(%q: %q) = %v", name, value, h)
			}
			if strings.ContainsAny(vs[0], "\r\n\x00") || !slices.Contains(DefaultAllowedHeaders, k) {
				t.Fatalf("FilterHeaders(%q: %q) accepted %v", name, value, h)
			}
		}
	})
}
