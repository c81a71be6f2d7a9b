package server_test

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	_ "modernc.org/sqlite"

	"github.com/airlockhq/airlock/recorder"
	"github.com/airlockhq/airlock/server"
)

// The statements of the foundation's acceptance list are refused before
// they reach the database, and the database shows no effect.
func TestDangerousStatementsRefused(t *testing.T) {
	e := newEnv(t)
	_, base := e.start(t, server.Options{})
	c := httpClient(t, "streamable-http", base, e.token(t, "alice", "analysts"))
	grant(t, c, "pg", "read")
	stmts := []string{
		"SELECT 1; DROP TABLE t",
		"COMMIT; DROP SCHEMA public CASCADE",
		"END; TRUNCATE t",
		"/* x */ DELETE FROM t",
		"WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
		"SELECT * INTO t2 FROM t",
		"SELECT * FROM t FOR UPDATE",
		"EXPLAIN ANALYZE DELETE FROM t",
		"SELECT * FROM pg_read_file('/etc/passwd')",
		"SELECT pg_catalog.pg_sleep(10)",
		"DO $$BEGIN EXECUTE 'DROP TABLE t'; END$$",
		"SET transaction_read_only = off",
		"COPY (SELECT 1) TO PROGRAM 'id'",
	}
	for _, s := range stmts {
		res := query(t, c, "pg", s)
		if !res.IsError {
			t.Errorf("%q was not refused: %s", s, text(res))
		}
	}
	// Nothing executed: each call's finished record is a refusal that
	// never reached execute (denied by policy or invalid).
	recs := journal(t, e)
	n := 0
	for _, r := range recs {
		if r.Type != recorder.Finished || r.Tool != "query_db" {
			continue
		}
		n++
		if r.Outcome != recorder.OutcomeDenied && r.Outcome != recorder.OutcomeInvalid {
			t.Errorf("call %s (%s): outcome %s", r.CallID, r.Arguments, r.Outcome)
		}
	}
	if n != len(stmts) {
		t.Errorf("%d finished records for %d calls", n, len(stmts))
	}
	ctx := context.Background()
	var rows int
	if err := e.pg.QueryRow(ctx, "SELECT count(*) FROM t").Scan(&rows); err != nil || rows != 20 {
		t.Errorf("table t: %d rows, %v", rows, err)
	}
	var t2, public bool
	e.pg.QueryRow(ctx, "SELECT to_regclass('t2') IS NOT NULL").Scan(&t2)
	e.pg.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'public')").Scan(&public)
	if t2 || !public {
		t.Errorf("t2 exists: %v; public exists: %v", t2, public)
	}
}

func TestOrdinaryReads(t *testing.T) {
	e := newEnv(t)
	_, base := e.start(t, server.Options{})
	c := httpClient(t, "streamable-http", base, e.token(t, "alice", "analysts"))
	grant(t, c, "pg", "read")
	cases := []struct {
		sql    string
		params []any
		rows   int
	}{
		{"SELECT t.id, sum(o.amount) AS total FROM t JOIN o ON o.t_id = t.id GROUP BY t.id ORDER BY t.id", nil, 20},
		{"WITH big AS (SELECT * FROM o WHERE amount > $1) SELECT count(*) FROM big", []any{100}, 1},
		{"SELECT id, rank() OVER (PARTITION BY t_id ORDER BY amount DESC) FROM o", nil, 100},
		{"SELECT t_id, count(*), avg(amount), max(amount) FROM o GROUP BY t_id HAVING count(*) > 2", nil, 20},
		{"EXPLAIN SELECT * FROM t WHERE id = 1", nil, -1},
		{"SELECT v FROM t WHERE id = ANY($1::int[])", []any{"{1,2,3}"}, 3},
		{"VALUES (1, 'a'), (2, 'b')", nil, 2},
		{"SHOW server_version", nil, 1},
	}
	for _, tc := range cases {
		r := structured(t, query(t, c, "pg", tc.sql, tc.params...))
		if tc.rows >= 0 && r.RowCount != tc.rows {
			t.Errorf("%s: %d rows, want %d", tc.sql, r.RowCount, tc.rows)
		}
		if tc.rows < 0 && r.RowCount == 0 {
			t.Errorf("%s: no rows", tc.sql)
		}
	}
}

// Ten million rows come back as max_rows rows, truncated, without the
// process growing by more than a few tens of MB.
func TestHugeResultIsCapped(t *testing.T) {
	e := newEnv(t)
	_, base := e.start(t, server.Options{})
	c := httpClient(t, "streamable-http", base, e.token(t, "alice", "analysts"))
	grant(t, c, "pg", "read")
	runtime.GC()
	before := rssBytes(t)
	start := time.Now()
	r := structured(t, query(t, c, "pg", "SELECT g, md5(g::text) FROM generate_series(1, 10000000) g"))
	elapsed := time.Since(start)
	after := rssBytes(t)
	if r.RowCount != e.cfg.Limits.MaxRows || !r.Truncated {
		t.Fatalf("rows=%d truncated=%v", r.RowCount, r.Truncated)
	}
	grew := (after - before) >> 20
	t.Logf("10M-row query: %d rows returned in %v; RSS grew %d MiB", r.RowCount, elapsed, grew)
	if grew > 48 {
		t.Errorf("RSS grew by %d MiB", grew)
	}
}

func rssBytes(t *testing.T) int64 {
	t.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// With the store unwritable (another process holds its write lock past the
// busy timeout), calls are refused and nothing executes.
func TestStoreUnwritableRefusesCalls(t *testing.T) {
	e := newEnv(t)
	_, base := e.start(t, server.Options{})
	c := httpClient(t, "streamable-http", base, e.token(t, "wendy", "writers"))
	grant(t, c, "pg", "write")
	structured(t, query(t, c, "pg", "SELECT 1")) // store works

	db, err := sql.Open("sqlite", "file:"+strings.TrimPrefix(e.cfg.Store, "sqlite:"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "BEGIN EXCLUSIVE"); err != nil {
		t.Fatal(err)
	}
	req := callReq("pg", "INSERT INTO t VALUES (999, 'should not exist')")
	cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	res, err := c.CallTool(cctx, req)
	if err == nil && !res.IsError {
		t.Fatalf("call ran with the store locked: %s", text(res))
	}
	if err == nil || !strings.Contains(err.Error(), "journal unavailable") {
		t.Errorf("want a journal-unavailable error, got %v", err)
	}
	conn.ExecContext(ctx, "ROLLBACK")
	conn.Close()
	var n int
	if err := e.pg.QueryRow(ctx, "SELECT count(*) FROM t WHERE id = 999").Scan(&n); err != nil || n != 0 {
		t.Fatalf("the INSERT executed (%d rows, %v)", n, err)
	}
	// And the store recovers.
	structured(t, query(t, c, "pg", "INSERT INTO t VALUES (1000, 'ok') RETURNING id"))
}

// An MCP client nobody here wrote — the official TypeScript SDK — over
// streamable HTTP and stdio.
func TestInteropTypeScriptSDK(t *testing.T) {
	dir, _ := filepath.Abs("testdata/interop")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@modelcontextprotocol", "sdk")); err != nil {
		install := exec.Command("bash", "../scripts/npm-interop.sh")
		if out, err := install.CombinedOutput(); err != nil {
			t.Fatalf("installing the TypeScript SDK for interop tests failed (node and npm are required): %v\n%s", err, out)
		}
	}
	e := newEnv(t)
	_, base := e.start(t, server.Options{})
	tok := e.token(t, "ts-agent", "analysts")
	runs := map[string][]string{
		"streamable-http": {"http", base + server.PathMCP, tok},
		"stdio":           {"stdio", airlockBin, "serve", "--stdio", "--config", e.cfgPath},
	}
	for name, args := range runs {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, "node", append([]string{filepath.Join(dir, "client.mjs")}, args...)...)
			cmd.Env = append(os.Environ(), "AIRLOCK_TOKEN="+tok, "INTEROP_CONNECTION=demo",
				"INTEROP_SQL=SELECT count(*) AS n FROM orders")
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("node client: %v\n%s", err, stderr.String())
			}
			var got struct {
				Tools  []string `json:"tools"`
				Result struct {
					IsError           bool `json:"isError"`
					StructuredContent rows `json:"structuredContent"`
				} `json:"result"`
			}
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatalf("output %q: %v", out, err)
			}
			if !slices.Contains(got.Tools, "query_db") || got.Result.IsError ||
				got.Result.StructuredContent.Rows[0][0] != float64(900) {
				t.Fatalf("unexpected: %s", out)
			}
		})
	}
}

// A shutdown lets calls in flight finish and be journaled.
func TestShutdownDrainsCallsInFlight(t *testing.T) {
	e := newEnv(t)
	g, err := server.New(context.Background(), e.cfg, server.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	ctx, stop := context.WithCancel(context.Background())
	addrc := make(chan string, 1)
	served := make(chan error, 1)
	go func() {
		served <- g.ServeHTTP(ctx, "127.0.0.1:0", func(a net.Addr) { addrc <- a.String() })
	}()
	base := "http://" + <-addrc
	c := httpClient(t, "streamable-http", base, e.token(t, "alice", "analysts"))
	grant(t, c, "pg", "read")
	type answer struct {
		res *mcp.CallToolResult
		err error
	}
	answered := make(chan answer, 1)
	go func() {
		res, err := c.CallTool(context.Background(), callReq("pg", "SELECT count(*) FROM generate_series(1, 20000000)"))
		answered <- answer{res, err}
	}()
	// Wait until the call is running (its started record is durable).
	for i := 0; i < 200 && countStarted(journal(t, e), "query_db") == 0; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	a := <-answered
	if a.err != nil || a.res.IsError {
		t.Fatalf("call in flight did not finish: %v %+v", a.err, a.res)
	}
	if err := <-served; err != nil {
		t.Fatalf("serve: %v", err)
	}
	if n := countCalls(journal(t, e), "query_db"); n != 1 {
		t.Fatalf("journal holds %d complete calls", n)
	}
}
