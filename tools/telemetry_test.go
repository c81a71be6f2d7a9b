package tools

import (
	"context"
	"slices"
	"testing"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/airlockhq/airlock/identity"
	"github.com/airlockhq/airlock/internal/telemetry"
)

// A denied call's trace has the stages it went through and no others (no
// execute, mask or cap), is not marked failed, and is counted with its
// decision and outcome; an allowed call's has every stage.
func TestPipelineStageSpans(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := telemetry.NewTracerProvider(exp, true)
	defer tp.Shutdown(context.Background())
	tel := telemetry.New(telemetry.Options{TracerProvider: tp, Connections: []string{"db"}})
	p := newTestPipeline(t, &memJournal{})
	p.tel = tel
	ctx := identity.NewContext(context.Background(), analyst)

	names := func() (out []string) {
		for _, s := range exp.GetSpans() {
			out = append(out, s.Name)
		}
		slices.Sort(out)
		return out
	}
	if res, err := call(p, &fakeTool{}, ctx, map[string]any{"access": "write"}); err != nil || !res.IsError {
		t.Fatalf("denial: %v", err)
	}
	if got, want := names(), []string{"classify", "decide", "identify", "journal", "journal", "tools/call fake"}; !slices.Equal(got, want) {
		t.Errorf("denied call spans %v, want %v", got, want)
	}
	for _, s := range exp.GetSpans() {
		if s.Name == "tools/call fake" && s.Status.Code != 0 {
			t.Errorf("a denial marked the call span %v", s.Status)
		}
	}
	exp.Reset()
	if res, err := call(p, &fakeTool{}, ctx, map[string]any{"access": "read"}); err != nil || res.IsError {
		t.Fatalf("allowed: %v", err)
	}
	// No token counter in the test pipeline, so no cap stage.
	if got, want := names(), []string{"approve", "classify", "decide", "execute", "identify", "journal", "journal", "mask", "tools/call fake"}; !slices.Equal(got, want) {
		t.Errorf("allowed call spans %v, want %v", got, want)
	}
	fams, err := tel.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	counted := map[string]float64{}
	for _, f := range fams {
		if f.GetName() != "airlock_calls_total" {
			continue
		}
		for _, m := range f.Metric {
			key := ""
			for _, l := range m.Label {
				key += l.GetName() + "=" + l.GetValue() + " "
			}
			counted[key] = m.Counter.GetValue()
		}
	}
	for _, k := range []string{"connection=db decision=deny outcome=denied tool=fake ", "connection=db decision=allow outcome=ok tool=fake "} {
		if counted[k] != 1 {
			t.Errorf("airlock_calls_total{%s} = %v; all: %v", k, counted[k], counted)
		}
	}
}

// BenchmarkPipelineTelemetry is BenchmarkPipeline with metrics on and
// tracing off (the default: the global no-op provider), and with tracing
// on into memory: the telemetry's share of a call.
func BenchmarkPipelineTelemetry(b *testing.B) {
	run := func(b *testing.B, tel *telemetry.Telemetry) {
		p := newTestPipeline(b, &memJournal{})
		p.tel = tel
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
	b.Run("metrics", func(b *testing.B) { run(b, telemetry.New(telemetry.Options{Connections: []string{"db"}})) })
	b.Run("metrics+traces", func(b *testing.B) {
		tp := telemetry.NewTracerProvider(tracetest.NewInMemoryExporter(), false)
		defer tp.Shutdown(context.Background())
		run(b, telemetry.New(telemetry.Options{TracerProvider: tp, Connections: []string{"db"}}))
	})
}
