package recorder

import (
	"context"
	"encoding/json"
	"errors"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/airlockhq/airlock/identity"
	"github.com/airlockhq/airlock/store"
)

// captureJournal keeps the last entry; failing fails every append.
type captureJournal struct {
	mu      sync.Mutex
	last    []byte
	failing error
}

func (c *captureJournal) AppendJournal(_ context.Context, e *store.Entry) (int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.failing != nil {
		return 0, c.failing
	}
	c.last = e.Data
	return 1, nil
}

func TestRecordCap(t *testing.T) {
	const capBytes = 4096
	big := `"` + strings.Repeat("é", 5000) + `"` // 10 KB of two-byte runes
	cases := []struct {
		name       string
		rec        Record
		truncated  []string // fields replaced by the marker
		errorShort bool
	}{
		{"fits", Record{Result: json.RawMessage(`{"rows":[[1]]}`)}, nil, false},
		{"big result", Record{Result: json.RawMessage(big)}, []string{"result"}, false},
		{"big arguments", Record{Arguments: json.RawMessage(`{"sql":` + big + `}`)}, []string{"arguments"}, false},
		{"both big", Record{Result: json.RawMessage(big), Arguments: json.RawMessage(`{"sql":` + big + `}`)}, []string{"result", "arguments"}, false},
		{"big error", Record{Error: strings.Repeat("x", 9000)}, nil, true},
		{"escapes expand", Record{Result: json.RawMessage(`"` + strings.Repeat(`\u0001`, 3000) + `"`)}, []string{"result"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			j := &captureJournal{}
			r := New(j, WithMaxRecordBytes(capBytes))
			rec := tc.rec
			rec.CallID, rec.Tool = "c1", "query_db"
			orig := rec.Result
			if err := r.Finish(context.Background(), &rec); err != nil {
				t.Fatal(err)
			}
			if len(j.last) > capBytes {
				t.Fatalf("record is %d bytes, cap %d", len(j.last), capBytes)
			}
			var got map[string]json.RawMessage
			if err := json.Unmarshal(j.last, &got); err != nil {
				t.Fatalf("record is not JSON: %v", err)
			}
			for _, field := range tc.truncated {
				var m TruncatedByJournal
				if err := json.Unmarshal(got[field], &m); err != nil || !m.TruncatedByJournal || m.OriginalBytes == 0 || !utf8.ValidString(m.Head) {
					t.Errorf("%s: no marker: %s", field, got[field])
				}
			}
			if len(tc.truncated) == 0 && !tc.errorShort && string(got["result"]) != string(orig) {
				t.Errorf("result changed: %s", got["result"])
			}
			if tc.errorShort && !strings.HasSuffix(rec.Error, "x") {
				t.Error("the caller's record was modified")
			}
			if tc.errorShort && !strings.Contains(string(got["error"]), "[truncated by journal]") {
				t.Errorf("error not marked: %.80s", got["error"])
			}
		})
	}
}

func TestEventNeedsType(t *testing.T) {
	r := New(&captureJournal{})
	for _, typ := range []string{"", Started, Finished} {
		if err := r.Event(context.Background(), &Record{Type: typ}); !errors.Is(err, ErrEventType) {
			t.Errorf("type %q: %v", typ, err)
		}
	}
	if err := r.Event(context.Background(), &Record{Type: TypeGrant, Event: "grant.issued"}); err != nil {
		t.Fatal(err)
	}
}

// Begin reports a failed write, so the call is refused.
func TestBeginFailsWhenJournalFails(t *testing.T) {
	r := New(&captureJournal{failing: errors.New("disk full")})
	if err := r.Begin(context.Background(), &Record{CallID: "c"}); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("got %v", err)
	}
}

// Records come back with their chain fields; events are chained too.
func TestRecordsAreChained(t *testing.T) {
	j := newTestJournal(t)
	rec := &Record{CallID: "c1", Tool: "query_db", Principal: &identity.Principal{Subject: "alice"}}
	if err := j.rec.Begin(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	if rec.Seq != 1 || rec.PrevHash != store.GenesisHash || len(rec.Hash) != 64 {
		t.Fatalf("started: %+v", rec)
	}
	started := rec.Hash
	ev := &Record{Type: TypeApproval, Event: "request.created", RequestID: "r1"}
	if err := j.rec.Event(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	if err := j.rec.Finish(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	if ev.PrevHash != started || rec.PrevHash != ev.Hash || rec.Seq != 3 {
		t.Fatalf("chain: started %s, event %+v, finished %+v", started, ev, rec)
	}
	entries, _ := j.st.JournalAfter(context.Background(), 0, 10)
	got, err := Decode(&entries[2])
	if err != nil || got.Seq != 3 || got.Hash != rec.Hash || got.Type != Finished {
		t.Fatalf("decode: %+v %v", got, err)
	}
	if rep := j.verify(t); !rep.OK() {
		t.Fatal(rep.Findings)
	}
}

func FuzzRecordCap(f *testing.F) {
	f.Add(`"x"`, "", 4096)
	f.Add(`{"a":"`+strings.Repeat("\u00e9\U0001F600", 2000)+`"}`, strings.Repeat("e", 5000), 4096)
	f.Fuzz(func(t *testing.T, result, errText string, capBytes int) {
		capBytes = 4096 + capBytes%8192
		if capBytes < 4096 {
			capBytes += 8192
		}
		if !json.Valid([]byte(result)) {
			result = "null"
		}
		j := &captureJournal{}
		r := New(j, WithMaxRecordBytes(capBytes))
		rec := &Record{CallID: "c", Tool: "t", Result: json.RawMessage(result), Error: errText}
		if err := r.Finish(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
		if !json.Valid(j.last) {
			t.Fatalf("invalid JSON record")
		}
		if len(j.last) > capBytes {
			t.Fatalf("record %d bytes > cap %d", len(j.last), capBytes)
		}
	})
}

func BenchmarkRecordEncode(b *testing.B) {
	r := New(&captureJournal{})
	rec := &Record{CallID: NewCallID(), Tool: "query_db", Principal: &identity.Principal{Subject: "alice", Groups: []string{"analysts"}},
		Arguments: json.RawMessage(`{"connection":"demo","sql":"SELECT 1"}`), Result: json.RawMessage(`{"rows":[[1]]}`)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.encode(rec); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRecordEncodeOverCap(b *testing.B) {
	r := New(&captureJournal{}, WithMaxRecordBytes(4096))
	rec := &Record{CallID: NewCallID(), Tool: "query_db", Result: json.RawMessage(`"` + strings.Repeat("x", 64<<10) + `"`)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.encode(rec); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRecorderBegin32 is durable throughput through the recorder (JSON
// encoding, chaining, fsync) with 32 concurrent writers. Reports records/s.
func BenchmarkRecorderBegin32(b *testing.B) {
	j := newTestJournal(b)
	r := New(j.st)
	p := &identity.Principal{Subject: "alice", Groups: []string{"analysts"}, Issuer: "https://login.example.com/"}
	b.ReportAllocs()
	b.SetParallelism(max(1, 32/runtime.GOMAXPROCS(0)))
	start, cpu0 := time.Now(), processCPU()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			rec := &Record{CallID: NewCallID(), Tool: "query_db", Transport: "streamable-http", Principal: p,
				Arguments: json.RawMessage(`{"connection":"demo","sql":"SELECT status, count(*) FROM orders GROUP BY status"}`)}
			if err := r.Begin(context.Background(), rec); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "records/s")
	b.ReportMetric(float64(processCPU()-cpu0)/1e3/float64(b.N), "cpu-µs/op")
}

// BenchmarkBeginFinish1 is one call's journal cost with a single caller:
// a durable started record, then a durable finished record.
func BenchmarkBeginFinish1(b *testing.B) { benchBeginFinish(b, 1) }

// BenchmarkBeginFinish32 is the same with 32 concurrent callers; ns/op is
// per call (two records), calls/s is the throughput.
func BenchmarkBeginFinish32(b *testing.B) { benchBeginFinish(b, 32) }

func benchBeginFinish(b *testing.B, writers int) {
	j := newTestJournal(b)
	r := New(j.st)
	p := &identity.Principal{Subject: "alice", Groups: []string{"analysts"}, Issuer: "https://login.example.com/"}
	call := func() error {
		rec := &Record{CallID: NewCallID(), Tool: "query_db", Transport: "streamable-http", Principal: p,
			Arguments: json.RawMessage(`{"connection":"demo","sql":"SELECT status, count(*) FROM orders GROUP BY status"}`)}
		if err := r.Begin(context.Background(), rec); err != nil {
			return err
		}
		rec.Connection, rec.Access, rec.Decision, rec.Outcome = "demo", "read", "allow", OutcomeOK
		rec.Result, rec.Rows = json.RawMessage(`{"columns":["status","count"],"rows":[["open",12],["shipped",40]]}`), 2
		return r.Finish(context.Background(), rec)
	}
	var (
		mu  sync.Mutex
		lat []time.Duration
	)
	timed := func() error {
		t := time.Now()
		err := call()
		d := time.Since(t)
		mu.Lock()
		lat = append(lat, d)
		mu.Unlock()
		return err
	}
	b.ReportAllocs()
	start, cpu0 := time.Now(), processCPU()
	if writers == 1 {
		for b.Loop() {
			if err := timed(); err != nil {
				b.Fatal(err)
			}
		}
	} else {
		b.SetParallelism(max(1, writers/runtime.GOMAXPROCS(0)))
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := timed(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "calls/s")
	b.ReportMetric(float64(processCPU()-cpu0)/1e3/float64(b.N), "cpu-µs/op")
}
