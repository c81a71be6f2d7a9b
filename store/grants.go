package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Request kinds: a grant request (standing access for a while) or a
// per-call approval (one call with exact arguments).
const (
	KindGrant    = "grant"
	KindApproval = "approval"
)

// Request statuses. A grant goes pending → active → expired | revoked, or
// pending → denied | expired. A per-call approval goes pending → approved →
// used, or pending → denied | expired.
const (
	StatusPending  = "pending"
	StatusActive   = "active"
	StatusApproved = "approved"
	StatusUsed     = "used"
	StatusDenied   = "denied"
	StatusExpired  = "expired"
	StatusRevoked  = "revoked"
)

// ErrNotFound is returned for an unknown request id.
var ErrNotFound = errors.New("store: not found")

// Request is a grant or a per-call approval.
type Request struct {
	ID         string
	Kind       string
	Subject    string
	Groups     []string // the requester's groups when it asked
	Connection string
	Access     string
	Reason     string
	Status     string
	Rule       string
	// Approvers are the groups whose members may decide; MinApprovals is
	// how many distinct approvers must say yes.
	Approvers    []string
	MinApprovals int
	// Duration is the grant's lifetime once active (grants only).
	Duration time.Duration
	// Tool, Digest and Arguments bind a per-call approval to one call.
	Tool      string
	Digest    string
	Arguments json.RawMessage

	CreatedAt time.Time
	// DecideBy is when a pending request expires undecided.
	DecideBy  time.Time
	DecidedAt time.Time
	// ExpiresAt ends an active grant or an approved, unused approval.
	ExpiresAt time.Time
	UsedAt    time.Time
	RevokedAt time.Time
	RevokedBy string
	// Note is the deciding approver's or revoker's reason.
	Note  string
	Votes []Vote
}

// Vote is one approver's decision.
type Vote struct {
	Approver string    `json:"approver"`
	Approve  bool      `json:"approve"`
	Reason   string    `json:"reason,omitempty"`
	Time     time.Time `json:"time"`
}

const requestsSchema = `
CREATE TABLE IF NOT EXISTS requests (
	id            TEXT PRIMARY KEY,
	kind          TEXT NOT NULL,
	subject       TEXT NOT NULL,
	groups        TEXT NOT NULL,
	connection    TEXT NOT NULL,
	access        TEXT NOT NULL,
	reason        TEXT NOT NULL,
	status        TEXT NOT NULL,
	rule          TEXT NOT NULL,
	approvers     TEXT NOT NULL,
	min_approvals INTEGER NOT NULL,
	duration_ms   INTEGER NOT NULL,
	tool          TEXT NOT NULL,
	digest        TEXT NOT NULL,
	arguments     BLOB,
	created_at    INTEGER NOT NULL,
	decide_by     INTEGER NOT NULL,
	decided_at    INTEGER NOT NULL,
	expires_at    INTEGER NOT NULL,
	used_at       INTEGER NOT NULL,
	revoked_at    INTEGER NOT NULL,
	revoked_by    TEXT NOT NULL,
	note          TEXT NOT NULL,
	updated_at    INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS requests_subject ON requests(subject, connection, status);
CREATE INDEX IF NOT EXISTS requests_digest ON requests(digest) WHERE digest != '';
CREATE INDEX IF NOT EXISTS requests_status ON requests(status, updated_at);
CREATE TABLE IF NOT EXISTS votes (
	request_id TEXT NOT NULL REFERENCES requests(id),
	approver   TEXT NOT NULL,
	approve    INTEGER NOT NULL,
	reason     TEXT NOT NULL,
	time       INTEGER NOT NULL,
	PRIMARY KEY (request_id, approver)
);`

// Times are stored as Unix milliseconds; 0 means unset.
func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

func jsonList(v []string) string {
	if v == nil {
		v = []string{}
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// InsertRequest stores a new request.
func (s *SQLite) InsertRequest(ctx context.Context, r *Request) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO requests (id, kind, subject, groups, connection, access, reason, status, rule,
	approvers, min_approvals, duration_ms, tool, digest, arguments, created_at, decide_by, decided_at, expires_at, used_at,
	revoked_at, revoked_by, note, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
		r.ID, r.Kind, r.Subject, jsonList(r.Groups), r.Connection, r.Access, r.Reason, r.Status, r.Rule,
		jsonList(r.Approvers), r.MinApprovals, r.Duration.Milliseconds(), r.Tool, r.Digest, []byte(r.Arguments),
		ms(r.CreatedAt), ms(r.DecideBy), ms(r.DecidedAt), ms(r.ExpiresAt), ms(r.UsedAt), ms(r.RevokedAt), r.RevokedBy, r.Note,
		time.Now().UnixMilli())
	if err != nil {
		return fmt.Errorf("store: insert request: %w", err)
	}
	return nil
}

const requestColumns = `id, kind, subject, groups, connection, access, reason, status, rule, approvers, min_approvals,
	duration_ms, tool, digest, arguments, created_at, decide_by, decided_at, expires_at, used_at, revoked_at, revoked_by, note`

type scanner interface{ Scan(dest ...any) error }

func scanRequest(sc scanner) (*Request, error) {
	var (
		r                                                           Request
		groups, approvers                                           string
		durMS, created, decideBy, decided, expires, used, revokedAt int64
		args                                                        []byte
	)
	if err := sc.Scan(&r.ID, &r.Kind, &r.Subject, &groups, &r.Connection, &r.Access, &r.Reason, &r.Status, &r.Rule,
		&approvers, &r.MinApprovals, &durMS, &r.Tool, &r.Digest, &args, &created, &decideBy, &decided, &expires, &used,
		&revokedAt, &r.RevokedBy, &r.Note); err != nil {
		return nil, err
	}
	_ = json.Unmarshal([]byte(groups), &r.Groups)
	_ = json.Unmarshal([]byte(approvers), &r.Approvers)
	r.Duration = time.Duration(durMS) * time.Millisecond
	if len(args) > 0 {
		r.Arguments = json.RawMessage(args)
	}
	r.CreatedAt, r.DecideBy, r.DecidedAt = fromMS(created), fromMS(decideBy), fromMS(decided)
	r.ExpiresAt, r.UsedAt, r.RevokedAt = fromMS(expires), fromMS(used), fromMS(revokedAt)
	return &r, nil
}

// GetRequest returns a request with its votes.
func (s *SQLite) GetRequest(ctx context.Context, id string) (*Request, error) {
	r, err := scanRequest(s.readRow(ctx, `SELECT `+requestColumns+` FROM requests WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: get request: %w", err)
	}
	if r.Votes, err = s.votes(ctx, id); err != nil {
		return nil, err
	}
	return r, nil
}

func (s *SQLite) votes(ctx context.Context, id string) ([]Vote, error) {
	rows, err := s.read(ctx, `SELECT approver, approve, reason, time FROM votes WHERE request_id = ? ORDER BY time`, id)
	if err != nil {
		return nil, fmt.Errorf("store: votes: %w", err)
	}
	defer rows.Close()
	var out []Vote
	for rows.Next() {
		var v Vote
		var t int64
		if err := rows.Scan(&v.Approver, &v.Approve, &v.Reason, &t); err != nil {
			return nil, fmt.Errorf("store: votes: %w", err)
		}
		v.Time = fromMS(t)
		out = append(out, v)
	}
	return out, rows.Err()
}

// RequestFilter selects requests; zero fields match anything.
type RequestFilter struct {
	Kind       string
	Subject    string
	Connection string
	Statuses   []string
	Digest     string
	Limit      int
}

// ListRequests returns matching requests, newest first, without votes.
func (s *SQLite) ListRequests(ctx context.Context, f RequestFilter) ([]*Request, error) {
	q, args := listRequestsQuery(f)
	rows, err := s.read(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: list requests: %w", err)
	}
	defer rows.Close()
	var out []*Request
	for rows.Next() {
		r, err := scanRequest(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list requests: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// listRequestsQuery builds ListRequests' query with ? placeholders (both
// stores use it; PostgreSQL renumbers them).
func listRequestsQuery(f RequestFilter) (string, []any) {
	var where []string
	var args []any
	add := func(cond string, v any) { where = append(where, cond); args = append(args, v) }
	if f.Kind != "" {
		add("kind = ?", f.Kind)
	}
	if f.Subject != "" {
		add("subject = ?", f.Subject)
	}
	if f.Connection != "" {
		add("connection = ?", f.Connection)
	}
	if f.Digest != "" {
		add("digest = ?", f.Digest)
	}
	if len(f.Statuses) > 0 {
		ph := strings.TrimSuffix(strings.Repeat("?,", len(f.Statuses)), ",")
		where = append(where, "status IN ("+ph+")")
		for _, st := range f.Statuses {
			args = append(args, st)
		}
	}
	q := `SELECT ` + requestColumns + ` FROM requests`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	limit := f.Limit
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	// A literal limit: callers use a few constants, so the SQLite store's
	// prepared statements stay few, and PostgreSQL plans for the limit.
	q += fmt.Sprintf(" ORDER BY created_at DESC LIMIT %d", limit)
	return q, args
}

// UpdateFunc changes a request inside a transaction. It returns false to
// leave the request unchanged. Votes on r are not written; use AddVote.
type UpdateFunc func(r *Request) (bool, error)

// UpdateRequest loads id, applies fn and writes the result, atomically
// with respect to every other writer of the store, including other
// processes. vote, when non-nil, is recorded in the same transaction and
// must be new (one vote per approver).
func (s *SQLite) UpdateRequest(ctx context.Context, id string, vote *Vote, fn UpdateFunc) (*Request, error) {
	tx, err := s.db.BeginTx(ctx, nil) // BEGIN IMMEDIATE (see Open)
	if err != nil {
		return nil, fmt.Errorf("store: update request: %w", err)
	}
	defer tx.Rollback()
	r, err := scanRequest(tx.QueryRowContext(ctx, `SELECT `+requestColumns+` FROM requests WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: update request: %w", err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT approver, approve, reason, time FROM votes WHERE request_id = ? ORDER BY time`, id)
	if err != nil {
		return nil, fmt.Errorf("store: update request: %w", err)
	}
	for rows.Next() {
		var v Vote
		var t int64
		if err := rows.Scan(&v.Approver, &v.Approve, &v.Reason, &t); err != nil {
			rows.Close()
			return nil, fmt.Errorf("store: update request: %w", err)
		}
		v.Time = fromMS(t)
		r.Votes = append(r.Votes, v)
	}
	rows.Close()
	if vote != nil {
		r.Votes = append(r.Votes, *vote)
	}
	changed, err := fn(r)
	if err != nil || !changed {
		return r, err
	}
	if vote != nil {
		if _, err := tx.ExecContext(ctx, `INSERT INTO votes (request_id, approver, approve, reason, time) VALUES (?,?,?,?,?)`,
			id, vote.Approver, vote.Approve, vote.Reason, ms(vote.Time)); err != nil {
			return nil, fmt.Errorf("store: vote: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE requests SET status = ?, decided_at = ?, expires_at = ?, used_at = ?,
	revoked_at = ?, revoked_by = ?, note = ?, updated_at = ? WHERE id = ?`,
		r.Status, ms(r.DecidedAt), ms(r.ExpiresAt), ms(r.UsedAt), ms(r.RevokedAt), r.RevokedBy, r.Note,
		time.Now().UnixMilli(), id); err != nil {
		return nil, fmt.Errorf("store: update request: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("store: update request: %w", err)
	}
	return r, nil
}

// ChangedSince returns requests whose state changed at or after t (Unix
// ms), for replicas watching for revocations and decisions.
func (s *SQLite) ChangedSince(ctx context.Context, t time.Time, statuses ...string) ([]*Request, error) {
	q, args := changedSinceQuery(t, statuses)
	rows, err := s.read(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: changed requests: %w", err)
	}
	defer rows.Close()
	var out []*Request
	for rows.Next() {
		r, err := scanRequest(rows)
		if err != nil {
			return nil, fmt.Errorf("store: changed requests: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func changedSinceQuery(t time.Time, statuses []string) (string, []any) {
	q := `SELECT ` + requestColumns + ` FROM requests WHERE updated_at >= ?`
	args := []any{t.UnixMilli()}
	if len(statuses) > 0 {
		q += " AND status IN (" + strings.TrimSuffix(strings.Repeat("?,", len(statuses)), ",") + ")"
		for _, st := range statuses {
			args = append(args, st)
		}
	}
	return q + " LIMIT 10000", args
}
