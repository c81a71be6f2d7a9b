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
//   - Checkpoints stay where SQLite puts them, on the writer after the
//     commit that passes 1000 WAL pages: a checkpoint that lets the next
//     commit restart the WAL needs no commit made while it ran, and a
//     PASSIVE one in the background, on a connection of its own, seldom
//     gets that under steady appends. Measured: no WAL restart in 3000
//     back-to-back appends, the WAL grown to 30 MB, every commit paying
//     the growth (walfs-perf.md).
//
// None of this changes what an acknowledged append means: a commit
// returns after its frames, commit frame included, are fdatasynced to the
// WAL (synchronous=FULL), whether the WAL file is new or reused; a
// checkpoint syncs the database file before SQLite lets a later commit
// overwrite the frames it copied.

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
