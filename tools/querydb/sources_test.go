package querydb

import (
	"bytes"
	"context"
	"net"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/airlockhq/airlock/config"
	"github.com/airlockhq/airlock/internal/pgtest"
	"github.com/airlockhq/airlock/masking"
	"github.com/airlockhq/airlock/policy"
	"github.com/airlockhq/airlock/tools"
)

// maskTable masks r's table as the pipeline does (tools.maskResult): each
// column by its source (or its name when it has none) and its lineage.
func maskTable(m *masking.Engine, r *tools.Result) {
	tools.MaskTable(m, r.Table, masking.Counts{})
}

// Column sources are the catalog's names at the call, never remembered
// from an earlier one: after a column or a table is renamed, a column is
// dropped and added again, a table is dropped and made again, or a view is
// renamed or redefined, the source names the column as it is now, and the
// rules for that name mask it. A remembered name (t.pw for what is now
// customers.password_hash) let the value through unmasked.
func TestPostgresSourcesFollowRenames(t *testing.T) {
	dsn, pool := pgtest.Schema(t)
	ctx := context.Background()
	// One connection: every call shares whatever it could remember.
	tl := newTool(t, map[string]*config.Connection{"pg": {Kind: config.KindPostgres, DSN: dsn, MaxConns: 1}}, 10)
	m, err := masking.New(masking.Config{Columns: map[string]masking.Operator{
		"customers.ssn": masking.Redact, "*.card": masking.Redact}})
	if err != nil {
		t.Fatal(err)
	}
	ddl := func(sql string) {
		t.Helper()
		if _, err := pool.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	// Values no detector finds: only a column rule or the column's name
	// can mask them.
	const ssn, pw = "owes money", "hunter2hunter2"
	check := func(step, sql, wantSources string, masked ...bool) {
		t.Helper()
		for _, a := range []policy.Access{policy.Read, policy.Write} {
			r, err := execAs(t, ctx, tl, "pg", sql, a)
			if err != nil {
				t.Fatalf("%s: %s (%s): %v", step, sql, a, err)
			}
			if got := joinSources(r.Table.Sources); got != wantSources {
				t.Errorf("%s: %s (%s): sources %s, want %s", step, sql, a, got, wantSources)
			}
			maskTable(m, r)
			for _, row := range r.Table.Rows {
				for i, v := range row {
					s, _ := v.(string)
					if masked[i] && (s == ssn || s == pw) {
						t.Errorf("%s: %s (%s): column %s came back unmasked", step, sql, a, r.Table.Columns[i])
					}
					if !masked[i] && strings.HasPrefix(s, "[") {
						t.Errorf("%s: %s (%s): column %s was masked: %v", step, sql, a, r.Table.Columns[i], v)
					}
				}
			}
		}
	}

	ddl(`CREATE TABLE t (id int, x text, pw text);
INSERT INTO t VALUES (1, 'owes money', 'hunter2hunter2');
CREATE VIEW v AS SELECT id, x FROM t`)
	check("before", "SELECT * FROM t", "t.id,t.x,t.pw", false, false, false)
	check("before", "SELECT x AS a FROM t", "t.x", false)
	check("before", "SELECT * FROM v", "v.id,v.x", false, false)

	ddl(`ALTER TABLE t RENAME COLUMN x TO ssn;
ALTER TABLE t RENAME COLUMN pw TO password_hash;
ALTER VIEW v RENAME COLUMN x TO card`)
	check("columns renamed", "SELECT * FROM t", "t.id,t.ssn,t.password_hash", false, false, true)
	check("columns renamed", "SELECT password_hash AS p FROM t", "t.password_hash", true)
	check("columns renamed", "SELECT * FROM v", "v.id,v.card", false, true)

	ddl(`ALTER TABLE t RENAME TO customers`)
	check("table renamed", "SELECT * FROM customers", "customers.id,customers.ssn,customers.password_hash", false, true, true)
	check("table renamed", "SELECT ssn AS a FROM customers", "customers.ssn", true)
	check("table renamed", "SELECT a FROM (SELECT ssn AS a FROM customers) s", "customers.ssn", true)

	// A new attribute number for the same name.
	ddl(`ALTER TABLE customers DROP COLUMN ssn CASCADE;
ALTER TABLE customers ADD COLUMN ssn text;
UPDATE customers SET ssn = 'owes money'`)
	check("column dropped and added", "SELECT * FROM customers", "customers.id,customers.password_hash,customers.ssn", false, true, true)

	// A new OID, whose columns sit at other numbers.
	ddl(`DROP TABLE customers CASCADE;
CREATE TABLE customers (ssn text, id int);
INSERT INTO customers VALUES ('owes money', 2)`)
	check("table made again", "SELECT * FROM customers", "customers.ssn,customers.id", true, false)

	// The source is the relation's own name however the statement named
	// it: qualified, quoted, in mixed case.
	var schema string
	if err := pool.QueryRow(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
		t.Fatal(err)
	}
	ddl(`CREATE TABLE "Mixed.Case" (ssn text); INSERT INTO "Mixed.Case" VALUES ('owes money')`)
	check("quoted name", `SELECT ssn AS a FROM "Mixed.Case"`, "Mixed.Case.ssn", false)
	// A dot inside a table's name stays in the table's name: the column
	// is card, and *.card applies to it.
	ddl(`CREATE TABLE "odd.tbl" (card text); INSERT INTO "odd.tbl" VALUES ('owes money')`)
	check("dotted name", `SELECT card AS a FROM "odd.tbl"`, "odd.tbl.card", true)
	r, err := execAs(t, ctx, tl, "pg", `SELECT card FROM "odd.tbl"`, policy.Read)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Table.Sources[0]; got != (masking.ColumnRef{Table: "odd.tbl", Column: "card"}) {
		t.Errorf("dotted name: source %+v", got)
	}
	check("qualified name", "SELECT ssn AS a FROM "+schema+".customers", "customers.ssn", true)

	// Views: renamed, and replaced by another definition.
	ddl(`CREATE VIEW v AS SELECT id, ssn AS note FROM customers`)
	check("view made again", "SELECT * FROM v", "v.id,v.note", false, true)
	ddl(`ALTER VIEW v RENAME COLUMN note TO card`)
	check("view column renamed", "SELECT note FROM (SELECT card AS note FROM v) s", "v.card", true)
	ddl(`CREATE OR REPLACE VIEW v AS SELECT id, 'public'::text AS card FROM customers`)
	check("view redefined", "SELECT * FROM v", "v.id,v.card", false, true)
}

// countingConn counts the client's flights on a connection: runs of
// writes that follow a read (or start the connection), leaving out the
// reset a released connection gets (DISCARD ALL).
type countingConn struct {
	net.Conn
	flights *atomic.Int64
	read    bool
}

func (c *countingConn) Write(b []byte) (int, error) {
	if c.read && !bytes.Contains(b, []byte("DISCARD ALL")) {
		c.flights.Add(1)
	}
	c.read = false
	return c.Conn.Write(b)
}

func (c *countingConn) Read(b []byte) (int, error) {
	c.read = true
	return c.Conn.Read(b)
}

// A read takes two round trips whether or not it reads a table: the
// lookups masking needs (the relations the statement names, what they
// are, and the columns' sources) travel with its description. Each level
// of views below the ones named costs one more; the sources never do.
func TestPostgresReadRoundTrips(t *testing.T) {
	dsn, pool := pgtest.Schema(t)
	if _, err := pool.Exec(context.Background(), `CREATE TABLE customers (id int, ssn text);
INSERT INTO customers VALUES (1, 'x');
CREATE VIEW v1 AS SELECT id, ssn FROM customers;
CREATE VIEW v2 AS SELECT id, ssn FROM v1;
CREATE FUNCTION c() RETURNS SETOF customers LANGUAGE sql AS 'SELECT * FROM customers';
CREATE TABLE "odd.name" (ssn text)`); err != nil {
		t.Fatal(err)
	}
	tl, flights := countedToolOn(t, &config.Connection{Kind: config.KindPostgres, DSN: dsn, MaxConns: 1,
		Functions: []string{"c"}}, 10)
	ctx := context.Background()
	// Connect first: the startup exchange is not the read's. (Another
	// text than the reads below, each read here for the first time: a
	// repeated one takes one round trip, TestPostgresReadOneTrip.)
	if _, err := execAs(t, ctx, tl, "pg", "SELECT 0", policy.Read); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		sql     string
		trips   int64
		sources string
	}{
		{"SELECT 1", 2, ""},
		{"SELECT id, ssn AS s FROM customers", 2, "customers.id,customers.ssn"},
		// v1 reads customers, which is looked up (is it a view?) in a
		// second lookup; v2 reads v1: a third.
		{"SELECT * FROM v1", 3, "v1.id,v1.ssn"},
		{"SELECT * FROM v2", 4, "v2.id,v2.ssn"},
		// A function's result columns have no source.
		{"SELECT * FROM c()", 2, ","},
		// A name the lookup by name cannot find (a dot inside quotes):
		// its columns are asked for by the table's OID, in one more.
		{`SELECT ssn FROM "odd.name"`, 3, "odd.name.ssn"},
	} {
		before := flights.Load()
		r, err := execAs(t, ctx, tl, "pg", tc.sql, policy.Read)
		if err != nil {
			t.Fatalf("%s: %v", tc.sql, err)
		}
		if got := flights.Load() - before; got != tc.trips {
			t.Errorf("%s: %d round trips, want %d", tc.sql, got, tc.trips)
		}
		if got := joinSources(r.Table.Sources); got != tc.sources {
			t.Errorf("%s: sources %q, want %q", tc.sql, got, tc.sources)
		}
	}
}

// joinSources shows sources as "table.column" joined by commas ("" for a
// column without one).
func joinSources(refs []masking.ColumnRef) string {
	out := make([]string, len(refs))
	for i, r := range refs {
		if r.Column != "" {
			out[i] = r.Table + "." + r.Column
		}
	}
	return strings.Join(out, ",")
}
