package server_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/airlockhq/airlock/config"
	"github.com/airlockhq/airlock/identity"
	"github.com/airlockhq/airlock/internal/pgtest"
	"github.com/airlockhq/airlock/server"
)

// benchGateway starts a gateway with the quick start's limits in front of
// a PostgreSQL schema, behind a real HTTP server, and returns its base URL
// and a token minter for analysts allowed to read.
func benchGateway(b *testing.B) (base string, mint func(subject string) string) {
	b.Helper()
	dir := b.TempDir()
	dsn, _ := pgtest.Schema(b)
	yaml := fmt.Sprintf(`
server:
  listen: 127.0.0.1:18080
identity:
  dev_issuer: {enabled: true}
store: sqlite:airlock.db
connections:
  pg: {kind: postgres, dsn: %q}
limits:
  max_rows: 100
rules:
  - {name: analysts-read, groups: [analysts], connections: [pg], access: [read], effect: allow}
`, dsn)
	p := filepath.Join(dir, "airlock.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
		b.Fatal(err)
	}
	cfg, err := config.Load(p)
	if err != nil {
		b.Fatal(err)
	}
	dev, err := identity.LoadOrCreateDevIssuer(cfg.DevIssuerURL(), cfg.Identity.DevIssuer.KeyFile)
	if err != nil {
		b.Fatal(err)
	}
	mint = func(subject string) string {
		tok, err := dev.Mint(identity.MintOptions{Subject: subject, Groups: []string{"analysts"}, Audience: cfg.Identity.Audience, TTL: time.Hour})
		if err != nil {
			b.Fatal(err)
		}
		return tok
	}
	g, err := server.New(context.Background(), cfg, server.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	ts := httptest.NewServer(g.Handler())
	b.Cleanup(func() { ts.Close(); g.Close() })
	return ts.URL, mint
}

// benchAgent is one MCP client over streamable HTTP with its own
// connections and identity, as a separate agent process would have, with
// a just-in-time read grant on pg (the analysts' rule needs one).
func benchAgent(b *testing.B, base, token string) *client.Client {
	b.Helper()
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	c, err := client.NewStreamableHttpClient(base+server.PathMCP,
		transport.WithHTTPHeaders(map[string]string{"Authorization": "Bearer " + token}),
		transport.WithHTTPBasicClient(hc))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close(); hc.CloseIdleConnections() })
	ctx := context.Background()
	if err := c.Start(ctx); err != nil {
		b.Fatal(err)
	}
	req := mcp.InitializeRequest{}
	req.Params.ProtocolVersion = mcp.LATEST_PROTOCOL_VERSION
	req.Params.ClientInfo = mcp.Implementation{Name: "airlock-bench", Version: "1"}
	if _, err := c.Initialize(ctx, req); err != nil {
		b.Fatal(err)
	}
	g := mcp.CallToolRequest{}
	g.Params.Name = "request_access"
	g.Params.Arguments = map[string]any{"connection": "pg", "access": "read", "duration": "1h", "reason": "benchmark"}
	if res, err := c.CallTool(ctx, g); err != nil || res.IsError {
		b.Fatalf("request_access: %v %v", err, res)
	}
	return c
}

func select1(ctx context.Context, c *client.Client) error {
	req := mcp.CallToolRequest{}
	req.Params.Name = "query_db"
	req.Params.Arguments = map[string]any{"connection": "pg", "sql": "SELECT 1"}
	res, err := c.CallTool(ctx, req)
	if err != nil {
		return err
	}
	if res.IsError {
		return fmt.Errorf("tool error: %v", res.Content)
	}
	return nil
}

// benchHTTPSelect1 drives `SELECT 1` through query_db with agents
// concurrent MCP clients over streamable HTTP, the whole guard on
// (identity, journal, classification, policy, masking, token cap), and
// reports calls/s.
func benchHTTPSelect1(b *testing.B, agents int) {
	base, mint := benchGateway(b)
	cs := make([]*client.Client, agents)
	for i := range cs {
		cs[i] = benchAgent(b, base, mint(fmt.Sprintf("agent-%d", i)))
	}
	ctx := context.Background()
	// Warm up: connections to PostgreSQL, prepared statements.
	for _, c := range cs {
		if err := select1(ctx, c); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	var left atomic.Int64
	left.Store(int64(b.N))
	var wg sync.WaitGroup
	errs := make(chan error, agents)
	for _, c := range cs {
		wg.Go(func() {
			for left.Add(-1) >= 0 {
				if err := select1(ctx, c); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	el := time.Since(start)
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/el.Seconds(), "calls/s")
}

func BenchmarkHTTPSelect1(b *testing.B)         { benchHTTPSelect1(b, 1) }
func BenchmarkHTTPSelect1Agents32(b *testing.B) { benchHTTPSelect1(b, 32) }
