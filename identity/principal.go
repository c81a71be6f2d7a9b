// Package identity establishes who is calling: OIDC bearer-token
// verification (coreos/go-oidc/v3) and a built-in development issuer that
// serves discovery and JWKS so tests exercise the production path.
package identity

import (
	"context"
	"encoding/json"
	"slices"
)

// Principal is a verified caller.
type Principal struct {
	Subject string   `json:"subject"`
	Groups  []string `json:"groups,omitempty"`
	// Agent names the client software acting for the subject (the token's
	// azp or client_id claim), when the token says.
	Agent  string `json:"agent,omitempty"`
	Issuer string `json:"issuer"`
	// Claims are the token's claims, for parameters bound from them. They
	// are kept out of the journal: a token may carry personal data.
	Claims map[string]json.RawMessage `json:"-"`
}

// Claim returns the named claim: "sub" is the subject, "groups" the
// groups; anything else is read from the token's claims.
func (p *Principal) Claim(name string) (any, bool) {
	switch name {
	case "sub":
		return p.Subject, true
	case "groups":
		return p.Groups, true
	}
	raw, ok := p.Claims[name]
	if !ok {
		return nil, false
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil || v == nil {
		return nil, false
	}
	return v, true
}

// InGroup reports whether p is a member of group g.
func (p *Principal) InGroup(g string) bool { return slices.Contains(p.Groups, g) }

type principalKey struct{}

// NewContext returns a copy of ctx carrying p.
func NewContext(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the principal in ctx, or nil.
func FromContext(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}
