// Package identity establishes who is calling: OIDC bearer-token
// verification (coreos/go-oidc/v3) and a built-in development issuer that
// serves discovery and JWKS so tests exercise the production path.
package identity

import (
	"context"
	"encoding/json"
	"slices"
	"time"
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
	// Expiry is when the credential stops being valid (the token's exp);
	// zero for a configured local principal, which does not expire.
	Expiry time.Time `json:"-"`
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

// Resolver re-establishes the caller, for transports whose context outlives
// a credential (stdio resolves its context once per process).
type Resolver func(ctx context.Context) (*Principal, error)

type resolverKey struct{}

// NewResolverContext returns a copy of ctx in which Current re-resolves the
// caller with r on every call.
func NewResolverContext(ctx context.Context, r Resolver) context.Context {
	return context.WithValue(ctx, resolverKey{}, r)
}

// Current returns the caller of a call starting now: re-resolved when the
// transport put a Resolver in ctx, else the principal in ctx, and refused
// once its credential has expired. On a refusal it still returns whom the
// credential last named (nil if no one), so the refusal can be journaled
// under that principal; such a principal must not be trusted for anything
// else.
func Current(ctx context.Context) (*Principal, error) {
	p := FromContext(ctx)
	if r, ok := ctx.Value(resolverKey{}).(Resolver); ok && r != nil {
		np, err := r(ctx)
		if err != nil {
			return p, err
		}
		p = np
	}
	if p == nil {
		return nil, authErr("missing token", nil)
	}
	if !p.Expiry.IsZero() && !time.Now().Before(p.Expiry) {
		return p, authErr("token expired", nil)
	}
	return p, nil
}
