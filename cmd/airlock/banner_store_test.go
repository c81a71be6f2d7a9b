package main

import (
	"strings"
	"testing"
)

// The start-up banner names a PostgreSQL store by host and database only:
// its URL may carry secret settings.
func TestStoreWhereHidesURLSettings(t *testing.T) {
	got := storeWhere("postgres://airlock@db.internal:5432/airlock?sslmode=verify-full&sslpassword=s3cr3t")
	if got != "postgres db.internal:5432/airlock" || strings.Contains(got, "s3cr3t") {
		t.Fatalf("storeWhere = %q", got)
	}
	if got := storeWhere("sqlite:/tmp/x.db"); got != "/tmp/x.db" {
		t.Fatalf("sqlite store: %q", got)
	}
}
