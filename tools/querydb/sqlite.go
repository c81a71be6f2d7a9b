package querydb

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"strconv"
	"sync"
	"time"

	"modernc.org/sqlite"

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
	name    string
	path    string
	seed    string
	limits  config.Limits
	maxRows int

	seedOnce sync.Once
	seedErr  error
	mu       sync.Mutex
	ro, rw   *sql.DB
}

func newSQLite(name string, c *config.Connection, limits config.Limits) (*sqliteTarget, error) {
	return &sqliteTarget{name: name, path: c.Path, seed: c.Seed, limits: limits, maxRows: c.MaxRows}, nil
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
	ctx, cancel := context.WithTimeout(ctx, statementTimeout(ctx, s.limits))
	defer cancel()
	rows, err := db.QueryContext(ctx, q.SQL, q.Params...)
	if err != nil {
		return nil, sqliteError(err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, sqliteError(err)
	}
	rs := &resultSet{Columns: cols, Rows: [][]any{}}
	for rows.Next() {
		if len(rs.Rows) == s.maxRows {
			rs.Truncated = true
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
			vals[i] = sqliteJSONSafe(v)
		}
		rs.Rows = append(rs.Rows, vals)
	}
	if err := rows.Err(); err != nil && !rs.Truncated {
		return nil, sqliteError(err)
	}
	rs.RowCount = len(rs.Rows)
	return rs, nil
}

func sqliteJSONSafe(v any) any {
	switch x := v.(type) {
	case []byte:
		return base64.StdEncoding.EncodeToString(x)
	case time.Time:
		return x.Format(time.RFC3339Nano)
	case int64:
		if x > maxSafeInt || x < -maxSafeInt {
			return strconv.FormatInt(x, 10)
		}
		return x
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return strconv.FormatFloat(x, 'g', -1, 64)
		}
		return x
	default:
		return x
	}
}

// sqliteError reports SQLite's message (which names no file or host) and
// strips the driver's prefix.
func sqliteError(err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return tools.Refuse(recorder.OutcomeError, "database error: %s", se.Error())
	}
	return sqlError(err)
}
