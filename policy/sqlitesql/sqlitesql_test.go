package sqlitesql

import (
	"errors"
	"strings"
	"sync"
	"testing"

	"modernc.org/libc"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/airlockhq/airlock/policy"
)

type classifyCase struct {
	sql     string
	access  policy.Access // "" when an error is expected
	command string        // checked when set
	err     string        // substring of the error, when one is expected
}

var classifyCases = []classifyCase{
	// One statement, however it is dressed.
	{sql: "SELECT 1", access: policy.Read, command: "SELECT"},
	{sql: "select 1", access: policy.Read, command: "SELECT"},
	{sql: "SELECT 1;", access: policy.Read},
	{sql: "SELECT 1;;", access: policy.Read},
	{sql: ";SELECT 1", access: policy.Read},
	{sql: "SELECT 1; -- done", access: policy.Read},
	{sql: "SELECT 1; /* done */ ", access: policy.Read},
	{sql: "  \n-- lead\n/* in */ SELECT 1\n", access: policy.Read, command: "SELECT"},
	{sql: "SELECT ';' FROM t", access: policy.Read},
	{sql: "SELECT 'it''s; fine' FROM t", access: policy.Read},
	{sql: "SELECT '' FROM t; ", access: policy.Read},
	{sql: "SELECT 1 /* ; */", access: policy.Read},
	{sql: "SELECT 1 /* ; */ /**/ /*/ ; */", access: policy.Read},
	{sql: `SELECT "a;b" FROM t`, access: policy.Read},
	{sql: `SELECT "a"";b" FROM t`, access: policy.Read},
	{sql: "SELECT `a;b` FROM t", access: policy.Read},
	{sql: "SELECT `a``;b` FROM t", access: policy.Read},
	{sql: "SELECT [a;b] FROM t", access: policy.Read},
	{sql: "SELECT 1 -- ; DROP TABLE t", access: policy.Read},
	{sql: "SELECT 1 -- ; DROP\n", access: policy.Read},
	{sql: "SELECT x'00ff', X'' FROM t", access: policy.Read},
	{sql: "SELECT a FROM t WHERE a = ? OR a = ?1 OR a = :x OR a = @y OR a = $z", access: policy.Read},
	{sql: "SELECT $a::b(;) FROM t", access: policy.Read}, // a Tcl-style variable: its ';' ends nothing
	{sql: "SELECT $a(');DROP/**/TABLE/**/t;--')", err: "exactly one statement"},
	{sql: "SELECT x'';DROP TABLE t;--'", err: "exactly one statement"},
	{sql: "SELECT x'ab'';DROP TABLE t;--'", access: policy.Read}, // SQLite: blob then a string
	{sql: "SELECT 1\xEF\xBB\xBF;\xEF\xBB\xBF", access: policy.Read},
	{sql: "SELECT 1;\v", err: "exactly one statement"}, // \v cannot start a space in SQLite
	{sql: "SELECT 1; \v", access: policy.Read},
	{sql: "SELECT 'é;' AS \"ü;\" FROM t", access: policy.Read},
	{sql: "VALUES (1), (2)", access: policy.Read, command: "VALUES"},
	{sql: "EXPLAIN SELECT * FROM t", access: policy.Read, command: "EXPLAIN"},
	{sql: "EXPLAIN QUERY PLAN SELECT * FROM t", access: policy.Read, command: "EXPLAIN"},
	{sql: "EXPLAIN DELETE FROM t", access: policy.Read, command: "EXPLAIN"},
	{sql: "WITH x AS (SELECT 1) SELECT * FROM x", access: policy.Read, command: "WITH"},
	{sql: "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n+1 FROM c WHERE n < 5) SELECT n FROM c", access: policy.Read, command: "WITH"},
	{sql: "WITH x(a) AS MATERIALIZED (SELECT 1), y AS NOT MATERIALIZED (SELECT 2) SELECT replace('a', 'b', 'c') FROM x, y", access: policy.Read},
	{sql: "WITH x AS (SELECT 1) DELETE FROM t WHERE a IN x", access: policy.Write, command: "WITH"},
	{sql: "WITH x AS (SELECT 1 AS a) INSERT INTO t(a) SELECT a FROM x", access: policy.Write},
	{sql: "WITH x AS (SELECT 1 AS a) UPDATE t SET a = (SELECT a FROM x)", access: policy.Write},
	{sql: "WITH x AS (SELECT 1 AS a, 2 AS b) REPLACE INTO t SELECT * FROM x", access: policy.Write},

	// write, ddl, admin
	{sql: "INSERT INTO t VALUES (1, 2)", access: policy.Write, command: "INSERT"},
	{sql: "insert or replace into t values (1, 2)", access: policy.Write, command: "INSERT"},
	{sql: "REPLACE INTO t VALUES (1, 2)", access: policy.Write, command: "REPLACE"},
	{sql: "UPDATE t SET a = 1", access: policy.Write, command: "UPDATE"},
	{sql: "DELETE FROM t", access: policy.Write, command: "DELETE"},
	{sql: "INSERT INTO t VALUES (1, 2) ON CONFLICT DO NOTHING", access: policy.Write},
	{sql: "CREATE TABLE x (a INTEGER PRIMARY KEY)", access: policy.DDL, command: "CREATE"},
	{sql: "CREATE INDEX i ON t(a)", access: policy.DDL, command: "CREATE"},
	{sql: "CREATE VIEW v AS SELECT ';' FROM t", access: policy.DDL},
	{sql: "DROP TABLE t", access: policy.DDL, command: "DROP"},
	{sql: "ALTER TABLE t ADD COLUMN c", access: policy.DDL, command: "ALTER"},
	{sql: "REINDEX", access: policy.DDL, command: "REINDEX"},
	{sql: "PRAGMA table_info(t)", access: policy.Admin, command: "PRAGMA"},
	{sql: "PRAGMA query_only = 0", access: policy.Admin, command: "PRAGMA"},
	{sql: "ATTACH DATABASE '/tmp/x.db' AS x", access: policy.Admin, command: "ATTACH"},
	{sql: "DETACH x", access: policy.Admin, command: "DETACH"},
	{sql: "VACUUM", access: policy.Admin, command: "VACUUM"},
	{sql: "VACUUM INTO '/tmp/copy.db'", access: policy.Admin},
	{sql: "ANALYZE", access: policy.Admin, command: "ANALYZE"},
	{sql: "frobnicate", access: policy.Admin, command: "FROBNICATE"},

	// Refused.
	{sql: "", err: "no SQL statement"},
	{sql: " \n\t", err: "no SQL statement"},
	{sql: "-- only a comment", err: "no SQL statement"},
	{sql: "/* only */", err: "no SQL statement"},
	{sql: ";;", err: "no SQL statement"},
	{sql: "SELECT 1; SELECT 2", err: "exactly one statement is allowed, found 2"},
	{sql: "SELECT 1;SELECT 2;SELECT 3;", err: "found 3"},
	{sql: "SELECT 1; DROP TABLE t", err: "found 2"},
	{sql: "SELECT 1 /* ; */; DROP TABLE t", err: "found 2"},
	{sql: "SELECT 1 -- x\n; DROP TABLE t", err: "found 2"},
	{sql: "SELECT 'a'';' ; DROP TABLE t", err: "found 2"},
	{sql: "CREATE TRIGGER tr AFTER INSERT ON t BEGIN DELETE FROM u; END;", err: "CREATE TRIGGER"},
	{sql: "create temp trigger tr after insert on t begin delete from u; end", err: "CREATE TRIGGER"},
	{sql: "SELECT 'unterminated", err: "unterminated string starting at position 8"},
	{sql: `SELECT "unterminated`, err: `unterminated "identifier"`},
	{sql: "SELECT `unterminated", err: "unterminated `identifier`"},
	{sql: "SELECT [unterminated", err: "unterminated [identifier]"},
	{sql: "SELECT x'00", err: "unterminated blob literal"},
	{sql: "SELECT 1 /* unterminated", err: "unterminated /* comment"},
	{sql: "SELECT 1 /*/", err: "unterminated /* comment"},
	{sql: "SELECT 1 /*", err: "unterminated /* comment"},
	{sql: "SELECT $a(; DROP TABLE t)", err: "malformed parameter"},
	{sql: "SELECT $ FROM t", err: "malformed parameter"},
	{sql: "SELECT 1\x00; DROP TABLE t", err: "NUL byte"},
	{sql: "(SELECT 1)", err: "must start with a keyword"},
	{sql: "'SELECT' 1", err: "must start with a keyword"},
	{sql: "BEGIN", err: "BEGIN is not allowed: the gateway manages transactions"},
	{sql: "begin immediate transaction", err: "BEGIN is not allowed"},
	{sql: "COMMIT", err: "COMMIT is not allowed"},
	{sql: "END TRANSACTION", err: "END is not allowed"},
	{sql: "ROLLBACK", err: "ROLLBACK is not allowed"},
	{sql: "SAVEPOINT s", err: "SAVEPOINT is not allowed"},
	{sql: "RELEASE s", err: "RELEASE is not allowed"},
}

func TestClassify(t *testing.T) {
	for _, tc := range classifyCases {
		t.Run(tc.sql, func(t *testing.T) {
			st, err := Classify(tc.sql)
			if tc.err != "" {
				var e *Error
				if !errors.As(err, &e) {
					t.Fatalf("got %+v, %v; want *Error containing %q", st, err, tc.err)
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
				t.Errorf("Access = %s, want %s", st.Access, tc.access)
			}
			if tc.command != "" && st.Command != tc.command {
				t.Errorf("Command = %q, want %q", st.Command, tc.command)
			}
			checkAgainstSQLite(t, tc.sql, st)
		})
	}
}

// TestOracleSeesScripts makes sure the SQLite oracle used by the tests and
// the fuzz target does see the statements this package refuses, so that its
// silence on accepted input means something.
func TestOracleSeesScripts(t *testing.T) {
	o := sqliteOracle(t)
	for sql, want := range map[string]int{
		"SELECT 1; SELECT 2":            2,
		"SELECT $a(');SELECT/**/2;--')": 2,
		"SELECT x'';SELECT 2;--'":       2,
		"SELECT 1 -- ;\n; SELECT 2":     2,
		"SELECT $a(;) FROM t":           1,
		"SELECT 1; /* c */ ; -- c":      1,
		"CREATE TRIGGER tr AFTER INSERT ON t BEGIN DELETE FROM u; END; SELECT 1": 2,
	} {
		if n, failed, _ := o.prepareAll(sql); n != want || failed {
			t.Errorf("%q: SQLite prepared %d statements (failed %v), want %d", sql, n, failed, want)
		}
	}
}

// checkAgainstSQLite prepares (never runs) an accepted query with SQLite and
// checks that SQLite too sees exactly one statement, and that what is
// classified read is read-only to SQLite. Queries whose first statement
// SQLite refuses (unknown tables, syntax) prove nothing either way: SQLite
// would run nothing.
func checkAgainstSQLite(t *testing.T, sql string, st *Statement) {
	t.Helper()
	n, failed, readOnly := sqliteOracle(t).prepareAll(sql)
	if n == 0 {
		return
	}
	if n > 1 || failed {
		t.Fatalf("accepted as one statement, but SQLite sees %d statement(s) then more (failed %v)", n, failed)
	}
	// EXPLAIN only describes its statement; SQLite reports the
	// statement's own read-only flag but never runs it.
	if st.Access == policy.Read && !readOnly && st.Command != "EXPLAIN" {
		t.Fatalf("classified read, but SQLite says the statement writes")
	}
}

// oracle is an in-memory SQLite database, used through the C API (as
// transpiled by modernc.org/sqlite) to find statement boundaries exactly as
// a driver running a script does.
type oracle struct {
	mu  sync.Mutex
	tls *libc.TLS
	db  uintptr
}

var (
	oracleOnce = sync.OnceValues(openOracle)
)

func sqliteOracle(t testing.TB) *oracle {
	o, err := oracleOnce()
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func openOracle() (*oracle, error) {
	tls := libc.NewTLS()
	name, err := libc.CString(":memory:")
	if err != nil {
		return nil, err
	}
	defer libc.Xfree(tls, name)
	pdb := tls.Alloc(8)
	defer tls.Free(8)
	if rc := sqlite3.Xsqlite3_open_v2(tls, name, pdb, sqlite3.SQLITE_OPEN_READWRITE|sqlite3.SQLITE_OPEN_CREATE, 0); rc != sqlite3.SQLITE_OK {
		return nil, errors.New("sqlite3_open_v2 failed")
	}
	o := &oracle{tls: tls, db: libc.AtomicLoadPUintptr(pdb)}
	// Tables for the test queries to name, so that more of them prepare.
	schema, err := libc.CString("CREATE TABLE t(a, b, id); CREATE TABLE u(a, b, id); CREATE TABLE v(a, b, id); CREATE TABLE customers(id, name, email)")
	if err != nil {
		return nil, err
	}
	defer libc.Xfree(tls, schema)
	if rc := sqlite3.Xsqlite3_exec(tls, o.db, schema, 0, 0, 0); rc != sqlite3.SQLITE_OK {
		return nil, errors.New("creating the oracle schema failed")
	}
	return o, nil
}

// prepareAll prepares sql statement after statement, as a driver running a
// script does, without executing anything. It returns how many statements
// SQLite prepared, whether it then stopped at an error, and whether the
// first statement is read-only.
func (o *oracle) prepareAll(sql string) (n int, failed, readOnly bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	p, err := libc.CString(sql)
	if err != nil {
		panic(err)
	}
	defer libc.Xfree(o.tls, p)
	out := o.tls.Alloc(16) // stmt, then tail
	defer o.tls.Free(16)
	pstmt, ptail := out, out+8

	end := p + uintptr(len(sql))
	for cur := p; cur < end; {
		rc := sqlite3.Xsqlite3_prepare_v2(o.tls, o.db, cur, int32(end-cur), pstmt, ptail)
		if rc != sqlite3.SQLITE_OK {
			return n, true, readOnly
		}
		// C memory, read through libc rather than unsafe.Pointer casts.
		stmt := libc.AtomicLoadPUintptr(pstmt)
		tail := libc.AtomicLoadPUintptr(ptail)
		if stmt != 0 {
			if n == 0 {
				readOnly = sqlite3.Xsqlite3_stmt_readonly(o.tls, stmt) != 0
			}
			n++
			sqlite3.Xsqlite3_finalize(o.tls, stmt)
		}
		if tail <= cur {
			break
		}
		cur = tail
	}
	return n, false, readOnly
}

func FuzzClassify(f *testing.F) {
	for _, tc := range classifyCases {
		f.Add(tc.sql)
	}
	f.Fuzz(func(t *testing.T, sql string) {
		st, err := Classify(sql)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Msg == "" || st != nil {
				t.Fatalf("got %v, %T %q: want only a non-empty *Error", st, err, err)
			}
			return
		}
		switch st.Access {
		case policy.Read, policy.Write, policy.DDL, policy.Admin:
		default:
			t.Fatalf("Access %q is not a class", st.Access)
		}
		if st.Command == "" || st.Command != strings.ToUpper(st.Command) {
			t.Fatalf("Command %q", st.Command)
		}
		// Accepted: no ';' may end a statement that is followed by
		// another, by this package's own tokens...
		lx := lexer{src: sql}
		inStmt, ended := false, false
		for {
			tok, err := lx.next()
			if err != nil {
				t.Fatalf("accepted, but the lexer fails on a second pass: %v", err)
			}
			if tok.kind == tokEOF {
				break
			}
			switch {
			case tok.kind == tokSemi:
				ended = ended || inStmt
			case ended:
				t.Fatalf("accepted, but a statement ends before position %d", tok.start+1)
			default:
				inStmt = true
			}
		}
		// ...and by SQLite's.
		if !strings.Contains(sql, "\x00") {
			checkAgainstSQLite(t, sql, st)
		}
	})
}

var benchStatements = []struct{ name, sql string }{
	{"select", "SELECT id, name, email FROM customers WHERE id = ?"},
	{"quoted", `SELECT "first name", 'it''s; fine', [odd;name] FROM t -- trailing ; comment` + "\n;"},
	{"with_insert", "WITH x AS (SELECT 1 AS a) INSERT INTO t(a) SELECT a FROM x WHERE a NOT IN (SELECT a FROM t)"},
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
