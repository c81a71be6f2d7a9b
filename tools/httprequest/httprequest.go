// Package httprequest is the http_request tool kind: calls to configured
// HTTP APIs (connections of kind http) on the agent's behalf. The agent
// gives a method, a path under the connection's base URL, query parameters,
// a few allow-listed headers and a body — never a URL or a credential. The
// gateway confines the path (policy/httpguard), matches the connection's
// routes to classify the call, injects the configured credential headers,
// checks every dialled address after DNS, follows only same-origin redirects
// to allowed routes, caps both bodies and the time, and scrubs the
// credential from everything it returns or records.
package httprequest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/airlockhq/airlock/config"
	"github.com/airlockhq/airlock/masking"
	"github.com/airlockhq/airlock/policy"
	"github.com/airlockhq/airlock/policy/httpguard"
	"github.com/airlockhq/airlock/recorder"
	"github.com/airlockhq/airlock/tools"
)

// Name is the tool's name.
const Name = "http_request"

func init() {
	tools.Register(tools.Kind{
		Name:            Name,
		ConnectionKinds: []string{config.KindHTTP},
		New:             New,
	})
}

// Tool is http_request over the configured http connections.
type Tool struct {
	conns     map[string]*conn
	connNames []string
	env       *tools.Env
	def       mcp.Tool
}

var (
	_ tools.Tool              = (*Tool)(nil)
	_ tools.ConnectionChecker = (*Tool)(nil)
	_ tools.Scoped            = (*Tool)(nil)
	_ io.Closer               = (*Tool)(nil)
)

// New builds http_request for every http connection in the config; nil when
// there are none. It resolves each base URL's host (see newConn).
func New(env *tools.Env) (tools.Tool, error) {
	t, err := newTool(env, systemResolver)
	if t == nil {
		return nil, err // an untyped nil: the gateway skips the kind
	}
	return t, err
}

func newTool(env *tools.Env, lookup resolver) (*Tool, error) {
	t := &Tool{conns: map[string]*conn{}}
	for _, name := range slices.Sorted(maps.Keys(env.Config.Connections)) {
		c := env.Config.Connections[name]
		if c == nil || c.Kind != config.KindHTTP {
			continue
		}
		cn, err := newConn(name, c, lookup)
		if err != nil {
			t.Close()
			return nil, fmt.Errorf("connection %s: %w", name, err)
		}
		t.conns[name] = cn
		t.connNames = append(t.connNames, name)
	}
	if len(t.conns) == 0 {
		return nil, nil
	}
	t.env = env
	t.def = definition(env, t, t.connNames)
	return t, nil
}

// maxRoutesDescribed bounds the routes listed per connection in the tool
// description.
const maxRoutesDescribed = 12

func definition(env *tools.Env, t *Tool, names []string) mcp.Tool {
	var desc strings.Builder
	desc.WriteString("Call a configured internal HTTP API through the Airlock gateway. Give a method and a path under the connection's base URL ")
	desc.WriteString("(never a full URL), optional query parameters, a few headers (Accept, Accept-Language, Content-Type, If-Match, If-None-Match and the like, plus any a connection lists; never Authorization or Host: ")
	desc.WriteString("the gateway adds the credential) and an optional body (objects and arrays are sent as JSON, a string as it is). ")
	desc.WriteString("The result has the status, safe response headers and the body (JSON when the API answers JSON); truncated is true when the body hit the size or time cap. Connections:")
	readOnly := true
	for _, n := range names {
		cn := t.conns[n]
		c := env.Config.Connections[n]
		fmt.Fprintf(&desc, "\n- %s", n)
		if c.Description != "" {
			fmt.Fprintf(&desc, ": %s", c.Description)
		}
		if len(c.HTTP.AllowHeaders) > 0 {
			fmt.Fprintf(&desc, " Also accepts headers: %s.", strings.Join(c.HTTP.AllowHeaders, ", "))
		}
		if len(c.HTTP.Routes) > 0 {
			desc.WriteString(" Routes:")
			for i, r := range cn.routes {
				if i == maxRoutesDescribed {
					fmt.Fprintf(&desc, " (and %d more)", len(cn.routes)-i)
					break
				}
				fmt.Fprintf(&desc, " %s %s", strings.Join(r.Methods, ","), r.Path)
				switch r.Effect {
				case httpguard.EffectDeny:
					desc.WriteString(" (denied)")
				case httpguard.EffectApprove:
					desc.WriteString(" (each call needs approval)")
				}
				desc.WriteString(";")
			}
		}
		if env.Policy != nil {
			if a := env.Policy.MaxAccess(n); a != "" && a != policy.Read {
				readOnly = false
			}
		}
	}
	schema := map[string]any{
		"type": "object",
		"properties": map[string]any{
			"connection": map[string]any{"type": "string", "enum": names, "description": "Name of the http connection."},
			"method": map[string]any{"type": "string", "pattern": "^[A-Z]{1,16}$",
				"description": "HTTP method in upper case: GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS."},
			"path": map[string]any{"type": "string", "maxLength": httpguard.MaxPathLen,
				"description": "Path under the connection's base URL, starting with /, e.g. /v1/customers/42. Percent-encode data that contains / ? # @ or spaces."},
			"query": map[string]any{"type": "object", "description": "Query parameters: strings, numbers, booleans or arrays of them (repeated keys).",
				"additionalProperties": map[string]any{"anyOf": []any{ // one type per branch: some clients' schema dialects refuse a "type" array
					map[string]any{"type": "string"}, map[string]any{"type": "number"}, map[string]any{"type": "boolean"},
					map[string]any{"type": "array", "items": map[string]any{"anyOf": []any{
						map[string]any{"type": "string"}, map[string]any{"type": "number"}, map[string]any{"type": "boolean"}}}},
				}}},
			"headers": map[string]any{"type": "object", "description": "Extra request headers from the connection's allow-list (content negotiation and conditional requests by default).",
				"additionalProperties": map[string]any{"type": "string"}},
			"body": map[string]any{"description": "Request body: an object or array is sent as JSON; a string is sent as it is."},
		},
		"required":             []string{"connection", "method", "path"},
		"additionalProperties": false,
	}
	raw, _ := json.Marshal(schema)
	def := mcp.NewToolWithRawSchema(Name, desc.String(), raw)
	def.Annotations = tools.Annotations("Call an internal HTTP API", readOnly)
	return def
}

// Definition implements tools.Tool.
func (t *Tool) Definition() mcp.Tool { return t.def }

// DefinitionFor implements tools.ScopedDefinition.
func (t *Tool) DefinitionFor(names []string) mcp.Tool { return definition(t.env, t, names) }

// Connections implements tools.Scoped.
func (t *Tool) Connections() []string { return t.connNames }

// request is http_request's parsed arguments, ready to send.
type request struct {
	method string
	url    *url.URL // absolute, canonically escaped
	header http.Header
	body   []byte
}

var argNames = []string{"connection", "method", "path", "query", "headers", "body"}

// Parse implements tools.Tool. It does no I/O: the path is confined and
// re-escaped, the query encoded, the headers filtered and the route matched.
func (t *Tool) Parse(args map[string]any) (*tools.Call, error) {
	for k := range args {
		if !slices.Contains(argNames, k) {
			return nil, fmt.Errorf("unknown argument %q (http_request takes %s)", k, strings.Join(argNames, ", "))
		}
	}
	name, _ := args["connection"].(string)
	cn, ok := t.conns[name]
	if !ok {
		return nil, tools.UnknownConnection(name)
	}
	method, ok := args["method"].(string)
	if !ok || method == "" {
		return nil, errors.New("method is required, e.g. \"GET\"")
	}
	path, ok := args["path"].(string)
	if !ok || path == "" {
		return nil, errors.New("path is required: a path under the connection's base URL starting with /")
	}
	var query map[string]any
	if raw, present := args["query"]; present && raw != nil {
		if query, ok = raw.(map[string]any); !ok {
			return nil, errors.New("query must be an object of parameter names to values")
		}
	}
	agentHeaders := map[string]string{}
	if raw, present := args["headers"]; present && raw != nil {
		m, ok := raw.(map[string]any)
		if !ok {
			return nil, errors.New("headers must be an object of header names to string values")
		}
		for k, v := range m {
			s, ok := v.(string)
			if !ok {
				return nil, fmt.Errorf("headers: the value of %q must be a string", k)
			}
			agentHeaders[k] = s
		}
	}
	d, err := httpguard.MatchRoute(cn.routes, method, path)
	if err != nil {
		var ge *httpguard.Error
		switch {
		case !errors.As(err, &ge):
			return nil, err
		case d.Effect == httpguard.EffectDeny:
			return nil, tools.Refuse(recorder.OutcomeDenied, "denied: %s on connection %q. Nothing was sent.", ge.Msg, name)
		case strings.HasPrefix(ge.Msg, "no route allows"):
			return nil, tools.Refuse(recorder.OutcomeDenied, "denied: %s on connection %q (the tool description lists its routes). Nothing was sent.", ge.Msg, name)
		}
		return nil, err
	}
	u, err := httpguard.BuildURL(cn.base, path, query)
	if err != nil {
		return nil, err
	}
	header, err := cn.allow.Filter(agentHeaders)
	if err != nil {
		return nil, fmt.Errorf("headers (connection %q): %w", name, err)
	}
	body, err := encodeBody(args["body"], header, cn.maxRequest)
	if err != nil {
		return nil, err
	}
	rel := strings.TrimPrefix(u.EscapedPath(), cn.basePath)
	return &tools.Call{
		Action: tools.Action{
			Connection: name, Access: d.Access, Command: method,
			Resources:     []string{method + " " + rel},
			NeedsApproval: d.Effect == httpguard.EffectApprove,
		},
		Args: &request{method: method, url: u, header: header, body: body},
	}, nil
}

// encodeBody turns the agent's body into bytes: objects, arrays, numbers and
// booleans as JSON (Content-Type application/json unless the agent set one),
// a string as it is (text/plain unless set). Null or absent is no body.
func encodeBody(v any, header http.Header, maxBytes int) ([]byte, error) {
	var (
		b     []byte
		ctype string
	)
	switch v := v.(type) {
	case nil:
		return nil, nil
	case string:
		b, ctype = []byte(v), "text/plain; charset=utf-8"
	default:
		var err error
		if b, err = json.Marshal(v); err != nil {
			return nil, errors.New("body must be a JSON value (an object, array, string, number or boolean)")
		}
		ctype = "application/json"
	}
	if len(b) > maxBytes {
		return nil, fmt.Errorf("body is too large (%d bytes; this connection accepts at most %d)", len(b), maxBytes)
	}
	if header.Get("Content-Type") == "" {
		header.Set("Content-Type", ctype)
	}
	return b, nil
}

// Execute implements tools.Tool: it sends the request with the connection's
// credential headers, under the connection's timeout.
func (t *Tool) Execute(ctx context.Context, c *tools.Call) (*tools.Result, error) {
	r := c.Args.(*request)
	cn := t.conns[c.Connection]
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, cn.timeout)
	defer cancel()
	ctx = context.WithValue(ctx, accessKey{}, c.Access)
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, r.url.String(), body)
	if err != nil {
		return nil, fmt.Errorf("building the request: %w", err)
	}
	// Send exactly the escaping the routes were matched against.
	u := *r.url
	req.URL = &u
	req.Header = r.header.Clone()
	// Operator headers go last and replace: the agent cannot override them.
	for k, vs := range cn.headers {
		req.Header[k] = slices.Clone(vs)
	}
	resp, err := cn.client.Do(req)
	if err != nil {
		return nil, cn.requestError(ctx, parent, err)
	}
	defer resp.Body.Close()
	return cn.result(ctx, r.method, resp, t.shaping(c)), nil
}

// shaping is how the pipeline masks and caps this call's result; outside
// the pipeline, the tool's masker (or the default one) and no budget.
func (t *Tool) shaping(c *tools.Call) *tools.Shaping {
	if c.Shaping.Masker != nil {
		return &c.Shaping
	}
	m := t.env.Masker
	if m == nil {
		var err error
		if m, err = masking.New(masking.Config{}); err != nil {
			panic(err) // the zero config is valid
		}
	}
	return &tools.Shaping{Masker: m}
}

// CheckConnection implements tools.ConnectionChecker: one guarded TCP
// connection to the base URL's host and port.
func (t *Tool) CheckConnection(ctx context.Context, name string) error {
	cn, ok := t.conns[name]
	if !ok {
		return fmt.Errorf("%w %q", tools.ErrUnknownConnection, name)
	}
	return cn.check(ctx)
}

// Close releases idle connections.
func (t *Tool) Close() error {
	for _, cn := range t.conns {
		cn.client.CloseIdleConnections()
	}
	return nil
}
