package upstream_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"

	"github.com/airlockhq/airlock/tools"
)

// remoteUpstream is an in-process MCP server over streamable HTTP (or
// SSE) that answers only requests carrying the bearer token want; it
// records every Authorization header it sees.
func remoteUpstream(t *testing.T, want string, sse bool) (string, func() []string) {
	t.Helper()
	s := mcpserver.NewMCPServer("remote-upstream", "1")
	s.AddTool(mcp.NewTool("whoami", mcp.WithDescription("Says hello.")),
		func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return mcp.NewToolResultText("hello from remote"), nil
		})
	var mu sync.Mutex
	var seen []string
	var h http.Handler
	var ts *httptest.Server
	if sse {
		ts = httptest.NewUnstartedServer(nil)
		h = mcpserver.NewSSEServer(s, mcpserver.WithBaseURL("http://"+ts.Listener.Addr().String()))
	} else {
		ts = httptest.NewUnstartedServer(nil)
		h = mcpserver.NewStreamableHTTPServer(s)
	}
	ts.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := r.Header.Get("Authorization")
		mu.Lock()
		seen = append(seen, a)
		mu.Unlock()
		if a != "Bearer "+want {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
	ts.Start()
	t.Cleanup(ts.Close)
	path := "/mcp"
	if sse {
		path = "/sse"
	}
	return ts.URL + path, func() []string { mu.Lock(); defer mu.Unlock(); return copyOf(seen) }
}

func copyOf(s []string) []string { return append([]string(nil), s...) }

func TestUpstreamRemoteBearerAndOAuth(t *testing.T) {
	bearerURL, bearerSeen := remoteUpstream(t, "static-secret", false)
	sseURL, _ := remoteUpstream(t, "static-secret", true)
	oauthURL, oauthSeen := remoteUpstream(t, "cc-token-42", false)
	// The OAuth token endpoint: client credentials only.
	tokens := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, secret, ok := r.BasicAuth()
		if err := r.ParseForm(); err != nil || !ok || id != "airlock" || secret != "cc-secret" || r.Form.Get("grant_type") != "client_credentials" {
			http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "cc-token-42", "token_type": "Bearer", "expires_in": 3600})
	}))
	defer tokens.Close()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bearer"), []byte("static-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CC_SECRET", "cc-secret")
	e := newEnv(t, fmt.Sprintf(`
  rbearer:
    kind: mcp
    mcp: {url: %q, bearer: {file: %q}, accept_new: true, tools: [{match: "*", access: read}]}
  rsse:
    kind: mcp
    mcp: {url: %q, transport: sse, bearer: {file: %q}, accept_new: true, tools: [{match: "*", access: read}]}
  roauth:
    kind: mcp
    mcp:
      url: %q
      oauth: {token_url: %q, client_id: airlock, client_secret: {env: CC_SECRET}}
      accept_new: true
      tools: [{match: "*", access: read}]
`, bearerURL, filepath.Join(dir, "bearer"), sseURL, filepath.Join(dir, "bearer"), oauthURL, tokens.URL))
	_, base := e.start(t)
	agentToken := e.token(t, "ana", "analysts")
	c := e.client(t, base, "ana", "analysts")
	for _, conn := range []string{"rbearer", "rsse", "roauth"} {
		grant(t, c, conn, "read")
		if res := call(t, c, conn+"_whoami", map[string]any{}); res.IsError || !strings.Contains(resultText(res), "hello from remote") {
			t.Fatalf("%s: %s", conn, resultText(res))
		}
	}
	for _, h := range append(bearerSeen(), oauthSeen()...) {
		if strings.Contains(h, agentToken) || strings.Contains(h, strings.Split(agentToken, ".")[2]) {
			t.Fatal("the agent's token reached the upstream")
		}
	}
}

func TestUpstreamPerPrincipalIsolation(t *testing.T) {
	e := newEnv(t, upstreamConn(t, "      accept_new: true\n      isolation: per_principal\n"))
	g, base := e.start(t)
	// airlock check starts a process of its own and pings it.
	checked := false
	for _, tl := range g.Tools() {
		if cc, ok := tl.(tools.ConnectionChecker); ok {
			if err := cc.CheckConnection(context.Background(), "up"); err == nil {
				checked = true
				break
			} else if !errors.Is(err, tools.ErrUnknownConnection) {
				t.Fatalf("check: %v", err)
			}
		}
	}
	if !checked {
		t.Fatal("no tool checks the upstream connection")
	}
	ana := e.client(t, base, "ana", "analysts")
	bob := e.client(t, base, "bob", "analysts")
	grant(t, ana, "up", "read")
	grant(t, bob, "up", "read")
	a1 := resultText(call(t, ana, "up_pid", map[string]any{}))
	a2 := resultText(call(t, ana, "up_pid", map[string]any{}))
	b1 := resultText(call(t, bob, "up_pid", map[string]any{}))
	if a1 == "" || a1 != a2 || a1 == b1 {
		t.Fatalf("pids: ana %s %s, bob %s", a1, a2, b1)
	}
}
