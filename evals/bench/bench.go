// Package bench measures a guarded query_db call side by side with the
// floor (direct pgx) and the reference MCP server users run today
// (@modelcontextprotocol/server-postgres over stdio), in interleaved rounds
// so that a noisy machine hurts every target alike. `airlock bench` is its
// command; docs/performance.md records what it printed on this machine.
//
// Every target runs as its own process where it would in production (the
// gateway over streamable HTTP, one gateway per stdio agent, one reference
// server per stdio agent), so server CPU and peak RSS come from /proc.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Target names, in the order they appear in a report.
const (
	TargetFloor     = "pgx"
	TargetHTTP      = "airlock-http"
	TargetStdio     = "airlock-stdio"
	TargetReference = "reference"
)

// ReferencePackage is the pinned reference server.
const ReferencePackage = "@modelcontextprotocol/server-postgres@0.6.2"

// Scenario is one kind of call, the same SQL for every target.
type Scenario struct {
	Name string
	// SQL is what agents send; FloorSQL what the floor runs for the same
	// answer (a read cut at max_rows is a LIMIT for a direct client).
	SQL, FloorSQL string
	// Calls is each agent's calls per round; MaxAgents caps the
	// concurrency levels the scenario runs at (0: no cap).
	Calls, MaxAgents int
	// SkipReference says why the reference server does not run it.
	SkipReference string
}

// maxRows is the gateway's max_rows in the bench config (the quick start's).
const maxRows = 200

// Scenarios are the calls the bench knows, in report order.
var Scenarios = []Scenario{
	{Name: "select1", SQL: "SELECT 1", FloorSQL: "SELECT 1", Calls: 40},
	{Name: "rows100", SQL: "SELECT id, name, email, phone, ssn, card_number FROM bench_customers ORDER BY id LIMIT 100",
		FloorSQL: "SELECT id, name, email, phone, ssn, card_number FROM bench_customers ORDER BY id LIMIT 100", Calls: 20},
	{Name: "limit200", SQL: "SELECT id, name, email FROM bench_customers ORDER BY id LIMIT 200",
		FloorSQL: "SELECT id, name, email FROM bench_customers ORDER BY id LIMIT 200", Calls: 20},
	{Name: "maxrows", SQL: "SELECT id, name, email FROM bench_customers ORDER BY id",
		FloorSQL: "SELECT id, name, email FROM bench_customers ORDER BY id LIMIT 200", Calls: 20},
	{Name: "rows10m", SQL: "SELECT g, md5(g::text) FROM generate_series(1, 10000000) g",
		FloorSQL: "SELECT g, md5(g::text) FROM generate_series(1, 10000000) g LIMIT 200", Calls: 1, MaxAgents: 1,
		SkipReference: "returns all 10M rows as one JSON text"},
}

// Options says what to measure.
type Options struct {
	// DSN is the PostgreSQL the targets query (no password: use a trust or
	// peer setup, or PGPASSWORD for the floor and the reference).
	DSN string
	// Binary is the airlock binary the gateway targets run.
	Binary string
	// ReferenceDir holds node_modules with ReferencePackage; empty skips
	// the reference target.
	ReferenceDir string
	Targets      []string
	Scenarios    []string
	Agents       []int
	Rounds       int
	// CallsScale multiplies each scenario's calls per agent and round
	// (a smoke run uses a small one); at least one call always runs.
	CallsScale float64
	// Stages reads the HTTP gateway's per-stage timers (its Prometheus
	// metrics, on a loopback listener) around every batch and reports
	// where a call's time goes.
	Stages bool `json:"stages,omitempty"`
	// WorkDir holds the gateway's config, store and keys.
	WorkDir string
	// Log receives progress lines (nil: none).
	Log io.Writer `json:"-"`
}

// DefaultOptions are the full run's.
func DefaultOptions() Options {
	return Options{
		Targets:    []string{TargetFloor, TargetHTTP, TargetStdio, TargetReference},
		Scenarios:  []string{"select1", "rows100", "limit200", "maxrows", "rows10m"},
		Agents:     []int{1, 8, 32},
		Rounds:     5,
		CallsScale: 1,
	}
}

// Run measures every (scenario, agents, target) cell.
func Run(ctx context.Context, o Options) (*Report, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	logf := func(format string, a ...any) {
		if o.Log != nil {
			fmt.Fprintf(o.Log, format+"\n", a...)
		}
	}
	pgVersion, err := seed(ctx, o.DSN)
	if err != nil {
		return nil, err
	}
	env, err := newGatewayEnv(o.WorkDir, o.Binary, o.DSN, o.Stages)
	if err != nil {
		return nil, err
	}
	rep := &Report{Started: time.Now().UTC(), Machine: machine(), Options: o.public()}
	rep.Machine.Postgres = pgVersion
	if slices.Contains(o.Targets, TargetHTTP) {
		st, err := env.startup(ctx)
		if err != nil {
			return nil, err
		}
		rep.Startup = st
		logf("bench: gateway start-up to /healthz %.1f ms, idle RSS %.1f MiB", st.HealthzMS, st.IdleRSSMiB)
	}

	maxAgents := slices.Max(o.Agents)
	targets := map[string]target{}
	defer func() {
		for _, t := range targets {
			t.close()
		}
	}()
	for _, name := range o.Targets {
		logf("bench: starting %s with %d agents", name, maxAgents)
		t, err := o.newTarget(ctx, name, env, maxAgents)
		if err != nil {
			return nil, fmt.Errorf("bench: start %s: %w", name, err)
		}
		targets[name] = t
	}

	cells := map[cellKey]*cell{}
	for round := range o.Rounds {
		for _, sc := range o.scenarios() {
			for _, n := range o.Agents {
				if sc.MaxAgents > 0 && n > sc.MaxAgents {
					continue
				}
				// Rotate the order each round: no target always runs first
				// (on a warm cache) or last.
				names := slices.Clone(o.Targets)
				k := round % len(names)
				names = append(names[k:], names[:k]...)
				for _, name := range names {
					if name == TargetReference && sc.SkipReference != "" {
						continue
					}
					key := cellKey{sc.Name, n, name}
					c := cells[key]
					if c == nil {
						c = &cell{}
						cells[key] = c
					}
					calls := max(1, int(float64(sc.Calls)*o.CallsScale))
					if round == 0 {
						// Warm-up, not recorded: connections, caches,
						// first-seen statements.
						if _, err := runBatch(ctx, targets[name], sc, n, 1); err != nil {
							return nil, fmt.Errorf("bench: %s %s warm-up: %w", name, sc.Name, err)
						}
					}
					var before stageTimes
					stages := o.Stages && name == TargetHTTP
					if stages {
						if before, err = scrapeStages(ctx, env.metricsAddr); err != nil {
							return nil, err
						}
					}
					b, err := runBatch(ctx, targets[name], sc, n, calls)
					if err != nil {
						return nil, fmt.Errorf("bench: %s %s: %w", name, sc.Name, err)
					}
					c.add(b)
					if stages {
						after, err := scrapeStages(ctx, env.metricsAddr)
						if err != nil {
							return nil, err
						}
						c.addStages(before, after, len(b.lat)+b.errs)
					}
				}
			}
		}
		logf("bench: round %d/%d done", round+1, o.Rounds)
	}
	for name, t := range targets {
		rep.PeakRSSMiB = setPeak(rep.PeakRSSMiB, name, t.peakRSS())
	}
	rep.build(o, cells)
	return rep, nil
}

func (o *Options) validate() error {
	if o.DSN == "" {
		return errors.New("bench: a PostgreSQL DSN is required (--dsn)")
	}
	if o.Rounds < 1 {
		return errors.New("bench: rounds must be at least 1")
	}
	if len(o.Agents) == 0 || slices.Min(o.Agents) < 1 || slices.Max(o.Agents) > maxAgentsPerTarget {
		return errors.New("bench: agents must be between 1 and 256")
	}
	if o.CallsScale <= 0 {
		o.CallsScale = 1
	}
	for _, t := range o.Targets {
		switch t {
		case TargetFloor, TargetHTTP, TargetStdio, TargetReference:
		default:
			return fmt.Errorf("bench: unknown target %q (want %s, %s, %s or %s)", t, TargetFloor, TargetHTTP, TargetStdio, TargetReference)
		}
	}
	if len(o.Targets) == 0 {
		return errors.New("bench: no target to measure")
	}
	if slices.Contains(o.Targets, TargetReference) && o.ReferenceDir == "" {
		return errors.New("bench: the reference target needs its npm install (--reference-dir, or run `airlock bench --install-reference`)")
	}
	for _, s := range o.Scenarios {
		if !slices.ContainsFunc(Scenarios, func(sc Scenario) bool { return sc.Name == s }) {
			return fmt.Errorf("bench: unknown scenario %q", s)
		}
	}
	if (slices.Contains(o.Targets, TargetHTTP) || slices.Contains(o.Targets, TargetStdio)) && o.Binary == "" {
		return errors.New("bench: the airlock binary is required for the gateway targets")
	}
	if o.WorkDir == "" {
		return errors.New("bench: a work directory is required")
	}
	return nil
}

func (o *Options) scenarios() []Scenario {
	var out []Scenario
	for _, sc := range Scenarios {
		if slices.Contains(o.Scenarios, sc.Name) {
			out = append(out, sc)
		}
	}
	return out
}

func (o *Options) public() Options {
	p := *o
	p.Log = nil
	return p
}

// seed creates the bench table once: 1,000 customers with fake PII
// (SSN-shaped values, Luhn-valid test cards).
// It returns the server's version.
func seed(ctx context.Context, dsn string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return "", fmt.Errorf("bench: PostgreSQL: %w", err)
	}
	defer pool.Close()
	var version string
	if err := pool.QueryRow(ctx, "SHOW server_version").Scan(&version); err != nil {
		return "", fmt.Errorf("bench: PostgreSQL at the DSN did not answer: %w", err)
	}
	_, err = pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS bench_customers (
	id int PRIMARY KEY, name text, email text, phone text, ssn text, card_number text);
INSERT INTO bench_customers
SELECT g, 'Customer ' || g, 'customer' || g || '@example.com',
       '+1 212 555 ' || lpad((g % 10000)::text, 4, '0'),
       lpad((100 + g % 600)::text, 3, '0') || '-' || lpad((10 + g % 89)::text, 2, '0') || '-' || lpad((1000 + g)::text, 4, '0'),
       '4111 1111 1111 1111'
FROM generate_series(1, 1000) g
ON CONFLICT (id) DO NOTHING`)
	if err != nil {
		return "", fmt.Errorf("bench: seed bench_customers: %w", err)
	}
	return version, nil
}

// cellKey names one measured cell.
type cellKey struct {
	scenario string
	agents   int
	target   string
}

// cell accumulates the batches of one cell over the rounds.
type cell struct {
	lat    []time.Duration
	errs   int
	wall   time.Duration
	cpu    time.Duration
	sample string
	// stageMS sums the gateway's per-stage milliseconds over stageCalls
	// calls (--stages, streamable HTTP target only).
	stageMS    map[string]float64
	stageCalls int
}

func (c *cell) add(b *batch) {
	c.lat = append(c.lat, b.lat...)
	c.errs += b.errs
	c.wall += b.wall
	c.cpu += b.cpu
	if c.sample == "" {
		c.sample = b.firstErr
	}
}

// batch is one run of n agents making k calls each, concurrently.
type batch struct {
	lat      []time.Duration
	errs     int
	wall     time.Duration
	cpu      time.Duration
	firstErr string
}

func runBatch(ctx context.Context, t target, sc Scenario, n, k int) (*batch, error) {
	agents := t.agents()
	if n > len(agents) {
		return nil, fmt.Errorf("%d agents asked, %d started", n, len(agents))
	}
	cpu0 := t.cpu()
	var (
		mu  sync.Mutex
		out = &batch{}
		wg  sync.WaitGroup
	)
	start := time.Now()
	for i := range n {
		wg.Go(func() {
			lat := make([]time.Duration, 0, k)
			var errs int
			var first string
			for range k {
				cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
				t0 := time.Now()
				err := agents[i].call(cctx, sc)
				d := time.Since(t0)
				cancel()
				if err != nil {
					errs++
					if first == "" {
						first = oneLine(err.Error())
					}
					continue
				}
				lat = append(lat, d)
			}
			mu.Lock()
			out.lat = append(out.lat, lat...)
			out.errs += errs
			if out.firstErr == "" {
				out.firstErr = first
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	out.wall = time.Since(start)
	out.cpu = t.cpu() - cpu0
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// DefaultReferenceDir is where --install-reference puts the reference
// server when no repository copy is found.
func DefaultReferenceDir() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "airlock", "bench-reference")
}
