package server_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/airlockhq/airlock/server"
)

func TestDeclaredHTTPTools(t *testing.T) {
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
  - name: customer_by_key
    kind: http
    connection: api
    description: One customer, by key.
    method: GET
    path: /customers/{key}
    params:
      - {name: key, type: string, max_length: 40}
  - name: my_customer
    kind: http
    connection: api
    description: Your own customer record.
    method: GET
    path: /customers/{me}
    params:
      - {name: me, from_claim: sub}
rules:
  - {name: analysts-read, groups: [analysts], connections: [api], access: [read], effect: allow}
`)
	_, base := e.start(t, server.Options{})
	alice := httpClient(t, "streamable-http", base, e.token(t, "alice", "analysts"))
	if names := toolNames(t, alice); !slices.Contains(names, "get_customer") || !slices.Contains(names, "my_customer") {
		t.Fatalf("tools/list: %v", names)
	}
	grant(t, alice, "api", "read")

	res := callTool(t, alice, "get_customer", map[string]any{"id": 42})
	if res.IsError {
		t.Fatalf("get_customer: %s", text(res))
	}
	s, _ := res.StructuredContent.(map[string]any)
	body, _ := s["body"].(map[string]any)
	if s["status"] != float64(200) || body["path"] != "/api/customers/42" || body["seen_auth"] != "[CREDENTIAL]" {
		t.Errorf("get_customer result: %v", s)
	}

	for _, args := range []map[string]any{{"key": "../admin"}, {"key": "1/2"}, {"key": ".."}} {
		if res := callTool(t, alice, "customer_by_key", args); !res.IsError {
			t.Errorf("customer_by_key %v was accepted: %s", args, text(res))
		}
	}
	if res := callTool(t, alice, "my_customer", map[string]any{"me": "bob"}); !res.IsError {
		t.Errorf("agent set a claim parameter: %s", text(res))
	}
	res = callTool(t, alice, "my_customer", map[string]any{})
	if res.IsError {
		t.Fatalf("my_customer: %s", text(res))
	}
	got := api.got()
	want := []string{"GET /api/customers/42 Bearer " + apiSecret, "GET /api/customers/alice Bearer " + apiSecret}
	if !slices.Equal(got, want) {
		t.Errorf("target saw %v, want %v", got, want)
	}
	if strings.Contains(text(res), apiSecret) {
		t.Errorf("credential leaked: %s", text(res))
	}
}
