package querydb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/airlockhq/airlock/config"
	"github.com/airlockhq/airlock/internal/telemetry"
	"github.com/airlockhq/airlock/masking"
	"github.com/airlockhq/airlock/policy"
	"github.com/airlockhq/airlock/policy/pgsql"
	"github.com/airlockhq/airlock/recorder"
	"github.com/airlockhq/airlock/tools"
)

type postgres struct {
	name        string
	cfg         *pgxpool.Config
	limits      config.Limits
	maxRows     int
	allowBinary bool
	log         *slog.Logger
	// functions are the operator's allow-list of non-catalog functions.
	functions []string

	once sync.Once
	pool *pgxpool.Pool
	err  error

	classified classCache
}

func newPostgres(name string, c *config.Connection, limits config.Limits, log *slog.Logger) (*postgres, error) {
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
	// Client spans beneath the call's execute span; never the SQL text.
	cfg.ConnConfig.Tracer = telemetry.PgxTracer{}
	cfg.MaxConns = c.MaxConns
	if cfg.ConnConfig.RuntimeParams == nil {
		cfg.ConnConfig.RuntimeParams = map[string]string{}
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = "airlock"
	// The classifier parses strings the standard way; a server reading
	// backslash escapes could see two statements where it saw one.
	cfg.ConnConfig.RuntimeParams["standard_conforming_strings"] = "on"
	// bytea nested in arrays, rows or ranges is printed as text: with the
	// escape format, text stored as bytes stays readable to masking
	// (the hex format would hand it to the agent encoded, unmasked).
	cfg.ConnConfig.RuntimeParams["bytea_output"] = "escape"
	// Whatever a call left in its session (advisory locks a function took,
	// settings, prepared statements, temporary tables, LISTEN) ends with
	// the call: the next call on this connection starts clean. A
	// connection that cannot be reset is closed.
	cfg.AfterRelease = func(c *pgx.Conn) bool {
		ctx, cancel := context.WithTimeout(context.Background(), resetTimeout)
		defer cancel()
		_, err := c.Exec(ctx, "DISCARD ALL")
		return err == nil
	}
	for _, f := range c.Functions {
		if _, err := path.Match(strings.ToLower(f), ""); err != nil || strings.TrimSpace(f) == "" {
			return nil, fmt.Errorf("functions: %q is not a function name or pattern ('*' matches any run of characters)", f)
		}
	}
	return &postgres{name: name, cfg: cfg, limits: limits, maxRows: c.MaxRows, allowBinary: c.AllowBinary, log: log,
		functions: c.Functions}, nil
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
	// A function that is not PostgreSQL's own can do anything (take
	// advisory locks, sleep, write through SECURITY DEFINER) whatever the
	// statement around it looks like: it needs admin access unless the
	// operator listed it for this connection.
	for _, f := range st.UserFunctions {
		if !p.functionAllowed(f) {
			a.Access = policy.Admin
			break
		}
	}
	p.classified.put(sql, a)
	return a, nil
}

// functionAllowed reports whether the operator's `functions:` list names
// f (as written: "f" or "schema.f"). A pattern without a dot matches the
// function's unqualified name in any schema; one with a dot matches the
// qualified name as written.
func (p *postgres) functionAllowed(f string) bool {
	short := f
	if i := strings.LastIndexByte(f, '.'); i >= 0 {
		short = f[i+1:]
	}
	for _, pat := range p.functions {
		pat = strings.ToLower(pat)
		target := short
		if strings.Contains(pat, ".") {
			target = f
		}
		if ok, _ := path.Match(pat, target); ok {
			return true
		}
	}
	return false
}

// classCache remembers the classification of recent statements: agents
// repeat themselves, and parsing is most of a call's CPU. Classification is
// a pure function of the text, so a hit is exactly a fresh parse. Bounded:
// when full it starts over.
// resetTimeout bounds the reset of a connection returned to the pool.
const resetTimeout = 5 * time.Second

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
		// airlock check is for operators: the cause, not just the advice.
		var ae *tools.AgentError
		if errors.As(p.connError(err), &ae) {
			return fmt.Errorf("%s: %s", ae.Msg, ae.Detail)
		}
		return err
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
		// The real cause of a failure (fail) goes to the operator's log
		// here, with the call's context, so the line names the call.
		var ae *tools.AgentError
		if errors.As(err, &ae) && ae.Detail != "" {
			p.log.WarnContext(ctx, "database call failed", "connection", p.name, "err", ae.Detail)
		}
		if err != nil && !committing {
			err = tools.NotRun(err)
		}
	}()
	pool, err := p.getPool(ctx)
	if err != nil {
		return nil, err
	}
	// One connection for the whole call: the statement, and the lookup of
	// its columns' sources after it. Taking a second one while holding the
	// first deadlocks a pool of one, and a busy pool of any size.
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, p.connError(err)
	}
	defer conn.Release()
	if access == policy.Read {
		// Reads speak the protocol directly (pgread.go), below pgx's
		// tracer: their span is made here.
		sctx, span := telemetry.StartDBSpan(ctx, "postgresql read", conn.Conn())
		rs, err := p.read(sctx, conn, q)
		rows := 0
		if rs != nil {
			rows = len(rs.Rows)
		}
		telemetry.EndDBSpan(span, int64(rows), err)
		return rs, err
	}
	// Say the access mode explicitly: a database whose default is
	// default_transaction_read_only=on still runs an allowed write.
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadWrite})
	if err != nil {
		return nil, p.connError(err)
	}
	done := false
	defer func() {
		if !done {
			// A cancelled call leaves the connection busy; roll back on
			// a fresh context so it returns to the pool clean or is
			// closed.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			_ = tx.Rollback(rctx)
		}
	}()
	ms := strconv.FormatInt(statementTimeout(ctx, p.limits).Milliseconds(), 10)
	var set string
	if err := tx.QueryRow(ctx, "SELECT set_config('statement_timeout', $1, true)", ms).Scan(&set); err != nil {
		return nil, p.connError(err)
	}
	// Column lineage for masking: parsed here, its views and functions
	// looked up on this transaction before the statement runs.
	lin := pgsql.AnalyzeLineage(q.SQL)
	cat, err := loadLineageCatalog(ctx, oneTrip{tx}, lin)
	if err != nil {
		return nil, err
	}
	rs, err = p.stream(ctx, tx, q)
	if err != nil {
		return nil, err
	}
	rs.Lineage = cat.resolve(lin, rs.Columns)
	// Looked up after the statement, which holds its relations' locks
	// now: the names are those it ran against.
	if rs.Sources, err = sources(ctx, oneTrip{tx}, rs.fields); err != nil {
		return nil, err
	}
	done, committing = true, true
	if err := tx.Commit(ctx); err != nil {
		return nil, p.pgError(err)
	}
	return rs, nil
}

// stream runs a write and keeps at most maxRows rows and MaxResultBytes of
// the values it returns. It is read to the end (rows past the bounds are
// dropped), since cancelling it would undo it. Reads go through read.
func (p *postgres) stream(ctx context.Context, tx pgx.Tx, q *query) (*resultSet, error) {
	qctx, cancel := context.WithCancel(ctx)
	defer cancel()
	args := make([]any, 0, len(q.Params)+1)
	args = append(append(args, pgx.QueryResultFormatsByOID(binaryOIDs)), q.Params...)
	rows, err := tx.Query(qctx, q.SQL, args...)
	if err != nil {
		return nil, p.pgError(err)
	}
	defer rows.Close()
	fds := rows.FieldDescriptions()
	rs := &resultSet{Columns: make([]string, len(fds)), Rows: [][]any{}, fields: slices.Clone(fds)}
	for i, fd := range fds {
		rs.Columns[i] = fd.Name
	}
	cv := converter{allowBinary: p.allowBinary}
	tm := rows.Conn().TypeMap()
	size, dropped := 0, 0
	for rows.Next() {
		if rs.Truncated {
			dropped++
			continue
		}
		if len(rs.Rows) == p.maxRows || size >= MaxResultBytes {
			rs.Truncated = true
			rs.more = true
			if size >= MaxResultBytes {
				rs.Note = fmt.Sprintf("only the first %d rows were read: they reached the gateway's limit of %d bytes per result; select fewer or shorter columns, or add a narrower WHERE or a LIMIT",
					len(rs.Rows), MaxResultBytes)
			}
			dropped++
			continue
		}
		raw := rows.RawValues()
		vals := make([]any, len(raw))
		for i, b := range raw {
			fd := &fds[i]
			vals[i] = cv.pgValue(b, fd.DataTypeOID, fd.Format, func(b []byte) (any, error) {
				t, ok := tm.TypeForOID(fd.DataTypeOID)
				if !ok {
					return string(b), nil
				}
				return t.Codec.DecodeValue(tm, fd.DataTypeOID, fd.Format, b)
			})
			size += valueSize(vals[i])
		}
		rs.Rows = append(rs.Rows, vals)
	}
	if err := rows.Err(); err != nil {
		return nil, p.pgError(err)
	}
	if cv.cut > 0 {
		rs.Note = joinNotes(rs.Note, fmt.Sprintf("%d values were longer than the gateway's limit of %d bytes per value and were cut (marked …[cut]); select a part of them, e.g. left(column, 1000)",
			cv.cut, MaxValueBytes))
	}
	rs.RowCount = len(rs.Rows)
	if tag := rows.CommandTag(); tag.Insert() || tag.Update() || tag.Delete() || tag.String() != "" && strings.HasPrefix(tag.String(), "MERGE") {
		rs.Command = tag.String()
		rs.RowCount = int(tag.RowsAffected())
	}
	return rs, nil
}

func joinNotes(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// pgError keeps what the agent can act on (the server's message, code and
// position) and drops the rest; Detail can quote row values. A failure
// that is not the statement's own goes to connError.
func (p *postgres) pgError(err error) error {
	var pe *pgconn.PgError
	var ce *pgconn.ConnectError
	if errors.As(err, &pe) && !errors.As(err, &ce) && !fatalConnCode(pe.Code) {
		msg := fmt.Sprintf("database error %s: %s", pe.Code, valuesOut(pe.Code, pe.Message))
		if pe.Code == "57014" {
			msg = "the statement was cancelled (time limit reached); narrow the query"
		}
		if pe.Position > 0 {
			msg += fmt.Sprintf(" (at character %d)", pe.Position)
		}
		return tools.Refuse(recorder.OutcomeError, "%s", msg)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return sqlError(err)
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	// The connection failed while the statement ran.
	return p.fail(err, "the connection to database %q was lost while the statement ran, so it may or may not have taken effect; check before repeating a write, and retry later", p.name)
}

// quoted is a quoted part of a server message: "…" or '…'.
var quoted = regexp.MustCompile(`"[^"]*"|'[^']*'`)

// valuesOut drops the quoted parts of a message that can quote a stored
// value: a data exception (class 22: `invalid input syntax for type
// integer: "hunter2"`) or a raised exception (class P0). Masking cannot
// be trusted to catch them: a value hidden by a column rule, by its
// column's name or by lineage has no shape a detector knows, and a cast
// error would read it back one row at a time. Other classes quote names
// (columns, relations, constraints), which the agent needs.
func valuesOut(code, msg string) string {
	if !strings.HasPrefix(code, "22") && !strings.HasPrefix(code, "P0") {
		return msg
	}
	return quoted.ReplaceAllString(msg, `"…"`)
}

// fatalConnCode reports SQLSTATEs that end the session rather than the
// statement: the server shutting down, the connection being killed.
func fatalConnCode(code string) bool {
	switch code {
	case "57P01", "57P02", "57P03", "57P04", "08000", "08003", "08006":
		return true
	}
	return false
}

// connError explains a failure to get a working connection. The agent
// learns what to do about it (retry later, or tell an operator), never the
// host, user or driver internals; the operator gets PostgreSQL's own
// message in the log and, masked, in the journal.
func (p *postgres) connError(err error) error {
	if errors.Is(err, context.Canceled) {
		return err
	}
	var pe *pgconn.PgError
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return p.fail(err, "database %q did not answer in time (it is unreachable, or all of the gateway's connections to it are busy); nothing was run; retry later", p.name)
	case errors.As(err, &pe) && misconfigured(pe.Code):
		return p.fail(err, "database %q refused the gateway's connection (SQLSTATE %s): the connection is misconfigured; nothing was run; tell an operator, retrying will not help", p.name, pe.Code)
	case errors.As(err, &pe) && pe.Code == "53300":
		return p.fail(err, "database %q has no free connection slots; nothing was run; retry later", p.name)
	}
	return p.fail(err, "database %q is unreachable right now; nothing was run; retry later", p.name)
}

// misconfigured SQLSTATEs say the gateway's connection settings are wrong:
// authentication (class 28), a database that does not exist, a role that
// may not log in or connect.
func misconfigured(code string) bool {
	return strings.HasPrefix(code, "28") || code == "3D000" || code == "42501" || code == "08004" || code == "08P01"
}

// fail returns the agent's text with the real cause attached for the
// journal and, through query, the operator's log.
func (p *postgres) fail(cause error, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	c := causeOf(cause)
	return &tools.AgentError{Outcome: recorder.OutcomeError, Msg: msg, Detail: c}
}

// causeOf is the operator's one-line account of a failure: PostgreSQL's
// own message and SQLSTATE, or the network error, without the DSN's user
// and database that pgx prefixes (the config names them already). A
// PostgreSQL message's Detail is left out: it can quote row values.
func causeOf(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return fmt.Sprintf("PostgreSQL said: %s: %s (SQLSTATE %s)", pe.Severity, pe.Message, pe.Code)
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) && ce.Unwrap() != nil {
		err = ce.Unwrap()
	}
	return strings.Join(strings.Fields(err.Error()), " ")
}

// cancelHandler stops a query whose context ends. A PostgreSQL cancel
// request that arrives between protocol messages (for example between the
// extended protocol's describe and execute) is ignored by the server, so
// one request is not enough: it sends one every cancelEvery until the query
// returns. If the server still does not stop, the connection's deadline
// closes it.
//
// No request can land on the connection's next statement, and nothing
// waits a fixed time for that: CancelRequest returns once the server has
// acknowledged the request (it closes the cancel connection after
// signalling the backend), HandleUnwatchAfterCancel waits for a request in
// flight to return, and a backend discards a cancel that reaches it while
// it is idle before it reads its next command (PostgresMain checks for
// interrupts with DoingCommandRead set). So once the query has returned
// and no request is in flight, the next statement is safe.
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
			select {
			case <-h.stop:
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

// querier is a connection or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// sources looks up, in one round trip on the call's own connection (q),
// never a second one from the pool, which a pool of one, or a busy pool,
// would never hand out, the source of each column in fds
// (lineageCatalog.sources).
func sources(ctx context.Context, q querier, fds []pgconn.FieldDescription) ([]masking.ColumnRef, error) {
	ld := &catalogLoader{cat: &lineageCatalog{views: map[string]*viewInfo{}, userFns: map[string]bool{}, rels: map[uint32]*relColumns{}}}
	if oids := ld.cat.missing(fds); len(oids) > 0 {
		if err := ld.lookup(ctx, q, nil, nil, oids); err != nil {
			return nil, err
		}
	}
	return ld.cat.sources(fds), nil
}
