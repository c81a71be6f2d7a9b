package querydb

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/airlockhq/airlock/config"
	"github.com/airlockhq/airlock/policy"
	"github.com/airlockhq/airlock/policy/pgsql"
	"github.com/airlockhq/airlock/recorder"
	"github.com/airlockhq/airlock/tools"
)

type postgres struct {
	name    string
	cfg     *pgxpool.Config
	limits  config.Limits
	maxRows int

	once sync.Once
	pool *pgxpool.Pool
	err  error

	names      columnNames
	classified classCache
}

func newPostgres(name string, c *config.Connection, limits config.Limits) (*postgres, error) {
	u, err := url.Parse(c.DSN)
	if err != nil {
		return nil, errors.New("dsn is not a valid URL")
	}
	if c.Password != nil {
		pw, err := c.Password.Resolve()
		if err != nil {
			return nil, err
		}
		u.User = url.UserPassword(u.User.Username(), pw)
	}
	cfg, err := pgxpool.ParseConfig(u.String())
	if err != nil {
		// pgx errors can quote the connection string: say only what is wrong.
		return nil, errors.New("dsn could not be parsed")
	}
	// Extended protocol only: the simple protocol runs stacked statements.
	// DescribeExec uses the unnamed statement, so agent SQL never fills a
	// per-connection statement cache.
	cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeDescribeExec
	cfg.ConnConfig.StatementCacheCapacity = 0
	cfg.ConnConfig.DescriptionCacheCapacity = 0
	// On cancellation ask the server to cancel the query, so a stopped
	// stream or a revoked call ends on the PostgreSQL side too.
	cfg.ConnConfig.BuildContextWatcherHandler = func(pc *pgconn.PgConn) ctxwatch.Handler {
		return &cancelHandler{conn: pc}
	}
	cfg.MaxConns = c.MaxConns
	if cfg.ConnConfig.RuntimeParams == nil {
		cfg.ConnConfig.RuntimeParams = map[string]string{}
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = "airlock"
	// The classifier parses strings the standard way; a server reading
	// backslash escapes could see two statements where it saw one.
	cfg.ConnConfig.RuntimeParams["standard_conforming_strings"] = "on"
	return &postgres{name: name, cfg: cfg, limits: limits, maxRows: c.MaxRows}, nil
}

func (p *postgres) getPool(ctx context.Context) (*pgxpool.Pool, error) {
	p.once.Do(func() { p.pool, p.err = pgxpool.NewWithConfig(context.WithoutCancel(ctx), p.cfg) })
	if p.err != nil {
		return nil, fmt.Errorf("connection %s: cannot create pool", p.name)
	}
	return p.pool, nil
}

func (p *postgres) classify(sql string) (tools.Action, error) {
	if a, ok := p.classified.get(sql); ok {
		return a, nil
	}
	st, err := pgsql.Classify(sql)
	if err != nil {
		return tools.Action{}, err
	}
	a := tools.Action{Access: st.Access, Command: st.Command, Resources: st.Tables}
	p.classified.put(sql, a)
	return a, nil
}

// classCache remembers the classification of recent statements: agents
// repeat themselves, and parsing is most of a call's CPU. Classification is
// a pure function of the text, so a hit is exactly a fresh parse. Bounded:
// when full it starts over.
type classCache struct {
	mu sync.Mutex
	m  map[string]tools.Action
}

const classCacheSize = 1024

func (c *classCache) get(sql string) (tools.Action, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	a, ok := c.m[sql]
	a.Resources = slices.Clone(a.Resources) // callers own their Action
	return a, ok
}

func (c *classCache) put(sql string, a tools.Action) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= classCacheSize {
		c.m = make(map[string]tools.Action, classCacheSize)
	}
	a.Resources = slices.Clone(a.Resources)
	c.m[sql] = a
}

func (p *postgres) ping(ctx context.Context) error {
	pool, err := p.getPool(ctx)
	if err != nil {
		return err
	}
	var one int
	if err := pool.QueryRow(ctx, "SELECT $1::int", 1).Scan(&one); err != nil {
		return connError(err)
	}
	return nil
}

func (p *postgres) close() {
	if p.pool != nil {
		p.pool.Close()
	}
}

func (p *postgres) query(ctx context.Context, q *query, access policy.Access) (rs *resultSet, err error) {
	// Every error before COMMIT is sent leaves the database unchanged (the
	// transaction rolls back); a failed COMMIT's outcome is unknown.
	committing := false
	defer func() {
		if err != nil && !committing {
			err = tools.NotRun(err)
		}
	}()
	pool, err := p.getPool(ctx)
	if err != nil {
		return nil, err
	}
	opts := pgx.TxOptions{}
	if access == policy.Read {
		opts.AccessMode = pgx.ReadOnly
	}
	tx, err := pool.BeginTx(ctx, opts)
	if err != nil {
		return nil, connError(err)
	}
	defer func() {
		if err != nil || access == policy.Read {
			// A cancelled stream leaves the connection busy; rollback on
			// a fresh context so it returns to the pool clean or is closed.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			_ = tx.Rollback(rctx)
		}
	}()
	ms := strconv.FormatInt(statementTimeout(ctx, p.limits).Milliseconds(), 10)
	var set string
	if err := tx.QueryRow(ctx, "SELECT set_config('statement_timeout', $1, true)", ms).Scan(&set); err != nil {
		return nil, connError(err)
	}
	rs, err = p.stream(ctx, tx, q)
	if err != nil {
		return nil, err
	}
	if rs.Sources, err = p.sources(ctx, pool, rs.fields); err != nil {
		return nil, err
	}
	if access != policy.Read {
		committing = true
		if err := tx.Commit(ctx); err != nil {
			return nil, pgError(err)
		}
	}
	return rs, nil
}

// stream reads at most maxRows rows; if more exist it cancels the query
// rather than reading the rest.
func (p *postgres) stream(ctx context.Context, tx pgx.Tx, q *query) (*resultSet, error) {
	qctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rows, err := tx.Query(qctx, q.SQL, q.Params...)
	if err != nil {
		return nil, pgError(err)
	}
	defer rows.Close()
	fds := rows.FieldDescriptions()
	rs := &resultSet{Columns: make([]string, len(fds)), Rows: [][]any{}, fields: slices.Clone(fds)}
	for i, fd := range fds {
		rs.Columns[i] = fd.Name
	}
	for rows.Next() {
		if len(rs.Rows) == p.maxRows {
			rs.Truncated = true
			cancel()
			break
		}
		vals, err := rows.Values()
		if err != nil {
			return nil, pgError(err)
		}
		for i, v := range vals {
			vals[i] = jsonSafe(v, fds[i].DataTypeOID)
		}
		rs.Rows = append(rs.Rows, vals)
	}
	if !rs.Truncated {
		if err := rows.Err(); err != nil {
			return nil, pgError(err)
		}
	}
	rs.RowCount = len(rs.Rows)
	return rs, nil
}

// pgError keeps what the agent can act on (the server's message, code and
// position) and drops the rest; Detail can quote row values.
func pgError(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		msg := fmt.Sprintf("database error %s: %s", pe.Code, pe.Message)
		if pe.Code == "57014" {
			msg = "the statement was cancelled (time limit reached); narrow the query"
		}
		if pe.Position > 0 {
			msg += fmt.Sprintf(" (at character %d)", pe.Position)
		}
		return tools.Refuse(recorder.OutcomeError, "%s", msg)
	}
	return sqlError(connError(err))
}

// connError hides host, user and driver internals.
func connError(err error) error {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return err
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return fmt.Errorf("database refused: %s", pe.Code)
	}
	return errors.New("database unavailable")
}

const maxSafeInt = 1 << 53

// jsonSafe converts a decoded PostgreSQL value into something encoding/json
// renders faithfully: numerics and out-of-range integers as strings,
// timestamps as RFC 3339, bytea as base64, json as json.
func jsonSafe(v any, oid uint32) any {
	switch x := v.(type) {
	case nil, bool, string, int16, int32, int8, uint8, uint16, uint32:
		return x
	case int64:
		if x > maxSafeInt || x < -maxSafeInt {
			return strconv.FormatInt(x, 10)
		}
		return x
	case float32:
		return jsonSafe(float64(x), oid)
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return strconv.FormatFloat(x, 'g', -1, 64)
		}
		return x
	case time.Time:
		if oid == pgtype.DateOID {
			return x.Format(time.DateOnly)
		}
		return x.Format(time.RFC3339Nano)
	case []byte:
		return base64.StdEncoding.EncodeToString(x)
	case [16]byte:
		return fmt.Sprintf("%x-%x-%x-%x-%x", x[0:4], x[4:6], x[6:8], x[8:10], x[10:16])
	case pgtype.Numeric:
		if !x.Valid {
			return nil
		}
		b, err := x.MarshalJSON()
		if err != nil {
			return nil
		}
		return string(b)
	case map[string]any:
		for k, e := range x {
			x[k] = jsonSafe(e, 0)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = jsonSafe(e, 0)
		}
		return x
	case fmt.Stringer:
		return x.String()
	default:
		return fmt.Sprint(x)
	}
}

// cancelHandler stops a query whose context ends. A PostgreSQL cancel
// request that arrives between protocol messages (for example between the
// extended protocol's describe and execute) is ignored by the server, so
// one request is not enough: it sends one every cancelEvery until the query
// returns. If the server still does not stop, the connection's deadline
// closes it.
type cancelHandler struct {
	conn *pgconn.PgConn
	stop chan struct{}
	done chan struct{}
}

const (
	cancelEvery    = 100 * time.Millisecond
	cancelDeadline = 5 * time.Second
)

var _ ctxwatch.Handler = (*cancelHandler)(nil)

func (h *cancelHandler) HandleCancel(context.Context) {
	h.stop, h.done = make(chan struct{}), make(chan struct{})
	_ = h.conn.Conn().SetDeadline(time.Now().Add(cancelDeadline))
	go func() {
		defer close(h.done)
		for range int(cancelDeadline / cancelEvery) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_ = h.conn.CancelRequest(ctx)
			cancel()
			// Waiting after each request also keeps a late one from
			// landing on the connection's next statement.
			select {
			case <-h.stop:
				time.Sleep(cancelEvery)
				return
			case <-time.After(cancelEvery):
			}
		}
	}()
}

func (h *cancelHandler) HandleUnwatchAfterCancel() {
	close(h.stop)
	<-h.done
	_ = h.conn.Conn().SetDeadline(time.Time{})
}

// columnNames caches, per table OID, attribute number → "table.column".
type columnNames struct {
	mu     sync.Mutex
	tables map[uint32]map[uint16]string
}

// sources resolves each result column to the table column it comes from,
// through the field's table OID and attribute number (cached per OID), so
// `SELECT ssn AS x FROM customers` is still known to be customers.ssn.
// It uses a pool connection: after a capped stream was cancelled, the
// call's own transaction can no longer run statements.
func (p *postgres) sources(ctx context.Context, pool *pgxpool.Pool, fds []pgconn.FieldDescription) ([]string, error) {
	out := make([]string, len(fds))
	for i, fd := range fds {
		if fd.TableOID == 0 {
			continue
		}
		p.names.mu.Lock()
		cols, ok := p.names.tables[fd.TableOID]
		p.names.mu.Unlock()
		if !ok {
			rows, err := pool.Query(ctx, `SELECT c.relname, a.attnum, a.attname FROM pg_catalog.pg_attribute a
				JOIN pg_catalog.pg_class c ON c.oid = a.attrelid WHERE a.attrelid = $1 AND a.attnum > 0`, fd.TableOID)
			if err != nil {
				return nil, pgError(err)
			}
			cols = map[uint16]string{}
			for rows.Next() {
				var table, col string
				var num int16
				if err := rows.Scan(&table, &num, &col); err != nil {
					rows.Close()
					return nil, pgError(err)
				}
				cols[uint16(num)] = table + "." + col
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return nil, pgError(err)
			}
			p.names.mu.Lock()
			if p.names.tables == nil {
				p.names.tables = map[uint32]map[uint16]string{}
			}
			p.names.tables[fd.TableOID] = cols
			p.names.mu.Unlock()
		}
		out[i] = cols[fd.TableAttributeNumber]
	}
	return out, nil
}
