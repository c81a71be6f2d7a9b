package bench

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/airlockhq/airlock/config"
	"github.com/airlockhq/airlock/identity"
	"github.com/airlockhq/airlock/internal/gatewayproc"
)

// target is one way of running the scenarios: a set of agents and the
// server processes they talk to.
type target interface {
	agents() []agent
	// cpu is the CPU time the target's server processes used so far (0
	// when the target has no server process of its own).
	cpu() time.Duration
	// peakRSS is the largest peak resident set of one server process, in
	// MiB (0: none).
	peakRSS() float64
	close()
}

// agent makes one call at a time.
type agent interface {
	call(ctx context.Context, sc Scenario) error
}

func (o *Options) newTarget(ctx context.Context, name string, env *gatewayEnv, n int) (target, error) {
	switch name {
	case TargetFloor:
		return newFloor(ctx, o.DSN, n)
	case TargetHTTP:
		return env.newHTTP(ctx, n)
	case TargetStdio:
		return env.newStdio(ctx, n)
	case TargetReference:
		return newReference(ctx, o.ReferenceDir, o.DSN, n)
	}
	return nil, fmt.Errorf("unknown target %q", name)
}

// floor: direct pgx, what the query costs without any MCP server.
type floor struct {
	pool *pgxpool.Pool
	as   []agent
}

type floorAgent struct{ pool *pgxpool.Pool }

func newFloor(ctx context.Context, dsn string, n int) (*floor, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	cfg.MaxConns = int32(n)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	f := &floor{pool: pool}
	for range n {
		f.as = append(f.as, floorAgent{pool})
	}
	return f, nil
}

func (f *floor) agents() []agent    { return f.as }
func (f *floor) cpu() time.Duration { return 0 }
func (f *floor) peakRSS() float64   { return 0 }
func (f *floor) close()             { f.pool.Close() }

func (a floorAgent) call(ctx context.Context, sc Scenario) error {
	rows, err := a.pool.Query(ctx, sc.FloorSQL)
	if err != nil {
		return err
	}
	for rows.Next() {
		if _, err := rows.Values(); err != nil {
			rows.Close()
			return err
		}
	}
	return rows.Err()
}

// gatewayEnv is the gateway's config, store and dev-issuer token.
type gatewayEnv struct {
	binary, cfgPath string
	// httpCfgPath is the HTTP gateway's config: cfgPath's, plus a metrics
	// listener at metricsAddr with --stages.
	httpCfgPath string
	metricsAddr string
	// tokens[i] is agent i's: each agent is its own principal, as agents
	// are in a deployment (per-principal limits apply to each).
	tokens []string
}

const connection = "bench"

func newGatewayEnv(dir, binary, dsn string, stages bool) (*gatewayEnv, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	// The quick start's limits; every guard on.
	yaml := fmt.Sprintf(`# written by airlock bench
server:
  listen: 127.0.0.1:18999
identity:
  audience: airlock-bench
  dev_issuer: {enabled: true}
store: sqlite:bench.db
connections:
  %s: {kind: postgres, dsn: %q, description: bench database}
rules:
  - name: bench-read
    groups: [bench]
    connections: [%s]
    access: [read]
    effect: allow
    grant: {mode: auto, max_duration: 8h}
masking:
  columns:
    "*.ssn": partial
    "*.card_number": partial
limits:
  call_timeout: 30s
  statement_timeout: 10s
  max_rows: %d
  max_result_tokens: 8000
`, connection, dsn, connection, maxRows)
	p := filepath.Join(dir, "airlock.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
		return nil, err
	}
	cfg, err := config.Load(p)
	if err != nil {
		return nil, err
	}
	dev, err := identity.LoadOrCreateDevIssuer(cfg.DevIssuerURL(), cfg.Identity.DevIssuer.KeyFile)
	if err != nil {
		return nil, err
	}
	e := &gatewayEnv{binary: binary, cfgPath: p, httpCfgPath: p}
	if stages {
		// Only the HTTP gateway serves metrics: stdio gateways share the
		// other file and would all want the same port.
		if e.metricsAddr, err = freeLoopbackAddr(); err != nil {
			return nil, err
		}
		e.httpCfgPath = filepath.Join(dir, "airlock-http.yaml")
		withMetrics := strings.Replace(yaml, "  listen: 127.0.0.1:18999\n", "  listen: 127.0.0.1:18999\n  metrics_listen: "+e.metricsAddr+"\n", 1)
		if err := os.WriteFile(e.httpCfgPath, []byte(withMetrics), 0o600); err != nil {
			return nil, err
		}
	}
	for i := range maxAgentsPerTarget {
		tok, err := dev.Mint(identity.MintOptions{Subject: fmt.Sprintf("bench-agent-%d", i), Groups: []string{"bench"},
			Audience: cfg.Identity.Audience, TTL: 8 * time.Hour, Agent: "airlock-bench"})
		if err != nil {
			return nil, err
		}
		e.tokens = append(e.tokens, tok)
	}
	return e, nil
}

// maxAgentsPerTarget bounds the agents of one target (Options.validate).
const maxAgentsPerTarget = 256

// Startup is the gateway's start-up cost.
type Startup struct {
	HealthzMS  float64 `json:"healthz_ms"`
	IdleRSSMiB float64 `json:"idle_rss_mib"`
}

// startup starts a gateway, times it until /healthz answers, reads its
// idle RSS and stops it.
func (e *gatewayEnv) startup(ctx context.Context) (*Startup, error) {
	t0 := time.Now()
	p, err := e.startHTTP(ctx)
	if err != nil {
		return nil, err
	}
	defer p.Stop()
	hc := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := hc.Get(p.Base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			return nil, errors.New("/healthz did not answer 200 within 30s")
		}
		time.Sleep(time.Millisecond)
	}
	st := &Startup{HealthzMS: float64(time.Since(t0).Microseconds()) / 1000}
	// Let background start-up work settle before reading the idle RSS.
	time.Sleep(500 * time.Millisecond)
	st.IdleRSSMiB = procStatus(p.Cmd.Process.Pid, "VmRSS")
	return st, nil
}

func (e *gatewayEnv) startHTTP(ctx context.Context) (*gatewayproc.Proc, error) {
	return gatewayproc.Start(ctx, e.binary, e.httpCfgPath, nil)
}

// mcpTarget is a set of MCP clients and the server processes behind them.
type mcpTarget struct {
	as      []agent
	clients []*client.Client
	pids    []int
	stop    func()
}

func (t *mcpTarget) agents() []agent    { return t.as }
func (t *mcpTarget) cpu() time.Duration { return procsCPU(t.pids) }
func (t *mcpTarget) peakRSS() float64 {
	var peak float64
	for _, pid := range t.pids {
		peak = max(peak, procStatus(pid, "VmHWM"))
	}
	return peak
}

func (t *mcpTarget) close() {
	for _, c := range t.clients {
		c.Close()
	}
	if t.stop != nil {
		t.stop()
	}
}

// mcpAgent calls one tool with the scenario's SQL.
type mcpAgent struct {
	c    *client.Client
	tool string
	args func(sql string) map[string]any
}

func (a *mcpAgent) call(ctx context.Context, sc Scenario) error {
	req := mcp.CallToolRequest{}
	req.Params.Name = a.tool
	req.Params.Arguments = a.args(sc.SQL)
	res, err := a.c.CallTool(ctx, req)
	if err != nil {
		return err
	}
	if res.IsError {
		var b strings.Builder
		for _, c := range res.Content {
			if tc, ok := c.(mcp.TextContent); ok {
				b.WriteString(tc.Text)
			}
		}
		return fmt.Errorf("tool error: %s", b.String())
	}
	return nil
}

func queryDBArgs(sql string) map[string]any {
	return map[string]any{"connection": connection, "sql": sql}
}

func initialize(ctx context.Context, c *client.Client) error {
	if err := c.Start(context.Background()); err != nil {
		return err
	}
	req := mcp.InitializeRequest{}
	req.Params.ProtocolVersion = mcp.LATEST_PROTOCOL_VERSION
	req.Params.ClientInfo = mcp.Implementation{Name: "airlock-bench", Version: "1"}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	_, err := c.Initialize(ctx, req)
	return err
}

// requestAccess gets the read grant an agent runs under (grants are per
// subject).
func requestAccess(ctx context.Context, c *client.Client) error {
	args := map[string]any{"connection": connection, "access": "read", "duration": "8h", "reason": "airlock bench"}
	a := &mcpAgent{c: c, tool: "request_access", args: func(string) map[string]any { return args }}
	return a.call(ctx, Scenario{})
}

func (e *gatewayEnv) newHTTP(ctx context.Context, n int) (target, error) {
	p, err := e.startHTTP(ctx)
	if err != nil {
		return nil, err
	}
	t := &mcpTarget{pids: []int{p.Cmd.Process.Pid}, stop: p.Stop}
	for i := range n {
		c, err := client.NewStreamableHttpClient(p.Base+"/mcp",
			transport.WithHTTPHeaders(map[string]string{"Authorization": "Bearer " + e.tokens[i]}))
		if err == nil {
			err = initialize(ctx, c)
		}
		if err == nil {
			err = requestAccess(ctx, c)
		}
		if err != nil {
			t.close()
			return nil, fmt.Errorf("agent %d: %w (gateway: %s)", i, err, p.LastLines())
		}
		t.clients = append(t.clients, c)
		t.as = append(t.as, &mcpAgent{c: c, tool: "query_db", args: queryDBArgs})
	}
	return t, nil
}

// stdioClient starts command as an MCP server over stdio and records its
// process id.
func stdioClient(ctx context.Context, command string, env, args []string) (*client.Client, int, error) {
	var (
		mu  sync.Mutex
		cmd *exec.Cmd
	)
	c, err := client.NewStdioMCPClientWithOptions(command, env, args,
		transport.WithCommandFunc(func(ctx context.Context, command string, env, args []string) (*exec.Cmd, error) {
			mu.Lock()
			defer mu.Unlock()
			cmd = exec.CommandContext(ctx, command, args...)
			cmd.Env = append(os.Environ(), env...)
			return cmd, nil
		}))
	if err != nil {
		return nil, 0, err
	}
	if err := initialize(ctx, c); err != nil {
		c.Close()
		return nil, 0, err
	}
	mu.Lock()
	defer mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		c.Close()
		return nil, 0, errors.New("stdio server did not start")
	}
	return c, cmd.Process.Pid, nil
}

func (e *gatewayEnv) newStdio(ctx context.Context, n int) (target, error) {
	t := &mcpTarget{}
	for i := range n {
		c, pid, err := stdioClient(ctx, e.binary, []string{"AIRLOCK_TOKEN=" + e.tokens[i]},
			[]string{"serve", "--stdio", "--config", e.cfgPath})
		if err == nil {
			err = requestAccess(ctx, c)
		}
		if err != nil {
			t.close()
			return nil, fmt.Errorf("agent %d: %w", i, err)
		}
		t.clients, t.pids = append(t.clients, c), append(t.pids, pid)
		t.as = append(t.as, &mcpAgent{c: c, tool: "query_db", args: queryDBArgs})
	}
	return t, nil
}

// ReferenceEntry is the reference server's script under its install dir.
const ReferenceEntry = "node_modules/@modelcontextprotocol/server-postgres/dist/index.js"

func newReference(ctx context.Context, dir, dsn string, n int) (target, error) {
	entry := filepath.Join(dir, ReferenceEntry)
	if _, err := os.Stat(entry); err != nil {
		return nil, fmt.Errorf("the reference server is not installed in %s (run `airlock bench --install-reference`): %w", dir, err)
	}
	t := &mcpTarget{}
	for i := range n {
		c, pid, err := stdioClient(ctx, "node", nil, []string{entry, dsn})
		if err != nil {
			t.close()
			return nil, fmt.Errorf("agent %d: %w", i, err)
		}
		t.clients, t.pids = append(t.clients, c), append(t.pids, pid)
		t.as = append(t.as, &mcpAgent{c: c, tool: "query", args: func(sql string) map[string]any { return map[string]any{"sql": sql} }})
	}
	return t, nil
}

// InstallReference installs the pinned reference server into dir with npm.
func InstallReference(ctx context.Context, dir string) error {
	if _, err := os.Stat(filepath.Join(dir, ReferenceEntry)); err == nil {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "npm", "install", "--no-audit", "--no-fund", "--prefix", dir, ReferencePackage)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("npm install %s: %w\n%s", ReferencePackage, err, out)
	}
	return nil
}

// clkTck is the kernel's USER_HZ, 100 on every Linux architecture Go
// supports.
const clkTck = 100

// procsCPU sums the user and system time of pids (a process that is gone
// counts 0).
func procsCPU(pids []int) time.Duration {
	var ticks int64
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// Fields after the command name, which is in parentheses and may
		// hold spaces: state is field 3, utime 14, stime 15.
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) < 13 {
			continue
		}
		u, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		ticks += u + st
	}
	return time.Duration(ticks) * time.Second / clkTck
}

// procStatus reads a kB field of /proc/PID/status, in MiB.
func procStatus(pid int, field string) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}
