package pgsql

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/airlockhq/airlock/internal/pgtest"
	"github.com/airlockhq/airlock/policy"
)

// TestReadRunsReadOnly runs every table case classified read against a real
// PostgreSQL, inside a READ ONLY transaction, and checks that the server
// never refuses one for writing (SQLSTATE 25006). Other errors, such as a
// table the fixture lacks, prove nothing and are ignored; the fixture names
// most tables the cases use so that most of them do run.
func TestReadRunsReadOnly(t *testing.T) {
	_, pool := pgtest.Schema(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, ddl := range []string{
		"CREATE TABLE t (id int PRIMARY KEY, a int, b int)",
		"CREATE TABLE u (id int PRIMARY KEY, a int, b int)",
		"CREATE TABLE v (id int, a int, b int)",
		"CREATE TABLE a (id int)", "CREATE TABLE b (id int)", "CREATE TABLE c (id int)",
		"CREATE TABLE x (a int)", "CREATE TABLE secret (id int)",
		"CREATE TABLE orders (id int, customer_id int, total numeric)",
		`CREATE TABLE "Order Items" (id int)`, `CREATE TABLE "a.b" (id int)`,
		"CREATE SEQUENCE s",
	} {
		if _, err := pool.Exec(ctx, ddl); err != nil {
			t.Fatalf("%s: %v", ddl, err)
		}
	}

	ran := 0
	for _, tc := range classifyCases {
		st, err := Classify(tc.sql)
		if err != nil || st.Access != policy.Read {
			continue
		}
		var args []any
		if strings.Contains(tc.sql, "$1") {
			args = append(args, 1)
		}
		err = func() error {
			tx, err := pool.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
			if err != nil {
				return err
			}
			defer func() { _ = tx.Rollback(ctx) }()
			if _, err := tx.Exec(ctx, "SET LOCAL statement_timeout = '5s'"); err != nil {
				return err
			}
			_, err = tx.Exec(ctx, tc.sql, args...)
			return err
		}()
		var pe *pgconn.PgError
		switch {
		case err == nil:
			ran++
		case errors.As(err, &pe) && pe.Code == "25006":
			t.Errorf("%q: classified read, but PostgreSQL refuses it in a read-only transaction: %s", tc.sql, pe.Message)
		}
	}
	if ran < 20 {
		t.Fatalf("only %d read cases ran without error; the fixture no longer fits the cases", ran)
	}
	t.Logf("%d read cases ran read-only", ran)
}

// TestCatalogMatchesServer walks pg_proc of the server the tests run on:
// every pg_catalog function must be known to the classifier (else calls to
// it would count as opaque user functions), and every VOLATILE one must
// either make a statement non-read or be on the reviewed list of harmless
// ones. A new PostgreSQL release that adds functions fails here, with the
// names to review.
func TestCatalogMatchesServer(t *testing.T) {
	_, pool := pgtest.Schema(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rows, err := pool.Query(ctx, `SELECT DISTINCT lower(proname), bool_or(provolatile = 'v') OVER (PARTITION BY lower(proname))
		FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'pg_catalog'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var unknown, unreviewed []string
	n, volatile := 0, 0
	for rows.Next() {
		var name string
		var vol bool
		if err := rows.Scan(&name, &vol); err != nil {
			t.Fatal(err)
		}
		n++
		if !IsCatalogFunction(name) {
			unknown = append(unknown, name)
		}
		if !vol {
			continue
		}
		volatile++
		st, err := Classify(`SELECT pg_catalog."` + strings.ReplaceAll(name, `"`, `""`) + `"()`)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if st.Access == policy.Read && !harmlessVolatile[name] {
			unreviewed = append(unreviewed, name)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(unknown) > 0 {
		t.Errorf("pg_catalog functions the classifier does not know (add them to newerCatalogNames): %s", strings.Join(unknown, " "))
	}
	if len(unreviewed) > 0 {
		t.Errorf("volatile functions classified read without review: %s", strings.Join(unreviewed, " "))
	}
	// The reviewed list names real functions.
	for name := range harmlessVolatile {
		if !IsCatalogFunction(name) {
			t.Errorf("harmlessVolatile names %s, which is no catalog function", name)
		}
	}
	t.Logf("%d pg_catalog function names, %d with a volatile overload", n, volatile)
}

// The index-maintenance functions of the issue write even in a READ ONLY
// transaction; the classifier refuses them for reads.
func TestIndexMaintenanceFunctionsWriteReadOnly(t *testing.T) {
	_, pool := pgtest.Schema(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := pool.Exec(ctx, `CREATE TABLE b (id int); CREATE INDEX b_brin ON b USING brin (id) WITH (pages_per_range = 1); INSERT INTO b SELECT generate_series(1, 5000)`); err != nil {
		t.Fatal(err)
	}
	sql := "SELECT brin_summarize_new_values('b_brin')"
	tx, err := pool.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	var summarized int
	if err := tx.QueryRow(ctx, sql).Scan(&summarized); err != nil || summarized == 0 {
		t.Fatalf("the premise changed: %s in a READ ONLY transaction: %d %v", sql, summarized, err)
	}
	if st, err := Classify(sql); err != nil || st.Access != policy.Admin {
		t.Errorf("%s classified %v %v", sql, st, err)
	}
}
