package recorder

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"
)

// Refused calls' records must never push out the finished record of a call
// that ran (RefusedLater's promise): one ran record queued, then refused
// ones up to half the queue, then ran ones filling the rest.
func TestRefusedLaterNeverPushesOutRanCalls(t *testing.T) {
	r := New(&flakyJournal{})
	r.FinishLater(&Record{CallID: "ran-first", Tool: "query_db", Outcome: OutcomeOK})
	for i := 0; i < maxLate/2; i++ {
		r.RefusedLater(&Record{CallID: fmt.Sprintf("refused-%d", i), Tool: "query_db"})
	}
	for i := 0; i < maxLate/2+1; i++ {
		r.FinishLater(&Record{CallID: fmt.Sprintf("ran-%d", i), Tool: "query_db", Outcome: OutcomeOK})
	}
	r.late.mu.Lock()
	defer r.late.mu.Unlock()
	for _, rec := range r.late.recs {
		if rec.CallID == "ran-first" {
			return
		}
	}
	t.Errorf("the finished record of a call that ran was dropped to keep refused calls' records (%d queued, %d dropped)", len(r.late.recs), r.late.dropped)
}

// A call that ran for longer than the retention (its started record pruned
// while it ran) and whose finished record had to wait (FinishLater) must
// still get its finished record: skipLate takes a missing started record
// for "never ran" and drops it.
func TestLateFinishedKeptAfterStartedPruned(t *testing.T) {
	j := newTestJournal(t)
	ctx := context.Background()
	long := &Record{CallID: "long-call", Tool: "ssh_exec", Transport: "stdio"}
	if err := j.rec.Begin(ctx, long); err != nil {
		t.Fatal(err)
	}
	j.calls(t, 3)
	j.checkpoint(t)
	j.calls(t, 1)
	n, err := Prune(ctx, j.st, j.rec, j.key, time.Hour, j.clock.t.Add(48*time.Hour))
	if err != nil || n == 0 {
		t.Fatalf("prune: %d %v", n, err)
	}
	// The call ends; its finished write failed and was queued.
	long.Outcome = OutcomeOK
	j.rec.FinishLater(long)
	s := &Service{st: j.st, rec: j.rec, log: slog.Default()}
	if _, err := j.rec.FlushLateSkipping(ctx, s.skipLate); err != nil {
		t.Fatal(err)
	}
	entries, err := j.st.JournalCall(ctx, "long-call")
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) == 0 {
		t.Error("the finished record of a call that ran was dropped because its started record had been pruned")
	}
}

// A full queue of calls that ran takes no refused record (the oldest ran
// record stays), and a ran record that pushes out a refused one reports
// nothing lost.
func TestRefusedLaterIntoAFullQueue(t *testing.T) {
	r := New(&flakyJournal{})
	for i := 0; i < maxLate; i++ {
		r.FinishLater(&Record{CallID: fmt.Sprintf("ran-%d", i), Tool: "query_db", Outcome: OutcomeOK})
	}
	r.RefusedLater(&Record{CallID: "refused", Tool: "query_db"})
	r.late.mu.Lock()
	first, n := r.late.recs[0].CallID, len(r.late.recs)
	r.late.mu.Unlock()
	if first != "ran-0" || n != maxLate {
		t.Fatalf("a refused record pushed out a call that ran: first %q, %d queued", first, n)
	}

	r = New(&flakyJournal{})
	r.RefusedLater(&Record{CallID: "refused", Tool: "query_db"})
	for i := 0; i < maxLate-1; i++ {
		r.FinishLater(&Record{CallID: fmt.Sprintf("ran-%d", i), Tool: "query_db", Outcome: OutcomeOK})
	}
	if !r.FinishLater(&Record{CallID: "ran-last", Tool: "query_db", Outcome: OutcomeOK}) {
		t.Error("dropping a refused record was reported as losing a finished record")
	}
	r.late.mu.Lock()
	defer r.late.mu.Unlock()
	if len(r.late.refused) != 0 || r.late.recs[0].CallID != "ran-0" {
		t.Errorf("the refused record was not the one dropped: first %q, %d refused", r.late.recs[0].CallID, len(r.late.refused))
	}
}
