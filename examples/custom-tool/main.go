// Command custom-tool embeds Airlock in a Go program and registers a tool
// kind of its own: stock_level, answered from an in-memory inventory. The
// kind implements only Definition, Parse and Execute; identity, grants,
// approvals, masking, caps and the journal come from Airlock's pipeline.
//
//	go run ./examples/custom-tool --config examples/custom-tool/airlock.yaml
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"regexp"
	"syscall"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/airlockhq/airlock/config"
	"github.com/airlockhq/airlock/policy"
	"github.com/airlockhq/airlock/server"
	"github.com/airlockhq/airlock/tools"
)

func init() {
	// Register before server.New builds the tools. The kind serves
	// connections of kind custom whose options say service: inventory.
	tools.Register(tools.Kind{Name: "stock_level", ConnectionKinds: []string{config.KindCustom}, New: newStockLevel})
}

// stockLevel is the custom tool.
type stockLevel struct {
	connection string
	stock      map[string]item
}

type item struct {
	OnHand   int    `json:"on_hand"`
	Supplier string `json:"supplier_contact"`
}

func newStockLevel(env *tools.Env) (tools.Tool, error) {
	for name, c := range env.Config.Connections {
		if c.Kind == config.KindCustom && c.Options["service"] == "inventory" {
			return &stockLevel{connection: name, stock: map[string]item{
				"SKU-1001": {OnHand: 42, Supplier: "orders@acme-supplies.example.com"},
				"SKU-2002": {OnHand: 0, Supplier: "sales@widgets.example.org"},
			}}, nil
		}
	}
	return nil, nil // nothing to serve
}

var (
	_     tools.Tool   = (*stockLevel)(nil)
	_     tools.Scoped = (*stockLevel)(nil)
	skuRE              = regexp.MustCompile(`^SKU-[0-9]{4}$`)
)

func (s *stockLevel) Definition() mcp.Tool {
	schema := json.RawMessage(`{"type":"object","properties":{"sku":{"type":"string","pattern":"^SKU-[0-9]{4}$","description":"Stock-keeping unit, e.g. SKU-1001"}},"required":["sku"],"additionalProperties":false}`)
	def := mcp.NewToolWithRawSchema("stock_level", "How many units of a SKU are on hand, and the supplier to contact.", schema)
	def.Annotations = tools.Annotations("Stock level", true)
	return def
}

// Connections tells tools/list which connection the tool acts on.
func (s *stockLevel) Connections() []string { return []string{s.connection} }

// Parse turns arguments into an Action without I/O: policy decides on it.
func (s *stockLevel) Parse(args map[string]any) (*tools.Call, error) {
	sku, _ := args["sku"].(string)
	if !skuRE.MatchString(sku) || len(args) != 1 {
		return nil, errors.New("stock_level takes one argument, sku, like SKU-1001")
	}
	return &tools.Call{
		Action: tools.Action{Connection: s.connection, Access: policy.Read, Command: "LOOKUP", Resources: []string{sku}},
		Args:   sku,
	}, nil
}

// Execute runs a call that policy allowed, under a grant.
func (s *stockLevel) Execute(ctx context.Context, c *tools.Call) (*tools.Result, error) {
	sku := c.Args.(string)
	it, ok := s.stock[sku]
	if !ok {
		return nil, tools.Refuse("error", "no such SKU %s", sku)
	}
	out := map[string]any{"sku": sku, "on_hand": it.OnHand, "supplier_contact": it.Supplier}
	text, _ := json.Marshal(out)
	return &tools.Result{Structured: out, Text: string(text), Rows: 1}, nil
}

func main() {
	cfgPath := flag.String("config", "examples/custom-tool/airlock.yaml", "config file")
	listen := flag.String("listen", "", "listen address (overrides server.listen)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *cfgPath, *listen, nil); err != nil {
		fmt.Fprintln(os.Stderr, "custom-tool:", err)
		os.Exit(1)
	}
}

// run is the whole embedding: load config, build the gateway, serve.
func run(ctx context.Context, cfgPath, listen string, ready func(net.Addr)) error {
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return err
	}
	g, err := server.New(ctx, cfg, server.Options{Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))})
	if err != nil {
		return err
	}
	defer g.Close()
	if listen == "" {
		listen = cfg.Server.Listen
	}
	return g.ServeHTTP(ctx, listen, ready)
}
