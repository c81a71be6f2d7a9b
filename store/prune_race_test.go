package store_test

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/airlockhq/airlock/internal/pgtest"
	"github.com/airlockhq/airlock/recorder"
	"github.com/airlockhq/airlock/store"
)

var pruneT0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

func pruneKey() ed25519.PrivateKey { return ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)) }

// sqliteDSN is a fresh SQLite store's DSN and file.
func sqliteDSN(t *testing.T) (dsn, path string) {
	path = filepath.Join(t.TempDir(), "airlock.db")
	return "sqlite:" + path, path
}

// pruneFixture is a journal of n plain records at dsn with a signed
// checkpoint at seq anchor (time pruneT0), and a second handle on the same
// store, as `airlock journal verify` in another process would open it.
func pruneFixture(t *testing.T, dsn string, n, anchor int) (st, other store.Store) {
	t.Helper()
	ctx := context.Background()
	open := func() store.Store {
		s, err := store.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	st, other = open(), open()
	appendN(t, st, 1, anchor)
	if _, err := recorder.MakeCheckpoint(ctx, st, pruneKey(), pruneT0); err != nil {
		t.Fatal(err)
	}
	appendN(t, st, anchor+1, n)
	return st, other
}

// appendN appends the records from..to, from 16 goroutines (they share
// group commits: seconds instead of one fsync each).
func appendN(t *testing.T, st store.Store, from, to int) {
	t.Helper()
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := from + w; i <= to; i += 16 {
				e := &store.Entry{CallID: fmt.Sprintf("call-%d", i), Type: recorder.Started, Time: pruneT0,
					Data: fmt.Appendf(nil, `{"call_id":"call-%d","type":"started","tool":"t"}`, i)}
				if _, err := st.AppendJournal(context.Background(), e); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
}

// pageHook is a recorder.Reader that runs hook once, after the first page
// it returned and before the next read: a deterministic point inside a
// verification's walk.
type pageHook struct {
	r     recorder.Reader
	reads int
	hook  func()
}

func (p *pageHook) JournalAfter(ctx context.Context, after int64, limit int) ([]store.Entry, error) {
	p.reads++
	if p.reads == 2 && p.hook != nil {
		p.hook()
	}
	return p.r.JournalAfter(ctx, after, limit)
}

func storedCheckpoints(t *testing.T, st store.Store) []*recorder.Checkpoint {
	t.Helper()
	cps, err := recorder.StoredCheckpoints(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	return cps
}

// Retention pruning past the point a verification has read to, while it
// reads page by page (from another handle, as `airlock journal verify`
// does beside a running gateway), is not a deletion: verification must not
// report records missing. A false break here latches the gateway's
// integrity failure and stops checkpoint signing until an operator acts.
func TestVerifyDuringPruneNoFalseBreak(t *testing.T) {
	ctx := context.Background()
	dsn, _ := sqliteDSN(t)
	st, other := pruneFixture(t, dsn, 2500, 1500)
	key := pruneKey()
	pub := key.Public().(ed25519.PublicKey)
	cps := storedCheckpoints(t, other)
	var pruned int64
	r := &pageHook{r: other, hook: func() {
		n, err := recorder.Prune(ctx, st, recorder.New(st), key, time.Hour, pruneT0.Add(2*time.Hour))
		if err != nil || n != 1499 {
			t.Errorf("prune: %d %v", n, err)
		}
		pruned = n
	}}
	rep, err := recorder.Verify(ctx, r, recorder.VerifyOptions{Checkpoints: cps, Key: pub})
	if err != nil {
		t.Fatal(err)
	}
	if pruned == 0 {
		t.Fatal("set-up: the prune did not run inside the walk")
	}
	if !rep.OK() {
		t.Fatalf("verification racing a retention prune reported a break: %v", rep.Findings)
	}
	// Verified again afterwards, at rest: the same verdict.
	if rep, err := recorder.Verify(ctx, other, recorder.VerifyOptions{Checkpoints: cps, Key: pub}); err != nil || !rep.OK() {
		t.Fatalf("after the prune: %+v %v", rep, err)
	}
}

// And the other way: real deletions made during a walk are still found —
// in the middle of the chain, and at its start past the walk's position
// with nothing anchoring the new first record.
func TestVerifyDuringDeleteStillFindsIt(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name string
		del  string
	}{
		{"middle", `DELETE FROM journal WHERE seq BETWEEN 1200 AND 1210`},
		{"page-boundary", `DELETE FROM journal WHERE seq BETWEEN 1001 AND 1010`},
		{"prefix-unanchored", `DELETE FROM journal WHERE seq < 1300`},
	} {
		t.Run(c.name, func(t *testing.T) {
			dsn, path := sqliteDSN(t)
			_, other := pruneFixture(t, dsn, 2500, 1500)
			raw, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			pub := pruneKey().Public().(ed25519.PublicKey)
			cps := storedCheckpoints(t, other)
			r := &pageHook{r: other, hook: func() {
				if _, err := raw.ExecContext(ctx, c.del); err != nil {
					t.Error(err)
				}
			}}
			rep, err := recorder.Verify(ctx, r, recorder.VerifyOptions{Checkpoints: cps, Key: pub})
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK() {
				t.Fatal("records deleted during the walk went unreported")
			}
			missing := false
			for _, f := range rep.Findings {
				missing = missing || f.Kind == recorder.FindingMissing
			}
			if !missing {
				t.Fatalf("no missing finding: %v", rep.Findings)
			}
		})
	}
}

// Appends, retention prunes, checkpoints, WAL checkpoints and full
// verifications from a second handle, all at once on one SQLite file
// (writer plus read pool), and the same on PostgreSQL:
// every verification passes, every prune keeps its anchor and deletes
// only what is before it, and everything ends (bounded loops, no
// deadlock).
func TestPruneVerifyAppendConcurrently(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		dsn, path := sqliteDSN(t)
		testPruneVerifyAppendConcurrently(t, dsn, path)
	})
	t.Run("postgres", func(t *testing.T) { testPruneVerifyAppendConcurrently(t, pgtest.Database(t, "pgstore"), "") })
}

func testPruneVerifyAppendConcurrently(t *testing.T, dsn, path string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st, other := pruneFixture(t, dsn, 1200, 1100)
	key := pruneKey()
	pub := key.Public().(ed25519.PublicKey)
	rec := recorder.New(st)
	var wg sync.WaitGroup
	done := make(chan struct{})
	// SQLite: WAL checkpoints forced from a third connection, beside the
	// readers.
	raw, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	wg.Go(func() {
		if path == "" {
			return
		}
		for range 40 {
			select {
			case <-done:
				return
			default:
			}
			var busy, log, ckpt int
			if err := raw.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &log, &ckpt); err != nil {
				t.Errorf("wal checkpoint: %v", err)
				return
			}
		}
	})
	// Appends on both handles.
	for w, s := range []store.Store{st, other, st} {
		wg.Go(func() {
			for i := range 600 {
				select {
				case <-done:
					return
				default:
				}
				e := &store.Entry{CallID: fmt.Sprintf("w%d-%d", w, i), Type: recorder.Started, Time: pruneT0,
					Data: fmt.Appendf(nil, `{"call_id":"w%d-%d","type":"started"}`, w, i)}
				if _, err := s.AppendJournal(ctx, e); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	// Verifications from the second handle, and from the first's read pool.
	for _, s := range []store.Store{other, st} {
		wg.Go(func() {
			for range 15 {
				select {
				case <-done:
					return
				default:
				}
				cps, err := recorder.StoredCheckpoints(ctx, s)
				if err != nil {
					t.Error(err)
					return
				}
				rep, err := recorder.Verify(ctx, s, recorder.VerifyOptions{Checkpoints: cps, Key: pub})
				if err != nil {
					t.Error(err)
					return
				}
				if !rep.OK() {
					t.Errorf("verification during appends and prunes: %v", rep.Findings)
					return
				}
			}
		})
	}
	// Checkpoints and prunes, each prune anchored at a checkpoint made one
	// round earlier (old enough: the clock moves an hour a round).
	for round := range 6 {
		now := pruneT0.Add(time.Duration(round+1) * time.Hour)
		c, err := recorder.MakeCheckpoint(ctx, st, key, now)
		if err != nil {
			t.Fatalf("round %d: checkpoint: %v", round, err)
		}
		before, _, err := st.JournalSpan(ctx, c.Seq)
		if err != nil {
			t.Fatal(err)
		}
		n, err := recorder.Prune(ctx, st, rec, key, 30*time.Minute, now)
		if err != nil {
			t.Fatalf("round %d: prune: %v", round, err)
		}
		first, _, err := st.JournalSpan(ctx, 1<<62)
		if err != nil {
			t.Fatal(err)
		}
		cps, _ := recorder.StoredCheckpoints(ctx, st)
		anchored := false
		for _, cp := range cps {
			anchored = anchored || cp.Seq == first && cp.Time.Before(now.Add(-30*time.Minute))
		}
		if n > 0 && (!anchored || first > c.Seq || first < before) {
			t.Fatalf("round %d: prune deleted %d, journal now starts at %d (checkpoint at %d); not at an old checkpoint", round, n, first, c.Seq)
		}
	}
	close(done)
	wg.Wait()
	cps, _ := recorder.StoredCheckpoints(ctx, st)
	if rep, err := recorder.Verify(ctx, other, recorder.VerifyOptions{Checkpoints: cps, Key: pub}); err != nil || !rep.OK() {
		t.Fatalf("at rest: %+v %v", rep, err)
	}
}
