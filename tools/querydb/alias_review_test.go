package querydb

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/airlockhq/airlock/config"
	"github.com/airlockhq/airlock/internal/pgtest"
	"github.com/airlockhq/airlock/masking"
	"github.com/airlockhq/airlock/policy"
	"github.com/airlockhq/airlock/tools"
)

func TestAliasEscapes(t *testing.T) {
	ctx := context.Background()
	tl := hostsPostgres(t)
	m, _ := masking.New(masking.Config{})
	for _, q := range []string{
		"SELECT v.version FROM hosts h CROSS JOIN LATERAL (VALUES (h.ip)) v(version)",
		"SELECT version FROM (SELECT ip FROM hosts UNION ALL SELECT ip FROM hosts) s(version)",
		"SELECT version FROM (SELECT ip AS version FROM hosts UNION ALL SELECT ip FROM hosts) s",
		"SELECT u.version FROM hosts h, unnest(ARRAY[h.ip]) AS u(version)",
		"SELECT version FROM hosts h, LATERAL (SELECT h.ip AS version) s",
		"WITH x(version) AS (SELECT ip FROM hosts) SELECT version FROM x",
		"SELECT version FROM hosts AS h(version, phone)",
		"SELECT (SELECT ip FROM hosts) AS version",
		"SELECT r.version FROM hosts h, json_to_record(json_build_object('version', h.ip)) AS r(version text)",
		"SELECT version FROM (SELECT DISTINCT ip AS version FROM hosts) s",
		"SELECT version FROM (SELECT ip AS version FROM hosts GROUP BY ip) s",
		"SELECT max(ip) AS version FROM hosts",
		"SELECT version FROM (SELECT max(ip) AS version FROM hosts) s",
		"SELECT COALESCE(ip, ip) AS version FROM hosts",
		"SELECT CASE WHEN true THEN ip END AS version FROM hosts",
		"SELECT ip::varchar AS version FROM hosts",
		"SELECT version FROM (SELECT ip::varchar AS version FROM hosts) s",
	} {
		for range 2 { // twice: the second read is the one-trip one
			r, err := execAs(t, ctx, tl, "pg", q, policy.Read)
			if err != nil {
				t.Logf("%s: %v", q, err)
				break
			}
			tools.MaskTable(m, r.Table, masking.Counts{})
			b, _ := json.Marshal(r.Table.Rows)
			if strings.Contains(string(b), hostIP) {
				t.Errorf("%s: came back unmasked: %s (sources %+v lineage %+v)", q, b, r.Table.Sources, r.Table.Lineage)
			}
		}
	}
}

func TestAliasEscapesSQLite(t *testing.T) {
	ctx := context.Background()
	tl := hostsSQLite(t)
	m, _ := masking.New(masking.Config{})
	for _, q := range []string{
		"WITH x(version) AS (SELECT ip FROM hosts) SELECT version FROM x",
		"SELECT version FROM (SELECT ip FROM hosts UNION ALL SELECT ip FROM hosts) s(version)",
		"SELECT version FROM (SELECT ip AS version FROM hosts UNION ALL SELECT ip FROM hosts)",
		"SELECT version FROM (SELECT ip AS version FROM hosts UNION SELECT 'x')",
		"SELECT v.column1 AS x FROM (VALUES ((SELECT ip FROM hosts))) v",
		"SELECT version FROM (SELECT max(ip) AS version FROM hosts)",
		"SELECT version FROM (SELECT ip AS version FROM hosts GROUP BY ip)",
		"SELECT version FROM (SELECT DISTINCT ip AS version FROM hosts)",
		"SELECT version FROM (SELECT ip AS version FROM hosts) AS s",
		"SELECT s.version FROM hosts h JOIN (SELECT ip AS version FROM hosts) s ON 1",
		"SELECT j.value AS version FROM hosts, json_each(json_array(hosts.ip)) j",
		"SELECT version FROM (SELECT CAST(ip AS TEXT) AS version FROM hosts)",
		"SELECT \"version\" FROM (SELECT ip \"version\" FROM hosts)",
		"SELECT version FROM (SELECT ip version FROM hosts)",
		"SELECT [version] FROM (SELECT ip AS [version] FROM hosts)",
		"SELECT `version` FROM (SELECT ip AS `version` FROM hosts)",
	} {
		r, err := execAs(t, ctx, tl, "lite", q, policy.Read)
		if err != nil {
			t.Logf("%s: %v", q, err)
			continue
		}
		tools.MaskTable(m, r.Table, masking.Counts{})
		b, _ := json.Marshal(r.Table.Rows)
		if strings.Contains(string(b), hostIP) {
			t.Errorf("%s: came back unmasked: %s (sources %+v lineage %+v)", q, b, r.Table.Sources, r.Table.Lineage)
		}
	}
}

// A one-trip read whose cached description went stale (the column's type
// changed between calls on the same connection) must answer with the new
// type's values, decoded right.
func TestPredictedReadAfterTypeChange(t *testing.T) {
	dsn, pool := pgtest.Schema(t)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `CREATE TABLE tc (a int4, b text); INSERT INTO tc VALUES (7, 'x')`); err != nil {
		t.Fatal(err)
	}
	tl := newTool(t, map[string]*config.Connection{"pg": {Kind: config.KindPostgres, DSN: dsn, MaxConns: 1}}, 10)
	q := "SELECT a, b FROM tc WHERE a > $1"
	run := func() string {
		r, err := execParams(t, ctx, tl, q)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(r.Table.Rows)
		return string(b)
	}
	run()
	first := run()
	if _, err := pool.Exec(ctx, `ALTER TABLE tc ALTER a TYPE int8, ALTER b TYPE int4 USING 5`); err != nil {
		t.Fatal(err)
	}
	second := run()
	if _, err := pool.Exec(ctx, `ALTER TABLE tc ALTER a TYPE text USING 'z' || a`); err != nil {
		t.Logf("alter: %v", err)
	}
	third, err := execParams(t, ctx, tl, q)
	t.Logf("first %s second %s third %v %v", first, second, third, err)
	if second != `[[7,5]]` {
		t.Errorf("after the type change: %s", second)
	}
}

func execParams(t testing.TB, ctx context.Context, tl *Tool, q string) (*tools.Result, error) {
	c, err := tl.Parse(map[string]any{"connection": "pg", "sql": q, "params": []any{float64(0)}})
	if err != nil {
		return nil, err
	}
	c.Access = policy.Read
	return tl.Execute(ctx, c)
}
