// Package identity establishes who is calling: OIDC bearer-token
// verification (coreos/go-oidc/v3) and a built-in development issuer that
// serves discovery and JWKS so tests exercise the production path.
package identity

import (
	"context"
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
