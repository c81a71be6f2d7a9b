package querydb

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airlockhq/airlock/config"
	"github.com/airlockhq/airlock/internal/pgtest"
	"github.com/airlockhq/airlock/policy"
	"github.com/airlockhq/airlock/tools"
)

// execAs runs sql as if policy had allowed it with access a.
func execAs(t testing.TB, ctx context.Context, tl *Tool, conn, sql string, a policy.Access) (*tools.Result, error) {
	t.Helper()
	c, err := tl.Parse(map[string]any{"connection": conn, "sql": sql})
	if err != nil {
		return nil, err
	}
	c.Access = a
	return tl.Execute(ctx, c)
}

// Concurrent first reads of table columns, whose sources are looked up
// after the statement, finish at max_conns 1 and 4: the lookup uses the
// call's own connection, never a second one.
func TestPostgresConcurrentFirstReads(t *testing.T) {
	for _, conns := range []int32{1, 4} {
		t.Run(fmt.Sprint("max_conns=", conns), func(t *testing.T) {
			dsn, pool := pgtest.Schema(t)
			if _, err := pool.Exec(context.Background(), `CREATE TABLE a (id int, v text); INSERT INTO a VALUES (1, 'x');
CREATE TABLE b (id int, w text); INSERT INTO b VALUES (1, 'y')`); err != nil {
				t.Fatal(err)
			}
			tl := newTool(t, map[string]*config.Connection{"pg": {Kind: config.KindPostgres, DSN: dsn, MaxConns: conns}}, 10)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			var wg sync.WaitGroup
			errs := make(chan error, 16)
			for i := range 16 {
				wg.Go(func() {
					c, err := tl.Parse(map[string]any{"connection": "pg", "sql": []string{"SELECT * FROM a", "SELECT * FROM b, a"}[i%2]})
					if err != nil {
						errs <- err
						return
					}
					if _, err := tl.Execute(ctx, c); err != nil {
						errs <- err
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
		})
	}
}

// Whatever a call leaves in its session — a session advisory lock taken by
// a function, a setting, a temporary table — is gone before the next call
// on the same connection.
func TestPostgresSessionResetBetweenCalls(t *testing.T) {
	dsn, pool := pgtest.Schema(t)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `CREATE TABLE t (id int);
CREATE FUNCTION grab() RETURNS int LANGUAGE sql AS $$ SELECT pg_advisory_lock(424242); SELECT length(set_config('work_mem', '1234kB', false)) $$;`); err != nil {
		t.Fatal(err)
	}
	tl := newTool(t, map[string]*config.Connection{"pg": {Kind: config.KindPostgres, DSN: dsn, MaxConns: 1}}, 10)
	if _, err := execAs(t, ctx, tl, "pg", "SELECT grab()", policy.Read); err != nil {
		t.Fatal(err)
	}
	var held bool
	for range 50 { // the reset runs as the connection goes back to the pool
		if err := pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND objid = 424242)").Scan(&held); err != nil {
			t.Fatal(err)
		}
		if !held {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if held {
		t.Error("the session advisory lock outlived the call")
	}
	r, err := execAs(t, ctx, tl, "pg", "SELECT current_setting('work_mem'), current_setting('bytea_output'), count(*) FROM t", policy.Read)
	if err != nil {
		t.Fatal(err)
	}
	if row := r.Table.Rows[0]; row[0] == "1234kB" || row[1] != "escape" {
		t.Errorf("session state after reset: %v", row)
	}
}

// A write runs in an explicit READ WRITE transaction, so it works on a
// database whose default is read-only, and reports the rows it affected.
func TestPostgresWriteOnReadOnlyDefault(t *testing.T) {
	dsn, pool := pgtest.Schema(t)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `CREATE TABLE t (id int, v text); INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'c')`); err != nil {
		t.Fatal(err)
	}
	tl := newTool(t, map[string]*config.Connection{"pg": {Kind: config.KindPostgres, DSN: dsn + "&default_transaction_read_only=on"}}, 10)
	r, err := execAs(t, ctx, tl, "pg", "UPDATE t SET v = 'z' WHERE id < 3", policy.Write)
	if err != nil {
		t.Fatal(err)
	}
	if r.Table.Command != "UPDATE 2" || r.Rows != 2 {
		t.Errorf("command %q rows %d", r.Table.Command, r.Rows)
	}
	r, err = execAs(t, ctx, tl, "pg", "DELETE FROM t WHERE id = 3 RETURNING id", policy.Write)
	if err != nil || r.Table.Command != "DELETE 1" || r.Rows != 1 || len(r.Table.Rows) != 1 {
		t.Fatalf("delete: %+v %v", r, err)
	}
	// A write returning more rows than max_rows is read to the end, not
	// cancelled (which would undo it).
	tl.targets["pg"].(*postgres).maxRows = 1
	r, err = execAs(t, ctx, tl, "pg", "INSERT INTO t SELECT g, 'n' FROM generate_series(10, 19) g RETURNING id", policy.Write)
	if err != nil || r.Table.Command != "INSERT 0 10" || r.Rows != 10 || len(r.Table.Rows) != 1 {
		t.Fatalf("insert: %+v %v", r, err)
	}
	var n int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM t").Scan(&n); err != nil || n != 12 {
		t.Errorf("rows in t: %d %v", n, err)
	}
	// Reads stay read-only.
	if _, err := execAs(t, ctx, tl, "pg", "DELETE FROM t", policy.Read); err == nil {
		t.Error("a write ran as a read")
	}
}

// Errors that are the database's, not the statement's, tell the agent
// what to do and the operator why, without connection details for the
// agent.
func TestPostgresConnectionErrors(t *testing.T) {
	base := pgtest.DSN(t)
	// A listener that accepts and never answers: a blackholed database.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for range 100 {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	closedAddr := closed.Addr().String()
	closed.Close()
	// The test server's DSN, whatever database it names, with one that
	// does not exist.
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	if u.Path == "/airlock_no_such_db" {
		t.Fatal("the test DSN names the database this test expects to be missing")
	}
	u.Path = "/airlock_no_such_db"
	wrongDB := u.String()
	cases := []struct {
		name, dsn  string
		agent      string // in the agent's text
		cause      string // in the operator's detail
		timeoutSec int
	}{
		{"down", "postgres://secretuser@" + closedAddr + "/db?sslmode=disable&connect_timeout=2",
			"is unreachable right now; nothing was run; retry later", "connect", 10},
		{"blackholed", "postgres://secretuser@" + ln.Addr().String() + "/db?sslmode=disable",
			"did not answer in time", "deadline", 1},
		{"wrong database", wrongDB, "misconfigured; nothing was run; tell an operator", `database "airlock_no_such_db" does not exist`, 10},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tl := newTool(t, map[string]*config.Connection{"pg": {Kind: config.KindPostgres, DSN: tc.dsn}}, 10)
			ctx, cancel := context.WithTimeout(context.Background(), time.Duration(tc.timeoutSec)*time.Second)
			defer cancel()
			_, err := execAs(t, ctx, tl, "pg", "SELECT 1", policy.Read)
			var ae *tools.AgentError
			if !errors.As(err, &ae) {
				t.Fatalf("not an agent error: %v", err)
			}
			if !strings.Contains(ae.Msg, tc.agent) || strings.Contains(ae.Msg, "narrow the query") {
				t.Errorf("agent text %q, want %q", ae.Msg, tc.agent)
			}
			if !strings.Contains(ae.Detail, tc.cause) {
				t.Errorf("detail %q, want %q", ae.Detail, tc.cause)
			}
			for _, leak := range []string{"secretuser", "127.0.0.1"} {
				if strings.Contains(ae.Msg, leak) {
					t.Errorf("agent text %q leaks %q", ae.Msg, leak)
				}
			}
			// airlock check shows the cause.
			cctx, ccancel := context.WithTimeout(context.Background(), time.Duration(tc.timeoutSec)*time.Second)
			defer ccancel()
			if err := tl.CheckConnection(cctx, "pg"); err == nil || !strings.Contains(err.Error(), tc.cause) {
				t.Errorf("check: %v", err)
			}
		})
	}
}

// A function that is not PostgreSQL's own needs admin access unless the
// connection's functions list names it.
func TestPostgresUserFunctionsNeedAdmin(t *testing.T) {
	dsn, _ := pgtest.Schema(t)
	tl := newTool(t, map[string]*config.Connection{"pg": {Kind: config.KindPostgres, DSN: dsn,
		Functions: []string{"fmt_money", "reports.*", "st_*"}}}, 10)
	for sql, want := range map[string]policy.Access{
		"SELECT grab()":                           policy.Admin,
		"SELECT lower('a'), count(*) FROM t":      policy.Read,
		"SELECT fmt_money(1), reports.daily(2)":   policy.Read,
		"SELECT public.fmt_money(1)":              policy.Read,
		"SELECT st_area(g), st_x(g) FROM t":       policy.Read,
		"SELECT other.daily(1)":                   policy.Admin,
		"SELECT public.lower('a')":                policy.Admin,
		"SELECT fmt_money(1), grab()":             policy.Admin,
		"SELECT * FROM t WHERE id = sneaky(1)":    policy.Admin,
		"UPDATE t SET v = grab()":                 policy.Admin,
		"SELECT brin_summarize_new_values('b_i')": policy.Admin,
	} {
		c, err := tl.Parse(map[string]any{"connection": "pg", "sql": sql})
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		if c.Access != want {
			t.Errorf("%s: %s, want %s", sql, c.Access, want)
		}
	}
	if _, err := New(&tools.Env{Config: &config.Config{Connections: map[string]*config.Connection{
		"pg": {Kind: config.KindPostgres, DSN: dsn, Functions: []string{"[bad"}}}}}); err == nil {
		t.Error("a bad functions pattern was accepted")
	}
}
