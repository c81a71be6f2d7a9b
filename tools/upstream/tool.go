package upstream

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/airlockhq/airlock/config"
	"github.com/airlockhq/airlock/policy"
	"github.com/airlockhq/airlock/policy/pgsql"
	"github.com/airlockhq/airlock/recorder"
	"github.com/airlockhq/airlock/tools"
)

// Tool is one upstream tool, re-exported.
type Tool struct {
	conn     *Conn
	upstream string // the upstream's name
	name     string // Airlock's name
	rule     *rule  // nil: unmapped, admin
	def      atomic.Pointer[definition]
}

// definition is the upstream's current definition of a tool, with its
// compiled schema.
type definition struct {
	tool   mcp.Tool
	hash   string
	schema *jsonschema.Schema
	err    error
}

var (
	_ tools.Scoped           = (*Tool)(nil)
	_ tools.Withholder       = (*Tool)(nil)
	_ tools.ScopedDefinition = (*Tool)(nil)
)

func (t *Tool) setDefinition(up mcp.Tool) {
	d := &definition{tool: up, hash: DefinitionHash(up)}
	d.schema, d.err = compileSchema(canonicalSchema(up))
	t.def.Store(d)
}

// compileSchema compiles an upstream's input schema without loading
// anything: a $ref to another document fails instead of being fetched.
func compileSchema(raw json.RawMessage) (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	if m, ok := doc.(map[string]any); ok {
		if _, has := m["type"]; !has {
			m["type"] = "object"
		}
	}
	c := jsonschema.NewCompiler()
	c.UseLoader(jsonschema.SchemeURLLoader{})
	if err := c.AddResource("airlock-upstream.json", doc); err != nil {
		return nil, err
	}
	return c.Compile("airlock-upstream.json")
}

// Access is the class a call of the tool needs before any SQL argument
// is classified: the mapping's, or admin for an unmapped tool.
func (t *Tool) Access() policy.Access {
	if t.rule == nil {
		return policy.Admin
	}
	return t.rule.Access
}

// Definition implements tools.Tool: the upstream's description and input
// schema under Airlock's name, with hints from the operator's mapping
// (the upstream's own hints are not passed on).
func (t *Tool) Definition() mcp.Tool {
	d := t.def.Load()
	access := t.Access()
	desc := fmt.Sprintf("%s (upstream tool %s of %s; %s access through the Airlock gateway", strings.TrimSpace(d.tool.Description), t.upstream, t.conn.name, access)
	if t.rule != nil && t.rule.Effect == "approve" {
		desc += "; each call needs a human approval"
	}
	if t.rule == nil {
		desc += "; not classified by the operator"
	}
	def := mcp.NewToolWithRawSchema(t.name, desc+")", canonicalSchema(d.tool))
	def.Annotations = tools.Annotations(t.name, access == policy.Read)
	return def
}

// DefinitionFor implements tools.ScopedDefinition: the definition as it
// is now (after an accepted change), not as it was at start.
func (t *Tool) DefinitionFor([]string) mcp.Tool { return t.Definition() }

// Connections implements tools.Scoped.
func (t *Tool) Connections() []string { return []string{t.conn.name} }

// Withheld implements tools.Withholder: the upstream's definition is new
// or changed and no admin accepted it.
func (t *Tool) Withheld() bool { return t.conn.withheld(t.upstream) }

// Parse implements tools.Tool: refuse a withheld tool, validate the
// arguments against the upstream's schema, classify by the mapping and,
// for a declared SQL argument, by the statement itself.
func (t *Tool) Parse(args map[string]any) (*tools.Call, error) {
	if t.Withheld() {
		return nil, tools.Refuse(recorder.OutcomeDenied, "the tool %s is withheld: the upstream server %s offers a definition of it that no admin has accepted yet (new, or changed since it was accepted). "+
			"Nothing was run. An admin reviews it with `airlock upstream pins` and accepts it with `airlock upstream accept`.", t.name, t.conn.name)
	}
	d := t.def.Load()
	if d.err != nil {
		return nil, tools.Refuse(recorder.OutcomeInvalid, "the upstream's input schema of %s cannot be used to check arguments, so the tool is refused; an operator must look at the upstream", t.name)
	}
	if err := d.schema.Validate(jsonValue(args)); err != nil {
		return nil, tools.Refuse(recorder.OutcomeInvalid, "the arguments do not match the input schema of %s: %s", t.name, schemaErr(err))
	}
	c := &tools.Call{Action: tools.Action{Connection: t.conn.name, Access: t.Access(), Command: t.upstream}, Args: args}
	if r := t.rule; r != nil {
		c.NeedsApproval = r.Effect == "approve"
		if r.SQL != "" {
			sql, ok := args[r.SQL].(string)
			if !ok {
				return nil, tools.Refuse(recorder.OutcomeInvalid, "%s must be a string holding one SQL statement", r.SQL)
			}
			st, err := pgsql.Classify(sql)
			if err != nil {
				return nil, tools.Refuse(recorder.OutcomeInvalid, "%s: %s. Airlock classifies the SQL of %s itself and accepts exactly one statement, without transaction control.", r.SQL, err.Error(), t.name)
			}
			c.Access = stricter(c.Access, st.Access)
			c.Command = t.upstream + ": " + st.Command
			c.Resources = st.Tables
		}
	}
	return c, nil
}

var english = message.NewPrinter(language.English)

// schemaErr is the validator's message without the schema location
// prefix, bounded.
func schemaErr(err error) string {
	var ve *jsonschema.ValidationError
	msg := err.Error()
	if errors.As(err, &ve) {
		var parts []string
		for _, c := range leaves(ve) {
			loc := "/" + strings.Join(c.InstanceLocation, "/")
			parts = append(parts, fmt.Sprintf("at %s: %s", loc, c.ErrorKind.LocalizedString(english)))
			if len(parts) == 5 {
				break
			}
		}
		msg = strings.Join(parts, "; ")
	}
	if len(msg) > 1000 {
		msg = msg[:1000] + "…"
	}
	return msg
}

func leaves(ve *jsonschema.ValidationError) []*jsonschema.ValidationError {
	if len(ve.Causes) == 0 {
		return []*jsonschema.ValidationError{ve}
	}
	var out []*jsonschema.ValidationError
	for _, c := range ve.Causes {
		out = append(out, leaves(c)...)
	}
	return out
}

// jsonValue makes args what the validator reads: JSON numbers stay exact.
func jsonValue(args map[string]any) any {
	b, err := json.Marshal(args)
	if err != nil {
		return nil
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return nil
	}
	return v
}

// Execute implements tools.Tool: forward the call to the upstream with
// the gateway's credential, within the connection's timeout.
func (t *Tool) Execute(ctx context.Context, c *tools.Call) (*tools.Result, error) {
	args, _ := c.Args.(map[string]any)
	s, release := t.conn.sessionFor(ctx)
	defer release()
	cl, err := s.client(ctx)
	if err != nil {
		return nil, tools.NotRun(upstreamErr(ctx, t.conn, err))
	}
	// Under per_principal isolation the caller's own process must offer
	// the accepted definition too.
	if h := s.hash(t.upstream); !t.conn.usable(t.upstream, h) {
		return nil, tools.NotRun(tools.Refuse(recorder.OutcomeDenied, "the tool %s is withheld: the upstream process serving you offers a definition no admin has accepted. Nothing was run.", t.name))
	}
	ctx, cancel := context.WithTimeout(ctx, t.conn.cfg.Timeout)
	defer cancel()
	tok, done := t.conn.progressToken(ctx)
	defer done()
	req := mcp.CallToolRequest{}
	req.Params.Name = t.upstream
	req.Params.Arguments = args
	req.Params.Meta = &mcp.Meta{ProgressToken: tok}
	res, err := cl.CallTool(ctx, req)
	if err != nil {
		return nil, t.callErr(ctx, s, cl, err)
	}
	s.healthy()
	if res.IsError {
		return nil, &tools.AgentError{Outcome: recorder.OutcomeError, Msg: "the upstream tool " + t.upstream + " of " + t.conn.name + " failed: " + bounded(contentText(res.Content), 2000)}
	}
	return convert(res.Content, res.StructuredContent, t.conn.cfg.AllowMedia), nil
}

// callErr turns a failed upstream call into an error the agent can act
// on; the upstream's own text is masked by the pipeline before anyone
// sees it.
func (t *Tool) callErr(ctx context.Context, s *session, cl *client.Client, err error) error {
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return &tools.AgentError{Outcome: recorder.OutcomeError, Msg: fmt.Sprintf("the upstream %s did not answer in time (timeout %s, or the call's own deadline); "+
			"the call was cancelled on the upstream, and what it did before is unknown. Ask for less, or retry later.", t.conn.name, t.conn.cfg.Timeout)}
	case errors.Is(ctx.Err(), context.Canceled):
		return &tools.AgentError{Outcome: recorder.OutcomeError, Msg: "the call was cancelled; the upstream " + t.conn.name + " was told to stop"}
	}
	var te *transport.Error
	if errors.As(err, &te) {
		s.broken(cl)
		return &tools.AgentError{Outcome: recorder.OutcomeError, Msg: fmt.Sprintf("the upstream %s stopped or lost the connection during the call; "+
			"the gateway is restarting it. What the call did before is unknown: check before you retry.", t.conn.name)}
	}
	return &tools.AgentError{Outcome: recorder.OutcomeError, Msg: "the upstream " + t.conn.name + " refused the call: " + bounded(err.Error(), 1000)}
}

// upstreamErr tells the agent the upstream could not be reached. The cause
// goes to the operator's log only: it can name where a credential is kept
// (an unset variable, a secret file) or the store behind the pins.
func upstreamErr(ctx context.Context, c *Conn, err error) error {
	c.log.WarnContext(ctx, "upstream not available; call refused", "connection", c.name, "err", err)
	return &tools.AgentError{Outcome: recorder.OutcomeError, Msg: fmt.Sprintf("the upstream %s is not available; nothing was run, retry in a moment (an operator finds the cause in the gateway's log)", c.name)}
}

func bounded(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cut at a space: a token cut in two is too short for the secret
	// detectors that mask this text next, so the part before the cut
	// would go out in clear. The cut word is dropped.
	cut := s[:n]
	if i := strings.LastIndexAny(cut, " \t\n\r"); i >= 0 {
		cut = cut[:i]
	} else {
		cut = ""
	}
	return strings.ToValidUTF8(cut, "") + "…"
}

func contentText(cs []mcp.Content) string {
	var parts []string
	for _, c := range cs {
		if tc, ok := mcp.AsTextContent(c); ok {
			parts = append(parts, tc.Text)
		}
	}
	return strings.Join(parts, "\n")
}

// convert builds the result the pipeline masks and caps: text and
// embedded text resources as text, upstream structured content under
// "structured", images and audio passed only where allowed.
func convert(cs []mcp.Content, structured any, allowMedia bool) *tools.Result {
	r := &tools.Result{}
	var items []any
	var texts []string
	for _, c := range cs {
		switch x := c.(type) {
		case mcp.TextContent:
			items = append(items, map[string]any{"type": "text", "text": x.Text})
			texts = append(texts, x.Text)
		case *mcp.TextContent:
			items = append(items, map[string]any{"type": "text", "text": x.Text})
			texts = append(texts, x.Text)
		case mcp.ImageContent:
			items = append(items, media(r, "image", x.MIMEType, x.Data, c, allowMedia))
		case *mcp.ImageContent:
			items = append(items, media(r, "image", x.MIMEType, x.Data, c, allowMedia))
		case mcp.AudioContent:
			items = append(items, media(r, "audio", x.MIMEType, x.Data, c, allowMedia))
		case *mcp.AudioContent:
			items = append(items, media(r, "audio", x.MIMEType, x.Data, c, allowMedia))
		case mcp.EmbeddedResource:
			items = append(items, resourceItem(x.Resource, &texts))
		case *mcp.EmbeddedResource:
			items = append(items, resourceItem(x.Resource, &texts))
		case mcp.ResourceLink:
			items = append(items, map[string]any{"type": "resource_link", "uri": x.URI, "name": x.Name, "description": x.Description})
		default:
			items = append(items, map[string]any{"type": "unknown", "omitted": "content of a kind Airlock does not pass on"})
		}
	}
	out := map[string]any{"content": items}
	if structured != nil {
		out["structured"] = structured
	}
	r.Structured = out
	r.Text = strings.Join(texts, "\n")
	return r
}

func media(r *tools.Result, kind, mime, data string, c mcp.Content, allow bool) map[string]any {
	n := base64.StdEncoding.DecodedLen(len(data))
	if !allow {
		return map[string]any{"type": kind, "mimeType": mime, "bytes": n,
			"omitted": kind + " dropped: this connection does not pass images or audio (masking cannot read them; allow_media enables them)"}
	}
	r.Media = append(r.Media, c)
	return map[string]any{"type": kind, "mimeType": mime, "bytes": n, "passed": true}
}

func resourceItem(rc mcp.ResourceContents, texts *[]string) map[string]any {
	switch x := rc.(type) {
	case mcp.TextResourceContents:
		*texts = append(*texts, x.Text)
		return map[string]any{"type": "resource", "uri": x.URI, "mimeType": x.MIMEType, "text": x.Text}
	case *mcp.TextResourceContents:
		*texts = append(*texts, x.Text)
		return map[string]any{"type": "resource", "uri": x.URI, "mimeType": x.MIMEType, "text": x.Text}
	case mcp.BlobResourceContents:
		return map[string]any{"type": "resource", "uri": x.URI, "mimeType": x.MIMEType, "omitted": "binary resource dropped: masking cannot read it"}
	case *mcp.BlobResourceContents:
		return map[string]any{"type": "resource", "uri": x.URI, "mimeType": x.MIMEType, "omitted": "binary resource dropped: masking cannot read it"}
	}
	return map[string]any{"type": "resource", "omitted": "resource of a kind Airlock does not pass on"}
}

// resourceTool is resources/read of the upstream, as a read call.
type resourceTool struct{ conn *Conn }

func (r *resourceTool) name() string { return r.conn.name + "_read_resource" }

// Definition implements tools.Tool.
func (r *resourceTool) Definition() mcp.Tool {
	def := mcp.NewTool(r.name(), mcp.WithDescription(fmt.Sprintf("Read a resource of the upstream MCP server %s by URI (read access through the Airlock gateway).", r.conn.name)),
		mcp.WithString("uri", mcp.Required(), mcp.Description("The resource URI")))
	def.Annotations = tools.Annotations(r.name(), true)
	return def
}

// Connections implements tools.Scoped.
func (r *resourceTool) Connections() []string { return []string{r.conn.name} }

// Parse implements tools.Tool.
func (r *resourceTool) Parse(args map[string]any) (*tools.Call, error) {
	uri, ok := args["uri"].(string)
	if !ok || uri == "" || len(args) != 1 {
		return nil, tools.Refuse(recorder.OutcomeInvalid, "give exactly {\"uri\": \"...\"}")
	}
	return &tools.Call{Action: tools.Action{Connection: r.conn.name, Access: policy.Read, Command: "resources/read", Resources: []string{uri}}, Args: uri}, nil
}

// Execute implements tools.Tool.
func (r *resourceTool) Execute(ctx context.Context, c *tools.Call) (*tools.Result, error) {
	s, release := r.conn.sessionFor(ctx)
	defer release()
	cl, err := s.client(ctx)
	if err != nil {
		return nil, tools.NotRun(upstreamErr(ctx, r.conn, err))
	}
	ctx, cancel := context.WithTimeout(ctx, r.conn.cfg.Timeout)
	defer cancel()
	req := mcp.ReadResourceRequest{}
	req.Params.URI = c.Args.(string)
	res, err := cl.ReadResource(ctx, req)
	if err != nil {
		t := &Tool{conn: r.conn, upstream: "resources/read", name: r.name()}
		return nil, t.callErr(ctx, s, cl, err)
	}
	s.healthy()
	var cs []mcp.Content
	for _, rc := range res.Contents {
		cs = append(cs, mcp.EmbeddedResource{Type: "resource", Resource: rc})
	}
	return convert(cs, nil, false), nil
}

var _ tools.ConnectionChecker = (*Tool)(nil)

// CheckConnection implements tools.ConnectionChecker (airlock check): the
// upstream starts (or is reached) and answers a ping.
func (t *Tool) CheckConnection(ctx context.Context, name string) error {
	if name != t.conn.name {
		return tools.ErrUnknownConnection
	}
	return t.conn.check(ctx)
}

// CheckConnection implements tools.ConnectionChecker.
func (r *resourceTool) CheckConnection(ctx context.Context, name string) error {
	if name != r.conn.name {
		return tools.ErrUnknownConnection
	}
	return r.conn.check(ctx)
}

func (c *Conn) check(ctx context.Context) error {
	s := c.session("")
	if c.cfg.Isolation == config.MCPPerPrincipal {
		// A process of its own, stopped after the check.
		s = &session{conn: c, key: "check", mu: make(chan struct{}, 1)}
		defer s.close()
	}
	cl, err := s.client(ctx)
	if err != nil {
		return err
	}
	if err := cl.Ping(ctx); err != nil {
		return fmt.Errorf("%w: ping failed: %s", ErrUnavailable, transportCause(err))
	}
	return nil
}
