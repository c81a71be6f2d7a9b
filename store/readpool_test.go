package store

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// The SQLite store's reads go to a separate, read-only pool; what the
// store just committed is visible to them at once, and an in-memory store
// (one connection, one database) reads through its writer.
func TestSQLiteReadPool(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name     string
		dsn      func(t *testing.T) string
		separate bool
	}{
		{"file", func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "airlock.db") }, true},
		{"memory", func(*testing.T) string { return "sqlite::memory:" }, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			st, err := OpenSQLite(ctx, c.dsn(t))
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if got := st.rdb != st.db; got != c.separate {
				t.Fatalf("separate read pool: %v, want %v", got, c.separate)
			}
			if c.separate {
				if _, err := st.rdb.ExecContext(ctx, `DELETE FROM journal`); err == nil {
					t.Fatal("the read pool accepted a write")
				}
			}
			// Each write is visible to the very next read.
			for i := range 20 {
				r := request(fmt.Sprintf("gr_%d", i), "alice")
				if err := st.InsertRequest(ctx, r); err != nil {
					t.Fatal(err)
				}
				rs, err := st.ListRequests(ctx, RequestFilter{Subject: "alice"})
				if err != nil || len(rs) != i+1 {
					t.Fatalf("after insert %d: %d requests, %v", i, len(rs), err)
				}
				if _, err := st.UpdateRequest(ctx, r.ID, nil, func(r *Request) (bool, error) { r.Status = StatusActive; return true, nil }); err != nil {
					t.Fatal(err)
				}
				if got, err := st.GetRequest(ctx, r.ID); err != nil || got.Status != StatusActive {
					t.Fatalf("after update %d: %+v %v", i, got, err)
				}
				seq, err := st.AppendJournal(ctx, entry(i))
				if err != nil {
					t.Fatal(err)
				}
				if last, err := st.JournalLastSeq(ctx); err != nil || last != seq {
					t.Fatalf("last seq %d after appending %d (%v)", last, seq, err)
				}
			}
			checkChain(t, st)
			if err := st.Ready(ctx); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// Readers running alongside writers always see a consistent chain, and
// every distinct ListRequests filter shape is served (prepared or not).
func TestSQLiteReadsDuringWrites(t *testing.T) {
	st := openTemp(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for g := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := st.AppendJournal(ctx, entry(g*1000+i)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	deadline := time.Now().Add(300 * time.Millisecond)
	for n := 0; time.Now().Before(deadline); n++ {
		es, err := st.JournalAfter(ctx, 0, 1<<30)
		if err != nil {
			t.Fatal(err)
		}
		prev := GenesisHash
		for _, e := range es {
			if e.PrevHash != prev || ChainHash(&e) != e.Hash {
				t.Fatalf("seq %d: inconsistent chain read during writes", e.Seq)
			}
			prev = e.Hash
		}
		// More shapes than maxStmts: the ones past the bound run unprepared.
		if _, err := st.ListRequests(ctx, RequestFilter{Statuses: make([]string, 1+n%(2*maxStmts))}); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
}

// Two handles on one store (two replicas) appending in turn: each append
// moves the head the other last wrote, so a PostgreSQL handle's one-round-
// trip append misses every time and must fall back to reading the head
// under the lock; the chain stays whole either way.
func TestInterleavedHandlesShareOneChain(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		a, b := openDSN(t, dsn), openDSN(t, dsn)
		ctx := context.Background()
		for i := range 40 {
			st := a
			if i%3 == 2 { // uneven turns: runs of fast appends, then a miss
				st = b
			}
			seq, err := st.AppendJournal(ctx, entry(i))
			if err != nil || seq != int64(i+1) {
				t.Fatalf("append %d: seq %d, %v", i, seq, err)
			}
		}
		if pb, ok := b.(*Postgres); ok && pb.slowRuns == 0 {
			t.Fatal("the second handle never fell back to the slow append")
		}
		if es := checkChain(t, a); len(es) != 40 {
			t.Fatalf("%d entries, want 40", len(es))
		}
	})
}
