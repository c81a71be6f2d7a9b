package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/config"
	"github.com/airlockhq/airlock/server"
)

// oauthGateway runs a gateway on a listener whose address is its public
// URL, so the URLs in its 401s and metadata are where clients can reach
// it. identityYAML is the identity section's body.
func oauthGateway(t *testing.T, identityYAML string) (*env, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	dir := t.TempDir()
	yaml := fmt.Sprintf(`
server:
  listen: %s
  public_url: %s
identity: %s
store: sqlite:airlock.db
connections:
  demo: {kind: sqlite, path: demo.db, seed: demo, description: Demo shop}
rules:
  - {name: analysts-read, groups: [analysts], connections: [demo], access: [read], effect: allow}
`, ln.Addr(), base, identityYAML)
	p := filepath.Join(dir, "airlock.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	g, err := server.New(context.Background(), cfg, server.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(g.Handler())
	ts.Listener.Close()
	ts.Listener = ln
	ts.Start()
	t.Cleanup(func() { ts.Close(); g.Close() })
	return &env{cfgPath: p, cfg: cfg, dev: g.DevIssuer()}, base
}

type oauthRun struct {
	ClientID      string            `json:"client_id"`
	Authorization map[string]string `json:"authorization"`
	Claims        struct {
		Sub    string   `json:"sub"`
		Aud    string   `json:"aud"`
		Azp    string   `json:"azp"`
		Groups []string `json:"groups"`
	} `json:"claims"`
	Tools  []string `json:"tools"`
	Result struct {
		IsError           bool `json:"isError"`
		StructuredContent rows `json:"structuredContent"`
	} `json:"result"`
	Replay *struct {
		Status          int    `json:"status"`
		WWWAuthenticate string `json:"www_authenticate"`
	} `json:"replay"`
}

// runOAuthClient runs testdata/interop/oauth.mjs (the TypeScript SDK's
// OAuth client) against mcpURL.
func runOAuthClient(t *testing.T, mcpURL string, env ...string) (oauthRun, string, error) {
	t.Helper()
	dir, _ := filepath.Abs("testdata/interop")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@modelcontextprotocol", "sdk")); err != nil {
		install := exec.Command("bash", "../scripts/npm-interop.sh")
		if out, err := install.CombinedOutput(); err != nil {
			t.Fatalf("installing the TypeScript SDK for interop tests failed (node and npm are required): %v\n%s", err, out)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", filepath.Join(dir, "oauth.mjs"), mcpURL, "alice", "analysts")
	cmd.Env = append(append(os.Environ(), "INTEROP_CONNECTION=demo", "INTEROP_SQL=SELECT count(*) AS n FROM orders"), env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var run oauthRun
	if err == nil {
		if err := json.Unmarshal(out, &run); err != nil {
			t.Fatalf("output %q: %v", out, err)
		}
	}
	return run, stderr.String(), err
}

// TestOAuthTypeScriptSDK: the official TypeScript SDK's OAuth client
// connects to a quick-start gateway with no token: 401 → protected
// resource metadata → RFC 8414 metadata → dynamic registration →
// authorization with PKCE (the login form, followed over HTTP) → token
// bound to the gateway's resource → tool calls, over streamable HTTP and
// over SSE.
func TestOAuthTypeScriptSDK(t *testing.T) {
	for _, transport := range []string{"streamable-http", "sse"} {
		t.Run(transport, func(t *testing.T) { testOAuthTypeScriptSDK(t, transport) })
	}
}

func testOAuthTypeScriptSDK(t *testing.T, transport string) {
	e, base := oauthGateway(t, `{dev_issuer: {enabled: true}}`)
	path := server.PathMCP
	if transport == "sse" {
		path = server.PathSSE
	}
	run, stderr, err := runOAuthClient(t, base+path, "OAUTH_TRANSPORT="+transport)
	if err != nil {
		t.Fatalf("oauth client: %v\n%s", err, stderr)
	}
	a := run.Authorization
	if a["code_challenge_method"] != "S256" || len(a["code_challenge"]) != 43 || a["client_id"] != run.ClientID ||
		a["resource"] != base+path || a["response_type"] != "code" {
		t.Errorf("authorization request: %v", a)
	}
	if !strings.HasPrefix(run.ClientID, "airlock-oauth-interop-") {
		t.Errorf("client id %q: not dynamically registered", run.ClientID)
	}
	if run.Claims.Sub != "alice" || run.Claims.Aud != e.cfg.Identity.Audience || run.Claims.Azp != run.ClientID ||
		!slices.Equal(run.Claims.Groups, []string{"analysts"}) {
		t.Errorf("access token claims: %+v", run.Claims)
	}
	if !slices.Contains(run.Tools, "query_db") || run.Result.IsError || run.Result.StructuredContent.Rows[0][0] != float64(900) {
		t.Fatalf("tool call: %+v", run)
	}
	// The journal names the person and the client that acted for them.
	var found bool
	for _, r := range journal(t, e) {
		if r.Tool == "query_db" && r.Principal != nil {
			found = true
			if r.Principal.Subject != "alice" || r.Principal.Agent != run.ClientID {
				t.Errorf("journal principal = %+v", r.Principal)
			}
		}
	}
	if !found {
		t.Error("no query_db record in the journal")
	}
}

// TestOAuthTokenForAnotherAudienceRefused: gateway B trusts gateway A's
// dev issuer but has its own audience. A token the TypeScript SDK got for
// A is refused by B (401 naming B's metadata), and A's issuer refuses to
// issue a token for B's resource at all (invalid_target).
func TestOAuthTokenForAnotherAudienceRefused(t *testing.T) {
	_, baseA := oauthGateway(t, `{dev_issuer: {enabled: true}}`)
	_, baseB := oauthGateway(t, fmt.Sprintf(`{issuer: %q, audience: airlock-b}`, baseA+config.DevIssuerPath))

	run, stderr, err := runOAuthClient(t, baseA+server.PathMCP, "OAUTH_REPLAY_URL="+baseB+server.PathMCP)
	if err != nil {
		t.Fatalf("oauth client: %v\n%s", err, stderr)
	}
	if run.Result.IsError || run.Replay == nil {
		t.Fatalf("run: %+v", run)
	}
	if run.Replay.Status != http.StatusUnauthorized ||
		!strings.Contains(run.Replay.WWWAuthenticate, `resource_metadata="`+baseB+server.PathResourceMeta+`"`) ||
		!strings.Contains(run.Replay.WWWAuthenticate, `error="invalid_token"`) {
		t.Errorf("token for A at B: %+v", run.Replay)
	}

	// Logging in to B through A's issuer: the SDK sends B's resource,
	// which A's issuer does not serve.
	_, stderr, err = runOAuthClient(t, baseB+server.PathMCP)
	if err == nil || !strings.Contains(stderr, "invalid_target") {
		t.Errorf("login for B's resource at A's issuer: err=%v\n%s", err, stderr)
	}
}

// TestUnauthorizedAnswerForMCPClients: what an MCP client without a token
// gets is enough to start a login: the 401 names the metadata (and has no
// error code, RFC 6750 §3.1), its body says Unauthorized in words (the MCP
// Inspector behind its proxy sees only the body), and the metadata, RFC
// 8414 document and registration answer browsers from any origin.
func TestUnauthorizedAnswerForMCPClients(t *testing.T) {
	_, base := oauthGateway(t, `{dev_issuer: {enabled: true}}`)
	resp, err := http.Post(base+server.PathMCP, "application/json", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"initialize"}`))
	if err != nil {
		t.Fatal(err)
	}
	var body map[string]string
	json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	h := resp.Header.Get("WWW-Authenticate")
	if resp.StatusCode != http.StatusUnauthorized || h != `Bearer resource_metadata="`+base+server.PathResourceMeta+`"` ||
		!strings.Contains(body["error_description"], "Unauthorized") {
		t.Errorf("401: %d %q %v", resp.StatusCode, h, body)
	}
	// The SSE endpoint's 401 names its own document, whose resource is
	// the SSE URL (RFC 9728 §3.3).
	resp, err = http.Get(base + server.PathSSE)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if h := resp.Header.Get("WWW-Authenticate"); h != `Bearer resource_metadata="`+base+server.PathResourceMeta+server.PathSSE+`"` {
		t.Errorf("SSE 401: %q", h)
	}
	var prm map[string]any
	resp, err = http.Get(base + server.PathResourceMeta + server.PathSSE)
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&prm)
	resp.Body.Close()
	if prm["resource"] != base+server.PathSSE {
		t.Errorf("SSE metadata: %v", prm)
	}
	for _, u := range []string{base + server.PathResourceMeta, base + server.PathResourceMeta + server.PathMCP,
		base + "/.well-known/oauth-authorization-server/oidc", base + "/oidc/register"} {
		req, _ := http.NewRequest(http.MethodOptions, u, nil)
		req.Header.Set("Origin", "http://localhost:6274")
		req.Header.Set("Access-Control-Request-Method", "GET")
		req.Header.Set("Access-Control-Request-Headers", "mcp-protocol-version")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("preflight %s: %d %v", u, resp.StatusCode, resp.Header)
		}
	}
	var meta map[string]any
	resp, err = http.Get(base + "/.well-known/oauth-authorization-server/oidc")
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&meta)
	resp.Body.Close()
	if meta["issuer"] != base+"/oidc" || meta["registration_endpoint"] != base+"/oidc/register" ||
		fmt.Sprint(meta["code_challenge_methods_supported"]) != "[S256]" {
		t.Errorf("RFC 8414 metadata: %v", meta)
	}
}
