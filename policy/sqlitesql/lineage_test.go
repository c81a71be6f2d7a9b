package sqlitesql

import (
	"strings"
	"testing"
)

func renderLineage(cols []ColumnLineage) string {
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

var sqliteLineageCases = []struct{ sql, names, want string }{
	{`SELECT id, ssn AS x FROM customers`, "id,x", "customers.id! | customers.ssn!"},
	{`SELECT c.ssn x FROM customers c`, "x", "c.ssn!"},
	{`SELECT replace(ssn, '-', '') FROM customers`, "r", "customers.ssn"},
	{`SELECT substr(ssn, 1, 3) || substr(ssn, 5, 2) AS p, name FROM customers`, "p,name", "customers.ssn | customers.name!"},
	{`SELECT "SSN", [card_number] FROM "Customers"`, "SSN,card_number", "customers.ssn! | customers.card_number!"},
	{`SELECT count(ssn), count(*) FROM customers`, "a,b", "- | -"},
	{`SELECT * FROM customers`, "id,ssn", "customers.id! | customers.ssn!"},
	{`SELECT o.*, c.name FROM orders o JOIN customers c ON c.id = o.customer_id`, "id,amount,name", "o.id! | o.amount! | c.name!"},
	{`SELECT name FROM customers, orders`, "name", "customers.name orders.name"},
	{`SELECT name FROM main.customers`, "name", "customers.name main.name"},
	{`SELECT 1`, "1", "-"},
	{`SELECT upper(name) n FROM customers`, "n", "customers.name"},
	// Anything not simple: every name anywhere, every table.
	{`WITH x AS (SELECT ssn AS s FROM customers) SELECT s FROM x`, "s", "customers.customers customers.s customers.ssn customers.x x.customers x.s x.ssn x.x"},
	{`SELECT name FROM customers UNION SELECT ssn FROM customers`, "name", "customers.customers customers.name customers.ssn"},
	{`SELECT (SELECT ssn FROM customers) AS a`, "a", "customers.a customers.customers customers.ssn"},
	{`not valid '`, "a", "*.*"},
	{`SELECT id FROM customers`, "a,b", "customers.id | customers.id"},
}

func TestSQLiteLineage(t *testing.T) {
	for _, tc := range sqliteLineageCases {
		got := renderLineage(Lineage(tc.sql, strings.Split(tc.names, ",")))
		if got != tc.want {
			t.Errorf("%s\n got %s\nwant %s", tc.sql, got, tc.want)
		}
	}
}

func FuzzLineage(f *testing.F) {
	for _, tc := range sqliteLineageCases {
		f.Add(tc.sql, tc.names)
	}
	f.Fuzz(func(t *testing.T, sql, names string) {
		ns := strings.Split(names, ",")
		if len(ns) > 64 {
			ns = ns[:64]
		}
		cols := Lineage(sql, ns)
		if len(cols) != len(ns) {
			t.Fatalf("%d columns for %d names", len(cols), len(ns))
		}
		for _, c := range cols {
			if c.Direct && len(c.Sources) != 1 {
				t.Fatalf("direct with %v", c.Sources)
			}
			if len(c.Sources) > maxSources+len(ns)+64 {
				t.Fatalf("%d sources", len(c.Sources))
			}
		}
	})
}

func BenchmarkLineage(b *testing.B) {
	sql := `SELECT c.id, c.name, substr(c.ssn, 1, 3) AS p, count(o.id) FROM customers c JOIN orders o ON o.customer_id = c.id GROUP BY c.id`
	names := []string{"id", "name", "p", "count"}
	b.ReportAllocs()
	b.SetBytes(int64(len(sql)))
	for b.Loop() {
		Lineage(sql, names)
	}
}
