package server_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/airlockhq/airlock/server"
)

// Two principals on one gateway: each sees, in tool schemas, descriptions,
// list_connections and errors, only the connections some rule could grant
// it; a connection it may not see reads exactly like one that does not
// exist.
func TestPrincipalsSeeOnlyTheirConnections(t *testing.T) {
	e := newEnv(t) // analysts: demo and pg; writers: pg only
	_, base := e.start(t, server.Options{})
	alice := httpClient(t, "streamable-http", base, e.token(t, "alice", "analysts"))
	wendy := httpClient(t, "streamable-http", base, e.token(t, "wendy", "writers"))

	type seen struct {
		enums map[string][]string // tool → connection enum
		text  string              // every description and schema
	}
	look := func(c interface {
		ListTools(context.Context, mcp.ListToolsRequest) (*mcp.ListToolsResult, error)
	}) seen {
		lt, err := c.ListTools(context.Background(), mcp.ListToolsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		s := seen{enums: map[string][]string{}}
		all, _ := json.Marshal(lt.Tools)
		s.text = string(all)
		for _, tool := range lt.Tools {
			raw, _ := json.Marshal(tool)
			var d struct {
				InputSchema struct {
					Properties struct {
						Connection struct {
							Enum []string `json:"enum"`
						} `json:"connection"`
					} `json:"properties"`
				} `json:"inputSchema"`
			}
			json.Unmarshal(raw, &d)
			if e := d.InputSchema.Properties.Connection.Enum; e != nil {
				s.enums[tool.Name] = e
			}
		}
		return s
	}
	a, w := look(alice), look(wendy)
	for _, tool := range []string{"query_db", "request_access"} {
		if got := a.enums[tool]; !slices.Equal(got, []string{"demo", "pg"}) {
			t.Errorf("alice's %s enum = %v, want [demo pg]", tool, got)
		}
		if got := w.enums[tool]; !slices.Equal(got, []string{"pg"}) {
			t.Errorf("wendy's %s enum = %v, want [pg]", tool, got)
		}
	}
	if strings.Contains(w.text, "demo") || strings.Contains(w.text, "Demo shop") {
		t.Errorf("wendy's tools/list names the demo connection: %s", w.text)
	}
	if !strings.Contains(a.text, "Demo shop") {
		t.Errorf("alice's tools/list lost the demo description")
	}

	// list_connections
	lc := text(callTool(t, wendy, "list_connections", map[string]any{}))
	if strings.Contains(lc, "demo") || !strings.Contains(lc, `"pg"`) {
		t.Errorf("wendy's list_connections: %s", lc)
	}

	// Errors: a hidden connection reads like a made-up one.
	same := func(what string, hidden, madeUp *mcp.CallToolResult) {
		t.Helper()
		h := strings.ReplaceAll(text(hidden), "demo", "X")
		m := strings.ReplaceAll(text(madeUp), "nope", "X")
		if !hidden.IsError || h != m {
			t.Errorf("%s: hidden connection answers %q, unknown one %q", what, text(hidden), text(madeUp))
		}
		if strings.Contains(text(madeUp), "pg") || strings.Contains(text(hidden), "pg") {
			t.Errorf("%s: the error lists other connections: %q", what, text(hidden))
		}
	}
	same("request_access",
		callTool(t, wendy, "request_access", map[string]any{"connection": "demo", "access": "read", "reason": "r"}),
		callTool(t, wendy, "request_access", map[string]any{"connection": "nope", "access": "read", "reason": "r"}))
	same("query_db", query(t, wendy, "demo", "SELECT 1"), query(t, wendy, "nope", "SELECT 1"))
	// Alice may still ask for demo.
	if res := callTool(t, alice, "request_access", map[string]any{"connection": "demo", "access": "read", "reason": "r"}); res.IsError {
		t.Errorf("alice's request for demo: %s", text(res))
	}
}
