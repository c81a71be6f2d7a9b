package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// loadHTTP loads a config with one http connection "api" whose settings are
// conn (YAML, indented under the connection), with Dir set to dir.
func loadHTTP(t *testing.T, dir, conn string, vars map[string]string) (*Config, error) {
	t.Helper()
	y := "identity:\n  dev_issuer: {enabled: true}\nconnections:\n  api:\n    kind: http\n" + conn
	cfg, err := Parse([]byte(y), func(k string) (string, bool) { v, ok := vars[k]; return v, ok })
	if err != nil {
		return nil, err
	}
	cfg.Dir = dir
	cfg.setDefaults()
	return cfg, cfg.Validate()
}

func TestHTTPConnection(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"client.pem", "client-key.pem", "ca.pem"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := loadHTTP(t, dir, `
    base_url: https://api.internal/v1
    headers:
      Authorization: Bearer ${API_TOKEN}
      X-Api-Key: ${API_KEY}
    allow_headers: [X-Scope-OrgID]
    tls: {cert_file: client.pem, key_file: client-key.pem, ca_file: ca.pem}
    routes:
      - {methods: [GET], path: /customers/**}
      - {methods: [DELETE], path: /customers/*, effect: approve}
`, map[string]string{"API_TOKEN": "tok-123", "API_KEY": "key-456"})
	if err != nil {
		t.Fatal(err)
	}
	h := cfg.Connections["api"].HTTP
	if h.Headers["Authorization"] != "Bearer tok-123" || h.Headers["X-Api-Key"] != "key-456" {
		t.Errorf("headers = %v", h.Headers)
	}
	if len(h.AllowHeaders) != 1 || h.AllowHeaders[0] != "X-Scope-OrgID" {
		t.Errorf("allow_headers = %v", h.AllowHeaders)
	}
	if h.Timeout != 30*time.Second || h.MaxRequestBytes != 1<<20 || h.MaxResponseBytes != 4<<20 || h.AllowPrivateNetwork {
		t.Errorf("defaults: %+v", h)
	}
	if h.TLS.CertFile != filepath.Join(dir, "client.pem") || h.TLS.CAFile != filepath.Join(dir, "ca.pem") {
		t.Errorf("tls paths not resolved: %+v", h.TLS)
	}
	if len(h.Routes) != 2 || h.Routes[1].Effect != "approve" {
		t.Errorf("routes: %+v", h.Routes)
	}
	// A response cap past the request bound: response bodies stream.
	cfg, err = loadHTTP(t, dir, "    base_url: https://h/\n    max_response_bytes: 209715200\n", nil)
	if err != nil || cfg.Connections["api"].HTTP.MaxResponseBytes != 200<<20 {
		t.Errorf("a 200 MiB response cap: %v", err)
	}
}

func TestHTTPConnectionInvalid(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name, conn, field, msg string
	}{
		{"no base url", "    headers: {X-A: b}\n", "connections.api.base_url", "required"},
		{"ftp base url", "    base_url: ftp://h/x\n", "connections.api.base_url", "http or https"},
		{"relative base url", "    base_url: /v1\n", "connections.api.base_url", "http or https"},
		{"userinfo", "    base_url: https://u:p@h/\n", "connections.api.base_url", "user info"},
		{"base query", "    base_url: https://h/v1?k=1\n", "connections.api.base_url", "query"},
		{"base dots", "    base_url: https://h/v1/../admin\n", "connections.api.base_url", "dots"},
		{"host header", "    base_url: https://h/\n    headers: {Host: evil}\n", "connections.api.headers.Host", "refused"},
		{"content-length", "    base_url: https://h/\n    headers: {content-length: '5'}\n", "connections.api.headers.content-length", "framing"},
		{"connection header", "    base_url: https://h/\n    headers: {Connection: close}\n", "connections.api.headers.Connection", "hop-by-hop"},
		{"transfer-encoding", "    base_url: https://h/\n    headers: {Transfer-Encoding: chunked}\n", "connections.api.headers.Transfer-Encoding", "framing"},
		{"bad header name", "    base_url: https://h/\n    headers: {'X A': b}\n", "connections.api.headers.X A", "not a valid"},
		{"duplicate header", "    base_url: https://h/\n    headers: {X-A: b, x-a: c}\n", "connections.api.headers.x-a", "more than once"},
		{"empty header", "    base_url: https://h/\n    headers: {Authorization: '${EMPTY}'}\n", "connections.api.headers.Authorization", "empty value"},
		{"crlf header", "    base_url: https://h/\n    headers: {X-A: \"a\\r\\nHost: evil\"}\n", "connections.api.headers.X-A", "control character"},
		{"inline authorization", "    base_url: https://h/\n    headers: {Authorization: Bearer abc123}\n", "connections.api.headers.Authorization", "from the environment"},
		{"inline api key", "    base_url: https://h/\n    headers: {X-Api-Key: abc123}\n", "connections.api.headers.X-Api-Key", "from the environment"},
		{"credential beside a reference", "    base_url: https://h/\n    headers: {Authorization: \"Bearer sk_live_x ${T}\"}\n", "connections.api.headers.Authorization", "from the environment"},
		{"inline cookie", "    base_url: https://h/\n    headers: {cookie: sid=abc123}\n", "connections.api.headers.cookie", "from the environment"},
		{"cert without key", "    base_url: https://h/\n    tls: {cert_file: c.pem}\n", "connections.api.tls", "both"},
		{"missing ca", "    base_url: https://h/\n    tls: {ca_file: nope.pem}\n", "connections.api.tls.ca_file", "cannot read"},
		{"negative timeout", "    base_url: https://h/\n    timeout: -1s\n", "connections.api.timeout", "positive"},
		{"huge response cap", "    base_url: https://h/\n    max_response_bytes: 1000000000\n", "connections.api.max_response_bytes", "between"},
		{"huge request cap", "    base_url: https://h/\n    max_request_bytes: 100000000\n", "connections.api.max_request_bytes", "between"},
		{"negative request cap", "    base_url: https://h/\n    max_request_bytes: -1\n", "connections.api.max_request_bytes", "between"},
		{"route no methods", "    base_url: https://h/\n    routes: [{path: /x}]\n", "connections.api.routes[0]", "methods"},
		{"route trace", "    base_url: https://h/\n    routes: [{methods: [GET], path: /x}, {methods: [TRACE], path: /x}]\n", "connections.api.routes[1]", "TRACE"},
		{"route dots", "    base_url: https://h/\n    routes: [{methods: [GET], path: /a/../b}]\n", "connections.api.routes[0]", "dots"},
		{"route read star", "    base_url: https://h/\n    routes: [{methods: ['*'], path: /x, access: read}]\n", "connections.api.routes[0]", "writes pass as reads"},
		{"route effect", "    base_url: https://h/\n    routes: [{methods: [GET], path: /x, effect: maybe}]\n", "connections.api.routes[0]", "unknown effect"},
		{"dsn on http", "    base_url: https://h/\n    dsn: postgres://x/y\n", "connections.api", "do not apply"},
		{"allow authorization", "    base_url: https://h/\n    allow_headers: [X-Tenant, authorization]\n", "connections.api.allow_headers[1]", "can never be allowed"},
		{"allow connection", "    base_url: https://h/\n    allow_headers: [Connection]\n", "connections.api.allow_headers[0]", "hop-by-hop"},
		{"allow api key", "    base_url: https://h/\n    allow_headers: [X-Api-Key]\n", "connections.api.allow_headers[0]", "credential"},
		{"allow bad name", "    base_url: https://h/\n    allow_headers: ['X A']\n", "connections.api.allow_headers[0]", "not a valid"},
		{"allow twice", "    base_url: https://h/\n    allow_headers: [X-Tenant, x-tenant]\n", "connections.api.allow_headers[1]", "more than once"},
		{"unknown key", "    base_url: https://h/\n    base_uri: https://h/\n", "connections.api.base_uri", "unknown key"},
		{"resolver name", "    base_url: https://h/\n    resolver: dns.internal:53\n", "connections.api.resolver", "IP address and port"},
		{"resolver no port", "    base_url: https://h/\n    resolver: 10.0.0.2\n", "connections.api.resolver", "IP address and port"},
		{"resolver port 0", "    base_url: https://h/\n    resolver: 10.0.0.2:0\n", "connections.api.resolver", "IP address and port"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadHTTP(t, dir, tc.conn, map[string]string{"EMPTY": ""})
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.field+":") || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q should name %q and say %q", err, tc.field, tc.msg)
			}
		})
	}
	// http settings on another kind are refused.
	y := "identity:\n  dev_issuer: {enabled: true}\nconnections:\n  db: {kind: sqlite, path: x.db, base_url: 'https://h/'}\n"
	cfg, err := Parse([]byte(y), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	cfg.setDefaults()
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "apply to kind http only") {
		t.Errorf("base_url on sqlite: %v", err)
	}
}

// A credential never appears in a validation error, even when the header
// value is what is wrong.
func TestHTTPHeaderErrorsHideValues(t *testing.T) {
	_, err := loadHTTP(t, t.TempDir(), "    base_url: https://h/\n    headers: {Authorization: \"Bearer sekrit\\u0000\"}\n", nil)
	if err == nil || strings.Contains(err.Error(), "sekrit") {
		t.Errorf("error: %v", err)
	}
}
