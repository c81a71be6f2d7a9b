package identity

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// maxTokenBytes bounds the bearer token size Verify will parse, so an
// oversized header cannot buy unbounded base64/JSON work. Real tokens,
// even group-heavy ones, are a few KiB.
const maxTokenBytes = 64 << 10

// defaultHTTPTimeout applies when no client is supplied. go-oidc fetches
// keys in a background request shared by all waiters; with a timeout-less
// client a hung JWKS endpoint would stall every later key refresh.
const defaultHTTPTimeout = 15 * time.Second

// asymmetricAlgs are the algorithms a VerifierConfig may allow. HMAC and
// "none" are excluded on purpose: with a public key set they only ever
// enable key-confusion forgeries.
var asymmetricAlgs = []string{
	oidc.RS256, oidc.RS384, oidc.RS512,
	oidc.ES256, oidc.ES384, oidc.ES512,
	oidc.PS256, oidc.PS384, oidc.PS512,
	oidc.EdDSA,
}

// VerifierConfig configures a Verifier.
type VerifierConfig struct {
	// Issuer is the issuer URL; it must equal the token's iss exactly.
	Issuer string
	// Audience is required: the token's aud must contain it. There is no
	// way to skip this check, because a token minted for another relying
	// party of the same issuer must not work here.
	Audience string
	// GroupsClaim names the claim holding group membership (default
	// "groups"). Its value may be a JSON array of strings or a single
	// space- or comma-separated string.
	GroupsClaim string
	// JWKSURL, when set, skips discovery and fetches keys from this URL
	// lazily, on first use.
	JWKSURL string
	// HTTPClient is used for discovery and JWKS fetches. When nil, a
	// client already carried by the NewVerifier context (set with
	// oidc.ClientContext) is used, else a default client with a timeout.
	HTTPClient *http.Client
	// Algorithms lists the allowed signing algorithms (default RS256,
	// ES256). Only asymmetric algorithms are accepted.
	Algorithms []string
}

// Verifier checks OIDC bearer tokens and turns them into Principals. It is
// safe for concurrent use.
type Verifier struct {
	v           *oidc.IDTokenVerifier
	groupsClaim string
	issuer      string
	audience    string
	cache       *tokenCache
	// retry, when v is nil, runs discovery in the background until the
	// issuer answers (NewVerifierRetrying); tokens are refused meanwhile.
	retry *discoveryRetry
}

// AuthError reports a rejected credential. Reason is short and never
// contains the token, so it is safe to return to the caller (for example
// as an RFC 6750 error_description); Err keeps the cause for logs.
type AuthError struct {
	Reason string
	// Detail is for operators' logs: what was expected and what the token
	// said (audience, issuer), built from single claims, never the token.
	// It is not for the caller: it names the gateway's configuration.
	Detail string
	Err    error
}

func (e *AuthError) Error() string {
	if e.Err == nil {
		return "identity: " + e.Reason
	}
	return fmt.Sprintf("identity: %s: %v", e.Reason, e.Err)
}

func (e *AuthError) Unwrap() error { return e.Err }

func authErr(reason string, cause error) *AuthError {
	return &AuthError{Reason: reason, Err: cause}
}

// NewVerifier builds a Verifier. With cfg.JWKSURL set it does no I/O;
// otherwise it runs OIDC discovery against cfg.Issuer using ctx.
func NewVerifier(ctx context.Context, cfg VerifierConfig) (*Verifier, error) {
	if cfg.Issuer == "" {
		return nil, errors.New("identity: verifier: issuer is required")
	}
	if cfg.Audience == "" {
		return nil, errors.New("identity: verifier: audience is required")
	}
	algs := cfg.Algorithms
	if len(algs) == 0 {
		algs = []string{oidc.RS256, oidc.ES256}
	}
	for _, a := range algs {
		if !slices.Contains(asymmetricAlgs, a) {
			return nil, fmt.Errorf("identity: verifier: signing algorithm %q not allowed", a)
		}
	}
	groupsClaim := cfg.GroupsClaim
	if groupsClaim == "" {
		groupsClaim = "groups"
	}

	client := cfg.HTTPClient
	if client == nil {
		if c, ok := ctx.Value(oauth2.HTTPClient).(*http.Client); ok && c != nil {
			client = c
		} else {
			client = &http.Client{Timeout: defaultHTTPTimeout}
		}
	}
	// go-oidc takes its HTTP client from the context and keeps it for
	// later key fetches.
	ctx = oidc.ClientContext(ctx, client)

	var provider *oidc.Provider
	if cfg.JWKSURL != "" {
		u, err := url.Parse(cfg.JWKSURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, fmt.Errorf("identity: verifier: invalid JWKS URL %q", cfg.JWKSURL)
		}
		provider = (&oidc.ProviderConfig{
			IssuerURL:  cfg.Issuer,
			JWKSURL:    cfg.JWKSURL,
			Algorithms: algs,
		}).NewProvider(ctx)
	} else {
		p, err := oidc.NewProvider(ctx, cfg.Issuer)
		if err != nil {
			return nil, &DiscoveryError{Issuer: cfg.Issuer, Err: err}
		}
		provider = p
	}

	// SupportedSigningAlgs is set explicitly so a discovery document can
	// never widen the accepted algorithms.
	oc := &oidc.Config{
		ClientID:             cfg.Audience,
		SupportedSigningAlgs: slices.Clone(algs),
	}
	return &Verifier{
		v:           provider.VerifierContext(ctx, oc),
		groupsClaim: groupsClaim,
		issuer:      cfg.Issuer,
		audience:    cfg.Audience,
		cache:       newTokenCache(maxCachedTokens),
	}, nil
}

// Verify checks rawToken's signature, issuer, audience and expiry (go-oidc
// rules: exp required and in the future, nbf with 5 minutes leeway) and
// returns the caller. Every failure is an *AuthError. A token verified
// before is answered from a cache until its exp (see tokencache.go); the
// caller gets its own copy of the principal.
func (v *Verifier) Verify(ctx context.Context, rawToken string) (*Principal, error) {
	if rawToken == "" {
		return nil, authErr("missing token", nil)
	}
	if len(rawToken) > maxTokenBytes {
		return nil, authErr("token too large", nil)
	}
	key := sha256.Sum256([]byte(rawToken))
	if p := v.cache.get(key); p != nil {
		return p, nil
	}
	p, err := v.verify(ctx, rawToken)
	if err != nil {
		return nil, err
	}
	v.cache.put(key, p)
	return p, nil
}

// verify is Verify without the cache.
func (v *Verifier) verify(ctx context.Context, rawToken string) (*Principal, error) {
	iv := v.v
	if iv == nil {
		var err error
		if iv, err = v.retry.verifier(); err != nil {
			// Fail closed: no token is accepted before the issuer's keys
			// are known.
			return nil, authErr("identity provider not reachable yet", err)
		}
	}
	tok, err := iv.Verify(ctx, rawToken)
	if err != nil {
		var exp *oidc.TokenExpiredError
		switch {
		case errors.As(err, &exp) && exp.Expiry.IsZero():
			// go-oidc reads an absent exp as the zero time.
			return nil, authErr("token has no exp claim", err)
		case errors.As(err, &exp):
			return nil, authErr("token expired", err)
		case strings.HasPrefix(err.Error(), "oidc: expected audience"):
			ae := authErr("token audience is not this gateway", err)
			ae.Detail = fmt.Sprintf("expected audience %q, token has aud %s", v.audience, unverifiedClaim(rawToken, "aud"))
			return nil, ae
		case strings.HasPrefix(err.Error(), "oidc: id token issued by a different provider"):
			ae := authErr("token issuer is not trusted here", err)
			ae.Detail = fmt.Sprintf("expected issuer %q, token has iss %s", v.issuer, unverifiedClaim(rawToken, "iss"))
			return nil, ae
		}
		return nil, authErr("invalid token", err)
	}

	var payload json.RawMessage
	if err := tok.Claims(&payload); err != nil {
		return nil, authErr("invalid token claims", err)
	}
	if err := checkClaims(payload); err != nil {
		return nil, authErr("invalid token claims", err)
	}
	var claims map[string]json.RawMessage
	if err := json.Unmarshal(payload, &claims); err != nil {
		return nil, authErr("invalid token claims", err)
	}
	// Defence in depth: do not rely on go-oidc's zero-time behaviour alone
	// to reject tokens that never expire.
	if isAbsent(claims["exp"]) {
		return nil, authErr("token has no exp claim", nil)
	}
	if tok.Subject == "" {
		return nil, authErr("token has no sub claim", nil)
	}
	groups, err := parseGroups(claims[v.groupsClaim])
	if err != nil {
		return nil, authErr("invalid groups claim", err)
	}
	agent, err := stringClaim(claims, "azp")
	if err == nil && agent == "" {
		agent, err = stringClaim(claims, "client_id")
	}
	if err != nil {
		return nil, authErr("invalid client claim", err)
	}
	return &Principal{
		Subject: tok.Subject,
		Groups:  groups,
		Agent:   agent,
		Issuer:  tok.Issuer,
		Claims:  claims,
		Expiry:  tok.Expiry,
	}, nil
}

// unverifiedClaim reads one claim from a token whose signature or claims
// failed, for an operator's log line: quoted, shortened, and only that
// claim, never the token. "(unreadable)" when the payload does not parse.
func unverifiedClaim(rawToken, name string) string {
	parts := strings.Split(rawToken, ".")
	if len(parts) != 3 {
		return "(unreadable)"
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return "(unreadable)"
	}
	var claims map[string]json.RawMessage
	if json.Unmarshal(b, &claims) != nil {
		return "(unreadable)"
	}
	raw, ok := claims[name]
	if !ok {
		return "(absent)"
	}
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return "(unreadable)"
	}
	out, _ := json.Marshal(v)
	return truncate(string(out), 200)
}

func isAbsent(raw json.RawMessage) bool {
	return len(raw) == 0 || string(raw) == "null"
}

// stringClaim returns claim name as a string, "" when absent. A present
// claim of another type is an error rather than silently ignored.
func stringClaim(claims map[string]json.RawMessage, name string) (string, error) {
	raw := claims[name]
	if isAbsent(raw) {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("claim %q is not a string", name)
	}
	return s, nil
}

// parseGroups accepts a JSON array of strings or one string separated by
// spaces and/or commas. Any other shape is rejected: policy may deny by
// group, so silently dropping an unreadable claim could grant access.
func parseGroups(raw json.RawMessage) ([]string, error) {
	if isAbsent(raw) {
		return nil, nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return nil, errors.New("want an array of strings or a string")
		}
		list = strings.FieldsFunc(s, func(r rune) bool { return r == ',' || unicode.IsSpace(r) })
	}
	out := make([]string, 0, len(list))
	for _, g := range list {
		g = strings.TrimSpace(g)
		if g != "" {
			out = append(out, g)
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}
