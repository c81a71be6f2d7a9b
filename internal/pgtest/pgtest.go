// Package pgtest gives tests a real PostgreSQL: the DSN from
// AIRLOCK_TEST_PG_DSN (set by `make test`, which provisions a server), else
// the local server on 127.0.0.1:5432. It fails the test, never skips, when
// no server answers.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

const fallbackDSN = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// DSN returns the base DSN of the test server.
func DSN(t testing.TB) string {
	t.Helper()
	if dsn := os.Getenv("AIRLOCK_TEST_PG_DSN"); dsn != "" {
		return dsn
	}
	return fallbackDSN
}

// Schema creates a fresh schema and returns a DSN whose search_path is that
// schema, plus an admin pool on it. The schema is dropped when t ends.
func Schema(t testing.TB) (string, *pgxpool.Pool) {
	t.Helper()
	base := DSN(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	admin, err := pgxpool.New(ctx, base)
	if err == nil {
		err = admin.Ping(ctx)
	}
	if err != nil {
		t.Fatalf("PostgreSQL is required and did not answer (run `make test`, which provisions one, or set AIRLOCK_TEST_PG_DSN): %v", err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "airlock_t_" + hex.EncodeToString(b)
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	admin.Close()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	dsn := u.String()
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		_, _ = pool.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE")
		pool.Close()
	})
	return dsn, pool
}
