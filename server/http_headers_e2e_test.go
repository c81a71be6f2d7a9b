package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
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
