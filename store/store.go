// Package store keeps Airlock's durable state — for now the journal —
// behind small interfaces. The embedded default is one SQLite file in WAL
// mode (pure Go modernc.org/sqlite), written with synchronous=FULL so a
// record is on disk before the call it describes proceeds.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"weak"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// SQLite is the embedded store.
type SQLite struct {
	db   *sql.DB
	path string
}

// ErrUnsupported is returned for a store DSN of an unknown scheme.
var ErrUnsupported = errors.New("store: unsupported store (want sqlite:PATH)")

// Open opens the store named by dsn ("sqlite:PATH"), creating it and its
// schema if needed.
func Open(ctx context.Context, dsn string) (*SQLite, error) {
	path, ok := strings.CutPrefix(dsn, "sqlite:")
	if !ok || path == "" {
		return nil, ErrUnsupported
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "synchronous(FULL)", "busy_timeout(5000)", "foreign_keys(ON)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	// One writer connection: SQLite serialises writers anyway, and a single
	// connection keeps the busy-wait inside this process.
	db.SetMaxOpenConns(1)
	s := &SQLite{db: db, path: path}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// Path is the store's file.
func (s *SQLite) Path() string { return s.path }

// Close closes the store.
func (s *SQLite) Close() error {
	if v, ok := journalStates.Load(weak.Make(s)); ok {
		v.(*journalState).closeStmts()
	}
	return s.db.Close()
}

func (s *SQLite) migrate(ctx context.Context) error {
	for _, schema := range []string{journalSchema, requestsSchema, pinsSchema} {
		if _, err := s.db.ExecContext(ctx, schema); err != nil {
			return fmt.Errorf("store: create schema: %w", err)
		}
	}
	return nil
}
