package querydb

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/airlockhq/airlock/config"
	"github.com/airlockhq/airlock/identity"
	"github.com/airlockhq/airlock/policy"
	"github.com/airlockhq/airlock/recorder"
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
	def     *config.DeclaredTool
	target  target
	sql     string
	action  tools.Action
	mcp     mcp.Tool
	regexes map[string]*regexp.Regexp
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
	dt := &declared{def: d, target: tg, sql: d.Statement, action: a, regexes: map[string]*regexp.Regexp{}}
	if _, isSQLite := tg.(*sqliteTarget); isSQLite {
		// SQLite numbers its parameters ?1..?n.
		dt.sql = sqlitePlaceholder.ReplaceAllString(d.Statement, "?$1")
	}
	for _, p := range d.Params {
		if p.Pattern != "" {
			dt.regexes[p.Name] = regexp.MustCompile(p.Pattern) // checked by config
		}
	}
	dt.mcp = dt.definition()
	return dt, nil
}

func (d *declared) Connections() []string { return []string{d.def.Connection} }

func (d *declared) definition() mcp.Tool {
	props := map[string]any{}
	var required []string
	for _, p := range d.def.Params {
		if p.FromClaim != "" {
			continue // bound from the caller's token, not the agent
		}
		s := map[string]any{"type": p.Type}
		if p.Description != "" {
			s["description"] = p.Description
		}
		if len(p.Enum) > 0 {
			s["enum"] = p.Enum
		}
		if p.Pattern != "" {
			s["pattern"] = p.Pattern
		}
		if p.MinLength != nil {
			s["minLength"] = *p.MinLength
		}
		if p.MaxLength != nil {
			s["maxLength"] = *p.MaxLength
		}
		if p.Minimum != nil {
			s["minimum"] = *p.Minimum
		}
		if p.Maximum != nil {
			s["maximum"] = *p.Maximum
		}
		if p.Default != nil {
			s["default"] = p.Default
		}
		props[p.Name] = s
		if !p.Optional {
			required = append(required, p.Name)
		}
	}
	schema := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		schema["required"] = required
	}
	raw, _ := json.Marshal(schema)
	desc := fmt.Sprintf("%s (%s access to %s through the Airlock gateway)", strings.TrimSpace(d.def.Description), d.action.Access, d.def.Connection)
	def := mcp.NewToolWithRawSchema(d.def.Name, desc, raw)
	readOnly := d.action.Access == policy.Read
	def.Annotations = mcp.ToolAnnotation{Title: d.def.Name, ReadOnlyHint: mcp.ToBoolPtr(readOnly),
		DestructiveHint: mcp.ToBoolPtr(!readOnly), IdempotentHint: mcp.ToBoolPtr(readOnly), OpenWorldHint: mcp.ToBoolPtr(false)}
	return def
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
		cv, err := d.check(p, v)
		if err != nil {
			return nil, err
		}
		params[i] = cv
	}
	a := d.action
	return &tools.Call{Action: a, Args: &query{SQL: d.sql, Params: params}}, nil
}

func (d *declared) check(p *config.DeclaredParam, v any) (any, error) {
	switch p.Type {
	case "string":
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("%s must be a string", p.Name)
		}
		n := len([]rune(s))
		if p.MinLength != nil && n < *p.MinLength || p.MaxLength != nil && n > *p.MaxLength {
			return nil, fmt.Errorf("%s has the wrong length", p.Name)
		}
		if len(p.Enum) > 0 && !slices.Contains(p.Enum, s) {
			return nil, fmt.Errorf("%s must be one of %s", p.Name, strings.Join(p.Enum, ", "))
		}
		if re := d.regexes[p.Name]; re != nil && !re.MatchString(s) {
			return nil, fmt.Errorf("%s does not match %s", p.Name, p.Pattern)
		}
		return s, nil
	case "integer", "number":
		f, ok := v.(float64)
		if !ok || math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("%s must be a number", p.Name)
		}
		if p.Minimum != nil && f < *p.Minimum || p.Maximum != nil && f > *p.Maximum {
			return nil, fmt.Errorf("%s is out of range", p.Name)
		}
		if p.Type == "integer" {
			if f != math.Trunc(f) || math.Abs(f) > maxSafeInt {
				return nil, fmt.Errorf("%s must be an integer", p.Name)
			}
			return int64(f), nil
		}
		return f, nil
	case "boolean":
		b, ok := v.(bool)
		if !ok {
			return nil, fmt.Errorf("%s must be true or false", p.Name)
		}
		return b, nil
	}
	return nil, fmt.Errorf("%s has an unknown type", p.Name)
}

// Execute binds claim parameters from the verified principal and runs the
// fixed statement.
func (d *declared) Execute(ctx context.Context, c *tools.Call) (*tools.Result, error) {
	q := *c.Args.(*query)
	q.Params = slices.Clone(q.Params)
	p := identity.FromContext(ctx)
	for i, dp := range d.def.Params {
		if dp.FromClaim == "" {
			continue
		}
		v, ok := any(nil), false
		if p != nil {
			v, ok = p.Claim(dp.FromClaim)
		}
		s, isString := v.(string)
		if !ok || !isString || s == "" {
			return nil, tools.Refuse(recorder.OutcomeDenied, "your token has no usable %q claim, which %s needs", dp.FromClaim, d.def.Name)
		}
		q.Params[i] = s
	}
	rs, err := d.target.query(ctx, &q, c.Access)
	if err != nil {
		return nil, err
	}
	return rs.result(), nil
}
