package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

var _ PinStore = (*Postgres)(nil)

func (p *Postgres) getPin(ctx context.Context, q pgx.Row) (*Pin, error) {
	pin, err := scanPin(q)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	return pin, err
}

const pgPinSelect = `SELECT ` + pinColumns + ` FROM upstream_pins WHERE connection = $1 AND tool = $2`

// ObservePin implements PinStore. Replicas that see a tool at once agree:
// the first insert wins and the others update the same row.
func (p *Postgres) ObservePin(ctx context.Context, connection, tool, hash, definition string, acceptNew bool) (*Pin, bool, error) {
	tx, err := p.pool.Begin(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("store: pin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	now := ms(time.Now())
	acc, by, at := "", "", int64(0)
	if acceptNew {
		acc, by, at = hash, "accept_new", now
	}
	// Insert when new; otherwise lock the row and read the old hash.
	tag, err := tx.Exec(ctx, `INSERT INTO upstream_pins (`+pinColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)
		ON CONFLICT (connection, tool) DO NOTHING`, connection, tool, acc, by, at, hash, definition, now)
	if err != nil {
		return nil, false, fmt.Errorf("store: pin: %w", err)
	}
	changed := tag.RowsAffected() == 1
	if !changed {
		old, err := p.getPin(ctx, tx.QueryRow(ctx, pgPinSelect+` FOR UPDATE`, connection, tool))
		if err != nil {
			return nil, false, fmt.Errorf("store: pin: %w", err)
		}
		changed = old.SeenHash != hash
		if _, err := tx.Exec(ctx, `UPDATE upstream_pins SET seen_hash = $1, seen_definition = $2, last_seen = $3 WHERE connection = $4 AND tool = $5`,
			hash, definition, now, connection, tool); err != nil {
			return nil, false, fmt.Errorf("store: pin: %w", err)
		}
	}
	pin, err := p.getPin(ctx, tx.QueryRow(ctx, pgPinSelect, connection, tool))
	if err != nil {
		return nil, false, fmt.Errorf("store: pin: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, false, fmt.Errorf("store: pin: %w", err)
	}
	return pin, changed, nil
}

// AcceptPin implements PinStore.
func (p *Postgres) AcceptPin(ctx context.Context, connection, tool, hash, by string) (*Pin, error) {
	tag, err := p.pool.Exec(ctx, `UPDATE upstream_pins SET accepted_hash = seen_hash, accepted_by = $1, accepted_at = $2
		WHERE connection = $3 AND tool = $4 AND seen_hash = $5`, by, ms(time.Now()), connection, tool, hash)
	if err != nil {
		return nil, fmt.Errorf("store: pin: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return nil, ErrNotFound
	}
	return p.getPin(ctx, p.pool.QueryRow(ctx, pgPinSelect, connection, tool))
}

// ListPins implements PinStore.
func (p *Postgres) ListPins(ctx context.Context, connection string) ([]*Pin, error) {
	rows, err := p.pool.Query(ctx, `SELECT `+pinColumns+` FROM upstream_pins WHERE $1 = '' OR connection = $1 ORDER BY connection, tool`, connection)
	if err != nil {
		return nil, fmt.Errorf("store: pins: %w", err)
	}
	defer rows.Close()
	var out []*Pin
	for rows.Next() {
		pin, err := scanPin(rows)
		if err != nil {
			return nil, fmt.Errorf("store: pins: %w", err)
		}
		out = append(out, pin)
	}
	return out, rows.Err()
}
