package server_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/client"

	"github.com/airlockhq/airlock/recorder"
	"github.com/airlockhq/airlock/server"
)

// renameRules protects customers.ssn (redact) and every card_number
// (null) by column rules; nothing else in renameSetup has a rule, a
// secret-like name or a value a detector finds.
const renameRules = `
masking:
  columns:
    "customers.ssn": redact
    "*.card_number": "null"
rules:
  - {name: analysts-read, groups: [analysts], connections: [pg], access: [read], effect: allow}
`

// Values no detector finds: only a column rule can mask them.
const (
	ssnVal    = "kumquat marmalade"
	nickVal   = "walnut porridge"
	peopleVal = "juniper lantern"
)

const renameSetup = `
DROP TABLE IF EXISTS customers, clients, people CASCADE;
CREATE TABLE customers (id int, name text, ssn text, nick text);
INSERT INTO customers VALUES (1, 'Ada', 'kumquat marmalade', 'walnut porridge');
CREATE VIEW cv AS SELECT id, ssn AS s, nick FROM customers;
CREATE TABLE people (id int, ssn text);
INSERT INTO people VALUES (2, 'juniper lantern');
`

// Column rules are matched under the names the catalog gives at the call,
// through a real gateway on every transport: a column or table renamed
// TO a rule's name is masked at the next call (nothing remembers the old
// name), a view's column renamed to any name keeps its source's rule, and
// aliased, computed and subquery columns of a protected column are masked.
// What must be masked is in neither the answer nor the journal. A base
// column or table renamed AWAY from a rule's name is no longer under that
// rule: the README's "matched under its new name", both ways.
func TestColumnRulesFollowRenames(t *testing.T) {
	e := newEnvWith(t, renameRules)
	ctx := context.Background()
	_, base := e.start(t, server.Options{})
	for _, transport := range transports {
		t.Run(transport, func(t *testing.T) {
			if _, err := e.pg.Exec(ctx, renameSetup); err != nil {
				t.Fatal(err)
			}
			c := clientOver(t, e, transport, base, e.token(t, "alice", "analysts"))
			grant(t, c, "pg", "read")
			checkRenames(t, e, c, transport)
		})
	}
}

// renameCall is one read: the call ID the answer named and the values it
// must not hold (the raw values of the columns that must be masked).
type renameCall struct {
	sql, callID string
	hidden      []string
}

func checkRenames(t *testing.T, e *env, c *client.Client, transport string) {
	t.Helper()
	ctx := context.Background()
	ddl := func(sql string) {
		t.Helper()
		if _, err := e.pg.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	var made []renameCall
	// check runs sql and wants, per result column, a mask label ('m') or
	// the value as is ('-'); hidden are the raw values the masked columns
	// hold in the table.
	check := func(step, sql, want string, hidden ...string) {
		t.Helper()
		res := query(t, c, "pg", sql)
		r := structured(t, res)
		if len(r.Rows) == 0 || len(r.Columns) != len(want) {
			t.Errorf("%s: %s: columns %v, %d rows; want %d columns", step, sql, r.Columns, len(r.Rows), len(want))
			return
		}
		for _, row := range r.Rows {
			for i, v := range row {
				if masked := isMaskLabel(v); masked != (want[i] == 'm') {
					t.Errorf("%s: %s: column %s = %v, want masked %v", step, sql, r.Columns[i], v, want[i] == 'm')
				}
			}
		}
		raw, _ := json.Marshal(res)
		for _, h := range hidden {
			if strings.Contains(string(raw), h) {
				t.Errorf("%s: %s: the answer holds %q", step, sql, h)
			}
		}
		id := ""
		if res.Meta != nil {
			id, _ = res.Meta.AdditionalFields["airlock/call_id"].(string)
		}
		if id == "" {
			t.Errorf("%s: %s: no airlock/call_id in the answer's _meta", step, sql)
		}
		made = append(made, renameCall{sql: sql, callID: id, hidden: hidden})
	}

	// A protected column read directly, aliased, computed, through a
	// subquery and through a view column that aliases it.
	check("before", `SELECT id, name, ssn, nick FROM customers`, "--m-", ssnVal)
	check("before", `SELECT ssn AS x FROM customers`, "m", ssnVal)
	check("before", `SELECT upper(ssn) AS y FROM customers`, "m", ssnVal, strings.ToUpper(ssnVal))
	check("before", `SELECT x FROM (SELECT ssn AS x FROM customers) s`, "m", ssnVal)
	check("before", `SELECT s, nick FROM cv`, "m-", ssnVal)
	check("before", `SELECT ssn FROM people`, "-")

	// A view's column renamed to a name no rule names: its value still
	// comes from customers.ssn. One renamed to a rule's name gets it.
	ddl(`ALTER VIEW cv RENAME COLUMN s TO label; ALTER VIEW cv RENAME COLUMN nick TO card_number`)
	check("view columns renamed", `SELECT label FROM cv`, "m", ssnVal)
	check("view columns renamed", `SELECT label AS x, upper(label) AS y FROM cv`, "mm", ssnVal, strings.ToUpper(ssnVal))
	check("view columns renamed", `SELECT * FROM cv`, "-mm", ssnVal, nickVal)
	check("view columns renamed", `SELECT x FROM (SELECT card_number AS x FROM cv) s`, "m", nickVal)

	// A table's column renamed to a rule's name is masked at the next
	// call, under any alias, and the view over it follows.
	ddl(`ALTER TABLE customers RENAME COLUMN nick TO card_number`)
	check("column renamed to a rule's name", `SELECT card_number FROM customers`, "m", nickVal)
	check("column renamed to a rule's name", `SELECT card_number AS x FROM customers`, "m", nickVal)
	check("column renamed to a rule's name", `SELECT upper(card_number) AS y FROM customers`, "m", nickVal, strings.ToUpper(nickVal))
	check("column renamed to a rule's name", `SELECT x FROM (SELECT card_number AS x FROM customers) s`, "m", nickVal)
	check("column renamed to a rule's name", `SELECT * FROM customers`, "--mm", ssnVal, nickVal)

	// A table renamed to a rule's table: its ssn is customers.ssn now.
	// (customers goes first; its card_number keeps the "*." rule.)
	ddl(`ALTER TABLE customers RENAME TO clients`)
	check("table renamed away", `SELECT card_number AS x FROM clients`, "m", nickVal)
	ddl(`ALTER TABLE people RENAME TO customers`)
	check("table renamed to a rule's table", `SELECT ssn FROM customers`, "m", peopleVal)
	check("table renamed to a rule's table", `SELECT ssn AS x, upper(ssn) AS y FROM customers`, "mm", peopleVal, strings.ToUpper(peopleVal))
	check("table renamed to a rule's table", `SELECT x FROM (SELECT ssn AS x FROM customers) s`, "m", peopleVal)

	// Renamed away from a rule's name, a base column is under the rules of
	// its new name only: the rule names customers.ssn, which clients.ssn
	// and customers.ref_b are not. (Renaming takes ownership of the table,
	// which a read grant does not give; a rule that should survive any
	// name is a glob such as "*.ssn" or a detector.)
	check("table renamed away", `SELECT ssn FROM clients`, "-")
	ddl(`ALTER TABLE customers RENAME COLUMN ssn TO ref_b`)
	check("column renamed away", `SELECT ref_b FROM customers`, "-")

	// Nothing that had to be masked reached the journal: each call's
	// records, found by the call ID the answer gave.
	byCall := map[string][]*recorder.Record{}
	for _, r := range journal(t, e) {
		if r.Transport == transport && r.Tool == "query_db" {
			byCall[r.CallID] = append(byCall[r.CallID], r)
		}
	}
	for _, m := range made {
		recs := byCall[m.callID]
		finished := 0
		for _, r := range recs {
			if r.Type == recorder.Finished {
				finished++
				if len(r.Result) == 0 {
					t.Errorf("%s: the finished record holds no result", m.sql)
				}
			}
			b, _ := json.Marshal(r)
			for _, h := range m.hidden {
				if strings.Contains(string(b), h) {
					t.Errorf("%s: the journal holds %q", m.sql, h)
				}
			}
		}
		if finished != 1 {
			t.Errorf("%s: call %s has %d finished records, want 1", m.sql, m.callID, finished)
		}
	}
}

// The same values as tools/querydb/trust_test.go hostIP and hostPhone:
// no column rule names hosts, so only the detectors can mask them.
const (
	agentHostIP    = "203.0.113.45"
	agentHostPhone = "415-555-2671"
)

// agentContextSQL are reads whose aliases and literal text dress an
// address or a phone number up as something harmless: the README's
// "more sensitive, never less" cases first, then the tool-level ones.
var agentContextSQL = []string{
	`SELECT ip AS version FROM hosts`,
	`SELECT 'version ' || ip FROM hosts`,
	`SELECT phone || '' AS order_ref FROM hosts`,
	`SELECT 'order #' || phone FROM hosts`,
	`SELECT ip AS firmware_build, phone AS order_id FROM hosts`,
	`SELECT ip || '' AS version, phone || '' AS order_ref FROM hosts`,
	`SELECT 'build: ' || ip, 'invoice no ' || phone FROM hosts`,
	`SELECT s.ip AS release, s.phone AS sku FROM (SELECT ip, phone FROM hosts) s`,
	`WITH x AS (SELECT ip AS version, phone AS ticket FROM hosts) SELECT version, ticket FROM x`,
	`SELECT lower(ip) AS version, upper(phone) AS tracking FROM hosts`,
}

// The agent writes the SQL, so it picks the aliases and the literal text
// around a value; neither switches a detection off. Through a real
// gateway on every transport, PostgreSQL: each read in agentContextSQL
// comes back without the raw address or phone number, and the journal's
// records of that call (found by the call ID in _meta) hold neither.
func TestAgentContextNeverUnmasksE2E(t *testing.T) {
	e := newEnvWith(t, `
rules:
  - {name: analysts-read, groups: [analysts], connections: [pg], access: [read], effect: allow}
`)
	ctx := context.Background()
	if _, err := e.pg.Exec(ctx, `CREATE TABLE hosts (ip text, phone text);
INSERT INTO hosts VALUES ('`+agentHostIP+`', '`+agentHostPhone+`')`); err != nil {
		t.Fatal(err)
	}
	_, base := e.start(t, server.Options{})
	hidden := []string{agentHostIP, agentHostPhone, "555-2671", "4155552671"}
	for _, transport := range transports {
		t.Run(transport, func(t *testing.T) {
			c := clientOver(t, e, transport, base, e.token(t, "alice", "analysts"))
			grant(t, c, "pg", "read")
			calls := map[string]string{} // call ID -> SQL
			for _, sql := range agentContextSQL {
				res := query(t, c, "pg", sql)
				r := structured(t, res)
				if len(r.Rows) != 1 {
					t.Errorf("%s: %d rows, want 1", sql, len(r.Rows))
				}
				raw, _ := json.Marshal(res)
				for _, h := range hidden {
					if strings.Contains(string(raw), h) {
						t.Errorf("%s: the answer holds %q", sql, h)
					}
				}
				id := ""
				if res.Meta != nil {
					id, _ = res.Meta.AdditionalFields["airlock/call_id"].(string)
				}
				if id == "" {
					t.Errorf("%s: no airlock/call_id in the answer's _meta", sql)
					continue
				}
				calls[id] = sql
			}
			finished := map[string]int{}
			for _, r := range journal(t, e) {
				sql, ok := calls[r.CallID]
				if !ok || r.Transport != transport || r.Tool != "query_db" {
					continue
				}
				if r.Type == recorder.Finished {
					finished[r.CallID]++
					if len(r.Result) == 0 {
						t.Errorf("%s: the finished record holds no result", sql)
					}
				}
				b, _ := json.Marshal(r)
				for _, h := range hidden {
					if strings.Contains(string(b), h) {
						t.Errorf("%s: the journal holds %q", sql, h)
					}
				}
			}
			for id, sql := range calls {
				if finished[id] != 1 {
					t.Errorf("%s: call %s has %d finished records, want 1", sql, id, finished[id])
				}
			}
		})
	}
}
