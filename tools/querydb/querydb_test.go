package querydb

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/config"
	"github.com/airlockhq/airlock/internal/pgtest"
	"github.com/airlockhq/airlock/policy"
	"github.com/airlockhq/airlock/tools"
)

func newTool(t testing.TB, conns map[string]*config.Connection, maxRows int) *Tool {
	t.Helper()
	cfg := &config.Config{Connections: conns, Limits: config.Limits{
		CallTimeout: 30 * time.Second, StatementTimeout: 20 * time.Second, MaxRows: maxRows}}
	for _, c := range conns {
		if c.MaxRows == 0 {
			c.MaxRows = maxRows
		}
		if c.MaxConns == 0 {
			c.MaxConns = 4
		}
	}
	tl, err := New(&tools.Env{Config: cfg, Policy: policy.NewEngine(nil)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tl.(*Tool).Close() })
	return tl.(*Tool)
}

func run(t testing.TB, tl *Tool, conn, sql string, params ...any) (*resultSet, error) {
	t.Helper()
	args := map[string]any{"connection": conn, "sql": sql}
	if params != nil {
		args["params"] = params
	}
	c, err := tl.Parse(args)
	if err != nil {
		return nil, err
	}
	r, err := tl.Execute(context.Background(), c)
	if err != nil {
		return nil, err
	}
	return &resultSet{Columns: r.Table.Columns, Rows: r.Table.Rows, Sources: r.Table.Sources, RowCount: r.Rows, Truncated: r.Truncated}, nil
}

func pgTool(t testing.TB, maxRows int) *Tool {
	dsn, pool := pgtest.Schema(t)
	if _, err := pool.Exec(context.Background(), `CREATE TABLE t (id int PRIMARY KEY, name text, amount numeric(10,2), at timestamptz, raw bytea, doc jsonb, uid uuid, big bigint);
INSERT INTO t VALUES (1, 'one', 12.50, '2026-01-02T03:04:05Z', '\x0102', '{"a": [1, "x"]}', '6f1c2a5e-9a55-4e43-9c55-0d2b8d0c6a11', 9007199254740993),
                     (2, 'two', 0.10, NULL, NULL, NULL, NULL, 7)`); err != nil {
		t.Fatal(err)
	}
	return newTool(t, map[string]*config.Connection{"pg": {Kind: config.KindPostgres, DSN: dsn}}, maxRows)
}

func TestPostgresValuesAreJSONSafe(t *testing.T) {
	tl := pgTool(t, 100)
	rs, err := run(t, tl, "pg", "SELECT id, name, amount, at, raw, doc, uid, big, DATE '2026-03-04' AS d FROM t ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(rs.Rows[0])
	want := `[1,"one","12.50","2026-01-02T03:04:05Z","\u003cbinary 2 bytes\u003e",{"a":[1,"x"]},"6f1c2a5e-9a55-4e43-9c55-0d2b8d0c6a11","9007199254740993","2026-03-04"]`
	if string(got) != want {
		t.Errorf("row 1:\n got %s\nwant %s", got, want)
	}
	if strings.Join(rs.Columns, ",") != "id,name,amount,at,raw,doc,uid,big,d" || rs.RowCount != 2 || rs.Truncated {
		t.Errorf("result meta: %+v", rs)
	}
	// Aliases do not hide a column's source; computed columns have none.
	rs, err = run(t, tl, "pg", "SELECT name AS x, upper(name) AS y, g FROM t, generate_series(1, 100) g")
	if err != nil {
		t.Fatal(err)
	}
	if joinSources(rs.Sources) != "t.name,," {
		t.Errorf("sources: %q", rs.Sources)
	}
}

func TestPostgresParams(t *testing.T) {
	tl := pgTool(t, 100)
	rs, err := run(t, tl, "pg", "SELECT name FROM t WHERE id = $1 AND name = $2", float64(2), "two")
	if err != nil {
		t.Fatal(err)
	}
	if rs.RowCount != 1 || rs.Rows[0][0] != "two" {
		t.Errorf("got %+v", rs.Rows)
	}
	// A parameter is a value, never SQL.
	rs, err = run(t, tl, "pg", "SELECT count(*) FROM t WHERE name = $1", "x' OR '1'='1")
	if err != nil || rs.Rows[0][0] != int64(0) {
		t.Errorf("injection through a param: %+v %v", rs, err)
	}
}

func TestPostgresReadOnlyTransaction(t *testing.T) {
	tl := pgTool(t, 100)
	// Force the executor to run a write as if it were classified read: the
	// READ ONLY transaction is the second line of defence.
	c, err := tl.Parse(map[string]any{"connection": "pg", "sql": "DELETE FROM t"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Access != policy.Write {
		t.Fatalf("DELETE classified %s", c.Access)
	}
	c.Access = policy.Read
	if _, err := tl.Execute(context.Background(), c); err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Fatalf("write ran in a read transaction: %v", err)
	}
	if rs, _ := run(t, tl, "pg", "SELECT count(*) FROM t"); rs.Rows[0][0] != int64(2) {
		t.Fatal("rows deleted")
	}
}

func TestPostgresTruncatesAndStops(t *testing.T) {
	tl := pgTool(t, 50)
	rs, err := run(t, tl, "pg", "SELECT g FROM generate_series(1, 10000000) g")
	if err != nil {
		t.Fatal(err)
	}
	if rs.RowCount != 50 || !rs.Truncated {
		t.Fatalf("rows=%d truncated=%v", rs.RowCount, rs.Truncated)
	}
	// The connection is usable again afterwards.
	if _, err := run(t, tl, "pg", "SELECT 1"); err != nil {
		t.Fatal(err)
	}
}

func TestPostgresStatementTimeout(t *testing.T) {
	dsn, _ := pgtest.Schema(t)
	cfg := map[string]*config.Connection{"pg": {Kind: config.KindPostgres, DSN: dsn}}
	tl := newTool(t, cfg, 10)
	tl.targets["pg"].(*postgres).limits.StatementTimeout = 200 * time.Millisecond
	// generate_series over a cross join runs for a long time without
	// calling any deny-listed function.
	_, err := run(t, tl, "pg", "SELECT count(*) FROM generate_series(1, 100000000) a")
	if err == nil || !strings.Contains(err.Error(), "cancelled") {
		t.Fatalf("want a cancellation, got %v", err)
	}
}

func TestPostgresErrorsHideConnectionDetails(t *testing.T) {
	tl := newTool(t, map[string]*config.Connection{"pg": {Kind: config.KindPostgres,
		DSN: "postgres://secretuser@127.0.0.1:1/db?sslmode=disable&connect_timeout=2"}}, 10)
	_, err := run(t, tl, "pg", "SELECT 1")
	if err == nil {
		t.Fatal("no error")
	}
	for _, leak := range []string{"secretuser", "127.0.0.1", ":1"} {
		if strings.Contains(err.Error(), leak) {
			t.Errorf("error %q leaks %q", err, leak)
		}
	}
}

func TestParseRejects(t *testing.T) {
	tl := pgTool(t, 10)
	for _, args := range []map[string]any{
		{"connection": "nope", "sql": "SELECT 1"},
		{"connection": "pg"},
		{"connection": "pg", "sql": "   "},
		{"connection": "pg", "sql": "SELECT 1", "extra": 1},
		{"connection": "pg", "sql": "SELECT 1", "params": "x"},
		{"connection": "pg", "sql": "SELECT 1", "params": []any{map[string]any{}}},
		{"connection": "pg", "sql": strings.Repeat("x", MaxSQLBytes+1)},
		{"connection": "pg", "sql": "SELECT 1; SELECT 2"},
	} {
		if _, err := tl.Parse(args); err == nil {
			t.Errorf("accepted %v", args)
		}
	}
}

func TestSQLiteDemo(t *testing.T) {
	path := filepath.Join(t.TempDir(), "demo.db")
	tl := newTool(t, map[string]*config.Connection{"demo": {Kind: config.KindSQLite, Path: path, Seed: "demo"}}, 1000)
	rs, err := run(t, tl, "demo", "SELECT count(*) AS n FROM customers")
	if err != nil {
		t.Fatal(err)
	}
	if rs.Rows[0][0] != int64(demoCustomers) {
		t.Fatalf("customers = %v", rs.Rows[0][0])
	}
	rs, err = run(t, tl, "demo", "SELECT card_number, ssn FROM customers WHERE id = ?", float64(1))
	if err != nil {
		t.Fatal(err)
	}
	card, ssn := rs.Rows[0][0].(string), rs.Rows[0][1].(string)
	if !luhnValid(card) || len(ssn) != 11 || ssn[:3] == "000" || ssn[:3] == "666" || ssn[0] == '9' {
		t.Errorf("seed values: card %s ssn %s", card, ssn)
	}
	// Reads go through a read-only handle: SQLite itself refuses a write
	// even if classification were wrong.
	c, err := tl.Parse(map[string]any{"connection": "demo", "sql": "DELETE FROM orders"})
	if err != nil {
		t.Fatal(err)
	}
	c.Access = policy.Read
	if _, err := tl.Execute(context.Background(), c); err == nil {
		t.Fatal("write ran on the read-only handle")
	}
	rs, _ = run(t, tl, "demo", "SELECT count(*) FROM orders")
	if rs.Rows[0][0] != int64(demoOrders) {
		t.Fatal("orders deleted")
	}
	// Truncation.
	tl.targets["demo"].(*sqliteTarget).maxRows = 10
	rs, _ = run(t, tl, "demo", "SELECT * FROM orders")
	if rs.RowCount != 10 || !rs.Truncated {
		t.Errorf("rows=%d truncated=%v", rs.RowCount, rs.Truncated)
	}
}

func luhnValid(s string) bool {
	sum := 0
	for i := len(s) - 1; i >= 0; i-- {
		d := int(s[i] - '0')
		if (len(s)-1-i)%2 == 1 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return sum%10 == 0
}

func TestLuhnCheckDigit(t *testing.T) {
	for _, n := range []string{"4111111111111111", "4012888888881881", "5555555555554444"} {
		payload := make([]byte, len(n)-1)
		for i := range payload {
			payload[i] = n[i] - '0'
		}
		if got := luhnCheckDigit(payload); got != n[len(n)-1]-'0' {
			t.Errorf("%s: check digit %d", n, got)
		}
	}
}

// BenchmarkQueryPostgres is a full in-process query_db call (parse,
// classify, execute, convert) against PostgreSQL.
func BenchmarkQueryPostgres(b *testing.B) {
	tl := pgTool(b, 100)
	args := map[string]any{"connection": "pg", "sql": "SELECT id, name, amount, at FROM t WHERE id = $1", "params": []any{float64(1)}}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		c, err := tl.Parse(args)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := tl.Execute(ctx, c); err != nil {
			b.Fatal(err)
		}
	}
}
