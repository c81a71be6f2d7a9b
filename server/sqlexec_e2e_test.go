package server_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airlockhq/airlock/config"
	"github.com/airlockhq/airlock/identity"
	"github.com/airlockhq/airlock/internal/pgtest"
	"github.com/airlockhq/airlock/recorder"
	"github.com/airlockhq/airlock/server"
)

// sqlEnv is a gateway whose PostgreSQL connections are shaped per test:
// pg (plain), pgro (default_transaction_read_only=on), pg1 (max_conns: 1,
// one allowed user function), down (nothing listens).
func sqlEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	dsn, pool := pgtest.Schema(t)
	if _, err := pool.Exec(context.Background(), `
CREATE TABLE docs (id int PRIMARY KEY, ssn text, profile bytea);
INSERT INTO docs VALUES (1, '234-56-7891', convert_to('{"ssn": "345-67-8912"}', 'UTF8'));
CREATE TABLE t (id int PRIMARY KEY, v text);
INSERT INTO t SELECT g, 'row ' || g FROM generate_series(1, 20) g;
CREATE FUNCTION grab() RETURNS int LANGUAGE sql AS $$ SELECT pg_advisory_lock(77); SELECT 1 $$;
CREATE FUNCTION fmt_id(i int) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT 'id-' || i $$;`); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	downAddr := ln.Addr().String()
	ln.Close()
	yaml := fmt.Sprintf(`
server:
  listen: 127.0.0.1:18080
identity:
  dev_issuer: {enabled: true}
store: sqlite:airlock.db
limits:
  max_rows: 100
connections:
  pg: {kind: postgres, dsn: %[1]q}
  pgro: {kind: postgres, dsn: %[2]q}
  pg1: {kind: postgres, dsn: %[1]q, max_conns: 1, functions: [fmt_id]}
  down: {kind: postgres, dsn: %[3]q}
rules:
  - {name: analysts-read, groups: [analysts], connections: [pg, pgro, pg1, down], access: [read], effect: allow}
  - {name: writers-write, groups: [writers], connections: [pgro], access: [read, write], effect: allow}
`, dsn, dsn+"&default_transaction_read_only=on", "postgres://u@"+downAddr+"/x?sslmode=disable&connect_timeout=2")
	p := filepath.Join(dir, "airlock.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	dev, err := identity.LoadOrCreateDevIssuer(cfg.DevIssuerURL(), cfg.Identity.DevIssuer.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	return &env{cfgPath: p, cfg: cfg, pg: pool, dev: dev}
}

// finished returns the finished records of query_db calls, in order.
func finished(t *testing.T, e *env) []*recorder.Record {
	t.Helper()
	var out []*recorder.Record
	for _, r := range journal(t, e) {
		if r.Type == recorder.Finished && r.Tool == "query_db" {
			out = append(out, r)
		}
	}
	return out
}

// bytea and xml values, and bytea inside arrays and rows, are masked like
// text: neither the agent nor the journal sees the SSNs they hold, in
// clear or encoded.
func TestSQLBinaryAndXMLValuesMasked(t *testing.T) {
	e := sqlEnv(t)
	_, base := e.start(t, server.Options{})
	c := httpClient(t, "streamable-http", base, e.token(t, "alice", "analysts"))
	grant(t, c, "pg", "read")
	res := query(t, c, "pg", `SELECT ssn::bytea AS a, xmlelement(name x, ssn) AS b, profile, ARRAY[ssn::bytea] AS c,
		ROW(ssn::bytea, 1) AS d, ARRAY[jsonb_build_object('k', ssn)] AS e FROM docs`)
	if res.IsError {
		t.Fatal(text(res))
	}
	seen, _ := json.Marshal(res)
	recs, _ := json.Marshal(finished(t, e))
	for _, ssn := range []string{"234-56-7891", "345-67-8912"} {
		for _, form := range []string{ssn, strings.ReplaceAll(ssn, "-", ""), base64.StdEncoding.EncodeToString([]byte(ssn))[:12]} {
			if strings.Contains(string(seen), form) {
				t.Errorf("the agent saw %q: %s", form, seen)
			}
			if strings.Contains(string(recs), form) {
				t.Errorf("the journal holds %q", form)
			}
		}
	}
}

// A write on a database whose default is read-only runs, and the agent
// and the journal learn how many rows it changed.
func TestSQLWriteReportsAffectedRows(t *testing.T) {
	e := sqlEnv(t)
	_, base := e.start(t, server.Options{})
	c := httpClient(t, "streamable-http", base, e.token(t, "wendy", "writers"))
	grant(t, c, "pgro", "write")
	res := query(t, c, "pgro", "UPDATE t SET v = 'x' WHERE id <= 3")
	if res.IsError || !strings.Contains(text(res), "UPDATE 3") {
		t.Fatalf("agent got: %s", text(res))
	}
	recs := finished(t, e)
	last := recs[len(recs)-1]
	if last.Outcome != recorder.OutcomeOK || last.Rows != 3 || !strings.Contains(string(last.Result), `"command":"UPDATE 3"`) {
		t.Errorf("journal: outcome %s rows %d result %s", last.Outcome, last.Rows, last.Result)
	}
	var n int
	if err := e.pg.QueryRow(context.Background(), "SELECT count(*) FROM t WHERE v = 'x'").Scan(&n); err != nil || n != 3 {
		t.Errorf("rows changed: %d %v", n, err)
	}
}

// With max_conns: 1, concurrent first reads of table columns all finish.
func TestSQLOneConnectionConcurrentReads(t *testing.T) {
	e := sqlEnv(t)
	_, base := e.start(t, server.Options{})
	c := httpClient(t, "streamable-http", base, e.token(t, "alice", "analysts"))
	grant(t, c, "pg1", "read")
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for i := range 8 {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			res, err := c.CallTool(ctx, callReq("pg1", []string{"SELECT * FROM t", "SELECT id, ssn FROM docs", "SELECT fmt_id(id) FROM t"}[i%3]))
			switch {
			case err != nil:
				errs <- err.Error()
			case res.IsError:
				errs <- text(res)
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// A database that is down: the agent is told to retry later, and the
// operator finds the cause in the journal.
func TestSQLDatabaseDownSaysRetryLater(t *testing.T) {
	e := sqlEnv(t)
	_, base := e.start(t, server.Options{})
	c := httpClient(t, "streamable-http", base, e.token(t, "alice", "analysts"))
	grant(t, c, "down", "read")
	res := query(t, c, "down", "SELECT 1")
	if !res.IsError || !strings.Contains(text(res), "unreachable right now") || !strings.Contains(text(res), "retry later") {
		t.Fatalf("agent got: %s", text(res))
	}
	if strings.Contains(text(res), "connection refused") {
		t.Errorf("the agent got the driver's message: %s", text(res))
	}
	recs := finished(t, e)
	if last := recs[len(recs)-1]; !strings.Contains(last.Error, "connection refused") {
		t.Errorf("journal error: %q", last.Error)
	}
}

// Under a read grant, volatile system functions that write and user
// functions the connection does not list are refused; a listed one runs.
func TestSQLFunctionsUnderReadGrant(t *testing.T) {
	e := sqlEnv(t)
	_, base := e.start(t, server.Options{})
	c := httpClient(t, "streamable-http", base, e.token(t, "alice", "analysts"))
	grant(t, c, "pg1", "read")
	for _, sql := range []string{
		"SELECT brin_summarize_new_values('t_pkey')",
		"SELECT gin_clean_pending_list('t_pkey')",
		"SELECT grab()",
		"SELECT id FROM t WHERE grab() = 1",
	} {
		if res := query(t, c, "pg1", sql); !res.IsError || !strings.Contains(text(res), "admin") {
			t.Errorf("%s: %s", sql, text(res))
		}
	}
	if res := query(t, c, "pg1", "SELECT fmt_id(id) FROM t WHERE id = 1"); res.IsError || !strings.Contains(text(res), "id-1") {
		t.Errorf("listed function: %s", text(res))
	}
	var locks int
	if err := e.pg.QueryRow(context.Background(), "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 77").Scan(&locks); err != nil || locks != 0 {
		t.Errorf("advisory locks: %d %v", locks, err)
	}
}

// One huge value is cut before masking and capping, and the answer says
// so truthfully (not "more rows exist").
func TestSQLHugeValueNote(t *testing.T) {
	e := sqlEnv(t)
	_, base := e.start(t, server.Options{})
	c := httpClient(t, "streamable-http", base, e.token(t, "alice", "analysts"))
	grant(t, c, "pg", "read")
	res := query(t, c, "pg", "SELECT repeat('ab ', 30000000) AS big")
	if res.IsError {
		t.Fatal(text(res))
	}
	out := text(res)
	if strings.Contains(out, "more rows exist") || !strings.Contains(out, "bytes per value") {
		t.Errorf("answer: %.600s", out)
	}
}
