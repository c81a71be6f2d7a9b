// Package tools holds the Tool contract, the registry of tool kinds and the
// guard pipeline every tool call goes through: identify, journal, classify,
// decide, approve, execute, mask, cap, journal.
//
// A kind implements only what is specific to it — parse arguments into an
// Action without I/O, and execute it — and registers itself from its own
// package's init function.
package tools

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/airlockhq/airlock/config"
	"github.com/airlockhq/airlock/masking"
	"github.com/airlockhq/airlock/policy"
	"github.com/airlockhq/airlock/policy/jit"
	"github.com/airlockhq/airlock/recorder"
	"github.com/airlockhq/airlock/store"
)

// Action is what a call does, as far as policy is concerned.
type Action struct {
	Connection string
	Access     policy.Access
	// Command is the kind of operation, e.g. "SELECT" or "DELETE".
	Command string
	// Resources touched: tables, argv, method and path.
	Resources []string
	// Meta marks calls that manage access itself (list_connections,
	// request_access, access_status): they need no grant, only a rule
	// that lets the caller use the connection at all.
	Meta bool
	// NeedsApproval asks for a human approval of this exact call even
	// where policy allows it (an HTTP route with effect approve).
	NeedsApproval bool
}

// Call is a parsed call: its Action plus kind-specific parsed arguments.
type Call struct {
	Action
	Args any
	// Shaping is how the pipeline will mask and cap this call's result,
	// set by its execute stage (zero outside the pipeline).
	Shaping Shaping `json:"-"`
}

// Result is what a tool returns, before masking and capping.
type Result struct {
	// Structured is the structuredContent, JSON-encodable.
	Structured any
	// Text is a compact rendering for clients that only read text.
	Text string
	// Table, when set, is the result as rows and columns; the pipeline
	// masks it by column, caps it by rows and renders Structured and Text.
	Table     *Table
	Rows      int
	Truncated bool
	// Note says what the tool itself left out and why (a row or size
	// bound); TokenNote what the token cap left out.
	Note      string
	TokenNote string
	// Masked says the tool masked Structured and Text itself, with the
	// pipeline's masker (Call.Shaping), counting into MaskCounts: a
	// body too large to hold unmasked is masked as it is read. The
	// pipeline does not mask such a result again (masking masked text
	// would count it twice and could rewrite a mask); it still caps it.
	Masked     bool
	MaskCounts masking.Counts
	// Media are images or audio passed to the agent as they came, where
	// a connection allows it: masking cannot read them, and the journal
	// holds only what Structured says of them.
	Media []mcp.Content
}

// Tool is one MCP tool served by a kind.
type Tool interface {
	// Definition is the MCP tool: name, description, schema, annotations.
	Definition() mcp.Tool
	// Parse validates the arguments and classifies the call. It does no I/O.
	// Errors are shown to the agent.
	Parse(args map[string]any) (*Call, error)
	// Execute runs a call that policy allowed.
	Execute(ctx context.Context, c *Call) (*Result, error)
}

// ScopedDefinition is implemented by tools whose definition names
// connections (an enum in the schema, a list in the description):
// DefinitionFor describes only names, a subset of the tool's connections
// in their order, so that tools/list never shows a principal a connection
// no rule could grant it.
type ScopedDefinition interface {
	DefinitionFor(names []string) mcp.Tool
}

// ConnectionChecker is implemented by tools that can test their
// connections (airlock check).
type ConnectionChecker interface {
	CheckConnection(ctx context.Context, name string) error
}

// Env is what a kind may use to build its tools.
type Env struct {
	Config *config.Config
	Policy *policy.Engine
	JIT    *jit.Service
	// Masker masks agent text a kind stores outside the journal (a grant
	// request's reason); nil means no masking is configured.
	Masker *masking.Engine
	Logger *slog.Logger
	// Pins and Journal serve kinds that watch definitions they do not
	// own (tools/upstream): pins of upstream tools, and journal events
	// when one changes.
	Pins    store.PinStore
	Journal *recorder.Recorder
}

// Kind is a registered kind of tool.
type Kind struct {
	Name string
	// ConnectionKinds are the connection kinds (config) it serves.
	ConnectionKinds []string
	// New builds the kind's tool, or returns nil when config gives it
	// nothing to serve.
	New func(env *Env) (Tool, error)
	// NewSet, instead of New, builds a set of tools known only at start
	// (an upstream MCP server's); nil when config gives it nothing.
	NewSet func(env *Env) (ToolSet, error)
}

var (
	registryMu sync.Mutex
	registry   = map[string]Kind{}
)

// Register adds a kind. It panics on a duplicate or incomplete kind: both
// are programming errors found at start-up.
func Register(k Kind) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if k.Name == "" || (k.New == nil) == (k.NewSet == nil) {
		panic("tools: Register of a kind without a name or constructor")
	}
	if _, dup := registry[k.Name]; dup {
		panic(fmt.Sprintf("tools: kind %q registered twice", k.Name))
	}
	registry[k.Name] = k
}

// Kinds returns the registered kinds sorted by name.
func Kinds() []Kind {
	registryMu.Lock()
	defer registryMu.Unlock()
	out := make([]Kind, 0, len(registry))
	for _, k := range registry {
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b Kind) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// KindForConnection returns the kind that serves connections of kind ck.
func KindForConnection(ck string) (Kind, bool) {
	for _, k := range Kinds() {
		if slices.Contains(k.ConnectionKinds, ck) {
			return k, true
		}
	}
	return Kind{}, false
}
