package server

import (
	"context"

	"encoding/json"
	"github.com/airlockhq/airlock/policy/jit"
	"github.com/airlockhq/airlock/policy/pgsql"
	"net/http"

	"github.com/airlockhq/airlock/config"
	"github.com/airlockhq/airlock/console"
	"github.com/airlockhq/airlock/identity"
)

// initConsole builds the web console over the gateway's own services: the
// access service (the same checks as the admin API) and the journal.
func (g *Gateway) initConsole() error {
	if g.cfg.Console.Disabled {
		return nil
	}
	o := console.Options{
		Config: g.cfg, Requests: g.jit, Journal: g.store, Changes: g.store,
		Integrity: g.JournalIntegrity, Describe: g.describeCall, Logger: g.log, Version: Version,
		Upstream: consolePins{g},
	}
	if g.dev != nil {
		// The quick start's console logs in at the dev issuer: register
		// it there as a public client (PKCE) with its one redirect URI.
		if err := g.dev.RegisterClient(identity.DevClient{ID: g.cfg.Console.ClientID, Name: "Airlock console",
			RedirectURIs: []string{g.cfg.Server.PublicURL + console.Path + "/auth/callback"}}); err != nil {
			return err
		}
		o.DevHTTPClient = g.dev.HTTPClient()
	}
	c, err := console.New(o)
	if err != nil {
		return err
	}
	g.console = c
	return nil
}

// describeCall classifies a held call's masked arguments with its tool's
// own parser (no I/O), for approvers.
func (g *Gateway) describeCall(tool string, args json.RawMessage) (console.Action, bool) {
	var m map[string]any
	if err := json.Unmarshal(args, &m); err != nil || m == nil {
		return console.Action{}, false
	}
	for _, t := range g.tools {
		if t.Definition().Name != tool {
			continue
		}
		c, err := t.Parse(m)
		if err != nil {
			return console.Action{}, false
		}
		a := console.Action{Command: c.Command, Resources: c.Resources}
		// For PostgreSQL, the functions the statement calls and why it is
		// not a read, from the same classifier the tool used.
		if sql, ok := m["sql"].(string); ok {
			if conn := g.cfg.Connections[c.Connection]; conn != nil && conn.Kind == config.KindPostgres {
				if st, err := pgsql.Classify(sql); err == nil {
					a.Functions, a.Why = st.Functions, st.Reason
				}
			}
		}
		return a, true
	}
	return console.Action{}, false
}

// mountConsole serves the console at /console when it is enabled.
func (g *Gateway) mountConsole(mux *http.ServeMux) {
	if g.console != nil {
		mux.Handle(console.Path+"/", g.console.Handler())
		mux.Handle(console.Path, g.console.Handler())
	}
}

// consolePostPrefix: console forms have bodies (bounded by the console).
const consolePostPrefix = console.Path + "/"

// consoleSink forwards access events to the console once it exists (the
// access service is built first).
type consoleSink struct{ g *Gateway }

func (s consoleSink) Publish(ctx context.Context, e jit.Event) {
	if s.g.console != nil {
		s.g.console.Publish(ctx, e)
	}
}
