package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"net/url"
	"sync"

	"modernc.org/sqlite"
)

// How the SQLite store keeps its WAL cheap to commit to (issue 12; the
// measurements are in walfs-perf.md):
//
//   - A commit's sync is fdatasync, not fsync (sqlite.Fdatasync). Both
//     write the data and the metadata needed to read it back, the file's
//     size included; fdatasync skips the timestamps. C SQLite builds on
//     Linux sync this way; the transpiled library defaults to fsync.
//   - The WAL is persistent (SQLITE_FCNTL_PERSIST_WAL) and never
//     truncated: a commit overwrites blocks the WAL file already has, so
//     its sync carries no size or extent change. Without it the WAL is
//     deleted when the last connection closes, and every process start
//     grows a new one, one commit at a time.
//   - The journal checkpoints after it has answered the commit, not inside
//     it: SQLite's automatic checkpoint runs in the COMMIT of the
//     transaction that passes 1000 WAL pages, so one append in ~400 waited
//     ~10 ms for it (pages copied into the database file, two more
//     syncs). Now the leader wakes its batch first, then runs a PASSIVE
//     checkpoint on the writer connection while still holding the lead;
//     appends arriving meanwhile queue and commit together after it. A lone
//     call's next record (its "finished" after the tool ran, or the next
//     call) usually arrives after the checkpoint is done. It runs on the
//     writer, not on a connection of its own in the background: a
//     checkpoint lets the next commit restart (overwrite) the WAL only if
//     no commit was made while it ran; measured with a background PASSIVE
//     checkpointer, 3000 back-to-back appends never restarted the WAL, which
//     grew to 30 MB, every commit paying for the growth. SQLite's automatic
//     checkpoint stays, at walBackstopPages, for writes other than the
//     journal's (grants, approvals, pins) and for WALs grown by another
//     process.
//
// None of this changes what an acknowledged append means: a commit
// returns after its frames, commit frame included, are fdatasynced to the
// WAL (synchronous=FULL), whether the WAL file is new or reused; a
// checkpoint syncs the database file before SQLite lets a later commit
// overwrite the frames it copied.

// walBackstopPages is the writer's automatic checkpoint (SQLite's default
// is 1000 pages); journalCheckpointFrames is when the journal checkpoints
// on its own, in estimated WAL frames (pages).
const (
	walBackstopPages        = 4000
	journalCheckpointFrames = 1000
)

// checkpointDue counts the WAL frames a batch of n records wrote and
// reports whether the journal should checkpoint now. The estimate: a commit
// rewrites the journal table's last leaf page and the call_id index's leaf
// it touched, plus a new leaf every few records (~5 fill a 4 KiB leaf;
// n/4 errs towards checkpointing early). js.mu is held.
func (js *journalState) checkpointDue(n int) bool {
	js.walFrames += 2 + n/4
	if js.walFrames < journalCheckpointFrames {
		return false
	}
	js.walFrames = 0
	return true
}

// checkpointThenPass runs a PASSIVE checkpoint on the writer connection and
// then passes the lead on. An error is left to the next commit (an I/O
// error reaches it) and to SQLite's automatic checkpoint.
func (s *SQLite) checkpointThenPass(js *journalState) {
	s.db.ExecContext(context.Background(), `PRAGMA wal_checkpoint(PASSIVE)`)
	js.mu.Lock()
	js.passLead()
	js.mu.Unlock()
}

var fdatasyncOnce sync.Once

// useFdatasync switches this process's SQLite commits to fdatasync, once.
// Where the library cannot (macOS, Windows) SQLite keeps its own sync.
func useFdatasync() {
	fdatasyncOnce.Do(func() { sqlite.Fdatasync(true) })
}

// persistWAL opens connections with SQLITE_FCNTL_PERSIST_WAL set, so the
// WAL file outlives the last connection at its full size.
type persistWAL struct{ driver.Connector }

func (c persistWAL) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	if fc, ok := conn.(sqlite.FileControl); ok {
		if _, err := fc.FileControlPersistWAL("main", 1); err != nil {
			conn.Close()
			return nil, err
		}
	}
	return conn, nil
}

// openSQLiteDB opens path with the given pragmas (and query parameters),
// through persistWAL unless the database is in memory (it has no WAL).
func openSQLiteDB(path string, q url.Values) (*sql.DB, error) {
	c, err := sqlite.NewConnector("file:" + path + "?" + q.Encode())
	if err != nil {
		return nil, err
	}
	if inMemory(path) {
		return sql.OpenDB(c), nil
	}
	return sql.OpenDB(persistWAL{c}), nil
}
