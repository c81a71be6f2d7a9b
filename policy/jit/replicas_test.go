package jit

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/airlockhq/airlock/internal/pgtest"
	"github.com/airlockhq/airlock/policy"
	"github.com/airlockhq/airlock/store"
)

// Two services on one PostgreSQL store, as two replicas: with polling set
// to an hour, only the store's notifications can carry a change from one
// to the other. A grant approved on A is served from B's cache, and its
// revocation on A cancels a call tracked on B and drops B's view, each
// within a second.
func TestNotificationsCarryChangesAcrossReplicas(t *testing.T) {
	dsn := pgtest.Database(t, "pgstore")
	ctx := context.Background()
	open := func() *Service {
		st, err := store.OpenPostgres(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		s := New(st, policy.NewEngine(rules), Config{Wait: 200 * time.Millisecond, TTL: time.Hour, AdminGroups: []string{"admins"}, Poll: time.Hour}, nil)
		run, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); s.Run(run) }()
		t.Cleanup(func() { stop(); <-done })
		for i := 0; ; i++ { // until its listener is connected
			if _, live := st.Changes(); live {
				break
			}
			if i > 400 {
				t.Fatal("listener never connected")
			}
			time.Sleep(25 * time.Millisecond)
		}
		return s
	}
	a, b := open(), open()

	r, err := a.RequestGrant(ctx, carol, "db", policy.Read, time.Hour, "why")
	if err != nil {
		t.Fatal(err)
	}
	if g, err := b.CachedActiveGrant(ctx, "carol", "db", policy.Read); err != nil || g != nil {
		t.Fatalf("before approval B serves %+v %v", g, err)
	}
	if _, err := a.Decide(ctx, dave, r.ID, true, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Decide(ctx, erin, r.ID, true, ""); err != nil {
		t.Fatal(err)
	}
	approved := time.Now()
	for b.mustGrant(t, ctx) == nil {
		if time.Since(approved) > time.Second {
			t.Fatal("B still serves no grant a second after the approval on A")
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("approval on A served by B's cache after %v", time.Since(approved))

	call, untrack := b.Track(ctx, r.ID)
	defer untrack()
	if _, err := a.Revoke(ctx, carol, r.ID, "done"); err != nil {
		t.Fatal(err)
	}
	revoked := time.Now()
	select {
	case <-call.Done():
	case <-time.After(time.Second):
		t.Fatal("a call tracked on B outlived the revocation on A by a second")
	}
	if !errors.Is(context.Cause(call), ErrRevoked) {
		t.Fatalf("cause %v", context.Cause(call))
	}
	t.Logf("revocation on A cancelled B's call after %v", time.Since(revoked))
	if g := b.mustGrant(t, ctx); g != nil {
		t.Fatalf("B serves the revoked grant: %+v", g)
	}
}

func (s *Service) mustGrant(t *testing.T, ctx context.Context) *store.Request {
	t.Helper()
	g, err := s.CachedActiveGrant(ctx, "carol", "db", policy.Read)
	if err != nil {
		t.Fatal(err)
	}
	return g
}
