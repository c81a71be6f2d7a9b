package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/airlockhq/airlock/config"
	"github.com/airlockhq/airlock/identity"
	"github.com/airlockhq/airlock/server"
)

// cmdTools prints the tools a config exposes, with their schemas, for
// operators to review; --groups shows what a principal in those groups
// would see.
func cmdTools(ctx context.Context, args []string, stdout io.Writer) error {
	fs, cfgPath := newFlags("tools")
	groups := fs.String("groups", "", "show only what a principal in these comma-separated groups sees")
	asJSON := fs.Bool("json", false, "print the MCP tool definitions as JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	g, err := server.New(ctx, cfg, server.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	defer g.Close()
	var p *identity.Principal
	if *groups != "" {
		p = &identity.Principal{Subject: "airlock-tools", Groups: strings.Split(*groups, ",")}
	}
	defs := g.ToolsFor(p)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(defs)
	}
	for _, d := range defs {
		hints := []string{}
		a := d.Annotations
		if a.ReadOnlyHint != nil && *a.ReadOnlyHint {
			hints = append(hints, "read-only")
		}
		if a.DestructiveHint != nil && *a.DestructiveHint {
			hints = append(hints, "destructive")
		}
		fmt.Fprintf(stdout, "%s [%s]\n  %s\n", d.Name, strings.Join(hints, ", "), strings.ReplaceAll(d.Description, "\n", "\n  "))
		schema := d.RawInputSchema
		if schema == nil {
			schema, _ = json.Marshal(d.InputSchema)
		}
		fmt.Fprintf(stdout, "  input schema: %s\n\n", schema)
	}
	return nil
}
