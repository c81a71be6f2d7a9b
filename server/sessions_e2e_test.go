package server_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/airlockhq/airlock/recorder"
	"github.com/airlockhq/airlock/server"
)

const initBody = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}`

// mcpHTTP sends one raw streamable HTTP request (legacy protocol, so
// sessions apply) and returns the response with its body read.
func mcpHTTP(t *testing.T, method, url, token, session, body string) (*http.Response, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, url, rd)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Authorization", "Bearer "+token)
	if session != "" {
		req.Header.Set("Mcp-Session-Id", session)
		req.Header.Set("Mcp-Protocol-Version", "2025-06-18")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	// A GET stream never ends: read only what is already there.
	var b []byte
	if method != http.MethodGet || resp.StatusCode != http.StatusOK {
		b, _ = io.ReadAll(resp.Body)
	}
	resp.Body.Close()
	return resp, string(b)
}

// initSession initializes a streamable HTTP session and returns its id.
func initSession(t *testing.T, base, token string) string {
	t.Helper()
	resp, body := mcpHTTP(t, http.MethodPost, base+server.PathMCP, token, "", initBody)
	id := resp.Header.Get("Mcp-Session-Id")
	if resp.StatusCode != http.StatusOK || id == "" {
		t.Fatalf("initialize: %d %q %s", resp.StatusCode, id, body)
	}
	return id
}

const pingBody = `{"jsonrpc":"2.0","id":2,"method":"ping"}`

// A session is bound to the principal that initialized it: anyone else
// who holds its id gets 404 on POST, GET and DELETE (streamable HTTP) and
// on /message (SSE); a session id the gateway never issued is refused.
func TestSessionsBoundToPrincipal(t *testing.T) {
	e := newEnv(t)
	_, base := e.start(t, server.Options{})
	alice, mallory := e.token(t, "alice", "analysts"), e.token(t, "mallory", "analysts")
	u := base + server.PathMCP
	sid := initSession(t, base, alice)

	if r, b := mcpHTTP(t, http.MethodPost, u, alice, sid, pingBody); r.StatusCode != http.StatusOK {
		t.Fatalf("owner's ping: %d %s", r.StatusCode, b)
	}
	cancel := `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":7}}`
	call := `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"list_connections","arguments":{}}}`
	for _, c := range []struct{ name, method, body string }{
		{"ping", http.MethodPost, pingBody},
		{"cancel", http.MethodPost, cancel},
		{"call", http.MethodPost, call},
		{"GET stream", http.MethodGet, ""},
		{"DELETE", http.MethodDelete, ""},
	} {
		if r, b := mcpHTTP(t, c.method, u, mallory, sid, c.body); r.StatusCode != http.StatusNotFound {
			t.Errorf("another principal's %s on the owner's session: %d %s", c.name, r.StatusCode, b)
		}
	}
	// Made-up ids, well-formed for mcp-go's own managers, are refused.
	for _, fake := range []string{"mcp-session-1b4e28ba-2fa1-11d2-883f-0016d3cca427", "airlock-" + strings.Repeat("ab", 24)} {
		if r, _ := mcpHTTP(t, http.MethodPost, u, alice, fake, call); r.StatusCode != http.StatusNotFound {
			t.Errorf("made-up session %s: %d", fake, r.StatusCode)
		}
		if r, _ := mcpHTTP(t, http.MethodGet, u, alice, fake, ""); r.StatusCode != http.StatusNotFound {
			t.Errorf("GET on made-up session %s: %d", fake, r.StatusCode)
		}
	}
	// The owner's session survived the attempts.
	if r, b := mcpHTTP(t, http.MethodPost, u, alice, sid, call); r.StatusCode != http.StatusOK {
		t.Fatalf("owner's call after the attempts: %d %s", r.StatusCode, b)
	}
	for _, rec := range journal(t, e) {
		if rec.Type == recorder.Started && rec.Session == sid && rec.Principal.Subject != "alice" {
			t.Errorf("call by %s journaled under alice's session", rec.Principal.Subject)
		}
	}
	if r, _ := mcpHTTP(t, http.MethodDelete, u, alice, sid, ""); r.StatusCode != http.StatusOK {
		t.Errorf("owner's DELETE: %d", r.StatusCode)
	}
	if r, _ := mcpHTTP(t, http.MethodPost, u, alice, sid, pingBody); r.StatusCode != http.StatusNotFound {
		t.Errorf("ping after DELETE: %d", r.StatusCode)
	}

	// SSE: the message endpoint of alice's stream refuses mallory.
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+server.PathSSE, nil)
	req.Header.Set("Authorization", "Bearer "+alice)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	var endpoint string
	for i := 0; i < 10 && sc.Scan(); i++ {
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			endpoint = strings.TrimSpace(d)
			break
		}
	}
	if !strings.Contains(endpoint, "sessionId=") {
		t.Fatalf("no endpoint event: %q", endpoint)
	}
	post := func(token, url string) int {
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(initBody))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		return r.StatusCode
	}
	if code := post(mallory, base+endpoint); code != http.StatusNotFound {
		t.Errorf("another principal's SSE message: %d", code)
	}
	if code := post(alice, base+server.PathMessage+"?sessionId=airlock-"+strings.Repeat("cd", 24)); code != http.StatusNotFound {
		t.Errorf("SSE message to a made-up session: %d", code)
	}
	if code := post(alice, base+endpoint); code != http.StatusAccepted {
		t.Errorf("owner's SSE message: %d", code)
	}
}

// Sessions are bounded per principal (the least recently used one is
// closed) and end when idle, in the gateway's table and in mcp-go's.
func TestSessionsBounded(t *testing.T) {
	e := newEnv(t)
	e.cfg.Server.MaxSessionsPerPrincipal = 4
	g, base := e.start(t, server.Options{})
	alice, bob := e.token(t, "alice", "analysts"), e.token(t, "bob", "analysts")
	var bobs []string
	for range 3 {
		bobs = append(bobs, initSession(t, base, bob))
	}
	var ids []string
	for i := range 200 {
		ids = append(ids, initSession(t, base, alice))
		if tracked, registered := g.SessionCounts(); tracked > 4+3 || registered > 4+3 {
			t.Fatalf("after %d initializations: %d sessions tracked, %d held by mcp-go; want at most 7", i+1, tracked, registered)
		}
	}
	u := base + server.PathMCP
	if r, _ := mcpHTTP(t, http.MethodPost, u, alice, ids[0], pingBody); r.StatusCode != http.StatusNotFound {
		t.Errorf("oldest session still open: %d", r.StatusCode)
	}
	for _, id := range append(ids[len(ids)-4:], bobs...) {
		tok := alice
		if strings.Contains(strings.Join(bobs, " "), id) {
			tok = bob
		}
		if r, b := mcpHTTP(t, http.MethodPost, u, tok, id, pingBody); r.StatusCode != http.StatusOK {
			t.Errorf("recent session %s: %d %s", id, r.StatusCode, b)
		}
	}
}

func TestSessionsIdleTimeout(t *testing.T) {
	e := newEnv(t)
	e.cfg.Server.SessionIdleTimeout = 500 * time.Millisecond
	g, base := e.start(t, server.Options{})
	tok := e.token(t, "alice", "analysts")
	for range 5 {
		initSession(t, base, tok)
	}
	c := httpClient(t, "sse", base, tok)
	if tracked, registered := g.SessionCounts(); tracked != 6 || registered != 6 {
		t.Fatalf("sessions: %d tracked, %d in mcp-go; want 6", tracked, registered)
	}
	for range 200 {
		if tracked, registered := g.SessionCounts(); tracked == 0 && registered == 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if tracked, registered := g.SessionCounts(); tracked != 0 || registered != 0 {
		t.Fatalf("idle sessions not freed: %d tracked, %d in mcp-go", tracked, registered)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.ListTools(ctx, mcp.ListToolsRequest{}); err == nil {
		t.Error("an idle SSE session still answers")
	}
}
