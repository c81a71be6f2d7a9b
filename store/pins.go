package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Pin is what the gateway knows of one upstream MCP tool (tools/upstream):
// the definition an admin accepted and the one last seen. A tool is served
// only while the definition the upstream offers hashes to AcceptedHash.
type Pin struct {
	Connection string
	Tool       string // the upstream's name
	// AcceptedHash is the hash of the accepted name, description and
	// schema; "" until a first definition is accepted.
	AcceptedHash string
	AcceptedBy   string
	AcceptedAt   time.Time
	// SeenHash and SeenDefinition are the last definition the upstream
	// offered (JSON, as it came), for admins to review.
	SeenHash       string
	SeenDefinition string
	FirstSeen      time.Time
	LastSeen       time.Time
}

// Pin states, derived from the hashes.
const (
	PinAccepted = "accepted"
	PinNew      = "new"     // never accepted
	PinChanged  = "changed" // seen differs from accepted
)

// State says whether the last definition seen is the accepted one.
func (p *Pin) State() string {
	switch {
	case p.AcceptedHash == "":
		return PinNew
	case p.AcceptedHash != p.SeenHash:
		return PinChanged
	}
	return PinAccepted
}

// PinStore keeps upstream tool pins. SQLite implements it here; a
// PostgreSQL store implements the same methods.
type PinStore interface {
	// ObservePin records a definition the upstream offers now. A tool seen
	// for the first time is accepted at once when acceptNew is set (trust
	// on first use). It returns the pin after the change and whether the
	// seen definition changed (or the tool is new).
	ObservePin(ctx context.Context, connection, tool, hash, definition string, acceptNew bool) (*Pin, bool, error)
	// AcceptPin accepts the definition with hash, which must be the one
	// last seen; ErrNotFound when the tool or that definition is unknown.
	AcceptPin(ctx context.Context, connection, tool, hash, by string) (*Pin, error)
	// ListPins lists the pins of connection ("" for all), by connection
	// and tool.
	ListPins(ctx context.Context, connection string) ([]*Pin, error)
}

var _ PinStore = (*SQLite)(nil)

const pinsSchema = `
CREATE TABLE IF NOT EXISTS upstream_pins (
	connection      TEXT NOT NULL,
	tool            TEXT NOT NULL,
	accepted_hash   TEXT NOT NULL DEFAULT '',
	accepted_by     TEXT NOT NULL DEFAULT '',
	accepted_at     INTEGER NOT NULL DEFAULT 0,
	seen_hash       TEXT NOT NULL,
	seen_definition TEXT NOT NULL,
	first_seen      INTEGER NOT NULL,
	last_seen       INTEGER NOT NULL,
	PRIMARY KEY (connection, tool)
);`

const pinColumns = `connection, tool, accepted_hash, accepted_by, accepted_at, seen_hash, seen_definition, first_seen, last_seen`

func scanPin(sc scanner) (*Pin, error) {
	var p Pin
	var acc, first, last int64
	if err := sc.Scan(&p.Connection, &p.Tool, &p.AcceptedHash, &p.AcceptedBy, &acc, &p.SeenHash, &p.SeenDefinition, &first, &last); err != nil {
		return nil, err
	}
	if acc != 0 {
		p.AcceptedAt = fromMS(acc)
	}
	p.FirstSeen, p.LastSeen = fromMS(first), fromMS(last)
	return &p, nil
}

func (s *SQLite) getPin(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, connection, tool string) (*Pin, error) {
	p, err := scanPin(q.QueryRowContext(ctx, `SELECT `+pinColumns+` FROM upstream_pins WHERE connection = ? AND tool = ?`, connection, tool))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	return p, err
}

// ObservePin implements PinStore.
func (s *SQLite) ObservePin(ctx context.Context, connection, tool, hash, definition string, acceptNew bool) (*Pin, bool, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, false, fmt.Errorf("store: pin: %w", err)
	}
	defer tx.Rollback()
	now := ms(time.Now())
	old, err := s.getPin(ctx, tx, connection, tool)
	changed := false
	switch {
	case errors.Is(err, ErrNotFound):
		changed = true
		acc, by, at := "", "", int64(0)
		if acceptNew {
			acc, by, at = hash, "accept_new", now
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO upstream_pins (`+pinColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			connection, tool, acc, by, at, hash, definition, now, now)
	case err != nil:
	default:
		changed = old.SeenHash != hash
		_, err = tx.ExecContext(ctx, `UPDATE upstream_pins SET seen_hash = ?, seen_definition = ?, last_seen = ? WHERE connection = ? AND tool = ?`,
			hash, definition, now, connection, tool)
	}
	if err != nil {
		return nil, false, fmt.Errorf("store: pin: %w", err)
	}
	p, err := s.getPin(ctx, tx, connection, tool)
	if err != nil {
		return nil, false, fmt.Errorf("store: pin: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, false, fmt.Errorf("store: pin: %w", err)
	}
	return p, changed, nil
}

// AcceptPin implements PinStore.
func (s *SQLite) AcceptPin(ctx context.Context, connection, tool, hash, by string) (*Pin, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE upstream_pins SET accepted_hash = seen_hash, accepted_by = ?, accepted_at = ?
		WHERE connection = ? AND tool = ? AND seen_hash = ?`, by, ms(time.Now()), connection, tool, hash)
	if err != nil {
		return nil, fmt.Errorf("store: pin: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil, ErrNotFound
	}
	return s.getPin(ctx, s.rdb, connection, tool) // sees the commit above
}

// ListPins implements PinStore.
func (s *SQLite) ListPins(ctx context.Context, connection string) ([]*Pin, error) {
	rows, err := s.read(ctx, `SELECT `+pinColumns+` FROM upstream_pins WHERE ? = '' OR connection = ? ORDER BY connection, tool`, connection, connection)
	if err != nil {
		return nil, fmt.Errorf("store: pins: %w", err)
	}
	defer rows.Close()
	var out []*Pin
	for rows.Next() {
		p, err := scanPin(rows)
		if err != nil {
			return nil, fmt.Errorf("store: pins: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}
