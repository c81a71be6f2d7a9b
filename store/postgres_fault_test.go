package store

import (
	"context"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/airlockhq/airlock/internal/pgtest"
)

// openPG opens a PostgreSQL store, closed when t ends.
func openPG(t testing.TB, dsn string) *Postgres {
	t.Helper()
	p, err := OpenPostgres(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// callCounts counts the journal's entries per call id.
func callCounts(t *testing.T, st Store) map[string]int {
	t.Helper()
	es, err := st.JournalAfter(context.Background(), 0, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	n := map[string]int{}
	for _, e := range es {
		n[e.CallID]++
	}
	return n
}

// An append whose COMMIT answer is lost — the connection dies before the
// COMMIT reaches the server, or after the server committed but before its
// answer arrives — returns an error (never success for an outcome it does
// not know), never writes its entry twice, and the chain goes on whole
// from this replica and from another. Both ways of appending are cut: the
// one-round-trip pipeline (this process wrote the head) and the two-round-
// trip one (head read under the lock).
func TestPostgresLostCommit(t *testing.T) {
	for _, path := range []string{"fast", "slow"} {
		for _, c := range []struct {
			name   string
			point  FaultPoint
			landed int // copies of the cut entry in the journal afterwards
		}{
			{"before-commit", FaultBeforeCommit, 0},
			{"after-commit", FaultAfterCommit, 1},
		} {
			t.Run(path+"/"+c.name, func(t *testing.T) {
				dsn := pgtest.Database(t, "pgfault")
				proxy, pdsn := NewFaultProxy(t, dsn)
				a := openPG(t, pdsn) // this replica, through the proxy
				b := openPG(t, dsn)  // another replica, direct
				ctx := context.Background()
				for i := range 3 {
					if _, err := a.AppendJournal(ctx, entry(i)); err != nil {
						t.Fatal(err)
					}
				}
				switch path {
				case "fast":
					if !a.head.known || a.slowRuns != 0 {
						t.Fatalf("set-up: the next append would not take the fast way (%+v, %d)", a.head, a.slowRuns)
					}
				case "slow":
					a.head = pgHead{} // as after a restart: head unknown
				}
				fired := proxy.Arm(c.point)
				e := entry(100)
				seq, err := a.AppendJournal(ctx, e)
				select {
				case <-fired:
				default:
					t.Fatalf("the fault never fired (append: %d, %v)", seq, err)
				}
				if err == nil {
					t.Fatalf("append whose COMMIT answer was lost reported success (seq %d)", seq)
				}
				if e.Seq != 0 || e.Hash != "" || e.PrevHash != "" {
					t.Fatalf("failed append left seq %d hash %q on the entry", e.Seq, e.Hash)
				}
				if a.head.known {
					t.Fatal("the head is still trusted after a commit of unknown outcome")
				}
				if n := callCounts(t, b)["call-100"]; n != c.landed {
					t.Fatalf("the cut entry is in the journal %d times, want %d", n, c.landed)
				}
				// Both replicas go on, alternating, from the real head.
				want := int64(3 + c.landed)
				for i := range 6 {
					st := Store(a)
					if i%2 == 1 {
						st = b
					}
					want++
					if seq, err := st.AppendJournal(ctx, entry(200+i)); err != nil || seq != want {
						t.Fatalf("append %d after the fault: seq %d, want %d (%v)", i, seq, want, err)
					}
				}
				es := checkChain(t, b)
				if int64(len(es)) != want {
					t.Fatalf("%d entries, want %d", len(es), want)
				}
				for id, n := range callCounts(t, a) {
					if n != 1 {
						t.Fatalf("%s written %d times", id, n)
					}
				}
			})
		}
	}
}

// Concurrent appends of one replica share the commit that is cut: every
// caller of the cut batch gets an error, every acknowledged entry is in
// the chain at the seq and with the hash it was given, nothing is in it
// twice, and another replica appending all along keeps the same chain.
func TestPostgresLostCommitUnderLoad(t *testing.T) {
	for _, c := range []struct {
		name  string
		point FaultPoint
	}{{"before-commit", FaultBeforeCommit}, {"after-commit", FaultAfterCommit}} {
		t.Run(c.name, func(t *testing.T) {
			dsn := pgtest.Database(t, "pgfault")
			proxy, pdsn := NewFaultProxy(t, dsn)
			a, b := openPG(t, pdsn), openPG(t, dsn)
			ctx := context.Background()
			if _, err := a.AppendJournal(ctx, entry(0)); err != nil {
				t.Fatal(err)
			}
			const writers, each = 6, 15
			type result struct {
				e   *Entry
				err error
			}
			var (
				mu      sync.Mutex
				results []result
				wg      sync.WaitGroup
			)
			fired := make(chan (<-chan struct{}), 1)
			for w := range writers {
				wg.Go(func() {
					st := Store(a)
					if w == writers-1 {
						st = b
					}
					for i := range each {
						if w == 0 && i == each/2 {
							fired <- proxy.Arm(c.point)
						}
						e := entry(1000*(w+1) + i)
						_, err := st.AppendJournal(ctx, e)
						mu.Lock()
						results = append(results, result{e, err})
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			f := <-fired
			// Writers may all have finished before the armed COMMIT: one
			// more append from a takes it.
			if _, err := a.AppendJournal(ctx, entry(99)); err == nil {
				select {
				case <-f:
				default:
					t.Fatal("the fault never fired")
				}
			}
			<-f
			es := checkChain(t, b)
			bySeq := map[int64]Entry{}
			count := map[string]int{}
			for _, e := range es {
				bySeq[e.Seq] = e
				count[e.CallID]++
			}
			failed := 0
			for _, r := range results {
				if n := count[r.e.CallID]; n > 1 {
					t.Fatalf("%s written %d times", r.e.CallID, n)
				}
				if r.err != nil {
					failed++
					if c.point == FaultBeforeCommit && count[r.e.CallID] != 0 {
						t.Fatalf("%s was refused but is in the journal, though its COMMIT never reached the server", r.e.CallID)
					}
					continue
				}
				got, ok := bySeq[r.e.Seq]
				if !ok || got.CallID != r.e.CallID || got.Hash != r.e.Hash {
					t.Fatalf("acknowledged %s at seq %d is not what the journal holds there (%+v)", r.e.CallID, r.e.Seq, got)
				}
			}
			t.Logf("%d of %d appends refused by the cut commit", failed, len(results))
			// And both go on.
			for _, st := range []Store{a, b} {
				if _, err := st.AppendJournal(ctx, entry(7)); err != nil {
					t.Fatal(err)
				}
			}
			checkChain(t, a)
		})
	}
}

// Every session the store opens — pooled, and the dedicated LISTEN and
// instance connections — has the server notice a vanished peer within
// seconds (see pgKeepalives); a value the DSN gives is kept.
func TestPostgresSessionKeepalives(t *testing.T) {
	dsn := pgtest.Database(t, "pgfault")
	ctx := context.Background()
	show := func(q interface {
		QueryRow(context.Context, string, ...any) pgx.Row
	}, name string) string {
		var v string
		if err := q.QueryRow(ctx, "SHOW "+name).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	p := openPG(t, dsn)
	conn, err := pgx.ConnectConfig(ctx, p.cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, kv := range pgKeepalives {
		want := kv[1] // the server's default is 0: the system's (7200 s idle)
		if got := show(p.pool, kv[0]); got != want {
			t.Errorf("pooled session: %s = %s, want %s", kv[0], got, want)
		}
		if got := show(conn, kv[0]); got != want {
			t.Errorf("dedicated session: %s = %s, want %s", kv[0], got, want)
		}
	}
	q := openPG(t, dsn+"&tcp_keepalives_idle=7")
	if got := show(q.pool, "tcp_keepalives_idle"); got != "7" {
		t.Errorf("the DSN's tcp_keepalives_idle=7 became %s", got)
	}
	if got := show(q.pool, "tcp_keepalives_count"); got != "3" {
		t.Errorf("tcp_keepalives_count = %s beside a DSN setting another", got)
	}
}
