package recorder

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/airlockhq/airlock/identity"
	"github.com/airlockhq/airlock/store"
)

// fakeClock advances by step on every call.
type fakeClock struct {
	t    time.Time
	step time.Duration
}

func (c *fakeClock) now() time.Time { c.t = c.t.Add(c.step); return c.t }

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// testKey is a fixed checkpoint key so test output is stable.
func testKey() ed25519.PrivateKey { return ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)) }

type testJournal struct {
	st    *store.SQLite
	rec   *Recorder
	clock *fakeClock
	key   ed25519.PrivateKey
}

func newTestJournal(t testing.TB) *testJournal {
	t.Helper()
	st, err := store.OpenSQLite(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "airlock.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clock := &fakeClock{t: t0, step: time.Second}
	return &testJournal{st: st, clock: clock, key: testKey(), rec: New(st, WithClock(clock.now))}
}

// calls journals n complete calls by alice.
func (j *testJournal) calls(t testing.TB, n int) {
	t.Helper()
	for i := range n {
		rec := &Record{CallID: NewCallID(), Tool: "query_db", Transport: "stdio",
			Principal: &identity.Principal{Subject: "alice", Groups: []string{"analysts"}, Issuer: "test"},
			Arguments: json.RawMessage(fmt.Sprintf(`{"connection":"demo","sql":"SELECT %d"}`, i))}
		if err := j.rec.Begin(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
		rec.Connection, rec.Access, rec.Decision, rec.Rule, rec.Outcome = "demo", "read", "allow", "r", OutcomeOK
		rec.Result = json.RawMessage(fmt.Sprintf(`{"rows":[[%d]]}`, i))
		if err := j.rec.Finish(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
	}
}

func (j *testJournal) checkpoint(t testing.TB) *Checkpoint {
	t.Helper()
	c, err := MakeCheckpoint(context.Background(), j.st, j.key, j.clock.now())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (j *testJournal) verify(t testing.TB, extra ...*Checkpoint) *Report {
	t.Helper()
	cps, err := StoredCheckpoints(context.Background(), j.st)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Verify(context.Background(), j.st, VerifyOptions{Checkpoints: append(cps, extra...), Key: j.key.Public().(ed25519.PublicKey)})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// raw opens the store's SQLite file directly, as an attacker would.
func (j *testJournal) raw(t testing.TB) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+j.st.Path()+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// sliceReader serves entries from memory, as a store would: by seq.
type sliceReader []store.Entry

func (s sliceReader) JournalAfter(_ context.Context, after int64, limit int) ([]store.Entry, error) {
	i := sort.Search(len(s), func(i int) bool { return s[i].Seq > after })
	return s[i:min(len(s), i+limit)], nil
}

// memChain builds a valid chain of n entries in memory.
func memChain(n int) []store.Entry {
	out := make([]store.Entry, n)
	prev := store.GenesisHash
	for i := range out {
		e := &out[i]
		e.Seq, e.CallID, e.Type, e.Time = int64(i+1), fmt.Sprintf("call-%d", i/2), []string{Started, Finished}[i%2], t0.Add(time.Duration(i)*time.Second)
		e.Data = fmt.Appendf(nil, `{"call_id":%q,"type":%q,"tool":"query_db"}`, e.CallID, e.Type)
		e.PrevHash = prev
		e.Hash = store.ChainHash(e)
		prev = e.Hash
	}
	return out
}
