package policy

import (
	"errors"
	"fmt"
	"path"
	"slices"
)

// Effect is what a matching rule does with a call.
type Effect string

// Effects. Deny wins over allow; no matching rule means deny.
const (
	Allow Effect = "allow"
	Deny  Effect = "deny"
)

// Rule grants or refuses access classes on connections to groups.
type Rule struct {
	Name string `yaml:"name"`
	// Groups the rule applies to; "*" means any authenticated caller.
	Groups []string `yaml:"groups"`
	// Connections by name; glob patterns (path.Match) are allowed.
	Connections []string `yaml:"connections"`
	Access      []Access `yaml:"access"`
	Effect      Effect   `yaml:"effect"`
}

// Validate checks one rule.
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
	case Allow, Deny:
	case "":
		return errors.New("effect: required (allow or deny)")
	default:
		return fmt.Errorf("effect: unknown effect %q (want allow or deny)", r.Effect)
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

func (r *Rule) matches(groups []string, connection string, access Access) bool {
	if !r.covers(connection, access) {
		return false
	}
	return slices.Contains(r.Groups, "*") || slices.ContainsFunc(r.Groups, func(g string) bool {
		return slices.Contains(groups, g)
	})
}

// Request is what a decision is about.
type Request struct {
	Subject    string
	Groups     []string
	Connection string
	Access     Access
}

// Decision is the outcome of Decide.
type Decision struct {
	Effect Effect `json:"effect"`
	Rule   string `json:"rule,omitempty"`
	Reason string `json:"reason"`
}

// Engine evaluates access rules. It is immutable and safe for concurrent use.
type Engine struct{ rules []Rule }

// NewEngine returns an engine over rules, which must be valid.
func NewEngine(rules []Rule) *Engine { return &Engine{rules: slices.Clone(rules)} }

// Decide applies the rules to r: any matching deny rule refuses, else a
// matching allow rule permits, else the call is refused (deny by default).
func (e *Engine) Decide(r Request) Decision {
	allow := -1
	for i := range e.rules {
		rule := &e.rules[i]
		if !rule.matches(r.Groups, r.Connection, r.Access) {
			continue
		}
		if rule.Effect == Deny {
			return Decision{Effect: Deny, Rule: rule.label(i),
				Reason: fmt.Sprintf("%s access to %s is denied by rule %s", r.Access, r.Connection, rule.label(i))}
		}
		if allow < 0 {
			allow = i
		}
	}
	if allow >= 0 {
		return Decision{Effect: Allow, Rule: e.rules[allow].label(allow),
			Reason: fmt.Sprintf("%s access to %s is allowed by rule %s", r.Access, r.Connection, e.rules[allow].label(allow))}
	}
	return Decision{Effect: Deny,
		Reason: fmt.Sprintf("no rule gives your groups %s access to %s", r.Access, r.Connection)}
}

// MaxAccess returns the most powerful access class any allow rule gives
// anyone on connection, or "" when none. It sets tool annotations.
func (e *Engine) MaxAccess(connection string) Access {
	for i := len(AccessClasses) - 1; i >= 0; i-- {
		for j := range e.rules {
			if r := &e.rules[j]; r.Effect == Allow && r.covers(connection, AccessClasses[i]) {
				return AccessClasses[i]
			}
		}
	}
	return ""
}
