package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"time"
	"weak"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Entry is one journal entry as stored: an opaque JSON document plus the
// columns needed to find it and to chain it. Seq, PrevHash and Hash are
// assigned by the store when the entry is appended.
type Entry struct {
	Seq      int64
	CallID   string
	Type     string
	Time     time.Time
	Data     []byte
	PrevHash string // hex SHA-256 of the entry before, GenesisHash for seq 1
	Hash     string // hex SHA-256 of this entry (ChainHash)
}

// journalSchema: seq is a plain INTEGER PRIMARY KEY. The store assigns
// every seq itself (head + 1, inside the write transaction), so
// AUTOINCREMENT added nothing but a sqlite_sequence page written and
// fsynced with every commit; journals created before keep it, harmlessly.
const journalSchema = `
CREATE TABLE IF NOT EXISTS journal (
	seq       INTEGER PRIMARY KEY,
	call_id   TEXT NOT NULL,
	type      TEXT NOT NULL,
	time      TEXT NOT NULL,
	data      BLOB NOT NULL,
	prev_hash TEXT NOT NULL DEFAULT '',
	hash      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS journal_call_id ON journal(call_id);
CREATE TABLE IF NOT EXISTS journal_checkpoints (
	id   INTEGER PRIMARY KEY AUTOINCREMENT,
	seq  INTEGER NOT NULL,
	time TEXT NOT NULL,
	data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS journal_meta (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
);`

// timeLayout is fixed-width so the time column sorts as text.
const timeLayout = "2006-01-02T15:04:05.000000000Z"

// maxBatch bounds one group-commit transaction; lingerMax bounds how long
// a leader waits for more entries to join.
const (
	maxBatch  = 2048
	lingerMax = 200 * time.Microsecond
)

// ErrJournalBroken is returned by AppendJournal after the storage reported
// an I/O error: what is on disk can no longer be trusted to match what was
// acknowledged, so the journal refuses writes until the process restarts.
var ErrJournalBroken = errors.New("store: journal disabled after an I/O error; restart the gateway once the storage is healthy")

// journalState is the per-store group-commit queue. It is kept outside the
// SQLite struct, keyed by a weak pointer, and removed when the store is
// garbage collected.
type journalState struct {
	mu      sync.Mutex
	queue   []*appendReq
	leading bool
	broken  error

	readyMu sync.Mutex
	ready   bool

	// Statements prepared once (compiling them cost ~15 % of a batch's
	// CPU): the head lookup, and the multi-row INSERT for each chunk size,
	// prepared on first use. Only the batch leader uses them, one leader
	// at a time.
	head    *sql.Stmt
	inserts [insertChunk + 1]*sql.Stmt

	// walFrames estimates the WAL frames written since the journal last
	// checkpointed (the leader's, one at a time; see checkpointDue).
	walFrames int
}

// closeStmts releases the prepared statements; the store is closing.
func (js *journalState) closeStmts() {
	js.readyMu.Lock()
	defer js.readyMu.Unlock()
	js.ready = false
	if js.head != nil {
		js.head.Close()
		js.head = nil
	}
	for i, st := range js.inserts {
		if st != nil {
			st.Close()
			js.inserts[i] = nil
		}
	}
}

type appendReq struct {
	e    *Entry
	err  error
	wake chan bool // false: committed (see err); true: lead the next batch
}

var journalStates sync.Map // weak.Pointer[SQLite] → *journalState

func (s *SQLite) journal(ctx context.Context) (*journalState, error) {
	key := weak.Make(s)
	v, ok := journalStates.Load(key)
	if !ok {
		var loaded bool
		v, loaded = journalStates.LoadOrStore(key, &journalState{})
		if !loaded {
			runtime.AddCleanup(s, func(k weak.Pointer[SQLite]) { journalStates.Delete(k) }, key)
		}
	}
	js := v.(*journalState)
	js.readyMu.Lock()
	defer js.readyMu.Unlock()
	if !js.ready {
		if err := s.upgradeJournal(ctx); err != nil {
			return nil, err
		}
		head, err := s.db.PrepareContext(ctx, `SELECT seq, hash FROM journal ORDER BY seq DESC LIMIT 1`)
		if err != nil {
			return nil, fmt.Errorf("store: prepare journal: %w", err)
		}
		js.head = head
		js.ready = true
	}
	return js, nil
}

// upgradeJournal brings a journal written before the hash chain existed up
// to date: it adds the chain columns and chains the existing rows, in one
// transaction. Rows chained this way are only as trustworthy as the file
// was at upgrade time.
func (s *SQLite) upgradeJournal(ctx context.Context) error {
	rows, err := s.db.QueryContext(ctx, `SELECT name FROM pragma_table_info('journal')`)
	if err != nil {
		return fmt.Errorf("store: journal schema: %w", err)
	}
	cols := map[string]bool{}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return fmt.Errorf("store: journal schema: %w", err)
		}
		cols[n] = true
	}
	rows.Close()
	if cols["hash"] && cols["prev_hash"] {
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: upgrade journal: %w", err)
	}
	defer tx.Rollback()
	for _, stmt := range []string{
		`ALTER TABLE journal ADD COLUMN prev_hash TEXT NOT NULL DEFAULT ''`,
		`ALTER TABLE journal ADD COLUMN hash TEXT NOT NULL DEFAULT ''`,
	} {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("store: upgrade journal: %w", err)
		}
	}
	entries, err := scanEntries(tx.QueryContext(ctx, `SELECT seq, call_id, type, time, data, prev_hash, hash FROM journal ORDER BY seq`))
	if err != nil {
		return fmt.Errorf("store: upgrade journal: %w", err)
	}
	prev := GenesisHash
	for i := range entries {
		e := &entries[i]
		e.PrevHash = prev
		e.Hash = ChainHash(e)
		if _, err := tx.ExecContext(ctx, `UPDATE journal SET prev_hash = ?, hash = ?, time = ? WHERE seq = ?`,
			e.PrevHash, e.Hash, e.Time.UTC().Format(timeLayout), e.Seq); err != nil {
			return fmt.Errorf("store: upgrade journal: %w", err)
		}
		prev = e.Hash
	}
	return tx.Commit()
}

// AppendJournal chains e to the journal's head and writes it durably: when
// it returns nil, e is fsynced (WAL, synchronous=FULL) and e.Seq, e.PrevHash
// and e.Hash are set.
//
// Concurrent appends share a transaction and its fsync (group commit): the
// first caller leads, later callers queue; when the leader's commit is done
// it wakes its batch and hands the lead to the first caller queued behind
// it. Seq and hash are assigned inside the write transaction, after reading
// the head under SQLite's write lock, so neither goroutines nor several
// processes sharing the file can fork the chain.
func (s *SQLite) AppendJournal(ctx context.Context, e *Entry) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("store: append journal: %w", err)
	}
	js, err := s.journal(ctx)
	if err != nil {
		return 0, err
	}
	r := &appendReq{e: e, wake: make(chan bool, 1)}
	js.mu.Lock()
	if js.broken != nil {
		js.mu.Unlock()
		return 0, js.broken
	}
	js.queue = append(js.queue, r)
	lead := !js.leading
	js.leading = true
	js.mu.Unlock()
	// Once queued, wait for the outcome whatever ctx says: the entry may
	// already be in a transaction. A caller woken to lead commits a batch
	// (normally holding its own entry) and then waits for its own outcome.
	if !lead {
		lead = <-r.wake
	}
	for lead {
		s.leadBatch(js)
		lead = <-r.wake
	}
	if r.err != nil {
		return 0, r.err
	}
	return e.Seq, nil
}

// leadBatch commits what is queued (up to maxBatch), wakes those callers,
// then passes the lead on or gives it up.
func (s *SQLite) leadBatch(js *journalState) {
	// Linger while the queue still grows: callers the last commit just
	// woke are often about to append again, and letting them join costs
	// microseconds where another commit costs a millisecond. Without this,
	// writers settle into two alternating half-size batches.
	js.mu.Lock()
	n := len(js.queue)
	js.mu.Unlock()
	for deadline := time.Now().Add(lingerMax); n < maxBatch && time.Now().Before(deadline); {
		runtime.Gosched()
		js.mu.Lock()
		m := len(js.queue)
		js.mu.Unlock()
		if m == n {
			break
		}
		n = m
	}

	js.mu.Lock()
	n = min(len(js.queue), maxBatch)
	batch := js.queue[:n:n]
	js.queue = js.queue[n:]
	broken := js.broken
	js.mu.Unlock()

	err := broken
	if err == nil {
		err = s.commitBatch(context.Background(), js, batch)
		if err != nil && ioFailure(err) {
			err = fmt.Errorf("%w: %w", ErrJournalBroken, err)
		}
	}

	js.mu.Lock()
	if errors.Is(err, ErrJournalBroken) && js.broken == nil {
		js.broken = err
	}
	for _, r := range batch {
		r.err = err
		r.wake <- false
	}
	if err == nil && js.checkpointDue(len(batch)) {
		// The batch is answered; checkpoint before the next one, keeping
		// the lead (see sqlite_wal.go).
		js.mu.Unlock()
		go s.checkpointThenPass(js)
		return
	}
	js.passLead()
	js.mu.Unlock()
}

// passLead hands the lead to the first caller queued, or gives it up.
// js.mu is held.
func (js *journalState) passLead() {
	if len(js.queue) > 0 {
		js.queue[0].wake <- true
	} else {
		js.leading = false
	}
}

func (s *SQLite) commitBatch(ctx context.Context, js *journalState, batch []*appendReq) (err error) {
	defer func() {
		if err != nil {
			for _, r := range batch {
				r.e.Seq, r.e.PrevHash, r.e.Hash = 0, "", ""
			}
			err = fmt.Errorf("store: append journal: %w", err)
		}
	}()
	// Prepare the INSERTs this batch needs before the transaction takes
	// the store's one connection.
	for _, n := range []int{min(len(batch), insertChunk), len(batch) % insertChunk} {
		if n > 0 && js.inserts[n] == nil {
			if js.inserts[n], err = s.db.PrepareContext(ctx, insertSQL(n)); err != nil {
				return err
			}
		}
	}
	tx, err := s.db.BeginTx(ctx, nil) // BEGIN IMMEDIATE: takes the write lock now
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var (
		seq  int64
		prev string
	)
	err = tx.StmtContext(ctx, js.head).QueryRowContext(ctx).Scan(&seq, &prev)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		seq, prev = 0, GenesisHash
	case err != nil:
		return err
	}
	// Multi-row INSERTs: one statement per insertChunk entries keeps the
	// leader's CPU time, which every caller in the batch waits for, low.
	args := make([]any, 0, 7*min(len(batch), insertChunk))
	for i := 0; i < len(batch); i += insertChunk {
		chunk := batch[i:min(len(batch), i+insertChunk)]
		args = args[:0]
		for _, r := range chunk {
			e := r.e
			seq++
			e.Seq, e.PrevHash, e.Time = seq, prev, e.Time.UTC()
			e.Hash = ChainHash(e)
			args = append(args, e.Seq, e.CallID, e.Type, e.Time.Format(timeLayout), e.Data, e.PrevHash, e.Hash)
			prev = e.Hash
		}
		if _, err := tx.StmtContext(ctx, js.inserts[len(chunk)]).ExecContext(ctx, args...); err != nil {
			return err
		}
	}
	return tx.Commit()
}

const insertChunk = 64

var insertSQLs [insertChunk + 1]string

func init() {
	for n := 1; n <= insertChunk; n++ {
		insertSQLs[n] = "INSERT INTO journal(seq, call_id, type, time, data, prev_hash, hash) VALUES " +
			strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?, ?, ?),", n), ",")
	}
}

func insertSQL(n int) string { return insertSQLs[n] }

// ioFailure reports whether err is SQLite saying the storage failed (as
// opposed to busy, full or a constraint).
func ioFailure(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB:
		return true
	}
	return false
}

const entryColumns = `seq, call_id, type, time, data, prev_hash, hash`

func scanEntries(rows *sql.Rows, err error) ([]Entry, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		var e Entry
		var ts string
		if err := rows.Scan(&e.Seq, &e.CallID, &e.Type, &ts, &e.Data, &e.PrevHash, &e.Hash); err != nil {
			return nil, err
		}
		// An unparsable time stays zero; the chain hash then exposes it.
		e.Time, _ = time.Parse(time.RFC3339Nano, ts)
		out = append(out, e)
	}
	return out, rows.Err()
}

func (s *SQLite) queryEntries(ctx context.Context, q string, args ...any) ([]Entry, error) {
	if _, err := s.journal(ctx); err != nil {
		return nil, err
	}
	out, err := scanEntries(s.read(ctx, q, args...))
	if err != nil {
		return nil, fmt.Errorf("store: read journal: %w", err)
	}
	return out, nil
}

// JournalAfter returns up to limit entries with seq > after, in order.
func (s *SQLite) JournalAfter(ctx context.Context, after int64, limit int) ([]Entry, error) {
	return s.queryEntries(ctx, `SELECT `+entryColumns+` FROM journal WHERE seq > ? ORDER BY seq LIMIT ?`, after, limit)
}

// JournalCall returns the entries of one call, in order.
func (s *SQLite) JournalCall(ctx context.Context, callID string) ([]Entry, error) {
	return s.queryEntries(ctx, `SELECT `+entryColumns+` FROM journal WHERE call_id = ? ORDER BY seq`, callID)
}

// JournalHead returns the last entry, or a zero Entry when the journal is
// empty.
func (s *SQLite) JournalHead(ctx context.Context) (Entry, error) {
	es, err := s.queryEntries(ctx, `SELECT `+entryColumns+` FROM journal ORDER BY seq DESC LIMIT 1`)
	if err != nil || len(es) == 0 {
		return Entry{}, err
	}
	return es[0], nil
}

// JournalLastSeq returns the highest sequence number, 0 when empty.
func (s *SQLite) JournalLastSeq(ctx context.Context) (int64, error) {
	if _, err := s.journal(ctx); err != nil {
		return 0, err
	}
	var seq sql.NullInt64
	if err := s.readRow(ctx, `SELECT max(seq) FROM journal`).Scan(&seq); err != nil {
		return 0, fmt.Errorf("store: read journal: %w", err)
	}
	return seq.Int64, nil
}

// JournalSpan returns the lowest seq and the number of entries with
// seq <= through (0, 0 when there are none): with seqs assigned without
// gaps, a count below through-first+1 means entries were deleted. It reads
// the seq index only, not the records.
func (s *SQLite) JournalSpan(ctx context.Context, through int64) (first, count int64, err error) {
	if _, err := s.journal(ctx); err != nil {
		return 0, 0, err
	}
	var f sql.NullInt64
	if err := s.readRow(ctx, `SELECT min(seq), count(*) FROM journal WHERE seq <= ?`, through).Scan(&f, &count); err != nil {
		return 0, 0, fmt.Errorf("store: read journal: %w", err)
	}
	return f.Int64, count, nil
}

// JournalOpenCalls returns the "started" entries with seq >= from whose
// call has no "finished" entry.
func (s *SQLite) JournalOpenCalls(ctx context.Context, from int64) ([]Entry, error) {
	return s.queryEntries(ctx, `SELECT `+entryColumns+` FROM journal s
WHERE s.seq >= ? AND s.type = 'started'
  AND NOT EXISTS (SELECT 1 FROM journal f WHERE f.call_id = s.call_id AND f.type = 'finished')
ORDER BY s.seq`, from)
}

// ErrPruneAnchor is returned by JournalPrune when the entry it should keep
// as the new first entry is not the one the caller vouched for.
var ErrPruneAnchor = errors.New("store: prune anchor does not match the journal")

// JournalPrune deletes every entry with seq < before, in one transaction,
// provided the entry at before still has hash anchorHash (the caller's
// signed checkpoint). It returns how many entries it deleted.
func (s *SQLite) JournalPrune(ctx context.Context, before int64, anchorHash string) (int64, error) {
	if _, err := s.journal(ctx); err != nil {
		return 0, err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("store: prune journal: %w", err)
	}
	defer tx.Rollback()
	var h string
	if err := tx.QueryRowContext(ctx, `SELECT hash FROM journal WHERE seq = ?`, before).Scan(&h); err != nil || h != anchorHash {
		return 0, fmt.Errorf("%w (seq %d)", ErrPruneAnchor, before)
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM journal WHERE seq < ?`, before)
	if err != nil {
		return 0, fmt.Errorf("store: prune journal: %w", err)
	}
	n, _ := res.RowsAffected()
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("store: prune journal: %w", err)
	}
	return n, nil
}

// Checkpoint is a stored checkpoint: the signed document (opaque here) and
// the sequence number it covers.
type Checkpoint struct {
	Seq  int64
	Time time.Time
	Data string
}

// AddJournalCheckpoint stores a signed checkpoint.
func (s *SQLite) AddJournalCheckpoint(ctx context.Context, c Checkpoint) error {
	if _, err := s.journal(ctx); err != nil {
		return err
	}
	if _, err := s.db.ExecContext(ctx, `INSERT INTO journal_checkpoints(seq, time, data) VALUES (?, ?, ?)`,
		c.Seq, c.Time.UTC().Format(timeLayout), c.Data); err != nil {
		return fmt.Errorf("store: add checkpoint: %w", err)
	}
	return nil
}

// JournalCheckpoints returns the stored checkpoints, oldest first.
func (s *SQLite) JournalCheckpoints(ctx context.Context) ([]Checkpoint, error) {
	if _, err := s.journal(ctx); err != nil {
		return nil, err
	}
	rows, err := s.read(ctx, `SELECT seq, time, data FROM journal_checkpoints ORDER BY id`)
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
func (s *SQLite) JournalMeta(ctx context.Context, key string) (string, error) {
	if _, err := s.journal(ctx); err != nil {
		return "", err
	}
	var v string
	err := s.readRow(ctx, `SELECT value FROM journal_meta WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("store: read journal meta: %w", err)
	}
	return v, nil
}

// SetJournalMeta sets a bookkeeping value.
func (s *SQLite) SetJournalMeta(ctx context.Context, key, value string) error {
	if _, err := s.journal(ctx); err != nil {
		return err
	}
	if _, err := s.db.ExecContext(ctx, `INSERT INTO journal_meta(key, value) VALUES (?, ?)
ON CONFLICT(key) DO UPDATE SET value = excluded.value`, key, value); err != nil {
		return fmt.Errorf("store: write journal meta: %w", err)
	}
	return nil
}
