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
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// Entry is one journal entry as stored: an opaque JSON document plus the
// columns needed to find it.
type Entry struct {
	Seq    int64
	CallID string
	Type   string
	Time   time.Time
	Data   []byte
}

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
func (s *SQLite) Close() error { return s.db.Close() }

func (s *SQLite) migrate(ctx context.Context) error {
	_, err := s.db.ExecContext(ctx, `
CREATE TABLE IF NOT EXISTS journal (
	seq     INTEGER PRIMARY KEY AUTOINCREMENT,
	call_id TEXT NOT NULL,
	type    TEXT NOT NULL,
	time    TEXT NOT NULL,
	data    BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS journal_call_id ON journal(call_id);`)
	if err != nil {
		return fmt.Errorf("store: create schema: %w", err)
	}
	return nil
}

// AppendJournal writes e durably and returns its sequence number.
func (s *SQLite) AppendJournal(ctx context.Context, e *Entry) (int64, error) {
	res, err := s.db.ExecContext(ctx,
		`INSERT INTO journal(call_id, type, time, data) VALUES (?, ?, ?, ?)`,
		e.CallID, e.Type, e.Time.UTC().Format(time.RFC3339Nano), e.Data)
	if err != nil {
		return 0, fmt.Errorf("store: append journal: %w", err)
	}
	return res.LastInsertId()
}

// JournalAfter returns up to limit entries with seq > after, in order.
func (s *SQLite) JournalAfter(ctx context.Context, after int64, limit int) ([]Entry, error) {
	rows, err := s.db.QueryContext(ctx,
		`SELECT seq, call_id, type, time, data FROM journal WHERE seq > ? ORDER BY seq LIMIT ?`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("store: read journal: %w", err)
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		var e Entry
		var ts string
		if err := rows.Scan(&e.Seq, &e.CallID, &e.Type, &ts, &e.Data); err != nil {
			return nil, fmt.Errorf("store: read journal: %w", err)
		}
		e.Time, _ = time.Parse(time.RFC3339Nano, ts)
		out = append(out, e)
	}
	return out, rows.Err()
}

// JournalLastSeq returns the highest sequence number, 0 when empty.
func (s *SQLite) JournalLastSeq(ctx context.Context) (int64, error) {
	var seq sql.NullInt64
	if err := s.db.QueryRowContext(ctx, `SELECT max(seq) FROM journal`).Scan(&seq); err != nil {
		return 0, fmt.Errorf("store: read journal: %w", err)
	}
	return seq.Int64, nil
}
