package server

import (
	"context"
	"errors"
	"maps"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/airlockhq/airlock/internal/telemetry"
)

// PathMetrics serves Prometheus metrics on server.metrics_listen.
const PathMetrics = "/metrics"

// newTelemetry builds the gateway's metrics and tracer: connection names
// from config are the only values the connection label takes.
func newTelemetry(g *Gateway, opts Options) *telemetry.Telemetry {
	return telemetry.New(telemetry.Options{
		TracerProvider: opts.TracerProvider,
		Connections:    slices.Sorted(maps.Keys(g.cfg.Connections)),
		Version:        Version,
	})
}

// watchState registers the gauges read at each scrape.
func (g *Gateway) watchState() {
	g.tel.WatchState(telemetry.State{
		Requests: g.store,
		Integrity: func() (bool, bool) {
			s := g.JournalIntegrity()
			return s.OK, s.FullyVerified
		},
	})
}

// Telemetry is the gateway's metrics registry and tracer.
func (g *Gateway) Telemetry() *telemetry.Telemetry { return g.tel }

// MetricsHandler serves GET /metrics and nothing else. It is not on the
// MCP listener: it has no authentication, and what it says (tools,
// connections, volumes, errors) is for the operator's scraper only.
func (g *Gateway) MetricsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET "+PathMetrics, g.tel.Handler())
	return mux
}

// ServeMetrics serves MetricsHandler on ln until ctx is done. The
// caller listens, so a bad address is an error at start.
func (g *Gateway) ServeMetrics(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: g.MetricsHandler(), ReadHeaderTimeout: readHeaderTimeout, IdleTimeout: idleTimeout,
		MaxHeaderBytes: 16 << 10}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}
