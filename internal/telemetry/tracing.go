package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/embedded"
)

// TracingFromEnv reports whether the standard OpenTelemetry environment
// asks for traces: OTEL_SDK_DISABLED is not true, OTEL_TRACES_EXPORTER is
// otlp or unset, and an OTLP endpoint (OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set. Tracing is off otherwise.
// An exporter or protocol this build does not have is an error naming
// the variable, not a silent no-op.
func TracingFromEnv(getenv func(string) string) (bool, error) {
	if strings.EqualFold(strings.TrimSpace(getenv("OTEL_SDK_DISABLED")), "true") {
		return false, nil
	}
	switch exp := strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER")); exp {
	case "none":
		return false, nil
	case "", "otlp":
	default:
		return false, fmt.Errorf("OTEL_TRACES_EXPORTER=%q: this gateway exports traces with otlp only; set it to otlp, or none to turn tracing off", exp)
	}
	if getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" && getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "" {
		if getenv("OTEL_TRACES_EXPORTER") == "otlp" {
			return false, errors.New("OTEL_TRACES_EXPORTER=otlp but no endpoint: set OTEL_EXPORTER_OTLP_ENDPOINT (e.g. http://otel-collector:4318)")
		}
		return false, nil
	}
	proto := getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
	name := "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
	if proto == "" {
		proto, name = getenv("OTEL_EXPORTER_OTLP_PROTOCOL"), "OTEL_EXPORTER_OTLP_PROTOCOL"
	}
	if proto != "" && proto != "http/protobuf" {
		return false, fmt.Errorf("%s=%q: this gateway sends OTLP over http/protobuf only (the collector's port 4318); unset it or set http/protobuf", name, proto)
	}
	return true, nil
}

// SetupTracing installs, when the environment asks for it (see
// TracingFromEnv), a global tracer provider exporting over OTLP/HTTP in
// batches, and the W3C trace-context propagator. Everything else —
// endpoint, headers, TLS, timeout, sampler (OTEL_TRACES_SAMPLER), batch
// sizes (OTEL_BSP_*), resource (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES)
// — comes from the standard variables through the SDK. shutdown flushes
// and stops the exporter; it is a no-op when tracing is off.
func SetupTracing(ctx context.Context, version string) (shutdown func(context.Context) error, enabled bool, err error) {
	noop := func(context.Context) error { return nil }
	on, err := TracingFromEnv(os.Getenv)
	if err != nil || !on {
		return noop, false, err
	}
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return noop, false, fmt.Errorf("tracing: OTLP exporter: %w", err)
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", "airlock"), attribute.String("service.version", version)),
		resource.WithTelemetrySDK(),
		resource.WithFromEnv(),
	)
	if err != nil {
		return noop, false, fmt.Errorf("tracing: resource (OTEL_RESOURCE_ATTRIBUTES): %w", err)
	}
	tp := NewTracerProvider(exp, false, sdktrace.WithResource(res))
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	return tp.Shutdown, true, nil
}

// NewTracerProvider returns an SDK tracer provider whose spans reach exp
// through the scrubber (see Scrub). sync exports each span as it ends
// (tests); otherwise spans are batched.
func NewTracerProvider(exp sdktrace.SpanExporter, sync bool, opts ...sdktrace.TracerProviderOption) *sdktrace.TracerProvider {
	s := Scrub(exp)
	if sync {
		opts = append(opts, sdktrace.WithSyncer(s))
	} else {
		opts = append(opts, sdktrace.WithBatcher(s))
	}
	return sdktrace.NewTracerProvider(opts...)
}

// Scrub wraps exp so that no exported span carries an attribute known to
// hold a value from a request or a response, whoever set it: a URL's path
// and query (url.full keeps its scheme and host), SQL text and
// parameters, headers, exception messages and stack traces, and status
// descriptions. The gateway's own spans never set these; the libraries
// beneath execute (otelhttp, a pgx tracer) would.
func Scrub(exp sdktrace.SpanExporter) sdktrace.SpanExporter { return scrubExporter{next: exp} }

type scrubExporter struct{ next sdktrace.SpanExporter }

func (e scrubExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	out := make([]sdktrace.ReadOnlySpan, len(spans))
	for i, s := range spans {
		out[i] = scrubbed{s}
	}
	return e.next.ExportSpans(ctx, out)
}

func (e scrubExporter) Shutdown(ctx context.Context) error { return e.next.Shutdown(ctx) }

type scrubbed struct{ sdktrace.ReadOnlySpan }

func (s scrubbed) Attributes() []attribute.KeyValue { return scrubAttrs(s.ReadOnlySpan.Attributes()) }

func (s scrubbed) Events() []sdktrace.Event {
	ev := s.ReadOnlySpan.Events()
	out := make([]sdktrace.Event, len(ev))
	for i, e := range ev {
		e.Attributes = scrubAttrs(e.Attributes)
		out[i] = e
	}
	return out
}

func (s scrubbed) Links() []sdktrace.Link {
	l := s.ReadOnlySpan.Links()
	out := make([]sdktrace.Link, len(l))
	for i, k := range l {
		k.Attributes = scrubAttrs(k.Attributes)
		out[i] = k
	}
	return out
}

func (s scrubbed) Status() sdktrace.Status {
	st := s.ReadOnlySpan.Status()
	st.Description = ""
	return st
}

// droppedKeys hold values; droppedPrefixes start keys that do.
var (
	droppedKeys = map[string]bool{
		"url.path": true, "url.query": true, "url.fragment": true, "http.url": true, "http.target": true,
		"db.statement": true, "db.query.text": true, "db.query.summary": true, "db.sql.table": true,
		"exception.message": true, "exception.stacktrace": true, "error.message": true,
		"user_agent.original": true,
	}
	droppedPrefixes = []string{"db.query.parameter.", "db.operation.parameter.", "http.request.header.", "http.response.header.",
		"rpc.request.metadata.", "rpc.response.metadata."}
)

func scrubAttrs(in []attribute.KeyValue) []attribute.KeyValue {
	out := make([]attribute.KeyValue, 0, len(in))
	for _, kv := range in {
		k := string(kv.Key)
		if droppedKeys[k] || hasAnyPrefix(k, droppedPrefixes) {
			continue
		}
		if k == "url.full" {
			kv = attribute.String(k, originOf(kv.Value.AsString()))
		}
		out = append(out, kv)
	}
	return out
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// originOf is scheme://host[:port] of a URL, without user info, path or
// query; "" when it does not parse.
func originOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// ContextTracerProvider makes spans with the tracer provider of the span
// already in the context: spans beneath a call's execute stage go wherever
// the call's span goes (nowhere when tracing is off, or outside a call).
// Give it to client instrumentation (otelhttp, the pgx tracer).
func ContextTracerProvider() trace.TracerProvider { return ctxProvider{} }

type ctxProvider struct{ embedded.TracerProvider }

func (ctxProvider) Tracer(name string, opts ...trace.TracerOption) trace.Tracer {
	return ctxTracer{name: name, opts: opts}
}

type ctxTracer struct {
	embedded.Tracer
	name string
	opts []trace.TracerOption
}

func (t ctxTracer) Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	return trace.SpanFromContext(ctx).TracerProvider().Tracer(t.name, t.opts...).Start(ctx, name, opts...)
}
