package jit

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/airlockhq/airlock/identity"
	"github.com/airlockhq/airlock/policy"
	"github.com/airlockhq/airlock/store"
)

type recordingSink struct {
	mu     sync.Mutex
	events []string
}

func (r *recordingSink) Publish(_ context.Context, e Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e.Type)
}

func newService(t testing.TB, rules []policy.Rule) (*Service, *store.SQLite, *recordingSink) {
	t.Helper()
	st, err := store.OpenSQLite(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	sink := &recordingSink{}
	return New(st, policy.NewEngine(rules), Config{Wait: 200 * time.Millisecond, TTL: time.Hour, AdminGroups: []string{"admins"}}, nil, sink), st, sink
}

var (
	carol = &identity.Principal{Subject: "carol", Groups: []string{"contractors", "dba"}}
	dave  = &identity.Principal{Subject: "dave", Groups: []string{"dba"}}
	erin  = &identity.Principal{Subject: "erin", Groups: []string{"dba"}}
	mal   = &identity.Principal{Subject: "mal", Groups: []string{"analysts"}}
)

var rules = []policy.Rule{
	{Name: "read", Groups: []string{"contractors"}, Connections: []string{"db"}, Access: []policy.Access{policy.Read},
		Effect: policy.Allow, Grant: policy.GrantSpec{Mode: policy.GrantApproval, Approvers: []string{"dba"}, MinApprovals: 2, MaxDuration: time.Hour}},
	{Name: "write", Groups: []string{"contractors"}, Connections: []string{"db"}, Access: []policy.Access{policy.Write},
		Effect: policy.Approve, Grant: policy.GrantSpec{Approvers: []string{"dba"}}},
}

func TestDecideRules(t *testing.T) {
	s, _, sink := newService(t, rules)
	ctx := context.Background()
	r, err := s.RequestGrant(ctx, carol, "db", policy.Read, 2*time.Hour, "why")
	if err != nil || r.Status != store.StatusPending || r.Duration != time.Hour {
		t.Fatalf("request: %+v %v", r, err)
	}
	// The same pending request is reused, not duplicated.
	if again, _ := s.RequestGrant(ctx, carol, "db", policy.Read, 0, "again"); again.ID != r.ID {
		t.Error("duplicate pending request")
	}
	var je *Error
	if _, err := s.Decide(ctx, carol, r.ID, true, ""); !errors.As(err, &je) {
		t.Errorf("self-approval: %v", err)
	}
	if _, err := s.Decide(ctx, mal, r.ID, true, ""); !errors.As(err, &je) {
		t.Errorf("non-approver: %v", err)
	}
	if r, _ = s.Decide(ctx, dave, r.ID, true, "ok"); r.Status != store.StatusPending {
		t.Fatalf("one of two approvals made it %s", r.Status)
	}
	if _, err := s.Decide(ctx, dave, r.ID, true, ""); !errors.As(err, &je) {
		t.Errorf("double vote: %v", err)
	}
	if r, _ = s.Decide(ctx, erin, r.ID, true, "ok"); r.Status != store.StatusActive || r.ExpiresAt.IsZero() {
		t.Fatalf("two approvals: %+v", r)
	}
	g, err := s.ActiveGrant(ctx, "carol", "db", policy.Read)
	if err != nil || g == nil || g.ID != r.ID {
		t.Fatalf("active grant: %+v %v", g, err)
	}
	if g, _ := s.ActiveGrant(ctx, "carol", "db", policy.Write); g != nil {
		t.Error("a read grant covers write")
	}
	if _, err := s.Revoke(ctx, mal, r.ID, ""); !errors.As(err, &je) {
		t.Errorf("stranger revoked: %v", err)
	}
	if _, err := s.Revoke(ctx, carol, r.ID, "done"); err != nil {
		t.Errorf("holder could not give up the grant: %v", err)
	}
	if g, _ := s.ActiveGrant(ctx, "carol", "db", policy.Read); g != nil {
		t.Error("revoked grant still active")
	}
	want := []string{EventRequestCreated, EventRequestVoted, EventRequestApproved, EventGrantRevoked}
	if len(sink.events) != len(want) {
		t.Errorf("events %v, want %v", sink.events, want)
	}
}

// Of many identical calls racing for one approval, exactly one runs.
func TestApprovalIsSingleUse(t *testing.T) {
	s, _, _ := newService(t, rules)
	ctx := context.Background()
	h := Hold{Principal: carol, Tool: "query_db", Connection: "db", Access: policy.Write, Digest: "d1",
		Arguments: []byte(`{"sql":"DELETE FROM t WHERE id = 7"}`), Rule: "write", Spec: rules[1].Grant}
	r, err := s.HoldCall(ctx, h, nil)
	if err != nil || r.Status != store.StatusPending {
		t.Fatalf("hold: %+v %v", r, err)
	}
	if _, err := s.Decide(ctx, dave, r.ID, true, ""); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	used := 0
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := s.HoldCall(ctx, h, nil)
			if err != nil {
				t.Error(err)
				return
			}
			if r.Status == store.StatusUsed {
				mu.Lock()
				used++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if used != 1 {
		t.Fatalf("%d calls ran under one approval", used)
	}
	// Another digest is a different call.
	h.Digest = "d2"
	if r, _ := s.HoldCall(ctx, h, nil); r.Status != store.StatusPending {
		t.Errorf("other arguments: %s", r.Status)
	}
}

func TestRevokeCancelsTrackedCalls(t *testing.T) {
	s, _, _ := newService(t, []policy.Rule{{Groups: []string{"dba"}, Connections: []string{"db"},
		Access: []policy.Access{policy.Read}, Effect: policy.Allow}})
	ctx := context.Background()
	g, err := s.RequestGrant(ctx, dave, "db", policy.Read, time.Minute, "x")
	if err != nil {
		t.Fatal(err)
	}
	callCtx, done := s.Track(ctx, g.ID)
	defer done()
	if _, err := s.Revoke(ctx, dave, g.ID, ""); err != nil {
		t.Fatal(err)
	}
	select {
	case <-callCtx.Done():
		if !errors.Is(context.Cause(callCtx), ErrRevoked) {
			t.Errorf("cause %v", context.Cause(callCtx))
		}
	case <-time.After(time.Second):
		t.Fatal("tracked call not cancelled")
	}
}

// Another process's revocation reaches this process's calls through the
// store.
func TestRevocationSeenFromStore(t *testing.T) {
	a, st, _ := newService(t, []policy.Rule{{Groups: []string{"dba"}, Connections: []string{"db"},
		Access: []policy.Access{policy.Read}, Effect: policy.Allow}})
	b := New(st, a.eng, a.cfg, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go a.Run(ctx)
	g, err := a.RequestGrant(ctx, dave, "db", policy.Read, time.Minute, "x")
	if err != nil {
		t.Fatal(err)
	}
	callCtx, done := a.Track(ctx, g.ID)
	defer done()
	if _, err := b.Revoke(ctx, dave, g.ID, ""); err != nil {
		t.Fatal(err)
	}
	select {
	case <-callCtx.Done():
	case <-time.After(2 * time.Second):
		t.Fatal("revocation by another service instance not seen")
	}
}

func TestExpirySweep(t *testing.T) {
	s, _, sink := newService(t, []policy.Rule{{Groups: []string{"dba"}, Connections: []string{"db"},
		Access: []policy.Access{policy.Read}, Effect: policy.Allow, Grant: policy.GrantSpec{MaxDuration: time.Second}}})
	ctx := context.Background()
	g, err := s.RequestGrant(ctx, dave, "db", policy.Read, time.Hour, "x")
	if err != nil || g.ExpiresAt.Sub(g.CreatedAt) != time.Second {
		t.Fatalf("duration not capped: %+v %v", g, err)
	}
	s.now = func() time.Time { return time.Now().Add(2 * time.Second) }
	if err := s.expire(ctx); err != nil {
		t.Fatal(err)
	}
	if r, _ := s.Get(ctx, dave, g.ID); r.Status != store.StatusExpired {
		t.Errorf("status %s", r.Status)
	}
	if sink.events[len(sink.events)-1] != EventExpired {
		t.Errorf("events %v", sink.events)
	}
}

func BenchmarkActiveGrant(b *testing.B) {
	s, _, _ := newService(b, []policy.Rule{{Groups: []string{"dba"}, Connections: []string{"db"},
		Access: []policy.Access{policy.Read}, Effect: policy.Allow}})
	ctx := context.Background()
	if _, err := s.RequestGrant(ctx, dave, "db", policy.Read, time.Hour, "x"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if g, err := s.ActiveGrant(ctx, "dave", "db", policy.Read); err != nil || g == nil {
			b.Fatal(err)
		}
	}
}

// A released reservation is usable again by exactly one identical call;
// only its holder's reservation can be released, and only once.
func TestReleasedApprovalStaysSingleUse(t *testing.T) {
	s, _, sink := newService(t, rules)
	ctx := context.Background()
	h := Hold{Principal: carol, Tool: "query_db", Connection: "db", Access: policy.Write, Digest: "d-rel",
		Arguments: []byte(`{"sql":"UPDATE t SET v = 1"}`), Rule: "write", Spec: rules[1].Grant}
	r, err := s.HoldCall(ctx, h, nil)
	if err != nil || r.Status != store.StatusPending {
		t.Fatalf("hold: %+v %v", r, err)
	}
	if _, err := s.Decide(ctx, dave, r.ID, true, ""); err != nil {
		t.Fatal(err)
	}
	race := func() []*store.Request {
		var wg sync.WaitGroup
		var mu sync.Mutex
		var won []*store.Request
		for range 8 {
			wg.Go(func() {
				got, err := s.HoldCall(ctx, h, nil)
				if err != nil {
					t.Error(err)
					return
				}
				if got.Status == store.StatusUsed && got.ID == r.ID {
					mu.Lock()
					won = append(won, got)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		return won
	}
	won := race()
	if len(won) != 1 {
		t.Fatalf("%d calls hold one approval", len(won))
	}
	if ok, err := s.ReleaseApproval(ctx, won[0], "mal"); ok || err != nil {
		t.Fatalf("another subject released it: %v %v", ok, err)
	}
	if ok, err := s.ReleaseApproval(ctx, won[0], carol.Subject); !ok || err != nil {
		t.Fatalf("release: %v %v", ok, err)
	}
	if ok, _ := s.ReleaseApproval(ctx, won[0], carol.Subject); ok {
		t.Fatal("released twice")
	}
	again := race()
	if len(again) != 1 {
		t.Fatalf("after a release, %d calls hold the approval", len(again))
	}
	if ok, _ := s.ReleaseApproval(ctx, won[0], carol.Subject); ok {
		t.Fatal("a stale reservation released the new holder's")
	}
	if left := race(); len(left) != 0 {
		t.Fatalf("%d calls ran after the approval was used", len(left))
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	n := 0
	for _, e := range sink.events {
		if e == EventApprovalReleased {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d release events, want 1", n)
	}
}
