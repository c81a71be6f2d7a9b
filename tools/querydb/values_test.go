package querydb

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/airlockhq/airlock/config"
	"github.com/airlockhq/airlock/internal/pgtest"
	"github.com/airlockhq/airlock/masking"
	"github.com/airlockhq/airlock/tools"
)

// testSSN is a well-formed SSN: masking must never let it through.
const testSSN = "234-56-7891"

// maskRow masks a row the way the pipeline does for computed columns (no
// column rule), with the default detectors.
func maskRow(t testing.TB, cols []string, row []any) []any {
	t.Helper()
	m, err := masking.New(masking.Config{})
	if err != nil {
		t.Fatal(err)
	}
	out := make([]any, len(row))
	for i, v := range row {
		out[i] = m.MaskCell("", cols[i], v, masking.Counts{})
	}
	return out
}

// Every PostgreSQL type reaches masking as text, JSON or a number it can
// read, never as base64 or a Go struct; binary that is not text becomes a
// size marker. Each case runs on a real PostgreSQL and then through the
// masking the pipeline applies: a value holding an SSN comes out masked.
func TestPostgresTypesReachMaskingReadable(t *testing.T) {
	dsn, pool := pgtest.Schema(t)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `CREATE TYPE mood AS ENUM ('sad', 'happy');
CREATE TYPE pair AS (a text, b int);
CREATE TABLE p (id int, ssn text, doc bytea);
INSERT INTO p VALUES (1, '`+testSSN+`', convert_to('{"ssn": "`+testSSN+`"}', 'UTF8'))`); err != nil {
		t.Fatal(err)
	}
	hstore := hstoreSchema(t, pool)
	tl := newTool(t, map[string]*config.Connection{"pg": {Kind: config.KindPostgres, DSN: dsn}}, 10)

	cases := []struct {
		expr string
		want string // JSON of the converted value, before masking; "" to skip
	}{
		// Binary that is text is text; other binary is a size marker.
		{"ssn::bytea", `"` + testSSN + `"`},
		{"doc", `"{\"ssn\": \"` + testSSN + `\"}"`},
		{`'\x00ff'::bytea`, `"\u003cbinary 2 bytes\u003e"`},
		{"ARRAY[ssn::bytea]", `["` + testSSN + `"]`},
		{`ARRAY['\x00ff'::bytea]`, `["\u003cbinary 2 bytes\u003e"]`},
		{"ROW(ssn::bytea, 1)", `"(` + testSSN + `,1)"`},
		// xml and json are text and JSON.
		{"xmlelement(name x, ssn)", `"\u003cx\u003e` + testSSN + `\u003c/x\u003e"`},
		{"xmlelement(name x, ssn)::text::xml", `"\u003cx\u003e` + testSSN + `\u003c/x\u003e"`},
		{"jsonb_build_object('k', ssn)", `{"k":"` + testSSN + `"}`},
		{"json_build_object('k', ssn)", `{"k":"` + testSSN + `"}`},
		{"ARRAY[jsonb_build_object('k', ssn)]", `[{"k":"` + testSSN + `"}]`},
		{"ARRAY[to_json(ssn)]", `["` + testSSN + `"]`},
		{`'{"n": 12345678901234567890}'::json`, `{"n":12345678901234567890}`},
		// Arrays, composites, ranges, hstore, enums.
		{"ARRAY[ssn, NULL]", `["` + testSSN + `",null]`},
		{"ROW(ssn, 1)", `"(` + testSSN + `,1)"`},
		{"(ssn, 1)::pair", `"(` + testSSN + `,1)"`},
		{"ARRAY[(ssn, 1)::pair]", `"{\"(` + testSSN + `,1)\"}"`},
		{"int4range(1, 5)", `"[1,5)"`},
		{"tstzrange('2026-01-01 00:00+00', '2026-01-02 00:00+00')", ""},
		{"'sad'::mood", `"sad"`},
		{"ARRAY['happy'::mood]", `"{happy}"`},
		{hstore + ".hstore('k', ssn)", `"\"k\"=\u003e\"` + testSSN + `\""`},
		// Scalars with their own text forms.
		{"interval '1 day 02:03:04'", `"1 day 02:03:04"`},
		{"ARRAY[interval '1 day']", `"{\"1 day\"}"`},
		{"'12.34'::money", `"$12.34"`},
		{"B'1011'", `"1011"`},
		{"'1011'::varbit", `"1011"`},
		{"'192.168.0.1/24'::inet", `"192.168.0.1/24"`},
		{"'10.0.0.0/8'::cidr", `"10.0.0.0/8"`},
		{"'08:00:2b:01:02:03'::macaddr", `"08:00:2b:01:02:03"`},
		{"to_tsvector('simple', 'a b')", `"'a':1 'b':2"`},
		{"time '03:04:05'", `"03:04:05"`},
		{"point(1, 2)", `"(1,2)"`},
		{"'6f1c2a5e-9a55-4e43-9c55-0d2b8d0c6a11'::uuid", `"6f1c2a5e-9a55-4e43-9c55-0d2b8d0c6a11"`},
		{"numeric '1.50'", `"1.50"`},
		{"ARRAY[numeric '1.50']", `["1.50"]`},
		{"date '2026-03-04'", `"2026-03-04"`},
		{"ARRAY[date '2026-03-04']", `["2026-03-04"]`},
		{"timestamptz '2026-01-02 03:04:05+00'", `"2026-01-02T03:04:05Z"`},
		{"'infinity'::timestamptz", `"infinity"`},
		{"float8 'NaN'", `"NaN"`},
		{"9007199254740993::int8", `"9007199254740993"`},
		{"ARRAY[1, 2]", `[1,2]`},
		{"ARRAY[true]", `[true]`},
		{"'x'::char(3)", `"x  "`},
		{"'x'::name", `"x"`},
		{"42::oid", `42`},
		{"'a'::regclass::oid", ""},
		{"txid_current_snapshot()", ""},
		{"pg_lsn '0/16B3748'", `"0/16B3748"`},
	}
	for _, tc := range cases {
		rs, err := run(t, tl, "pg", "SELECT "+tc.expr+" AS v FROM p")
		if err != nil {
			if tc.expr == "'a'::regclass::oid" {
				continue // no relation a; the type still has its case
			}
			t.Errorf("%s: %v", tc.expr, err)
			continue
		}
		got, _ := json.Marshal(rs.Rows[0][0])
		if tc.want != "" && string(got) != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.expr, got, tc.want)
		}
		if !utf8.Valid(got) || strings.Contains(string(got), "{0 ") || strings.Contains(string(got), "&{") {
			t.Errorf("%s: not readable text: %s", tc.expr, got)
		}
		masked, _ := json.Marshal(maskRow(t, rs.Columns, rs.Rows[0]))
		if strings.Contains(string(masked), testSSN) || strings.Contains(string(masked), strings.ReplaceAll(testSSN, "-", "")) {
			t.Errorf("%s: the SSN survives masking: %s", tc.expr, masked)
		}
	}
}

// hstoreSchema installs hstore once per database in a schema of its own
// (an extension lives in one schema per database, and test schemas are
// dropped) and returns that schema.
func hstoreSchema(t *testing.T, pool *pgxpool.Pool) string {
	t.Helper()
	ctx := context.Background()
	for range 3 { // concurrent test processes may race to create it
		_, err := pool.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS airlock_ext; CREATE EXTENSION IF NOT EXISTS hstore SCHEMA airlock_ext")
		var ok bool
		if pool.QueryRow(ctx, "SELECT to_regtype('airlock_ext.hstore') IS NOT NULL").Scan(&ok) == nil && ok {
			return "airlock_ext"
		}
		t.Logf("hstore: %v", err)
	}
	t.Fatal("cannot install hstore")
	return ""
}

// run2 runs sql and returns the tool's result as the pipeline gets it.
func run2(t testing.TB, tl *Tool, conn, sql string) *tools.Result {
	t.Helper()
	c, err := tl.Parse(map[string]any{"connection": conn, "sql": sql})
	if err != nil {
		t.Fatal(err)
	}
	r, err := tl.Execute(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// With allow_binary, binary that is not text comes back as base64.
func TestPostgresAllowBinary(t *testing.T) {
	dsn, _ := pgtest.Schema(t)
	tl := newTool(t, map[string]*config.Connection{"pg": {Kind: config.KindPostgres, DSN: dsn, AllowBinary: true}}, 10)
	rs, err := run(t, tl, "pg", `SELECT '\x0102'::bytea, ARRAY['\x00ff'::bytea], 'text'::bytea`)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(rs.Rows[0])
	if want := `["AQI=",["AP8="],"text"]`; string(got) != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

// One huge value costs at most MaxValueBytes in the result, and the note
// says what was cut and why; the statement is not reported as having more
// rows.
func TestPostgresHugeValueIsCut(t *testing.T) {
	tl := pgTool(t, 100)
	rs, err := run(t, tl, "pg", "SELECT repeat('ab ', 10000000) AS big, 1 AS n")
	if err != nil {
		t.Fatal(err)
	}
	s, _ := rs.Rows[0][0].(string)
	if len(s) > MaxValueBytes+200 || !strings.Contains(s, "…[cut: ") || !strings.Contains(s, "of 30000000 bytes shown]") {
		t.Errorf("value: %d bytes, ends %q", len(s), s[max(0, len(s)-60):])
	}
	r := run2(t, tl, "pg", "SELECT repeat('ab ', 10000000) AS big")
	if !strings.Contains(r.Note, "limit of 65536 bytes per value") || strings.Contains(r.Note, "more rows") || r.Truncated {
		t.Errorf("note %q truncated %v", r.Note, r.Truncated)
	}
	// Many large values: the result stops at MaxResultBytes and says so.
	r = run2(t, tl, "pg", "SELECT repeat('x', 60000) FROM generate_series(1, 100)")
	if !r.Truncated || !strings.Contains(r.Note, "bytes per result") || len(r.Table.Rows) >= 100 {
		t.Errorf("rows %d truncated %v note %q", len(r.Table.Rows), r.Truncated, r.Note)
	}
}

// SQLite BLOBs follow the same rules as bytea, and a value built in one
// step cannot outgrow the length limit or the timeout.
func TestSQLiteValues(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v.db")
	tl := newTool(t, map[string]*config.Connection{"s": {Kind: config.KindSQLite, Path: path, Seed: "demo"}}, 10)
	rs, err := run(t, tl, "s", "SELECT CAST(ssn AS BLOB), x'00ff', zeroblob(3), 'a' FROM customers LIMIT 1")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(rs.Rows[0][1:])
	if want := `["\u003cbinary 2 bytes\u003e","\u003cbinary 3 bytes\u003e","a"]`; string(got) != want {
		t.Errorf("got %s, want %s", got, want)
	}
	if ssn, _ := rs.Rows[0][0].(string); len(ssn) != 11 {
		t.Errorf("a BLOB holding text is not text: %v", rs.Rows[0][0])
	}
	_, err = run(t, tl, "s", "SELECT length(randomblob(900000000))")
	if err == nil || !strings.Contains(err.Error(), "too big") {
		t.Errorf("randomblob(900000000): %v", err)
	}
	rs, err = run(t, tl, "s", "SELECT substr(hex(randomblob(8000000)), 1, 200000)")
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := rs.Rows[0][0].(string); len(s) > MaxValueBytes+200 || !strings.Contains(s, "[cut: ") {
		t.Errorf("value of %d bytes", len(s))
	}
}

// The converter's text and binary paths always give valid UTF-8 within
// the bound, and never echo non-text bytes unless binary is allowed.
func FuzzConvertBinary(f *testing.F) {
	for _, s := range []string{"", testSSN, "\x00\xff", "héllo", strings.Repeat("1234 ", 20000), strings.Repeat("é", 40000)} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		cv := converter{}
		v := cv.binary(raw)
		s, ok := v.(string)
		if !ok || !utf8.ValidString(s) {
			t.Fatalf("%T %q", v, v)
		}
		if len(s) > MaxValueBytes+100 {
			t.Fatalf("%d bytes", len(s))
		}
		if !isText(raw) && !strings.HasPrefix(s, "<binary ") {
			t.Fatalf("non-text bytes passed: %q", s)
		}
		if t := cv.text(raw); !utf8.ValidString(t) || len(t) > MaxValueBytes+100 {
			panic("text")
		}
	})
}

func BenchmarkConvertPostgresText(b *testing.B) {
	cv := converter{}
	small := []byte("(" + testSSN + ",1)")
	big := []byte(strings.Repeat("lorem ipsum ", 20000))
	b.ReportAllocs()
	for b.Loop() {
		_ = cv.pgValue(small, 2249, 0, nil)
		_ = cv.pgValue(big, 25, 1, nil)
	}
}

// The statement timeout interrupts a long SQLite statement.
func TestSQLiteStatementTimeoutInterrupts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v.db")
	tl := newTool(t, map[string]*config.Connection{"s": {Kind: config.KindSQLite, Path: path, Seed: "demo"}}, 10)
	tl.targets["s"].(*sqliteTarget).limits.StatementTimeout = 300 * time.Millisecond
	_, err := run(t, tl, "s", "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 300000000) SELECT count(*) FROM c")
	if err == nil || !strings.Contains(err.Error(), "time limit") {
		t.Fatalf("want the time limit, got %v", err)
	}
}

// A data exception quotes the offending value, which may be a stored one
// that a column rule hides: the agent gets the message without it; names
// quoted by other classes stay.
func TestValuesOutOfServerMessages(t *testing.T) {
	for _, c := range []struct{ code, msg, want string }{
		{"22P02", `invalid input syntax for type integer: "hunter2letmein"`, `invalid input syntax for type integer: "…"`},
		{"22007", `invalid input syntax for type date: "137-23-8919"`, `invalid input syntax for type date: "…"`},
		{"22P02", `invalid input syntax for type json`, `invalid input syntax for type json`},
		{"P0001", `value 'secret' rejected`, `value "…" rejected`},
		{"42703", `column "ssn2" does not exist`, `column "ssn2" does not exist`},
		{"42P01", `relation "nope" does not exist`, `relation "nope" does not exist`},
		{"23505", `duplicate key value violates unique constraint "t_pkey"`, `duplicate key value violates unique constraint "t_pkey"`},
	} {
		if got := valuesOut(c.code, c.msg); got != c.want {
			t.Errorf("valuesOut(%s, %q) = %q, want %q", c.code, c.msg, got, c.want)
		}
	}
}
