// Package server assembles the gateway: the MCP server (mark3labs/mcp-go)
// with every tool behind the guard pipeline, the stdio, SSE and streamable
// HTTP transports, bearer-token authentication, RFC 9728 metadata, the dev
// issuer's endpoints and health.
package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"
	"go.opentelemetry.io/otel/trace"

	"github.com/airlockhq/airlock/config"
	"github.com/airlockhq/airlock/console"
	"github.com/airlockhq/airlock/identity"
	"github.com/airlockhq/airlock/internal/telemetry"
	"github.com/airlockhq/airlock/masking"
	"github.com/airlockhq/airlock/policy"
	"github.com/airlockhq/airlock/policy/jit"
	"github.com/airlockhq/airlock/recorder"
	"github.com/airlockhq/airlock/slackapprove"
	"github.com/airlockhq/airlock/store"
	"github.com/airlockhq/airlock/tools"
	"github.com/airlockhq/airlock/tools/access"        // registers list_connections, request_access, access_status
	_ "github.com/airlockhq/airlock/tools/httprequest" // registers http_request
	_ "github.com/airlockhq/airlock/tools/querydb"     // registers query_db
	_ "github.com/airlockhq/airlock/tools/runssh"      // registers run_ssh
	_ "github.com/airlockhq/airlock/tools/upstream"    // registers upstream MCP servers' tools
)

// Version is the gateway's version, reported to MCP clients. Release
// builds stamp it, Commit and BuildDate with -ldflags -X (see the
// Makefile's release target); `airlock version` prints all three.
var (
	Version   = "0.1.0-dev"
	Commit    = ""
	BuildDate = ""
)

// Gateway is one running Airlock.
type Gateway struct {
	cfg      *config.Config
	log      *slog.Logger
	store    store.Store
	journal  *recorder.Service
	pipeline *tools.Pipeline
	mcp      *mcpserver.MCPServer
	tools    []tools.Tool
	sets     []tools.ToolSet
	verifier *identity.Verifier
	dev      *identity.DevIssuer
	jit      *jit.Service
	engine   *policy.Engine
	webhook  *jit.Webhook
	console  *console.Console
	slack    *slackapprove.Slack
	stopBG   context.CancelFunc
	// stopIdentity ends discovery retries of an unreachable issuer.
	stopIdentity context.CancelFunc
	bg           sync.WaitGroup
	tel          *telemetry.Telemetry

	handlerOnce sync.Once
	handler     http.Handler
	sse         *mcpserver.SSEServer
	streamable  *mcpserver.StreamableHTTPServer

	sessions   *sessionTable
	registered registeredSessions
	limits     *httpLimits
}

// Options tune New.
type Options struct {
	Logger *slog.Logger
	// Journal overrides the store as the journal sink (fault injection in
	// tests).
	Journal recorder.Journal
	// TracerProvider makes call and stage spans; nil: the global one (set
	// by telemetry.SetupTracing from the OTEL_* environment).
	TracerProvider trace.TracerProvider
}

// New builds a gateway from cfg: opens the store, builds the verifier and
// every tool kind's tools. Connections to targets open lazily.
func New(ctx context.Context, cfg *config.Config, opts Options) (*Gateway, error) {
	g := &Gateway{cfg: cfg, log: opts.Logger}
	if g.log == nil {
		g.log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	// Lines logged during a call carry its call id and trace id.
	g.log = slog.New(telemetry.LogHandler(g.log.Handler()))
	g.tel = newTelemetry(g, opts)
	dsn, err := cfg.StoreDSN()
	if err != nil {
		return nil, err
	}
	st, err := store.Open(ctx, dsn)
	if err != nil {
		return nil, err
	}
	g.store = st
	var sink recorder.Journal = st
	if opts.Journal != nil {
		sink = opts.Journal
	}
	// Recovery runs here, before anything serves: calls a dead gateway
	// left started are journaled as outcome unknown, never retried.
	js, err := recorder.Start(ctx, st, recorder.Options{
		Retention: cfg.Journal.Retention.Std(), CheckpointInterval: cfg.Journal.CheckpointInterval.Std(),
		KeyFile: cfg.Journal.CheckpointKeyFile, DigestKeyFile: cfg.Journal.DigestKeyFile, MaxRecordBytes: cfg.Journal.MaxRecordBytes,
		Journal: g.tel.WrapJournal(sink), Logger: g.log,
	})
	if err != nil {
		g.Close()
		return nil, fmt.Errorf("journal: %w", err)
	}
	g.journal = js
	g.watchState()
	if err := g.initIdentity(ctx); err != nil {
		g.Close()
		return nil, err
	}
	engine := policy.NewEngine(cfg.Rules)
	g.engine = engine
	rec := g.journal.Recorder()
	sinks := []jit.Sink{journalSink{rec: rec, log: g.log}}
	if cfg.Approvals.WebhookURL != "" {
		key, err := cfg.WebhookKey()
		if err != nil {
			g.Close()
			return nil, err
		}
		g.webhook = jit.NewWebhook(cfg.Approvals.WebhookURL, key, g.log)
		sinks = append(sinks, g.webhook)
	}
	// Slack needs the service it decides through, and the service needs
	// its sinks: the Slack sink is bound once both exist.
	slackSink := &lateSink{}
	if cfg.Approvals.Slack != nil {
		sinks = append(sinks, slackSink)
	}
	g.jit = jit.New(st, engine, jit.Config{Wait: cfg.Approvals.Wait, TTL: cfg.Approvals.TTL, AdminGroups: cfg.Admin.Groups}, g.log, append(sinks, consoleSink{g})...)
	if err := g.initSlack(slackSink); err != nil {
		g.Close()
		return nil, err
	}
	if err := g.initConsole(); err != nil {
		g.Close()
		return nil, fmt.Errorf("console: %w", err)
	}
	bgCtx, stop := context.WithCancel(context.Background())
	g.stopBG = stop
	if g.console != nil {
		g.bg.Add(1)
		go func() { defer g.bg.Done(); g.console.Run(bgCtx) }()
	}
	g.bg.Add(1)
	go func() { defer g.bg.Done(); g.jit.Run(bgCtx) }()
	masker, err := cfg.MaskingEngine()
	if err != nil {
		g.Close()
		return nil, err
	}
	tc, err := masking.NewTokenCounter(cfg.Limits.TokenEncoding)
	if err != nil {
		g.Close()
		return nil, fmt.Errorf("limits.token_encoding: %w", err)
	}
	g.pipeline = tools.NewPipeline(tools.PipelineConfig{
		Recorder: rec, Policy: engine, JIT: g.jit, Logger: g.log, CallTimeout: cfg.Limits.CallTimeout,
		Masker: masker, Tokens: tc, Budget: cfg.ResultTokens, DigestKey: g.journal.DigestKey(), Telemetry: g.tel,
	})
	g.sessions = newSessionTable(cfg.Server.SessionIdleTimeout, cfg.Server.MaxSessionsPerPrincipal, maxSessions, g.endSession)
	g.bg.Add(1)
	go func() { defer g.bg.Done(); g.sessions.run(bgCtx) }()
	g.limits = newHTTPLimits(cfg.Server)
	hooks := &mcpserver.Hooks{}
	hooks.AddAfterListTools(g.filterToolList)
	g.registered.hook(hooks)
	g.mcp = mcpserver.NewMCPServer("airlock", Version,
		mcpserver.WithToolCapabilities(false),
		mcpserver.WithHooks(hooks),
		mcpserver.WithRecovery(),
		mcpserver.WithToolHandlerMiddleware(g.limitCalls),
		mcpserver.WithInstructions("Airlock is a guarded gateway to databases and systems. Every call is checked against policy and journaled; errors say what to do next."),
	)
	env := &tools.Env{Config: cfg, Policy: engine, JIT: g.jit, Masker: masker, Logger: g.log, Pins: st, Journal: rec}
	for _, k := range tools.Kinds() {
		if k.NewSet != nil {
			ts, err := k.NewSet(env)
			if err != nil {
				g.Close()
				return nil, fmt.Errorf("tool %s: %w", k.Name, err)
			}
			if ts != nil {
				g.sets = append(g.sets, ts)
				for _, t := range ts.Tools() {
					g.addTool(t)
				}
			}
			continue
		}
		t, err := k.New(env)
		if err != nil {
			g.Close()
			return nil, fmt.Errorf("tool %s: %w", k.Name, err)
		}
		if t == nil {
			continue
		}
		g.addTool(t)
	}
	if err := g.declareTools(); err != nil {
		g.Close()
		return nil, err
	}
	return g, nil
}

func (g *Gateway) addTool(t tools.Tool) {
	g.tools = append(g.tools, t)
	g.mcp.AddTool(t.Definition(), g.pipeline.Handle(t))
}

// declareTools builds the tools declared in config with the kind that
// serves their connection.
func (g *Gateway) declareTools() error {
	for i := range g.cfg.Tools {
		d := &g.cfg.Tools[i]
		var decl tools.Declarer
		for _, t := range g.tools {
			if dr, ok := t.(tools.Declarer); ok && slices.Contains(dr.DeclaredKinds(), d.Kind) {
				decl = dr
				break
			}
		}
		if decl == nil {
			return fmt.Errorf("tools.%s: no tool kind builds declared tools of kind %q", d.Name, d.Kind)
		}
		t, err := decl.Declare(d)
		if err != nil {
			return err
		}
		g.addTool(t)
	}
	return nil
}

// filterToolList shows a principal only the tools it could use: those
// whose connections some rule lets its groups use. Calls are checked again
// by policy in the pipeline (and journaled), so hiding is not the guard.
func (g *Gateway) filterToolList(ctx context.Context, _ any, _ *mcp.ListToolsRequest, res *mcp.ListToolsResult) {
	p, err := identity.Current(ctx)
	if err != nil {
		p = nil // an expired or refused credential sees no tools
	}
	byName := map[string]tools.Tool{}
	for _, t := range g.tools {
		byName[t.Definition().Name] = t
	}
	kept := res.Tools[:0]
	for _, def := range res.Tools {
		if g.visible(p, byName[def.Name], def.Name) {
			kept = append(kept, g.definitionFor(p, byName[def.Name], def))
		}
	}
	res.Tools = kept
}

// definitionFor is t's definition as p sees it: a tool that names
// connections (schema enum, description) names only those some rule
// could grant p.
func (g *Gateway) definitionFor(p *identity.Principal, t tools.Tool, def mcp.Tool) mcp.Tool {
	sd, ok := t.(tools.ScopedDefinition)
	if !ok {
		return def
	}
	var candidates []string
	if sc, ok := t.(tools.Scoped); ok {
		candidates = sc.Connections()
	} else {
		candidates = slices.Sorted(maps.Keys(g.cfg.Connections))
	}
	var names []string
	for _, c := range candidates {
		if g.connectionVisible(p, def.Name, c) {
			names = append(names, c)
		}
	}
	return sd.DefinitionFor(names)
}

// connectionVisible reports whether some rule could let p use connection
// through tool; request_access asks whether p may request anything on it.
func (g *Gateway) connectionVisible(p *identity.Principal, tool, connection string) bool {
	if tool == access.RequestAccess {
		return access.Requestable(g.engine, p.Groups, connection)
	}
	return g.engine.Visible(p.Groups, tool, []string{connection})
}

func (g *Gateway) visible(p *identity.Principal, t tools.Tool, name string) bool {
	if p == nil || t == nil {
		return false
	}
	if w, ok := t.(tools.Withholder); ok && w.Withheld() {
		return false
	}
	sc, ok := t.(tools.Scoped)
	if !ok {
		return true
	}
	return g.engine.Visible(p.Groups, name, sc.Connections())
}

// ToolsFor lists the tool definitions principal p sees (airlock tools).
func (g *Gateway) ToolsFor(p *identity.Principal) []mcp.Tool {
	var out []mcp.Tool
	for _, t := range g.tools {
		def := t.Definition()
		switch {
		case p == nil:
			out = append(out, def)
		case g.visible(p, t, def.Name):
			out = append(out, g.definitionFor(p, t, def))
		}
	}
	return out
}

func (g *Gateway) initIdentity(ctx context.Context) error {
	id := g.cfg.Identity
	vc := identity.VerifierConfig{Issuer: id.Issuer, Audience: id.Audience, GroupsClaim: id.GroupsClaim}
	if id.DevIssuer.Enabled && id.Issuer == g.cfg.DevIssuerURL() {
		dev, err := identity.LoadOrCreateDevIssuer(g.cfg.DevIssuerURL(), id.DevIssuer.KeyFile)
		if err != nil {
			return fmt.Errorf("dev issuer: %w", err)
		}
		g.dev = dev
		// The login form, token endpoint and dynamic registration for
		// the quick start: tokens are bound to this gateway's audience,
		// for its own resource URLs only (RFC 8707).
		pub := g.cfg.Server.PublicURL
		if err := dev.EnableAuthorization(identity.DevAuthConfig{
			Audience:        id.Audience,
			Resources:       map[string]string{pub: id.Audience, pub + PathMCP: id.Audience, pub + PathSSE: id.Audience},
			GroupsClaim:     id.GroupsClaim,
			SuggestedGroups: configGroups(g.cfg),
		}); err != nil {
			return fmt.Errorf("dev issuer: %w", err)
		}
		// Verify dev tokens through go-oidc's remote key set, served
		// in-process, so stdio needs no listener.
		vc.JWKSURL, vc.HTTPClient = dev.JWKSURL(), dev.HTTPClient()
	}
	// An unreachable issuer does not stop the gateway: calls are refused
	// (fail closed) while discovery is retried with backoff, until Close.
	idCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	g.stopIdentity = stop
	v, err := identity.NewVerifierRetrying(idCtx, vc, g.log)
	if err != nil {
		return fmt.Errorf("identity: %w", err)
	}
	g.verifier = v
	return nil
}

// JournalIntegrity reports whether the journal's chain verifies (checked
// at start, in full in the background, and before every checkpoint); a
// failure stays reported, and checkpoints refused, until an operator acts.
// Health and readiness checks read it.
func (g *Gateway) JournalIntegrity() recorder.IntegrityStatus { return g.journal.Integrity() }

// configGroups lists the groups the config names (admins, rules,
// approvers), for the dev issuer's login form.
func configGroups(cfg *config.Config) []string {
	var out []string
	add := func(gs []string) {
		for _, g := range gs {
			if g != "*" && !slices.Contains(out, g) {
				out = append(out, g)
			}
		}
	}
	add(cfg.Admin.Groups)
	for _, r := range cfg.Rules {
		add(r.Groups)
		add(r.Grant.Approvers)
	}
	return out
}

// DevIssuer returns the built-in development issuer, or nil when the
// gateway trusts another issuer.
func (g *Gateway) DevIssuer() *identity.DevIssuer { return g.dev }

// Verifier returns the gateway's token verifier.
func (g *Gateway) Verifier() *identity.Verifier { return g.verifier }

// Store returns the gateway's store.
func (g *Gateway) Store() store.Store { return g.store }

// Tools returns the gateway's tools.
func (g *Gateway) Tools() []tools.Tool { return g.tools }

// InFlight is the number of tool calls running now.
func (g *Gateway) InFlight() int64 { return g.pipeline.InFlight() }

// ShutdownGrace is how long a shutdown waits for calls in flight.
func (g *Gateway) ShutdownGrace() time.Duration { return g.cfg.Server.ShutdownGrace }

// Drain waits for in-flight calls (and their journal records) to finish,
// up to the configured grace period.
func (g *Gateway) Drain() error {
	ctx, cancel := context.WithTimeout(context.Background(), g.cfg.Server.ShutdownGrace)
	defer cancel()
	return g.pipeline.Drain(ctx)
}

// Close releases connections and the store. Call Drain first.
func (g *Gateway) Close() error {
	if g.stopIdentity != nil {
		g.stopIdentity()
	}
	if g.stopBG != nil {
		g.stopBG()
		g.bg.Wait()
	}
	if g.webhook != nil {
		g.webhook.Close()
	}
	if g.slack != nil {
		g.slack.Close()
	}
	var errs []error
	for _, t := range g.tools {
		if c, ok := t.(io.Closer); ok {
			errs = append(errs, c.Close())
		}
	}
	for _, ts := range g.sets {
		if c, ok := ts.(io.Closer); ok {
			errs = append(errs, c.Close())
		}
	}
	if g.journal != nil {
		errs = append(errs, g.journal.Close())
	}
	if g.store != nil {
		errs = append(errs, g.store.Close())
	}
	return errors.Join(errs...)
}

var errNoStdioIdentity = errors.New("no identity: set AIRLOCK_TOKEN, or configure identity.stdio_principal")

// stdioPrincipal resolves the identity for stdio calls: AIRLOCK_TOKEN,
// verified on every call so expiry holds, else the configured local
// principal, else none.
func (g *Gateway) stdioPrincipal(ctx context.Context) (*identity.Principal, error) {
	if tok := os.Getenv("AIRLOCK_TOKEN"); tok != "" {
		return g.verifier.Verify(ctx, tok)
	}
	if sp := g.cfg.Identity.StdioPrincipal; sp != nil {
		return &identity.Principal{Subject: sp.Subject, Groups: sp.Groups, Issuer: "local"}, nil
	}
	return nil, errNoStdioIdentity
}

// ServeStdio serves MCP over in/out until ctx is done or in closes. Logs
// go to the gateway's logger (stderr), never to out.
func (g *Gateway) ServeStdio(ctx context.Context, in io.Reader, out io.Writer) error {
	if _, err := g.stdioPrincipal(ctx); err != nil {
		g.logAuthRefusal("stdio identity rejected", err, "")
		return errors.New("stdio identity: " + authReason(err))
	}
	s := mcpserver.NewStdioServer(g.mcp)
	s.SetErrorLogger(slog.NewLogLogger(g.log.Handler(), slog.LevelError))
	s.SetContextFunc(func(ctx context.Context) context.Context {
		// Calls outlive a shutdown signal so they finish and are journaled.
		ctx = tools.WithTransport(context.WithoutCancel(ctx), "stdio")
		// mcp-go calls this once per process, so the context carries a
		// resolver that re-verifies AIRLOCK_TOKEN at every call (the
		// pipeline's identify stage), and the principal it named at start,
		// under which a refused call is journaled.
		ctx = identity.NewResolverContext(ctx, g.stdioPrincipal)
		p, err := g.stdioPrincipal(ctx)
		if err != nil {
			g.logAuthRefusal("stdio identity rejected", err, "")
			return ctx
		}
		return identity.NewContext(ctx, p)
	})
	err := s.Listen(ctx, in, out)
	if errors.Is(err, context.Canceled) || errors.Is(err, io.EOF) {
		err = nil
	}
	return errors.Join(err, g.Drain())
}
