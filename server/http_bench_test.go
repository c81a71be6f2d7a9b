package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"

	"github.com/airlockhq/airlock/server"
)

// benchGateway starts a gateway with the quick start's limits in front of
// a PostgreSQL schema, behind a real HTTP server, and returns its base URL
// and a token minter for analysts allowed to read.
func benchGateway(b *testing.B) (base string, mint func(subject string) string) {
	b.Helper()
	e := newEnvWith(b, `
limits:
  max_rows: 100
rules:
  - {name: analysts-read, groups: [analysts], connections: [pg], access: [read], effect: allow}
`)
	_, base = e.start(b, server.Options{})
	return base, func(subject string) string { return e.token(b, subject, "analysts") }
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

// capture records the last tools/call request a handler saw.
type capture struct {
	next   http.Handler
	header http.Header
	body   []byte
}

func (c *capture) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		body, _ := io.ReadAll(r.Body)
		if bytes.Contains(body, []byte(`"tools/call"`)) {
			c.header, c.body = r.Header.Clone(), body
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	c.next.ServeHTTP(w, r)
}

// BenchmarkStreamableToolsCall is what mcp-go's streamable HTTP server
// costs per tools/call on its own: a tool that does nothing, with the
// shape of query_db's schema, called with a request captured from the
// mcp-go client and replayed straight into the transport's handler (no
// network, no client). modern is protocol 2026-07-28 (no sessions: every
// request gets a throwaway session); legacy is 2025-11-25 with a session
// (the registered session is reused); rawschema is modern with the tool's
// schema given as raw JSON.
func BenchmarkStreamableToolsCall(b *testing.B) {
	for _, tc := range []struct {
		name, version string
		raw           bool
	}{
		{"modern", mcp.LATEST_PROTOCOL_VERSION, false},
		{"legacy", mcp.LATEST_LEGACY_PROTOCOL_VERSION, false},
		{"rawschema", mcp.LATEST_PROTOCOL_VERSION, true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			s := mcpserver.NewMCPServer("bench", "1", mcpserver.WithToolCapabilities(false), mcpserver.WithRecovery())
			tool := mcp.NewTool("query_db",
				mcp.WithDescription("Run one SQL statement"),
				mcp.WithString("connection", mcp.Required(), mcp.Description("connection name")),
				mcp.WithString("sql", mcp.Required(), mcp.Description("one SQL statement")),
				mcp.WithArray("params", mcp.Description("positional parameters")),
				mcp.WithNumber("max_rows", mcp.Description("row limit")),
			)
			if tc.raw {
				raw, err := json.Marshal(tool.InputSchema)
				if err != nil {
					b.Fatal(err)
				}
				tool.InputSchema, tool.RawInputSchema = mcp.ToolInputSchema{}, raw
			}
			s.AddTool(tool, func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
				return mcp.NewToolResultText("1"), nil
			})
			h := mcpserver.NewStreamableHTTPServer(s, mcpserver.WithEndpointPath(server.PathMCP))
			cp := &capture{next: h}
			ts := httptest.NewServer(cp)
			b.Cleanup(ts.Close)
			c, err := client.NewStreamableHttpClient(ts.URL + server.PathMCP)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { c.Close() })
			ctx := context.Background()
			if err := c.Start(ctx); err != nil {
				b.Fatal(err)
			}
			init := mcp.InitializeRequest{}
			init.Params.ProtocolVersion = tc.version
			init.Params.ClientInfo = mcp.Implementation{Name: "airlock-bench", Version: "1"}
			if _, err := c.Initialize(ctx, init); err != nil {
				b.Fatal(err)
			}
			if err := select1(ctx, c); err != nil {
				b.Fatal(err)
			}
			if cp.body == nil {
				b.Fatal("no tools/call captured")
			}
			b.ReportAllocs()
			for b.Loop() {
				r := httptest.NewRequest(http.MethodPost, server.PathMCP, bytes.NewReader(cp.body))
				r.Header = cp.header
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				if w.Code != http.StatusOK {
					b.Fatalf("status %d: %s", w.Code, w.Body)
				}
			}
		})
	}
}
