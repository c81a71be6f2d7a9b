package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/url"
	"path/filepath"
	"slices"
	"strings"

	"github.com/airlockhq/airlock/config"
	"github.com/airlockhq/airlock/identity"
	"github.com/airlockhq/airlock/server"
)

// seedDemo creates, at start, every sqlite connection's database that
// comes from a built-in seed (the quick start's demo.db), so it exists
// when the banner names it rather than on the first query.
func seedDemo(ctx context.Context, cfg *config.Config, g *server.Gateway) error {
	for _, name := range slices.Sorted(maps.Keys(cfg.Connections)) {
		if c := cfg.Connections[name]; c.Kind == "sqlite" && c.Seed != "" {
			if err := checkConnection(ctx, g.Tools(), name); err != nil {
				return fmt.Errorf("connections.%s: creating the %s seed database: %w", name, c.Seed, err)
			}
		}
	}
	return nil
}

// printBanner tells a person who just started the gateway what is
// running: where to connect, whether the dev issuer is on and how to
// mint a token, where the journal and databases are, and which tools an
// agent of each group in the rules will see. Plain lines on stderr; the
// structured log says the same for machines.
func printBanner(w io.Writer, cfg *config.Config, cfgPath, addr string, g *server.Gateway) {
	base := "http://" + addr
	fmt.Fprintf(w, "airlock listening on %s\n", addr)
	fmt.Fprintf(w, "  MCP:        %s%s (streamable HTTP), %s%s (SSE); send Authorization: Bearer <token>\n", base, server.PathMCP, base, server.PathSSE)
	if cfg.Identity.DevIssuer.Enabled {
		fmt.Fprintf(w, "  identity:   dev issuer ON at %s (development only: set identity.issuer to your IdP in production)\n", cfg.DevIssuerURL())
		fmt.Fprintf(w, "  token:      airlock token mint --config %s --subject alice --groups %s --ttl 15m\n", cfgPath, firstGroup(cfg))
	} else {
		fmt.Fprintf(w, "  identity:   tokens from %s (audience %s)\n", cfg.Identity.Issuer, cfg.Identity.Audience)
	}
	fmt.Fprintf(w, "  journal:    %s\n", storeWhere(cfg.Store))
	for _, name := range slices.Sorted(maps.Keys(cfg.Connections)) {
		c := cfg.Connections[name]
		where := ""
		switch c.Kind {
		case "sqlite":
			where = absPath(cfg.Resolve(c.Path))
			if c.Seed != "" {
				where += " (" + c.Seed + " data, created at first start)"
			}
		}
		fmt.Fprintf(w, "  connection: %s (%s) %s\n", name, c.Kind, where)
	}
	for _, grp := range ruleGroups(cfg) {
		var names []string
		for _, d := range g.ToolsFor(&identity.Principal{Subject: "airlock-banner", Groups: []string{grp}}) {
			names = append(names, d.Name)
		}
		fmt.Fprintf(w, "  tools:      group %s sees %s\n", grp, strings.Join(names, ", "))
	}
	fmt.Fprintln(w, "Press Ctrl-C to stop (calls in flight finish and are journaled first).")
}

// ruleGroups are the groups the rules name, in order of first mention.
func ruleGroups(cfg *config.Config) []string {
	var out []string
	for _, r := range cfg.Rules {
		for _, grp := range r.Groups {
			if grp != "*" && !slices.Contains(out, grp) {
				out = append(out, grp)
			}
		}
	}
	return out
}

func firstGroup(cfg *config.Config) string {
	if gs := ruleGroups(cfg); len(gs) > 0 {
		return gs[0]
	}
	return "analysts"
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// storeWhere names the store for people: a SQLite file's absolute path, or
// a PostgreSQL store's host and database only (its URL may carry
// settings that are secrets, e.g. sslpassword).
func storeWhere(store string) string {
	if p, ok := strings.CutPrefix(store, "sqlite:"); ok {
		return absPath(p)
	}
	u, err := url.Parse(store)
	if err != nil || u.Host == "" {
		return "postgres (the store URL does not parse)"
	}
	return "postgres " + u.Host + u.Path
}
