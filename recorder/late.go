package recorder

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"time"
)

// maxLate bounds the finished records waiting for the journal to come
// back. Beyond it the oldest are dropped: their calls stay open and are
// closed as outcome unknown by recovery at the next start.
const maxLate = 10000

// lateQueue holds finished records that could not be written when their
// call ended. They are written, in order, as soon as the journal takes
// writes again (FlushLate), not at the next restart.
type lateQueue struct {
	mu   sync.Mutex
	recs []*Record
	// refused marks the records RefusedLater queued (calls that never
	// ran).
	refused map[*Record]bool
	dropped int
	flush   sync.Mutex // one flusher at a time, so records stay in order
	wake    chan struct{}
}

// push queues rec. When the queue is full it drops the oldest refused
// record, or else the oldest record — but a refused record never pushes
// out a call that ran: then it is not queued. It reports false when the
// finished record of a call that ran was dropped. Callers hold q.mu.
func (q *lateQueue) push(rec *Record, refused bool) bool {
	ok := true
	if len(q.recs) >= maxLate {
		i := slices.IndexFunc(q.recs, func(r *Record) bool { return q.refused[r] })
		switch {
		case i >= 0:
		case refused:
			return true
		default:
			i, ok = 0, false
		}
		q.remove(i)
		q.dropped++
	}
	q.recs = append(q.recs, rec)
	if refused {
		if q.refused == nil {
			q.refused = map[*Record]bool{}
		}
		q.refused[rec] = true
	}
	return ok
}

// remove takes the i-th record out of the queue. Callers hold q.mu.
func (q *lateQueue) remove(i int) {
	delete(q.refused, q.recs[i])
	q.recs = append(q.recs[:i], q.recs[i+1:]...)
}

// FinishLater queues rec as the call's finished record, to be written by
// FlushLate once the journal takes writes again. Use it after Finish
// failed; rec is copied. It reports false when the queue was full and the
// oldest queued record was dropped to make room (its call stays open
// until recovery closes it as unknown).
func (r *Recorder) FinishLater(rec *Record) bool {
	cp := *rec
	cp.Type = Finished
	q := &r.late
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.push(&cp, false)
}

// RefusedLater queues a finished record (outcome error, not run) for a
// call whose started record's write failed: the call was refused, but the
// write may have landed with only its answer lost (a connection cut after
// the COMMIT). Once the journal takes writes, the record closes the call if
// its started record is there, and is dropped if it is not (see
// Service.skipLate), so the call is neither left open until a restart
// nor given a finished record without a started one. rec is copied.
func (r *Recorder) RefusedLater(rec *Record) {
	// Refused calls must never push out the finished records of calls that
	// ran: they are at most half the queue, and the first dropped when it
	// is full (their calls, if their started records landed, are then
	// closed as unknown by recovery, as before).
	cp := *rec
	cp.Type = Finished
	cp.Outcome, cp.Result = OutcomeError, nil
	cp.Error = "the journal could not confirm the call's started record; the call was refused and did not run"
	cp.Detail, _ = json.Marshal(map[string]any{"recorded_late": true, "ran": false,
		"begin_failed_at": r.now().UTC().Format(time.RFC3339Nano)})
	q := &r.late
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.refused) >= maxLate/2 {
		return
	}
	q.push(&cp, true)
}

// LatePending is how many finished records wait to be written.
func (r *Recorder) LatePending() int {
	r.late.mu.Lock()
	defer r.late.mu.Unlock()
	return len(r.late.recs)
}

// lateWake is signalled when a write succeeds while records wait.
func (r *Recorder) lateWake() <-chan struct{} { return r.late.wake }

func (r *Recorder) signalLate() {
	r.late.mu.Lock()
	n := len(r.late.recs)
	r.late.mu.Unlock()
	if n > 0 {
		select {
		case r.late.wake <- struct{}{}:
		default:
		}
	}
}

// FlushLate writes the queued finished records in order, stopping at the
// first failure (the rest stay queued). It returns how many it wrote.
func (r *Recorder) FlushLate(ctx context.Context) (int, error) {
	return r.FlushLateSkipping(ctx, nil)
}

// FlushLateSkipping is FlushLate, but a record that skip reports is
// dropped unwritten: a replica that lost the store may find its calls
// closed as unknown by a peer meanwhile (a call has one finished record),
// and a refused call (RefusedLater; refused is true) whose started record
// never landed has nothing to close.
func (r *Recorder) FlushLateSkipping(ctx context.Context, skip func(ctx context.Context, callID string, refused bool) (bool, error)) (int, error) {
	q := &r.late
	q.flush.Lock()
	defer q.flush.Unlock()
	n := 0
	for {
		q.mu.Lock()
		if len(q.recs) == 0 {
			q.mu.Unlock()
			return n, nil
		}
		rec := q.recs[0]
		refused := q.refused[rec]
		q.mu.Unlock()
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		drop := false
		var err error
		if skip != nil {
			drop, err = skip(wctx, rec.CallID, refused)
		}
		if err == nil && !drop {
			err = r.write(wctx, rec)
		}
		cancel()
		if err != nil {
			return n, err
		}
		q.mu.Lock()
		// FinishLater may have dropped the head meanwhile; remove rec
		// itself.
		for i, x := range q.recs {
			if x == rec {
				q.remove(i)
				break
			}
		}
		q.mu.Unlock()
		if !drop {
			n++
		}
	}
}
