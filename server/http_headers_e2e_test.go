package server_test

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/airlockhq/airlock/server"
)

// headerEcho is an API that records the request headers it receives.
type headerEcho struct {
	*httptest.Server
	mu   sync.Mutex
	seen []http.Header
}

func newHeaderEcho(t *testing.T) *headerEcho {
	t.Helper()
	h := &headerEcho{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		h.seen = append(h.seen, r.Header.Clone())
		h.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"ok": true})
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *headerEcho) got() []http.Header {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]http.Header(nil), h.seen...)
}

// Agent request headers are an allow-list per connection: identity, tenant
// and role headers that back ends trust are refused (naming the header and
// the allow_headers option) unless the operator lists them, and the ones
// listed reach the API on that connection only.
func TestHTTPRequestHeaderAllowList(t *testing.T) {
	t.Setenv("AIRLOCK_TEST_API_TOKEN", apiSecret)
	api := newHeaderEcho(t)
	e := newEnvWith(t, fmt.Sprintf(`  api:
    kind: http
    base_url: %[1]s/api
    allow_private_network: true
    headers:
      Authorization: Bearer ${AIRLOCK_TEST_API_TOKEN}
  tenants:
    kind: http
    base_url: %[1]s/tenants
    allow_private_network: true
    headers:
      Authorization: Bearer ${AIRLOCK_TEST_API_TOKEN}
    allow_headers: [X-Scope-OrgID]
rules:
  - {name: analysts-read, groups: [analysts], connections: [api, tenants], access: [read], effect: allow}
`, api.URL))
	_, base := e.start(t, server.Options{})
	alice := httpClient(t, "streamable-http", base, e.token(t, "alice", "analysts"))
	grant(t, alice, "api", "read")
	grant(t, alice, "tenants", "read")
	get := func(conn string, headers map[string]any) (bool, string) {
		t.Helper()
		res := callTool(t, alice, "http_request", map[string]any{"connection": conn, "method": "GET", "path": "/x", "headers": headers})
		return res.IsError, text(res)
	}
	for _, name := range []string{
		"X-Scope-OrgID", "X-Amzn-Oidc-Identity", "X-MS-CLIENT-PRINCIPAL-NAME", "X-Consumer-Username",
		"X-User", "X-User-Id", "X-SSL-Client-S-DN", "X-Pomerium-Claim-Email", "X-Tailscale-User",
		"X-Role", "X-Admin", "X-Sudo", "X-Forwarded-User", "Remote-User", "User-Agent",
	} {
		isErr, msg := get("api", map[string]any{name: "admin"})
		canon := http.CanonicalHeaderKey(name)
		if !isErr || !strings.Contains(msg, canon) || !strings.Contains(msg, "allow_headers") {
			t.Errorf("api, header %s: %v %s; want a refusal naming the header and allow_headers", name, isErr, msg)
		}
	}
	if n := len(api.got()); n != 0 {
		t.Fatalf("refused calls reached the API: %d", n)
	}
	if isErr, msg := get("api", map[string]any{"Accept": "application/json", "If-None-Match": `"v1"`, "Accept-Language": "en"}); isErr {
		t.Fatalf("default headers refused: %s", msg)
	}
	if isErr, msg := get("tenants", map[string]any{"x-scope-orgid": "tenant-7", "Accept": "application/json"}); isErr {
		t.Fatalf("allowed header refused: %s", msg)
	}
	for _, name := range []string{"X-Role", "Authorization", "X-Api-Key", "Connection"} {
		if isErr, msg := get("tenants", map[string]any{name: "x"}); !isErr || !strings.Contains(msg, name) {
			t.Errorf("tenants, header %s: %v %s", name, isErr, msg)
		}
	}
	got := api.got()
	if len(got) != 2 || got[0].Get("Accept-Language") != "en" || got[1].Get("X-Scope-Orgid") != "tenant-7" || got[1].Get("Authorization") != "Bearer "+apiSecret {
		t.Errorf("API saw %v", got)
	}
}

// An API that echoes the request headers base64-, hex-, percent- or
// HTML-encoded, and returns PII encoded or split over fields, reaches the
// agent and the journal with the credential scrubbed and the PII masked.
func TestHTTPRequestEncodedEchoes(t *testing.T) {
	t.Setenv("AIRLOCK_TEST_API_TOKEN", apiSecret)
	const ssn = "536-90-4399"
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		dump, _ := json.Marshal(r.Header)
		var ent strings.Builder
		for _, c := range auth {
			fmt.Fprintf(&ent, "&#%d;", c)
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Request-Id", hex.EncodeToString([]byte(auth)))
		json.NewEncoder(w).Encode(map[string]any{
			"headers_b64":   base64.StdEncoding.EncodeToString(dump),
			"headers_b64u":  base64.RawURLEncoding.EncodeToString(dump),
			"auth_hex":      hex.EncodeToString([]byte(auth)),
			"auth_pct":      url.QueryEscape(auth),
			"auth_html":     ent.String(),
			"ssn_b64":       base64.StdEncoding.EncodeToString([]byte(ssn)),
			"ssn_hex":       hex.EncodeToString([]byte(ssn)),
			"note":          "ssn &#53;&#51;&#54;-&#57;&#48;-&#52;&#51;&#57;&#57;",
			"ssn_first5":    ssn[:6],
			"ssn_last4":     ssn[7:],
			"customer_name": "Ada",
		})
	}))
	t.Cleanup(api.Close)
	e := newEnvWith(t, fmt.Sprintf(`  api:
    kind: http
    base_url: %s/api
    allow_private_network: true
    headers:
      Authorization: Bearer ${AIRLOCK_TEST_API_TOKEN}
rules:
  - {name: analysts-read, groups: [analysts], connections: [api], access: [read], effect: allow}
`, api.URL))
	_, base := e.start(t, server.Options{})
	alice := httpClient(t, "streamable-http", base, e.token(t, "alice", "analysts"))
	grant(t, alice, "api", "read")
	res := callTool(t, alice, "http_request", map[string]any{"connection": "api", "method": "GET", "path": "/echo"})
	if res.IsError {
		t.Fatalf("call: %s", text(res))
	}
	seen, _ := json.Marshal(res)
	recs := journal(t, e)
	stored, _ := json.Marshal(recs)
	bearer := "Bearer " + apiSecret
	var bad []string
	for _, v := range []string{apiSecret, bearer, ssn, ssn[:6]} {
		for _, f := range []string{v, base64.StdEncoding.EncodeToString([]byte(v)), base64.RawURLEncoding.EncodeToString([]byte(v)),
			hex.EncodeToString([]byte(v)), url.QueryEscape(v)} {
			bad = append(bad, f)
		}
	}
	for _, f := range bad {
		if strings.Contains(string(seen), f) {
			t.Errorf("the agent saw %q: %.400s", f, seen)
		}
		if strings.Contains(string(stored), f) {
			t.Errorf("the journal holds %q", f)
		}
	}
	s, _ := res.StructuredContent.(map[string]any)
	body, _ := s["body"].(map[string]any)
	for _, k := range []string{"headers_b64", "headers_b64u", "auth_hex", "auth_pct", "auth_html"} {
		if body[k] != "[CREDENTIAL]" {
			t.Errorf("%s = %v, want [CREDENTIAL]", k, body[k])
		}
	}
	for _, k := range []string{"ssn_b64", "ssn_hex", "ssn_first5"} {
		if v, _ := body[k].(string); !strings.Contains(v, "SSN") {
			t.Errorf("%s = %v, want it masked as an SSN", k, body[k])
		}
	}
	if body["note"] != "ssn [SSN]" || body["customer_name"] != "Ada" {
		t.Errorf("body: %v", body)
	}
	if h, _ := s["headers"].(map[string]any); h["X-Request-Id"] != "[CREDENTIAL]" {
		t.Errorf("headers: %v", s["headers"])
	}
}
