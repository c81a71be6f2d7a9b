package tools

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/airlockhq/airlock/identity"
	"github.com/airlockhq/airlock/masking"
	"github.com/airlockhq/airlock/policy"
	"github.com/airlockhq/airlock/policy/jit"
	"github.com/airlockhq/airlock/recorder"
	"github.com/airlockhq/airlock/store"
)

// fakeTool classifies "access" from its arguments and counts executions.
type fakeTool struct {
	mu       sync.Mutex
	executed int
	err      error
}

func (f *fakeTool) Definition() mcp.Tool { return mcp.NewTool("fake") }

func (f *fakeTool) Parse(args map[string]any) (*Call, error) {
	a, _ := args["access"].(string)
	acc, err := policy.ParseAccess(a)
	if err != nil {
		return nil, err
	}
	c := &Call{Action: Action{Connection: "db", Access: acc}}
	if note, ok := args["note"].(string); ok {
		c.Resources = []string{note} // echoes agent input, as argv and paths do
	}
	return c, nil
}

func (f *fakeTool) Execute(ctx context.Context, c *Call) (*Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.executed++
	if f.err != nil {
		return nil, f.err
	}
	return &Result{Text: "done", Structured: map[string]any{"ok": true}, Rows: 1}, nil
}

// memJournal keeps records in memory; failing makes every append fail.
type memJournal struct {
	mu      sync.Mutex
	entries []store.Entry
	failing bool
}

func (m *memJournal) AppendJournal(_ context.Context, e *store.Entry) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failing {
		return 0, errors.New("disk full")
	}
	m.entries = append(m.entries, *e)
	return int64(len(m.entries)), nil
}

func (m *memJournal) records(t *testing.T) []*recorder.Record {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*recorder.Record
	for i := range m.entries {
		r, err := recorder.Decode(&m.entries[i])
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// newTestPipeline builds a pipeline over a real JIT service and store, and
// gives the analyst an active read grant on "db".
func newTestPipeline(t testing.TB, j recorder.Journal) *Pipeline {
	t.Helper()
	st, err := store.OpenSQLite(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "store.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	eng := policy.NewEngine([]policy.Rule{{Groups: []string{"analysts"}, Connections: []string{"db"},
		Access: []policy.Access{policy.Read}, Effect: policy.Allow}})
	svc := jit.New(st, eng, jit.Config{Wait: time.Second, TTL: time.Hour}, nil)
	if _, err := svc.RequestGrant(context.Background(), analyst, "db", policy.Read, time.Hour, "test"); err != nil {
		t.Fatal(err)
	}
	return NewPipeline(PipelineConfig{Recorder: recorder.New(j), Policy: eng, JIT: svc})
}

func call(p *Pipeline, ft *fakeTool, ctx context.Context, args map[string]any) (*mcp.CallToolResult, error) {
	req := mcp.CallToolRequest{}
	req.Params.Name = "fake"
	req.Params.Arguments = args
	return p.Handle(ft)(ctx, req)
}

var analyst = &identity.Principal{Subject: "alice", Groups: []string{"analysts"}, Issuer: "test"}

func TestPipelineAllowed(t *testing.T) {
	j := &memJournal{}
	ft := &fakeTool{}
	res, err := call(newTestPipeline(t, j), ft, identity.NewContext(context.Background(), analyst), map[string]any{"access": "read"})
	if err != nil || res.IsError {
		t.Fatalf("call failed: %v %+v", err, res)
	}
	recs := j.records(t)
	if len(recs) != 2 || recs[0].Type != recorder.Started || recs[1].Type != recorder.Finished {
		t.Fatalf("want started+finished, got %d records", len(recs))
	}
	f := recs[1]
	if f.Outcome != recorder.OutcomeOK || f.Decision != "allow" || f.Access != "read" || f.Principal.Subject != "alice" || f.Rows != 1 {
		t.Errorf("finished record: %+v", f)
	}
	if f.CallID != recs[0].CallID || f.ArgumentsDigest == "" || string(f.Arguments) != `{"access":"read"}` {
		t.Errorf("record linkage/args: %+v", f)
	}
}

// A deny never reaches execute and is still journaled.
func TestPipelineDenyNeverExecutes(t *testing.T) {
	j := &memJournal{}
	ft := &fakeTool{}
	res, err := call(newTestPipeline(t, j), ft, identity.NewContext(context.Background(), analyst), map[string]any{"access": "write"})
	if err != nil || !res.IsError {
		t.Fatalf("want an isError result, got %v %+v", err, res)
	}
	if ft.executed != 0 {
		t.Fatal("denied call executed")
	}
	recs := j.records(t)
	if len(recs) != 2 || recs[1].Outcome != recorder.OutcomeDenied || recs[1].Decision != "deny" {
		t.Fatalf("records: %+v", recs)
	}
}

func TestPipelineInvalidAndUnauthenticated(t *testing.T) {
	j := &memJournal{}
	ft := &fakeTool{}
	p := newTestPipeline(t, j)
	res, err := call(p, ft, identity.NewContext(context.Background(), analyst), map[string]any{"access": "root"})
	if err != nil || !res.IsError {
		t.Fatalf("invalid: %v %+v", err, res)
	}
	if recs := j.records(t); len(recs) != 2 || recs[1].Outcome != recorder.OutcomeInvalid {
		t.Fatalf("invalid not journaled: %+v", recs)
	}
	res, err = call(p, ft, context.Background(), map[string]any{"access": "read"})
	if err != nil || !res.IsError {
		t.Fatalf("unauthenticated: %v %+v", err, res)
	}
	if ft.executed != 0 {
		t.Fatal("executed")
	}
}

// With the journal unwritable nothing executes.
func TestPipelineJournalFailureRefuses(t *testing.T) {
	j := &memJournal{failing: true}
	ft := &fakeTool{}
	_, err := call(newTestPipeline(t, j), ft, identity.NewContext(context.Background(), analyst), map[string]any{"access": "read"})
	if !errors.Is(err, ErrJournalUnavailable) {
		t.Fatalf("want ErrJournalUnavailable, got %v", err)
	}
	if ft.executed != 0 {
		t.Fatal("call executed without a journal")
	}
}

// Internal errors reach the agent as a JSON-RPC error naming only the
// call id; the journal keeps the cause.
func TestPipelineInternalErrorIsOpaque(t *testing.T) {
	j := &memJournal{}
	ft := &fakeTool{err: errors.New("dial tcp 10.0.0.5:5432: password authentication failed for user admin")}
	_, err := call(newTestPipeline(t, j), ft, identity.NewContext(context.Background(), analyst), map[string]any{"access": "read"})
	if err == nil {
		t.Fatal("no error")
	}
	if contains(err.Error(), "10.0.0.5", "password", "admin") {
		t.Fatalf("error leaks internals: %v", err)
	}
	if recs := j.records(t); recs[1].Outcome != recorder.OutcomeError || recs[1].Error == "" {
		t.Fatalf("cause not journaled: %+v", recs[1])
	}
}

func TestPipelineDrainRefusesNewCalls(t *testing.T) {
	p := newTestPipeline(t, &memJournal{})
	if err := p.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	ft := &fakeTool{}
	if _, err := call(p, ft, identity.NewContext(context.Background(), analyst), map[string]any{"access": "read"}); !errors.Is(err, ErrShuttingDown) {
		t.Fatalf("got %v", err)
	}
}

func contains(s string, subs ...string) bool {
	for _, x := range subs {
		if strings.Contains(s, x) {
			return true
		}
	}
	return false
}

func BenchmarkPipeline(b *testing.B) {
	p := newTestPipeline(b, &memJournal{})
	ft := &fakeTool{}
	ctx := identity.NewContext(context.Background(), analyst)
	args := map[string]any{"access": "read"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := call(p, ft, ctx, args); err != nil {
			b.Fatal(err)
		}
	}
}

// A refusal that quotes the agent's input is masked for the agent and the
// journal.
func TestRefusalsAreMasked(t *testing.T) {
	j := &memJournal{}
	ft := &fakeTool{}
	res, err := call(newTestPipeline(t, j), ft, identity.NewContext(context.Background(), analyst),
		map[string]any{"access": "jane.doe@example.com"})
	if err != nil || !res.IsError {
		t.Fatalf("%v %+v", err, res)
	}
	b, _ := json.Marshal(res)
	recs := j.records(t)
	if strings.Contains(string(b), "jane.doe") || strings.Contains(recs[1].Error, "jane.doe") || strings.Contains(string(recs[0].Arguments), "jane.doe") {
		t.Errorf("unmasked: %s / %q / %s", b, recs[1].Error, recs[0].Arguments)
	}
}

func TestResourcesAreMaskedInTheJournal(t *testing.T) {
	j := &memJournal{}
	_, err := call(newTestPipeline(t, j), &fakeTool{}, identity.NewContext(context.Background(), analyst),
		map[string]any{"access": "read", "note": "grep jane.doe@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range j.records(t) {
		if b, _ := json.Marshal(r); strings.Contains(string(b), "jane.doe") {
			t.Errorf("journal record holds agent input unmasked: %s", b)
		}
	}
}

// BenchmarkPipelineParallel is BenchmarkPipeline from many goroutines:
// the grant lookup shares the store with the other calls.
func BenchmarkPipelineParallel(b *testing.B) {
	p := newTestPipeline(b, &memJournal{})
	ctx := identity.NewContext(context.Background(), analyst)
	b.ReportAllocs()
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		ft := &fakeTool{}
		for pb.Next() {
			if _, err := call(p, ft, ctx, map[string]any{"access": "read"}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// The journal's tokens is an exact count or absent: a result that fits
// its budget by its bytes is not counted (its record's bytes bound it); a
// result that had to be counted records the count.
func TestJournalTokensExactOrAbsent(t *testing.T) {
	tc, err := masking.NewTokenCounter("")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		budget    int
		wantExact bool
	}{{8000, false}, {3, true}} {
		j := &memJournal{}
		p := newTestPipeline(t, j)
		p.tokens, p.budget = tc, func(string) int { return c.budget }
		if _, err := call(p, &fakeTool{}, identity.NewContext(context.Background(), analyst), map[string]any{"access": "read"}); err != nil {
			t.Fatal(err)
		}
		f := j.records(t)[1]
		switch {
		case !c.wantExact && (f.Tokens != 0 || f.Bytes == 0 || f.Truncated):
			t.Errorf("budget %d: tokens=%d bytes=%d truncated=%v, want no count and a byte size", c.budget, f.Tokens, f.Bytes, f.Truncated)
		case c.wantExact && (f.Tokens == 0 || f.Tokens > c.budget):
			t.Errorf("budget %d: tokens=%d, want an exact count within the budget", c.budget, f.Tokens)
		}
	}
}
