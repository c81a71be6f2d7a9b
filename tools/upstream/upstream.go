// Package upstream puts the tools of upstream MCP servers (connections of
// kind mcp) behind Airlock's guard pipeline: each upstream tool becomes an
// Airlock tool named <connection>_<tool> (or an alias), classified by the
// operator's mapping (never by the upstream's annotations), its arguments
// validated against the upstream's input schema, its definition pinned in
// the store so a changed tool is withheld until an admin accepts it, and
// its results masked, capped and journaled like any other call.
//
// The gateway holds the upstream's credential (a stdio server's env, a
// remote server's bearer or OAuth client credentials); the agent's token
// never reaches the upstream.
package upstream

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"path"
	"slices"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/airlockhq/airlock/config"
	"github.com/airlockhq/airlock/identity"
	"github.com/airlockhq/airlock/policy"
	"github.com/airlockhq/airlock/recorder"
	"github.com/airlockhq/airlock/store"
	"github.com/airlockhq/airlock/tools"
)

func init() {
	tools.Register(tools.Kind{Name: "upstream", ConnectionKinds: []string{config.KindMCP}, NewSet: newSet})
}

// TypeUpstream is the journal record type of pin events: a tool seen for
// the first time, a changed definition, an acceptance.
const TypeUpstream = "upstream_tool"

// Pin events journaled.
const (
	EventNew      = "new"
	EventChanged  = "changed"
	EventAccepted = "accepted"
)

// pinPoll is how often the gateway rereads pins, so an acceptance made
// with the CLI (straight to the store) takes effect.
const pinPoll = time.Second

// Set is the upstream tools of every mcp connection.
type Set struct {
	conns []*Conn
	tools []tools.Tool
	stop  context.CancelFunc
	wg    sync.WaitGroup
}

var (
	_ tools.ToolSet = (*Set)(nil)
	_ tools.Tool    = (*Tool)(nil)
)

func newSet(env *tools.Env) (tools.ToolSet, error) {
	var names []string
	for name, c := range env.Config.Connections {
		if c != nil && c.Kind == config.KindMCP {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return nil, nil
	}
	if env.Pins == nil {
		return nil, errors.New("upstream MCP connections need a store that keeps pins")
	}
	slices.Sort(names)
	// Names an upstream tool may not take: the built-in tools and the
	// declared ones. A tool that would shadow one, or another upstream's,
	// is not offered (mcp-go would replace the first silently).
	taken := map[string]string{}
	for _, n := range config.BuiltinTools {
		taken[n] = "a built-in tool"
	}
	for _, d := range env.Config.Tools {
		taken[d.Name] = "a declared tool"
	}
	log := env.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, stop := context.WithCancel(context.Background())
	s := &Set{stop: stop}
	for _, name := range names {
		c, err := NewConn(ctx, name, env.Config.Connections[name], env)
		if err != nil {
			s.Close()
			return nil, err
		}
		s.conns = append(s.conns, c)
		s.tools = append(s.tools, claimNames(taken, name, c.Tools(), log)...)
		s.wg.Add(1)
		go func() { defer s.wg.Done(); c.pollPins(ctx) }()
	}
	return s, nil
}

// claimNames keeps the tools whose names are free, and takes them.
func claimNames(taken map[string]string, connection string, ts []tools.Tool, log *slog.Logger) []tools.Tool {
	var out []tools.Tool
	for _, t := range ts {
		n := t.Definition().Name
		if owner, dup := taken[n]; dup {
			log.Error("upstream tool not offered: its name is taken; give it an alias", "connection", connection, "tool", n, "taken_by", owner)
			continue
		}
		taken[n] = "a tool of connection " + connection
		out = append(out, t)
	}
	return out
}

// Tools implements tools.ToolSet.
func (s *Set) Tools() []tools.Tool { return s.tools }

// Close stops every upstream process and session.
func (s *Set) Close() error {
	s.stop()
	s.wg.Wait()
	var errs []error
	for _, c := range s.conns {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

// rule is a compiled config.MCPToolRule.
type rule struct {
	config.MCPToolRule
	index int
}

// Conn is one upstream MCP server.
type Conn struct {
	name  string
	conn  *config.Connection
	cfg   *config.MCPSettings
	pins  store.PinStore
	rec   *recorder.Recorder
	log   *slog.Logger
	rules []rule

	mu sync.Mutex
	// accepted is the accepted hash per upstream tool (from the store);
	// seen the hash the upstream offers now, def its definition.
	accepted map[string]string
	seen     map[string]string
	defs     map[string]mcp.Tool
	tools    map[string]*Tool // by upstream name
	order    []string
	sessions map[string]*session
	closed   bool

	progressMu sync.Mutex
	progress   map[string]context.Context
	nextToken  uint64
	// Restarts counts upstream processes started again after a failure.
	restarts int
}

// NewConn starts the upstream (its shared session, or a discovery session
// for per_principal isolation), lists its tools and pins them.
func NewConn(ctx context.Context, name string, conn *config.Connection, env *tools.Env) (*Conn, error) {
	log := env.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Conn{name: name, conn: conn, cfg: conn.MCP, pins: env.Pins, rec: env.Journal, log: log.With("connection", name),
		accepted: map[string]string{}, seen: map[string]string{}, defs: map[string]mcp.Tool{}, tools: map[string]*Tool{},
		sessions: map[string]*session{}, progress: map[string]context.Context{}}
	for i, r := range c.cfg.Tools {
		c.rules = append(c.rules, rule{MCPToolRule: r, index: i})
	}
	if err := c.loadPins(ctx); err != nil {
		return nil, err
	}
	sctx, cancel := context.WithTimeout(ctx, c.cfg.StartTimeout)
	defer cancel()
	s := c.session("")
	if _, err := s.client(sctx); err != nil {
		c.Close()
		return nil, fmt.Errorf("connections.%s: %w", name, err)
	}
	if c.cfg.Isolation == config.MCPPerPrincipal {
		// The discovery process only lists tools; each caller gets its own.
		s.close()
		c.mu.Lock()
		delete(c.sessions, "")
		c.mu.Unlock()
	}
	return c, nil
}

// Tools are the tools the upstream offered at start, in its order, plus
// resources/read when enabled; tools mapped to effect deny are left out.
func (c *Conn) Tools() []tools.Tool {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []tools.Tool
	for _, n := range c.order {
		if t := c.tools[n]; t != nil {
			out = append(out, t)
		}
	}
	if c.cfg.Resources {
		out = append(out, &resourceTool{conn: c})
	}
	return out
}

// Restarts is how many times an upstream process was started again after
// it failed.
func (c *Conn) Restarts() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.restarts
}

// Close stops every session.
func (c *Conn) Close() error {
	c.mu.Lock()
	c.closed = true
	ss := slices.Collect(maps.Values(c.sessions))
	c.sessions = map[string]*session{}
	c.mu.Unlock()
	for _, s := range ss {
		s.close()
	}
	return nil
}

func (c *Conn) loadPins(ctx context.Context) error {
	ps, err := c.pins.ListPins(ctx, c.name)
	if err != nil {
		return fmt.Errorf("connections.%s: pins: %w", c.name, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range ps {
		if c.accepted[p.Tool] != p.AcceptedHash && p.AcceptedHash != "" && p.AcceptedHash == c.seen[p.Tool] {
			c.log.Info("upstream tool accepted", "upstream_tool", p.Tool, "by", p.AcceptedBy)
		}
		c.accepted[p.Tool] = p.AcceptedHash
	}
	return nil
}

func (c *Conn) pollPins(ctx context.Context) {
	t := time.NewTicker(pinPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := c.loadPins(ctx); err != nil && ctx.Err() == nil {
				c.log.Warn("upstream pins could not be read; changed tools stay withheld", "err", err)
			}
			c.reapIdle(time.Now().Add(-IdleProcess))
		}
	}
}

// ExportedName is the Airlock name of upstream tool name.
func (c *Conn) ExportedName(name string) string { return c.exportedName(name) }

func (c *Conn) exportedName(name string) string {
	if r := c.ruleFor(name); r != nil && r.Alias != "" {
		return r.Alias
	}
	return c.name + "_" + name
}

func (c *Conn) ruleFor(name string) *rule {
	for i := range c.rules {
		if ok, _ := path.Match(c.rules[i].Match, name); ok {
			return &c.rules[i]
		}
	}
	return nil
}

// DefinitionHash is the pinned hash of a tool: its name, description and
// input schema, canonically encoded.
func DefinitionHash(t mcp.Tool) string {
	schema := canonicalSchema(t)
	b, _ := json.Marshal(struct {
		Name        string          `json:"name"`
		Description string          `json:"description"`
		InputSchema json.RawMessage `json:"inputSchema"`
	}{t.Name, t.Description, schema})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// canonicalSchema is the tool's input schema with sorted keys.
func canonicalSchema(t mcp.Tool) json.RawMessage {
	raw := t.RawInputSchema
	if len(raw) == 0 {
		raw, _ = json.Marshal(t.InputSchema)
	}
	var v any
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return json.RawMessage(`null`)
	}
	b, _ := json.Marshal(v)
	return b
}

// observe records the definitions a session's upstream offers: it pins
// them, journals what is new or changed, and for the shared session
// creates the tools. It returns the hash of each tool.
func (c *Conn) observe(ctx context.Context, listed []mcp.Tool, create bool) (map[string]string, error) {
	hashes := map[string]string{}
	for _, t := range listed {
		if !mcpName(t.Name) {
			c.log.Warn("upstream tool left out: its name is not a valid tool name")
			continue
		}
		h := DefinitionHash(t)
		hashes[t.Name] = h
		def, _ := json.Marshal(t)
		p, changed, err := c.pins.ObservePin(ctx, c.name, t.Name, h, string(def), c.cfg.AcceptNew)
		if err != nil {
			return nil, err
		}
		c.mu.Lock()
		c.accepted[t.Name] = p.AcceptedHash
		c.seen[t.Name] = h
		c.defs[t.Name] = t
		tl := c.tools[t.Name]
		if tl == nil && create {
			if r := c.ruleFor(t.Name); r == nil || r.Effect != "deny" {
				tl = &Tool{conn: c, upstream: t.Name, name: c.exportedName(t.Name), rule: r}
				tl.setDefinition(t)
				c.tools[t.Name] = tl
				c.order = append(c.order, t.Name)
			}
		}
		c.mu.Unlock()
		if tl != nil {
			tl.setDefinition(t)
		}
		if changed {
			c.journalPin(ctx, p, t.Name)
		}
	}
	return hashes, nil
}

func (c *Conn) journalPin(ctx context.Context, p *store.Pin, tool string) {
	ev, reason := EventNew, "an upstream tool was seen for the first time"
	switch p.State() {
	case store.PinAccepted:
		if p.AcceptedBy == "accept_new" {
			reason += "; accepted on first use (accept_new)"
		} else {
			ev, reason = EventAccepted, "the upstream offers the accepted definition again"
		}
	case store.PinNew:
		reason += "; withheld until an admin accepts it (airlock upstream pins)"
	case store.PinChanged:
		ev, reason = EventChanged, "the upstream changed the tool's definition; withheld until an admin accepts it (airlock upstream pins)"
	}
	if p.State() != store.PinAccepted {
		c.log.Warn("upstream tool withheld", "upstream_tool", tool, "state", p.State())
	}
	if c.rec == nil {
		return
	}
	detail, _ := json.Marshal(map[string]string{"upstream_tool": tool, "seen_hash": p.SeenHash, "accepted_hash": p.AcceptedHash, "state": p.State()})
	rec := &recorder.Record{CallID: recorder.NewCallID(), Type: TypeUpstream, Event: ev, Actor: "airlock",
		Principal: &identity.Principal{Subject: "airlock"}, Tool: c.ExportedName(tool), Connection: c.name, Reason: reason, Detail: detail}
	if err := c.rec.Event(context.WithoutCancel(ctx), rec); err != nil {
		c.log.Error("journal write failed for an upstream tool event", "upstream_tool", tool, "err", err)
	}
}

// usable reports whether the definition with hash h of tool is accepted.
func (c *Conn) usable(tool, h string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	a := c.accepted[tool]
	return a != "" && a == h
}

func (c *Conn) withheld(tool string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	a := c.accepted[tool]
	return a == "" || a != c.seen[tool]
}

// IdleProcess is how long a per-principal upstream process may stay
// unused before it is stopped (the next call of its principal starts it
// again).
const IdleProcess = 10 * time.Minute

// reapIdle stops per-principal sessions unused since before.
func (c *Conn) reapIdle(before time.Time) {
	if c.cfg.Isolation != config.MCPPerPrincipal {
		return
	}
	var idle []*session
	c.mu.Lock()
	for k, s := range c.sessions {
		if s.inflight.Load() == 0 && s.lastUsed.Load() < before.UnixNano() {
			idle = append(idle, s)
			delete(c.sessions, k)
		}
	}
	c.mu.Unlock()
	for _, s := range idle {
		s.close()
	}
}

// session returns the session of key ("" shared), creating it.
func (c *Conn) session(key string) *session {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.sessions[key]
	if s == nil {
		s = &session{conn: c, key: key, mu: make(chan struct{}, 1)}
		if !c.closed {
			c.sessions[key] = s
		}
	}
	return s
}

// sessionFor is the session a call of the caller in ctx uses, marked busy
// (so it is not stopped as idle) until release runs.
func (c *Conn) sessionFor(ctx context.Context) (s *session, release func()) {
	key := ""
	if c.cfg.Isolation == config.MCPPerPrincipal {
		if p := identity.FromContext(ctx); p != nil {
			key = "principal:" + p.Issuer + "\x00" + p.Subject
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s = c.sessions[key]
	if s == nil {
		s = &session{conn: c, key: key, mu: make(chan struct{}, 1)}
		if !c.closed {
			c.sessions[key] = s
		}
	}
	return s, s.use()
}

// progressToken registers ctx for the upstream's progress notifications.
func (c *Conn) progressToken(ctx context.Context) (string, func()) {
	c.progressMu.Lock()
	defer c.progressMu.Unlock()
	c.nextToken++
	tok := fmt.Sprintf("airlock-%d", c.nextToken)
	c.progress[tok] = ctx
	return tok, func() {
		c.progressMu.Lock()
		delete(c.progress, tok)
		c.progressMu.Unlock()
	}
}

// relayProgress passes an upstream progress notification on to the agent
// whose call asked for it. Its message is the upstream's text: masked
// like every other upstream output is not possible here, so only numbers
// are relayed.
func (c *Conn) relayProgress(n mcp.JSONRPCNotification) {
	f := n.Params.AdditionalFields
	tok := fmt.Sprint(f["progressToken"])
	c.progressMu.Lock()
	ctx := c.progress[tok]
	c.progressMu.Unlock()
	if ctx == nil {
		return
	}
	progress, _ := f["progress"].(float64)
	total, _ := f["total"].(float64)
	tools.ReportProgress(ctx, progress, total, "upstream "+c.name+" is working")
}

// stricter returns the stricter of two access classes.
func stricter(a, b policy.Access) policy.Access {
	ia, ib := slices.Index(policy.AccessClasses, a), slices.Index(policy.AccessClasses, b)
	if ia < 0 || ib < 0 {
		return policy.Admin
	}
	return policy.AccessClasses[max(ia, ib)]
}

func mcpName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for _, r := range s {
		if !(r == '-' || r == '_' || r == '.' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// PinView is a pin as admins see it (airlock upstream pins).
type PinView struct {
	Connection   string `json:"connection"`
	Tool         string `json:"tool"`
	State        string `json:"state"`
	SeenHash     string `json:"seen_hash"`
	AcceptedHash string `json:"accepted_hash,omitempty"`
	AcceptedBy   string `json:"accepted_by,omitempty"`
	Description  string `json:"description"`
	// Hints are the upstream's own annotations: shown, never trusted.
	Hints map[string]any `json:"hints,omitempty"`
}

// ViewPins describes pins for admins, most urgent (changed, new) first.
func ViewPins(ps []*store.Pin) []PinView {
	out := make([]PinView, 0, len(ps))
	for _, p := range ps {
		v := PinView{Connection: p.Connection, Tool: p.Tool, State: p.State(), SeenHash: p.SeenHash, AcceptedHash: p.AcceptedHash, AcceptedBy: p.AcceptedBy}
		var t mcp.Tool
		if json.Unmarshal([]byte(p.SeenDefinition), &t) == nil {
			v.Description = t.Description
			a := t.Annotations
			v.Hints = map[string]any{}
			for k, b := range map[string]*bool{"readOnlyHint": a.ReadOnlyHint, "destructiveHint": a.DestructiveHint, "idempotentHint": a.IdempotentHint, "openWorldHint": a.OpenWorldHint} {
				if b != nil {
					v.Hints[k] = *b
				}
			}
		}
		out = append(out, v)
	}
	rank := map[string]int{store.PinChanged: 0, store.PinNew: 1, store.PinAccepted: 2}
	slices.SortStableFunc(out, func(a, b PinView) int { return cmp.Compare(rank[a.State], rank[b.State]) })
	return out
}

// ErrHashMismatch means the definition an admin reviewed is no longer the
// one the upstream offers: review again.
var ErrHashMismatch = errors.New("the upstream offers another definition of this tool now; list the pins again and review it")

// Accept records an admin's acceptance of the definition of tool with
// hash (the one the admin reviewed, which must still be the one last
// seen) and journals it. Running gateways take it up within a second.
func Accept(ctx context.Context, pins store.PinStore, rec *recorder.Recorder, connection, tool, hash string, admin *identity.Principal, reason string) (*store.Pin, error) {
	p, err := pins.AcceptPin(ctx, connection, tool, hash, admin.Subject)
	if errors.Is(err, store.ErrNotFound) {
		ps, lerr := pins.ListPins(ctx, connection)
		if lerr == nil && slices.ContainsFunc(ps, func(p *store.Pin) bool { return p.Tool == tool }) {
			return nil, ErrHashMismatch
		}
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	if rec != nil {
		detail, _ := json.Marshal(map[string]string{"upstream_tool": tool, "accepted_hash": hash})
		r := &recorder.Record{CallID: recorder.NewCallID(), Type: TypeUpstream, Event: EventAccepted, Actor: admin.Subject,
			Principal: admin, Connection: connection, Tool: tool, Reason: reason, Detail: detail}
		if err := rec.Event(context.WithoutCancel(ctx), r); err != nil {
			return nil, fmt.Errorf("accepted, but the journal could not record it: %w", err)
		}
	}
	return p, nil
}
