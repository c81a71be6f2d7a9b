package httpguard

import (
	"maps"
	"net/http"
	"slices"
	"strings"
)

// Limits on agent request headers.
const (
	maxHeaders        = 32
	maxHeaderNameLen  = 128
	maxHeaderValueLen = 4096
)

// DefaultAllowedHeaders are the agent request headers every connection
// accepts: content negotiation, conditional requests, idempotency and
// tracing. Everything else must be added per connection by the operator
// (see NewHeaderPolicy); identity, tenant and role headers that back ends
// trust (X-Scope-OrgID, X-Amzn-Oidc-*, X-User, X-Role, …) are therefore
// refused unless an operator names them.
var DefaultAllowedHeaders = []string{
	"Accept", "Accept-Language", "Cache-Control", "Content-Language", "Content-Type",
	"Idempotency-Key", "If-Match", "If-Modified-Since", "If-None-Match", "If-Unmodified-Since",
	"Prefer", "Traceparent", "Tracestate", "X-Idempotency-Key", "X-Request-Id",
}

// neverAllowedHeaders carry a guarantee of the gateway itself (the host, the
// credential, the framing, masking, the routes): no agent may send them and
// no operator may allow them.
var neverAllowedHeaders = map[string]string{
	"Host":              "the gateway sends the connection's host",
	"X-Host":            "the gateway sends the connection's host",
	"Authorization":     "the gateway injects the connection's credentials",
	"Cookie":            "the gateway injects the connection's credentials",
	"Set-Cookie":        "it is a response header",
	"Connection":        "hop-by-hop headers are managed by the gateway",
	"Keep-Alive":        "hop-by-hop headers are managed by the gateway",
	"Te":                "hop-by-hop headers are managed by the gateway",
	"Trailer":           "hop-by-hop headers are managed by the gateway",
	"Transfer-Encoding": "message framing is managed by the gateway",
	"Upgrade":           "protocol upgrades are not allowed",
	"Content-Length":    "message framing is managed by the gateway",
	"Expect":            "the gateway sends the body without waiting for 100-continue",
	"Accept-Encoding":   "the gateway negotiates compression itself so the response can be masked",
	"Content-Encoding":  "request bodies are sent as given, uncompressed",
	"X-Rewrite-Url":     "it overrides the request path past the routes",
	"X-Method-Override": "it overrides the request method past the routes",
}

// neverAllowedPrefixes are families of neverAllowedHeaders, in canonical
// header form.
var neverAllowedPrefixes = []struct{ prefix, why string }{
	{"Proxy-", "proxy headers are managed by the gateway"},
	{"X-Original-", "it overrides the request path past the routes"},
	{"X-Http-Method", "it overrides the request method past the routes"},
}

// refusedHeaders are refused with a reason unless the operator allows them
// on a connection, so the agent learns why rather than meeting "not on the
// allow-list".
var refusedHeaders = map[string]string{
	"Range":               "partial responses can cut a sensitive value away from the key that masks it",
	"If-Range":            "partial responses can cut a sensitive value away from the key that masks it",
	"Forwarded":           "the back end must not be told a different client address or host",
	"Via":                 "the back end must not be told a different client address or host",
	"Max-Forwards":        "it steers proxies between the gateway and the back end",
	"Origin":              "browser headers would let an agent pass for a browser session",
	"Referer":             "browser headers would let an agent pass for a browser session",
	"X-Real-Ip":           "the back end must not be told a different client address",
	"X-Client-Ip":         "the back end must not be told a different client address",
	"X-Cluster-Client-Ip": "the back end must not be told a different client address",
	"X-Originating-Ip":    "the back end must not be told a different client address",
	"X-Proxyuser-Ip":      "the back end must not be told a different client address",
	"True-Client-Ip":      "the back end must not be told a different client address",
	"Client-Ip":           "the back end must not be told a different client address",
}

// refusedPrefixes are refused families, in canonical header form.
var refusedPrefixes = []struct{ prefix, why string }{
	{"X-Forwarded-", "the back end must not be told a different client address, host, scheme or user"},
	{"X-Remote-", "the back end must not be told a different client address or user"},
	{"X-Envoy-", "proxies trust these headers for routing"},
	{"X-Middleware-", "frameworks trust these headers to skip middleware"},
	{"X-Accel-", "proxies trust these headers for internal redirects"},
	{"Sec-", "browser headers would let an agent pass for a browser session"},
}

// credentialWords mark header names that carry credentials. Agents hold no
// credentials, so such a header is either a leaked secret or an attempt to
// replace the one the gateway injects.
var credentialWords = []string{
	"auth", "token", "apikey", "api-key", "api_key", "access-key", "secret",
	"session", "cookie", "passw", "credential", "signature", "csrf", "xsrf",
	"jwt", "bearer", "-key",
}

// AllowOption is the connection setting that extends the header allow-list;
// refusals name it so that an operator knows where to look.
const AllowOption = "allow_headers"

// HeaderPolicy is one connection's allow-list of agent request headers:
// DefaultAllowedHeaders plus what the operator added.
type HeaderPolicy struct {
	allow map[string]bool
	names string // sorted, for messages
}

var defaultHeaderPolicy = mustHeaderPolicy()

func mustHeaderPolicy() *HeaderPolicy {
	p, err := NewHeaderPolicy(nil)
	if err != nil {
		panic(err)
	}
	return p
}

// CheckAllowableHeader reports why an operator may not add name to a
// connection's allow-list: it is not a valid header name, or it carries a
// guarantee of the gateway (Host, credentials and credential-like names,
// hop-by-hop and framing headers, Proxy-*, Accept-Encoding and
// Content-Encoding, method and path overrides).
func CheckAllowableHeader(name string) error {
	if name == "" || len(name) > maxHeaderNameLen || !isToken(name) {
		return refusef("header name %q is not a valid HTTP token of at most %d bytes", name, maxHeaderNameLen)
	}
	canon := http.CanonicalHeaderKey(name)
	if why, ok := neverAllowedHeaders[canon]; ok {
		return refusef("header %s can never be allowed: %s", canon, why)
	}
	for _, d := range neverAllowedPrefixes {
		if strings.HasPrefix(canon, d.prefix) {
			return refusef("header %s can never be allowed: %s", canon, d.why)
		}
	}
	if slices.Contains(DefaultAllowedHeaders, canon) {
		return nil
	}
	if looksLikeCredential(canon) {
		return refusef("header %s can never be allowed: it looks like a credential; set credentials in the connection's headers instead", canon)
	}
	return nil
}

// NewHeaderPolicy returns the allow-list DefaultAllowedHeaders plus extra
// (header names in any case). It refuses a name CheckAllowableHeader
// refuses.
func NewHeaderPolicy(extra []string) (*HeaderPolicy, error) {
	p := &HeaderPolicy{allow: make(map[string]bool, len(DefaultAllowedHeaders)+len(extra))}
	for _, n := range DefaultAllowedHeaders {
		p.allow[n] = true
	}
	for _, n := range extra {
		if err := CheckAllowableHeader(n); err != nil {
			return nil, err
		}
		p.allow[http.CanonicalHeaderKey(n)] = true
	}
	p.names = strings.Join(slices.Sorted(maps.Keys(p.allow)), ", ")
	return p, nil
}

// Allowed reports whether the policy lets an agent send the header name.
func (p *HeaderPolicy) Allowed(name string) bool {
	return p.checkName(http.CanonicalHeaderKey(name)) == nil
}

// FilterHeaders checks h against the default allow-list; see
// HeaderPolicy.Filter.
func FilterHeaders(h map[string]string) (http.Header, error) {
	return defaultHeaderPolicy.Filter(h)
}

// Filter checks the headers an agent asked to send and returns them in
// canonical form. It refuses the whole set, with a *Error naming the first
// offending header in sorted order, rather than dropping entries: a silently
// dropped header changes the meaning of a call.
//
// Allowed: the policy's allow-list, nothing else. A refusal of a header the
// operator could allow names the allow_headers option.
//
// Never allowed, whatever the operator says: Host and X-Host; Authorization,
// Cookie, Set-Cookie, Proxy-*, and any name that looks like a credential
// (containing auth, token, api-key, secret, session, signature, "-key" and
// the like); the hop-by-hop and framing headers (Connection, Keep-Alive, TE,
// Trailer, Transfer-Encoding, Upgrade, Content-Length, Expect);
// Accept-Encoding and Content-Encoding, because a compressed body would
// escape masking; method and path overrides (X-HTTP-Method*,
// X-Method-Override, X-Original-*, X-Rewrite-URL), which would take a
// request past its route.
//
// Refused with a reason unless allowed: client-address and host spoofing
// (Forwarded, Via, X-Forwarded-*, X-Real-IP, True-Client-IP and relatives),
// X-Remote-*, proxy and framework control (X-Envoy-*, X-Accel-*,
// X-Middleware-*, Max-Forwards), browser headers (Origin, Referer, Sec-*),
// Range and If-Range (a partial body can cut a value away from the key that
// masks it).
//
// Names must be HTTP tokens of at most 128 bytes and may not repeat in any
// case; values must be printable ASCII or tab (no CR, LF, NUL or other
// controls, no bytes above 0x7E) of at most 4096 bytes; at most 32 headers.
//
// The gateway must set its own credential headers after filtering, replacing
// (http.Header.Set) rather than adding.
func (p *HeaderPolicy) Filter(h map[string]string) (http.Header, error) {
	out := make(http.Header, len(h))
	if len(h) > maxHeaders {
		return nil, refusef("at most %d request headers are allowed", maxHeaders)
	}
	for _, name := range slices.Sorted(maps.Keys(h)) {
		value := h[name]
		if name == "" || len(name) > maxHeaderNameLen || !isToken(name) {
			return nil, refusef("header name %q is not a valid HTTP token of at most %d bytes", name, maxHeaderNameLen)
		}
		if len(value) > maxHeaderValueLen {
			return nil, refusef("header %s: value is longer than %d bytes", name, maxHeaderValueLen)
		}
		for i := 0; i < len(value); i++ {
			if c := value[i]; c != '\t' && (c < 0x20 || c > 0x7e) {
				return nil, refusef("header %s: value contains a control character (CR, LF, NUL, …) or non-ASCII byte", name)
			}
		}
		canon := http.CanonicalHeaderKey(name)
		if _, dup := out[canon]; dup {
			return nil, refusef("header %s is given more than once", canon)
		}
		if err := p.checkName(canon); err != nil {
			return nil, err
		}
		out[canon] = []string{value}
	}
	return out, nil
}

func (p *HeaderPolicy) checkName(canon string) error {
	if err := CheckAllowableHeader(canon); err != nil {
		e := err.(*Error)
		e.Msg = strings.Replace(e.Msg, "can never be allowed", "is refused", 1)
		return e
	}
	if p.allow[canon] {
		return nil
	}
	why, ok := refusedHeaders[canon]
	for _, d := range refusedPrefixes {
		if !ok && strings.HasPrefix(canon, d.prefix) {
			why, ok = d.why, true
		}
	}
	if ok {
		return refusef("header %s is refused: %s (an operator who trusts agents with it can add it to the connection's %s)", canon, why, AllowOption)
	}
	return refusef("header %s is not on this connection's allow-list (%s); leave it out, or ask an operator to add it to the connection's %s", canon, p.names, AllowOption)
}

// CarriesCredential reports whether an operator header named name would
// carry a credential (Authorization, Cookie, anything named like a key,
// token or secret): its value must come from the environment, never the
// config file.
func CarriesCredential(name string) bool {
	canon := http.CanonicalHeaderKey(name)
	switch canon {
	case "Authorization", "Proxy-Authorization", "Cookie":
		return true
	}
	return looksLikeCredential(canon)
}

func looksLikeCredential(canon string) bool {
	lower := strings.ToLower(canon)
	for _, w := range credentialWords {
		if strings.Contains(lower, w) {
			return true
		}
	}
	return false
}

// isToken reports whether s is an RFC 9110 token.
func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isAlpha(c) || '0' <= c && c <= '9' {
			continue
		}
		switch c {
		case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
			continue
		}
		return false
	}
	return true
}

// safeResponseHeaders are copied to the agent when their values are clean.
var safeResponseHeaders = []string{
	"Cache-Control", "Content-Length", "Content-Type", "Etag", "Last-Modified",
	"Location", "Retry-After", "X-Request-Id",
}

// isRateLimitHeader reports the rate-limit families (the IETF RateLimit
// fields and the older X-RateLimit ones) an agent needs to pace itself.
func isRateLimitHeader(canon string) bool {
	return canon == "Ratelimit" || strings.HasPrefix(canon, "Ratelimit-") || strings.HasPrefix(canon, "X-Ratelimit-")
}

// SafeResponseHeaders returns the response headers an agent may see:
// Cache-Control, Content-Length, Content-Type, ETag, Last-Modified, Retry-After,
// X-Request-Id, RateLimit and RateLimit-*, X-RateLimit-*, and Location when it
// is a path on the same origin ("/…", not "//…", no backslash). Everything
// else is dropped: Set-Cookie, WWW-Authenticate, Authorization and other
// credential carriers, and headers that name internal hosts or software.
// Values with control characters are dropped too.
//
// Content-Length describes the body as the server sent it; callers that mask
// or cap the body must replace or delete it.
func SafeResponseHeaders(h http.Header) http.Header {
	out := make(http.Header)
	for _, name := range safeResponseHeaders {
		copySafeValues(out, name, h[name])
	}
	for name, vs := range h {
		if isRateLimitHeader(name) {
			copySafeValues(out, name, vs)
		}
	}
	return out
}

func copySafeValues(out http.Header, name string, vs []string) {
	for _, v := range vs {
		if !printableASCII(v) {
			continue
		}
		if name == "Location" && !(strings.HasPrefix(v, "/") && !strings.HasPrefix(v, "//") && !strings.Contains(v, "\\")) {
			continue
		}
		out[name] = append(out[name], v)
	}
}

func printableASCII(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c != '\t' && (c < 0x20 || c > 0x7e) {
			return false
		}
	}
	return true
}
