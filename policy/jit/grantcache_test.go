package jit

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airlockhq/airlock/policy"
	"github.com/airlockhq/airlock/store"
)

// countingStore counts grant lookups that reach the store. Embedding
// *store.SQLite keeps its Path, and so the signal file.
type countingStore struct {
	*store.SQLite
	lists atomic.Int64
}

func (c *countingStore) ListRequests(ctx context.Context, f store.RequestFilter) ([]*store.Request, error) {
	c.lists.Add(1)
	return c.SQLite.ListRequests(ctx, f)
}

// noPath hides the store's path: no signal file, the TTL alone.
type noPath struct{ Store }

var dbaRead = []policy.Rule{{Groups: []string{"dba"}, Connections: []string{"db"}, Access: []policy.Access{policy.Read}, Effect: policy.Allow}}

// twoServices are two gateways' JIT services on one store file, each with
// its own connection, as two processes have.
func twoServices(t *testing.T) (a, b *Service, ca *countingStore) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "s.db")
	open := func() *store.SQLite {
		st, err := store.OpenSQLite(context.Background(), "sqlite:"+path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	eng := policy.NewEngine(dbaRead)
	cfg := Config{Wait: 200 * time.Millisecond, TTL: time.Hour, AdminGroups: []string{"admins"}}
	ca = &countingStore{SQLite: open()}
	return New(ca, eng, cfg, nil), New(open(), eng, cfg, nil), ca
}

func mustGrant(t *testing.T, s *Service, want bool) *store.Request {
	t.Helper()
	g, err := s.CachedActiveGrant(context.Background(), "dave", "db", policy.Read)
	if err != nil {
		t.Fatal(err)
	}
	if (g != nil) != want {
		t.Fatalf("grant = %+v, want present=%v", g, want)
	}
	return g
}

// Repeated lookups are answered from memory; a revocation in this process
// stops the next one at once.
func TestGrantCacheLocalRevoke(t *testing.T) {
	a, _, ca := twoServices(t)
	ctx := context.Background()
	g, err := a.RequestGrant(ctx, dave, "db", policy.Read, time.Hour, "x")
	if err != nil {
		t.Fatal(err)
	}
	mustGrant(t, a, true)
	before := ca.lists.Load()
	for range 10 {
		if got := mustGrant(t, a, true); got.ID != g.ID {
			t.Fatalf("grant %s, want %s", got.ID, g.ID)
		}
	}
	if n := ca.lists.Load() - before; n != 0 {
		t.Errorf("%d store reads for 10 cached lookups", n)
	}
	if _, err := a.Revoke(ctx, dave, g.ID, ""); err != nil {
		t.Fatal(err)
	}
	mustGrant(t, a, false)
}

// An approval in this process is seen by the next lookup, even when the
// view remembered that there was no grant.
func TestGrantCacheLocalApprove(t *testing.T) {
	s, _, _ := newService(t, rules) // read needs two dba approvals
	ctx := context.Background()
	r, err := s.RequestGrant(ctx, carol, "db", policy.Read, time.Hour, "why")
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if g, _ := s.CachedActiveGrant(ctx, "carol", "db", policy.Read); g != nil {
			t.Fatal("pending request used as a grant")
		}
	}
	if _, err := s.Decide(ctx, dave, r.ID, true, ""); err != nil {
		t.Fatal(err)
	}
	if g, _ := s.CachedActiveGrant(ctx, "carol", "db", policy.Read); g != nil {
		t.Fatal("one of two approvals made a grant")
	}
	if _, err := s.Decide(ctx, erin, r.ID, true, ""); err != nil {
		t.Fatal(err)
	}
	if g, _ := s.CachedActiveGrant(ctx, "carol", "db", policy.Read); g == nil || g.ID != r.ID {
		t.Fatalf("approved grant not seen: %+v", g)
	}
}

// Another process's revocation stops this process's next call: the
// revoking process signals through the file beside the store.
func TestGrantCacheRevokedByAnotherProcess(t *testing.T) {
	a, b, _ := twoServices(t)
	ctx := context.Background()
	g, err := a.RequestGrant(ctx, dave, "db", policy.Read, time.Hour, "x")
	if err != nil {
		t.Fatal(err)
	}
	mustGrant(t, a, true)
	mustGrant(t, b, true)
	if _, err := b.Revoke(ctx, dave, g.ID, ""); err != nil {
		t.Fatal(err)
	}
	mustGrant(t, a, false)
	// And a grant issued there is seen here at once too.
	if _, err := b.RequestGrant(ctx, dave, "db", policy.Read, time.Hour, "again"); err != nil {
		t.Fatal(err)
	}
	mustGrant(t, a, true)
}

// Without a signal (a store without a file, or a writer that does not
// signal) a view is trusted for grantViewTTL at most: a revocation
// elsewhere is seen within a second.
func TestGrantCacheTTLWithoutSignal(t *testing.T) {
	a0, b, _ := twoServices(t)
	a := New(noPath{a0.st}, a0.eng, a0.cfg, nil)
	ctx := context.Background()
	g, err := a.RequestGrant(ctx, dave, "db", policy.Read, time.Hour, "x")
	if err != nil {
		t.Fatal(err)
	}
	mustGrant(t, a, true)
	if _, err := b.Revoke(ctx, dave, g.ID, ""); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	a.now = func() time.Time { return start.Add(grantViewTTL) }
	mustGrant(t, a, false)
	if grantViewTTL > time.Second {
		t.Fatalf("grantViewTTL %v: revocations elsewhere must be seen within a second", grantViewTTL)
	}
}

// Expiry is checked on every lookup, whatever the view holds: a view
// filled just before the grant's end does not outlive it.
func TestGrantCacheExpiry(t *testing.T) {
	a, _, ca := twoServices(t)
	ctx := context.Background()
	g, err := a.RequestGrant(ctx, dave, "db", policy.Read, time.Minute, "x")
	if err != nil {
		t.Fatal(err)
	}
	a.now = func() time.Time { return g.ExpiresAt.Add(-grantViewTTL / 5) }
	mustGrant(t, a, true)
	before := ca.lists.Load()
	a.now = func() time.Time { return g.ExpiresAt }
	mustGrant(t, a, false)
	if ca.lists.Load() != before {
		t.Error("the view was refilled: this test no longer checks expiry from memory")
	}
}

// A lookup that started before a local change and finishes after it does
// not put its stale answer back.
func TestGrantCacheFillRace(t *testing.T) {
	a, _, _ := twoServices(t)
	ctx := context.Background()
	g, err := a.RequestGrant(ctx, dave, "db", policy.Read, time.Hour, "x")
	if err != nil {
		t.Fatal(err)
	}
	c := &a.grants
	c.init(a.st)
	c.mu.Lock()
	gen := c.gen
	c.mu.Unlock()
	if _, err := a.Revoke(ctx, dave, g.ID, ""); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	stale := c.gen == gen
	c.mu.Unlock()
	if stale {
		t.Fatal("a revocation did not move the generation: a lookup in flight could store its stale answer")
	}
	mustGrant(t, a, false)
}

func BenchmarkCachedActiveGrant(b *testing.B) {
	s, _, _ := newService(b, dbaRead)
	ctx := context.Background()
	if _, err := s.RequestGrant(ctx, dave, "db", policy.Read, time.Hour, "x"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if g, err := s.CachedActiveGrant(ctx, "dave", "db", policy.Read); err != nil || g == nil {
			b.Fatal(err)
		}
	}
}
