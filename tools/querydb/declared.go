package querydb

import (
	"context"
	"fmt"
	"regexp"
	"slices"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/airlockhq/airlock/config"
	"github.com/airlockhq/airlock/tools"
)

var (
	_ tools.Declarer = (*Tool)(nil)
	_ tools.Scoped   = (*Tool)(nil)
	_ tools.Scoped   = (*declared)(nil)
)

// Connections implements tools.Scoped.
func (t *Tool) Connections() []string { return t.connNames }

// DeclaredKinds implements tools.Declarer.
func (t *Tool) DeclaredKinds() []string { return []string{config.DeclaredSQL} }

// declared is an operator-declared SQL tool: a fixed statement whose
// parameters are bound by the driver, classified once at load.
type declared struct {
	def    *config.DeclaredTool
	target target
	sql    string
	action tools.Action
	mcp    mcp.Tool
	params *tools.Params
}

var sqlitePlaceholder = regexp.MustCompile(`\$([0-9]+)`)

// Declare implements tools.Declarer: the statement is classified now, so
// its access class is computed, never declared.
func (t *Tool) Declare(d *config.DeclaredTool) (tools.Tool, error) {
	tg, ok := t.targets[d.Connection]
	if !ok {
		return nil, fmt.Errorf("tools.%s: connection %q is not a SQL connection", d.Name, d.Connection)
	}
	a, err := tg.classify(d.Statement)
	if err != nil {
		return nil, fmt.Errorf("tools.%s.statement: %w", d.Name, err)
	}
	a.Connection = d.Connection
	ps, err := tools.NewParams(d.Name, d.Params)
	if err != nil {
		return nil, err
	}
	dt := &declared{def: d, target: tg, sql: d.Statement, action: a, params: ps}
	if _, isSQLite := tg.(*sqliteTarget); isSQLite {
		// SQLite numbers its parameters ?1..?n.
		dt.sql = sqlitePlaceholder.ReplaceAllString(d.Statement, "?$1")
	}
	dt.mcp = dt.definition()
	return dt, nil
}

func (d *declared) Connections() []string { return []string{d.def.Connection} }

func (d *declared) definition() mcp.Tool {
	return tools.DeclaredDefinition(d.def, d.action.Access, false, d.params.Schema())
}

func (d *declared) Definition() mcp.Tool { return d.mcp }

// Parse checks every argument against its declared type and constraints;
// a claim-bound parameter cannot be set by the agent.
func (d *declared) Parse(args map[string]any) (*tools.Call, error) {
	byName := map[string]*config.DeclaredParam{}
	for i := range d.def.Params {
		byName[d.def.Params[i].Name] = &d.def.Params[i]
	}
	for k := range args {
		p, ok := byName[k]
		if !ok || p.FromClaim != "" {
			return nil, fmt.Errorf("unknown argument %q", k)
		}
	}
	params := make([]any, len(d.def.Params))
	for i := range d.def.Params {
		p := &d.def.Params[i]
		if p.FromClaim != "" {
			continue // bound at execution from the verified token
		}
		v, present := args[p.Name]
		if !present || v == nil {
			if !p.Optional {
				return nil, fmt.Errorf("%s is required", p.Name)
			}
			params[i] = p.Default
			continue
		}
		cv, err := d.params.Check(p, v)
		if err != nil {
			return nil, err
		}
		params[i] = cv
	}
	a := d.action
	return &tools.Call{Action: a, Args: &query{SQL: d.sql, Params: params}}, nil
}

// Execute binds claim parameters from the verified principal and runs the
// fixed statement.
func (d *declared) Execute(ctx context.Context, c *tools.Call) (*tools.Result, error) {
	q := *c.Args.(*query)
	q.Params = slices.Clone(q.Params)
	claims, err := d.params.ClaimValues(ctx)
	if err != nil {
		return nil, err
	}
	for i, dp := range d.def.Params {
		if dp.FromClaim != "" {
			q.Params[i] = claims[dp.Name]
		}
	}
	rs, err := d.target.query(ctx, &q, c.Access)
	if err != nil {
		return nil, err
	}
	return rs.result(), nil
}
