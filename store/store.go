// Package store keeps Airlock's durable state — grants, approvals and the
// journal — behind one interface, Store. The embedded default is one
// SQLite file in WAL mode (pure Go modernc.org/sqlite), written with
// synchronous=FULL so a record is on disk before the call it describes
// proceeds. Replicas share a PostgreSQL store (postgres://…, see
// postgres.go) instead.
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
	"sync"
	"sync/atomic"
	"time"
	"weak"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// Store is what the gateway, its journal and the CLI need from durable
// state. Both stores implement it and pass the same test suite.
type Store interface {
	// Grants and approvals (see grants.go).
	InsertRequest(ctx context.Context, r *Request) error
	GetRequest(ctx context.Context, id string) (*Request, error)
	ListRequests(ctx context.Context, f RequestFilter) ([]*Request, error)
	UpdateRequest(ctx context.Context, id string, vote *Vote, fn UpdateFunc) (*Request, error)
	ChangedSince(ctx context.Context, t time.Time, statuses ...string) ([]*Request, error)

	// The journal and its hash chain (see journal.go).
	AppendJournal(ctx context.Context, e *Entry) (int64, error)
	JournalAfter(ctx context.Context, after int64, limit int) ([]Entry, error)
	JournalCall(ctx context.Context, callID string) ([]Entry, error)
	JournalHead(ctx context.Context) (Entry, error)
	JournalLastSeq(ctx context.Context) (int64, error)
	JournalSpan(ctx context.Context, through int64) (first, count int64, err error)
	JournalOpenCalls(ctx context.Context, from int64) ([]Entry, error)
	JournalPrune(ctx context.Context, before int64, anchorHash string) (int64, error)
	AddJournalCheckpoint(ctx context.Context, c Checkpoint) error
	JournalCheckpoints(ctx context.Context) ([]Checkpoint, error)
	JournalMeta(ctx context.Context, key string) (string, error)
	SetJournalMeta(ctx context.Context, key, value string) error

	// AcquireInstance registers this process as a live writer; peers ask
	// InstanceAlive before closing a call it left open as "unknown".
	AcquireInstance() (*Instance, error)
	InstanceAlive(id string) (bool, error)

	// Pins of upstream MCP tools (see pins.go).
	PinStore

	// Ready returns nil when the store answers and takes journal writes;
	// otherwise an error that names the cause (readiness checks).
	Ready(ctx context.Context) error
	Close() error
}

var (
	_ Store = (*SQLite)(nil)
	_ Store = (*Postgres)(nil)
)

// SQLite is the embedded store.
//
// Writes go through db, one connection (SQLite serialises writers
// anyway). Reads outside a write transaction go through rdb, a few
// query_only connections to the same file: in WAL mode readers do not
// wait for the writer, so a grant lookup no longer queues behind a journal
// commit and its fsync (0.58 ms → 0.055 ms under 8 writers, see
// BenchmarkGrantLookup). A read sees every transaction committed before
// it starts, this process's included. For an in-memory database rdb is
// db (another connection would open another database).
type SQLite struct {
	db   *sql.DB
	rdb  *sql.DB
	path string

	// stmts caches the reads prepared on rdb, by query text: compiling a
	// ListRequests query was ~40 % of its CPU. Bounded by maxStmts.
	stmts  sync.Map // string → *sql.Stmt
	nstmts atomic.Int32
}

// readerConns is the size of the read pool; maxStmts bounds the number of
// distinct reads kept prepared.
const (
	readerConns = 4
	maxStmts    = 128
)

// ErrUnsupported is returned for a store DSN of an unknown scheme.
var ErrUnsupported = errors.New("store: unsupported store (want sqlite:PATH or postgres://…)")

// Open opens the store named by dsn: "sqlite:PATH" (OpenSQLite) or a
// postgres:// or postgresql:// URL (OpenPostgres), creating its schema if
// needed.
func Open(ctx context.Context, dsn string) (Store, error) {
	if IsPostgres(dsn) {
		return OpenPostgres(ctx, dsn)
	}
	return OpenSQLite(ctx, dsn)
}

// IsPostgres reports whether dsn names a PostgreSQL store.
func IsPostgres(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// OpenSQLite opens the SQLite store "sqlite:PATH", creating the file and
// its schema if needed.
func OpenSQLite(ctx context.Context, dsn string) (*SQLite, error) {
	path, ok := strings.CutPrefix(dsn, "sqlite:")
	if !ok || path == "" {
		return nil, ErrUnsupported
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	useFdatasync()
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "synchronous(FULL)", "busy_timeout(5000)", "foreign_keys(ON)",
		fmt.Sprintf("wal_autocheckpoint(%d)", walBackstopPages)} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	db, err := openSQLiteDB(path, q)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	// One writer connection: SQLite serialises writers anyway, and a single
	// connection keeps the busy-wait inside this process.
	db.SetMaxOpenConns(1)
	s := &SQLite{db: db, rdb: db, path: path}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if !inMemory(path) {
		// Opened after migrate: the file exists and is in WAL mode (a
		// persistent property of the file), so readers need not set it.
		rq := url.Values{}
		for _, p := range []string{"busy_timeout(5000)", "query_only(1)"} {
			rq.Add("_pragma", p)
		}
		rdb, err := openSQLiteDB(path, rq)
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("store: %w", err)
		}
		rdb.SetMaxOpenConns(readerConns)
		rdb.SetMaxIdleConns(readerConns)
		s.rdb = rdb
	}
	return s, nil
}

// inMemory reports whether path names an in-memory database, which
// exists only inside its one connection.
func inMemory(path string) bool {
	return path == ":memory:" || strings.HasPrefix(path, ":memory:?") || strings.Contains(path, "mode=memory")
}

// prepared returns q prepared on the read pool, compiling it on first use
// (database/sql prepares it again on each pool connection, once).
func (s *SQLite) prepared(ctx context.Context, q string) (*sql.Stmt, error) {
	if v, ok := s.stmts.Load(q); ok {
		return v.(*sql.Stmt), nil
	}
	st, err := s.rdb.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	if s.nstmts.Load() >= maxStmts {
		return st, nil // the caller's query is unusual: not cached (see readClose)
	}
	if v, loaded := s.stmts.LoadOrStore(q, st); loaded {
		st.Close()
		return v.(*sql.Stmt), nil
	}
	s.nstmts.Add(1)
	return st, nil
}

// read runs the read q on the read pool, prepared once.
func (s *SQLite) read(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	st, err := s.prepared(ctx, q)
	if err != nil {
		return nil, err
	}
	rows, err := st.QueryContext(ctx, args...)
	s.readClose(q, st)
	return rows, err
}

// readRow is read for one row.
func (s *SQLite) readRow(ctx context.Context, q string, args ...any) *sql.Row {
	st, err := s.prepared(ctx, q)
	if err != nil {
		// A *sql.Row cannot be built with an error; let the pool report it.
		return s.rdb.QueryRowContext(ctx, q, args...)
	}
	row := st.QueryRowContext(ctx, args...)
	s.readClose(q, st)
	return row
}

// readClose closes st if it was not cached. Rows already open on it stay
// valid: database/sql finalizes the statement once they are closed.
func (s *SQLite) readClose(q string, st *sql.Stmt) {
	if v, ok := s.stmts.Load(q); !ok || v.(*sql.Stmt) != st {
		st.Close()
	}
}

// Path is the store's file.
func (s *SQLite) Path() string { return s.path }

// Close closes the store.
func (s *SQLite) Close() error {
	if v, ok := journalStates.Load(weak.Make(s)); ok {
		v.(*journalState).closeStmts()
	}
	s.stmts.Range(func(k, v any) bool {
		v.(*sql.Stmt).Close()
		s.stmts.Delete(k)
		return true
	})
	if s.rdb != s.db {
		s.rdb.Close()
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

// Ready reports whether the journal takes writes: it fails after an I/O
// error disabled it (ErrJournalBroken) or when the file cannot be read.
func (s *SQLite) Ready(ctx context.Context) error {
	if v, ok := journalStates.Load(weak.Make(s)); ok {
		js := v.(*journalState)
		js.mu.Lock()
		broken := js.broken
		js.mu.Unlock()
		if broken != nil {
			return broken
		}
	}
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("store: sqlite unreachable: %w", err)
	}
	if err := s.rdb.PingContext(ctx); err != nil {
		return fmt.Errorf("store: sqlite unreachable: %w", err)
	}
	return nil
}
