package upstream_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/airlockhq/airlock/internal/pgtest"
	"github.com/airlockhq/airlock/recorder"
)

// npmServer is the entry point of a pinned npm MCP server installed by
// scripts/npm-interop.sh (make test). Missing is a failure, not a skip.
func npmServer(t *testing.T, pkg string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("testdata", "npm", "node_modules", "@modelcontextprotocol", pkg, "dist", "index.js"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s is not installed: run `bash scripts/npm-interop.sh` (make test does): %v", pkg, err)
	}
	return p
}

// baseDSN is the test server's DSN without the search_path pgtest adds
// (node-postgres does not read it); tables are schema-qualified instead.
func baseDSN(t *testing.T, dsn string) (string, string) {
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	schema := q.Get("search_path")
	q.Del("search_path")
	q.Del("sslmode")
	u.RawQuery = q.Encode()
	return u.String(), schema
}

func TestUpstreamServerPostgres(t *testing.T) {
	dsn, pool := pgtest.Schema(t)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `CREATE TABLE customers (id int PRIMARY KEY, email text, card text);
INSERT INTO customers VALUES (1, 'ada@example.com', '4111 1111 1111 1111'), (2, 'bob@example.org', '5555 5555 5555 4444');
CREATE TABLE victims (id int); CREATE TABLE victims_direct (id int);`); err != nil {
		t.Fatal(err)
	}
	upDSN, schema := baseDSN(t, dsn)
	index := npmServer(t, "server-postgres")
	e := newEnv(t, fmt.Sprintf(`
  pgup:
    kind: mcp
    mcp:
      command: [node, %q, %q]
      accept_new: true
      tools:
        - {match: query, access: read, sql: sql}
`, index, upDSN))
	g, base := e.start(t)
	c := e.client(t, base, "ana", "analysts")

	q := func(sql string) *mcp.CallToolResult { return call(t, c, "pgup_query", map[string]any{"sql": sql}) }
	// The gateway's grant applies.
	if res := q("SELECT 1"); !res.IsError || !strings.Contains(resultText(res), "no active grant") {
		t.Fatalf("without a grant: %s", resultText(res))
	}
	grant(t, c, "pgup", "read")
	res := q(fmt.Sprintf("SELECT id, email, card FROM %s.customers ORDER BY id", schema))
	if res.IsError {
		t.Fatalf("query: %s", resultText(res))
	}
	b, _ := json.Marshal(res)
	for _, s := range []string{"ada@example.com", "4111 1111 1111 1111", "bob@example.org"} {
		if strings.Contains(string(b), s) {
			t.Errorf("unmasked %q reached the agent: %s", s, b)
		}
	}
	r := finished(t, g, "pgup_query")
	if r.Outcome != recorder.OutcomeOK || r.Access != "read" || !strings.Contains(strings.Join(r.Resources, ","), "customers") || strings.Contains(string(r.Result), "ada@example.com") {
		t.Errorf("journal: %+v %s", r, r.Result)
	}

	// The classic escape from the upstream's READ ONLY transaction: the
	// upstream alone runs it (shown below, directly); Airlock's own SQL
	// classification of the declared sql argument refuses it.
	attack := fmt.Sprintf("COMMIT; DROP TABLE %s.victims", schema)
	res = q(attack)
	if !res.IsError || !strings.Contains(resultText(res), "exactly one statement") {
		t.Fatalf("attack: %s", resultText(res))
	}
	if r := finished(t, g, "pgup_query"); r.Outcome != recorder.OutcomeInvalid {
		t.Errorf("attack journaled as %s", r.Outcome)
	}
	res = q(fmt.Sprintf("DROP TABLE %s.victims", schema))
	if !res.IsError || !strings.Contains(resultText(res), "denied") {
		t.Fatalf("a single DROP under a read grant: %s", resultText(res))
	}
	if r := finished(t, g, "pgup_query"); r.Access == "read" {
		t.Errorf("DROP classified %s", r.Access)
	}
	var n int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE schemaname = $1 AND tablename = 'victims'", schema).Scan(&n); err != nil || n != 1 {
		t.Fatalf("victims dropped through Airlock: %d %v", n, err)
	}

	// The same attack straight at the upstream, without Airlock.
	direct, err := client.NewStdioMCPClient("node", nil, index, upDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close()
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = mcp.LATEST_PROTOCOL_VERSION
	if _, err := direct.Initialize(dctx, init); err != nil {
		t.Fatal(err)
	}
	req := mcp.CallToolRequest{}
	req.Params.Name = "query"
	req.Params.Arguments = map[string]any{"sql": fmt.Sprintf("COMMIT; DROP TABLE %s.victims_direct", schema)}
	_, _ = direct.CallTool(dctx, req)
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE schemaname = $1 AND tablename = 'victims_direct'", schema).Scan(&n); err != nil || n != 0 {
		t.Fatalf("the upstream alone did not run the attack (%d, %v): the test no longer shows what Airlock stops", n, err)
	}
}

func TestUpstreamServerEverything(t *testing.T) {
	index := npmServer(t, "server-everything")
	log := filepath.Join(t.TempDir(), "to-upstream.jsonl")
	// tee records what the gateway sends the upstream, to see the
	// notifications/cancelled arrive.
	e := newEnv(t, fmt.Sprintf(`
  every:
    kind: mcp
    mcp:
      command: [sh, -c, 'tee -a "$TO_UPSTREAM" | exec node "$INDEX" stdio']
      env:
        TO_UPSTREAM: {env: TO_UPSTREAM}
        INDEX: {env: EVERYTHING_INDEX}
      accept_new: true
      resources: true
      timeout: 60s
      tools:
        - {match: trigger-long-running-operation, access: read, alias: every_long_op}
        - {match: get-tiny-image, access: read}
        - {match: echo, access: read}
  every_media:
    kind: mcp
    mcp:
      command: [node, %q, stdio]
      accept_new: true
      allow_media: true
      tools:
        - {match: get-tiny-image, access: read}
`, index))
	t.Setenv("TO_UPSTREAM", log)
	t.Setenv("EVERYTHING_INDEX", index)
	_ = e
	// Env refs resolve when the gateway starts the process.
	g, base := e.start(t)
	c := e.client(t, base, "ana", "analysts")
	grant(t, c, "every", "read")
	grant(t, c, "every_media", "read")

	// Progress from the upstream reaches the agent.
	var mu sync.Mutex
	var progress []float64
	c.OnNotification(func(n mcp.JSONRPCNotification) {
		if n.Method == "notifications/progress" {
			p, _ := n.Params.AdditionalFields["progress"].(float64)
			mu.Lock()
			progress = append(progress, p)
			mu.Unlock()
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req := mcp.CallToolRequest{}
	req.Params.Name = "every_long_op"
	req.Params.Arguments = map[string]any{"duration": 1.5, "steps": 3}
	req.Params.Meta = &mcp.Meta{ProgressToken: "agent-1"}
	res, err := c.CallTool(ctx, req)
	if err != nil || res.IsError {
		t.Fatalf("long op: %v %s", err, resultText(res))
	}
	mu.Lock()
	got := len(progress)
	mu.Unlock()
	if got < 3 {
		t.Errorf("progress relayed: %v", progress)
	}

	// An image is dropped by default, passed where the connection allows.
	res = call(t, c, "every_get-tiny-image", map[string]any{})
	for _, ct := range res.Content {
		if _, ok := ct.(mcp.ImageContent); ok {
			t.Fatal("image passed without allow_media")
		}
	}
	res = call(t, c, "every_media_get-tiny-image", map[string]any{})
	images := 0
	for _, ct := range res.Content {
		if _, ok := ct.(mcp.ImageContent); ok {
			images++
		}
	}
	if res.IsError || images != 1 {
		t.Fatalf("allowed image: %d %s", images, resultText(res))
	}

	// Cancellation: the agent gives up; the gateway tells the upstream.
	cctx, ccancel := context.WithCancel(context.Background())
	req.Params.Arguments = map[string]any{"duration": 30, "steps": 30}
	req.Params.Meta = &mcp.Meta{ProgressToken: "agent-2"}
	done := make(chan struct{})
	go func() { defer close(done); _, _ = c.CallTool(cctx, req) }()
	waitFor(t, "the long call to start", func() bool {
		b, _ := os.ReadFile(log)
		return strings.Count(string(b), "trigger-long-running-operation") >= 2
	})
	time.Sleep(300 * time.Millisecond)
	ccancel()
	<-done
	waitFor(t, "notifications/cancelled at the upstream", func() bool {
		b, _ := os.ReadFile(log)
		return strings.Contains(string(b), "notifications/cancelled")
	})
	waitFor(t, "the cancelled call's journal record", func() bool {
		r := finished(t, g, "every_long_op")
		return r.Outcome == recorder.OutcomeError && strings.Contains(r.Error, "cancelled")
	})
	// Resources are off by default; where enabled, a read is a read call.
	if _, ok := toolNames(t, c)["every_media_read_resource"]; ok {
		t.Error("resources offered without resources: true")
	}
	res = call(t, c, "every_read_resource", map[string]any{"uri": "demo://resource/dynamic/text/1"})
	if res.IsError || !strings.Contains(resultText(res), "1") {
		t.Fatalf("read_resource: %s", resultText(res))
	}
	if r := finished(t, g, "every_read_resource"); r.Access != "read" || r.Outcome != recorder.OutcomeOK {
		t.Errorf("resource read journaled as %s %s", r.Access, r.Outcome)
	}
	res = call(t, c, "every_read_resource", map[string]any{"uri": "demo://resource/dynamic/blob/1"})
	if b, _ := json.Marshal(res.StructuredContent); res.IsError || !strings.Contains(string(b), "binary resource dropped") {
		t.Fatalf("blob: %s", b)
	}

	// The upstream still serves.
	if res := call(t, c, "every_echo", map[string]any{"message": "still here"}); res.IsError || !strings.Contains(resultText(res), "still here") {
		t.Fatalf("echo after cancel: %s", resultText(res))
	}
}
