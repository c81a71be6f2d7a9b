package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/airlockhq/airlock/config"
	"github.com/airlockhq/airlock/internal/telemetry"
	"github.com/airlockhq/airlock/server"
)

func version() string { return server.Version }

func cmdServe(ctx context.Context, args []string, stderr io.Writer) (err error) {
	fs, cfgPath := newFlags("serve")
	listen := fs.String("listen", "", "listen address (overrides server.listen)")
	stdio := fs.Bool("stdio", false, "serve MCP over stdin/stdout instead of HTTP")
	logJSON := fs.Bool("log-json", false, "log as JSON lines")
	pprofAddr := fs.String("pprof", "", "serve net/http/pprof on this loopback address (e.g. 127.0.0.1:6060); off by default")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	if err := cfg.CheckSecrets(); err != nil {
		return err
	}
	var h slog.Handler = slog.NewTextHandler(stderr, nil)
	if *logJSON {
		h = slog.NewJSONHandler(stderr, nil)
	}
	log := slog.New(h)
	// Libraries that log to slog.Default or the log package (mcp-go's SSE
	// server, its client) reach this log too, lowered and redacted.
	defer telemetry.RouteDefaultLoggers(log, "mcp-go")()
	// Traces go out over OTLP when the standard OTEL_* variables ask for
	// it; off otherwise.
	stopTracing, tracing, err := telemetry.SetupTracing(ctx, version())
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if terr := stopTracing(sctx); terr != nil {
			log.Warn("tracing: could not flush spans at shutdown", "err", terr)
		}
	}()
	if tracing {
		log.Info("tracing: exporting spans over OTLP/HTTP (OTEL_* environment)")
	}
	if *pprofAddr != "" {
		stop, err := startPprof(*pprofAddr, log)
		if err != nil {
			return err
		}
		defer stop()
	}
	g, err := server.New(ctx, cfg, server.Options{Logger: log})
	if err != nil {
		return err
	}
	defer func() {
		// A shutdown that could not close the journal cleanly (a checkpoint
		// refused over a journal that fails verification, a store error)
		// exits non-zero: the log has said why.
		if cerr := g.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("shutdown: %w", cerr)
		}
	}()
	if err := seedDemo(ctx, cfg, g); err != nil {
		return err
	}
	serveCtx, sd := watchSignals(ctx, g, log)
	sd.stderr = stderr
	defer sd.stop()
	if a := cfg.Server.MetricsListen; a != "" {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			return fmt.Errorf("server.metrics_listen: %w", err)
		}
		log.Info("serving metrics", "addr", ln.Addr().String(), "path", server.PathMetrics)
		// Metrics outlive the drain: they stop when serve returns.
		mctx, stopMetrics := context.WithCancel(context.WithoutCancel(ctx))
		mdone := make(chan struct{})
		go func() {
			defer close(mdone)
			if err := g.ServeMetrics(mctx, ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("metrics listener stopped", "err", err)
			}
		}()
		defer func() { stopMetrics(); <-mdone }()
	}
	if *stdio {
		log.Info("serving MCP over stdio", "config", *cfgPath)
		return sd.finish(g.ServeStdio(serveCtx, os.Stdin, os.Stdout))
	}
	addr := cfg.Server.Listen
	if *listen != "" {
		addr = *listen
	}
	return sd.finish(g.ServeHTTP(serveCtx, addr, func(a net.Addr) {
		log.Info("serving MCP", "addr", a.String(), "streamable_http", "http://"+a.String()+server.PathMCP,
			"sse", "http://"+a.String()+server.PathSSE)
		printBanner(stderr, cfg, *cfgPath, a.String(), g)
	}))
}

// shutdown tracks one serve's signals and says, in the log, when and why
// it stops and how its drain went.
type shutdown struct {
	log     *slog.Logger
	g       *server.Gateway
	started chan struct{} // closed when the shutdown begins
	begun   time.Time
	done    chan struct{}
	sigs    chan os.Signal
	stderr  io.Writer // plain lines for a person at the terminal, beside the log
}

// watchSignals returns the context serve runs under. It ends, after a log
// line naming the reason and the calls in flight, when ctx ends (SIGINT or
// SIGTERM in main) or a SIGINT/SIGTERM arrives. SIGHUP, which would
// otherwise kill the process, is logged and ignored: config reload is not
// supported yet. Later signals are logged and do not cut the drain short.
func watchSignals(ctx context.Context, g *server.Gateway, log *slog.Logger) (context.Context, *shutdown) {
	serveCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	sd := &shutdown{log: log, g: g, started: make(chan struct{}), done: make(chan struct{}), sigs: make(chan os.Signal, 4)}
	signal.Notify(sd.sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	begin := func(reason string) {
		sd.begun = time.Now()
		log.Info("shutting down: refusing new calls, waiting for calls in flight to finish and be journaled",
			"reason", reason, "in_flight", g.InFlight(), "grace", g.ShutdownGrace())
		if sd.stderr != nil {
			fmt.Fprintf(sd.stderr, "airlock: %s, stopping: refusing new calls, %d in flight finishing (at most %s)\n",
				reason, g.InFlight(), g.ShutdownGrace())
		}
		close(sd.started)
		cancel()
	}
	go func() {
		parent := ctx.Done()
		for {
			select {
			case <-sd.done:
				return
			case <-parent:
				parent = nil
				if !sd.isShuttingDown() {
					reason := "stopped by its caller"
					var sc signalCause
					if errors.As(context.Cause(ctx), &sc) {
						reason = "received " + signalName(sc.sig)
					}
					begin(reason)
				}
			case s := <-sd.sigs:
				switch {
				case s == syscall.SIGHUP:
					log.Warn("received SIGHUP: config reload is not supported yet; still serving with the config loaded at start (restart the gateway to apply changes)")
				case !sd.isShuttingDown():
					begin("received " + signalName(s))
				default:
					log.Warn("shutdown already in progress; still waiting for calls in flight",
						"signal", signalName(s), "in_flight", g.InFlight(), "grace", g.ShutdownGrace())
				}
			}
		}
	}()
	return serveCtx, sd
}

func (sd *shutdown) isShuttingDown() bool {
	select {
	case <-sd.started:
		return true
	default:
		return false
	}
}

// finish logs how a serve that was asked to stop ended, and passes err on.
func (sd *shutdown) finish(err error) error {
	if !sd.isShuttingDown() {
		return err
	}
	took := time.Since(sd.begun).Round(time.Millisecond)
	if err != nil {
		sd.log.Error("shutdown incomplete: calls were still in flight after the grace period; "+
			"their journal records are closed as outcome unknown at the next start", "in_flight", sd.g.InFlight(), "took", took, "err", err)
		return err
	}
	sd.log.Info("shutdown complete: every call finished and was journaled", "took", took)
	if sd.stderr != nil {
		fmt.Fprintln(sd.stderr, "airlock stopped: every call finished and was journaled.")
	}
	return nil
}

func (sd *shutdown) stop() {
	signal.Stop(sd.sigs)
	close(sd.done)
}
