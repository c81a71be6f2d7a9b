// Package telemetry is the gateway's operational view: Prometheus metrics
// (its own registry, served on server.metrics_listen), OpenTelemetry spans
// for every call and its pipeline stages, and a slog handler that stamps
// each line logged during a call with its call id and trace id.
//
// Nothing here may carry a value the agent sent or a target returned:
// metric labels are drawn from bounded sets (tool and connection names from
// config, decisions, outcomes, entity names), spans carry names, ids and
// counts, and every exported span passes a scrubber that drops attributes
// known to carry values (URLs, SQL, exception messages) whatever library
// set them. The agent's tracestate is kept only as far as CleanTraceState
// allows, and libraries' own log lines pass LibraryLogger's redaction. The
// journal is the record; this is for operators.
package telemetry

import (
	"context"
	"slices"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Stages of the guard pipeline, in the order a call meets them. They name
// the stage spans and the stage label of airlock_stage_duration_seconds.
const (
	StageIdentify = "identify"
	StageJournal  = "journal"
	StageClassify = "classify"
	StageDecide   = "decide"
	StageApprove  = "approve"
	StageExecute  = "execute"
	StageMask     = "mask"
	StageCap      = "cap"
)

// Stages lists every stage.
var Stages = []string{StageIdentify, StageJournal, StageClassify, StageDecide, StageApprove, StageExecute, StageMask, StageCap}

// ScopeName is the instrumentation scope of the gateway's own spans.
const ScopeName = "github.com/airlockhq/airlock"

// Telemetry holds the gateway's metrics and tracer. A nil *Telemetry is
// valid and records nothing, so code paths need no checks.
type Telemetry struct {
	m      *metrics
	tracer trace.Tracer
	known  map[string]bool
}

// Options configure New.
type Options struct {
	// TracerProvider makes the call and stage spans; nil: the global one
	// (a no-op until SetupTracing installs the OTLP exporter).
	TracerProvider trace.TracerProvider
	// Connections are the configured connection names: the only values
	// the connection label and attribute take (any other is "unknown").
	Connections []string
	// Version is reported by airlock_build_info.
	Version string
}

// New builds the metrics registry and tracer.
func New(o Options) *Telemetry {
	tp := o.TracerProvider
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	t := &Telemetry{m: newMetrics(o.Version), tracer: tp.Tracer(ScopeName), known: map[string]bool{}}
	for _, c := range o.Connections {
		t.known[c] = true
	}
	return t
}

// Connection maps a connection name to its label value: the name when it
// is configured, "none" when the call named none, else "unknown" (an
// agent's made-up name must not become a series or an attribute).
func (t *Telemetry) Connection(name string) string {
	switch {
	case name == "":
		return "none"
	case t != nil && t.known[name]:
		return name
	default:
		return "unknown"
	}
}

// Call is one tool call's span and timings.
type Call struct {
	t     *Telemetry
	span  trace.Span
	start time.Time
	// journal accumulates the journal stage's time (begin + finish).
	journal time.Duration
}

// traceContext is the W3C propagator: the contract is
// traceparent/tracestate, whatever the global propagator is.
var traceContext = propagation.TraceContext{}

// ExtractMeta returns ctx with the remote span context named by an MCP
// request's _meta traceparent, when it is well formed, and what
// CleanTraceState keeps of its tracestate. A malformed or absent
// traceparent leaves ctx as it was.
func ExtractMeta(ctx context.Context, meta map[string]any) context.Context {
	if len(meta) == 0 {
		return ctx
	}
	// Bounded: a header value is short; anything longer is not a trace
	// context.
	parent, ok := meta["traceparent"].(string)
	if !ok || parent == "" || len(parent) > 512 {
		return ctx
	}
	carrier := propagation.MapCarrier{"traceparent": parent}
	if s, ok := meta["tracestate"].(string); ok {
		if st := CleanTraceState(s); st != "" {
			carrier["tracestate"] = st
		}
	}
	return traceContext.Extract(ctx, carrier)
}

// StartCall starts the span of one tool call. The span is a child of a
// span context already in ctx (from ExtractMeta, or the transport).
func (t *Telemetry) StartCall(ctx context.Context, tool, transport string) (context.Context, *Call) {
	if t == nil {
		return ctx, nil
	}
	ctx, span := t.tracer.Start(ctx, "tools/call "+tool, trace.WithSpanKind(trace.SpanKindServer))
	if span.IsRecording() { // tracing off: no attributes to build
		span.SetAttributes(
			attribute.String("mcp.method.name", "tools/call"),
			attribute.String("gen_ai.operation.name", "execute_tool"),
			attribute.String("gen_ai.tool.name", tool),
			attribute.String("airlock.transport", transport),
		)
	}
	t.m.inflight.Inc()
	return ctx, &Call{t: t, span: span, start: time.Now()}
}

// SetCallID names the call on its span once the journal has given it an
// id.
func (c *Call) SetCallID(id string) {
	if c == nil {
		return
	}
	c.span.SetAttributes(attribute.String("airlock.call_id", id))
}

// StageTimer is one stage's span and start, ended by End: a plain value,
// so timing a stage allocates nothing (a closure would be an allocation
// per stage, eight per call).
type StageTimer struct {
	c     *Call
	span  trace.Span
	stage string
	start time.Time
}

// StartStage starts one stage's span, a child of the call's span, and
// returns the context carrying it and a StageTimer whose End ends it and
// records the stage's latency. Only execute passes its context on (so
// database and HTTP client spans sit beneath it); other stages hand the
// call's context to the next stage, so stages are siblings under the call.
// An unsampled call (tracing off, or not chosen) makes no stage spans:
// they would not be recorded either, and they cost allocations.
func (c *Call) StartStage(ctx context.Context, stage string, attrs ...attribute.KeyValue) (context.Context, StageTimer) {
	if c == nil {
		return ctx, StageTimer{}
	}
	var span trace.Span
	if c.span.IsRecording() {
		// A copy: the caller's attrs then stay on its stack when the
		// call is not traced.
		ctx, span = c.t.tracer.Start(ctx, stage, trace.WithAttributes(slices.Clone(attrs)...))
	}
	return ctx, StageTimer{c: c, span: span, stage: stage, start: time.Now()}
}

// End ends the stage's span and records its latency; a zero StageTimer
// (no telemetry) does nothing.
func (s StageTimer) End() {
	if s.c == nil {
		return
	}
	d := time.Since(s.start)
	if s.span != nil {
		s.span.End()
	}
	if s.stage == StageJournal {
		// One observation per call: begin and finish together.
		s.c.journal += d
		return
	}
	s.c.t.m.observeStage(s.stage, d)
}

// Done is what the pipeline knew of a call when it ended.
type Done struct {
	Tool, Connection, Access, Decision, Rule, Outcome string
	Masked                                            map[string]int
	Tokens, Rows, Bytes                               int
	Journaled                                         bool
}

// End ends the call's span and counts it.
func (c *Call) End(d Done) {
	if c == nil {
		return
	}
	m := c.t.m
	m.inflight.Dec()
	conn := c.t.Connection(d.Connection)
	decision := d.Decision
	if decision == "" {
		decision = "none"
	}
	m.calls.WithLabelValues(d.Tool, conn, decision, d.Outcome).Inc()
	m.callDuration.WithLabelValues(d.Tool).Observe(time.Since(c.start).Seconds())
	if d.Journaled {
		m.observeStage(StageJournal, c.journal)
	}
	masked := 0
	for ent, n := range d.Masked {
		m.masked.WithLabelValues(ent).Add(float64(n))
		masked += n
	}
	if d.Tokens > 0 {
		m.tokens.WithLabelValues(d.Tool, conn).Add(float64(d.Tokens))
	}
	if d.Bytes > 0 {
		m.bytes.WithLabelValues(d.Tool, conn).Add(float64(d.Bytes))
	}
	if !c.span.IsRecording() {
		c.span.End()
		return
	}
	c.span.SetAttributes(
		attribute.String("airlock.connection", conn),
		attribute.String("airlock.access", d.Access),
		attribute.String("airlock.decision", decision),
		attribute.String("airlock.rule", d.Rule),
		attribute.String("airlock.outcome", d.Outcome),
		attribute.Int("airlock.masked", masked),
		attribute.Int("airlock.tokens", d.Tokens),
		attribute.Int("airlock.rows", d.Rows),
	)
	switch d.Outcome {
	case "ok", "denied", "invalid", "pending":
		// Refusals are the gateway working as meant, not failures.
	default:
		// The outcome only: an error's text can quote what the agent sent.
		c.span.SetStatus(codes.Error, d.Outcome)
	}
	c.span.End()
}

// StoreError counts an error from the store on the call path (op names
// where: grant_lookup, approval, scrape).
func (t *Telemetry) StoreError(op string) {
	if t == nil {
		return
	}
	t.m.storeErrors.WithLabelValues(op).Inc()
}

// observeStage records d for stage, through its pre-resolved series.
func (m *metrics) observeStage(stage string, d time.Duration) {
	if o, ok := m.stageObs[stage]; ok {
		o.Observe(d.Seconds())
		return
	}
	m.stage.WithLabelValues(stage).Observe(d.Seconds())
}
