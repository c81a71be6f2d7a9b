package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/mark3labs/mcp-go/client"

	"github.com/airlockhq/airlock/recorder"
	"github.com/airlockhq/airlock/server"
)

const apiSecret = "api-S3cret-0f-the-gateway"

// apiTarget is the internal API behind the http connection: it records the
// requests that reach it and echoes the credential back, as a careless
// API might.
type apiTarget struct {
	*httptest.Server
	mu       sync.Mutex
	requests []string // "METHOD path auth"
	location atomic.Value
}

func newAPITarget(t *testing.T) *apiTarget {
	t.Helper()
	a := &apiTarget{}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.requests = append(a.requests, r.Method+" "+r.URL.EscapedPath()+" "+r.Header.Get("Authorization"))
		a.mu.Unlock()
		if r.URL.Path == "/api/hop" {
			http.Redirect(w, r, a.location.Load().(string), http.StatusFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Set-Cookie", "session="+apiSecret)
		w.Header().Set("X-Request-Id", r.Header.Get("Authorization"))
		json.NewEncoder(w).Encode(map[string]any{"method": r.Method, "path": r.URL.Path,
			"seen_auth": r.Header.Get("Authorization"), "customer": map[string]any{"id": 42, "name": "Ada"}})
	}))
	t.Cleanup(a.Close)
	return a
}

func (a *apiTarget) got() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.requests...)
}

// loopbackHoneypot counts TCP connections on a loopback port.
func loopbackHoneypot(t *testing.T) (port int, hits *atomic.Int32) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	hits = &atomic.Int32{}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			hits.Add(1)
			c.Close()
		}
	}()
	return l.Addr().(*net.TCPAddr).Port, hits
}

// httpConnYAML continues the env's connections: section with "api".
func httpConnYAML(baseURL string) string {
	return fmt.Sprintf(`  api:
    kind: http
    description: Customer API
    base_url: %s
    allow_private_network: true
    headers:
      Authorization: Bearer ${AIRLOCK_TEST_API_TOKEN}
    routes:
      - {methods: ["*"], path: /admin/**, effect: deny}
      - {methods: [DELETE], path: /customers/*, effect: approve}
      - {methods: [GET, PUT, POST], path: /customers/**}
      - {methods: [GET], path: /hop}
      - {methods: [GET], path: /reports/**, effect: approve}
`, baseURL)
}

func TestHTTPRequestEndToEnd(t *testing.T) {
	t.Setenv("AIRLOCK_TEST_API_TOKEN", apiSecret)
	api := newAPITarget(t)
	hpPort, hpHits := loopbackHoneypot(t)
	e := newEnvWith(t, httpConnYAML(api.URL+"/api")+`
approvals: {wait: 100ms}
rules:
  - {name: analysts-read, groups: [analysts], connections: [api], access: [read], effect: allow}
  - {name: writers, groups: [writers], connections: [api], access: [read, write], effect: allow, grant: {approvers: [leads]}}
`)
	_, base := e.start(t, server.Options{})
	alice := httpClient(t, "streamable-http", base, e.token(t, "alice", "analysts"))
	call := func(who *client.Client, method, path string, extra map[string]any) (bool, string, map[string]any) {
		t.Helper()
		args := map[string]any{"connection": "api", "method": method, "path": path}
		for k, v := range extra {
			args[k] = v
		}
		res := callTool(t, who, "http_request", args)
		s, _ := res.StructuredContent.(map[string]any)
		return res.IsError, text(res), s
	}

	// Without a grant nothing is sent.
	if isErr, msg, _ := call(alice, "GET", "/customers/42", nil); !isErr || !strings.Contains(msg, "request_access") {
		t.Fatalf("no grant: %s", msg)
	}
	grant(t, alice, "api", "read")
	isErr, msg, s := call(alice, "GET", "/customers/42", map[string]any{"query": map[string]any{"expand": "orders"}})
	if isErr {
		t.Fatalf("allowed GET: %s", msg)
	}
	body, _ := s["body"].(map[string]any)
	if s["status"] != float64(200) || body["path"] != "/api/customers/42" || body["seen_auth"] != "[CREDENTIAL]" {
		t.Errorf("GET result: %v", s)
	}
	if got := api.got(); len(got) != 1 || got[0] != "GET /api/customers/42 Bearer "+apiSecret {
		t.Fatalf("target saw %v", got)
	}
	if h, _ := s["headers"].(map[string]any); h["Set-Cookie"] != nil || h["X-Request-Id"] != "[CREDENTIAL]" {
		t.Errorf("headers: %v", h)
	}

	// Route rules: a write needs a write grant, deny routes refuse, and
	// the agent cannot steer the request elsewhere.
	refusals := []struct {
		method, path string
		extra        map[string]any
		want         string
	}{
		{"PUT", "/customers/42", map[string]any{"body": map[string]any{"name": "Eve"}}, "needs write access"},
		{"GET", "/admin/users", nil, "denied"},
		{"GET", "/orders", nil, "no route allows"},
		{"GET", "/reports/q1", nil, "names no approvers"},
		{"GET", "/../admin", nil, "dots"},
		{"GET", "/%2e%2e/admin", nil, "dots"},
		{"GET", "//evil.example/", nil, "//"},
		{"GET", `/\\evil`, nil, "backslash"},
		{"GET", "/ok@127.0.0.1", nil, "@"},
		{"GET", "/customers/1", map[string]any{"headers": map[string]any{"Host": "evil.example"}}, "Host"},
		{"GET", "/customers/1", map[string]any{"headers": map[string]any{"Authorization": "Bearer mine"}}, "Authorization"},
	}
	for _, r := range refusals {
		isErr, msg, _ := call(alice, r.method, r.path, r.extra)
		if !isErr || !strings.Contains(msg, r.want) {
			t.Errorf("%s %s %v: %v %s, want refusal mentioning %q", r.method, r.path, r.extra, isErr, msg, r.want)
		}
	}
	if n := len(api.got()); n != 1 {
		t.Fatalf("refused calls reached the target: %v", api.got())
	}

	// Redirects off the origin are refused; the honeypot is never reached.
	hp := fmt.Sprint(hpPort)
	for _, loc := range []string{
		"http://169.254.169.254/latest/meta-data/",
		"http://127.0.0.1:" + hp + "/",
		"http://[::ffff:127.0.0.1]:" + hp + "/",
		"http://2130706433:" + hp + "/",
		"http://0x7f000001:" + hp + "/",
		"http://0177.0.0.1:" + hp + "/",
		"http://[::]:" + hp + "/",
	} {
		api.location.Store(loc)
		if isErr, msg, _ := call(alice, "GET", "/hop", nil); !isErr || !strings.Contains(msg, "redirect refused") {
			t.Errorf("redirect to %s: %s", loc, msg)
		}
	}
	if n := hpHits.Load(); n != 0 {
		t.Errorf("honeypot reached %d times", n)
	}

	// Writers write; DELETE needs a human approval of that exact call.
	wendy := httpClient(t, "streamable-http", base, e.token(t, "wendy", "writers"))
	lead := e.token(t, "lee", "leads")
	grant(t, wendy, "api", "write")
	if isErr, msg, _ := call(wendy, "PUT", "/customers/42", map[string]any{"body": map[string]any{"name": "Ada L."}}); isErr {
		t.Fatalf("PUT: %s", msg)
	}
	isErr, msg, _ = call(wendy, "DELETE", "/customers/42", nil)
	id := approvalIDPattern.FindString(msg)
	if !isErr || id == "" || !strings.Contains(msg, "pending") {
		t.Fatalf("DELETE before approval: %s", msg)
	}
	if code, out := adminCall(t, base, lead, http.MethodPost, "requests/"+id+"/approve", nil); code != http.StatusOK {
		t.Fatalf("approve: %d %v", code, out)
	}
	if isErr, msg, _ := call(wendy, "DELETE", "/customers/7", nil); !isErr || approvalIDPattern.FindString(msg) == id {
		t.Fatalf("approval for /customers/42 covered /customers/7: %s", msg)
	}
	if isErr, msg, _ := call(wendy, "DELETE", "/customers/42", nil); isErr {
		t.Fatalf("approved DELETE: %s", msg)
	}
	deletes := 0
	for _, g := range api.got() {
		if strings.HasPrefix(g, "DELETE ") {
			deletes++
		}
	}
	if deletes != 1 {
		t.Errorf("target saw %d DELETEs, want 1: %v", deletes, api.got())
	}

	// The credential is nowhere in the journal, nor in the store's files.
	recs := journal(t, e)
	if n := countCalls(recs, "http_request"); n < 20 {
		t.Errorf("journaled %d complete http_request calls", n)
	}
	for _, r := range recs {
		b, _ := json.Marshal(r)
		if strings.Contains(string(b), apiSecret) {
			t.Fatalf("credential in journal record: %s", b)
		}
	}
	var approved *recorder.Record
	for _, r := range recs {
		if r.Tool == "http_request" && r.Type == recorder.Finished && r.ApprovalID == id {
			approved = r
		}
	}
	if approved == nil || approved.Access != "write" || approved.Command != "DELETE" || len(approved.Resources) != 1 || approved.Resources[0] != "DELETE /customers/42" {
		t.Errorf("approved call record: %+v", approved)
	}
	files, _ := filepath.Glob(filepath.Join(filepath.Dir(e.cfgPath), "airlock.db*"))
	for _, f := range files {
		if b, err := os.ReadFile(f); err == nil && strings.Contains(string(b), apiSecret) {
			t.Errorf("credential stored in %s", filepath.Base(f))
		}
	}
}

// A base URL whose host is (or resolves to) cloud metadata stops the
// gateway at start-up, even with private networks allowed.
func TestHTTPMetadataBaseURLRefused(t *testing.T) {
	t.Setenv("AIRLOCK_TEST_API_TOKEN", apiSecret)
	for _, u := range []string{"http://169.254.169.254/latest", "http://[::ffff:a9fe:a9fe]/"} {
		e := newEnvWith(t, httpConnYAML(u))
		g, err := server.New(context.Background(), e.cfg, server.Options{})
		if err == nil {
			g.Close()
			t.Fatalf("%s: gateway started", u)
		}
		if !strings.Contains(err.Error(), "link-local") || strings.Contains(err.Error(), apiSecret) {
			t.Errorf("%s: %v", u, err)
		}
	}
}
