package main

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/airlockhq/airlock/config"
	"github.com/airlockhq/airlock/identity"
	"github.com/airlockhq/airlock/recorder"
	"github.com/airlockhq/airlock/store"
)

func TestCustomToolThroughThePipeline(t *testing.T) {
	data, err := os.ReadFile("airlock.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(t.TempDir(), "airlock.yaml")
	os.WriteFile(cfgPath, data, 0o600)
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addrc := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfgPath, "127.0.0.1:0", func(a net.Addr) { addrc <- a.String() }) }()
	var addr string
	select {
	case addr = <-addrc:
	case err := <-done:
		t.Fatal(err)
	}
	dev, err := identity.LoadOrCreateDevIssuer(cfg.DevIssuerURL(), cfg.Identity.DevIssuer.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := dev.Mint(identity.MintOptions{Subject: "olive", Groups: []string{"ops"}, Audience: cfg.Identity.Audience, TTL: time.Minute})
	c, err := client.NewStreamableHttpClient("http://"+addr+"/mcp", transport.WithHTTPHeaders(map[string]string{"Authorization": "Bearer " + tok}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cctx, ccancel := context.WithTimeout(ctx, 30*time.Second)
	defer ccancel()
	if err := c.Start(cctx); err != nil {
		t.Fatal(err)
	}
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = mcp.LATEST_PROTOCOL_VERSION
	init.Params.ClientInfo = mcp.Implementation{Name: "example", Version: "1"}
	if _, err := c.Initialize(cctx, init); err != nil {
		t.Fatal(err)
	}
	call := func(name string, args map[string]any) *mcp.CallToolResult {
		req := mcp.CallToolRequest{}
		req.Params.Name, req.Params.Arguments = name, args
		res, err := c.CallTool(cctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	if res := call("stock_level", map[string]any{"sku": "SKU-1001"}); !res.IsError {
		t.Fatal("custom tool ran without a grant")
	}
	if res := call("request_access", map[string]any{"connection": "inventory", "access": "read", "reason": "restock check"}); res.IsError {
		t.Fatalf("request_access: %+v", res.Content)
	}
	res := call("stock_level", map[string]any{"sku": "SKU-1001"})
	if res.IsError {
		t.Fatalf("stock_level: %+v", res.Content)
	}
	// Masked like a built-in tool's result: the supplier's email.
	if b, _ := json.Marshal(res); strings.Contains(string(b), "orders@acme-supplies.example.com") {
		t.Errorf("the agent saw the supplier's email: %s", b)
	}
	if res := call("stock_level", map[string]any{"sku": "1001; DROP"}); !res.IsError {
		t.Fatal("bad SKU accepted")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// The calls are in the journal like any built-in tool's.
	st, err := store.OpenSQLite(context.Background(), cfg.Store)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	entries, err := st.JournalAfter(context.Background(), 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for i := range entries {
		r, err := recorder.Decode(&entries[i])
		if err != nil {
			t.Fatal(err)
		}
		if r.Tool == "stock_level" && r.Type == recorder.Finished {
			n++
			if r.Outcome == recorder.OutcomeOK && !strings.Contains(string(r.Result), "on_hand") {
				t.Errorf("result not journaled: %s", r.Result)
			}
			if strings.Contains(string(r.Result), "acme-supplies") {
				t.Errorf("the journal holds the unmasked email: %s", r.Result)
			}
		}
	}
	if n != 3 {
		t.Errorf("%d stock_level calls journaled, want 3", n)
	}
}
