package server

import (
	"context"
	"testing"
	"time"
)

func TestSessionTable(t *testing.T) {
	var ended []string
	tab := newSessionTable(time.Hour, 2, 3, func(s *mcpSession) { ended = append(ended, s.id) })
	alice, bob := sessionOwner{"iss", "alice"}, sessionOwner{"iss", "bob"}
	other := sessionOwner{"other-iss", "alice"} // same subject, another issuer

	add := func(o sessionOwner) string {
		t.Helper()
		if err := tab.admit(o); err != nil {
			t.Fatal(err)
		}
		id := newSessionID()
		tab.add(id, o, "streamable-http")
		return id
	}
	a1 := add(alice)
	time.Sleep(time.Millisecond)
	a2 := add(alice)
	if _, ok := tab.use(a1, alice); !ok {
		t.Fatal("owner refused")
	}
	for _, o := range []sessionOwner{bob, other} {
		if _, ok := tab.use(a1, o); ok {
			t.Errorf("%v used alice's session", o)
		}
	}
	if _, ok := tab.use("airlock-made-up", alice); ok {
		t.Error("made-up id accepted")
	}
	// A third session of alice ends her least recently used one (a2: a1
	// was used after it).
	a3 := add(alice)
	if len(ended) != 1 || ended[0] != a2 {
		t.Errorf("ended %v, want [%s]", ended, a2)
	}
	if _, ok := tab.use(a2, alice); ok {
		t.Error("evicted session still usable")
	}
	// The gateway-wide bound: 3 sessions open (a1, a3, b1); a fourth
	// owner is refused.
	add(bob)
	if err := tab.admit(sessionOwner{"iss", "carol"}); err != errSessionsFull {
		t.Errorf("admit past the total bound: %v", err)
	}
	// Removing a session cancels its streams.
	s, _ := tab.use(a3, alice)
	ctx, cancel := context.WithCancel(context.Background())
	tab.openStream(s, cancel)
	tab.remove(a3)
	if ctx.Err() == nil {
		t.Error("stream of a removed session still open")
	}
	if tab.len() != 2 {
		t.Errorf("len %d, want 2", tab.len())
	}
}

func TestSessionTableIdle(t *testing.T) {
	var ended int
	tab := newSessionTable(10*time.Millisecond, 5, 100, func(*mcpSession) { ended++ })
	o := sessionOwner{"iss", "alice"}
	id := newSessionID()
	tab.add(id, o, "sse")
	time.Sleep(20 * time.Millisecond)
	if _, ok := tab.use(id, o); ok {
		t.Error("idle session used")
	}
	tab.add(newSessionID(), o, "sse")
	time.Sleep(20 * time.Millisecond)
	tab.sweep()
	if tab.len() != 0 || ended != 2 {
		t.Errorf("after sweep: %d open, %d ended", tab.len(), ended)
	}
}

func BenchmarkSessionUse(b *testing.B) {
	tab := newSessionTable(time.Hour, 16, maxSessions, nil)
	o := sessionOwner{"iss", "alice"}
	id := newSessionID()
	tab.add(id, o, "streamable-http")
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := tab.use(id, o); !ok {
			b.Fatal("refused")
		}
	}
}
