package server_test

import (
	"context"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/airlockhq/airlock/recorder"
	"github.com/airlockhq/airlock/server"
)

const declaredConfig = `
tools:
  - name: get_orders
    kind: sql
    connection: pg
    description: Orders of one row of t, by id.
    statement: SELECT id, amount FROM o WHERE t_id = $1 ORDER BY id LIMIT $2
    params:
      - {name: t_id, type: integer, minimum: 1, description: Row id}
      - {name: limit, type: integer, minimum: 1, maximum: 50, optional: true, default: 10}
  - name: find_by_value
    kind: sql
    connection: pg
    description: Rows of t with exactly this value.
    statement: SELECT id FROM t WHERE v = $1
    params:
      - {name: v, type: string, max_length: 100}
  - name: my_rows
    kind: sql
    connection: pg
    description: Your own rows.
    statement: SELECT id, note FROM owned WHERE owner = $1 ORDER BY id
    params:
      - {name: owner, from_claim: sub}
  - name: purge_row
    kind: sql
    connection: pg
    description: Delete one row of t.
    statement: DELETE FROM t WHERE id = $1 RETURNING id
    params:
      - {name: id, type: integer}
  - name: find_customer
    kind: sql
    connection: demo
    description: A demo customer's name.
    statement: SELECT name FROM customers WHERE id = $1
    params:
      - {name: id, type: integer}
rules:
  - {name: analysts-read, groups: [analysts], connections: [demo, pg], access: [read], effect: allow}
  - {name: writers, groups: [writers], connections: [pg], access: [read, write], effect: allow}
  - {name: narrow, groups: [narrow], connections: [pg], access: [read], effect: allow, tools: [get_orders]}
`

func toolNames(t *testing.T, c *client.Client) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	lt, err := c.ListTools(ctx, mcp.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tl := range lt.Tools {
		names = append(names, tl.Name)
	}
	slices.Sort(names)
	return names
}

func TestDeclaredSQLTools(t *testing.T) {
	e := newEnvWith(t, declaredConfig)
	ctx := context.Background()
	if _, err := e.pg.Exec(ctx, `CREATE TABLE owned (id int, owner text, note text);
		INSERT INTO owned VALUES (1, 'alice', 'a1'), (2, 'bob', 'b1'), (3, 'alice', 'a2')`); err != nil {
		t.Fatal(err)
	}
	_, base := e.start(t, server.Options{})
	alice := httpClient(t, "streamable-http", base, e.token(t, "alice", "analysts"))
	grant(t, alice, "pg", "read")
	grant(t, alice, "demo", "read")

	r := structured(t, callTool(t, alice, "get_orders", map[string]any{"t_id": 3, "limit": 2}))
	if r.RowCount != 2 || r.Columns[0] != "id" {
		t.Fatalf("get_orders: %+v", r)
	}
	if r := structured(t, callTool(t, alice, "find_customer", map[string]any{"id": 5})); r.RowCount != 1 {
		t.Fatalf("find_customer on SQLite: %+v", r)
	}
	// Injection through parameters is inert: values are bound, types are
	// checked.
	for _, args := range []map[string]any{
		{"t_id": "1 OR 1=1"}, {"t_id": 1.5}, {"t_id": 0}, {"t_id": 1, "limit": 1000}, {"t_id": 1, "extra": "x"},
	} {
		if res := callTool(t, alice, "get_orders", args); !res.IsError {
			t.Errorf("get_orders %v accepted: %s", args, text(res))
		}
	}
	if r := structured(t, callTool(t, alice, "find_by_value", map[string]any{"v": "x' OR '1'='1"})); r.RowCount != 0 {
		t.Errorf("injection returned rows: %+v", r)
	}
	if r := structured(t, callTool(t, alice, "find_by_value", map[string]any{"v": "row 4"})); r.RowCount != 1 {
		t.Errorf("find_by_value: %+v", r)
	}
	// A claim-bound parameter comes from the token; the agent cannot set it.
	r = structured(t, callTool(t, alice, "my_rows", map[string]any{}))
	if r.RowCount != 2 || r.Rows[0][1] != "a1" || r.Rows[1][1] != "a2" {
		t.Fatalf("my_rows for alice: %+v", r)
	}
	if res := callTool(t, alice, "my_rows", map[string]any{"owner": "bob"}); !res.IsError {
		t.Fatalf("agent overrode a claim-bound parameter: %s", text(res))
	}
	// A declared write is classified write at load and needs a write grant.
	if res := callTool(t, alice, "purge_row", map[string]any{"id": 5}); !res.IsError || !strings.Contains(text(res), "write") {
		t.Fatalf("analyst ran a write tool: %s", text(res))
	}
	wendy := httpClient(t, "streamable-http", base, e.token(t, "wendy", "writers"))
	if res := callTool(t, wendy, "purge_row", map[string]any{"id": 5}); !res.IsError {
		t.Fatalf("write without a write grant: %s", text(res))
	}
	if _, err := e.pg.Exec(ctx, "DELETE FROM o WHERE t_id = 5"); err != nil {
		t.Fatal(err)
	}
	grant(t, wendy, "pg", "write")
	if r := structured(t, callTool(t, wendy, "purge_row", map[string]any{"id": 5})); r.RowCount != 1 {
		t.Fatalf("purge_row: %+v", r)
	}
	// Declared tools are journaled like built-in ones.
	found := false
	for _, rec := range journal(t, e) {
		found = found || rec.Tool == "purge_row" && rec.Type == recorder.Finished && rec.Access == "write" && rec.Outcome == recorder.OutcomeOK
	}
	if !found {
		t.Error("purge_row not journaled as a write")
	}
}

// Two principals with different groups see different tools, and a hidden
// tool is refused when called anyway.
func TestToolListPerPrincipal(t *testing.T) {
	e := newEnvWith(t, declaredConfig)
	_, base := e.start(t, server.Options{})
	alice := httpClient(t, "streamable-http", base, e.token(t, "alice", "analysts"))
	nina := httpClient(t, "streamable-http", base, e.token(t, "nina", "narrow"))
	nobody := httpClient(t, "streamable-http", base, e.token(t, "olga", "marketing"))
	a, n, o := toolNames(t, alice), toolNames(t, nina), toolNames(t, nobody)
	access := []string{"access_status", "list_connections", "request_access"}
	if !slices.Contains(a, "query_db") || !slices.Contains(a, "get_orders") || !slices.Contains(a, "find_customer") || !slices.Contains(a, "purge_row") {
		t.Errorf("alice sees %v", a)
	}
	if want := append(slices.Clone(access), "get_orders"); !slices.Equal(n, sorted(want)) {
		t.Errorf("nina sees %v, want %v", n, sorted(want))
	}
	if !slices.Equal(o, access) {
		t.Errorf("olga sees %v", o)
	}
	grant(t, nina, "pg", "read")
	structured(t, callTool(t, nina, "get_orders", map[string]any{"t_id": 1}))
	if res := query(t, nina, "pg", "SELECT 1"); !res.IsError {
		t.Fatalf("hidden query_db ran for nina: %s", text(res))
	}
	// airlock tools shows the same view to operators.
	out, err := exec.Command(airlockBin, "tools", "--config", e.cfgPath, "--groups", "narrow").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "get_orders") || strings.Contains(string(out), "query_db") {
		t.Errorf("airlock tools --groups narrow: %v\n%s", err, out)
	}
}

func sorted(s []string) []string { slices.Sort(s); return s }

func TestDeclaredToolStatementCheckedAtLoad(t *testing.T) {
	e := newEnvWith(t, `
tools:
  - {name: two, kind: sql, connection: pg, description: d, statement: 'SELECT 1; DROP TABLE t'}
`)
	out, err := exec.Command(airlockBin, "check", "--config", e.cfgPath).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "tools.two.statement") {
		t.Fatalf("airlock check: %v\n%s", err, out)
	}
}
