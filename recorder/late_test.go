package recorder

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/airlockhq/airlock/store"
)

// flakyJournal fails every append while down is set.
type flakyJournal struct {
	inner Journal
	down  atomic.Bool
}

func (f *flakyJournal) AppendJournal(ctx context.Context, e *store.Entry) (int64, error) {
	if f.down.Load() {
		return 0, errors.New("injected: disk I/O error")
	}
	return f.inner.AppendJournal(ctx, e)
}

func TestFinishLaterWritesInOrderOnceTheJournalIsBack(t *testing.T) {
	j := newTestJournal(t)
	ctx := context.Background()
	fj := &flakyJournal{inner: j.st}
	r := New(fj)
	ids := []string{"c1", "c2", "c3"}
	for _, id := range ids {
		if err := r.Begin(ctx, &Record{CallID: id, Tool: "query_db"}); err != nil {
			t.Fatal(err)
		}
	}
	fj.down.Store(true)
	for _, id := range ids {
		rec := &Record{CallID: id, Tool: "query_db", Outcome: OutcomeUnknown}
		if err := r.Finish(ctx, rec); err == nil {
			t.Fatal("finish succeeded with the journal down")
		}
		r.FinishLater(rec)
	}
	if n, err := r.FlushLate(ctx); n != 0 || err == nil || r.LatePending() != 3 {
		t.Fatalf("flush while down: %d %v, %d pending", n, err, r.LatePending())
	}
	fj.down.Store(false)
	// A successful write wakes the flusher.
	if err := r.Begin(ctx, &Record{CallID: "c4", Tool: "query_db"}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-r.lateWake():
	default:
		t.Error("a successful write did not signal the late records")
	}
	if n, err := r.FlushLate(ctx); n != 3 || err != nil || r.LatePending() != 0 {
		t.Fatalf("flush: %d %v, %d pending", n, err, r.LatePending())
	}
	var got []string
	Scan(ctx, j.st, 0, func(rec *Record) error {
		if rec.Type == Finished {
			got = append(got, rec.CallID)
		}
		return nil
	})
	if len(got) != 3 || got[0] != "c1" || got[1] != "c2" || got[2] != "c3" {
		t.Errorf("late finished records: %v", got)
	}
	if rep := j.verify(t); !rep.OK() {
		t.Errorf("chain: %v", rep.Findings)
	}
}

func TestFinishLaterIsBounded(t *testing.T) {
	r := New(&flakyJournal{})
	for i := range maxLate + 5 {
		ok := r.FinishLater(&Record{CallID: "c", Seq: int64(i)})
		if ok != (i < maxLate) {
			t.Fatalf("record %d: ok=%v", i, ok)
		}
	}
	if r.LatePending() != maxLate || r.late.recs[0].Seq != 5 {
		t.Errorf("%d pending, oldest %d", r.LatePending(), r.late.recs[0].Seq)
	}
}
