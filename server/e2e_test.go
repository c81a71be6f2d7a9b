package server_test

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/airlockhq/airlock/config"
	"github.com/airlockhq/airlock/identity"
	"github.com/airlockhq/airlock/internal/pgtest"
	"github.com/airlockhq/airlock/recorder"
	"github.com/airlockhq/airlock/server"
	"github.com/airlockhq/airlock/store"
)

// airlockBin is the binary built once for stdio and interop tests.
var airlockBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "airlock-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	airlockBin = filepath.Join(dir, "airlock")
	build := exec.Command("go", "build", "-o", airlockBin, "../cmd/airlock")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building airlock:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// env is one gateway's world: a config in a temp dir, a PostgreSQL schema
// with table t, and the SQLite demo.
type env struct {
	cfgPath string
	cfg     *config.Config
	pg      *pgxpool.Pool
	dev     *identity.DevIssuer
}

const defaultRules = `
limits:
  max_rows: 100
rules:
  - {name: analysts-read, groups: [analysts], connections: [demo, pg], access: [read], effect: allow}
  - {name: writers-write, groups: [writers], connections: [pg], access: [read, write], effect: allow}
  - {name: admins, groups: [admins], connections: [pg], access: [read, write, ddl, admin], effect: allow}
`

func newEnv(t *testing.T) *env { return newEnvWith(t, defaultRules) }

// newEnvWith makes an env whose config ends with extra (rules and any
// other top-level sections).
func newEnvWith(t testing.TB, extra string) *env {
	t.Helper()
	return newEnvPG(t, "", extra)
}

// newEnvPG is newEnvWith with more options for the pg connection, written
// as flow-mapping entries (", functions: [f]").
func newEnvPG(t testing.TB, pgOptions, extra string) *env {
	t.Helper()
	dir := t.TempDir()
	dsn, pool := pgtest.Schema(t)
	if _, err := pool.Exec(context.Background(), `CREATE TABLE t (id int PRIMARY KEY, v text);
INSERT INTO t SELECT g, 'row ' || g FROM generate_series(1, 20) g;
CREATE TABLE o (id int PRIMARY KEY, t_id int REFERENCES t(id), amount numeric);
INSERT INTO o SELECT g, 1 + g % 20, g * 1.5 FROM generate_series(1, 100) g;`); err != nil {
		t.Fatal(err)
	}
	yaml := fmt.Sprintf(`
server:
  listen: 127.0.0.1:18080
identity:
  dev_issuer: {enabled: true}
store: sqlite:airlock.db
connections:
  demo: {kind: sqlite, path: demo.db, seed: demo, description: Demo shop}
  pg: {kind: postgres, dsn: %q%s}
`, dsn, pgOptions) + extra
	p := filepath.Join(dir, "airlock.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	dev, err := identity.LoadOrCreateDevIssuer(cfg.DevIssuerURL(), cfg.Identity.DevIssuer.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	return &env{cfgPath: p, cfg: cfg, pg: pool, dev: dev}
}

func (e *env) token(t testing.TB, subject string, groups ...string) string {
	t.Helper()
	tok, err := e.dev.Mint(identity.MintOptions{Subject: subject, Groups: groups, Audience: e.cfg.Identity.Audience, TTL: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// start runs the gateway in-process behind an httptest server.
func (e *env) start(t testing.TB, opts server.Options) (*server.Gateway, string) {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	g, err := server.New(context.Background(), e.cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(g.Handler())
	t.Cleanup(func() { ts.Close(); g.Close() })
	return g, ts.URL
}

func initialize(t *testing.T, c *client.Client, version string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The SSE stream lives as long as the context given to Start: use one
	// that only Close ends.
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	req := mcp.InitializeRequest{}
	req.Params.ProtocolVersion = version
	req.Params.ClientInfo = mcp.Implementation{Name: "airlock-e2e", Version: "1"}
	if _, err := c.Initialize(ctx, req); err != nil {
		t.Fatal(err)
	}
}

// grant asks for a just-in-time grant and fails the test unless it is
// active.
func grant(t *testing.T, c *client.Client, conn, access string) map[string]any {
	t.Helper()
	res := callTool(t, c, "request_access", map[string]any{"connection": conn, "access": access, "duration": "10m", "reason": "e2e test"})
	if res.IsError {
		t.Fatalf("request_access %s %s: %s", conn, access, text(res))
	}
	v, _ := res.StructuredContent.(map[string]any)
	if v["status"] != "active" {
		t.Fatalf("request_access %s %s: %v", conn, access, v)
	}
	return v
}

func callTool(t *testing.T, c *client.Client, name string, args map[string]any) *mcp.CallToolResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req := mcp.CallToolRequest{}
	req.Params.Name = name
	req.Params.Arguments = args
	res, err := c.CallTool(ctx, req)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return res
}

func query(t *testing.T, c *client.Client, conn, sql string, params ...any) *mcp.CallToolResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req := mcp.CallToolRequest{}
	req.Params.Name = "query_db"
	args := map[string]any{"connection": conn, "sql": sql}
	if params != nil {
		args["params"] = params
	}
	req.Params.Arguments = args
	res, err := c.CallTool(ctx, req)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return res
}

type rows struct {
	Columns   []string `json:"columns"`
	Rows      [][]any  `json:"rows"`
	RowCount  int      `json:"row_count"`
	Truncated bool     `json:"truncated"`
}

func structured(t *testing.T, res *mcp.CallToolResult) rows {
	t.Helper()
	if res.IsError {
		t.Fatalf("tool error: %s", text(res))
	}
	b, _ := json.Marshal(res.StructuredContent)
	var r rows
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func text(res *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}

func httpClient(t *testing.T, kind, base, token string) *client.Client {
	t.Helper()
	h := map[string]string{"Authorization": "Bearer " + token}
	var (
		c   *client.Client
		err error
	)
	switch kind {
	case "streamable-http":
		c, err = client.NewStreamableHttpClient(base+server.PathMCP, transport.WithHTTPHeaders(h))
	case "sse":
		c, err = client.NewSSEMCPClient(base+server.PathSSE, transport.WithHeaders(h))
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	version := mcp.LATEST_PROTOCOL_VERSION
	if kind == "sse" {
		// SSE is the 2024-11-05 transport; newer protocol versions are
		// negotiated over streamable HTTP.
		version = "2024-11-05"
	}
	initialize(t, c, version)
	return c
}

// transports are the MCP transports the gateway serves; clientOver
// connects over one of them as the token's holder.
var transports = []string{"streamable-http", "sse", "stdio"}

func clientOver(t *testing.T, e *env, transport, base, token string) *client.Client {
	t.Helper()
	if transport == "stdio" {
		return stdioClient(t, e, token)
	}
	return httpClient(t, transport, base, token)
}

func stdioClient(t *testing.T, e *env, token string) *client.Client {
	t.Helper()
	c, err := client.NewStdioMCPClient(airlockBin, []string{"AIRLOCK_TOKEN=" + token}, "serve", "--stdio", "--config", e.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	initialize(t, c, mcp.LATEST_PROTOCOL_VERSION)
	return c
}

// End to end over every transport with the mcp-go client: list tools and
// query both databases with a dev-issuer token.
func TestTransports(t *testing.T) {
	e := newEnv(t)
	_, base := e.start(t, server.Options{})
	tok := e.token(t, "alice", "analysts")
	clients := map[string]func() *client.Client{
		"streamable-http": func() *client.Client { return httpClient(t, "streamable-http", base, tok) },
		"sse":             func() *client.Client { return httpClient(t, "sse", base, tok) },
		"stdio":           func() *client.Client { return stdioClient(t, e, tok) },
	}
	for name, mk := range clients {
		t.Run(name, func(t *testing.T) {
			c := mk()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			lt, err := c.ListTools(ctx, mcp.ListToolsRequest{})
			if err != nil {
				t.Fatal(err)
			}
			byName := map[string]mcp.Tool{}
			for _, tl := range lt.Tools {
				byName[tl.Name] = tl
			}
			for _, want := range []string{"query_db", "list_connections", "request_access", "access_status"} {
				if _, ok := byName[want]; !ok {
					t.Fatalf("tool %s missing: %+v", want, lt.Tools)
				}
			}
			ann := byName["query_db"].Annotations
			if ann.ReadOnlyHint == nil || ann.DestructiveHint == nil || *ann.DestructiveHint != true {
				t.Errorf("annotations not set explicitly: %+v", ann)
			}
			grant(t, c, "demo", "read")
			grant(t, c, "pg", "read")
			r := structured(t, query(t, c, "demo", "SELECT count(*) AS n FROM customers"))
			if r.Rows[0][0] != float64(300) {
				t.Errorf("demo customers: %v", r.Rows)
			}
			r = structured(t, query(t, c, "pg", "SELECT v FROM t WHERE id = $1", 7))
			if r.RowCount != 1 || r.Rows[0][0] != "row 7" {
				t.Errorf("pg: %+v", r)
			}
		})
	}
	// Every call on every transport left a started and a finished record.
	recs := journal(t, e)
	if n := countCalls(recs, "query_db"); n != 6 {
		t.Errorf("journaled %d complete calls, want 6", n)
	}
	transports := map[string]bool{}
	for _, r := range recs {
		transports[r.Transport] = true
		if (r.Transport == "sse" || r.Transport == "stdio") && r.Session == "" {
			t.Errorf("%s record without a session id (replay --session needs it)", r.Transport)
		}
	}
	for _, want := range []string{"streamable-http", "sse", "stdio"} {
		if !transports[want] {
			t.Errorf("no journal record from transport %s", want)
		}
	}
}

func journal(t *testing.T, e *env) []*recorder.Record {
	t.Helper()
	st, err := store.OpenSQLite(context.Background(), e.cfg.Store)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	entries, err := st.JournalAfter(context.Background(), 0, 100000)
	if err != nil {
		t.Fatal(err)
	}
	var out []*recorder.Record
	for i := range entries {
		r, err := recorder.Decode(&entries[i])
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// countCalls returns how many calls of tool have both records, or -1 when
// any call has only one.
func countCalls(recs []*recorder.Record, tool string) int {
	started, finished := map[string]bool{}, map[string]bool{}
	for _, r := range recs {
		if r.Tool != tool {
			continue
		}
		switch r.Type {
		case recorder.Started:
			started[r.CallID] = true
		case recorder.Finished:
			finished[r.CallID] = true
		}
	}
	n := 0
	for id := range started {
		if finished[id] {
			n++
		} else {
			return -1
		}
	}
	if len(finished) != len(started) {
		return -1
	}
	return n
}

func TestBadTokensAre401(t *testing.T) {
	e := newEnv(t)
	_, base := e.start(t, server.Options{})
	key := readKey(t, e.cfg.Identity.DevIssuer.KeyFile)
	now := time.Now()
	claims := func(mod func(map[string]any)) map[string]any {
		c := map[string]any{"iss": e.cfg.Identity.Issuer, "sub": "mallory", "aud": e.cfg.Identity.Audience,
			"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "groups": []string{"analysts"}}
		if mod != nil {
			mod(c)
		}
		return c
	}
	pubDER, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	other, err := identity.LoadOrCreateDevIssuer("http://evil.example/oidc", e.cfg.Identity.DevIssuer.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	wrongIss, _ := other.Mint(identity.MintOptions{Subject: "mallory", Groups: []string{"analysts"}, Audience: "airlock", TTL: time.Hour})
	wrongAud, _ := e.dev.Mint(identity.MintOptions{Subject: "mallory", Groups: []string{"analysts"}, Audience: "other-api", TTL: time.Hour})
	cases := map[string]string{
		"expired":          signRS256(t, key, claims(func(c map[string]any) { c["exp"] = now.Add(-time.Minute).Unix() })),
		"wrong audience":   wrongAud,
		"wrong issuer":     wrongIss,
		"alg none":         unsigned(claims(nil)),
		"hs256 public key": signHS256(t, pubPEM, claims(nil)),
		"hs256 public der": signHS256(t, pubDER, claims(nil)),
		"garbage":          "not.a.token",
		"missing":          "",
	}
	for name, tok := range cases {
		t.Run(name, func(t *testing.T) {
			resp := post(t, base+server.PathMCP, tok)
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if h := resp.Header.Get("WWW-Authenticate"); !strings.Contains(h, `resource_metadata="`+e.cfg.Server.PublicURL+server.PathResourceMeta+`"`) {
				t.Errorf("WWW-Authenticate: %q", h)
			}
		})
	}
	t.Run("token in query string", func(t *testing.T) {
		good := e.token(t, "alice", "analysts")
		for _, path := range []string{server.PathMCP, server.PathSSE} {
			resp := post(t, base+path+"?access_token="+good, good)
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s: status %d", path, resp.StatusCode)
			}
		}
	})
	t.Run("valid token passes", func(t *testing.T) {
		resp := post(t, base+server.PathMCP, e.token(t, "alice", "analysts"))
		if resp.StatusCode == http.StatusUnauthorized {
			t.Fatal("valid token refused")
		}
	})
	if n := len(journal(t, e)); n != 0 {
		t.Errorf("refused requests reached the journal: %d records", n)
	}
}

func post(t *testing.T, url, token string) *http.Response {
	t.Helper()
	body := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}`
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func readKey(t *testing.T, path string) *rsaKey {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k.(*rsaKey)
}

func signRS256(t *testing.T, key *rsaKey, claims map[string]any) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return sign(t, s, claims)
}

func signHS256(t *testing.T, secret []byte, claims map[string]any) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: secret}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return sign(t, s, claims)
}

func sign(t *testing.T, s jose.Signer, claims map[string]any) string {
	t.Helper()
	payload, _ := json.Marshal(claims)
	jws, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func unsigned(claims map[string]any) string {
	enc := base64.RawURLEncoding
	payload, _ := json.Marshal(claims)
	return enc.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + enc.EncodeToString(payload) + "."
}

func TestOriginAndMetadata(t *testing.T) {
	e := newEnv(t)
	_, base := e.start(t, server.Options{})
	req, _ := http.NewRequest(http.MethodPost, base+server.PathMCP, strings.NewReader("{}"))
	req.Header.Set("Authorization", "Bearer "+e.token(t, "alice", "analysts"))
	req.Header.Set("Origin", "http://evil.example")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("foreign origin: status %d", resp.StatusCode)
	}
	resp, err = http.Get(base + server.PathResourceMeta)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var meta map[string]any
	json.NewDecoder(resp.Body).Decode(&meta)
	if meta["resource"] != e.cfg.Server.PublicURL+server.PathMCP || fmt.Sprint(meta["authorization_servers"]) != "["+e.cfg.Identity.Issuer+"]" {
		t.Errorf("metadata: %v", meta)
	}
	resp, err = http.Get(base + server.PathHealth)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("healthz: %v %v", err, resp)
	}
	resp, err = http.Get(base + "/oidc/.well-known/openid-configuration")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("dev issuer discovery: %v %v", err, resp)
	}
}

// A refused stdio token is reported by reason only, never echoed.
func TestStdioBadTokenNotEchoed(t *testing.T) {
	e := newEnv(t)
	bad := "eyJhbGciOiJSUzI1NiJ9.c2VjcmV0LXBheWxvYWQtbWFya2Vy.sig-marker-xyz"
	cmd := exec.Command(airlockBin, "serve", "--stdio", "--config", e.cfgPath)
	cmd.Env = append(os.Environ(), "AIRLOCK_TOKEN="+bad)
	cmd.Stdin = strings.NewReader("")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("served with a bad token:\n%s", out)
	}
	if strings.Contains(string(out), "c2VjcmV0") || strings.Contains(string(out), "sig-marker") || !strings.Contains(string(out), "stdio identity") {
		t.Errorf("output: %s", out)
	}
}
