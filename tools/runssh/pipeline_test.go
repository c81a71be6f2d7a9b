package runssh

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/airlockhq/airlock/config"
	"github.com/airlockhq/airlock/identity"
	"github.com/airlockhq/airlock/policy"
	"github.com/airlockhq/airlock/policy/jit"
	"github.com/airlockhq/airlock/recorder"
	"github.com/airlockhq/airlock/store"
	"github.com/airlockhq/airlock/tools"
)

// run_ssh through the whole guard pipeline: grants, per-call approval from
// a template, masking, the journal.

const pipelineRules = `
rules:
  - {name: ops, groups: [ops], connections: [web1], access: [read, write], effect: allow, grant: {approvers: [leads]}}
  - {name: devs, groups: [devs], connections: [web1], access: [read, write], effect: allow}
`

var (
	opsUser = &identity.Principal{Subject: "olga", Groups: []string{"ops"}, Issuer: "test"}
	devUser = &identity.Principal{Subject: "dan", Groups: []string{"devs"}, Issuer: "test"}
)

// memJournal keeps journal entries in memory.
type memJournal struct {
	mu      sync.Mutex
	entries []store.Entry
}

func (m *memJournal) AppendJournal(_ context.Context, e *store.Entry) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.entries = append(m.entries, *e)
	return int64(len(m.entries)), nil
}

func (m *memJournal) finished(t testing.TB) []*recorder.Record {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*recorder.Record
	for i := range m.entries {
		r, err := recorder.Decode(&m.entries[i])
		if err != nil {
			t.Fatal(err)
		}
		if r.Type == recorder.Finished {
			out = append(out, r)
		}
	}
	return out
}

type pipelineEnv struct {
	tool    *Tool
	p       *tools.Pipeline
	journal *memJournal
}

// newPipelineEnv builds run_ssh for s behind a pipeline with the given
// masker, and gives both users read and write grants.
func newPipelineEnv(t testing.TB, s *testServer) *pipelineEnv {
	t.Helper()
	cfg := loadConfig(t, s.connYAML(""), pipelineRules)
	return newPipelineEnvFor(t, cfg)
}

func newPipelineEnvFor(t testing.TB, cfg *config.Config) *pipelineEnv {
	t.Helper()
	st, err := store.OpenSQLite(context.Background(), cfg.Store)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	eng := policy.NewEngine(cfg.Rules)
	svc := jit.New(st, eng, jit.Config{Wait: 50 * time.Millisecond, TTL: time.Hour}, nil)
	for _, p := range []*identity.Principal{opsUser, devUser} {
		for _, a := range []policy.Access{policy.Read, policy.Write} {
			if _, err := svc.RequestGrant(context.Background(), p, "web1", a, time.Hour, "test"); err != nil {
				t.Fatal(err)
			}
		}
	}
	j := &memJournal{}
	return &pipelineEnv{
		tool:    buildTool(t, cfg),
		journal: j,
		p: tools.NewPipeline(tools.PipelineConfig{Recorder: recorder.New(j), Policy: eng, JIT: svc,
			CallTimeout: 30 * time.Second}), // the default masking engine
	}
}

func (e *pipelineEnv) call(t testing.TB, who *identity.Principal, command string) *mcp.CallToolResult {
	t.Helper()
	req := mcp.CallToolRequest{}
	req.Params.Name = Name
	req.Params.Arguments = map[string]any{"connection": "web1", "command": command}
	res, err := e.p.Handle(e.tool)(identity.NewContext(context.Background(), who), req)
	if err != nil {
		t.Fatalf("%s: %v", command, err)
	}
	return res
}

func resultText(res *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}

func TestPipelineMasksOutput(t *testing.T) {
	s := newTestServer(t)
	s.setHandler(func(cmd string, stdout, stderr io.Writer, _ <-chan string, _ <-chan struct{}) int {
		io.WriteString(stdout, "api_key=sk_live_51HsecretAbCdEfGhIjKlMnOp\n")
		io.WriteString(stderr, "warning: key AKIAIOSFODNN7EXAMPLE is old\n")
		return 0
	})
	e := newPipelineEnv(t, s)
	res := e.call(t, devUser, "df -h")
	txt := resultText(res)
	sc, _ := json.Marshal(res.StructuredContent)
	for _, secret := range []string{"sk_live_51HsecretAbCdEfGhIjKlMnOp", "AKIAIOSFODNN7EXAMPLE"} {
		if strings.Contains(txt, secret) || strings.Contains(string(sc), secret) {
			t.Errorf("the agent sees %s:\n%s\n%s", secret, txt, sc)
		}
	}
	if res.IsError || !strings.Contains(txt, "[") {
		t.Errorf("text the agent sees:\n%s", txt)
	}
	recs := e.journal.finished(t)
	if len(recs) != 1 || recs[0].Outcome != recorder.OutcomeOK || recs[0].Command != "disk-usage" || recs[0].Access != "read" {
		t.Fatalf("journal: %+v", recs)
	}
	for _, secret := range []string{"sk_live_51HsecretAbCdEfGhIjKlMnOp", "AKIAIOSFODNN7EXAMPLE"} {
		if strings.Contains(string(recs[0].Result), secret) {
			t.Errorf("the journal holds %s: %s", secret, recs[0].Result)
		}
	}
	if len(recs[0].Masked) == 0 {
		t.Errorf("no masked counts in the journal record")
	}
}

func TestPipelineTemplateApproval(t *testing.T) {
	s := newTestServer(t)
	e := newPipelineEnv(t, s)
	// ops' rule names approvers: the call is held for a human.
	res := e.call(t, opsUser, "systemctl restart nginx")
	if txt := resultText(res); !res.IsError || !strings.Contains(txt, "pending") || !strings.Contains(txt, "leads") {
		t.Errorf("ops: %s", txt)
	}
	// devs' rule names none: refused, with what to ask for.
	res = e.call(t, devUser, "systemctl restart nginx")
	if txt := resultText(res); !res.IsError || !strings.Contains(txt, "grant.approvers") {
		t.Errorf("devs: %s", txt)
	}
	// Neither reached the host; a write without approve: true runs.
	if got := s.state(); len(got.execs) != 0 {
		t.Errorf("host ran %q", got.execs)
	}
	if res := e.call(t, devUser, "touch /tmp/airlock-x/f"); res.IsError {
		t.Errorf("touch: %s", resultText(res))
	}
}

func TestPipelineRefusalIsJournaled(t *testing.T) {
	s := newTestServer(t)
	e := newPipelineEnv(t, s)
	res := e.call(t, devUser, "df -h; rm -rf /")
	if !res.IsError {
		t.Fatal("accepted")
	}
	res = e.call(t, devUser, "rm -rf /")
	if !res.IsError || !strings.Contains(resultText(res), `program "rm" is not allowed`) {
		t.Fatalf("rm: %s", resultText(res))
	}
	recs := e.journal.finished(t)
	if len(recs) != 2 || recs[0].Outcome != recorder.OutcomeInvalid || recs[1].Outcome != recorder.OutcomeDenied {
		t.Errorf("journal: %+v", recs)
	}
	if got := s.state(); got.accepted != 0 {
		t.Errorf("host saw %d connections", got.accepted)
	}
}

func BenchmarkParseMatchQuote(b *testing.B) {
	s := newTestServer(b)
	tl := s.tool(b, "")
	args := map[string]any{"connection": "web1", "command": "tail -n 50 /var/log/app/app.log"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tl.Parse(args); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRunInProcess is one call (Parse and Execute: a new session on
// the shared client) against the in-process server.
func BenchmarkRunInProcess(b *testing.B) {
	s := newTestServer(b)
	tl := s.tool(b, "")
	mustRun(b, tl, "df -h") // dial outside the loop
	args := map[string]any{"connection": "web1", "command": "df -h"}
	b.ReportAllocs()
	for b.Loop() {
		c, err := tl.Parse(args)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := tl.Execute(context.Background(), c); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPipelineCall is a full run_ssh call through the guard pipeline
// (in-memory journal, SQLite grants) against the in-process server.
func BenchmarkPipelineCall(b *testing.B) {
	s := newTestServer(b)
	e := newPipelineEnv(b, s)
	e.call(b, devUser, "df -h")
	b.ReportAllocs()
	for b.Loop() {
		if res := e.call(b, devUser, "df -h"); res.IsError {
			b.Fatal(resultText(res))
		}
	}
}
