package querydb

import (
	"context"
	"database/sql"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airlockhq/airlock/config"
	"github.com/airlockhq/airlock/internal/pgtest"
	"github.com/airlockhq/airlock/masking"
	"github.com/airlockhq/airlock/policy"
	"github.com/airlockhq/airlock/tools"
)

// The agent writes the SQL, so it chooses the aliases and the literal
// text around a value. Neither may switch a detection off: an address
// aliased "version", a phone number aliased "order_ref" or written after
// "order #" come back masked, through the tool and the pipeline's masking.
var agentContextQueries = []string{
	"SELECT ip AS version FROM hosts",
	"SELECT ip AS firmware_build, phone AS order_id FROM hosts",
	"SELECT ip || '' AS version, phone || '' AS order_ref FROM hosts",
	"SELECT 'version ' || ip AS v, 'order #' || phone AS o FROM hosts",
	"SELECT 'build: ' || ip, 'invoice no ' || phone FROM hosts",
	"SELECT s.ip AS release, s.phone AS sku FROM (SELECT ip, phone FROM hosts) s",
	"WITH x AS (SELECT ip AS version, phone AS ticket FROM hosts) SELECT version, ticket FROM x",
	"SELECT lower(ip) AS version, upper(phone) AS tracking FROM hosts",
}

const hostIP, hostPhone = "203.0.113.45", "415-555-2671"

func checkAgentContext(t *testing.T, ctx context.Context, tl *Tool, conn string) {
	t.Helper()
	m, err := masking.New(masking.Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range agentContextQueries {
		r, err := execAs(t, ctx, tl, conn, q, policy.Read)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if len(r.Table.Rows) != 1 {
			t.Fatalf("%s: %d rows", q, len(r.Table.Rows))
		}
		tools.MaskTable(m, r.Table, masking.Counts{})
		b, _ := json.Marshal(r.Table.Rows)
		if strings.Contains(string(b), hostIP) || strings.Contains(string(b), "555-2671") {
			t.Errorf("%s: came back unmasked: %s", q, b)
		}
	}
}

func TestPostgresAgentContextNeverUnmasks(t *testing.T) {
	checkAgentContext(t, context.Background(), hostsPostgres(t), "pg")
}

func TestSQLiteAgentContextNeverUnmasks(t *testing.T) {
	checkAgentContext(t, context.Background(), hostsSQLite(t), "lite")
}

// hostsPostgres is a query_db tool whose connection "pg" holds a table
// hosts (ip, phone) with one row, hostIP and hostPhone.
func hostsPostgres(t *testing.T) *Tool {
	t.Helper()
	dsn, pool := pgtest.Schema(t)
	if _, err := pool.Exec(context.Background(), `CREATE TABLE hosts (ip text, phone text);
INSERT INTO hosts VALUES ('`+hostIP+`', '`+hostPhone+`')`); err != nil {
		t.Fatal(err)
	}
	return newTool(t, map[string]*config.Connection{"pg": {Kind: config.KindPostgres, DSN: dsn, MaxConns: 1}}, 10)
}

// hostsSQLite is hostsPostgres on SQLite, connection "lite".
func hostsSQLite(t *testing.T) *Tool {
	t.Helper()
	path := filepath.Join(t.TempDir(), "hosts.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE hosts (ip text, phone text);
INSERT INTO hosts VALUES ('` + hostIP + `', '` + hostPhone + `')`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	return newTool(t, map[string]*config.Connection{"lite": {Kind: config.KindSQLite, Path: path}}, 10)
}
