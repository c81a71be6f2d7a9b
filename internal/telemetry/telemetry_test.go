package telemetry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

func TestTracingFromEnv(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		on   bool
		err  string
	}{
		{"unset", nil, false, ""},
		{"endpoint", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, true, ""},
		{"traces endpoint", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, true, ""},
		{"explicit otlp", map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, true, ""},
		{"otlp without endpoint", map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, false, "set OTEL_EXPORTER_OTLP_ENDPOINT"},
		{"none", map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, false, ""},
		{"sdk disabled", map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, false, ""},
		{"zipkin", map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, false, `OTEL_TRACES_EXPORTER="zipkin"`},
		{"http/protobuf", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}, true, ""},
		{"grpc", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, false, `OTEL_EXPORTER_OTLP_PROTOCOL="grpc"`},
		{"traces grpc", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc"}, false, `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL="grpc"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			on, err := TracingFromEnv(func(k string) string { return tc.env[k] })
			if on != tc.on || (tc.err == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tc.err) {
				t.Errorf("got %v, %v; want %v, %q", on, err, tc.on, tc.err)
			}
		})
	}
}

const validParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

// A fake JWT: what an agent might put in tracestate by mistake.
const secretJWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ"

func TestExtractMeta(t *testing.T) {
	for _, tc := range []struct {
		name  string
		meta  map[string]any
		trace string
		state string // the trace state the span context carries
	}{
		{"none", nil, "", ""},
		{"valid", map[string]any{"traceparent": validParent}, "4bf92f3577b34da6a3ce929d0e0e4736", ""},
		{"with state", map[string]any{"traceparent": validParent, "tracestate": "a=b"}, "4bf92f3577b34da6a3ce929d0e0e4736", "a=b"},
		{"vendor state kept", map[string]any{"traceparent": validParent, "tracestate": "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"},
			"4bf92f3577b34da6a3ce929d0e0e4736", "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"},
		// The parent is used; the state's secret-looking members are not.
		{"secret in state", map[string]any{"traceparent": validParent, "tracestate": "vendor=opaque,leak=" + secretJWT + ",token=abc"},
			"4bf92f3577b34da6a3ce929d0e0e4736", "vendor=opaque"},
		{"malformed state", map[string]any{"traceparent": validParent, "tracestate": "vendor=opaque,Bad Key=x"},
			"4bf92f3577b34da6a3ce929d0e0e4736", ""},
		{"state too long", map[string]any{"traceparent": validParent, "tracestate": "a=" + strings.Repeat("b", 600)},
			"4bf92f3577b34da6a3ce929d0e0e4736", ""},
		{"state not a string", map[string]any{"traceparent": validParent, "tracestate": 7}, "4bf92f3577b34da6a3ce929d0e0e4736", ""},
		{"malformed", map[string]any{"traceparent": "00-xyz-00f067aa0ba902b7-01"}, "", ""},
		{"zero trace", map[string]any{"traceparent": "00-00000000000000000000000000000000-00f067aa0ba902b7-01"}, "", ""},
		{"not a string", map[string]any{"traceparent": 42}, "", ""},
		{"too long", map[string]any{"traceparent": validParent + strings.Repeat("0", 600)}, "", ""},
		{"state alone", map[string]any{"tracestate": "a=b"}, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc := trace.SpanContextFromContext(ExtractMeta(context.Background(), tc.meta))
			got := ""
			if sc.IsValid() {
				got = sc.TraceID().String()
				if !sc.IsRemote() {
					t.Error("extracted context not remote")
				}
			}
			if got != tc.trace {
				t.Errorf("trace %q, want %q", got, tc.trace)
			}
			if st := sc.TraceState().String(); st != tc.state {
				t.Errorf("trace state %q, want %q", st, tc.state)
			}
		})
	}
}

func FuzzExtractMeta(f *testing.F) {
	f.Add(validParent, "a=b")
	f.Add("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", "")
	f.Add("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "x")
	f.Fuzz(func(t *testing.T, parent, state string) {
		ctx := ExtractMeta(context.Background(), map[string]any{"traceparent": parent, "tracestate": state})
		sc := trace.SpanContextFromContext(ctx)
		if sc.IsValid() && !strings.Contains(parent, sc.TraceID().String()) {
			t.Fatalf("trace id %s not from %q", sc.TraceID(), parent)
		}
		if st := sc.TraceState().String(); st != "" && st != CleanTraceState(st) {
			t.Fatalf("trace state %q from %q is not clean", st, state)
		}
	})
}

func BenchmarkExtractMeta(b *testing.B) {
	meta := map[string]any{"traceparent": validParent, "tracestate": "vendor=opaque"}
	b.ReportAllocs()
	for b.Loop() {
		ExtractMeta(context.Background(), meta)
	}
}

// The scrubber drops what libraries put in spans that can hold a value:
// URL paths and queries, SQL, exception messages, status text. Shown with
// a real otelhttp client span and hand-made ones.
func TestScrubRemovesValues(t *testing.T) {
	const secret = "234-56-7890"
	exp := tracetest.NewInMemoryExporter()
	tp := NewTracerProvider(exp, true)
	defer tp.Shutdown(context.Background())
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()

	ctx, parent := tp.Tracer("test").Start(context.Background(), "call")
	client := &http.Client{Transport: otelhttp.NewTransport(http.DefaultTransport,
		otelhttp.WithTracerProvider(ContextTracerProvider()), otelhttp.WithPropagators(propagation.NewCompositeTextMapPropagator()))}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/customers/"+secret+"?ssn="+secret, nil)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Request.Header.Get("traceparent") != "" {
		t.Error("a trace header went to the target")
	}
	_, s := tp.Tracer("test").Start(ctx, "db", trace.WithAttributes(
		attribute.String("db.statement", "SELECT * FROM p WHERE ssn = '"+secret+"'"),
		attribute.String("db.query.text", secret), attribute.String("db.query.parameter.0", secret),
		attribute.String("http.request.header.x-token", secret), attribute.String("kept", "yes")))
	s.RecordError(errors.New("invalid input syntax: " + secret))
	s.SetStatus(codes.Error, "failed on "+secret)
	s.End()
	parent.End()

	spans := exp.GetSpans()
	if len(spans) != 3 {
		t.Fatalf("%d spans", len(spans))
	}
	var dump bytes.Buffer
	urlFull, kept := "", false
	for _, sp := range spans {
		fmt.Fprintf(&dump, "%s %s", sp.Name, sp.Status.Description)
		all := append([]attribute.KeyValue{}, sp.Attributes...)
		for _, e := range sp.Events {
			all = append(all, e.Attributes...)
		}
		for _, kv := range all {
			fmt.Fprintf(&dump, " %s=%s", kv.Key, kv.Value.Emit())
			switch kv.Key {
			case "url.full":
				urlFull = kv.Value.AsString()
			case "kept":
				kept = true
			}
		}
		if sp.Name != "call" && sp.Parent.SpanID() != parent.SpanContext().SpanID() {
			t.Errorf("%s: not beneath the call span", sp.Name)
		}
	}
	if strings.Contains(dump.String(), secret) {
		t.Errorf("a value survived the scrubber: %s", dump.String())
	}
	if urlFull != srv.URL || !kept {
		t.Errorf("url.full %q (want %q), kept %v: %s", urlFull, srv.URL, kept, dump.String())
	}
	if !strings.Contains(dump.String(), "exception.type") {
		t.Errorf("the exception event lost its type: %s", dump.String())
	}
}

func BenchmarkScrub(b *testing.B) {
	attrs := []attribute.KeyValue{attribute.String("url.full", "https://api.example.com/a/b?c=d"),
		attribute.String("http.request.method", "GET"), attribute.Int("http.response.status_code", 200),
		attribute.String("server.address", "api.example.com"), attribute.String("url.path", "/a/b")}
	b.ReportAllocs()
	for b.Loop() {
		scrubAttrs(attrs)
	}
}

// Outside a call (no span in the context) client instrumentation makes
// nothing, whatever the global provider.
func TestContextTracerProviderFollowsTheCall(t *testing.T) {
	_, s := ContextTracerProvider().Tracer("x").Start(context.Background(), "orphan")
	if s.IsRecording() || s.SpanContext().IsValid() {
		t.Error("a span was recorded outside a call")
	}
	exp := tracetest.NewInMemoryExporter()
	tp := NewTracerProvider(exp, true)
	ctx, parent := tp.Tracer("t").Start(context.Background(), "call")
	_, child := ContextTracerProvider().Tracer("x").Start(ctx, "child")
	child.End()
	parent.End()
	if n := len(exp.GetSpans()); n != 2 {
		t.Errorf("%d spans, want 2", n)
	}
}

func TestLogHandlerNamesTheCall(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(LogHandler(slog.NewJSONHandler(&buf, nil)))
	ctx := WithCallID(context.Background(), "c-1")
	ctx = ExtractMeta(ctx, map[string]any{"traceparent": validParent})
	log.InfoContext(ctx, "one")
	log.InfoContext(ctx, "two", "call_id", "c-1")
	log.With("k", "v").InfoContext(ctx, "three")
	log.Info("outside")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d lines", len(lines))
	}
	for _, l := range lines[:3] {
		if strings.Count(l, `"call_id":"c-1"`) != 1 || !strings.Contains(l, `"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"`) {
			t.Errorf("line without exactly one call_id and the trace_id: %s", l)
		}
	}
	if strings.Contains(lines[3], "call_id") {
		t.Errorf("a line outside a call names one: %s", lines[3])
	}
}

func TestConnectionLabelIsBounded(t *testing.T) {
	tel := New(Options{Connections: []string{"demo"}, TracerProvider: noop.NewTracerProvider()})
	for in, want := range map[string]string{"demo": "demo", "": "none", "x' OR 1=1": "unknown", "DEMO": "unknown"} {
		if got := tel.Connection(in); got != want {
			t.Errorf("Connection(%q) = %q, want %q", in, got, want)
		}
	}
	var nilTel *Telemetry
	if nilTel.Connection("demo") != "unknown" {
		t.Error("nil telemetry knows a connection")
	}
}

// BenchmarkCallOverhead is the telemetry cost of one call: its span, the
// eight stage spans and histograms, and the counters at the end; with
// tracing off (no-op provider) and on (the SDK, batching spans to an
// in-memory exporter).
func BenchmarkCallOverhead(b *testing.B) {
	run := func(b *testing.B, tp trace.TracerProvider) {
		tel := New(Options{Connections: []string{"demo"}, TracerProvider: tp})
		done := Done{Tool: "query_db", Connection: "demo", Decision: "allow", Outcome: "ok", Masked: map[string]int{"EMAIL": 3}, Tokens: 10, Bytes: 100, Journaled: true}
		b.ReportAllocs()
		for b.Loop() {
			ctx, c := tel.StartCall(context.Background(), "query_db", "stdio")
			c.SetCallID("0190-abc")
			for _, s := range Stages {
				_, st := c.StartStage(ctx, s)
				st.End()
			}
			c.End(done)
		}
	}
	b.Run("off", func(b *testing.B) { run(b, noop.NewTracerProvider()) })
	b.Run("memory", func(b *testing.B) {
		tp := NewTracerProvider(tracetest.NewInMemoryExporter(), false)
		defer tp.Shutdown(context.Background())
		run(b, tp)
	})
}

// With tracing off, a call that came with the client's trace context still
// names that trace (for the journal and the log); one without has none.
func TestTracingOffKeepsTheClientsTrace(t *testing.T) {
	tel := New(Options{TracerProvider: noop.NewTracerProvider()})
	ctx := ExtractMeta(context.Background(), map[string]any{"traceparent": validParent})
	ctx, c := tel.StartCall(ctx, "query_db", "stdio")
	if sc := trace.SpanContextFromContext(ctx); sc.TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("trace %s", sc.TraceID())
	}
	c.End(Done{Tool: "query_db", Outcome: "ok"})
	ctx, c = tel.StartCall(context.Background(), "query_db", "stdio")
	if trace.SpanContextFromContext(ctx).HasTraceID() {
		t.Error("a trace id without tracing or a client context")
	}
	c.End(Done{Tool: "query_db", Outcome: "ok"})
}
