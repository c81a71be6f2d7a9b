package pgsql

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/airlockhq/airlock/policy"
)

type classifyCase struct {
	sql     string
	access  policy.Access // "" when an error is expected
	err     string        // substring of the error, when one is expected
	command string        // checked when set
	tables  []string      // checked when not nil
	funcs   []string      // checked when not nil
	reason  string        // substring of Reason, checked when set
}

var (
	none = []string{}

	classifyCases = []classifyCase{
		// Refused outright.
		{sql: "", err: "no SQL statement"},
		{sql: "   \n\t ", err: "no SQL statement"},
		{sql: "-- only a comment", err: "no SQL statement"},
		{sql: "/* only */ /* comments */", err: "no SQL statement"},
		{sql: ";", err: "no SQL statement"},
		{sql: "SELECT 1; DROP TABLE t", err: "exactly one statement is allowed, found 2"},
		{sql: "SELECT 1; SELECT 2; SELECT 3", err: "found 3"},
		{sql: "COMMIT; DROP SCHEMA public CASCADE", err: "exactly one statement"},
		{sql: "END; TRUNCATE t", err: "exactly one statement"},
		{sql: "BEGIN", err: "BEGIN is not allowed: the gateway manages transactions"},
		{sql: "BEGIN READ WRITE", err: "BEGIN is not allowed"},
		{sql: "START TRANSACTION", err: "START TRANSACTION is not allowed"},
		{sql: "COMMIT", err: "COMMIT is not allowed"},
		{sql: "END", err: "COMMIT is not allowed"},
		{sql: "ROLLBACK", err: "ROLLBACK is not allowed"},
		{sql: "ABORT", err: "ROLLBACK is not allowed"},
		{sql: "SAVEPOINT s", err: "SAVEPOINT is not allowed"},
		{sql: "RELEASE SAVEPOINT s", err: "RELEASE is not allowed"},
		{sql: "ROLLBACK TO SAVEPOINT s", err: "ROLLBACK TO SAVEPOINT is not allowed"},
		{sql: "PREPARE TRANSACTION 'x'", err: "PREPARE TRANSACTION is not allowed"},
		{sql: "COMMIT PREPARED 'x'", err: "COMMIT PREPARED is not allowed"},
		{sql: "ROLLBACK PREPARED 'x'", err: "ROLLBACK PREPARED is not allowed"},
		{sql: "SELECT 1 FROM", err: "syntax error at end of input"},
		{sql: "SELEC 1", err: `syntax error at or near "SELEC" (at position 1)`},
		{sql: "SELECT * FROM t WHERE", err: "syntax error"},
		{sql: "SELECT 'unterminated", err: "unterminated quoted string"},
		{sql: "SELECT 1\x00; DROP TABLE t", err: "NUL byte"},
		{sql: "SELECT '\xff'", err: "not valid UTF-8"},

		// read
		{sql: "SELECT 1", access: policy.Read, command: "SELECT", tables: none, funcs: none},
		{sql: "SELECT 1;", access: policy.Read},
		{sql: "SELECT 1;;", access: policy.Read}, // empty statements do not count
		{sql: ";SELECT 1", access: policy.Read},
		{sql: "select 1 -- ; drop table t", access: policy.Read},
		{sql: "SELECT ';DROP TABLE t;'", access: policy.Read, tables: none},
		{sql: "SELECT $$;DROP TABLE t;$$", access: policy.Read, tables: none},
		{sql: "SELECT * FROM t WHERE id = $1", access: policy.Read, tables: []string{"t"}},
		{sql: "SHOW search_path", access: policy.Read, command: "SHOW"},
		{sql: "SHOW ALL", access: policy.Read},
		{sql: "VALUES (1),(2)", access: policy.Read, command: "VALUES"},
		{sql: "TABLE t", access: policy.Read, command: "SELECT", tables: []string{"t"}},
		{sql: "SELECT c.name, o.total FROM public.customers c JOIN orders o ON o.customer_id = c.id",
			access: policy.Read, tables: []string{"orders", "public.customers"}, funcs: none},
		{sql: "SELECT * FROM a LEFT JOIN b USING (id) CROSS JOIN LATERAL (SELECT * FROM c WHERE c.id = a.id) x",
			access: policy.Read, tables: []string{"a", "b", "c"}},
		{sql: "WITH x AS (SELECT 1) SELECT * FROM x", access: policy.Read, tables: none},
		{sql: "WITH x AS (SELECT * FROM x) SELECT * FROM x", access: policy.Read, tables: []string{"x"}},
		{sql: "WITH a AS (SELECT 1), b AS (SELECT * FROM a) SELECT * FROM b, c", access: policy.Read, tables: []string{"c"}},
		{sql: "WITH b AS (SELECT * FROM a), a AS (SELECT 1) SELECT * FROM b", access: policy.Read, tables: []string{"a"}},
		{sql: "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n+1 FROM r WHERE n < 10) SELECT * FROM r",
			access: policy.Read, tables: none},
		{sql: "SELECT * FROM secret, (WITH secret AS (SELECT 1) SELECT * FROM secret) s",
			access: policy.Read, tables: []string{"secret"}},
		{sql: "(WITH x AS (SELECT 1) SELECT * FROM x) UNION SELECT * FROM x", access: policy.Read, tables: []string{"x"}},
		{sql: "WITH x AS (SELECT 1) SELECT * FROM public.x", access: policy.Read, tables: []string{"public.x"}},
		{sql: "SELECT id, rank() OVER (PARTITION BY a ORDER BY b) FROM t",
			access: policy.Read, tables: []string{"t"}, funcs: []string{"rank"}},
		{sql: "SELECT a, count(*), sum(b) FROM t GROUP BY a HAVING count(*) > 1 ORDER BY 2 DESC LIMIT 10",
			access: policy.Read, funcs: []string{"count", "sum"}},
		{sql: "SELECT a FROM t UNION SELECT a FROM u EXCEPT SELECT a FROM v", access: policy.Read, tables: []string{"t", "u", "v"}},
		{sql: "SELECT * FROM t WHERE a IN (SELECT a FROM u WHERE EXISTS (SELECT 1 FROM v))",
			access: policy.Read, tables: []string{"t", "u", "v"}},
		{sql: `SELECT * FROM "Order Items", "a.b", mydb.s.t`, access: policy.Read,
			tables: []string{`"Order Items"`, `"a.b"`, "mydb.s.t"}},
		{sql: "SELECT extract(year FROM now()), pg_catalog.lower('A'), upper('b')", access: policy.Read,
			funcs: []string{"extract", "now", "pg_catalog.lower", "upper"}},
		{sql: "SELECT currval('s'), lastval()", access: policy.Read},
		{sql: "SELECT random(), clock_timestamp(), gen_random_uuid(), pg_relation_size('t'), pg_total_relation_size('t')", access: policy.Read},
		{sql: "SELECT my_func(1), s.f(), pg_catalog.lower('a'), public.lower('b')", access: policy.Read,
			funcs: []string{"my_func", "pg_catalog.lower", "public.lower", "s.f"}},
		{sql: "SELECT * FROM generate_series(1, 10) g", access: policy.Read, funcs: []string{"generate_series"}},
		{sql: "SELECT jsonb_build_object('a', 1) ->> 'a'", access: policy.Read},
		{sql: "EXPLAIN SELECT * FROM t", access: policy.Read, command: "EXPLAIN", tables: []string{"t"}},
		{sql: "EXPLAIN (COSTS OFF, FORMAT JSON) SELECT 1", access: policy.Read},
		{sql: "EXPLAIN (ANALYZE false) SELECT 1", access: policy.Read},
		{sql: "EXPLAIN (ANALYZE off) SELECT 1", access: policy.Read},
		{sql: "EXPLAIN (ANALYZE 0) SELECT 1", access: policy.Read},

		// write
		{sql: "/* x */ DELETE FROM t", access: policy.Write, command: "DELETE", tables: []string{"t"}, reason: "DELETE modifies data"},
		{sql: "INSERT INTO t VALUES (1)", access: policy.Write, command: "INSERT", tables: []string{"t"}},
		{sql: "INSERT INTO t SELECT * FROM u ON CONFLICT (id) DO UPDATE SET a = excluded.a RETURNING id",
			access: policy.Write, tables: []string{"t", "u"}},
		{sql: "UPDATE t SET a=1", access: policy.Write, command: "UPDATE"},
		{sql: "UPDATE t SET a = u.a FROM u WHERE t.id = u.id", access: policy.Write, tables: []string{"t", "u"}},
		{sql: "MERGE INTO t USING u ON t.id = u.id WHEN MATCHED THEN DELETE", access: policy.Write, command: "MERGE",
			tables: []string{"t", "u"}},
		{sql: "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d", access: policy.Write,
			tables: []string{"t"}, reason: "DELETE modifies data"},
		{sql: "WITH t AS (SELECT 1) DELETE FROM t", access: policy.Write, tables: []string{"t"}},
		{sql: "SELECT * FROM t FOR UPDATE", access: policy.Write, reason: "SELECT ... FOR UPDATE takes row locks"},
		{sql: "SELECT * FROM t o FOR SHARE OF o", access: policy.Write, tables: []string{"t"}, reason: "FOR SHARE"},
		{sql: "SELECT * FROM t FOR NO KEY UPDATE SKIP LOCKED", access: policy.Write},
		{sql: "SELECT * FROM (SELECT * FROM t FOR KEY SHARE) s", access: policy.Write},
		{sql: "EXPLAIN ANALYZE DELETE FROM t", access: policy.Write, command: "EXPLAIN", reason: "EXPLAIN ANALYZE executes"},
		{sql: "EXPLAIN (ANALYZE) SELECT 1", access: policy.Write},
		{sql: "EXPLAIN (ANALYZE true, BUFFERS) SELECT 1", access: policy.Write},
		{sql: "EXPLAIN (ANALYZE 1) SELECT 1", access: policy.Write},
		{sql: "EXPLAIN (analyze maybe) SELECT 1", access: policy.Write},
		{sql: "EXPLAIN DELETE FROM t", access: policy.Write}, // not executed, but classified by what it explains
		{sql: "COPY t FROM STDIN", access: policy.Write, command: "COPY", tables: []string{"t"}},
		{sql: "COPY t (a, b) FROM STDIN WITH (FORMAT csv) WHERE a > 0", access: policy.Write},

		// ddl
		{sql: "SELECT * INTO t2 FROM t", access: policy.DDL, command: "SELECT INTO", tables: []string{"t", "t2"},
			reason: "creates a table"},
		{sql: "CREATE TABLE x(a int)", access: policy.DDL, command: "CREATE TABLE", tables: []string{"x"}},
		{sql: "CREATE TABLE x AS SELECT * FROM t", access: policy.DDL, command: "CREATE TABLE AS"},
		{sql: "CREATE MATERIALIZED VIEW mv AS SELECT 1", access: policy.DDL, command: "CREATE MATERIALIZED VIEW"},
		{sql: "EXPLAIN ANALYZE CREATE TABLE x AS SELECT 1", access: policy.DDL},
		{sql: "CREATE TABLE x (id serial PRIMARY KEY, name text NOT NULL)", access: policy.DDL},
		{sql: "DROP TABLE t", access: policy.DDL, command: "DROP TABLE", reason: "DROP TABLE changes the database schema"},
		{sql: "DROP MATERIALIZED VIEW IF EXISTS mv CASCADE", access: policy.DDL, command: "DROP MATERIALIZED VIEW"},
		{sql: "TRUNCATE t", access: policy.DDL, command: "TRUNCATE", reason: "TRUNCATE"},
		{sql: "TRUNCATE t, u RESTART IDENTITY", access: policy.DDL, tables: []string{"t", "u"}},
		{sql: "ALTER TABLE t ADD COLUMN b text", access: policy.DDL, command: "ALTER TABLE"},
		{sql: "ALTER TABLE t RENAME COLUMN a TO b", access: policy.DDL, command: "ALTER TABLE"},
		{sql: "ALTER TABLE t RENAME TO u", access: policy.DDL, command: "ALTER TABLE"},
		{sql: "ALTER TABLE t SET SCHEMA s", access: policy.DDL, command: "ALTER TABLE"},
		{sql: "ALTER INDEX i RENAME TO j", access: policy.DDL, command: "ALTER INDEX"},
		{sql: "CREATE INDEX CONCURRENTLY i ON t (lower(a))", access: policy.DDL, command: "CREATE INDEX"},
		{sql: "CREATE VIEW v AS SELECT * FROM t", access: policy.DDL, command: "CREATE VIEW", tables: []string{"t", "v"}},
		{sql: "CREATE SEQUENCE s", access: policy.DDL, command: "CREATE SEQUENCE"},
		{sql: "CREATE SCHEMA s", access: policy.DDL, command: "CREATE SCHEMA"},
		{sql: "CREATE SCHEMA s CREATE TABLE t (a int)", access: policy.DDL},
		{sql: "CREATE TYPE mood AS ENUM ('sad', 'ok')", access: policy.DDL, command: "CREATE TYPE"},
		{sql: "CREATE TYPE pair AS (a int, b int)", access: policy.DDL, command: "CREATE TYPE"},
		{sql: "CREATE DOMAIN posint AS int CHECK (VALUE > 0)", access: policy.DDL},
		{sql: "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'", access: policy.DDL, command: "CREATE FUNCTION"},
		{sql: "CREATE PROCEDURE p() LANGUAGE sql BEGIN ATOMIC SELECT 1; END", access: policy.DDL, command: "CREATE PROCEDURE"},
		{sql: "DROP FUNCTION pg_sleep(float8)", access: policy.DDL, command: "DROP FUNCTION"}, // named, not called
		{sql: "CREATE TRIGGER tr AFTER INSERT ON t FOR EACH ROW EXECUTE FUNCTION f()", access: policy.DDL, command: "CREATE TRIGGER"},
		{sql: "COMMENT ON TABLE t IS 'x'", access: policy.DDL, command: "COMMENT"},
		{sql: "REFRESH MATERIALIZED VIEW mv", access: policy.DDL, command: "REFRESH MATERIALIZED VIEW"},
		{sql: "CREATE AGGREGATE agg (int) (sfunc = int4pl, stype = int)", access: policy.DDL, command: "CREATE AGGREGATE"},
		{sql: "CREATE RULE r AS ON INSERT TO t DO INSTEAD NOTHING", access: policy.DDL, command: "CREATE RULE"},
		{sql: "CREATE STATISTICS st ON a, b FROM t", access: policy.DDL, command: "CREATE STATISTICS"},

		// admin
		{sql: "SELECT * FROM pg_read_file('/etc/passwd')", access: policy.Admin, funcs: []string{"pg_read_file"},
			reason: "pg_read_file() reads files on the database server"},
		{sql: "SELECT pg_catalog.pg_sleep(10)", access: policy.Admin, funcs: []string{"pg_catalog.pg_sleep"},
			reason: "pg_catalog.pg_sleep()"},
		{sql: "SELECT (SELECT pg_sleep(1))", access: policy.Admin},
		{sql: "SELECT PG_SLEEP(1)", access: policy.Admin, funcs: []string{"pg_sleep"}},
		{sql: `SELECT "PG_SLEEP"(1)`, access: policy.Admin}, // not the same function, refused all the same
		{sql: `SELECT ".PG_SLEEP"()`, access: policy.Read, funcs: []string{`".pg_sleep"`}},
		{sql: `SELECT "my schema".f()`, access: policy.Read, funcs: []string{`"my schema".f`}},
		{sql: "SELECT pg_sleep_for('1 minute')", access: policy.Admin},
		{sql: "SELECT myschema.pg_sleep(1)", access: policy.Admin},
		{sql: "SELECT * FROM t WHERE a = (SELECT max(b) FROM u WHERE pg_sleep(1) IS NULL)", access: policy.Admin},
		{sql: "WITH x AS (SELECT pg_sleep(1)) SELECT * FROM x", access: policy.Admin},
		{sql: "SELECT count(*) FILTER (WHERE pg_sleep(1) IS NULL) FROM t", access: policy.Admin},
		{sql: "SELECT * FROM ROWS FROM (pg_ls_dir('/'))", access: policy.Admin},
		{sql: "EXPLAIN SELECT pg_sleep(1)", access: policy.Admin},
		{sql: "SELECT nextval('s')", access: policy.Admin, reason: "nextval() changes a sequence"},
		{sql: "SELECT setval('s', 1)", access: policy.Admin},
		{sql: "SELECT * FROM dblink('x','y') AS t(a int)", access: policy.Admin, tables: none, funcs: []string{"dblink"}},
		{sql: "SELECT lo_import('/etc/passwd')", access: policy.Admin},
		{sql: "SELECT set_config('transaction_read_only', 'off', true)", access: policy.Admin},
		{sql: "SELECT pg_advisory_lock(1)", access: policy.Admin},
		{sql: "SELECT pg_try_advisory_xact_lock(1)", access: policy.Admin},
		{sql: "SELECT query_to_xml('DELETE FROM t RETURNING *', true, true, '')", access: policy.Admin},
		{sql: "SELECT table_to_xmlschema('secret', true, true, '')", access: policy.Admin},
		{sql: "SELECT pg_create_logical_replication_slot('s', 'pgoutput')", access: policy.Admin},
		{sql: "SELECT pg_terminate_backend(123)", access: policy.Admin},
		{sql: "SELECT txid_current()", access: policy.Admin},
		{sql: "SELECT pg_stat_reset()", access: policy.Admin},
		// Volatile system functions off the reviewed list, wherever called.
		{sql: "SELECT brin_summarize_new_values('t_brin')", access: policy.Admin, reason: "brin_summarize_new_values() is a volatile system function"},
		{sql: "SELECT brin_desummarize_range('t_brin', 0)", access: policy.Admin},
		{sql: "SELECT pg_catalog.gin_clean_pending_list('t_gin')", access: policy.Admin},
		{sql: "SELECT * FROM t WHERE brin_summarize_range('i', 1) > 0", access: policy.Admin},
		{sql: "SELECT pg_export_snapshot()", access: policy.Admin},
		{sql: "SELECT pg_current_logfile()", access: policy.Admin},
		{sql: "SELECT * FROM pg_hba_file_rules()", access: policy.Admin},
		{sql: "SELECT pg_log_standby_snapshot()", access: policy.Admin},
		{sql: "SELECT ts_stat('SELECT to_tsvector(body) FROM secret')", access: policy.Admin},
		{sql: "INSERT INTO t VALUES (nextval('s'))", access: policy.Admin},
		{sql: "CREATE TABLE x (id int DEFAULT nextval('s'))", access: policy.Admin}, // deny-listed anywhere
		{sql: "UPDATE pg_settings SET setting = 'evil' WHERE name = 'search_path'", access: policy.Admin,
			tables: []string{"pg_settings"}, reason: "system catalog"},
		{sql: "DELETE FROM pg_catalog.pg_authid", access: policy.Admin},
		{sql: "WITH d AS (UPDATE pg_settings SET setting = '0' RETURNING 1) SELECT * FROM d", access: policy.Admin},
		{sql: "COPY pg_catalog.pg_class FROM STDIN", access: policy.Admin},
		{sql: "SELECT * FROM pg_settings WHERE name = 'search_path'", access: policy.Read},
		{sql: "DO $$BEGIN EXECUTE 'DROP TABLE t'; END$$", access: policy.Admin, command: "DO", reason: "DO runs procedural code"},
		{sql: "SET transaction_read_only = off", access: policy.Admin, command: "SET", reason: "session settings"},
		{sql: "SET LOCAL statement_timeout = 0", access: policy.Admin, command: "SET"},
		{sql: "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE", access: policy.Admin},
		{sql: "SET SESSION AUTHORIZATION postgres", access: policy.Admin},
		{sql: "SET ROLE postgres", access: policy.Admin},
		{sql: "RESET ALL", access: policy.Admin, command: "RESET"},
		{sql: "COPY (SELECT 1) TO PROGRAM 'id'", access: policy.Admin, command: "COPY", reason: "PROGRAM"},
		{sql: "COPY t FROM PROGRAM 'id'", access: policy.Admin},
		{sql: "COPY t TO '/tmp/x'", access: policy.Admin, reason: "files on the database server"},
		{sql: "COPY t FROM '/etc/passwd'", access: policy.Admin},
		{sql: "COPY t TO STDOUT", access: policy.Admin, reason: "use SELECT"},
		{sql: "VACUUM t", access: policy.Admin, command: "VACUUM"},
		{sql: "VACUUM FULL", access: policy.Admin},
		{sql: "ANALYZE t", access: policy.Admin, command: "ANALYZE"},
		{sql: "CLUSTER t USING i", access: policy.Admin, command: "CLUSTER"},
		{sql: "REINDEX TABLE t", access: policy.Admin, command: "REINDEX"},
		{sql: "CHECKPOINT", access: policy.Admin, command: "CHECKPOINT", reason: "CHECKPOINT is not a read, write or DDL statement"},
		{sql: "LISTEN c", access: policy.Admin, command: "LISTEN"},
		{sql: "NOTIFY c, 'x'", access: policy.Admin, command: "NOTIFY"},
		{sql: "UNLISTEN *", access: policy.Admin},
		{sql: "LOCK TABLE t IN ACCESS EXCLUSIVE MODE", access: policy.Admin, command: "LOCK"},
		{sql: "GRANT SELECT ON t TO u", access: policy.Admin, command: "GRANT", reason: "GRANT changes privileges"},
		{sql: "REVOKE ALL ON t FROM u", access: policy.Admin, command: "REVOKE"},
		{sql: "GRANT admin TO mallory", access: policy.Admin, command: "GRANT"},
		{sql: "ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO u", access: policy.Admin},
		{sql: "CREATE ROLE r LOGIN SUPERUSER", access: policy.Admin, command: "CREATE ROLE"},
		{sql: "CREATE USER u PASSWORD 'x'", access: policy.Admin},
		{sql: "ALTER ROLE r SUPERUSER", access: policy.Admin, command: "ALTER ROLE"},
		{sql: "ALTER ROLE r SET search_path = x", access: policy.Admin, command: "ALTER ROLE"},
		{sql: "DROP ROLE r", access: policy.Admin, command: "DROP ROLE"},
		{sql: "ALTER SYSTEM SET shared_buffers = '1GB'", access: policy.Admin, command: "ALTER SYSTEM"},
		{sql: "LOAD 'plpgsql'", access: policy.Admin, command: "LOAD"},
		{sql: "DISCARD ALL", access: policy.Admin, command: "DISCARD"},
		{sql: "PREPARE p AS DELETE FROM t", access: policy.Admin, command: "PREPARE"},
		{sql: "EXECUTE p", access: policy.Admin, command: "EXECUTE"},
		{sql: "EXPLAIN EXECUTE p", access: policy.Admin},
		{sql: "DEALLOCATE p", access: policy.Admin, command: "DEALLOCATE"},
		{sql: "DECLARE c CURSOR FOR SELECT 1", access: policy.Admin, command: "DECLARE CURSOR"},
		{sql: "FETCH 10 FROM c", access: policy.Admin, command: "FETCH"},
		{sql: "MOVE c", access: policy.Admin, command: "MOVE"},
		{sql: "CLOSE c", access: policy.Admin, command: "CLOSE"},
		{sql: "CALL p()", access: policy.Admin, command: "CALL", funcs: []string{"p"}},
		{sql: "CREATE EXTENSION dblink", access: policy.Admin, command: "CREATE EXTENSION"},
		{sql: "DROP EXTENSION pgcrypto", access: policy.Admin, command: "DROP EXTENSION"},
		{sql: "CREATE DATABASE d", access: policy.Admin, command: "CREATE DATABASE"},
		{sql: "DROP DATABASE d", access: policy.Admin, command: "DROP DATABASE"},
		{sql: "ALTER DATABASE d RENAME TO e", access: policy.Admin, command: "ALTER DATABASE"},
		{sql: "CREATE POLICY p ON t USING (true)", access: policy.Admin, command: "CREATE POLICY"},
		{sql: "DROP POLICY p ON t", access: policy.Admin, command: "DROP POLICY"},
		{sql: "ALTER TABLE t DISABLE ROW LEVEL SECURITY", access: policy.Admin, reason: "ROW LEVEL SECURITY"},
		{sql: "ALTER TABLE t OWNER TO mallory", access: policy.Admin, reason: "OWNER TO"},
		{sql: "ALTER FUNCTION f() OWNER TO mallory", access: policy.Admin, command: "ALTER FUNCTION"},
		{sql: "CREATE LANGUAGE plperlu", access: policy.Admin, command: "CREATE EXTENSION"}, // the grammar turns it into CREATE EXTENSION
		{sql: "CREATE LANGUAGE l HANDLER h", access: policy.Admin, command: "CREATE LANGUAGE"},
		{sql: "CREATE EVENT TRIGGER e ON ddl_command_start EXECUTE FUNCTION f()", access: policy.Admin, command: "CREATE EVENT TRIGGER"},
		{sql: "CREATE SERVER s FOREIGN DATA WRAPPER postgres_fdw", access: policy.Admin, command: "CREATE SERVER"},
		{sql: "CREATE USER MAPPING FOR u SERVER s", access: policy.Admin, command: "CREATE USER MAPPING"},
		{sql: "CREATE TABLESPACE ts LOCATION '/tmp'", access: policy.Admin, command: "CREATE TABLESPACE"},
		{sql: "SECURITY LABEL ON TABLE t IS 'x'", access: policy.Admin, command: "SECURITY LABEL"},
		{sql: "REASSIGN OWNED BY a TO b", access: policy.Admin, command: "REASSIGN OWNED"},
		{sql: "DROP OWNED BY a", access: policy.Admin, command: "DROP OWNED"},
		{sql: "SET CONSTRAINTS ALL DEFERRED", access: policy.Admin, command: "SET CONSTRAINTS"},
		{sql: "CREATE SCHEMA s CREATE TABLE t (a int) GRANT ALL ON t TO mallory", access: policy.Admin},
		{sql: "CREATE RULE r AS ON INSERT TO t DO ALSO NOTIFY c", access: policy.Admin},
		{sql: "CREATE PUBLICATION p FOR ALL TABLES", access: policy.Admin, command: "CREATE PUBLICATION"},
		{sql: "IMPORT FOREIGN SCHEMA s FROM SERVER srv INTO public", access: policy.Admin},
		{sql: "CREATE TEXT SEARCH PARSER p (start = a, gettoken = b, end = c, lextypes = d)", access: policy.Admin,
			command: "CREATE TEXT SEARCH PARSER"},
	}
)

func TestClassify(t *testing.T) {
	for _, tc := range classifyCases {
		t.Run(tc.sql, func(t *testing.T) {
			st, err := Classify(tc.sql)
			if tc.err != "" {
				if err == nil {
					t.Fatalf("got %+v, want error containing %q", st, tc.err)
				}
				var e *Error
				if !errors.As(err, &e) {
					t.Fatalf("error %T %v is not *Error", err, err)
				}
				if !strings.Contains(e.Msg, tc.err) || e.Error() != e.Msg {
					t.Fatalf("error %q, want it to contain %q", e.Msg, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if st.Access != tc.access {
				t.Errorf("Access = %s, want %s (reason %q)", st.Access, tc.access, st.Reason)
			}
			if tc.command != "" && st.Command != tc.command {
				t.Errorf("Command = %q, want %q", st.Command, tc.command)
			}
			if tc.tables != nil && !slices.Equal(st.Tables, tc.tables) {
				t.Errorf("Tables = %q, want %q", st.Tables, tc.tables)
			}
			if tc.sql == "SELECT my_func(1), s.f(), pg_catalog.lower('a'), public.lower('b')" &&
				!slices.Equal(st.UserFunctions, []string{"my_func", "public.lower", "s.f"}) {
				t.Errorf("UserFunctions = %q", st.UserFunctions)
			}
			if tc.funcs != nil && !slices.Equal(st.Functions, tc.funcs) {
				t.Errorf("Functions = %q, want %q", st.Functions, tc.funcs)
			}
			if tc.reason != "" && !strings.Contains(st.Reason, tc.reason) {
				t.Errorf("Reason = %q, want it to contain %q", st.Reason, tc.reason)
			}
			if (st.Access == policy.Read) != (st.Reason == "") {
				t.Errorf("Access %s with Reason %q: a reason is given exactly when not read", st.Access, st.Reason)
			}
		})
	}
}

// TestErrorHidesInternals checks that a parse error carries only the
// parser's message, not pg_query's source file and function names.
func TestErrorHidesInternals(t *testing.T) {
	_, err := Classify("SELECT FROM WHERE")
	if err == nil {
		t.Fatal("want a syntax error")
	}
	for _, leak := range []string{".c", ".y", "scanner", "base_yyerror", "pg_query"} {
		if strings.Contains(err.Error(), leak) {
			t.Errorf("error %q leaks %q", err, leak)
		}
	}
}

func TestDeniedFunction(t *testing.T) {
	for name, want := range map[string]bool{
		"pg_sleep": true, "pg_sleep_until": true, "pg_ls_waldir": true, "lo_export": true,
		"dblink_exec": true, "pg_create_physical_replication_slot": true, "pg_create_replication_slot": false,
		"pg_copy_logical_replication_slot": true, "binary_upgrade_set_next_pg_type_oid": true,
		"txid_current": true, "txid_current_if_assigned": false, "pg_current_xact_id_if_assigned": false,
		"currval": false, "lastval": false, "now": false, "count": false, "lower": false, "sleep": false,
		"pg_stat_reset_shared": true, "query_to_xmlschema": true, "pg_read_file": true, "pg_read_files": false,
	} {
		if _, got := deniedFunction(name); got != want {
			t.Errorf("deniedFunction(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestSplitWords(t *testing.T) {
	for in, want := range map[string]string{
		"CreateUserMapping":   "CREATE USER MAPPING",
		"AlterTSDictionary":   "ALTER TS DICTIONARY",
		"Do":                  "DO",
		"ImportForeignSchema": "IMPORT FOREIGN SCHEMA",
	} {
		if got := splitWords(in); got != want {
			t.Errorf("splitWords(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzClassify(f *testing.F) {
	for _, tc := range classifyCases {
		f.Add(tc.sql)
	}
	f.Fuzz(func(t *testing.T, sql string) {
		st, err := Classify(sql)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Msg == "" {
				t.Fatalf("error %T %q is not a non-empty *Error", err, err)
			}
			if st != nil {
				t.Fatalf("both a statement and an error")
			}
			return
		}
		if !slices.Contains(policy.AccessClasses, st.Access) {
			t.Fatalf("Access %q is not a class", st.Access)
		}
		if st.Command == "" {
			t.Fatal("empty Command")
		}
		if (st.Access == policy.Read) != (st.Reason == "") {
			t.Fatalf("Access %s with Reason %q", st.Access, st.Reason)
		}
		for _, names := range [][]string{st.Tables, st.Functions} {
			if !slices.IsSorted(names) || len(slices.Compact(slices.Clone(names))) != len(names) {
				t.Fatalf("names not sorted and unique: %q", names)
			}
		}
		for _, f := range st.Functions {
			if f != strings.ToLower(f) {
				t.Fatalf("function %q is not lower-case", f)
			}
			if strings.Contains(f, `"`) {
				continue // a quoted part may hold a dot
			}
			if _, denied := deniedFunction(f[strings.LastIndexByte(f, '.')+1:]); denied && st.Access != policy.Admin {
				t.Fatalf("calls %s but classified %s", f, st.Access)
			}
		}
		// Classifying is deterministic.
		again, err := Classify(sql)
		if err != nil || again.Access != st.Access || again.Reason != st.Reason {
			t.Fatalf("second run differs: %+v %v vs %+v", again, err, st)
		}
	})
}

var benchStatements = []struct{ name, sql string }{
	{"select", "SELECT id, name, email FROM customers WHERE id = $1"},
	{"join_cte", `WITH recent AS (
		SELECT customer_id, sum(total) AS spent FROM orders
		WHERE created_at > now() - interval '30 days' GROUP BY customer_id
	)
	SELECT c.id, c.name, r.spent FROM public.customers c
	JOIN recent r ON r.customer_id = c.id
	WHERE r.spent > 100 ORDER BY r.spent DESC LIMIT 20`},
	{"insert", "INSERT INTO orders (customer_id, total, created_at) VALUES ($1, $2, now()) RETURNING id"},
}

func BenchmarkClassify(b *testing.B) {
	for _, bs := range benchStatements {
		b.Run(bs.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bs.sql)))
			for b.Loop() {
				if _, err := Classify(bs.sql); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkParse is the floor under BenchmarkClassify: pg_query's parse
// alone (cgo call, protobuf encode in C, decode in Go), without the walk.
func BenchmarkParse(b *testing.B) {
	for _, bs := range benchStatements {
		b.Run(bs.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bs.sql)))
			for b.Loop() {
				if _, err := parseSQL(bs.sql); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestEveryStatementKind classifies a zero value of every statement node
// pg_query knows, so that the read allow-list cannot grow by accident and
// no kind is left without a command name or a reason.
func TestEveryStatementKind(t *testing.T) {
	read := map[string]bool{
		"SelectStmt": true, "VariableShowStmt": true, "SetOperationStmt": true, "ReturnStmt": true,
		"RawStmt": true, "ExplainStmt": true, // a zero ExplainStmt has no ANALYZE and nothing inside
	}
	msgs := pg_query.File_pg_query_proto.Messages()
	n := 0
	for i := range msgs.Len() {
		md := msgs.Get(i)
		name := string(md.Name())
		if !strings.HasSuffix(name, "Stmt") {
			continue
		}
		mt, err := protoregistry.GlobalTypes.FindMessageByName(md.FullName())
		if err != nil {
			t.Fatal(err)
		}
		x := mt.New().Interface()
		if !planFor(reflect.TypeOf(x).Elem()).stmt {
			t.Errorf("%s: not seen as a statement", name)
		}
		var w walker
		w.statement(x)
		n++
		if name == "TransactionStmt" {
			if w.err == nil {
				t.Errorf("%s: not refused", name)
			}
			continue
		}
		if got := w.class == classRead; got != read[name] {
			t.Errorf("%s: read = %v, want %v", name, got, read[name])
		}
		if w.class != classRead && w.reason == "" {
			t.Errorf("%s: no reason", name)
		}
		if c := command(x); c == "" || strings.ToUpper(c) != c || strings.Contains(c, "STMT") {
			t.Errorf("%s: command %q", name, c)
		}
	}
	if n < 100 {
		t.Fatalf("only %d statement kinds found", n)
	}
}
