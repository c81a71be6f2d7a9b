package server_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/airlockhq/airlock/identity"
	"github.com/airlockhq/airlock/recorder"
	"github.com/airlockhq/airlock/server"
)

// A stdio gateway resolves its context once per process; the token must
// still be checked at every call. One call before and two after the
// token's expiry on the same stdio session of a real gateway process: the
// later ones (a query and request_access) are refused and journaled as
// denied under the subject the token named.
func TestStdioTokenExpiresMidSession(t *testing.T) {
	e := newEnv(t)
	tok, err := e.dev.Mint(identity.MintOptions{Subject: "alice", Groups: []string{"analysts"}, Audience: e.cfg.Identity.Audience, TTL: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	minted := time.Now()
	c := stdioClient(t, e, tok)
	grant(t, c, "demo", "read")
	if res := query(t, c, "demo", "SELECT 1 AS one"); res.IsError {
		t.Fatalf("before expiry: %s", text(res))
	}
	// exp is whole seconds: wait past it, bounded.
	time.Sleep(time.Until(minted.Add(4200 * time.Millisecond)))

	res := query(t, c, "demo", "SELECT 1 AS one")
	if !res.IsError || !strings.Contains(text(res), "token expired") {
		t.Fatalf("query after expiry: error=%v %s", res.IsError, text(res))
	}
	res = callTool(t, c, "request_access", map[string]any{"connection": "pg", "access": "read", "duration": "10m", "reason": "after expiry"})
	if !res.IsError || !strings.Contains(text(res), "token expired") {
		t.Fatalf("request_access after expiry: error=%v %s", res.IsError, text(res))
	}

	denied := map[string]bool{}
	for _, r := range journal(t, e) {
		if r.Type == recorder.Finished && r.Outcome == recorder.OutcomeDenied && r.Transport == "stdio" {
			if r.Principal == nil || r.Principal.Subject != "alice" {
				t.Errorf("denied record without the token's subject: %+v", r.Principal)
			}
			if !strings.Contains(r.Error, "token expired") {
				t.Errorf("denied record's error: %q", r.Error)
			}
			denied[r.Tool] = true
		}
	}
	if !denied["query_db"] || !denied["request_access"] {
		t.Errorf("journaled denials: %v, want query_db and request_access", denied)
	}
	if n := countCalls(journal(t, e), "request_access"); n != 2 {
		t.Errorf("request_access calls journaled complete: %d, want 2", n)
	}
}

// A wrong audience or issuer is logged for the operator with what was
// expected and what the token said; the caller's 401 keeps a short reason;
// the token is never logged.
func TestWrongAudienceLoggedWithCause(t *testing.T) {
	e := newEnv(t)
	var logs syncBuffer
	_, base := e.start(t, server.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	tok, err := e.dev.Mint(identity.MintOptions{Subject: "alice", Audience: "grafana"})
	if err != nil {
		t.Fatal(err)
	}
	resp := post(t, base+server.PathMCP, tok)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if h := resp.Header.Get("WWW-Authenticate"); !strings.Contains(h, "token audience is not this gateway") || strings.Contains(h, "grafana") {
		t.Errorf("WWW-Authenticate: %s", h)
	}
	out := logs.String()
	if !strings.Contains(out, `expected audience \"`+e.cfg.Identity.Audience+`\"`) || !strings.Contains(out, "grafana") {
		t.Errorf("log lacks expected vs received audience:\n%s", out)
	}
	for _, part := range strings.Split(tok, ".") {
		if strings.Contains(out, part) {
			t.Errorf("log holds the token:\n%s", out)
		}
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Over SSE and streamable HTTP every request carries its token: after
// expiry a call on the same session is refused, and an SSE stream opened
// with the token ends with it.
func TestHTTPTokenExpiresMidSession(t *testing.T) {
	e := newEnv(t)
	g, base := e.start(t, server.Options{})
	for _, kind := range []string{"sse", "streamable-http"} {
		t.Run(kind, func(t *testing.T) {
			tok, err := e.dev.Mint(identity.MintOptions{Subject: "alice", Groups: []string{"analysts"}, Audience: e.cfg.Identity.Audience, TTL: 3 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			minted := time.Now()
			c := httpClient(t, kind, base, tok)
			if res := callTool(t, c, "list_connections", map[string]any{}); res.IsError {
				t.Fatalf("before expiry: %s", text(res))
			}
			time.Sleep(time.Until(minted.Add(4200 * time.Millisecond)))
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			req := mcp.CallToolRequest{}
			req.Params.Name = "list_connections"
			if res, err := c.CallTool(ctx, req); err == nil && !res.IsError {
				t.Fatalf("call after expiry answered: %s", text(res))
			}
		})
	}
	// The SSE stream ended with its token: no session is left.
	for range 100 {
		if tracked, _ := g.SessionCounts(); tracked <= 1 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if tracked, _ := g.SessionCounts(); tracked > 1 {
		t.Errorf("%d sessions left after their tokens expired; want at most the streamable one", tracked)
	}
}
