package recorder

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// Each kind of damage below (and above) the last checkpoint stops the
// next checkpoint, which the incremental check finds cheaply.
func TestMakeCheckpointRefusesABrokenJournal(t *testing.T) {
	cases := []struct {
		name, sql, want string
	}{
		{"deleted below the checkpoint", `DELETE FROM journal WHERE seq = 3`, "were deleted"},
		{"first records deleted", `DELETE FROM journal WHERE seq < 3`, "no checkpoint anchors it"},
		{"tail cut below the checkpoint", `DELETE FROM journal WHERE seq > 6`, "truncated"},
		{"deleted after the checkpoint", `DELETE FROM journal WHERE seq = 12`, "missing"},
		{"edited after the checkpoint", `UPDATE journal SET data = replace(data, 'alice', 'mallory') WHERE seq = 12`, "altered"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			j := newTestJournal(t)
			j.calls(t, 5)
			j.checkpoint(t) // seq 10
			j.calls(t, 3)
			if _, err := j.raw(t).Exec(tc.sql); err != nil {
				t.Fatal(err)
			}
			_, err := MakeCheckpoint(context.Background(), j.st, j.key, j.clock.now())
			var ie *IntegrityError
			if !errors.As(err, &ie) || !errors.Is(err, ErrIntegrity) || !strings.Contains(err.Error(), tc.want) ||
				!strings.Contains(err.Error(), "airlock journal acknowledge") {
				t.Fatalf("got %v", err)
			}
		})
	}
}

// An acknowledgement signed with the checkpoint key turns the findings
// into acknowledged ones and lets checkpoints be signed again; a forged
// one (wrong key) changes nothing.
func TestAcknowledgeKnownDamage(t *testing.T) {
	j := newTestJournal(t)
	ctx := context.Background()
	j.calls(t, 5)
	j.checkpoint(t)
	j.calls(t, 2)
	if _, err := j.raw(t).Exec(`DELETE FROM journal WHERE seq = 4`); err != nil {
		t.Fatal(err)
	}
	// A forgery, signed by another key, is not honoured.
	other := ed25519.NewKeyFromSeed(make([]byte, 32))
	other[0] ^= 1
	other = ed25519.NewKeyFromSeed(other[:32])
	Acknowledge(ctx, j.st, j.rec, other, "forged", "mallory", j.clock.now())
	if rep := j.verify(t); rep.OK() || len(rep.Acknowledged) != 0 {
		t.Fatalf("after the forgery: %+v", rep)
	}
	if _, _, err := Acknowledge(ctx, j.st, j.rec, j.key, "", "ops", j.clock.now()); err == nil {
		t.Fatal("an acknowledgement without a reason")
	}
	rep, c, err := Acknowledge(ctx, j.st, j.rec, j.key, "INC-1: seq 4 lost", "ops", j.clock.now())
	if err != nil || c == nil || c.Holes != 1 {
		t.Fatalf("acknowledge: %v %+v", err, c)
	}
	if len(rep.Findings) == 0 {
		t.Fatal("nothing acknowledged")
	}
	got := j.verify(t)
	if !got.OK() || len(got.Acknowledged) == 0 {
		t.Fatalf("verify after the acknowledgement: %+v", got)
	}
	j.calls(t, 2)
	if _, err := MakeCheckpoint(ctx, j.st, j.key, j.clock.now()); err != nil {
		t.Fatalf("checkpoint after the acknowledgement: %v", err)
	}
	// A new deletion is not covered by the old acknowledgement.
	if _, err := j.raw(t).Exec(`DELETE FROM journal WHERE seq = 6`); err != nil {
		t.Fatal(err)
	}
	if _, err := MakeCheckpoint(ctx, j.st, j.key, j.clock.now()); !errors.Is(err, ErrIntegrity) {
		t.Fatalf("a new deletion: %v", err)
	}
	if _, _, err := Acknowledge(ctx, j.st, j.rec, j.key, "again", "ops", j.clock.now()); err != nil {
		t.Fatal(err)
	}
	if rep := j.verify(t); !rep.OK() {
		t.Fatalf("%+v", rep)
	}
}

// The service latches a failure found while running: it keeps refusing
// on every round, exposes the status, and resumes after an acknowledgement
// made after the failure.
func TestServiceLatchesIntegrityFailure(t *testing.T) {
	j := newTestJournal(t)
	ctx := context.Background()
	s, err := Start(ctx, j.st, Options{KeyFile: t.TempDir() + "/cp.key", CheckpointInterval: 3600e9})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	j.rec = s.Recorder()
	j.key = s.key
	j.calls(t, 4)
	if _, err := s.checkpointIfMoved(ctx, "test"); err != nil {
		t.Fatal(err)
	}
	j.calls(t, 1)
	if _, err := j.raw(t).Exec(`DELETE FROM journal WHERE seq = 2`); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := s.checkpointIfMoved(ctx, "test"); !errors.Is(err, ErrIntegrity) {
			t.Fatalf("signed over a broken journal: %v", err)
		}
	}
	st := s.Integrity()
	if st.OK || st.Problems == 0 || !strings.Contains(st.Problem, "deleted") || !strings.Contains(st.Action, "acknowledge") {
		t.Fatalf("status: %+v", st)
	}
	b, _ := json.Marshal(st)
	if !strings.Contains(string(b), `"ok":false`) {
		t.Errorf("status JSON: %s", b)
	}
	if _, _, err := Acknowledge(ctx, j.st, New(j.st), s.key, "INC-2", "ops", j.clock.now()); err != nil {
		t.Fatal(err)
	}
	j.calls(t, 1)
	if c, err := s.checkpointIfMoved(ctx, "test"); err != nil || c == nil {
		t.Fatalf("after the acknowledgement: %v", err)
	}
	if !s.Integrity().OK {
		t.Errorf("status after the acknowledgement: %+v", s.Integrity())
	}
}
