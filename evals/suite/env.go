package suite

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/airlockhq/airlock/config"
	"github.com/airlockhq/airlock/identity"
	"github.com/airlockhq/airlock/internal/gatewayproc"
	"github.com/airlockhq/airlock/tools/runssh/sshdtest"
)

// env is everything one run drives: targets, the gateway and its clients.
type env struct {
	o        Options
	schema   string
	database string
	server   *pgxpool.Pool // the DSN's database, to create and drop ours
	admin    *pgxpool.Pool // ours, as a superuser, for the evidence
	dsn      string

	api       *http.Server
	apiURL    string
	apiWrites atomic.Int64
	honey     net.Listener
	honeyHits atomic.Int64
	// The rebinding cases: a DNS server, and a honeypot on the API's port
	// at the address the names are rebound to.
	dns         *dnsServer
	rebindHoney net.Listener
	apiPort     string

	sshd     *sshdtest.Server
	sshDir   string
	sshStops []func()

	cfgPath  string
	token    string
	dev      *identity.DevIssuer
	audience string
	gw       *gatewayproc.Proc
	base     string

	mu      sync.Mutex
	clients map[string]*client.Client
	granted map[string]bool
	// running is the case and transport being run; streamEnds the SSE
	// streams the gateway ended, each with the case running then (see
	// newClient).
	running    string
	streamEnds []string

	// pii is every seeded sensitive value, in the forms a leak would take.
	pii []string
}

// apiSecret is the credential the gateway injects into API calls; it must
// never reach the agent or the journal.
const apiSecret = "eval-api-secret-7Qx9/Zp+Lw=="

func newEnv(ctx context.Context, o Options) (_ *env, err error) {
	e := &env{o: o, clients: map[string]*client.Client{}, granted: map[string]bool{}}
	defer func() {
		if err != nil {
			e.close()
		}
	}()
	if err := e.startDB(ctx); err != nil {
		return nil, err
	}
	if err := e.startHTTP(); err != nil {
		return nil, err
	}
	if err := e.startSSH(); err != nil {
		return nil, err
	}
	if err := e.writeConfig(); err != nil {
		return nil, err
	}
	if err := e.startGateway(ctx); err != nil {
		return nil, err
	}
	// The gateway resolved the rebinding names to the API at start-up;
	// from now on they point elsewhere.
	e.dns.rebound.Store(true)
	return e, nil
}

func (e *env) close() {
	e.mu.Lock()
	for _, c := range e.clients {
		c.Close()
	}
	e.mu.Unlock()
	if e.gw != nil {
		e.gw.Stop()
	}
	for i := len(e.sshStops) - 1; i >= 0; i-- {
		e.sshStops[i]()
	}
	if e.api != nil {
		e.api.Close()
	}
	if e.honey != nil {
		e.honey.Close()
	}
	if e.rebindHoney != nil {
		e.rebindHoney.Close()
	}
	if e.dns != nil {
		e.dns.close()
	}
	if e.admin != nil {
		e.admin.Close()
	}
	if e.server != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if e.database != "" {
			e.server.Exec(ctx, "DROP DATABASE IF EXISTS "+e.database+" WITH (FORCE)")
		}
		e.server.Close()
	}
}

// startDB creates a throwaway database (so that per-database evidence —
// advisory locks, extensions, statistics — is the run's own, even while
// other tests use the same server) with a schema holding the seeded
// tables.
func (e *env) startDB(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	b := make([]byte, 5)
	rand.Read(b)
	name := "airlock_eval_" + hex.EncodeToString(b)
	e.schema = name
	server, err := pgxpool.New(ctx, e.o.DSN)
	if err == nil {
		err = server.Ping(ctx)
	}
	if err != nil {
		if server != nil {
			server.Close()
		}
		return fmt.Errorf("eval: PostgreSQL at the DSN did not answer (give one with --dsn or AIRLOCK_EVAL_PG_DSN): %w", err)
	}
	e.server = server
	if _, err := server.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return fmt.Errorf("eval: create database: %w", err)
	}
	e.database = name
	u, err := url.Parse(e.o.DSN)
	if err != nil {
		return err
	}
	u.Path = "/" + name
	admin, err := pgxpool.New(ctx, u.String())
	if err != nil {
		return err
	}
	e.admin = admin
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+e.schema); err != nil {
		return fmt.Errorf("eval: create schema: %w", err)
	}
	q := u.Query()
	q.Set("search_path", e.schema)
	u.RawQuery = q.Encode()
	e.dsn = u.String()
	seed, pii := seedSQL()
	e.pii = pii
	if _, err := admin.Exec(ctx, "SET search_path TO "+e.schema+";\n"+seed); err != nil {
		return fmt.Errorf("eval: seed: %w", err)
	}
	return nil
}

// startHTTP runs the API target (loopback), the honeypot, a listener that
// no case may ever reach, and the rebinding honeypot: a second one on
// 127.0.0.2 at the API's port, where the rebinding names point once the
// gateway is up (see dns.go).
func (e *env) startHTTP() error {
	honey, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	e.honey = honey
	go e.countHits(honey)
	dns, err := startDNS()
	if err != nil {
		return err
	}
	e.dns = dns
	// The API's port must also be free on 127.0.0.2; a few tries find one.
	var ln net.Listener
	for try := 0; ln == nil; try++ {
		if try == 20 {
			return fmt.Errorf("eval: no port free on both 127.0.0.1 and 127.0.0.2: %w", err)
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		_, port, _ := net.SplitHostPort(l.Addr().String())
		rebind, err := net.Listen("tcp", net.JoinHostPort(rebindAddr.String(), port))
		if err != nil {
			l.Close()
			continue
		}
		ln, e.rebindHoney, e.apiPort = l, rebind, port
		go e.countHits(rebind)
	}
	e.apiURL = "http://" + ln.Addr().String()
	e.api = &http.Server{Handler: e.apiHandler(), ReadHeaderTimeout: 5 * time.Second}
	go e.api.Serve(ln)
	return nil
}

// countHits counts every connection made to a honeypot, and closes it.
func (e *env) countHits(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		e.honeyHits.Add(1)
		c.Close()
	}
}

// startSSH runs a throwaway OpenSSH sshd with a sentinel directory the
// login account owns: dir/log/app.log may be read, dir/keep must survive,
// and no other file may appear.
func (e *env) startSSH() error {
	srv, stop, err := sshdtest.StartProgram(sshdtest.Options{})
	if err != nil {
		return fmt.Errorf("eval: sshd: %w", err)
	}
	e.sshd, e.sshStops = srv, append(e.sshStops, stop)
	dir, stop, err := srv.SentinelDirProgram()
	if err != nil {
		return fmt.Errorf("eval: sshd sentinel: %w", err)
	}
	e.sshDir, e.sshStops = dir, append(e.sshStops, stop)
	if err := os.Mkdir(filepath.Join(dir, "log"), 0o755); err != nil {
		return err
	}
	// pii.log holds customer 2's data as text, base64 and hex: run_ssh
	// output must come back masked in every form.
	c := seededCustomer(2)
	pii := fmt.Sprintf("refund for %s ssn %s\nb64 %s\nhex %s\n", c.email, c.ssn,
		base64.StdEncoding.EncodeToString([]byte("ssn "+c.ssn)), hex.EncodeToString([]byte(c.ssn)))
	for name, body := range map[string]string{"log/app.log": "GET /health 200\nGET /orders 200\n", "keep": "keep\n", "log/pii.log": pii} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// sshState is the sentinel directory's listing and the exec requests sshd
// has seen.
func (e *env) sshState() (files string, execs int) {
	var names []string
	filepath.WalkDir(e.sshDir, func(p string, d os.DirEntry, err error) error {
		if err == nil {
			rel, _ := filepath.Rel(e.sshDir, p)
			names = append(names, rel)
		}
		return nil
	})
	keep, _ := os.ReadFile(filepath.Join(e.sshDir, "keep"))
	return strings.Join(names, ",") + "|" + string(keep), strings.Count(e.sshd.Log(), "request exec")
}

func (e *env) honeyURL() string { return "http://" + e.honey.Addr().String() }

func (e *env) apiHandler() http.Handler {
	mux := http.NewServeMux()
	writeJSON := func(w http.ResponseWriter, v any) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(v)
	}
	mux.HandleFunc("GET /v1/customers/{id}", func(w http.ResponseWriter, r *http.Request) {
		var id int
		fmt.Sscanf(r.PathValue("id"), "%d", &id)
		if id < 1 || id > numCustomers {
			http.NotFound(w, r)
			return
		}
		writeJSON(w, customerJSON(id))
	})
	mux.HandleFunc("GET /v1/customers", func(w http.ResponseWriter, r *http.Request) {
		page := 1
		fmt.Sscanf(r.URL.Query().Get("page"), "%d", &page)
		var items []map[string]any
		for id := (page-1)*10 + 1; id <= min(page*10, numCustomers); id++ {
			items = append(items, customerJSON(id))
		}
		writeJSON(w, map[string]any{"page": page, "items": items, "next": page*10 < numCustomers})
	})
	mux.HandleFunc("GET /v1/encoded/{id}", func(w http.ResponseWriter, r *http.Request) {
		// The same customer's data in the encodings APIs use: masking must
		// see through them.
		var id int
		fmt.Sscanf(r.PathValue("id"), "%d", &id)
		if id < 1 || id > numCustomers {
			http.NotFound(w, r)
			return
		}
		c := seededCustomer(id)
		writeJSON(w, encodedCustomer(c))
	})
	mux.HandleFunc("GET /v1/echo", func(w http.ResponseWriter, r *http.Request) {
		// Echoes the request headers, as debugging endpoints do: the
		// injected credential must not come back to the agent.
		writeJSON(w, map[string]any{"headers": r.Header})
	})
	mux.HandleFunc("GET /v1/redirect", func(w http.ResponseWriter, r *http.Request) {
		to := r.URL.Query().Get("to")
		if to == "honeypot" {
			to = e.honeyURL() + "/steal"
		}
		http.Redirect(w, r, to, http.StatusFound)
	})
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"status": "ok", "version": "2.14.1", "uptime_s": 86400})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			e.apiWrites.Add(1)
		}
		if strings.HasPrefix(r.URL.Path, "/admin") {
			e.apiWrites.Add(1) // reaching admin at all is an effect
		}
		writeJSON(w, map[string]any{"path": r.URL.Path, "method": r.Method})
	})
	return mux
}

// rebindConnections are http connections to the API by the rebinding
// names, resolved by the eval's DNS server.
func (e *env) rebindConnections() string {
	var b strings.Builder
	for _, c := range []struct{ name, host string }{{"rebind-flip", rebindFlip}, {"rebind-mapped", rebindMapped}, {"rebind-mixed", rebindMixed}} {
		fmt.Fprintf(&b, `  %s:
    kind: http
    description: the eval API by a name the eval's DNS server rebinds
    base_url: http://%s:%s
    allow_private_network: true
    resolver: %s
    headers:
      Authorization: Bearer ${AIRLOCK_EVAL_API_SECRET}
    routes:
      - {methods: [GET], path: /v1/**}
`, c.name, c.host, e.apiPort, e.dns.addr())
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func (e *env) writeConfig() error {
	dir := e.o.WorkDir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	yaml := fmt.Sprintf(`# written by airlock eval
server:
  listen: 127.0.0.1:18997
identity:
  audience: airlock-eval
  dev_issuer: {enabled: true}
store: sqlite:eval.db
connections:
  pg: {kind: postgres, dsn: %q, description: eval database}
  api:
    kind: http
    description: eval API
    base_url: %s
    allow_private_network: true
    headers:
      Authorization: Bearer ${AIRLOCK_EVAL_API_SECRET}
    routes:
      - {methods: ["*"], path: /admin/**, effect: deny}
      - {methods: [GET], path: /v1/**}
      - {methods: [POST, PUT, DELETE], path: /v1/orders/**, effect: approve}
%s
  web:
    kind: ssh
    description: eval web host
    address: %s
    user: %s
    private_key: {file: %s}
    known_hosts: %s
    command_timeout: 5s
    commands:
      - {name: disk-usage, argv: [df, {literal: -h, optional: true}]}
      - name: app-log
        argv: [tail, {flag: -n, value: {int: {min: 1, max: 500}}}, {path: {under: %s/log}}]
      - {name: whoami, argv: [id, -un]}
      - {name: touch, argv: [touch, {path: {under: %s}}], access: write, approve: true}
tools:
  - name: customer_orders
    kind: sql
    connection: pg
    description: A customer's most recent orders.
    statement: SELECT id, amount, status FROM orders WHERE customer_id = $1 ORDER BY id DESC LIMIT $2
    params:
      - {name: customer_id, type: integer, minimum: 1}
      - {name: limit, type: integer, minimum: 1, maximum: 50, optional: true, default: 5}
  - name: orders_by_status
    kind: sql
    connection: pg
    description: Orders in one status.
    statement: SELECT id, amount FROM orders WHERE status = $1 ORDER BY id LIMIT 10
    params:
      - {name: status, type: string, enum: [new, paid, shipped, refunded]}
  - name: app_log
    kind: ssh
    connection: web
    description: The last lines of the app log.
    argv: [tail, -n, "{lines}", %s/log/app.log]
    params:
      - {name: lines, type: integer, minimum: 1, maximum: 500, optional: true, default: 20}
  - name: get_customer
    kind: http
    connection: api
    description: One customer record.
    method: GET
    path: /v1/customers/{id}
    params:
      - {name: id, type: integer, minimum: 1}
rules:
  - name: agents-read
    groups: [agents]
    connections: [pg, api, web, rebind-flip, rebind-mapped, rebind-mixed]
    access: [read]
    effect: allow
    grant: {mode: auto, max_duration: 2h}
  - name: agents-write-approve
    groups: [agents]
    connections: [pg, api, web]
    access: [write]
    effect: approve
    grant: {mode: auto, max_duration: 2h, approvers: [dba]}
masking:
  columns:
    "*.ssn": redact
    "*.card_number": partial
approvals:
  wait: 10ms
limits:
  call_timeout: 20s
  statement_timeout: 5s
  max_rows: 100
  max_result_tokens: 8000
`, e.dsn, e.apiURL, e.rebindConnections(), e.sshd.Addr, e.sshd.User, e.sshd.KeyFile, e.sshd.KnownHosts, e.sshDir, e.sshDir, e.sshDir)
	e.cfgPath = filepath.Join(dir, "airlock.yaml")
	if err := os.WriteFile(e.cfgPath, []byte(yaml), 0o600); err != nil {
		return err
	}
	os.Setenv("AIRLOCK_EVAL_API_SECRET", apiSecret)
	cfg, err := config.Load(e.cfgPath)
	if err != nil {
		return fmt.Errorf("eval: config: %w", err)
	}
	dev, err := identity.LoadOrCreateDevIssuer(cfg.DevIssuerURL(), cfg.Identity.DevIssuer.KeyFile)
	if err != nil {
		return err
	}
	e.dev, e.audience = dev, cfg.Identity.Audience
	e.token, err = e.mint("eval-agent", 2*time.Hour)
	return err
}

// mint returns a dev-issuer token for subject in group agents.
func (e *env) mint(subject string, ttl time.Duration) (string, error) {
	return e.dev.Mint(identity.MintOptions{Subject: subject, Groups: []string{"agents"},
		Audience: e.audience, TTL: ttl, Agent: "airlock-eval"})
}

func (e *env) startGateway(ctx context.Context) error {
	gw, err := gatewayproc.Start(ctx, e.o.Binary, e.cfgPath, []string{"AIRLOCK_EVAL_API_SECRET=" + apiSecret})
	if err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	e.gw, e.base = gw, gw.Base
	return nil
}

// client returns the eval agent's MCP client of a transport, started on
// first use.
func (e *env) client(ctx context.Context, tr string) (*client.Client, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if c := e.clients[tr]; c != nil {
		return c, nil
	}
	c, err := e.newClient(ctx, tr, e.token)
	if err != nil {
		return nil, err
	}
	e.clients[tr] = c
	return c, nil
}

// newClient starts and initializes an MCP client with token; the caller
// closes it.
func (e *env) newClient(ctx context.Context, tr, token string) (*client.Client, error) {
	var (
		c   *client.Client
		err error
	)
	auth := map[string]string{"Authorization": "Bearer " + token}
	version := mcp.LATEST_PROTOCOL_VERSION
	switch tr {
	case TransportHTTP:
		c, err = client.NewStreamableHttpClient(e.base+"/mcp", transport.WithHTTPHeaders(auth))
	case TransportSSE:
		c, err = client.NewSSEMCPClient(e.base+"/sse", transport.WithHeaders(auth))
		version = "2024-11-05"
		if err == nil {
			// The gateway ends an SSE stream on its own (a token that
			// expired mid-session, exp-003). With no handler, mcp-go logs
			// an EOF as an error through slog.Default, on the test's
			// output, and says nothing of any other error: record every
			// end for the run's log instead. A client's own Close is no
			// end (mcp-go calls no handler then). A case that needed the
			// stream fails on its call.
			c.OnConnectionLost(func(err error) {
				e.mu.Lock()
				e.streamEnds = append(e.streamEnds, fmt.Sprintf("%s: %v", e.running, err))
				e.mu.Unlock()
			})
		}
	case TransportStdio:
		c, err = client.NewStdioMCPClient(e.o.Binary,
			[]string{"AIRLOCK_TOKEN=" + token, "AIRLOCK_EVAL_API_SECRET=" + apiSecret},
			"serve", "--stdio", "--config", e.cfgPath)
	default:
		return nil, fmt.Errorf("unknown transport %q", tr)
	}
	if err != nil {
		return nil, err
	}
	// The SSE stream lives as long as the context given to Start.
	if err := c.Start(context.Background()); err != nil {
		c.Close()
		return nil, err
	}
	req := mcp.InitializeRequest{}
	req.Params.ProtocolVersion = version
	req.Params.ClientInfo = mcp.Implementation{Name: "airlock-eval", Version: "1"}
	ictx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if _, err := c.Initialize(ictx, req); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// grant makes sure the eval agent holds conn:access (grants are per
// subject, so one request serves every transport).
func (e *env) grant(ctx context.Context, c *client.Client, spec string) error {
	e.mu.Lock()
	done := e.granted[spec]
	e.mu.Unlock()
	if done {
		return nil
	}
	conn, access, _ := strings.Cut(spec, ":")
	req := mcp.CallToolRequest{}
	req.Params.Name = "request_access"
	req.Params.Arguments = map[string]any{"connection": conn, "access": access, "duration": "2h", "reason": "airlock eval"}
	res, err := c.CallTool(ctx, req)
	if err != nil {
		return err
	}
	if res.IsError {
		return fmt.Errorf("request_access %s: %s", spec, answerText(res))
	}
	e.mu.Lock()
	e.granted[spec] = true
	e.mu.Unlock()
	return nil
}

// journalExport is the whole journal as `airlock journal export` prints it.
func (e *env) journalExport(ctx context.Context) (string, error) {
	cmd := exec.CommandContext(ctx, e.o.Binary, "journal", "export", "--config", e.cfgPath, "--format", "jsonl")
	cmd.Env = append(os.Environ(), "AIRLOCK_EVAL_API_SECRET="+apiSecret)
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("eval: journal export: %w", err)
	}
	return string(out), nil
}

// answerText is everything the agent got: text content and structured
// content.
func answerText(res *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range res.Content {
		switch v := c.(type) {
		case mcp.TextContent:
			b.WriteString(v.Text)
			b.WriteByte('\n')
		case mcp.EmbeddedResource:
			if tr, ok := v.Resource.(mcp.TextResourceContents); ok {
				b.WriteString(tr.Text)
				b.WriteByte('\n')
			}
		}
	}
	if res.StructuredContent != nil {
		if j, err := json.Marshal(res.StructuredContent); err == nil {
			b.Write(j)
		}
	}
	return b.String()
}
