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
