package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/airlockhq/airlock/server"
)

// Every schema tools/list sends uses a single string "type" (anyOf where a
// value may take several), never an array of types: Gemini's function
// declarations and other clients' schema dialects refuse `"type": [...]`.
// The config exposes every built-in tool kind and a declared tool.
func TestToolSchemasUseNoTypeArrays(t *testing.T) {
	t.Setenv("AIRLOCK_TEST_API_TOKEN", apiSecret)
	api := newAPITarget(t)
	e := newEnvWith(t, httpConnYAML(api.URL+"/api")+`
tools:
  - name: get_customer
    kind: http
    connection: api
    description: One customer, by id.
    method: GET
    path: /customers/{id}
    params:
      - {name: id, type: integer, minimum: 1}
rules:
  - {name: all, groups: [everyone], connections: ["*"], access: [read, write, ddl, admin], effect: allow}
`)
	_, base := e.start(t, server.Options{})
	c := httpClient(t, "streamable-http", base, e.token(t, "alice", "everyone"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	lt, err := c.ListTools(ctx, mcp.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, tl := range lt.Tools {
		seen[tl.Name] = true
		raw, err := json.Marshal(tl)
		if err != nil {
			t.Fatal(err)
		}
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			t.Fatal(err)
		}
		for _, key := range []string{"inputSchema", "outputSchema"} {
			if s, ok := v.(map[string]any)[key]; ok {
				for _, bad := range typeArrays(s, tl.Name+"."+key) {
					t.Errorf("%s", bad)
				}
			}
		}
	}
	for _, want := range []string{"query_db", "http_request", "request_access", "access_status", "list_connections", "get_customer"} {
		if !seen[want] {
			t.Errorf("tools/list lacks %s (the walk would not cover it): %v", want, seen)
		}
	}
}

// typeArrays returns the path of every "type" member whose value is not a
// string, anywhere in v.
func typeArrays(v any, path string) []string {
	var out []string
	switch x := v.(type) {
	case map[string]any:
		for k, sub := range x {
			if k == "type" {
				if _, ok := sub.(string); !ok {
					out = append(out, fmt.Sprintf("%s.type is %v, want one type name (use anyOf)", path, sub))
				}
				continue
			}
			out = append(out, typeArrays(sub, path+"."+k)...)
		}
	case []any:
		for i, sub := range x {
			out = append(out, typeArrays(sub, fmt.Sprintf("%s[%d]", path, i))...)
		}
	}
	return out
}
