package server_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/airlockhq/airlock/server"
)

// lineageRules protects customers.ssn (redact), every card_number
// (partial) and customers.secret_note (null) by column rules.
const lineageRules = `
masking:
  columns:
    "customers.ssn": redact
    "*.card_number": partial
    "customers.secret_note": "null"
    "customers_p.ssn": redact
rules:
  - {name: analysts-read, groups: [analysts], connections: [pg], access: [read], effect: allow}
`

// Column rules follow the value through expressions: an output column
// computed from a protected column (functions, operators, casts, CASE,
// COALESCE, CTEs, subqueries, set operations, views, whole rows, JSON and
// array aggregates) is masked whole, with the strictest rule; counts and
// presence tests pass.
func TestColumnRulesFollowExpressions(t *testing.T) {
	// ssn_of is a user function: a read may call it only when the
	// connection lists it (otherwise the call needs admin).
	e := newEnvPG(t, ", functions: [ssn_of]", lineageRules)
	ctx := context.Background()
	if _, err := e.pg.Exec(ctx, `
CREATE TABLE customers (id int PRIMARY KEY, name text, ssn text, card_number text, secret_note text);
INSERT INTO customers VALUES
  (1, 'Ada', '078-05-1121', '4111111111111111', 'owes money'),
  (2, 'Bob', '219-09-9999', '5500005555555559', 'vip'),
  (3, 'Cy',  NULL, NULL, NULL);
CREATE TABLE orders (id int PRIMARY KEY, customer_id int, card_number text, total numeric);
INSERT INTO orders VALUES (1, 1, '4012888888881881', 10), (2, 2, '378282246310005', 20);
CREATE VIEW customer_v AS SELECT id, name, ssn AS tax_id, upper(card_number) AS pan FROM customers;
CREATE VIEW customer_vv AS SELECT id, tax_id AS t2 FROM customer_v;
CREATE MATERIALIZED VIEW customer_mv AS SELECT id, lower(ssn) AS s FROM customers;
CREATE TABLE customers_p (id int, ssn text) PARTITION BY RANGE (id);
CREATE TABLE customers_p1 PARTITION OF customers_p FOR VALUES FROM (0) TO (100);
INSERT INTO customers_p VALUES (1, '219-09-9999');
CREATE TABLE vip_customers () INHERITS (customers);
INSERT INTO vip_customers VALUES (9, 'Vi', '219-09-9999', '4111111111111111', 'owes money');
CREATE FUNCTION ssn_of(i int) RETURNS TABLE (x text) LANGUAGE sql AS 'SELECT ssn FROM customers WHERE id = i';
`); err != nil {
		t.Fatal(err)
	}
	_, base := e.start(t, server.Options{})
	c := httpClient(t, "streamable-http", base, e.token(t, "alice", "analysts"))
	grant(t, c, "pg", "read")

	// Each case: the SQL and, per result column, whether it must come back
	// masked whole ("m": a mask label or null) or as is ("-").
	cases := []struct {
		sql  string
		want string
	}{
		{`SELECT reverse(ssn) FROM customers`, "m"},
		{`SELECT replace(ssn, '-', '') FROM customers`, "m"},
		{`SELECT concat_ws('/', name, ssn) FROM customers`, "m"},
		{`SELECT to_char(replace(ssn, '-', '')::bigint, '999999999') FROM customers WHERE ssn IS NOT NULL`, "m"},
		{`SELECT encode(convert_to(ssn, 'UTF8'), 'base64') FROM customers`, "m"},
		{`SELECT right(card_number, 12) FROM customers`, "m"},
		{`SELECT o.id, name, right(o.card_number, 12) FROM orders o JOIN customers c ON c.id = o.customer_id`, "--m"},
		{`SELECT name, ssn || '' AS x FROM customers`, "-m"},
		{`SELECT '***' || ssn FROM customers`, "m"},
		{`SELECT ssn::text, substr(ssn, 1, 3), split_part(ssn, '-', 3) FROM customers`, "mmm"},
		{`SELECT CASE WHEN id > 0 THEN ssn END FROM customers`, "m"},
		{`SELECT coalesce(ssn, 'none'), nullif(ssn, '') FROM customers`, "mm"},
		{`SELECT translate(ssn, '0123456789', 'abcdefghij') FROM customers`, "m"},
		{`WITH x AS (SELECT id, reverse(ssn) AS r FROM customers) SELECT id, r FROM x`, "-m"},
		{`WITH x(a, b) AS (SELECT id, ssn FROM customers) SELECT a, lower(b) FROM x`, "-m"},
		{`SELECT s.v FROM (SELECT upper(ssn) AS v FROM customers) s`, "m"},
		{`SELECT t.* FROM (SELECT id, reverse(ssn) FROM customers) t`, "-m"},
		{`SELECT * FROM (SELECT name, ssn || '' AS s FROM customers) t`, "-m"},
		{`SELECT name FROM customers UNION ALL SELECT reverse(ssn) FROM customers`, "m"},
		{`SELECT id, name FROM customers UNION SELECT id, ssn FROM customers`, "-m"},
		{`SELECT row_to_json(c) FROM customers c`, "m"},
		{`SELECT to_jsonb(c.*) FROM customers c`, "m"},
		{`SELECT c FROM customers c`, "m"},
		{`SELECT json_agg(ssn), array_agg(ssn), string_agg(ssn, ',') FROM customers`, "mmm"},
		{`SELECT json_agg(c) FROM customers c`, "m"},
		{`SELECT array_to_string(array_agg(reverse(ssn)), ',') FROM customers`, "m"},
		{`SELECT (SELECT ssn FROM customers WHERE id = 1) || ''`, "m"},
		{`SELECT x FROM customers c, unnest(ARRAY[c.ssn]) AS u(x)`, "m"},
		{`SELECT u.x FROM customers c, LATERAL (SELECT reverse(c.ssn) AS x) u`, "m"},
		{`SELECT regexp_split_to_table(ssn, '-') FROM customers`, "m"},
		{`SELECT tax_id, pan, name FROM customer_v`, "mm-"},
		{`SELECT reverse(tax_id) FROM customer_v`, "m"},
		{`SELECT t2 FROM customer_vv`, "m"},
		{`SELECT * FROM customer_v`, "--mm"},
		{`SELECT s FROM customer_mv`, "m"},
		{`SELECT max(ssn), min(right(card_number, 4)) FROM customers`, "mm"},
		{`SELECT lag(ssn) OVER (ORDER BY id) FROM customers`, "m"},
		{`SELECT secret_note || '', reverse(ssn) FROM customers`, "mm"},
		// Partitions and child tables carry their parent's rules.
		{`SELECT ssn, reverse(ssn) FROM customers_p1`, "mm"},
		{`SELECT ssn || '' FROM vip_customers`, "m"},
		{`SELECT secret_note FROM vip_customers`, "m"},
		// A function defined outside pg_catalog may read anything.
		{`SELECT * FROM ssn_of(2)`, "m"},
		{`SELECT x || '' FROM ssn_of(1)`, "m"},
		{`SELECT id, (SELECT x FROM ssn_of(id)) FROM customers`, "-m"},
		// What cannot reveal a value passes.
		{`SELECT upper(name), length(name), g FROM customers, generate_series(1, 2) g`, "---"},
		{`SELECT count(ssn), count(DISTINCT ssn), count(*) FROM customers`, "---"},
		{`SELECT name, ssn IS NULL FROM customers`, "--"},
		{`SELECT id, EXISTS (SELECT 1 FROM customers d WHERE d.ssn = c.ssn) FROM customers c`, "--"},
		{`SELECT id, name FROM customers WHERE ssn IS NOT NULL`, "--"},
	}
	for _, tc := range cases {
		res := query(t, c, "pg", tc.sql)
		r := structured(t, res)
		if len(r.Rows) == 0 {
			t.Errorf("%s: no rows", tc.sql)
			continue
		}
		if len(r.Columns) != len(tc.want) {
			t.Errorf("%s: columns %v, want %d", tc.sql, r.Columns, len(tc.want))
			continue
		}
		for _, row := range r.Rows {
			for i, v := range row {
				masked := isMaskLabel(v)
				if tc.want[i] == 'm' && !masked {
					t.Errorf("%s: column %d (%s) came back unmasked: %v", tc.sql, i+1, r.Columns[i], v)
				}
				if tc.want[i] == '-' && masked && v != nil {
					t.Errorf("%s: column %d (%s) was masked: %v", tc.sql, i+1, r.Columns[i], v)
				}
			}
		}
		raw, _ := json.Marshal(res)
		for _, s := range []string{"078-05-1121", "1211-50-870", "078051121", "4111111111111111", "owes money"} {
			if strings.Contains(string(raw), s) {
				t.Errorf("%s: the answer holds %q: %.300s", tc.sql, s, raw)
			}
		}
	}
}

// isMaskLabel reports a value that a whole-value rule produced: null or
// a label such as [REDACTED] or [SSN].
func isMaskLabel(v any) bool {
	if v == nil {
		return true
	}
	s, ok := v.(string)
	return ok && strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") && !strings.ContainsAny(s, "0123456789")
}

// Columns named like secrets are masked by the words of their names, not
// a fixed list: password_hash, passwd_digest, api_key_hash, secret_token,
// private_key, rolpassword; password_reset_at and token_count are not.
func TestSecretColumnNamesAreMasked(t *testing.T) {
	e := newEnvWith(t, `
rules:
  - {name: analysts-read, groups: [analysts], connections: [pg], access: [read], effect: allow}
`)
	if _, err := e.pg.Exec(context.Background(), `
CREATE TABLE accounts (id int, password_hash text, passwd_digest text, api_key_hash text, secret_token text,
  private_key text, rolpassword text, "clientSecret" text, password_reset_at text, token_count int);
INSERT INTO accounts VALUES (1, '$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW',
  'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', 'k1_9f8e7d6c5b4a39281706f5e4d3c2b1a0',
  'tok_Zx81kQpLm2Vn7RsT', 'MIIEvQIBADANBgkqhkiG9w0BAQEFAASC', 'SCRAM-SHA-256$4096:c2FsdA==$c3RvcmVk:c2VydmVy',
  'cs_live_8fJ2kLmQ9xZ', '2026-01-02 03:04:05', 42);`); err != nil {
		t.Fatal(err)
	}
	_, base := e.start(t, server.Options{})
	c := httpClient(t, "streamable-http", base, e.token(t, "alice", "analysts"))
	grant(t, c, "pg", "read")
	r := structured(t, query(t, c, "pg", `SELECT * FROM accounts`))
	if len(r.Rows) != 1 {
		t.Fatalf("rows %v", r.Rows)
	}
	for i, col := range r.Columns {
		v := r.Rows[0][i]
		secret := col != "id" && col != "password_reset_at" && col != "token_count"
		if secret && !isMaskLabel(v) {
			t.Errorf("%s came back unmasked: %v", col, v)
		}
		if !secret && isMaskLabel(v) {
			t.Errorf("%s was masked: %v", col, v)
		}
	}
}

// On SQLite, whose parse tree is not available, a result column that
// mentions a protected column is masked whole, and table-qualified rules
// apply (the driver names no source table).
func TestSQLiteColumnRulesFollowExpressions(t *testing.T) {
	e := newEnvWith(t, `
masking:
  columns:
    "customers.ssn": redact
    "customers.card_number": "null"
rules:
  - {name: analysts-read, groups: [analysts], connections: [demo], access: [read], effect: allow}
`)
	_, base := e.start(t, server.Options{})
	c := httpClient(t, "streamable-http", base, e.token(t, "alice", "analysts"))
	grant(t, c, "demo", "read")
	cases := []struct{ sql, want string }{
		{`SELECT replace(ssn, '-', '') FROM customers LIMIT 5`, "m"},
		{`SELECT substr(ssn, 1, 3) || substr(ssn, 5, 2) || substr(ssn, 8) AS p, name FROM customers LIMIT 5`, "m-"},
		{`SELECT ssn AS x, card_number y FROM customers LIMIT 5`, "mm"},
		{`SELECT * FROM customers LIMIT 5`, "--??mm-"}, // email and phone: detectors
		{`SELECT c.name, substr(c.card_number, 5) FROM customers c LIMIT 5`, "-m"},
		{`WITH x AS (SELECT replace(ssn, '-', '') AS s FROM customers) SELECT s FROM x LIMIT 5`, "m"},
		{`SELECT name FROM customers UNION ALL SELECT replace(ssn, '-', '') FROM customers LIMIT 5`, "m"},
		{`SELECT count(ssn), count(*) FROM customers`, "--"},
		{`SELECT id, name FROM customers LIMIT 5`, "--"},
	}
	for _, tc := range cases {
		r := structured(t, query(t, c, "demo", tc.sql))
		if len(r.Rows) == 0 || len(r.Columns) != len(tc.want) {
			t.Errorf("%s: columns %v, rows %d", tc.sql, r.Columns, len(r.Rows))
			continue
		}
		for _, row := range r.Rows {
			for i, v := range row {
				if masked := isMaskLabel(v); tc.want[i] != '?' && masked != (tc.want[i] == 'm') {
					t.Errorf("%s: column %s: %v", tc.sql, r.Columns[i], v)
				}
			}
		}
	}
}
