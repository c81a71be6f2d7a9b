package pgsql

import (
	"slices"
	"strings"
	"testing"
)

// render writes a resolved lineage compactly: columns separated by " | ",
// sources by " ", "table.column", a trailing "!" when direct, "-" when the
// column reads nothing.
func render(cols []ColumnLineage) string {
	parts := make([]string, len(cols))
	for i, c := range cols {
		var s []string
		for _, src := range c.Sources {
			s = append(s, src.Table+"."+src.Column)
		}
		p := strings.Join(s, " ")
		if p == "" {
			p = "-"
		}
		if c.Direct {
			p += "!"
		}
		parts[i] = p
	}
	return strings.Join(parts, " | ")
}

var lineageCases = []struct {
	sql   string
	names string // result column names, comma-separated
	want  string
}{
	// Plain columns, aliases, qualification.
	{`SELECT id, ssn AS x FROM customers`, "id,x", "customers.id! | customers.ssn!"},
	{`SELECT c.ssn FROM public.customers c`, "ssn", "public.customers.ssn!"},
	{`SELECT public.customers.ssn FROM public.customers`, "ssn", "public.customers.ssn!"},
	{`SELECT "SSN" FROM "Customers"`, "SSN", "Customers.SSN!"},
	// Functions, operators, casts, CASE, COALESCE.
	{`SELECT reverse(ssn) FROM customers`, "reverse", "().reverse customers.ssn"},
	{`SELECT replace(ssn, '-', '') FROM customers`, "replace", "().replace customers.ssn"},
	{`SELECT ssn || 'x', ssn::text, -id FROM customers`, "a,ssn,c", "customers.ssn | customers.ssn | customers.id"},
	{`SELECT CASE WHEN id > 1 THEN ssn ELSE name END FROM customers`, "case", "customers.id customers.name customers.ssn"},
	{`SELECT coalesce(ssn, name), nullif(ssn, '') FROM customers`, "a,b", "customers.name customers.ssn | customers.ssn"},
	{`SELECT encode(convert_to(ssn, 'UTF8'), 'base64') FROM customers`, "e", "().convert_to ().encode customers.ssn"},
	{`SELECT (c).ssn FROM customers c`, "ssn", "customers.*"},
	{`SELECT data->>'k' FROM t`, "k", "t.data"},
	// Aggregates: count passes, others read their argument.
	{`SELECT count(ssn), count(DISTINCT ssn), count(*) FROM customers`, "a,b,c", "- | - | -"},
	{`SELECT pg_catalog.count(ssn) FROM customers`, "a", "-"},
	{`SELECT max(ssn), string_agg(ssn, ',' ORDER BY id) FROM customers`, "a,b", "().max customers.ssn | ().string_agg customers.ssn"},
	{`SELECT count(*) FILTER (WHERE ssn LIKE '1%') FROM customers`, "a", "-"},
	{`SELECT lag(ssn) OVER (PARTITION BY name ORDER BY id) FROM customers`, "lag", "().lag customers.ssn"},
	// Predicates that only test presence.
	{`SELECT ssn IS NULL, EXISTS (SELECT 1 FROM orders o WHERE o.c = ssn) FROM customers`, "a,b", "- | -"},
	{`SELECT name FROM customers WHERE ssn = '1'`, "name", "customers.name!"},
	// Whole rows.
	{`SELECT row_to_json(c) FROM customers c`, "j", "().row_to_json customers.*"},
	{`SELECT to_jsonb(c.*) FROM customers AS c`, "j", "().to_jsonb customers.*"},
	{`SELECT c FROM customers c`, "c", "customers.*"},
	{`SELECT customers FROM customers`, "customers", "customers.*"},
	{`SELECT json_agg(t) FROM (SELECT ssn FROM customers) t`, "j", "().json_agg customers.ssn"},
	// Stars.
	{`SELECT * FROM customers`, "id,ssn", "customers.id! | customers.ssn!"},
	{`SELECT c.*, reverse(ssn) FROM customers c`, "id,ssn,reverse", "customers.id! | customers.ssn! | ().reverse customers.ssn"},
	{`SELECT 1, *, 2 FROM customers`, "a,id,ssn,b", "- | customers.id! | customers.ssn! | -"},
	{`SELECT * FROM customers, orders`, "id,id", "customers.id orders.id | customers.id orders.id"},
	{`SELECT * FROM customers JOIN orders USING (id)`, "id,ssn", "customers.id orders.id | customers.ssn orders.ssn"},
	{`SELECT * FROM (SELECT reverse(ssn) AS r, name FROM customers) t`, "r,name", "().reverse customers.ssn | customers.name!"},
	{`SELECT t.* FROM (SELECT id, ssn FROM customers) t(a, b)`, "a,b", "customers.id! | customers.ssn!"},
	{`SELECT * FROM customers c(a, b)`, "a,b", "customers.* | customers.*"},
	// CTEs, subqueries, LATERAL, functions in FROM.
	{`WITH x AS (SELECT id, replace(ssn, '-', '') AS s FROM customers) SELECT s, id FROM x`, "s,id", "().replace customers.ssn | customers.id!"},
	{`WITH x(a) AS (SELECT ssn FROM customers) SELECT a FROM x`, "a", "customers.ssn!"},
	{`WITH RECURSIVE r(n, s) AS (SELECT 1, ssn FROM customers UNION ALL SELECT n + 1, reverse(s) FROM r WHERE n < 3) SELECT n, s FROM r`, "n,s", "().reverse customers.ssn | ().reverse customers.ssn"},
	{`SELECT (SELECT ssn FROM customers LIMIT 1)`, "ssn", "customers.ssn"},
	{`SELECT ARRAY(SELECT ssn FROM customers)`, "array", "customers.ssn"},
	{`SELECT u FROM customers c, unnest(ARRAY[c.ssn]) u`, "u", "().unnest customers.ssn customers.u"},
	{`SELECT x FROM customers c, LATERAL (SELECT reverse(c.ssn) AS x) s`, "x", "().reverse customers.ssn customers.x"},
	{`SELECT s.x FROM customers c, LATERAL (SELECT reverse(c.ssn) AS x) s`, "x", "().reverse customers.ssn"},
	{`SELECT * FROM ssn_of(1)`, "x", "().ssn_of"},
	{`SELECT * FROM generate_series(1, 3)`, "g", "().generate_series"},
	{`SELECT * FROM ROWS FROM (unnest(ARRAY['a']), generate_series(1, 2)) AS t(a, b)`, "a,b", "().generate_series ().unnest | ().generate_series ().unnest"},
	// Ambiguity: every candidate.
	{`SELECT name FROM customers, orders`, "name", "customers.name orders.name"},
	{`SELECT (SELECT total FROM orders o WHERE o.cid = c.id) FROM customers c`, "total", "customers.total orders.total"},
	{`SELECT nope FROM (SELECT 1 AS a) t`, "nope", "*.*"},
	{`SELECT a FROM (SELECT 1 AS a) t`, "a", "-"},
	// Set operations and VALUES.
	{`SELECT name FROM customers UNION SELECT ssn FROM customers`, "name", "customers.name customers.ssn"},
	{`SELECT id, name FROM a UNION ALL SELECT id, ssn FROM customers`, "id,name", "a.id customers.id | a.name customers.ssn"},
	{`SELECT * FROM a UNION SELECT id, ssn FROM customers`, "id,name", "a.* customers.id customers.ssn | a.* customers.id customers.ssn"},
	{`VALUES (1, 'a')`, "column1,column2", "- | -"},
	{`SELECT * FROM (VALUES ((SELECT ssn FROM customers LIMIT 1))) v(s)`, "s", "customers.ssn"},
	// Data-modifying statements return what RETURNING reads.
	{`UPDATE customers SET name = 'x' RETURNING reverse(ssn)`, "reverse", "().reverse customers.ssn"},
	{`DELETE FROM customers c USING orders o WHERE o.cid = c.id RETURNING c.*`, "id,ssn", "customers.id! | customers.ssn!"},
	{`INSERT INTO customers (id) VALUES (1) RETURNING ssn`, "ssn", "customers.ssn!"},
	{`WITH d AS (DELETE FROM customers RETURNING ssn) SELECT lower(ssn) FROM d`, "lower", "().lower customers.ssn"},
	// No stored data, or nothing to analyse.
	{`SHOW search_path`, "search_path", "-"},
	{`EXPLAIN SELECT ssn FROM customers`, "QUERY PLAN", "-"},
	{`EXECUTE q(1)`, "ssn", "*.*"},
	{`CALL p(NULL)`, "x", "*.*"},
	{`FETCH ALL FROM c`, "ssn", "*.*"},
	{`SELECT 1`, "x", "-"},
	{`SELECT`, "", ""},
	{`not sql`, "a", "*.*"},
	{`SELECT 1; SELECT 2`, "a", "*.*"},
	// The select list and the result do not line up: all in doubt.
	{`SELECT id, ssn FROM customers`, "only", "customers.id customers.ssn"},
}

func TestLineage(t *testing.T) {
	for _, tc := range lineageCases {
		var names []string
		if tc.names != "" {
			names = strings.Split(tc.names, ",")
		}
		got := render(AnalyzeLineage(tc.sql).Resolve(names))
		if got != tc.want {
			t.Errorf("%s\n got %s\nwant %s", tc.sql, got, tc.want)
		}
	}
}

// TestLineageWorkIsBounded: a statement too big to follow is opaque, not
// slow.
func TestLineageWorkIsBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("SELECT ")
	for i := range 20000 {
		if i > 0 {
			b.WriteString(" || ")
		}
		b.WriteString("reverse(ssn)")
	}
	b.WriteString(" FROM customers")
	l := AnalyzeLineage(b.String())
	if got := render(l.Resolve([]string{"x"})); got != "*.*" {
		t.Errorf("got %.200s", got)
	}
}

func FuzzLineage(f *testing.F) {
	for _, tc := range lineageCases {
		f.Add(tc.sql, tc.names)
	}
	f.Fuzz(func(t *testing.T, sql, names string) {
		var ns []string
		if names != "" {
			ns = strings.Split(names, ",")
		}
		if len(ns) > 64 {
			ns = ns[:64]
		}
		l := AnalyzeLineage(sql)
		cols := l.Resolve(ns)
		if len(cols) != len(ns) {
			t.Fatalf("%d columns for %d names", len(cols), len(ns))
		}
		for _, c := range cols {
			if c.Direct && len(c.Sources) != 1 {
				t.Fatalf("direct with sources %v", c.Sources)
			}
			if slices.Contains(c.Sources, Wildcard) && len(c.Sources) != 1 {
				t.Fatalf("Wildcard not alone: %v", c.Sources)
			}
		}
		// Whatever Classify accepts as a read and reads a table, the
		// lineage is deterministic.
		if again := render(AnalyzeLineage(sql).Resolve(ns)); again != render(cols) {
			t.Fatalf("second run differs: %s vs %s", again, render(cols))
		}
	})
}

func BenchmarkLineage(b *testing.B) {
	for _, bs := range benchStatements {
		b.Run(bs.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bs.sql)))
			names := []string{"a", "b", "c"}
			for b.Loop() {
				AnalyzeLineage(bs.sql).Resolve(names)
			}
		})
	}
}

func TestLineageNames(t *testing.T) {
	cases := []struct{ sql, rels, fns string }{
		{`SELECT * FROM v`, "v", ""},
		{`SELECT reverse(a.x), b.* FROM s.a JOIN b ON true, LATERAL my_fn(a.y) f`, "b s.a", "reverse"}, // f is not in the result
		{`WITH c AS (SELECT ssn FROM customers) SELECT count(*) FROM c`, "", ""},
		{`SELECT x FROM (SELECT upper(ssn) AS x FROM customers) t`, "customers", "upper"},
		{`SHOW search_path`, "", ""},
	}
	for _, tc := range cases {
		r, f := AnalyzeLineage(tc.sql).Names()
		if got := strings.Join(r, " "); got != tc.rels {
			t.Errorf("%s: relations %q, want %q", tc.sql, got, tc.rels)
		}
		if got := strings.Join(f, " "); got != tc.fns {
			t.Errorf("%s: functions %q, want %q", tc.sql, got, tc.fns)
		}
	}
}
