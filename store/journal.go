package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
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

const journalSchema = `
CREATE TABLE IF NOT EXISTS journal (
	seq     INTEGER PRIMARY KEY AUTOINCREMENT,
	call_id TEXT NOT NULL,
	type    TEXT NOT NULL,
	time    TEXT NOT NULL,
	data    BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS journal_call_id ON journal(call_id);`

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
