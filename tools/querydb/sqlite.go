package querydb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"sync"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/airlockhq/airlock/config"
	"github.com/airlockhq/airlock/policy"
	"github.com/airlockhq/airlock/policy/sqlitesql"
	"github.com/airlockhq/airlock/recorder"
	"github.com/airlockhq/airlock/tools"
)

// sqliteTarget holds two handles: a read-only one (mode=ro and
// PRAGMA query_only) for reads, so SQLite itself refuses any write a
// statement might smuggle in, and a read-write one, opened only when a
// non-read call was allowed.
type sqliteTarget struct {
	name        string
	path        string
	seed        string
	limits      config.Limits
	maxRows     int
	allowBinary bool

	seedOnce sync.Once
	seedErr  error
	mu       sync.Mutex
	ro, rw   *sql.DB
}

func newSQLite(name string, c *config.Connection, limits config.Limits) (*sqliteTarget, error) {
	return &sqliteTarget{name: name, path: c.Path, seed: c.Seed, limits: limits, maxRows: c.MaxRows, allowBinary: c.AllowBinary}, nil
}

func (s *sqliteTarget) dsn(readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(5000)")
	if readOnly {
		q.Set("mode", "ro")
		q.Add("_pragma", "query_only(1)")
	}
	return "file:" + s.path + "?" + q.Encode()
}

func (s *sqliteTarget) handle(ctx context.Context, readOnly bool) (*sql.DB, error) {
	s.seedOnce.Do(func() {
		if s.seed != "" {
			s.seedErr = createDemo(context.WithoutCancel(ctx), s.path)
		}
	})
	if s.seedErr != nil {
		return nil, fmt.Errorf("connection %s: seed: %w", s.name, s.seedErr)
	}
	if _, err := os.Stat(s.path); err != nil {
		return nil, fmt.Errorf("connection %s: database file not found", s.name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	h := &s.rw
	if readOnly {
		h = &s.ro
	}
	if *h == nil {
		db, err := sql.Open("sqlite", s.dsn(readOnly))
		if err != nil {
			return nil, fmt.Errorf("connection %s: open: %w", s.name, err)
		}
		db.SetMaxOpenConns(4)
		*h = db
	}
	return *h, nil
}

func (s *sqliteTarget) classify(q string) (tools.Action, error) {
	st, err := sqlitesql.Classify(q)
	if err != nil {
		return tools.Action{}, err
	}
	return tools.Action{Access: st.Access, Command: st.Command}, nil
}

func (s *sqliteTarget) ping(ctx context.Context) error {
	db, err := s.handle(ctx, true)
	if err != nil {
		return err
	}
	return db.PingContext(ctx)
}

func (s *sqliteTarget) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, db := range []*sql.DB{s.ro, s.rw} {
		if db != nil {
			db.Close()
		}
	}
}

func (s *sqliteTarget) query(ctx context.Context, q *query, access policy.Access) (*resultSet, error) {
	db, err := s.handle(ctx, access == policy.Read)
	if err != nil {
		return nil, tools.NotRun(err) // no statement was sent
	}
	// The driver interrupts the statement when ctx ends; the length limit
	// stops what an interrupt cannot, one giant value built in a single
	// step (randomblob(900000000)).
	ctx, cancel := context.WithTimeout(ctx, statementTimeout(ctx, s.limits))
	defer cancel()
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, sqliteError(err)
	}
	defer conn.Close()
	if _, err := sqlite.Limit(conn, sqlite3.SQLITE_LIMIT_LENGTH, sqliteMaxLength); err != nil {
		return nil, fmt.Errorf("connection %s: set length limit: %w", s.name, err)
	}
	rows, err := conn.QueryContext(ctx, q.SQL, q.Params...)
	if err != nil {
		return nil, sqliteError(err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, sqliteError(err)
	}
	rs := &resultSet{Columns: cols, Rows: [][]any{}, Lineage: sqliteLineage(q.SQL, cols)}
	cv := converter{allowBinary: s.allowBinary}
	size := 0
	for rows.Next() {
		if len(rs.Rows) == s.maxRows || size >= MaxResultBytes {
			rs.Truncated, rs.more = true, true
			if size >= MaxResultBytes {
				rs.Note = fmt.Sprintf("only the first %d rows were read: they reached the gateway's limit of %d bytes per result; select fewer or shorter columns, or add a narrower WHERE or a LIMIT",
					len(rs.Rows), MaxResultBytes)
			}
			break
		}
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, sqliteError(err)
		}
		for i, v := range vals {
			vals[i] = cv.sqliteValue(v)
			size += valueSize(vals[i])
		}
		rs.Rows = append(rs.Rows, vals)
	}
	if err := rows.Err(); err != nil && !rs.Truncated {
		return nil, sqliteError(err)
	}
	if cv.cut > 0 {
		rs.Note = joinNotes(rs.Note, fmt.Sprintf("%d values were longer than the gateway's limit of %d bytes per value and were cut (marked …[cut]); select a part of them, e.g. substr(column, 1, 1000)",
			cv.cut, MaxValueBytes))
	}
	rs.RowCount = len(rs.Rows)
	return rs, nil
}

// sqliteMaxLength bounds any string or BLOB a SQLite statement builds
// (SQLITE_LIMIT_LENGTH): past it SQLite stops with "string or blob too
// big" instead of allocating.
const sqliteMaxLength = 16 << 20

// sqliteError reports SQLite's message (which names no file or host) and
// strips the driver's prefix.
func sqliteError(err error) error {
	var se *sqlite.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return sqlError(err)
	case errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_INTERRUPT:
		// The driver interrupted the statement when its time was up.
		return sqlError(context.DeadlineExceeded)
	case errors.As(err, &se):
		return tools.Refuse(recorder.OutcomeError, "database error: %s", se.Error())
	}
	return sqlError(err)
}
