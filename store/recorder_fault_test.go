package store_test

import (
	"context"
	"crypto/ed25519"
	"path/filepath"
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
