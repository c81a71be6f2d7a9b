package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airlockhq/airlock/internal/pgtest"
)

func request(id, subject string) *Request {
	now := time.Now().UTC().Truncate(time.Millisecond)
	return &Request{ID: id, Kind: KindGrant, Subject: subject, Groups: []string{"eng"}, Connection: "db", Access: "read",
		Reason: "debug", Status: StatusPending, Rule: "r1", Approvers: []string{"leads"}, MinApprovals: 1,
		Duration: time.Hour, CreatedAt: now, DecideBy: now.Add(time.Hour)}
}

// Requests: insert, read back every field, filter, update with a vote,
// and see the change in ChangedSince — the same on both stores.
func TestRequestsRoundTrip(t *testing.T) { eachBackend(t, testRequestsRoundTrip) }

func testRequestsRoundTrip(t *testing.T, dsn string) {
	st := openDSN(t, dsn)
	ctx := context.Background()
	r := request("gr_1", "alice")
	r.Kind, r.Tool, r.Digest, r.Arguments = KindApproval, "query_db", "d1", []byte(`{"sql":"SELECT 1"}`)
	if err := st.InsertRequest(ctx, r); err != nil {
		t.Fatal(err)
	}
	if err := st.InsertRequest(ctx, request("gr_2", "bob")); err != nil {
		t.Fatal(err)
	}
	if err := st.InsertRequest(ctx, request("gr_1", "dup")); err == nil {
		t.Fatal("duplicate id accepted")
	}
	got, err := st.GetRequest(ctx, "gr_1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Subject != "alice" || got.Kind != KindApproval || string(got.Arguments) != `{"sql":"SELECT 1"}` || got.Digest != "d1" ||
		got.Duration != time.Hour || !got.CreatedAt.Equal(r.CreatedAt) || !got.DecideBy.Equal(r.DecideBy) ||
		len(got.Groups) != 1 || got.Approvers[0] != "leads" || got.MinApprovals != 1 || !got.ExpiresAt.IsZero() {
		t.Fatalf("read back %+v", got)
	}
	if _, err := st.GetRequest(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown id: %v", err)
	}
	for _, c := range []struct {
		f    RequestFilter
		want int
	}{
		{RequestFilter{}, 2}, {RequestFilter{Subject: "alice"}, 1}, {RequestFilter{Kind: KindGrant}, 1},
		{RequestFilter{Digest: "d1"}, 1}, {RequestFilter{Statuses: []string{StatusPending, StatusActive}}, 2},
		{RequestFilter{Statuses: []string{StatusActive}}, 0}, {RequestFilter{Connection: "db", Limit: 1}, 1},
	} {
		rs, err := st.ListRequests(ctx, c.f)
		if err != nil || len(rs) != c.want {
			t.Errorf("%+v: %d requests, want %d (%v)", c.f, len(rs), c.want, err)
		}
	}
	before := time.Now().Add(-time.Second)
	exp := time.Now().Add(time.Hour).UTC().Truncate(time.Millisecond)
	vote := &Vote{Approver: "carol", Approve: true, Reason: "ok", Time: time.Now().UTC().Truncate(time.Millisecond)}
	up, err := st.UpdateRequest(ctx, "gr_2", vote, func(r *Request) (bool, error) {
		if len(r.Votes) != 1 || r.Votes[0].Approver != "carol" {
			return false, fmt.Errorf("votes in fn: %+v", r.Votes)
		}
		r.Status, r.ExpiresAt, r.Note = StatusActive, exp, "approved"
		return true, nil
	})
	if err != nil || up.Status != StatusActive {
		t.Fatalf("update: %+v %v", up, err)
	}
	got, err = st.GetRequest(ctx, "gr_2")
	if err != nil || got.Status != StatusActive || !got.ExpiresAt.Equal(exp) || got.Note != "approved" ||
		len(got.Votes) != 1 || !got.Votes[0].Approve || got.Votes[0].Reason != "ok" {
		t.Fatalf("after update: %+v %v", got, err)
	}
	// fn declining leaves the request (and the vote) unwritten.
	if _, err := st.UpdateRequest(ctx, "gr_2", &Vote{Approver: "dave", Time: time.Now()}, func(*Request) (bool, error) { return false, nil }); err != nil {
		t.Fatal(err)
	}
	if got, _ := st.GetRequest(ctx, "gr_2"); len(got.Votes) != 1 {
		t.Fatalf("declined update wrote a vote: %+v", got.Votes)
	}
	if _, err := st.UpdateRequest(ctx, "nope", nil, func(*Request) (bool, error) { return true, nil }); !errors.Is(err, ErrNotFound) {
		t.Fatalf("update unknown: %v", err)
	}
	ch, err := st.ChangedSince(ctx, before, StatusActive)
	if err != nil || len(ch) != 1 || ch[0].ID != "gr_2" {
		t.Fatalf("ChangedSince: %+v %v", ch, err)
	}
}

// Of many processes' worth of goroutines racing to move one request from
// approved to used, exactly one wins (the row is locked while fn runs).
func TestUpdateRequestSingleWinner(t *testing.T) { eachBackend(t, testUpdateRequestSingleWinner) }

func testUpdateRequestSingleWinner(t *testing.T, dsn string) {
	st := openDSN(t, dsn)
	other := openDSN(t, dsn) // a second handle: another replica
	ctx := context.Background()
	r := request("ap_1", "alice")
	r.Status = StatusApproved
	if err := st.InsertRequest(ctx, r); err != nil {
		t.Fatal(err)
	}
	var wins atomic.Int32
	var wg sync.WaitGroup
	for i := range 16 {
		s := st
		if i%2 == 1 {
			s = other
		}
		wg.Go(func() {
			_, err := s.UpdateRequest(ctx, "ap_1", nil, func(r *Request) (bool, error) {
				if r.Status != StatusApproved {
					return false, nil
				}
				r.Status = StatusUsed
				wins.Add(1)
				return true, nil
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := wins.Load(); n != 1 {
		t.Fatalf("%d winners, want 1", n)
	}
}

// Checkpoints, bookkeeping, open calls and pruning behind an anchor.
func TestJournalMaintenance(t *testing.T) { eachBackend(t, testJournalMaintenance) }

func testJournalMaintenance(t *testing.T, dsn string) {
	st := openDSN(t, dsn)
	ctx := context.Background()
	if seq, err := st.JournalLastSeq(ctx); err != nil || seq != 0 {
		t.Fatalf("empty: %d %v", seq, err)
	}
	if h, err := st.JournalHead(ctx); err != nil || h.Seq != 0 {
		t.Fatalf("empty head: %+v %v", h, err)
	}
	for i := range 6 {
		e := entry(i)
		if i == 4 {
			e.CallID, e.Type = "call-1", "finished"
		}
		if _, err := st.AppendJournal(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	open, err := st.JournalOpenCalls(ctx, 0)
	if err != nil || len(open) != 4 { // call-0, 2, 3, 5 (call-1 finished)
		t.Fatalf("open calls: %d %v", len(open), err)
	}
	if first, n, err := st.JournalSpan(ctx, 4); err != nil || first != 1 || n != 4 {
		t.Fatalf("span: %d %d %v", first, n, err)
	}
	if v, err := st.JournalMeta(ctx, "k"); err != nil || v != "" {
		t.Fatalf("meta unset: %q %v", v, err)
	}
	for _, v := range []string{"1", "2"} {
		if err := st.SetJournalMeta(ctx, "k", v); err != nil {
			t.Fatal(err)
		}
	}
	if v, err := st.JournalMeta(ctx, "k"); err != nil || v != "2" {
		t.Fatalf("meta: %q %v", v, err)
	}
	now := time.Now().UTC()
	for i := range 2 {
		if err := st.AddJournalCheckpoint(ctx, Checkpoint{Seq: int64(3 + i), Time: now, Data: fmt.Sprint("cp", i)}); err != nil {
			t.Fatal(err)
		}
	}
	cps, err := st.JournalCheckpoints(ctx)
	if err != nil || len(cps) != 2 || cps[0].Data != "cp0" || cps[1].Seq != 4 || !cps[1].Time.Equal(now) {
		t.Fatalf("checkpoints: %+v %v", cps, err)
	}
	es := checkChain(t, st)
	if _, err := st.JournalPrune(ctx, 4, "wrong"); !errors.Is(err, ErrPruneAnchor) {
		t.Fatalf("prune with a wrong anchor: %v", err)
	}
	n, err := st.JournalPrune(ctx, 4, es[3].Hash)
	if err != nil || n != 3 {
		t.Fatalf("prune: %d %v", n, err)
	}
	if first, cnt, err := st.JournalSpan(ctx, 6); err != nil || first != 4 || cnt != 3 {
		t.Fatalf("span after prune: %d %d %v", first, cnt, err)
	}
	// The chain goes on from the kept head.
	if seq, err := st.AppendJournal(ctx, entry(9)); err != nil || seq != 7 {
		t.Fatalf("append after prune: %d %v", seq, err)
	}
	if err := st.Ready(ctx); err != nil {
		t.Fatalf("ready: %v", err)
	}
}

// Replicas starting together migrate once: concurrent opens of a fresh
// database all succeed and agree on the schema version.
func TestPostgresConcurrentMigrations(t *testing.T) {
	dsn := pgtest.Database(t, "pgstore")
	var wg sync.WaitGroup
	errs := make(chan error, 6)
	for range 6 {
		wg.Go(func() {
			st, err := OpenPostgres(context.Background(), dsn)
			if err != nil {
				errs <- err
				return
			}
			st.Close()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	st := openDSN(t, dsn).(*Postgres)
	var n int
	if err := st.pool.QueryRow(context.Background(), `SELECT count(*) FROM airlock_schema_migrations`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	ms, _ := pgMigrationList()
	if n != len(ms) {
		t.Fatalf("%d migrations recorded, want %d", n, len(ms))
	}
}

// A change committed through one handle wakes another handle's waiters
// (LISTEN/NOTIFY), well before any poll would.
func TestPostgresChangeNotifications(t *testing.T) {
	dsn := pgtest.Database(t, "pgstore")
	a := openDSN(t, dsn).(*Postgres)
	b := openDSN(t, dsn).(*Postgres)
	ctx := context.Background()
	waitLive(t, b)
	gen0, _ := b.Changes()
	wake := b.ChangeWait()
	if err := a.InsertRequest(ctx, request("gr_n", "alice")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-wake:
	case <-time.After(10 * time.Second):
		t.Fatal("no notification of an insert")
	}
	wake = b.ChangeWait()
	start := time.Now()
	if _, err := a.UpdateRequest(ctx, "gr_n", nil, func(r *Request) (bool, error) { r.Status = StatusActive; return true, nil }); err != nil {
		t.Fatal(err)
	}
	select {
	case <-wake:
	case <-time.After(10 * time.Second):
		t.Fatal("no notification of an update")
	}
	t.Logf("update announced to the other handle after %v", time.Since(start))
	if gen, live := b.Changes(); gen <= gen0 || !live {
		t.Fatalf("changes: gen %d (was %d) live %v", gen, gen0, live)
	}
}

func waitLive(t *testing.T, p *Postgres) {
	t.Helper()
	for range 200 {
		if _, live := p.Changes(); live {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatal("listener never connected")
}

// Unparseable DSNs never echo the URL (which may hold a password).
func TestPostgresBadDSNHidesIt(t *testing.T) {
	_, err := OpenPostgres(context.Background(), "postgres://u:s3cret@host:notaport/db")
	if err == nil {
		t.Fatal("bad DSN accepted")
	}
	if s := err.Error(); containsAny(s, "s3cret", "notaport") {
		t.Fatalf("error quotes the DSN: %s", s)
	}
}

func containsAny(s string, subs ...string) bool {
	for _, x := range subs {
		if strings.Contains(s, x) {
			return true
		}
	}
	return false
}

// BenchmarkPostgresJournalAppend32 is the PostgreSQL store's durable
// journal throughput with 32 concurrent writers in one process (group
// commit; each append committed before it returns). Reports records/s.
func BenchmarkPostgresJournalAppend32(b *testing.B) {
	st := openDSN(b, pgtest.Database(b, "pgstore"))
	data := []byte(benchRecord)
	appendParallel(b, st, data)
}

// BenchmarkPostgresJournalAppend1 is one writer's append latency.
func BenchmarkPostgresJournalAppend1(b *testing.B) {
	st := openDSN(b, pgtest.Database(b, "pgstore"))
	data := []byte(benchRecord)
	b.ReportAllocs()
	for b.Loop() {
		e := &Entry{CallID: "c", Type: "started", Time: time.Now(), Data: data}
		if _, err := st.AppendJournal(context.Background(), e); err != nil {
			b.Fatal(err)
		}
	}
}
