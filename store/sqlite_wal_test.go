package store

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"modernc.org/sqlite"
)

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// The WAL outlives a clean close at its full size (a later commit
// overwrites its blocks instead of growing a new file), and a reopened
// store continues the same chain from it.
func TestWALPersistsAcrossReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "airlock.db")
	var walSize int64
	for round := range 3 {
		st, err := OpenSQLite(ctx, "sqlite:"+path)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 50 {
			if _, err := st.AppendJournal(ctx, entry(round*100+i)); err != nil {
				t.Fatal(err)
			}
		}
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
		n := fileSize(t, path+"-wal")
		if n == 0 || n < walSize {
			t.Fatalf("round %d: WAL is %d bytes after close (was %d)", round, n, walSize)
		}
		walSize = n
	}
	st := openDSN(t, "sqlite:"+path)
	if es := checkChain(t, st); len(es) != 150 {
		t.Fatalf("%d entries, want 150", len(es))
	}
}

// The journal checkpoints on its own after ~journalCheckpointFrames WAL
// frames, far below the writer's automatic checkpoint (walBackstopPages),
// so only the journal's checkpoint can have grown the database file. The
// append after it waits for the checkpoint (which holds the lead), so the
// file is measured after it.
func TestJournalCheckpointsAfterAnswering(t *testing.T) {
	ctx := context.Background()
	st := openTemp(t)
	before := fileSize(t, st.path)
	n := journalCheckpointFrames/2 + 1 // a lone commit: 2 frames
	for i := range n + 1 {
		if _, err := st.AppendJournal(ctx, entry(i)); err != nil {
			t.Fatal(err)
		}
	}
	if after := fileSize(t, st.path); after <= before {
		t.Fatalf("database file %d bytes after %d commits, %d before: not checkpointed", after, n+1, before)
	}
	if es := checkChain(t, st); len(es) != n+1 {
		t.Fatalf("%d entries", len(es))
	}
}

// Opening a store switches SQLite's commits to fdatasync where the library
// can (Linux, the BSDs, illumos).
func TestCommitsUseFdatasync(t *testing.T) {
	openTemp(t)
	if runtime.GOOS == "linux" && !sqlite.FdatasyncEnabled() {
		t.Fatal("SQLite still syncs with fsync")
	}
}
