package querydb

import (
	"context"
	"testing"

	"github.com/airlockhq/airlock/config"
	"github.com/airlockhq/airlock/internal/pgtest"
)

// BenchmarkQueryDBPostgres is a full query_db call (parse, classify,
// execute, convert) against PostgreSQL, for the scenarios of issue 12:
// SELECT 1, a 100-row read from a table, a read cut at max_rows (100) and
// the same read with a LIMIT, which the cut read should cost about as much
// as.
func BenchmarkQueryDBPostgres(b *testing.B) {
	dsn, pool := pgtest.Schema(b)
	if _, err := pool.Exec(context.Background(), `CREATE TABLE people (id int PRIMARY KEY, name text, email text, ssn text);
INSERT INTO people SELECT g, 'name ' || g, 'user' || g || '@example.com', '123-45-' || lpad(g::text, 4, '0') FROM generate_series(1, 100000) g;
ANALYZE people`); err != nil {
		b.Fatal(err)
	}
	tl := newTool(b, map[string]*config.Connection{"pg": {Kind: config.KindPostgres, DSN: dsn}}, 100)
	for _, bc := range []struct{ name, sql string }{
		{"select1", "SELECT 1"},
		{"rows100", "SELECT id, name, email, ssn FROM people WHERE id <= 100"},
		{"cut", "SELECT id, name, email, ssn FROM people"},
		{"limit", "SELECT id, name, email, ssn FROM people LIMIT 100"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			args := map[string]any{"connection": "pg", "sql": bc.sql}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				c, err := tl.Parse(args)
				if err != nil {
					b.Fatal(err)
				}
				r, err := tl.Execute(ctx, c)
				if err != nil {
					b.Fatal(err)
				}
				if r.Rows != 1 && r.Rows != 100 {
					b.Fatalf("%d rows", r.Rows)
				}
			}
		})
	}
}
