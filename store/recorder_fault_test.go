package store_test

import (
	"context"
	"crypto/ed25519"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/internal/pgtest"
	"github.com/airlockhq/airlock/recorder"
	"github.com/airlockhq/airlock/store"
)

// At the recorder level, on a PostgreSQL store whose COMMIT answers are
// cut (see FaultProxy): a started record of unknown outcome fails Begin,
// so the call never runs (fail closed), even though the record landed; a
// finished record of unknown outcome fails Finish and is queued, and the
// gateway's late flush writes it once if it did not land and not at all
// if it did — a call keeps one finished record.
func TestRecorderLostCommit(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Database(t, "pgfault")
	proxy, pdsn := store.NewFaultProxy(t, dsn)
	open := func(dsn string) *store.Postgres {
		p, err := store.OpenPostgres(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		return p
	}
	a, b := open(pdsn), open(dsn) // b: another replica, direct
	keyFile := filepath.Join(t.TempDir(), "journal-checkpoint.key")
	svc, err := recorder.Start(ctx, a, recorder.Options{KeyFile: keyFile, CheckpointInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	rec := svc.Recorder()
	types := func(callID string) map[string]int {
		t.Helper()
		es, err := b.JournalCall(ctx, callID)
		if err != nil {
			t.Fatal(err)
		}
		n := map[string]int{}
		for _, e := range es {
			n[e.Type]++
		}
		return n
	}
	cut := func(point store.FaultPoint, write func() error) {
		t.Helper()
		fired := proxy.Arm(point)
		err := write()
		select {
		case <-fired:
		default:
			t.Fatalf("the fault never fired (%v)", err)
		}
		if err == nil {
			t.Fatal("a record whose COMMIT answer was lost was reported written")
		}
	}

	// Begin: committed, answer lost → error; the record is there once.
	started := &recorder.Record{CallID: recorder.NewCallID(), Tool: "query_db"}
	cut(store.FaultAfterCommit, func() error { return rec.Begin(ctx, started) })
	if n := types(started.CallID); n[recorder.Started] != 1 || n[recorder.Finished] != 0 {
		t.Fatalf("started record of unknown outcome: %v", n)
	}
	// It is this live gateway's open call: recovery leaves it alone (it is
	// closed as unknown once the gateway is gone).
	if n, err := svc.Recover(ctx); err != nil || n != 0 {
		t.Fatalf("recover: %d %v", n, err)
	}

	// Finish, both ways of losing the answer.
	for _, point := range []store.FaultPoint{store.FaultAfterCommit, store.FaultBeforeCommit} {
		r := &recorder.Record{CallID: recorder.NewCallID(), Tool: "query_db"}
		if err := rec.Begin(ctx, r); err != nil {
			t.Fatal(err)
		}
		r.Outcome = recorder.OutcomeOK
		cut(point, func() error { return rec.Finish(ctx, r) })
		rec.FinishLater(r)
		// The late loop retries every second or at the next write; a bound,
		// not a timing assertion.
		for i := 0; rec.LatePending() > 0; i++ {
			if i == 300 {
				t.Fatalf("the late finished record was never flushed (%d pending)", rec.LatePending())
			}
			time.Sleep(100 * time.Millisecond)
		}
		if n := types(r.CallID); n[recorder.Started] != 1 || n[recorder.Finished] != 1 {
			t.Fatalf("fault %d: call has %v, want one started and one finished record", point, n)
		}
	}

	// The chain is whole, from either replica.
	cps, err := recorder.StoredCheckpoints(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	key, err := recorder.LoadKey(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := recorder.Verify(ctx, b, recorder.VerifyOptions{Checkpoints: cps, Key: key.Public().(ed25519.PublicKey)})
	if err != nil || !rep.OK() {
		t.Fatalf("verify: %+v %v", rep, err)
	}
}

// A call refused because its started record's write failed is closed once
// the journal takes writes (RefusedLater), if the record landed with only
// its answer lost; if it never landed, nothing is written for it.
func TestRecorderRefusedCallClosedLate(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Database(t, "pgfault")
	proxy, pdsn := store.NewFaultProxy(t, dsn)
	a, err := store.OpenPostgres(ctx, pdsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	svc, err := recorder.Start(ctx, a, recorder.Options{KeyFile: filepath.Join(t.TempDir(), "k.key"), CheckpointInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	rec := svc.Recorder()
	for _, c := range []struct {
		point           store.FaultPoint
		started, closed int
	}{{store.FaultAfterCommit, 1, 1}, {store.FaultBeforeCommit, 0, 0}} {
		r := &recorder.Record{CallID: recorder.NewCallID(), Tool: "query_db"}
		fired := proxy.Arm(c.point)
		if err := rec.Begin(ctx, r); err == nil {
			t.Fatal("a started record whose COMMIT answer was lost was reported written")
		}
		<-fired
		rec.RefusedLater(r)
		// Another write wakes the late loop; bounded wait, not a timing
		// assertion.
		if err := rec.Begin(ctx, &recorder.Record{CallID: recorder.NewCallID(), Tool: "query_db"}); err != nil {
			t.Fatal(err)
		}
		for i := 0; rec.LatePending() > 0; i++ {
			if i == 300 {
				t.Fatalf("the refused call's late record was never flushed or dropped (%d pending)", rec.LatePending())
			}
			time.Sleep(100 * time.Millisecond)
		}
		es, err := a.JournalCall(ctx, r.CallID)
		if err != nil {
			t.Fatal(err)
		}
		n := map[string]int{}
		for _, e := range es {
			n[e.Type]++
			if e.Type == recorder.Finished && !strings.Contains(string(e.Data), `"outcome":"error"`) {
				t.Errorf("refused call closed with %s", e.Data)
			}
		}
		if n[recorder.Started] != c.started || n[recorder.Finished] != c.closed {
			t.Errorf("fault %d: call has %v, want %d started and %d finished", c.point, n, c.started, c.closed)
		}
	}
}
