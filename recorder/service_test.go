package recorder

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/airlockhq/airlock/identity"
)

func openCalls(t *testing.T, j *testJournal) map[string]*Record {
	t.Helper()
	out := map[string]*Record{}
	err := Items(context.Background(), j.st, 0, func(it *Item) error {
		if it.Started != nil && it.Finished == nil {
			out[it.Started.CallID] = it.Started
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func finishedOf(t *testing.T, j *testJournal, callID string) []*Record {
	t.Helper()
	var out []*Record
	Scan(context.Background(), j.st, 0, func(r *Record) error {
		if r.CallID == callID && r.Type == Finished {
			out = append(out, r)
		}
		return nil
	})
	return out
}

// A call left started by a dead gateway gets an "unknown" finished record
// at the next start, once; calls of a live gateway are left alone.
func TestStartRecoversDeadInstancesCalls(t *testing.T) {
	j := newTestJournal(t)
	ctx := context.Background()
	live, err := j.st.AcquireInstance()
	if err != nil {
		t.Fatal(err)
	}
	defer live.Release()
	dead, err := j.st.AcquireInstance()
	if err != nil {
		t.Fatal(err)
	}
	dead.Release() // as the kernel does when a process dies
	p := &identity.Principal{Subject: "alice"}
	deadRec := &Record{CallID: "dead-call", Tool: "query_db", Principal: p, Session: "s1", Arguments: json.RawMessage(`{"sql":"DELETE FROM t"}`)}
	if err := New(j.st, WithInstance(dead.ID)).Begin(ctx, deadRec); err != nil {
		t.Fatal(err)
	}
	liveRec := &Record{CallID: "live-call", Tool: "query_db", Principal: p}
	if err := New(j.st, WithInstance(live.ID)).Begin(ctx, liveRec); err != nil {
		t.Fatal(err)
	}
	legacy := &Record{CallID: "legacy-call", Tool: "query_db", Principal: p} // no instance: an older gateway
	if err := New(j.st).Begin(ctx, legacy); err != nil {
		t.Fatal(err)
	}
	o := Options{KeyFile: filepath.Join(t.TempDir(), "cp.key"), CheckpointInterval: time.Hour}
	s, err := Start(ctx, j.st, o)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"dead-call", "legacy-call"} {
		fin := finishedOf(t, j, id)
		if len(fin) != 1 || fin[0].Outcome != OutcomeUnknown || fin[0].Instance != s.Instance() {
			t.Fatalf("%s: finished records %+v", id, fin)
		}
	}
	if fin := finishedOf(t, j, "dead-call"); fin[0].Session != "s1" || string(fin[0].Arguments) != `{"sql":"DELETE FROM t"}` || fin[0].Principal.Subject != "alice" {
		t.Errorf("unknown record does not describe the call: %+v", fin[0])
	}
	if open := openCalls(t, j); len(open) != 1 || open["live-call"] == nil {
		t.Fatalf("open calls after recovery: %v", open)
	}
	// A second start (or tick) adds nothing.
	if n, err := s.Recover(ctx); err != nil || n != 0 {
		t.Fatalf("second recovery: %d %v", n, err)
	}
	// The live gateway dies: the next round closes its call too.
	live.Release()
	if n, err := s.Recover(ctx); err != nil || n != 1 {
		t.Fatalf("recovery after the peer died: %d %v", n, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Close anchored the head with a checkpoint; everything verifies.
	cps, _ := StoredCheckpoints(ctx, j.st)
	key, _ := LoadKey(o.KeyFile)
	if len(cps) != 1 || cps[0].Verify(key.Public().(ed25519PublicKey)) != nil {
		t.Fatalf("checkpoints after close: %v", cps)
	}
	if rep, _ := Verify(ctx, j.st, VerifyOptions{Checkpoints: cps, Key: key.Public().(ed25519PublicKey)}); !rep.OK() {
		t.Fatal(rep.Findings)
	}
}

// The background loop checkpoints a moving head and applies retention.
func TestServiceTick(t *testing.T) {
	j := newTestJournal(t)
	ctx := context.Background()
	j.calls(t, 3)
	s, err := Start(ctx, j.st, Options{KeyFile: filepath.Join(t.TempDir(), "cp.key"), CheckpointInterval: time.Hour, Retention: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Tick(ctx)
	cps, _ := StoredCheckpoints(ctx, j.st)
	if len(cps) != 1 || cps[0].Seq != 6 {
		t.Fatalf("checkpoints %v", cps)
	}
	s.Tick(ctx) // head unchanged: no new checkpoint
	if cps, _ = StoredCheckpoints(ctx, j.st); len(cps) != 1 {
		t.Fatalf("checkpoint without new records: %d", len(cps))
	}
}
