package tools

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/airlockhq/airlock/config"
	"github.com/airlockhq/airlock/identity"
	"github.com/airlockhq/airlock/policy"
	"github.com/airlockhq/airlock/recorder"
)

// maxSafeInt is the largest integer a JSON number carries exactly.
const maxSafeInt = 1 << 53

// Params checks the typed parameters of a declared tool, the same way for
// every kind. Patterns must match the whole value.
type Params struct {
	tool    string
	defs    []config.DeclaredParam
	regexes map[string]*regexp.Regexp
}

// NewParams compiles the declared parameters' patterns.
func NewParams(tool string, defs []config.DeclaredParam) (*Params, error) {
	ps := &Params{tool: tool, defs: defs, regexes: map[string]*regexp.Regexp{}}
	for i, p := range defs {
		if p.Pattern == "" {
			continue
		}
		re, err := regexp.Compile(anchored(p.Pattern))
		if err != nil {
			return nil, fmt.Errorf("tools.%s.params[%d].pattern: %w", tool, i, err)
		}
		ps.regexes[p.Name] = re
	}
	return ps, nil
}

func anchored(pattern string) string { return `^(?:` + pattern + `)$` }

// Regexp returns the anchored pattern of parameter name, or nil.
func (ps *Params) Regexp(name string) *regexp.Regexp { return ps.regexes[name] }

// Schema is the JSON Schema of the parameters the agent sets; parameters
// bound from token claims are not in it.
func (ps *Params) Schema() json.RawMessage {
	props := map[string]any{}
	required := []string{}
	for _, p := range ps.defs {
		if p.FromClaim != "" {
			continue
		}
		s := map[string]any{"type": p.Type}
		if p.Description != "" {
			s["description"] = p.Description
		}
		if p.Path != nil {
			s["description"] = strings.TrimSpace(p.Description + " An absolute path under " + p.Path.Under + ".")
		}
		if len(p.Enum) > 0 {
			s["enum"] = p.Enum
		}
		if p.Pattern != "" {
			s["pattern"] = anchored(p.Pattern)
		}
		for k, v := range map[string]any{"minLength": p.MinLength, "maxLength": p.MaxLength, "minimum": p.Minimum, "maximum": p.Maximum} {
			switch x := v.(type) {
			case *int:
				if x != nil {
					s[k] = *x
				}
			case *float64:
				if x != nil {
					s[k] = *x
				}
			}
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
	return raw
}

// Check validates one agent value against its parameter and returns it
// typed: string, int64, float64 or bool.
func (ps *Params) Check(p *config.DeclaredParam, v any) (any, error) {
	switch p.Type {
	case "string":
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("%s must be a string", p.Name)
		}
		n := utf8.RuneCountInString(s)
		if p.MinLength != nil && n < *p.MinLength || p.MaxLength != nil && n > *p.MaxLength {
			return nil, fmt.Errorf("%s has the wrong length", p.Name)
		}
		if len(p.Enum) > 0 && !slices.Contains(p.Enum, s) {
			return nil, fmt.Errorf("%s must be one of %s", p.Name, strings.Join(p.Enum, ", "))
		}
		if re := ps.regexes[p.Name]; re != nil && !re.MatchString(s) {
			return nil, fmt.Errorf("%s does not match %s", p.Name, anchored(p.Pattern))
		}
		return s, nil
	case "integer", "number":
		var f float64
		switch n := v.(type) {
		case float64:
			f = n
		case int:
			f = float64(n)
		case int64:
			f = float64(n)
		case json.Number:
			var err error
			if f, err = n.Float64(); err != nil {
				return nil, fmt.Errorf("%s must be a number", p.Name)
			}
		default:
			return nil, fmt.Errorf("%s must be a number", p.Name)
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
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

// DeclaredDefinition is the MCP tool of a declared tool: its schema, its
// description with the access it needs, and annotations from that access.
func DeclaredDefinition(d *config.DeclaredTool, access policy.Access, needsApproval bool, schema json.RawMessage) mcp.Tool {
	desc := fmt.Sprintf("%s (%s access to %s through the Airlock gateway", strings.TrimSpace(d.Description), access, d.Connection)
	if needsApproval {
		desc += "; each call needs a human approval"
	}
	def := mcp.NewToolWithRawSchema(d.Name, desc+")", schema)
	def.Annotations = Annotations(d.Name, access == policy.Read)
	return def
}

// Annotations are the hints of a tool that either only reads or may
// change its target: mcp-go defaults every tool to destructive, so each
// hint is set explicitly. Airlock's tools never reach an open world.
func Annotations(title string, readOnly bool) mcp.ToolAnnotation {
	return mcp.ToolAnnotation{Title: title, ReadOnlyHint: mcp.ToBoolPtr(readOnly), DestructiveHint: mcp.ToBoolPtr(!readOnly),
		IdempotentHint: mcp.ToBoolPtr(readOnly), OpenWorldHint: mcp.ToBoolPtr(false)}
}

// ClaimValues returns, by parameter name, the values of the parameters
// bound from the verified caller's token claims. A missing, empty or
// non-string claim refuses the call.
func (ps *Params) ClaimValues(ctx context.Context) (map[string]string, error) {
	var out map[string]string
	p := identity.FromContext(ctx)
	for _, dp := range ps.defs {
		if dp.FromClaim == "" {
			continue
		}
		v, ok := any(nil), false
		if p != nil {
			v, ok = p.Claim(dp.FromClaim)
		}
		s, isString := v.(string)
		if !ok || !isString || s == "" {
			return nil, Refuse(recorder.OutcomeDenied, "your token has no usable %q claim, which %s needs", dp.FromClaim, ps.tool)
		}
		if out == nil {
			out = map[string]string{}
		}
		out[dp.Name] = s
	}
	return out, nil
}
