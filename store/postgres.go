package store

import (
	"context"
	"embed"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Postgres is the store replicas share. Every write is a transaction that
// PostgreSQL commits durably (synchronous_commit, the server's default)
// before the call it describes proceeds.
//
//   - One journal chain across replicas: an append takes a transaction-level
//     advisory lock, reads the head and inserts its batch, so the database
//     orders every append of every replica; seq is the primary key, so even
//     a bug could not fork the chain silently. Appends of one replica share
//     a transaction (group commit), as in the SQLite store.
//   - Changes to grants and approvals are announced with NOTIFY in the
//     writing transaction; a dedicated connection LISTENs and wakes the
//     just-in-time service (see Changes). Polling stays the fallback.
//   - A gateway instance is alive while its own connection holds a
//     session-level advisory lock; PostgreSQL drops the lock when the
//     process dies, however it dies.
//   - The schema is migrated at start under an advisory lock, so replicas
//     starting together migrate once.
type Postgres struct {
	pool *pgxpool.Pool
	cfg  *pgx.ConnConfig // for the dedicated LISTEN and instance connections

	jmu     sync.Mutex
	queue   []*appendReq
	leading bool
	// The journal head as this process last committed it, and how many
	// batches to commit the slow way after the fast one missed (see
	// commitBatch). Only the batch leader, one at a time, uses them.
	head     pgHead
	slowRuns int

	sig    changeSignal
	stop   context.CancelFunc
	wg     sync.WaitGroup
	closed sync.Once
}

//go:embed pgmigrations/*.sql
var pgMigrations embed.FS

// Advisory lock keys: the (int4, int4) form with this class id; instance
// locks use the single bigint form, a separate key space.
const (
	pgLockClass     = 0x41697231 // "Air1"
	pgLockMigrate   = 1
	pgLockJournal   = 2
	pgLockRecovery  = 3
	pgNotifyChannel = "airlock_requests"
)

// pgCommitTimeout bounds one group commit: a store that stopped answering
// fails the batch (the calls are refused) instead of holding it forever.
const pgCommitTimeout = 15 * time.Second

// OpenPostgres opens the PostgreSQL store at dsn (a postgres:// URL, the
// password already filled in from its reference) and migrates its schema.
func OpenPostgres(ctx context.Context, dsn string) (*Postgres, error) {
	pc, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's parse errors can quote the DSN, password included.
		return nil, errors.New("store: cannot parse the postgres:// store URL (check its syntax; give the password by reference, not in the URL)")
	}
	if pc.ConnConfig.ConnectTimeout == 0 || pc.ConnConfig.ConnectTimeout > 5*time.Second {
		pc.ConnConfig.ConnectTimeout = 5 * time.Second
	}
	if pc.MaxConns < 8 {
		pc.MaxConns = 8
	}
	keepalives(&pc.ConnConfig.Config)
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("store: postgres: %w", err)
	}
	p := &Postgres{pool: pool, cfg: pc.ConnConfig.Copy()}
	p.sig.ch = make(chan struct{})
	if err := p.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	bg, stop := context.WithCancel(context.Background())
	p.stop = stop
	p.wg.Add(1)
	go func() { defer p.wg.Done(); p.listen(bg) }()
	return p, nil
}

// pgKeepalives are the server-side TCP keepalive settings of every
// session the store opens: a dead or cut-off peer is noticed in about 20 s
// (5 s idle, then 3 probes 5 s apart) instead of the system default of
// over two hours.
//
// It matters for the journal lock: a replica that dies or loses the
// network in the middle of an append (its pipeline sent up to, not
// including, the COMMIT; measured with a loopback proxy) leaves its
// backend waiting for the rest, "active" in ClientRead, where neither
// idle_in_transaction_session_timeout nor a cancel applies, holding the
// journal lock: every other replica's append waits, and fails after
// pgCommitTimeout, until the server drops that session. The same goes for
// a dead replica's instance lock.
var pgKeepalives = [...][2]string{
	{"tcp_keepalives_idle", "5"},
	{"tcp_keepalives_interval", "5"},
	{"tcp_keepalives_count", "3"},
}

// keepalives makes every connection of c set pgKeepalives once connected,
// except those the DSN sets itself. They are SET after connecting, not
// sent as startup parameters, which poolers such as PgBouncer refuse; a
// server or pooler that refuses the SET is left as it is.
func keepalives(c *pgconn.Config) {
	var set []string
	for _, kv := range pgKeepalives {
		if _, ok := c.RuntimeParams[kv[0]]; !ok {
			set = append(set, "SET "+kv[0]+" = "+kv[1])
		}
	}
	if len(set) == 0 {
		return
	}
	q := strings.Join(set, "; ")
	next := c.AfterConnect
	c.AfterConnect = func(ctx context.Context, pc *pgconn.PgConn) error {
		_ = pc.Exec(ctx, q).Close() // best effort: see above
		if next != nil {
			return next(ctx, pc)
		}
		return nil
	}
}

// Close stops listening and closes the connections.
func (p *Postgres) Close() error {
	p.closed.Do(func() {
		p.stop()
		p.wg.Wait()
		p.pool.Close()
	})
	return nil
}

// Ready returns nil when the store answers and is writable (not a
// read-only standby).
func (p *Postgres) Ready(ctx context.Context) error {
	var standby bool
	if err := p.pool.QueryRow(ctx, `SELECT pg_is_in_recovery()`).Scan(&standby); err != nil {
		return fmt.Errorf("store: postgres unreachable: %w", err)
	}
	if standby {
		return errors.New("store: postgres is a read-only standby; point store at the primary")
	}
	return nil
}

// migrate applies the embedded migrations not applied yet, each in its own
// transaction, holding a session advisory lock so that replicas starting
// together wait for one another.
func (p *Postgres) migrate(ctx context.Context) error {
	conn, err := p.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("store: postgres: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1, $2)`, pgLockClass, pgLockMigrate); err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1, $2)`, pgLockClass, pgLockMigrate) //nolint:errcheck // the session ends with the pool anyway
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS airlock_schema_migrations (
	version    INTEGER PRIMARY KEY,
	name       TEXT NOT NULL,
	applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`); err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	applied := map[int]bool{}
	rows, err := conn.Query(ctx, `SELECT version FROM airlock_schema_migrations`)
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return fmt.Errorf("store: migrate: %w", err)
		}
		applied[v] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	ms, err := pgMigrationList()
	if err != nil {
		return err
	}
	for _, m := range ms {
		if applied[m.version] {
			continue
		}
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO airlock_schema_migrations(version, name) VALUES ($1, $2)`, m.version, m.name)
			return err
		})
		if err != nil {
			return fmt.Errorf("store: migration %s: %w", m.name, err)
		}
	}
	return nil
}

type pgMigration struct {
	version   int
	name, sql string
}

// pgMigrationList reads pgmigrations/NNNN_name.sql in version order.
func pgMigrationList() ([]pgMigration, error) {
	names, err := fs.Glob(pgMigrations, "pgmigrations/*.sql")
	if err != nil {
		return nil, err
	}
	var out []pgMigration
	for _, n := range names {
		base := path.Base(n)
		v, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil {
			return nil, fmt.Errorf("store: migration %s: name must start with its version number", base)
		}
		b, err := pgMigrations.ReadFile(n)
		if err != nil {
			return nil, err
		}
		out = append(out, pgMigration{version: v, name: base, sql: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out, nil
}

// rebind turns ? placeholders into $1, $2, … (the queries shared with the
// SQLite store hold no ? in literals).
func rebind(q string) string {
	var b strings.Builder
	n := 0
	for _, c := range q {
		if c == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

// ---- grants and approvals ----

// InsertRequest stores a new request and announces it.
func (p *Postgres) InsertRequest(ctx context.Context, r *Request) error {
	_, err := p.pool.Exec(ctx, `WITH ins AS (INSERT INTO requests (id, kind, subject, groups, connection, access, reason, status, rule,
	approvers, min_approvals, duration_ms, tool, digest, arguments, created_at, decide_by, decided_at, expires_at, used_at,
	revoked_at, revoked_by, note, updated_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22,$23,$24)
	RETURNING id) SELECT pg_notify('`+pgNotifyChannel+`', id) FROM ins`,
		r.ID, r.Kind, r.Subject, jsonList(r.Groups), r.Connection, r.Access, r.Reason, r.Status, r.Rule,
		jsonList(r.Approvers), r.MinApprovals, r.Duration.Milliseconds(), r.Tool, r.Digest, []byte(r.Arguments),
		ms(r.CreatedAt), ms(r.DecideBy), ms(r.DecidedAt), ms(r.ExpiresAt), ms(r.UsedAt), ms(r.RevokedAt), r.RevokedBy, r.Note,
		time.Now().UnixMilli())
	if err != nil {
		return fmt.Errorf("store: insert request: %w", err)
	}
	return nil
}

type pgQuerier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// GetRequest returns a request with its votes.
func (p *Postgres) GetRequest(ctx context.Context, id string) (*Request, error) {
	r, err := scanRequest(p.pool.QueryRow(ctx, `SELECT `+requestColumns+` FROM requests WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: get request: %w", err)
	}
	if r.Votes, err = pgVotes(ctx, p.pool, id); err != nil {
		return nil, err
	}
	return r, nil
}

func pgVotes(ctx context.Context, q pgQuerier, id string) ([]Vote, error) {
	rows, err := q.Query(ctx, `SELECT approver, approve, reason, time FROM votes WHERE request_id = $1 ORDER BY time`, id)
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

func (p *Postgres) queryRequests(ctx context.Context, what, q string, args []any) ([]*Request, error) {
	rows, err := p.pool.Query(ctx, rebind(q), args...)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, err)
	}
	defer rows.Close()
	var out []*Request
	for rows.Next() {
		r, err := scanRequest(rows)
		if err != nil {
			return nil, fmt.Errorf("store: %s: %w", what, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, err)
	}
	return out, nil
}

// ListRequests returns matching requests, newest first, without votes.
func (p *Postgres) ListRequests(ctx context.Context, f RequestFilter) ([]*Request, error) {
	q, args := listRequestsQuery(f)
	return p.queryRequests(ctx, "list requests", q, args)
}

// ChangedSince returns requests whose state changed at or after t.
func (p *Postgres) ChangedSince(ctx context.Context, t time.Time, statuses ...string) ([]*Request, error) {
	q, args := changedSinceQuery(t, statuses)
	return p.queryRequests(ctx, "changed requests", q, args)
}

// UpdateRequest loads id under a row lock, applies fn, writes the result
// and announces the change, in one transaction.
func (p *Postgres) UpdateRequest(ctx context.Context, id string, vote *Vote, fn UpdateFunc) (*Request, error) {
	tx, err := p.pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: update request: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // a no-op after Commit
	r, err := scanRequest(tx.QueryRow(ctx, `SELECT `+requestColumns+` FROM requests WHERE id = $1 FOR UPDATE`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: update request: %w", err)
	}
	if r.Votes, err = pgVotes(ctx, tx, id); err != nil {
		return nil, err
	}
	if vote != nil {
		r.Votes = append(r.Votes, *vote)
	}
	changed, err := fn(r)
	if err != nil || !changed {
		return r, err
	}
	if vote != nil {
		if _, err := tx.Exec(ctx, `INSERT INTO votes (request_id, approver, approve, reason, time) VALUES ($1,$2,$3,$4,$5)`,
			id, vote.Approver, vote.Approve, vote.Reason, ms(vote.Time)); err != nil {
			return nil, fmt.Errorf("store: vote: %w", err)
		}
	}
	if _, err := tx.Exec(ctx, `UPDATE requests SET status = $1, decided_at = $2, expires_at = $3, used_at = $4,
	revoked_at = $5, revoked_by = $6, note = $7, updated_at = $8 WHERE id = $9`,
		r.Status, ms(r.DecidedAt), ms(r.ExpiresAt), ms(r.UsedAt), ms(r.RevokedAt), r.RevokedBy, r.Note,
		time.Now().UnixMilli(), id); err != nil {
		return nil, fmt.Errorf("store: update request: %w", err)
	}
	if _, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, pgNotifyChannel, id); err != nil {
		return nil, fmt.Errorf("store: update request: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("store: update request: %w", err)
	}
	return r, nil
}

// ---- change notifications ----

// changeSignal is a generation counter bumped on every notification (and
// whenever notifications may have been missed), with a channel closed at
// each bump for waiters.
type changeSignal struct {
	mu   sync.Mutex
	gen  uint64
	live bool
	ch   chan struct{}
}

func (c *changeSignal) bump(live bool) {
	c.mu.Lock()
	c.gen++
	c.live = live
	close(c.ch)
	c.ch = make(chan struct{})
	c.mu.Unlock()
}

// Changes returns a counter that grows whenever a request may have been
// changed by any process sharing the store, and whether notifications are
// arriving now (false: the listener is reconnecting; poll instead).
func (p *Postgres) Changes() (gen uint64, live bool) {
	p.sig.mu.Lock()
	defer p.sig.mu.Unlock()
	return p.sig.gen, p.sig.live
}

// ChangeWait returns a channel closed at the next change (see Changes).
func (p *Postgres) ChangeWait() <-chan struct{} {
	p.sig.mu.Lock()
	defer p.sig.mu.Unlock()
	return p.sig.ch
}

// listen keeps a LISTEN connection open until ctx ends, reconnecting with
// backoff. A reconnect counts as a change: notifications sent while it was
// down are lost, so readers drop what they cached.
func (p *Postgres) listen(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := p.listenOnce(ctx)
		p.sig.bump(false)
		if ctx.Err() != nil {
			return
		}
		_ = err // the store's users see the outage on their own queries
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 2*time.Second)
	}
}

func (p *Postgres) listenOnce(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	conn, err := pgx.ConnectConfig(cctx, p.cfg)
	cancel()
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+pgNotifyChannel); err != nil {
		return err
	}
	p.sig.bump(true)
	for {
		wctx, cancel := context.WithTimeout(ctx, time.Second)
		err := conn.PgConn().WaitForNotification(wctx)
		timedOut := wctx.Err() != nil
		cancel()
		switch {
		case err == nil:
			p.sig.bump(true)
		case ctx.Err() != nil:
			return ctx.Err()
		case timedOut:
			// Quiet: check the connection still answers.
			pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			err := conn.Ping(pctx)
			cancel()
			if err != nil {
				return err
			}
		default:
			return err
		}
	}
}

// ---- instances ----

// instanceKey is the advisory lock key of an instance id: its last 8
// bytes (random in a UUIDv7).
func instanceKey(id string) (int64, bool) {
	u, err := uuid.Parse(id)
	if err != nil || len(id) != 36 {
		return 0, false
	}
	return int64(binary.BigEndian.Uint64(u[8:])), true
}

// AcquireInstance registers this process as a live writer: a dedicated
// connection holds the instance's advisory lock, and is reopened (and the
// lock taken again) if it drops.
func (p *Postgres) AcquireInstance() (*Instance, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return nil, fmt.Errorf("store: instance id: %w", err)
	}
	key, _ := instanceKey(id.String())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	conn, err := p.lockInstance(ctx, key)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("store: instance lock: %w", err)
	}
	bg, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-bg.Done():
				// Unlock before closing: the server drops a closed
				// session's locks a moment later, and a peer asking at
				// once must already see this instance gone.
				uctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				_, _ = conn.Exec(uctx, `SELECT pg_advisory_unlock($1)`, key)
				conn.Close(uctx)
				cancel()
				return
			case <-time.After(time.Second):
			}
			pctx, cancel := context.WithTimeout(bg, 2*time.Second)
			err := conn.Ping(pctx)
			cancel()
			if err == nil || bg.Err() != nil {
				continue
			}
			conn.Close(context.Background())
			for bg.Err() == nil {
				lctx, cancel := context.WithTimeout(bg, 5*time.Second)
				c, err := p.lockInstance(lctx, key)
				cancel()
				if err == nil {
					conn = c
					break
				}
				select {
				case <-bg.Done():
				case <-time.After(500 * time.Millisecond):
				}
			}
			if bg.Err() != nil {
				if conn != nil {
					conn.Close(context.Background())
				}
				return
			}
		}
	}()
	return &Instance{ID: id.String(), release: func() error { stop(); <-done; return nil }}, nil
}

func (p *Postgres) lockInstance(ctx context.Context, key int64) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, p.cfg)
	if err != nil {
		return nil, err
	}
	var ok bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, key).Scan(&ok); err != nil || !ok {
		conn.Close(context.Background())
		if err == nil {
			err = errors.New("instance lock held elsewhere")
		}
		return nil, err
	}
	return conn, nil
}

// InstanceAlive reports whether instance id's lock is held, i.e. whether
// its gateway still runs (or, briefly, is reconnecting after losing the
// store: its calls are then closed as unknown by whoever looks first).
func (p *Postgres) InstanceAlive(id string) (bool, error) {
	key, ok := instanceKey(id)
	if !ok {
		return false, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := p.pool.Acquire(ctx)
	if err != nil {
		return false, fmt.Errorf("store: instance %s: %w", id, err)
	}
	defer conn.Release()
	var got bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, key).Scan(&got); err != nil {
		return false, fmt.Errorf("store: instance %s: %w", id, err)
	}
	if got {
		if _, err := conn.Exec(ctx, `SELECT pg_advisory_unlock($1)`, key); err != nil {
			// Never hand a pooled session holding the lock to someone else.
			conn.Hijack().Close(context.Background())
		}
		return false, nil
	}
	return true, nil
}

// ---- journal ----

// AppendJournal chains e to the journal's head and commits it: when it
// returns nil, e is durable and e.Seq, e.PrevHash and e.Hash are set.
// Concurrent appends of this process share a transaction (group commit);
// the advisory lock orders the transactions of every replica.
func (p *Postgres) AppendJournal(ctx context.Context, e *Entry) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("store: append journal: %w", err)
	}
	r := &appendReq{e: e, wake: make(chan bool, 1)}
	p.jmu.Lock()
	p.queue = append(p.queue, r)
	lead := !p.leading
	p.leading = true
	p.jmu.Unlock()
	if !lead {
		lead = <-r.wake
	}
	for lead {
		p.leadBatch()
		lead = <-r.wake
	}
	if r.err != nil {
		return 0, r.err
	}
	return e.Seq, nil
}

func (p *Postgres) leadBatch() {
	p.jmu.Lock()
	n := min(len(p.queue), maxBatch)
	batch := p.queue[:n:n]
	p.queue = p.queue[n:]
	p.jmu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), pgCommitTimeout)
	err := p.commitBatch(ctx, batch)
	cancel()

	p.jmu.Lock()
	for _, r := range batch {
		r.err = err
		r.wake <- false
	}
	if len(p.queue) > 0 {
		p.queue[0].wake <- true
	} else {
		p.leading = false
	}
	p.jmu.Unlock()
}

// The group commit's statements. The head is read in a statement after the
// lock's: under READ COMMITTED each statement takes its own snapshot when
// it starts, and statements of one pipeline run one after the other, so
// the head read sees every batch committed before the lock was granted.
// The INSERT takes the batch as arrays: one statement text for every
// batch size, prepared once per connection. pgJournalInsertAt inserts only
// if the head is still the one given (the fast path).
const (
	pgJournalLock   = `SELECT pg_advisory_xact_lock($1, $2)`
	pgJournalHead   = `SELECT seq, hash FROM journal ORDER BY seq DESC LIMIT 1`
	pgJournalInsert = `INSERT INTO journal (seq, call_id, type, time, data, prev_hash, hash)
SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::bytea[], $6::text[], $7::text[])`
	pgJournalInsertAt = pgJournalInsert + `
WHERE COALESCE((SELECT hash FROM journal ORDER BY seq DESC LIMIT 1), '` + GenesisHash + `') = $8`
)

// pgHeadMissBackoff is how many batches go the slow way after the fast
// way found another writer had moved the head.
const pgHeadMissBackoff = 8

type pgHead struct {
	known bool
	seq   int64
	hash  string
}

// chainBatch assigns seqs and hashes to batch after (seq, prev) and
// returns the INSERT's array arguments and the new head.
func chainBatch(batch []*appendReq, seq int64, prev string) ([]any, pgHead) {
	n := len(batch)
	seqs, calls, types, times := make([]int64, n), make([]string, n), make([]string, n), make([]string, n)
	datas, prevs, hashes := make([][]byte, n), make([]string, n), make([]string, n)
	for i, r := range batch {
		e := r.e
		seq++
		e.Seq, e.PrevHash, e.Time = seq, prev, e.Time.UTC()
		e.Hash = ChainHash(e)
		seqs[i], calls[i], types[i], times[i] = e.Seq, e.CallID, e.Type, e.Time.Format(timeLayout)
		datas[i], prevs[i], hashes[i] = e.Data, e.PrevHash, e.Hash
		prev = e.Hash
	}
	return []any{seqs, calls, types, times, datas, prevs, hashes}, pgHead{known: true, seq: seq, hash: prev}
}

// commitBatch appends batch in one transaction and returns once its
// COMMIT is acknowledged (durable).
//
// Fast way, one round trip, when this process knows the head it last
// wrote: BEGIN, the journal lock, an INSERT chained to that head that
// inserts nothing unless it is still the head, and COMMIT, pipelined. If
// another writer moved the head, nothing was written (an empty commit),
// and the batch goes the slow way, two round trips: BEGIN, the lock and
// the head read pipelined; then the INSERT and COMMIT. Either way the
// chain links to the head read under the lock, so writers in several
// processes cannot fork it.
func (p *Postgres) commitBatch(ctx context.Context, batch []*appendReq) (err error) {
	defer func() {
		if err != nil {
			for _, r := range batch {
				r.e.Seq, r.e.PrevHash, r.e.Hash = 0, "", ""
			}
			p.head = pgHead{}
			err = fmt.Errorf("store: append journal: %w", err)
		}
	}()
	conn, err := p.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer func() {
		// A transaction left open (an error mid-way) is rolled back
		// before the connection goes back to the pool; a connection that
		// cannot is dropped, which ends the transaction too.
		if conn.Conn().PgConn().TxStatus() != 'I' {
			rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if _, rerr := conn.Exec(rctx, `ROLLBACK`); rerr != nil {
				conn.Hijack().Close(rctx)
				cancel()
				return
			}
			cancel()
		}
		conn.Release()
	}()

	if p.head.known && p.slowRuns == 0 {
		args, head := chainBatch(batch, p.head.seq, p.head.hash)
		b := &pgx.Batch{}
		b.Queue(`BEGIN`)
		b.Queue(pgJournalLock, pgLockClass, pgLockJournal)
		b.Queue(pgJournalInsertAt, append(args, p.head.hash)...)
		b.Queue(`COMMIT`)
		inserted, err := sendCommit(conn.Conn().SendBatch(ctx, b), 2)
		switch {
		case err != nil:
			return err
		case inserted == int64(len(batch)):
			p.head = head
			return nil
		case inserted != 0:
			return fmt.Errorf("inserted %d of %d entries", inserted, len(batch)) // cannot happen
		}
		p.slowRuns = pgHeadMissBackoff
	} else if p.slowRuns > 0 {
		p.slowRuns--
	}

	b := &pgx.Batch{}
	b.Queue(`BEGIN`)
	b.Queue(pgJournalLock, pgLockClass, pgLockJournal)
	b.Queue(pgJournalHead)
	br := conn.SendBatch(ctx, b)
	var (
		seq  int64
		prev string
	)
	for range 2 {
		if _, err := br.Exec(); err != nil {
			br.Close()
			return err
		}
	}
	err = br.QueryRow().Scan(&seq, &prev)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		seq, prev = 0, GenesisHash
	case err != nil:
		br.Close()
		return err
	}
	if err := br.Close(); err != nil {
		return err
	}
	args, head := chainBatch(batch, seq, prev)
	b = &pgx.Batch{}
	b.Queue(pgJournalInsert, args...)
	b.Queue(`COMMIT`)
	if _, err := sendCommit(conn.SendBatch(ctx, b), 0); err != nil {
		return err
	}
	p.head = head
	return nil
}

// sendCommit reads the results of a pipeline that ends with an INSERT and
// COMMIT, after skip statements, and returns how many rows the INSERT
// inserted once the COMMIT is acknowledged.
func sendCommit(br pgx.BatchResults, skip int) (int64, error) {
	for range skip {
		if _, err := br.Exec(); err != nil {
			br.Close()
			return 0, err
		}
	}
	tag, err := br.Exec()
	if err != nil {
		br.Close() // the pipeline skips the COMMIT after an error
		return 0, err
	}
	// A COMMIT of a failed transaction answers ROLLBACK, not an error.
	ctag, err := br.Exec()
	if err == nil && ctag.String() != "COMMIT" {
		err = fmt.Errorf("commit answered %q", ctag.String())
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

func (p *Postgres) queryEntries(ctx context.Context, q string, args ...any) ([]Entry, error) {
	rows, err := p.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: read journal: %w", err)
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		var e Entry
		var ts string
		if err := rows.Scan(&e.Seq, &e.CallID, &e.Type, &ts, &e.Data, &e.PrevHash, &e.Hash); err != nil {
			return nil, fmt.Errorf("store: read journal: %w", err)
		}
		e.Time, _ = time.Parse(time.RFC3339Nano, ts)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: read journal: %w", err)
	}
	return out, nil
}

// JournalAfter returns up to limit entries with seq > after, in order.
func (p *Postgres) JournalAfter(ctx context.Context, after int64, limit int) ([]Entry, error) {
	return p.queryEntries(ctx, `SELECT `+entryColumns+` FROM journal WHERE seq > $1 ORDER BY seq LIMIT $2`, after, limit)
}

// JournalCall returns the entries of one call, in order.
func (p *Postgres) JournalCall(ctx context.Context, callID string) ([]Entry, error) {
	return p.queryEntries(ctx, `SELECT `+entryColumns+` FROM journal WHERE call_id = $1 ORDER BY seq`, callID)
}

// JournalHead returns the last entry, or a zero Entry when empty.
func (p *Postgres) JournalHead(ctx context.Context) (Entry, error) {
	es, err := p.queryEntries(ctx, `SELECT `+entryColumns+` FROM journal ORDER BY seq DESC LIMIT 1`)
	if err != nil || len(es) == 0 {
		return Entry{}, err
	}
	return es[0], nil
}

// JournalLastSeq returns the highest sequence number, 0 when empty.
func (p *Postgres) JournalLastSeq(ctx context.Context) (int64, error) {
	var seq *int64
	if err := p.pool.QueryRow(ctx, `SELECT max(seq) FROM journal`).Scan(&seq); err != nil {
		return 0, fmt.Errorf("store: read journal: %w", err)
	}
	if seq == nil {
		return 0, nil
	}
	return *seq, nil
}

// JournalSpan returns the lowest seq and the number of entries with
// seq <= through (see SQLite.JournalSpan).
func (p *Postgres) JournalSpan(ctx context.Context, through int64) (first, count int64, err error) {
	var f *int64
	if err := p.pool.QueryRow(ctx, `SELECT min(seq), count(*) FROM journal WHERE seq <= $1`, through).Scan(&f, &count); err != nil {
		return 0, 0, fmt.Errorf("store: read journal: %w", err)
	}
	if f != nil {
		first = *f
	}
	return first, count, nil
}

// JournalOpenCalls returns the "started" entries with seq >= from whose
// call has no "finished" entry.
func (p *Postgres) JournalOpenCalls(ctx context.Context, from int64) ([]Entry, error) {
	return p.queryEntries(ctx, `SELECT `+entryColumns+` FROM journal s
WHERE s.seq >= $1 AND s.type = 'started'
  AND NOT EXISTS (SELECT 1 FROM journal f WHERE f.call_id = s.call_id AND f.type = 'finished')
ORDER BY s.seq`, from)
}

// JournalPrune deletes every entry with seq < before, provided the entry
// at before still has hash anchorHash (see SQLite.JournalPrune).
func (p *Postgres) JournalPrune(ctx context.Context, before int64, anchorHash string) (int64, error) {
	var n int64
	err := pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		var h string
		if err := tx.QueryRow(ctx, `SELECT hash FROM journal WHERE seq = $1`, before).Scan(&h); err != nil || h != anchorHash {
			return fmt.Errorf("%w (seq %d)", ErrPruneAnchor, before)
		}
		tag, err := tx.Exec(ctx, `DELETE FROM journal WHERE seq < $1`, before)
		if err != nil {
			return fmt.Errorf("store: prune journal: %w", err)
		}
		n = tag.RowsAffected()
		return nil
	})
	if err != nil {
		if !errors.Is(err, ErrPruneAnchor) && !strings.HasPrefix(err.Error(), "store:") {
			err = fmt.Errorf("store: prune journal: %w", err)
		}
		return 0, err
	}
	return n, nil
}

// AddJournalCheckpoint stores a signed checkpoint.
func (p *Postgres) AddJournalCheckpoint(ctx context.Context, c Checkpoint) error {
	if _, err := p.pool.Exec(ctx, `INSERT INTO journal_checkpoints(seq, time, data) VALUES ($1, $2, $3)`,
		c.Seq, c.Time.UTC().Format(timeLayout), c.Data); err != nil {
		return fmt.Errorf("store: add checkpoint: %w", err)
	}
	return nil
}

// JournalCheckpoints returns the stored checkpoints, oldest first.
func (p *Postgres) JournalCheckpoints(ctx context.Context) ([]Checkpoint, error) {
	rows, err := p.pool.Query(ctx, `SELECT seq, time, data FROM journal_checkpoints ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("store: read checkpoints: %w", err)
	}
	defer rows.Close()
	var out []Checkpoint
	for rows.Next() {
		var c Checkpoint
		var ts string
		if err := rows.Scan(&c.Seq, &ts, &c.Data); err != nil {
			return nil, fmt.Errorf("store: read checkpoints: %w", err)
		}
		c.Time, _ = time.Parse(time.RFC3339Nano, ts)
		out = append(out, c)
	}
	return out, rows.Err()
}

// JournalMeta returns a bookkeeping value ("" when unset).
func (p *Postgres) JournalMeta(ctx context.Context, key string) (string, error) {
	var v string
	err := p.pool.QueryRow(ctx, `SELECT value FROM journal_meta WHERE key = $1`, key).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("store: read journal meta: %w", err)
	}
	return v, nil
}

// SetJournalMeta sets a bookkeeping value.
func (p *Postgres) SetJournalMeta(ctx context.Context, key, value string) error {
	if _, err := p.pool.Exec(ctx, `INSERT INTO journal_meta(key, value) VALUES ($1, $2)
ON CONFLICT(key) DO UPDATE SET value = excluded.value`, key, value); err != nil {
		return fmt.Errorf("store: write journal meta: %w", err)
	}
	return nil
}

// LockRecovery takes the store-wide lock under which a replica closes the
// calls dead replicas left open, so no call is closed twice.
func (p *Postgres) LockRecovery(ctx context.Context) (func(), error) {
	conn, err := p.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: recovery lock: %w", err)
	}
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1, $2)`, pgLockClass, pgLockRecovery); err != nil {
		conn.Release()
		return nil, fmt.Errorf("store: recovery lock: %w", err)
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := conn.Exec(ctx, `SELECT pg_advisory_unlock($1, $2)`, pgLockClass, pgLockRecovery); err != nil {
			conn.Hijack().Close(context.Background()) // never pool a session holding the lock
			return
		}
		conn.Release()
	}, nil
}
