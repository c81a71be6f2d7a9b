// Package access holds the agent's access-management tools:
// list_connections (what may I ask for), request_access (a just-in-time
// grant, waiting for a human where policy says) and access_status. They go
// through the same guard pipeline as every other tool.
package access

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/airlockhq/airlock/identity"
	"github.com/airlockhq/airlock/policy"
	"github.com/airlockhq/airlock/policy/jit"
	"github.com/airlockhq/airlock/recorder"
	"github.com/airlockhq/airlock/store"
	"github.com/airlockhq/airlock/tools"
)

// Tool names.
const (
	ListConnections = "list_connections"
	RequestAccess   = "request_access"
	AccessStatus    = "access_status"
)

func init() {
	for _, name := range []string{ListConnections, RequestAccess, AccessStatus} {
		tools.Register(tools.Kind{Name: name, New: func(env *tools.Env) (tools.Tool, error) {
			if env.JIT == nil {
				return nil, errors.New("access tools need the JIT service")
			}
			return &tool{name: name, env: env}, nil
		}})
	}
}

type tool struct {
	name string
	env  *tools.Env
}

var _ tools.Tool = (*tool)(nil)

func schema(props map[string]any, required ...string) json.RawMessage {
	s := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		s["required"] = required
	}
	b, _ := json.Marshal(s)
	return b
}

func (t *tool) Definition() mcp.Tool {
	return t.DefinitionFor(slices.Sorted(maps.Keys(t.env.Config.Connections)))
}

// Requestable reports whether groups may request some access to
// connection: what list_connections shows and request_access's schema
// names; any other connection reads as unknown.
func Requestable(pol *policy.Engine, groups []string, connection string) bool {
	return len(pol.Offers(groups, connection)) > 0
}

// DefinitionFor implements tools.ScopedDefinition: request_access's
// connection enum lists only names.
func (t *tool) DefinitionFor(names []string) mcp.Tool {
	var def mcp.Tool
	if names == nil {
		names = []string{}
	}
	classes := []string{"read", "write", "ddl", "admin"}
	switch t.name {
	case ListConnections:
		def = mcp.NewToolWithRawSchema(ListConnections,
			"List the connections you may request access to, with the access classes available and how each is granted (automatically, or after a human approves), plus your active grants and pending requests.",
			schema(map[string]any{}))
		def.Annotations = annotations("List connections", true)
	case RequestAccess:
		def = mcp.NewToolWithRawSchema(RequestAccess,
			"Request a just-in-time grant: access of one class to one connection for a limited time. Every other tool call needs an active grant covering its connection and access class. Where policy requires a human, the request waits a while for approval and otherwise returns status pending with a request id to check later with access_status.",
			schema(map[string]any{
				"connection": map[string]any{"type": "string", "enum": names, "description": "Connection name (see list_connections)."},
				"access":     map[string]any{"type": "string", "enum": classes, "description": "Access class: read, write, ddl or admin. Ask for the least you need."},
				"duration":   map[string]any{"type": "string", "description": "How long, e.g. \"15m\" or \"1h\" (capped by policy). Default 15m."},
				"reason":     map[string]any{"type": "string", "maxLength": 500, "description": "Why you need it, for the audit journal and approvers."},
			}, "connection", "access", "reason"))
		def.Annotations = annotations("Request access", false)
	default:
		def = mcp.NewToolWithRawSchema(AccessStatus,
			"Check a grant request or call approval by id; optionally wait a bounded time for a decision.",
			schema(map[string]any{
				"request_id":   map[string]any{"type": "string", "description": "The id request_access or a held call returned."},
				"wait_seconds": map[string]any{"type": "integer", "minimum": 0, "maximum": 600, "description": "Wait up to this long (bounded by policy) while the request is pending."},
			}, "request_id"))
		def.Annotations = annotations("Access status", true)
	}
	return def
}

func annotations(title string, readOnly bool) mcp.ToolAnnotation {
	return mcp.ToolAnnotation{Title: title, ReadOnlyHint: mcp.ToBoolPtr(readOnly), DestructiveHint: mcp.ToBoolPtr(false),
		IdempotentHint: mcp.ToBoolPtr(readOnly), OpenWorldHint: mcp.ToBoolPtr(false)}
}

type requestArgs struct {
	connection string
	access     policy.Access
	duration   time.Duration
	reason     string
}

type statusArgs struct {
	id   string
	wait time.Duration
}

func (t *tool) Parse(args map[string]any) (*tools.Call, error) {
	allowed := map[string][]string{
		ListConnections: {},
		RequestAccess:   {"connection", "access", "duration", "reason"},
		AccessStatus:    {"request_id", "wait_seconds"},
	}[t.name]
	for k := range args {
		if !slices.Contains(allowed, k) {
			return nil, fmt.Errorf("unknown argument %q (%s takes %s)", k, t.name, strings.Join(allowed, ", "))
		}
	}
	c := &tools.Call{Action: tools.Action{Access: policy.Read, Meta: true, Command: t.name}}
	switch t.name {
	case RequestAccess:
		var ra requestArgs
		ra.connection, _ = args["connection"].(string)
		// Whether it exists is not said here: Execute answers an unknown
		// connection and one the caller may not request alike.
		a, _ := args["access"].(string)
		acc, err := policy.ParseAccess(a)
		if err != nil {
			return nil, err
		}
		ra.access = acc
		if d, ok := args["duration"]; ok && d != nil {
			ra.duration, err = parseDuration(d)
			if err != nil {
				return nil, err
			}
		}
		ra.reason, _ = args["reason"].(string)
		if strings.TrimSpace(ra.reason) == "" {
			return nil, errors.New("reason is required: say briefly why you need this access")
		}
		c.Connection, c.Access, c.Args = ra.connection, acc, &ra
	case AccessStatus:
		var sa statusArgs
		sa.id, _ = args["request_id"].(string)
		if sa.id == "" {
			return nil, errors.New("request_id is required")
		}
		if w, ok := args["wait_seconds"].(float64); ok {
			if w < 0 || w > 600 {
				return nil, errors.New("wait_seconds must be between 0 and 600")
			}
			sa.wait = time.Duration(w) * time.Second
		}
		c.Args = &sa
	}
	return c, nil
}

func parseDuration(v any) (time.Duration, error) {
	switch x := v.(type) {
	case float64:
		if x <= 0 || x > 30*24*3600 {
			return 0, errors.New("duration must be a positive number of seconds")
		}
		return time.Duration(x) * time.Second, nil
	case string:
		if n, err := strconv.Atoi(x); err == nil {
			return parseDuration(float64(n))
		}
		d, err := time.ParseDuration(x)
		if err != nil || d <= 0 {
			return 0, fmt.Errorf("duration %q: use a Go duration such as 15m or 1h", x)
		}
		return d, nil
	}
	return 0, errors.New("duration must be a string such as \"15m\"")
}

func (t *tool) Execute(ctx context.Context, c *tools.Call) (*tools.Result, error) {
	p := identity.FromContext(ctx)
	if p == nil {
		return nil, errors.New("no principal")
	}
	svc := t.env.JIT
	switch t.name {
	case ListConnections:
		return t.list(ctx, p)
	case RequestAccess:
		ra := c.Args.(*requestArgs)
		if t.env.Config.Connections[ra.connection] == nil || !Requestable(t.env.Policy, p.Groups, ra.connection) {
			return nil, tools.Refuse(recorder.OutcomeDenied, "%s", tools.UnknownConnection(ra.connection).Error())
		}
		// The reason is agent text that approvers, the webhook and the
		// journal's grant records show: mask it like everything else.
		reason := ra.reason
		if t.env.Masker != nil {
			reason = t.env.Masker.MaskString(reason)
		}
		r, err := svc.RequestGrant(ctx, p, ra.connection, ra.access, ra.duration, reason)
		if err != nil {
			return nil, agentErr(err)
		}
		if r.Status == store.StatusPending {
			if r, err = svc.Wait(ctx, r.ID, t.env.Config.Approvals.Wait, tools.ProgressReporter(ctx, "waiting for an approver")); err != nil {
				return nil, err
			}
		}
		return view(r), nil
	default:
		sa := c.Args.(*statusArgs)
		r, err := svc.Get(ctx, p, sa.id)
		if err != nil {
			return nil, agentErr(err)
		}
		if r.Status == store.StatusPending && sa.wait > 0 {
			wait := min(sa.wait, t.env.Config.Approvals.Wait)
			if r, err = svc.Wait(ctx, r.ID, wait, tools.ProgressReporter(ctx, "waiting for an approver")); err != nil {
				return nil, err
			}
		}
		return view(r), nil
	}
}

func agentErr(err error) error {
	var je *jit.Error
	if errors.As(err, &je) {
		return tools.Refuse(recorder.OutcomeDenied, "%s", je.Msg)
	}
	return err
}

// requestView is how an agent sees a grant or request.
type requestView struct {
	RequestID  string   `json:"request_id"`
	Kind       string   `json:"kind"`
	Status     string   `json:"status"`
	Connection string   `json:"connection"`
	Access     string   `json:"access"`
	Tool       string   `json:"tool,omitempty"`
	ExpiresAt  string   `json:"expires_at,omitempty"`
	DecideBy   string   `json:"decide_by,omitempty"`
	Approvers  []string `json:"approvers,omitempty"`
	Approvals  int      `json:"approvals,omitempty"`
	Needed     int      `json:"approvals_needed,omitempty"`
	Note       string   `json:"note,omitempty"`
	Next       string   `json:"next"`
}

func view(r *store.Request) *tools.Result {
	v := requestView{RequestID: r.ID, Kind: r.Kind, Status: r.Status, Connection: r.Connection, Access: r.Access,
		Tool: r.Tool, Approvers: r.Approvers, Note: r.Note}
	if !r.ExpiresAt.IsZero() {
		v.ExpiresAt = r.ExpiresAt.Format(time.RFC3339)
	}
	switch r.Status {
	case store.StatusActive:
		v.Next = fmt.Sprintf("You may now make %s calls on %s until %s.", r.Access, r.Connection, v.ExpiresAt)
	case store.StatusApproved:
		v.Next = "Approved: send exactly the same call again; it runs once."
	case store.StatusPending:
		v.DecideBy = r.DecideBy.Format(time.RFC3339)
		for _, vote := range r.Votes {
			if vote.Approve {
				v.Approvals++
			}
		}
		v.Needed = r.MinApprovals
		v.Next = fmt.Sprintf("Waiting for a human approver (%s). Check later with access_status {\"request_id\": %q, \"wait_seconds\": 30}.",
			strings.Join(r.Approvers, ", "), r.ID)
	case store.StatusUsed:
		v.Next = "This approval was used; a new call needs a new approval."
	default:
		v.Next = "This request is closed; make a new request if you still need access."
	}
	b, _ := json.Marshal(v)
	return &tools.Result{Structured: v, Text: string(b), Rows: 1}
}

// connectionView is what list_connections shows: never a DSN, host, user
// or other connection detail.
type connectionView struct {
	Name        string        `json:"name"`
	Kind        string        `json:"kind"`
	Description string        `json:"description,omitempty"`
	Access      []offerView   `json:"access"`
	Grants      []requestView `json:"active_grants,omitempty"`
	Pending     []requestView `json:"pending_requests,omitempty"`
}

type offerView struct {
	Class           string   `json:"class"`
	Grant           string   `json:"grant"` // auto or approval
	MaxDuration     string   `json:"max_duration"`
	Approvers       []string `json:"approvers,omitempty"`
	PerCallApproval bool     `json:"per_call_approval,omitempty"`
}

func (t *tool) list(ctx context.Context, p *identity.Principal) (*tools.Result, error) {
	cfg := t.env.Config
	mine, err := t.env.JIT.List(ctx, p, store.RequestFilter{Subject: p.Subject,
		Statuses: []string{store.StatusActive, store.StatusPending, store.StatusApproved}})
	if err != nil {
		return nil, err
	}
	out := []connectionView{}
	for _, name := range slices.Sorted(maps.Keys(cfg.Connections)) {
		offers := t.env.Policy.Offers(p.Groups, name)
		if len(offers) == 0 {
			continue
		}
		c := cfg.Connections[name]
		cv := connectionView{Name: name, Kind: c.Kind, Description: c.Description}
		for _, o := range offers {
			ov := offerView{Class: string(o.Access), Grant: string(o.Grant.Mode), MaxDuration: o.Grant.MaxDuration.String(),
				PerCallApproval: o.Effect == policy.Approve}
			if o.Grant.Mode == policy.GrantApproval || ov.PerCallApproval {
				ov.Approvers = o.Grant.Approvers
			}
			cv.Access = append(cv.Access, ov)
		}
		for _, r := range mine {
			if r.Connection != name {
				continue
			}
			v := view(r).Structured.(requestView)
			if r.Status == store.StatusActive {
				cv.Grants = append(cv.Grants, v)
			} else {
				cv.Pending = append(cv.Pending, v)
			}
		}
		out = append(out, cv)
	}
	b, _ := json.Marshal(out)
	return &tools.Result{Structured: map[string]any{"connections": out}, Text: string(b), Rows: len(out)}, nil
}
