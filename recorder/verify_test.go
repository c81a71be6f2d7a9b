package recorder

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/store"
)

type want struct {
	seq  int64
	kind string
}

func findings(rep *Report) []want {
	var out []want
	for _, f := range rep.Findings {
		out = append(out, want{f.Seq, f.Kind})
	}
	return out
}

func exec(t *testing.T, db *sql.DB, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

func rowAt(t *testing.T, db *sql.DB, seq int64) store.Entry {
	t.Helper()
	var e store.Entry
	var ts string
	if err := db.QueryRow(`SELECT seq, call_id, type, time, data, prev_hash, hash FROM journal WHERE seq = ?`, seq).
		Scan(&e.Seq, &e.CallID, &e.Type, &ts, &e.Data, &e.PrevHash, &e.Hash); err != nil {
		t.Fatal(err)
	}
	e.Time, _ = time.Parse(time.RFC3339Nano, ts)
	return e
}

// Tampering with the SQLite file directly is caught, at the right place.
// The journal: 10 calls (seq 1..20), a checkpoint at 20.
func TestVerifyCatchesTampering(t *testing.T) {
	cases := []struct {
		name   string
		tamper func(t *testing.T, j *testJournal, db *sql.DB)
		want   []want
	}{
		{"untouched", func(*testing.T, *testJournal, *sql.DB) {}, nil},
		{"edit a field", func(t *testing.T, _ *testJournal, db *sql.DB) {
			exec(t, db, `UPDATE journal SET data = replace(data, '"alice"', '"mallory"') WHERE seq = 7`)
		}, []want{{7, FindingAltered}}},
		{"edit the call_id column", func(t *testing.T, _ *testJournal, db *sql.DB) {
			exec(t, db, `UPDATE journal SET call_id = 'other' WHERE seq = 4`)
		}, []want{{4, FindingAltered}}},
		{"edit the time column", func(t *testing.T, _ *testJournal, db *sql.DB) {
			exec(t, db, `UPDATE journal SET time = '2020-01-01T00:00:00.000000000Z' WHERE seq = 3`)
		}, []want{{3, FindingAltered}}},
		{"edit and recompute the hash", func(t *testing.T, _ *testJournal, db *sql.DB) {
			e := rowAt(t, db, 9)
			e.Data = bytes.ReplaceAll(e.Data, []byte(`SELECT 4`), []byte(`SELECT 5`))
			e.Hash = store.ChainHash(&e)
			if _, err := db.Exec(`UPDATE journal SET data = ?, hash = ? WHERE seq = 9`, e.Data, e.Hash); err != nil {
				t.Fatal(err)
			}
		}, []want{{10, FindingChain}}},
		{"delete a row", func(t *testing.T, _ *testJournal, db *sql.DB) {
			exec(t, db, `DELETE FROM journal WHERE seq = 5`)
		}, []want{{5, FindingMissing}}},
		{"delete rows and renumber", func(t *testing.T, _ *testJournal, db *sql.DB) {
			exec(t, db, `DELETE FROM journal WHERE seq IN (5, 6)`,
				`UPDATE journal SET seq = -seq WHERE seq > 6`, `UPDATE journal SET seq = -seq - 2 WHERE seq < 0`)
		}, []want{{5, FindingMissing}, {19, FindingTruncated}}},
		{"swap two rows", func(t *testing.T, _ *testJournal, db *sql.DB) {
			exec(t, db, `UPDATE journal SET seq = -1 WHERE seq = 5`, `UPDATE journal SET seq = 5 WHERE seq = 6`, `UPDATE journal SET seq = 6 WHERE seq = -1`)
		}, []want{{5, FindingReordered}}},
		{"swap distant rows", func(t *testing.T, _ *testJournal, db *sql.DB) {
			exec(t, db, `UPDATE journal SET seq = -1 WHERE seq = 3`, `UPDATE journal SET seq = 3 WHERE seq = 8`, `UPDATE journal SET seq = 8 WHERE seq = -1`)
		}, []want{{3, FindingReordered}, {8, FindingReordered}}},
		{"insert a row and renumber", func(t *testing.T, j *testJournal, db *sql.DB) {
			prev := rowAt(t, db, 9)
			exec(t, db, `UPDATE journal SET seq = -seq WHERE seq >= 10`, `UPDATE journal SET seq = -seq + 1 WHERE seq < 0`)
			forged := store.Entry{Seq: 10, CallID: "forged", Type: Finished, Time: prev.Time.Add(time.Millisecond),
				Data: []byte(`{"call_id":"forged","type":"finished","tool":"query_db","outcome":"ok"}`), PrevHash: prev.Hash}
			forged.Hash = store.ChainHash(&forged)
			if _, err := db.Exec(`INSERT INTO journal(seq, call_id, type, time, data, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?)`,
				forged.Seq, forged.CallID, forged.Type, forged.Time.Format(time.RFC3339Nano), forged.Data, forged.PrevHash, forged.Hash); err != nil {
				t.Fatal(err)
			}
		}, []want{{10, FindingInserted}}},
		{"append a forged row", func(t *testing.T, _ *testJournal, db *sql.DB) {
			exec(t, db, `INSERT INTO journal(seq, call_id, type, time, data, prev_hash, hash) VALUES (21, 'x', 'finished', '2026-03-01T10:00:00.000000000Z', '{}', 'bogus', 'bogus')`)
		}, []want{{21, FindingAltered}}},
		{"drop the tail", func(t *testing.T, _ *testJournal, db *sql.DB) {
			exec(t, db, `DELETE FROM journal WHERE seq > 15`)
		}, []want{{16, FindingTruncated}}},
		{"drop the head", func(t *testing.T, _ *testJournal, db *sql.DB) {
			exec(t, db, `DELETE FROM journal WHERE seq < 4`)
		}, []want{{1, FindingMissing}}},
		{"drop the head up to a checkpoint", func(t *testing.T, j *testJournal, db *sql.DB) {
			// Looks like retention, but no pruned record accounts for it.
			exec(t, db, `DELETE FROM journal WHERE seq < 20`)
		}, []want{{1, FindingMissing}}},
		{"forge a checkpoint", func(t *testing.T, j *testJournal, db *sql.DB) {
			_, other, _ := ed25519.GenerateKey(nil)
			c := SignCheckpoint(other, 20, strings.Repeat("a", 64), t0)
			exec(t, db, fmt.Sprintf(`INSERT INTO journal_checkpoints(seq, time, data) VALUES (20, '', '%s')`, c.Marshal()))
		}, []want{{20, FindingCheckpoint}}},
		{"rewrite the whole chain", func(t *testing.T, _ *testJournal, db *sql.DB) {
			// A careful forger recomputes every hash after an edit: only the
			// signed checkpoint catches it.
			prev := rowAt(t, db, 11).PrevHash
			for seq := int64(11); seq <= 20; seq++ {
				e := rowAt(t, db, seq)
				if seq == 11 {
					e.Data = bytes.ReplaceAll(e.Data, []byte("alice"), []byte("bob"))
				}
				e.PrevHash = prev
				e.Hash = store.ChainHash(&e)
				prev = e.Hash
				if _, err := db.Exec(`UPDATE journal SET data = ?, prev_hash = ?, hash = ? WHERE seq = ?`, e.Data, e.PrevHash, e.Hash, seq); err != nil {
					t.Fatal(err)
				}
			}
		}, []want{{20, FindingCheckpoint}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			j := newTestJournal(t)
			j.calls(t, 10)
			j.checkpoint(t)
			tc.tamper(t, j, j.raw(t))
			rep := j.verify(t)
			if got := findings(rep); !slices.Equal(got, tc.want) {
				t.Errorf("findings %v, want %v", got, tc.want)
				for _, f := range rep.Findings {
					t.Log(f)
				}
			}
		})
	}
}

// Cutting the tail together with the stored checkpoints is caught by the
// copy the auditor kept (checkpoint --append-to).
func TestVerifyExternalCheckpointCatchesTruncation(t *testing.T) {
	j := newTestJournal(t)
	j.calls(t, 5)
	kept := j.checkpoint(t)
	db := j.raw(t)
	exec(t, db, `DELETE FROM journal WHERE seq > 6`, `DELETE FROM journal_checkpoints`)
	if rep := j.verify(t); !rep.OK() {
		t.Fatalf("without the auditor's copy: %v", rep.Findings)
	}
	var file bytes.Buffer
	file.Write(append(kept.Marshal(), '\n'))
	cps, err := ReadCheckpoints(&file)
	if err != nil {
		t.Fatal(err)
	}
	if got := findings(j.verify(t, cps...)); !slices.Equal(got, []want{{7, FindingTruncated}}) {
		t.Fatalf("findings %v", got)
	}
}

// Retention prunes behind a checkpoint; the rest still verifies, and the
// pruned record says what went.
func TestVerifyAfterPruning(t *testing.T) {
	j := newTestJournal(t)
	j.calls(t, 10) // seq 1..20, times t0+1s..
	old := j.checkpoint(t)
	j.clock.t = j.clock.t.Add(100 * 24 * time.Hour)
	j.calls(t, 5) // seq 21..30
	j.checkpoint(t)
	n, err := Prune(context.Background(), j.st, j.rec, j.key, 90*24*time.Hour, j.clock.t)
	if err != nil {
		t.Fatal(err)
	}
	if n != old.Seq-1 {
		t.Fatalf("pruned %d records, want %d", n, old.Seq-1)
	}
	rep := j.verify(t)
	if !rep.OK() || rep.First != old.Seq || rep.PrunedBefore != old.Seq {
		t.Fatalf("after pruning: first %d, pruned before %d, findings %v", rep.First, rep.PrunedBefore, rep.Findings)
	}
	// Nothing more to prune, and new records chain on.
	if n, err := Prune(context.Background(), j.st, j.rec, j.key, 90*24*time.Hour, j.clock.t); err != nil || n != 0 {
		t.Fatalf("second prune: %d %v", n, err)
	}
	j.calls(t, 2)
	j.checkpoint(t)
	if rep := j.verify(t); !rep.OK() {
		t.Fatalf("after more calls: %v", rep.Findings)
	}
	// Deleting the anchor record after pruning is still caught.
	exec(t, j.raw(t), fmt.Sprintf(`DELETE FROM journal WHERE seq = %d`, old.Seq))
	if got := findings(j.verify(t)); len(got) == 0 || got[0].kind != FindingMissing {
		t.Fatalf("anchor deleted: %v", got)
	}
}

// Retention never deletes evidence: records that fail verification stay.
func TestPruneRefusesTamperedRecords(t *testing.T) {
	j := newTestJournal(t)
	j.calls(t, 5)
	j.checkpoint(t)
	exec(t, j.raw(t), `UPDATE journal SET data = replace(data, 'alice', 'eve') WHERE seq = 2`)
	_, err := Prune(context.Background(), j.st, j.rec, j.key, time.Hour, j.clock.t.Add(48*time.Hour))
	if err == nil || !strings.Contains(err.Error(), "seq 2") {
		t.Fatalf("prune of a tampered journal: %v", err)
	}
	if rep := j.verify(t); rep.First != 1 {
		t.Fatalf("records were pruned: first %d", rep.First)
	}
}

// A checkpoint never signs over tampering since the previous one.
func TestCheckpointRefusesTamperedJournal(t *testing.T) {
	j := newTestJournal(t)
	j.calls(t, 3)
	j.checkpoint(t)
	j.calls(t, 3)
	exec(t, j.raw(t), `UPDATE journal SET data = replace(data, 'alice', 'eve') WHERE seq = 9`)
	if _, err := MakeCheckpoint(context.Background(), j.st, j.key, j.clock.now()); err == nil || !strings.Contains(err.Error(), "seq 9") {
		t.Fatalf("checkpoint over tampering: %v", err)
	}
}

// FuzzVerify applies SQL-level tampering chosen by the fuzzer to a valid,
// checkpointed chain: the verifier must report something exactly when the
// journal differs from the original, and must not panic.
func FuzzVerify(f *testing.F) {
	f.Add([]byte{0, 3, 1})
	f.Add([]byte{1, 5})
	f.Add([]byte{2, 4, 5})
	f.Add([]byte{3, 7})
	f.Add([]byte{4, 2, 0})
	f.Add([]byte{5, 9, 1, 2, 3})
	key := testKey()
	f.Fuzz(func(t *testing.T, ops []byte) {
		const n = 24
		orig := memChain(n)
		cp := SignCheckpoint(key, n, orig[n-1].Hash, t0)
		rows := slices.Clone(orig)
		for i := range rows {
			rows[i].Data = slices.Clone(rows[i].Data)
		}
		for len(ops) >= 2 && len(rows) > 0 {
			op, a := ops[0]%6, int(ops[1])%len(rows)
			b := a
			if len(ops) >= 3 {
				b = int(ops[2]) % len(rows)
			}
			ops = ops[2:]
			switch op {
			case 0: // edit a byte of the data
				if len(rows[a].Data) > 0 {
					rows[a].Data[b%len(rows[a].Data)] ^= 1 + byte(b)
				}
			case 1: // delete a row
				rows = slices.Delete(rows, a, a+1)
			case 2: // swap seq numbers
				rows[a].Seq, rows[b].Seq = rows[b].Seq, rows[a].Seq
			case 3: // truncate
				rows = rows[:a]
			case 4: // rewrite the hash column
				rows[a].Hash = store.ChainHash(&rows[a])
			case 5: // renumber from a on
				for i := a; i < len(rows); i++ {
					rows[i].Seq += int64(b%3) - 1
				}
			}
		}
		slices.SortStableFunc(rows, func(x, y store.Entry) int { return int(x.Seq - y.Seq) })
		// Two rows with one seq cannot exist in SQLite (primary key).
		for i := 1; i < len(rows); i++ {
			if rows[i].Seq == rows[i-1].Seq {
				return
			}
		}
		same := len(rows) == len(orig)
		for i := 0; same && i < len(rows); i++ {
			a, b := rows[i], orig[i]
			same = a.Seq == b.Seq && a.Hash == b.Hash && a.PrevHash == b.PrevHash && bytes.Equal(a.Data, b.Data)
		}
		rep, err := Verify(context.Background(), sliceReader(rows), VerifyOptions{Checkpoints: []*Checkpoint{cp}, Key: key.Public().(ed25519.PublicKey)})
		if err != nil {
			t.Fatal(err)
		}
		if same != rep.OK() {
			t.Fatalf("journal unchanged=%v but findings %v", same, rep.Findings)
		}
	})
}

// BenchmarkVerify is verification throughput over an in-memory chain.
func BenchmarkVerify(b *testing.B) {
	rows := memChain(10000)
	key := testKey()
	cp := SignCheckpoint(key, 10000, rows[len(rows)-1].Hash, t0)
	o := VerifyOptions{Checkpoints: []*Checkpoint{cp}, Key: key.Public().(ed25519.PublicKey)}
	b.ReportAllocs()
	for b.Loop() {
		rep, err := Verify(context.Background(), sliceReader(rows), o)
		if err != nil || !rep.OK() {
			b.Fatal(err, rep.Findings)
		}
	}
	b.ReportMetric(float64(b.N*len(rows))/b.Elapsed().Seconds(), "records/s")
}
