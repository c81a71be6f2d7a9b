package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/airlockhq/airlock/internal/syncbuf"
	"github.com/airlockhq/airlock/internal/telemetry"
	"github.com/airlockhq/airlock/server"
	"github.com/airlockhq/airlock/store"
)

// scrape reads the gateway's /metrics from a real listener.
func scrape(t *testing.T, base string) (map[string]*dto.MetricFamily, string) {
	t.Helper()
	resp, err := http.Get(base + server.PathMetrics)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", resp.StatusCode, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams, string(body)
}

// sample sums the series of family name whose labels include want: a
// counter's or gauge's value, a histogram's count. ok is false when no
// series matches.
func sample(fams map[string]*dto.MetricFamily, name string, want map[string]string) (v float64, ok bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.Metric {
		have := map[string]string{}
		for _, l := range m.Label {
			have[l.GetName()] = l.GetValue()
		}
		for k, w := range want {
			if have[k] != w {
				continue next
			}
		}
		ok = true
		switch {
		case m.Counter != nil:
			v += m.Counter.GetValue()
		case m.Gauge != nil:
			v += m.Gauge.GetValue()
		case m.Histogram != nil:
			v += float64(m.Histogram.GetSampleCount())
		}
	}
	return v, ok
}

func serveMetrics(t *testing.T, g *server.Gateway) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); g.ServeMetrics(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })
	return "http://" + ln.Addr().String()
}

// After real traffic — allowed, masked and capped reads, a denial, a call
// held for approval, an access request waiting for a human, a refused
// journal write — every series the operator needs is on /metrics with
// the values the traffic implies, and no label holds a subject, SQL or
// a value.
func TestMetricsAfterTraffic(t *testing.T) {
	e := newEnvWith(t, `
limits: {max_rows: 100, max_result_tokens: 300}
approvals: {wait: 1s}
rules:
  - {name: analysts-read, groups: [analysts], connections: [demo, pg], access: [read], effect: allow}
  - {name: writers-read, groups: [writers], connections: [pg], access: [read], effect: allow}
  - {name: writers-write-approved, groups: [writers], connections: [pg], access: [write], effect: approve,
     grant: {approvers: [dba]}}
  - {name: contractor-read, groups: [contractors], connections: [demo], access: [read], effect: allow,
     grant: {mode: approval, approvers: [dba]}}
`)
	sink, err := store.OpenSQLite(context.Background(), e.cfg.Store)
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	fault := &faultJournal{inner: sink}
	g, base := e.start(t, server.Options{Journal: fault})
	mbase := serveMetrics(t, g)

	// Before traffic: the stage and journal series exist at zero.
	fams, _ := scrape(t, mbase)
	for _, s := range telemetry.Stages {
		if _, ok := sample(fams, "airlock_stage_duration_seconds", map[string]string{"stage": s}); !ok {
			t.Errorf("no stage series for %s before traffic", s)
		}
	}

	alice := httpClient(t, "streamable-http", base, e.token(t, "alice", "analysts"))
	grant(t, alice, "demo", "read")
	const secretSQL = "SELECT * FROM customers"
	for range 2 {
		if res := callTool(t, alice, "query_db", map[string]any{"connection": "demo", "sql": secretSQL}); res.IsError {
			t.Fatalf("read: %s", text(res))
		}
	}
	// Denied: no rule lets analysts write.
	if res := query(t, alice, "pg", "DELETE FROM t WHERE id = 3"); !res.IsError {
		t.Fatal("a write without a rule ran")
	}
	// Held for a human, then answered pending: a per-call approval waits.
	wendy := httpClient(t, "streamable-http", base, e.token(t, "wendy", "writers"))
	grant(t, wendy, "pg", "write")
	if res := query(t, wendy, "pg", "DELETE FROM t WHERE id = 7"); !res.IsError || !strings.Contains(text(res), "pending") {
		t.Fatalf("held write: %s", text(res))
	}
	// An access request in approval mode waits for a human too.
	carol := httpClient(t, "streamable-http", base, e.token(t, "carol", "contractors"))
	if res := callTool(t, carol, "request_access", map[string]any{"connection": "demo", "access": "read", "reason": "audit"}); !strings.Contains(text(res), "pending") {
		t.Fatalf("approval-mode request: %s", text(res))
	}
	// The journal refuses a write: the call is refused and counted.
	fault.failAll.Store(true)
	if _, err := alice.CallTool(context.Background(), callReq("demo", "SELECT 1")); err == nil {
		t.Fatal("a call ran while the journal failed")
	}
	fault.failAll.Store(false)

	fams, body := scrape(t, mbase)
	type check struct {
		name   string
		labels map[string]string
		min    float64
	}
	for _, c := range []check{
		{"airlock_calls_total", map[string]string{"tool": "query_db", "connection": "demo", "decision": "allow", "outcome": "ok"}, 2},
		{"airlock_calls_total", map[string]string{"tool": "query_db", "connection": "pg", "decision": "deny", "outcome": "denied"}, 1},
		{"airlock_calls_total", map[string]string{"tool": "query_db", "connection": "pg", "decision": "approve", "outcome": "pending"}, 1},
		{"airlock_calls_total", map[string]string{"tool": "query_db", "outcome": "journal_unavailable"}, 1},
		{"airlock_calls_total", map[string]string{"tool": "request_access"}, 3},
		{"airlock_call_duration_seconds", map[string]string{"tool": "query_db"}, 4},
		{"airlock_masked_values_total", map[string]string{"entity": "EMAIL"}, 1},
		{"airlock_masked_values_total", map[string]string{"entity": "SSN"}, 1},
		{"airlock_result_tokens_total", map[string]string{"tool": "query_db", "connection": "demo"}, 1},
		{"airlock_result_bytes_total", map[string]string{"tool": "query_db", "connection": "demo"}, 1},
		{"airlock_approvals_pending", map[string]string{"kind": "approval"}, 1},
		{"airlock_approvals_pending", map[string]string{"kind": "grant"}, 1},
		{"airlock_approvals_pending_oldest_age_seconds", map[string]string{"kind": "approval"}, 0.001},
		{"airlock_approvals_pending_oldest_age_seconds", map[string]string{"kind": "grant"}, 0.001},
		{"airlock_grants_active", map[string]string{"connection": "demo"}, 1},
		{"airlock_grants_active", map[string]string{"connection": "pg"}, 1},
		{"airlock_journal_write_duration_seconds", map[string]string{"type": "started"}, 5},
		{"airlock_journal_write_duration_seconds", map[string]string{"type": "finished"}, 5},
		{"airlock_journal_write_duration_seconds", map[string]string{"type": "event"}, 1},
		{"airlock_journal_write_errors_total", map[string]string{"type": "started"}, 1},
		{"airlock_store_errors_total", map[string]string{"op": "journal_append"}, 1},
		{"airlock_journal_chain_ok", nil, 1},
		{"airlock_calls_in_flight", nil, 0},
		{"airlock_build_info", map[string]string{"version": server.Version}, 1},
	} {
		v, ok := sample(fams, c.name, c.labels)
		if !ok || v < c.min {
			t.Errorf("%s%v = %v (present %v), want at least %v", c.name, c.labels, v, ok, c.min)
		}
	}
	for _, s := range telemetry.Stages {
		if v, _ := sample(fams, "airlock_stage_duration_seconds", map[string]string{"stage": s}); v < 1 {
			t.Errorf("stage %s: %v observations after traffic", s, v)
		}
	}
	if _, ok := sample(fams, "airlock_journal_chain_fully_verified", nil); !ok {
		t.Error("no airlock_journal_chain_fully_verified")
	}
	// Bounded labels: no subject, SQL or seed value anywhere in the scrape.
	seed := seedValues(t, e.cfg.Resolve("demo.db"))
	for _, bad := range append([]string{"alice", "wendy", "carol", secretSQL, "DELETE FROM"}, seed[:40]...) {
		if strings.Contains(body, bad) {
			t.Errorf("/metrics holds %q", bad)
		}
	}
	// /metrics is not on the MCP listener.
	if resp, err := http.Get(base + server.PathMetrics); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("/metrics answered on the MCP listener")
		}
	}
}

// One traced call, with the client's W3C trace context in _meta: the span
// tree is call → one child per stage, database and HTTP client spans
// beneath execute; the journal record and the log name the trace; no
// unmasked value the test seeded reaches any attribute, event or status.
func TestTraceSpanTree(t *testing.T) {
	const ssn, email, card = "234-56-7890", "jane.doe@example.com", "4111 1111 1111 1111"
	t.Setenv("AIRLOCK_TEST_API_TOKEN", apiSecret)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"customer": {"email": %q, "ssn": %q, "card": %q}}`, email, ssn, card)
	}))
	t.Cleanup(api.Close)
	e := newEnvWith(t, httpConnYAML(api.URL+"/api")+`
rules:
  - {name: analysts-read, groups: [analysts], connections: [pg, api], access: [read], effect: allow}
`)
	if _, err := e.pg.Exec(context.Background(), `CREATE TABLE people (id int, email text, ssn text, card text);
INSERT INTO people VALUES (1, '`+email+`', '`+ssn+`', '`+card+`')`); err != nil {
		t.Fatal(err)
	}
	exp := tracetest.NewInMemoryExporter()
	tp := telemetry.NewTracerProvider(exp, true)
	t.Cleanup(func() { tp.Shutdown(context.Background()) })
	logs := &syncbuf.Buffer{}
	_, base := e.start(t, server.Options{TracerProvider: tp, Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	c := httpClient(t, "streamable-http", base, e.token(t, "alice", "analysts"))
	grant(t, c, "pg", "read")
	grant(t, c, "api", "read")

	const traceID, parentID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	const stateJWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ"
	call := func(tool string, args map[string]any) *mcp.CallToolResult {
		t.Helper()
		exp.Reset()
		req := mcp.CallToolRequest{}
		req.Params.Name, req.Params.Arguments = tool, args
		req.Params.Meta = &mcp.Meta{AdditionalFields: map[string]any{
			"traceparent": "00-" + traceID + "-" + parentID + "-01", "tracestate": "vendor=opaque,leak=" + stateJWT}}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		res, err := c.CallTool(ctx, req)
		if err != nil || res.IsError {
			t.Fatalf("%s: %v %s", tool, err, text(res))
		}
		return res
	}

	for _, tc := range []struct {
		tool    string
		args    map[string]any
		beneath string // a client span beneath execute
	}{
		{"query_db", map[string]any{"connection": "pg", "sql": "SELECT email, ssn, card FROM people WHERE email = '" + email + "' OR ssn = '" + ssn + "'"}, "postgresql read"},
		{"http_request", map[string]any{"connection": "api", "method": "GET", "path": "/customers/" + ssn,
			"query": map[string]any{"email": email}}, ""},
	} {
		res := call(tc.tool, tc.args)
		spans := exp.GetSpans()
		var root *tracetest.SpanStub
		for i := range spans {
			if spans[i].Name == "tools/call "+tc.tool {
				root = &spans[i]
			}
		}
		if root == nil {
			t.Fatalf("%s: no call span among %d", tc.tool, len(spans))
		}
		if root.SpanContext.TraceID().String() != traceID || root.Parent.SpanID().String() != parentID || !root.Parent.IsRemote() {
			t.Errorf("%s: call span not a child of the client's context: trace %s parent %s", tc.tool, root.SpanContext.TraceID(), root.Parent.SpanID())
		}
		if root.SpanKind != trace.SpanKindServer {
			t.Errorf("%s: call span kind %v", tc.tool, root.SpanKind)
		}
		byName := map[string][]tracetest.SpanStub{}
		for _, s := range spans {
			byName[s.Name] = append(byName[s.Name], s)
		}
		for _, stage := range telemetry.Stages {
			want := 1
			if stage == telemetry.StageJournal {
				want = 2 // the started and the finished record
			}
			got := byName[stage]
			if len(got) != want {
				t.Errorf("%s: %d %s spans, want %d", tc.tool, len(got), stage, want)
				continue
			}
			for _, s := range got {
				if s.Parent.SpanID() != root.SpanContext.SpanID() {
					t.Errorf("%s: stage %s is not a child of the call span", tc.tool, stage)
				}
			}
		}
		// The agent's tracestate rides on every span, without the member
		// the detectors flag (see telemetry.CleanTraceState).
		for _, s := range spans {
			if st := s.SpanContext.TraceState().String(); st != "vendor=opaque" {
				t.Errorf("%s: span %q trace state %q, want vendor=opaque", tc.tool, s.Name, st)
			}
		}
		execID := byName[telemetry.StageExecute][0].SpanContext.SpanID()
		parent := map[trace.SpanID]trace.SpanID{}
		for _, s := range spans {
			parent[s.SpanContext.SpanID()] = s.Parent.SpanID()
		}
		beneath := func(id trace.SpanID) bool {
			for range len(spans) {
				id = parent[id]
				if id == execID {
					return true
				}
			}
			return false
		}
		clients := 0
		for _, s := range spans {
			if s.SpanKind == trace.SpanKindClient {
				if !beneath(s.SpanContext.SpanID()) {
					t.Errorf("%s: client span %q is not beneath execute", tc.tool, s.Name)
				}
				clients++
			}
		}
		if clients == 0 {
			t.Errorf("%s: no client span beneath execute", tc.tool)
		}
		if tc.beneath != "" && len(byName[tc.beneath]) != 1 {
			t.Errorf("%s: no %q span", tc.tool, tc.beneath)
		}
		// Nothing unmasked anywhere in what was exported.
		dump := dumpSpans(spans)
		if !bytes.Contains(dump, []byte("airlock.call_id")) {
			t.Fatalf("%s: the span dump is missing attributes: %s", tc.tool, dump)
		}
		for _, v := range []string{ssn, email, card, "people WHERE", apiSecret, "alice"} {
			if bytes.Contains(dump, []byte(v)) {
				t.Errorf("%s: an exported span holds %q", tc.tool, v)
			}
		}
		// The agent's answer was masked, so the test is not vacuous.
		if got, _ := json.Marshal(res); bytes.Contains(got, []byte(ssn)) {
			t.Fatalf("%s: the agent got the raw ssn", tc.tool)
		}
		// The journal's records name the trace.
		callID, _ := res.Meta.AdditionalFields["airlock/call_id"].(string)
		n := 0
		for _, r := range journal(t, e) {
			if r.CallID == callID {
				n++
				if r.TraceID != traceID {
					t.Errorf("%s: %s record trace_id %q, want %q", tc.tool, r.Type, r.TraceID, traceID)
				}
			}
		}
		if n != 2 {
			t.Errorf("%s: %d journal records for call %s", tc.tool, n, callID)
		}
		// And the log line of the call names both.
		found := false
		for _, line := range strings.Split(logs.String(), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "call" && m["call_id"] == callID {
				found = m["trace_id"] == traceID && m["span_id"] != nil
			}
		}
		if !found {
			t.Errorf("%s: no call log line with call_id %s and trace_id %s:\n%s", tc.tool, callID, traceID, logs.String())
		}
	}
}

// dumpSpans is every name, attribute (key and value), event, link and
// status text of spans, as one text to search.
func dumpSpans(spans tracetest.SpanStubs) []byte {
	var b bytes.Buffer
	attrs := func(kvs []attribute.KeyValue) {
		for _, kv := range kvs {
			fmt.Fprintf(&b, " %s=%s", kv.Key, kv.Value.Emit())
		}
	}
	for _, s := range spans {
		fmt.Fprintf(&b, "span %q status %q:", s.Name, s.Status.Description)
		attrs(s.Attributes)
		for _, e := range s.Events {
			fmt.Fprintf(&b, " event %q:", e.Name)
			attrs(e.Attributes)
		}
		for _, l := range s.Links {
			attrs(l.Attributes)
		}
		for _, kv := range s.Resource.Attributes() {
			fmt.Fprintf(&b, " %s=%s", kv.Key, kv.Value.Emit())
		}
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// Lines logged while a call runs name it: the pipeline's call line and a
// tool's own warning (a database that is down) carry the journal's call
// id, as JSON.
func TestCallLogLinesNameTheCall(t *testing.T) {
	e := sqlEnv(t)
	logs := &syncbuf.Buffer{}
	_, base := e.start(t, server.Options{Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	c := httpClient(t, "streamable-http", base, e.token(t, "alice", "analysts"))
	grant(t, c, "down", "read")
	res := query(t, c, "down", "SELECT 1")
	if !res.IsError {
		t.Fatalf("a down database answered: %s", text(res))
	}
	recs := finished(t, e)
	callID := recs[len(recs)-1].CallID
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not a JSON line: %s", line)
		}
		msg, _ := m["msg"].(string)
		if msg == "call" || msg == "database call failed" {
			if m["call_id"] == callID {
				seen[msg] = true
			}
		}
	}
	if !seen["call"] || !seen["database call failed"] {
		t.Errorf("lines naming call %s: %v\n%s", callID, seen, logs.String())
	}
}
