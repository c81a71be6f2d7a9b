package httprequest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"unicode"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/airlockhq/airlock/config"
	"github.com/airlockhq/airlock/policy"
	"github.com/airlockhq/airlock/policy/httpguard"
	"github.com/airlockhq/airlock/recorder"
	"github.com/airlockhq/airlock/tools"
)

var (
	_ tools.Declarer = (*Tool)(nil)
	_ tools.Tool     = (*declared)(nil)
	_ tools.Scoped   = (*declared)(nil)
)

// DeclaredKinds implements tools.Declarer.
func (t *Tool) DeclaredKinds() []string { return []string{config.DeclaredHTTP} }

// maxSafeInt is the largest integer a JSON number carries exactly.
const maxSafeInt = 1<<53 - 1

// hole is a "{name}" placeholder in a path, query value or body string.
var hole = regexp.MustCompile(`\{([a-z][a-z0-9_]*)\}`)

// declared is an operator-declared HTTP tool: a fixed method, a path
// template whose holes are whole-value path segments, a query and a JSON
// body template. Every call still goes through http_request's guards: the
// path is confined by httpguard and matched against the connection's
// routes, and the request runs through http_request's execution path.
type declared struct {
	t           *Tool
	cn          *conn
	def         *config.DeclaredTool
	method      string
	access      policy.Access // declared, or from the method
	params      map[string]*config.DeclaredParam
	claims      bool // some parameter is bound from the caller's token
	paramChecks *tools.Params
	mcp         mcp.Tool
}

// Declare implements tools.Declarer. The method and the path template are
// checked against the connection's routes now: a path that a deny route
// refuses whatever the parameters are is a configuration error.
func (t *Tool) Declare(d *config.DeclaredTool) (tools.Tool, error) {
	cn, ok := t.conns[d.Connection]
	if !ok {
		return nil, fmt.Errorf("tools.%s: connection %q is not an http connection", d.Name, d.Connection)
	}
	dt := &declared{
		t: t, cn: cn, def: d, method: strings.ToUpper(strings.TrimSpace(d.Method)),
		params: map[string]*config.DeclaredParam{},
	}
	if !strings.HasPrefix(d.Path, "/") {
		return nil, fmt.Errorf("tools.%s.path: must start with /", d.Name)
	}
	for i := range d.Params {
		p := &d.Params[i]
		dt.params[p.Name] = p
		if p.FromClaim != "" {
			dt.claims = true
		}
	}
	ps, err := tools.NewParams(d.Name, d.Params)
	if err != nil {
		return nil, err
	}
	dt.paramChecks = ps
	for _, m := range hole.FindAllStringSubmatch(d.Path, -1) {
		if dt.params[m[1]] == nil {
			return nil, fmt.Errorf("tools.%s.path: {%s} is not a declared parameter", d.Name, m[1])
		}
	}
	switch d.Access {
	case "":
		dt.access = policy.Write
		if dt.method == "GET" || dt.method == "HEAD" {
			dt.access = policy.Read
		}
	case policy.Read, policy.Write:
		dt.access = d.Access
	default:
		return nil, fmt.Errorf("tools.%s.access: must be read or write", d.Name)
	}
	// Try the template with two unrelated sample values in every hole: when
	// both are refused (a deny route, or no route at all for a fixed path),
	// no call could ever pass.
	var firstErr error
	allowed := false
	for _, sample := range []string{"1", "sample"} {
		path, err := fillPath(d.Path, func(string) (string, error) { return sample, nil })
		if err == nil {
			_, err = httpguard.JoinPath(cn.base, path)
		}
		if err == nil {
			var dec httpguard.Decision
			dec, err = httpguard.MatchRoute(cn.routes, dt.method, path)
			if err != nil && dec.Effect == httpguard.EffectDeny {
				return nil, fmt.Errorf("tools.%s.path: %s %s is denied by the routes of connection %q", d.Name, dt.method, d.Path, d.Connection)
			}
		}
		if err == nil {
			allowed = true
		} else if firstErr == nil {
			firstErr = err
		}
	}
	if !allowed && (!hole.MatchString(d.Path) || !isGuardRefusal(firstErr)) {
		return nil, fmt.Errorf("tools.%s.path: %w", d.Name, firstErr)
	}
	if _, err := json.Marshal(d.Body); err != nil {
		return nil, fmt.Errorf("tools.%s.body: not a JSON value: %w", d.Name, err)
	}
	dt.mcp = dt.definition()
	return dt, nil
}

func isGuardRefusal(err error) bool {
	var ge *httpguard.Error
	return errors.As(err, &ge)
}

// Connections implements tools.Scoped.
func (d *declared) Connections() []string { return []string{d.def.Connection} }

// Definition implements tools.Tool.
func (d *declared) Definition() mcp.Tool { return d.mcp }

func (d *declared) definition() mcp.Tool {
	return tools.DeclaredDefinition(d.def, d.access, d.def.Approve, d.paramChecks.Schema())
}

// pending is a parsed declared call. req is built at Parse when no
// parameter is bound from a claim; otherwise at Execute, from values plus
// the caller's claims, and checked against the routes again.
type pending struct {
	values map[string]any
	req    *request
	// decision is the route decision Parse saw (with sample claim values).
	decision httpguard.Decision
}

// Parse implements tools.Tool: every argument is checked against its
// declared type and constraints (claim-bound ones cannot be set), the
// path filled and confined, and the routes matched. It does no I/O.
func (d *declared) Parse(args map[string]any) (*tools.Call, error) {
	for k := range args {
		p, ok := d.params[k]
		if !ok {
			return nil, fmt.Errorf("unknown argument %q", k)
		}
		if p.FromClaim != "" {
			return nil, fmt.Errorf("%s is bound from the caller's token and cannot be set", k)
		}
	}
	values := map[string]any{}
	for i := range d.def.Params {
		p := &d.def.Params[i]
		if p.FromClaim != "" {
			continue
		}
		v, present := args[p.Name]
		if !present || v == nil {
			if !p.Optional {
				return nil, fmt.Errorf("%s is required", p.Name)
			}
			values[p.Name] = p.Default
			continue
		}
		cv, err := d.paramChecks.Check(p, v)
		if err != nil {
			return nil, err
		}
		values[p.Name] = cv
	}
	pd := &pending{values: values}
	var (
		dec      httpguard.Decision
		resource string
		err      error
	)
	if d.claims {
		// Check what the agent gave now, with a harmless stand-in for
		// each claim; Execute checks again with the real values.
		sample := map[string]any{}
		for k, v := range values {
			sample[k] = v
		}
		for _, p := range d.def.Params {
			if p.FromClaim != "" {
				sample[p.Name] = "claim"
			}
		}
		if _, dec, _, err = d.build(sample); err != nil {
			return nil, err
		}
		// The resource shows the claim holes unfilled.
		rel, err := fillPath(d.def.Path, func(name string) (string, error) {
			if d.params[name].FromClaim != "" {
				return "{" + name + "}", nil
			}
			return segment(name, values[name])
		})
		if err != nil {
			return nil, err
		}
		resource = d.method + " " + rel
	} else {
		var rel string
		if pd.req, dec, rel, err = d.build(values); err != nil {
			return nil, err
		}
		resource = d.method + " " + rel
	}
	pd.decision = dec
	return &tools.Call{
		Action: tools.Action{
			Connection: d.def.Connection, Access: maxAccess(d.access, dec.Access), Command: d.def.Name,
			Resources:     []string{resource},
			NeedsApproval: d.def.Approve || dec.Effect == httpguard.EffectApprove,
		},
		Args: pd,
	}, nil
}

func maxAccess(a, b policy.Access) policy.Access {
	if rank(b) > rank(a) {
		return b
	}
	return a
}

// build fills the templates with values and runs them through
// http_request's guards: path confinement, routes, query encoding, body
// size. It returns the request, the route decision and the path relative to
// the base URL, canonically escaped.
func (d *declared) build(values map[string]any) (*request, httpguard.Decision, string, error) {
	var none httpguard.Decision
	path, err := fillPath(d.def.Path, func(name string) (string, error) { return segment(name, values[name]) })
	if err != nil {
		return nil, none, "", err
	}
	dec, err := httpguard.MatchRoute(d.cn.routes, d.method, path)
	if err != nil {
		var ge *httpguard.Error
		switch {
		case !errors.As(err, &ge):
			return nil, none, "", err
		case dec.Effect == httpguard.EffectDeny:
			return nil, none, "", tools.Refuse(recorder.OutcomeDenied, "denied: %s on connection %q. Nothing was sent.", ge.Msg, d.def.Connection)
		case strings.HasPrefix(ge.Msg, "no route allows"):
			return nil, none, "", tools.Refuse(recorder.OutcomeDenied, "denied: %s on connection %q. Nothing was sent.", ge.Msg, d.def.Connection)
		}
		return nil, none, "", err
	}
	query := map[string]any{}
	for k, tmpl := range d.def.Query {
		if m := hole.FindStringSubmatch(tmpl); m != nil && m[0] == tmpl {
			if v := values[m[1]]; v != nil {
				query[k] = v
			}
			continue
		}
		query[k] = substitute(tmpl, values)
	}
	u, err := httpguard.BuildURL(d.cn.base, path, query)
	if err != nil {
		return nil, none, "", err
	}
	header := http.Header{}
	body, err := encodeBody(fillBody(d.def.Body, values), header, d.cn.maxRequest)
	if err != nil {
		return nil, none, "", err
	}
	rel := strings.TrimPrefix(u.EscapedPath(), d.cn.basePath)
	return &request{method: d.method, url: u, header: header, body: body}, dec, rel, nil
}

// fillPath replaces each hole in the path template with what fill returns
// for its parameter.
func fillPath(tmpl string, fill func(name string) (string, error)) (string, error) {
	var err error
	out := hole.ReplaceAllStringFunc(tmpl, func(h string) string {
		s, e := fill(h[1 : len(h)-1])
		if e != nil && err == nil {
			err = e
		}
		return s
	})
	return out, err
}

// segment renders a parameter value as one escaped path segment. Values
// that could change the path's shape are refused, not escaped.
func segment(name string, v any) (string, error) {
	var s string
	switch v := v.(type) {
	case nil:
		return "", tools.Refuse(recorder.OutcomeDenied, "%s is needed to build the path", name)
	case string:
		s = v
	default:
		s = scalar(v)
	}
	switch {
	case s == "":
		return "", tools.Refuse(recorder.OutcomeDenied, "%s must not be empty: it fills a path segment", name)
	case strings.Contains(s, "/"), strings.Contains(s, `\`):
		return "", tools.Refuse(recorder.OutcomeDenied, "%s must not contain a slash: it fills one path segment", name)
	case strings.Contains(s, ".."), strings.Trim(s, ". ") == "":
		return "", tools.Refuse(recorder.OutcomeDenied, "%s must not contain \"..\": it fills one path segment", name)
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		return "", tools.Refuse(recorder.OutcomeDenied, "%s must not contain control characters", name)
	}
	// PathEscape leaves "@" alone; httpguard refuses it raw (it reads as
	// user info), so it is sent encoded.
	return strings.ReplaceAll(url.PathEscape(s), "@", "%40"), nil
}

// scalar renders a typed value as text.
func scalar(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	}
	return fmt.Sprint(v)
}

// substitute replaces the holes inside a longer string with the values'
// text.
func substitute(s string, values map[string]any) string {
	return hole.ReplaceAllStringFunc(s, func(h string) string { return scalar(values[h[1:len(h)-1]]) })
}

// fillBody copies the body template: a string that is exactly "{name}"
// becomes the typed value, holes inside longer strings are replaced by the
// value's text, and everything else is kept.
func fillBody(v any, values map[string]any) any {
	switch x := v.(type) {
	case string:
		if m := hole.FindStringSubmatch(x); m != nil && m[0] == x {
			return values[m[1]]
		}
		return substitute(x, values)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = fillBody(e, values)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = fillBody(e, values)
		}
		return out
	}
	return v
}

// check validates one agent argument against its declared parameter and
// returns the typed value (int64 for integers).
// Execute implements tools.Tool: claim-bound parameters are filled from the
// verified principal, the request is built and guarded again, and it runs
// through http_request's execution path (credential injection, caps,
// scrubbing, result shape).
func (d *declared) Execute(ctx context.Context, c *tools.Call) (*tools.Result, error) {
	pd := c.Args.(*pending)
	req := pd.req
	if req == nil {
		values := make(map[string]any, len(pd.values)+1)
		for k, v := range pd.values {
			values[k] = v
		}
		claims, err := d.paramChecks.ClaimValues(ctx)
		if err != nil {
			return nil, err
		}
		for k, v := range claims {
			values[k] = v
		}
		var dec httpguard.Decision
		if req, dec, _, err = d.build(values); err != nil {
			return nil, err
		}
		// The real values must not need more than was granted.
		if rank(dec.Access) > rank(c.Access) || dec.Effect == httpguard.EffectApprove && !c.NeedsApproval {
			return nil, tools.Refuse(recorder.OutcomeDenied, "denied: with your token's values, %s %s needs more than this call was allowed. Nothing was sent.", d.method, d.def.Path)
		}
	}
	cc := *c
	cc.Args = req
	return d.t.Execute(ctx, &cc)
}
