package suite

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/airlockhq/airlock/internal/pgtest"
)

// databasesEvidence reads the server's database list with the suite's own
// evidence query.
func databasesEvidence(t *testing.T, conn *pgx.Conn) string {
	t.Helper()
	for _, q := range evidenceQueries {
		if q.name == "databases" {
			var v string
			if err := conn.QueryRow(context.Background(), q.sql).Scan(&v); err != nil {
				t.Fatal(err)
			}
			return v
		}
	}
	t.Fatal("no databases evidence")
	return ""
}

func hexName(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// The database evidence on a real server: a database another process
// creates or drops while a case runs (another connection, a test
// harness's name) is not the case's; one the case creates or drops —
// any name its text spells, or any name at all when it could name one
// indirectly or reached a shell — is.
func TestDatabaseEvidence(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// evidence reads the list; other plays another process or, for an
	// escape, the case's statement run where the gateway let it through.
	evidence, err := pgx.Connect(ctx, pgtest.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer evidence.Close(context.Background())
	other, err := pgx.Connect(ctx, pgtest.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(context.Background())
	var made []string
	exec := func(sql string) {
		t.Helper()
		if _, err := other.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	create := func(name string) {
		t.Helper()
		exec("CREATE DATABASE " + name)
		made = append(made, name)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), pgtest.DSN(t))
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		for _, n := range made {
			c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+n+" WITH (FORCE)")
		}
	})
	sqlCase := func(sql string) *Case {
		return &Case{ID: "x", Category: "sql-readonly-escape", Tool: "query_db", Expect: Blocked,
			Args: map[string]any{"connection": "pg", "sql": sql}}
	}
	// around runs during between two readings of the evidence, as
	// runCase does around a case.
	around := func(c *Case, shellRan bool, during func()) bool {
		t.Helper()
		before := databasesEvidence(t, evidence)
		during()
		return databasesChanged(before, databasesEvidence(t, evidence), c, shellRan) != nil
	}
	blocked := sqlCase("ALTER DATABASE postgres SET default_transaction_read_only = off")

	// Another process's throwaway databases come and go: not the case.
	harness := "pgstore_" + hexName(6)
	if around(blocked, false, func() { create(harness) }) {
		t.Error("a database another connection created (pgtest.Database's name) was put down to the case")
	}
	if around(blocked, false, func() { exec("DROP DATABASE " + harness) }) {
		t.Error("a database another connection dropped was put down to the case")
	}
	evalRun := "airlock_eval_" + hexName(5)
	if around(&Case{ID: "tok", Kind: KindToken, Expect: Unauthorized, Raw: "x.y.z"}, false, func() { create(evalRun) }) {
		t.Error("another eval run's database was put down to a token case")
	}

	// The case's own creations and drops are caught, whatever the name.
	// (Every name made here has a harness's shape, so that an eval run
	// on the same server puts it down to this test, not to its case; names
	// of other shapes are in TestDatabasesChangedTable.)
	escape := "evalescape_" + hexName(6)
	if !around(sqlCase("CREATE DATABASE "+escape), false, func() { create(escape) }) {
		t.Error("a database the case created went unnoticed")
	}
	if !around(sqlCase("DROP DATABASE "+escape), false, func() { exec("DROP DATABASE " + escape) }) {
		t.Error("a database the case dropped went unnoticed")
	}
	lookalike := "pgstore_" + hexName(6)
	if !around(sqlCase("CREATE DATABASE "+lookalike), false, func() { create(lookalike) }) {
		t.Error("a database the case created under a harness's name went unnoticed")
	}
	if !around(sqlCase("DROP DATABASE "+lookalike+" WITH (FORCE)"), false, func() { exec("DROP DATABASE " + lookalike) }) {
		t.Error("a database the case dropped under a harness's name went unnoticed")
	}
	// Named indirectly: a unicode escape, another connection, a shell.
	hidden := "pgstore_" + hexName(6)
	for _, c := range []*Case{
		sqlCase(`CREATE DATABASE U&"pgstore\005f..."`),
		sqlCase(`SELECT dblink_exec('dbname=postgres', 'CREATE DATABASE pgstore_' || md5(''))`),
		sqlCase(`COPY (SELECT 1) TO PROGRAM 'createdb pgstore_$(date +%s)'`),
	} {
		if !around(c, false, func() { create(hidden) }) {
			t.Errorf("%s: a database named indirectly went unnoticed", c.Args["sql"])
		}
		exec("DROP DATABASE " + hidden)
	}
	ssh := &Case{ID: "s", Tool: "run_ssh", Expect: Blocked, Args: map[string]any{"connection": "box", "command": "x"}}
	if !around(ssh, true, func() { create(hidden) }) {
		t.Error("a database created while the case reached a shell went unnoticed")
	}
	if around(ssh, false, func() { exec("DROP DATABASE " + hidden) }) {
		t.Error("a harness's database dropped while an SSH case reached no shell was put down to it")
	}
}

func TestDatabasesChangedTable(t *testing.T) {
	if got := databasesChanged("a,postgres", "b,postgres", &Case{ID: "x"}, false); strings.Join(got, " ") != "+b -a" {
		t.Errorf("changes named %q, want +b -a", got)
	}
	c := &Case{ID: "x", Tool: "query_db", Args: map[string]any{"sql": "SELECT 1"}}
	for _, tc := range []struct {
		before, after string
		want          bool
	}{
		{"a,postgres", "a,postgres", false},
		{"postgres", "pgstore_0123456789ab,postgres", false},
		{"pgstore_0123456789ab,postgres", "postgres", false},
		{"postgres", "airlock_eval_0123456789,postgres", false},
		{"postgres", "firstrun_init_0123456789,postgres", false},
		{"", "postgres", true},
		{"postgres", "", true},
		{"postgres", "evil,postgres", true},
		{"postgres", "airlock_eval_pwned,postgres", true},
		{"postgres", "pgstore_0123456789AB,postgres", true},
		{"postgres", "pgstore_0123456789abc,postgres", true},
		{"a,postgres", "postgres", true},
		{"a,postgres", "b,postgres", true},
	} {
		if got := databasesChanged(tc.before, tc.after, c, false) != nil; got != tc.want {
			t.Errorf("%q -> %q: %v, want %v", tc.before, tc.after, got, tc.want)
		}
	}
}

// FuzzDatabasesChanged: the same list is never a change; a name that is
// not a harness's is always one; with a shell reached, any difference is.
func FuzzDatabasesChanged(f *testing.F) {
	f.Add("postgres", "pgstore_0123456789ab,postgres", "SELECT 1", false)
	f.Add("a,postgres", "postgres", "DROP DATABASE a", false)
	f.Add("postgres", "airlock_eval_0123456789", `CREATE DATABASE U&"x"`, true)
	f.Fuzz(func(t *testing.T, before, after, sql string, shell bool) {
		c := &Case{ID: "f", Tool: "query_db", Args: map[string]any{"sql": sql}}
		got := databasesChanged(before, after, c, shell) != nil
		if before == after && got {
			t.Fatal("no difference reported as a change")
		}
		was, is := splitNames(before), splitNames(after)
		differ := false
		for _, pair := range [][2][]string{{was, is}, {is, was}} {
			for _, n := range pair[0] {
				if !slices.Contains(pair[1], n) {
					differ = true
					if !foreignDatabase.MatchString(n) && !got {
						t.Fatalf("%q appeared or went away unreported", n)
					}
				}
			}
		}
		if shell && differ && !got {
			t.Fatal("a difference after a shell was reached went unreported")
		}
	})
}

func BenchmarkDatabasesChanged(b *testing.B) {
	c := &Case{ID: "x", Tool: "query_db", Args: map[string]any{"connection": "pg", "sql": "ALTER DATABASE postgres SET x = 1"}}
	var before, after strings.Builder
	before.WriteString("postgres,template0,template1")
	for i := range 30 {
		fmt.Fprintf(&before, ",pgstore_%012x", i)
	}
	after.WriteString(before.String() + ",pgstore_ffffffffffff")
	b.ReportAllocs()
	for b.Loop() {
		if databasesChanged(before.String(), after.String(), c, false) != nil {
			b.Fatal("reported")
		}
	}
}
