package querydb

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/airlockhq/airlock/config"
	"github.com/airlockhq/airlock/internal/pgtest"
	"github.com/airlockhq/airlock/policy"
)

// activeQuery reports whether a gateway backend is running a statement
// that contains marker.
func activeQuery(t *testing.T, pool *pgxpool.Pool, marker string) bool {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
		WHERE application_name = 'airlock' AND state = 'active' AND query LIKE '%' || $1 || '%'`, marker).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n > 0
}

// waitGone fails the test if a statement containing marker is still
// running on the server after a bounded number of polls.
func waitGone(t *testing.T, pool *pgxpool.Pool, marker string) {
	t.Helper()
	for i := 0; activeQuery(t, pool, marker); i++ {
		if i > 200 {
			t.Fatalf("the statement %q still runs on PostgreSQL", marker)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// A read stops at max_rows: a result of exactly max_rows rows is whole, one
// more row makes it truncated, and the note says so.
func TestPostgresReadRowLimitBoundary(t *testing.T) {
	dsn, _ := pgtest.Schema(t)
	tl := newTool(t, map[string]*config.Connection{"pg": {Kind: config.KindPostgres, DSN: dsn, MaxConns: 1}}, 10)
	ctx := context.Background()
	r, err := execAs(t, ctx, tl, "pg", "SELECT g FROM generate_series(1, 10) g", policy.Read)
	if err != nil {
		t.Fatal(err)
	}
	if r.Rows != 10 || r.Truncated || r.Note != "" {
		t.Errorf("10 rows at max_rows 10: rows=%d truncated=%v note=%q", r.Rows, r.Truncated, r.Note)
	}
	r, err = execAs(t, ctx, tl, "pg", "SELECT g FROM generate_series(1, 11) g", policy.Read)
	if err != nil {
		t.Fatal(err)
	}
	if r.Rows != 10 || !r.Truncated || !strings.Contains(r.Note, "more rows exist") {
		t.Errorf("11 rows at max_rows 10: rows=%d truncated=%v note=%q", r.Rows, r.Truncated, r.Note)
	}
	if got := fmt.Sprint(r.Table.Rows[9][0]); got != "10" {
		t.Errorf("last row %v", got)
	}
}

// A read cut by the bytes of its result (not by max_rows) is cancelled on
// the server, and the connection serves the next call.
func TestPostgresReadCutByBytesCancelsOnServer(t *testing.T) {
	dsn, pool := pgtest.Schema(t)
	tl := newTool(t, map[string]*config.Connection{"pg": {Kind: config.KindPostgres, DSN: dsn, MaxConns: 1}}, 1000000)
	ctx := context.Background()
	const marker = "bytes_cut_marker"
	r, err := execAs(t, ctx, tl, "pg", "SELECT repeat('x', 60000) AS "+marker+", generate_series(1, 100000000)", policy.Read)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Truncated || r.Rows == 0 || r.Rows >= 1000 || !strings.Contains(r.Note, "bytes per result") {
		t.Fatalf("rows=%d truncated=%v note=%q", r.Rows, r.Truncated, r.Note)
	}
	waitGone(t, pool, marker)
	if r, err := execAs(t, ctx, tl, "pg", "SELECT 1", policy.Read); err != nil || r.Rows != 1 {
		t.Fatalf("next call: %v", err)
	}
}

// A call whose context ends (a revoked grant cancels it) stops its
// statement on the server, and returns an error rather than rows.
func TestPostgresReadContextCancelsOnServer(t *testing.T) {
	dsn, pool := pgtest.Schema(t)
	tl := newTool(t, map[string]*config.Connection{"pg": {Kind: config.KindPostgres, DSN: dsn, MaxConns: 1}}, 10)
	const marker = "generate_series(1, 2000000001)"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := execAs(t, ctx, tl, "pg", "SELECT count(*) FROM "+marker, policy.Read)
		done <- err
	}()
	for i := 0; !activeQuery(t, pool, marker); i++ {
		if i > 400 {
			t.Fatal("the statement never started")
		}
		time.Sleep(25 * time.Millisecond)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled call: %v", err)
	}
	waitGone(t, pool, marker)
	if r, err := execAs(t, context.Background(), tl, "pg", "SELECT 1", policy.Read); err != nil || r.Rows != 1 {
		t.Fatalf("next call: %v", err)
	}
}

// A read that fails at any step (parse, wrong number of params, at run
// time, past its time limit) leaves its connection usable: the next read
// on the only connection works, in a fresh READ ONLY transaction.
func TestPostgresReadErrorsLeaveConnectionClean(t *testing.T) {
	dsn, _ := pgtest.Schema(t)
	tl := newTool(t, map[string]*config.Connection{"pg": {Kind: config.KindPostgres, DSN: dsn, MaxConns: 1}}, 10)
	tl.targets["pg"].(*postgres).limits.StatementTimeout = 300 * time.Millisecond
	ctx := context.Background()
	for _, bad := range []struct{ sql, want string }{
		{"SELECT nope", "42703"},
		{"SELECT 1/0", "22012"},
		{"SELECT $1::int + $2::int", "parameters"},
		{"SELECT count(*) FROM generate_series(1, 1000000000)", "cancelled"},
	} {
		if _, err := execAs(t, ctx, tl, "pg", bad.sql, policy.Read); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: %v", bad.sql, err)
		}
		r, err := execAs(t, ctx, tl, "pg", "SELECT current_setting('transaction_read_only'), current_setting('statement_timeout')", policy.Read)
		if err != nil {
			t.Fatalf("after %s: %v", bad.sql, err)
		}
		if r.Table.Rows[0][0] != "on" || r.Table.Rows[0][1] != "300ms" {
			t.Errorf("after %s: %v", bad.sql, r.Table.Rows[0])
		}
	}
}
