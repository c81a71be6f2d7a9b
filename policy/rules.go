package policy

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"time"
)

// Effect is what a matching rule does with a call.
type Effect string

// Effects. Deny wins over everything; approve (each call needs a human)
// yields to allow; no matching rule means deny.
const (
	Allow   Effect = "allow"
	Approve Effect = "approve"
	Deny    Effect = "deny"
)

// GrantMode says how a just-in-time grant is obtained.
type GrantMode string

// Grant modes.
const (
	GrantAuto     GrantMode = "auto"     // self-service: active at once
	GrantApproval GrantMode = "approval" // a human in Approvers decides
	GrantDeny     GrantMode = "deny"     // not requestable
)

// Grant defaults.
const (
	DefaultMaxGrantDuration = time.Hour
	DefaultGrantDuration    = 15 * time.Minute
)

// GrantSpec says how grants covered by a rule are given.
type GrantSpec struct {
	Mode GrantMode `yaml:"mode"`
	// MaxDuration caps a grant's lifetime.
	MaxDuration time.Duration `yaml:"max_duration"`
	// Approvers are the groups whose members decide grant requests (mode
	// approval) and per-call approvals (effect approve).
	Approvers []string `yaml:"approvers"`
	// MinApprovals distinct approvers must approve; default 1.
	MinApprovals int `yaml:"min_approvals"`
}

// Rule says which groups may obtain which access classes on which
// connections, and how.
type Rule struct {
	Name string `yaml:"name"`
	// Groups the rule applies to; "*" means any authenticated caller.
	Groups []string `yaml:"groups"`
	// Connections by name; glob patterns (path.Match) are allowed.
	Connections []string  `yaml:"connections"`
	Access      []Access  `yaml:"access"`
	Effect      Effect    `yaml:"effect"`
	Grant       GrantSpec `yaml:"grant"`
	// Tools, when set, limits the rule to calls of these tools (e.g. only
	// the declared get_customer_orders, not free-form query_db).
	Tools []string `yaml:"tools"`
}

// SetDefaults fills the grant spec's defaults.
func (r *Rule) SetDefaults() {
	if r.Grant.Mode == "" {
		r.Grant.Mode = GrantAuto
	}
	if r.Grant.MaxDuration == 0 {
		r.Grant.MaxDuration = DefaultMaxGrantDuration
	}
	if r.Grant.MinApprovals == 0 {
		r.Grant.MinApprovals = 1
	}
}

// Validate checks one rule (after SetDefaults).
func (r *Rule) Validate() error {
	if len(r.Groups) == 0 {
		return errors.New("groups: at least one group (or \"*\") is required")
	}
	if len(r.Connections) == 0 {
		return errors.New("connections: at least one connection (or \"*\") is required")
	}
	for _, c := range r.Connections {
		if _, err := path.Match(c, ""); err != nil {
			return fmt.Errorf("connections: bad pattern %q", c)
		}
	}
	if len(r.Access) == 0 {
		return errors.New("access: at least one of read, write, ddl, admin is required")
	}
	for _, a := range r.Access {
		if _, err := ParseAccess(string(a)); err != nil {
			return fmt.Errorf("access: %w", err)
		}
	}
	switch r.Effect {
	case Allow, Approve, Deny:
	case "":
		return errors.New("effect: required (allow, approve or deny)")
	default:
		return fmt.Errorf("effect: unknown effect %q (want allow, approve or deny)", r.Effect)
	}
	g := &r.Grant
	switch g.Mode {
	case GrantAuto, GrantApproval, GrantDeny:
	default:
		return fmt.Errorf("grant.mode: unknown mode %q (want auto, approval or deny)", g.Mode)
	}
	if g.MaxDuration < time.Second {
		return errors.New("grant.max_duration: must be at least 1s")
	}
	if g.MinApprovals < 1 {
		return errors.New("grant.min_approvals: must be at least 1")
	}
	needApprovers := g.Mode == GrantApproval || r.Effect == Approve
	if needApprovers && len(g.Approvers) == 0 {
		return errors.New("grant.approvers: required when grant.mode is approval or effect is approve")
	}
	if slices.Contains(g.Approvers, "*") {
		return errors.New("grant.approvers: \"*\" is not allowed; name the approver groups")
	}
	return nil
}

func (r *Rule) label(i int) string {
	if r.Name != "" {
		return r.Name
	}
	return fmt.Sprintf("rules[%d]", i)
}

// covers reports whether the rule speaks about access on connection.
func (r *Rule) covers(connection string, access Access) bool {
	return slices.Contains(r.Access, access) && slices.ContainsFunc(r.Connections, func(p string) bool {
		ok, _ := path.Match(p, connection)
		return ok
	})
}

func (r *Rule) appliesTo(groups []string) bool {
	return slices.Contains(r.Groups, "*") || slices.ContainsFunc(r.Groups, func(g string) bool {
		return slices.Contains(groups, g)
	})
}

// forTool reports whether the rule applies to calls of tool; "" (a grant
// request, which is not about one tool) matches every rule.
func (r *Rule) forTool(tool string) bool {
	return tool == "" || len(r.Tools) == 0 || slices.Contains(r.Tools, tool)
}

func (r *Rule) matches(groups []string, tool, connection string, access Access) bool {
	return r.covers(connection, access) && r.appliesTo(groups) && r.forTool(tool)
}

// Request is what a decision is about.
type Request struct {
	Subject string
	Groups  []string
	// Tool is the tool being called; empty for a grant request.
	Tool       string
	Connection string
	Access     Access
}

// Decision is the outcome of Decide.
type Decision struct {
	Effect Effect `json:"effect"`
	Rule   string `json:"rule,omitempty"`
	Reason string `json:"reason"`
	// Grant is how the matching rule gives grants (allow and approve).
	Grant GrantSpec `json:"-"`
}

// Engine evaluates access rules. It is immutable and safe for concurrent use.
type Engine struct{ rules []Rule }

// NewEngine returns an engine over rules, which must be valid.
func NewEngine(rules []Rule) *Engine {
	e := &Engine{rules: slices.Clone(rules)}
	for i := range e.rules {
		e.rules[i].SetDefaults()
	}
	return e
}

// Decide applies the rules to r: a matching deny rule refuses; else a
// matching allow rule permits; else a matching approve rule permits each
// call only with a human's approval; else the call is refused. Among
// several matching rules of the winning effect, the one with the most
// generous grant spec is chosen (see better).
func (e *Engine) Decide(r Request) Decision {
	best := map[Effect]int{}
	for i := range e.rules {
		rule := &e.rules[i]
		if !rule.matches(r.Groups, r.Tool, r.Connection, r.Access) {
			continue
		}
		if rule.Effect == Deny {
			return Decision{Effect: Deny, Rule: rule.label(i),
				Reason: fmt.Sprintf("%s access to %s is denied by rule %s", r.Access, r.Connection, rule.label(i))}
		}
		if j, ok := best[rule.Effect]; !ok || better(rule.Grant, e.rules[j].Grant) {
			best[rule.Effect] = i
		}
	}
	for _, eff := range []Effect{Allow, Approve} {
		if i, ok := best[eff]; ok {
			rule := &e.rules[i]
			reason := fmt.Sprintf("%s access to %s is allowed by rule %s", r.Access, r.Connection, rule.label(i))
			if eff == Approve {
				reason = fmt.Sprintf("%s access to %s needs a human approval for each call (rule %s)", r.Access, r.Connection, rule.label(i))
			}
			return Decision{Effect: eff, Rule: rule.label(i), Reason: reason, Grant: rule.Grant}
		}
	}
	return Decision{Effect: Deny,
		Reason: fmt.Sprintf("no rule gives your groups %s access to %s", r.Access, r.Connection)}
}

// better reports whether grant spec a is more generous to the requester
// than b: auto beats approval beats deny, then the longer maximum.
func better(a, b GrantSpec) bool {
	rank := map[GrantMode]int{GrantAuto: 2, GrantApproval: 1, GrantDeny: 0}
	if rank[a.Mode] != rank[b.Mode] {
		return rank[a.Mode] > rank[b.Mode]
	}
	return a.MaxDuration > b.MaxDuration
}

// Offer is one access class a principal may request on a connection.
type Offer struct {
	Access Access
	Effect Effect // allow, or approve when every call also needs approval
	Rule   string
	Grant  GrantSpec
}

// Offers lists what groups may request on connection, by access class.
func (e *Engine) Offers(groups []string, connection string) []Offer {
	var out []Offer
	for _, a := range AccessClasses {
		d := e.Decide(Request{Groups: groups, Connection: connection, Access: a})
		if d.Effect == Deny || d.Grant.Mode == GrantDeny {
			continue
		}
		out = append(out, Offer{Access: a, Effect: d.Effect, Rule: d.Rule, Grant: d.Grant})
	}
	return out
}

// Visible reports whether a principal in groups could use tool on any of
// connections under some rule: tools/list shows only such tools.
func (e *Engine) Visible(groups []string, tool string, connections []string) bool {
	for i := range e.rules {
		r := &e.rules[i]
		if r.Effect == Deny || r.Grant.Mode == GrantDeny || !r.appliesTo(groups) || !r.forTool(tool) {
			continue
		}
		for _, c := range connections {
			for _, a := range r.Access {
				if r.covers(c, a) && e.Decide(Request{Groups: groups, Tool: tool, Connection: c, Access: a}).Effect != Deny {
					return true
				}
			}
		}
	}
	return false
}

// MaxAccess returns the most powerful access class any allow or approve
// rule gives anyone on connection, or "" when none. It sets tool
// annotations.
func (e *Engine) MaxAccess(connection string) Access {
	for i := len(AccessClasses) - 1; i >= 0; i-- {
		for j := range e.rules {
			if r := &e.rules[j]; r.Effect != Deny && r.covers(connection, AccessClasses[i]) {
				return AccessClasses[i]
			}
		}
	}
	return ""
}

// Covers reports whether a grant of class granted covers a call of class
// needed: a grant covers its own class and every lesser one.
func Covers(granted, needed Access) bool {
	return slices.Index(AccessClasses, granted) >= slices.Index(AccessClasses, needed) &&
		slices.Index(AccessClasses, needed) >= 0
}
