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

// allowedRequestHeaders may always be sent by an agent. Everything else must
// be an "X-" header that no rule below refuses.
var allowedRequestHeaders = map[string]bool{
	"Accept":              true,
	"Accept-Language":     true,
	"Cache-Control":       true,
	"Content-Language":    true,
	"Content-Type":        true,
	"Idempotency-Key":     true,
	"If-Match":            true,
	"If-Modified-Since":   true,
	"If-None-Match":       true,
	"If-Unmodified-Since": true,
	"Prefer":              true,
	"Traceparent":         true,
	"Tracestate":          true,
	"X-Idempotency-Key":   true,
	"X-Request-Id":        true,
}

// deniedRequestHeaders are refused with a reason, so the agent learns why
// rather than meeting "not on the allow-list".
var deniedRequestHeaders = map[string]string{
	"Host":                "the gateway sends the connection's host",
	"Authorization":       "the gateway injects the connection's credentials",
	"Cookie":              "the gateway injects the connection's credentials",
	"Set-Cookie":          "it is a response header",
	"Connection":          "hop-by-hop headers are managed by the gateway",
	"Keep-Alive":          "hop-by-hop headers are managed by the gateway",
	"Te":                  "hop-by-hop headers are managed by the gateway",
	"Trailer":             "hop-by-hop headers are managed by the gateway",
	"Transfer-Encoding":   "message framing is managed by the gateway",
	"Upgrade":             "protocol upgrades are not allowed",
	"Content-Length":      "message framing is managed by the gateway",
	"Expect":              "the gateway sends the body without waiting for 100-continue",
	"Accept-Encoding":     "the gateway negotiates compression itself so the response can be masked",
	"Content-Encoding":    "request bodies are sent as given, uncompressed",
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
	"X-Host":              "the gateway sends the connection's host",
	"X-Rewrite-Url":       "it overrides the request path past the routes",
	"X-Method-Override":   "it overrides the request method past the routes",
}

// deniedRequestPrefixes are refused families, in canonical header form.
var deniedRequestPrefixes = []struct{ prefix, why string }{
	{"Proxy-", "proxy headers are managed by the gateway"},
	{"X-Forwarded-", "the back end must not be told a different client address, host or scheme"},
	{"X-Original-", "it overrides the request path past the routes"},
	{"X-Http-Method", "it overrides the request method past the routes"},
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

// FilterHeaders checks the headers an agent asked to send and returns them in
// canonical form. It refuses the whole set, with a *Error naming the first
// offending header in sorted order, rather than dropping entries: a silently
// dropped header changes the meaning of a call.
//
// Allowed: Accept, Accept-Language, Cache-Control, Content-Language,
// Content-Type, Idempotency-Key, If-Match, If-Modified-Since, If-None-Match,
// If-Unmodified-Since, Prefer, Traceparent, Tracestate, X-Request-Id, and any
// other "X-" header that is not refused below. Other headers are refused as
// not on the allow-list.
//
// Refused with a reason: Host and X-Host; Authorization, Cookie, Set-Cookie,
// Proxy-*, and any name that looks like a credential (containing auth, token,
// api-key, secret, session, signature, "-key" and the like); the hop-by-hop
// and framing headers (Connection, Keep-Alive, TE, Trailer, Transfer-Encoding,
// Upgrade, Content-Length, Expect); client-address and host spoofing
// (Forwarded, Via, X-Forwarded-*, X-Real-IP, True-Client-IP and relatives);
// method and path overrides (X-HTTP-Method*, X-Method-Override, X-Original-*,
// X-Rewrite-URL) which would take a request past its route; proxy and
// framework control (X-Envoy-*, X-Accel-*, X-Middleware-*, Max-Forwards);
// browser headers (Origin, Referer, Sec-*); and Accept-Encoding, Range and
// If-Range, because a compressed or partial body would escape masking.
//
// Names must be HTTP tokens of at most 128 bytes and may not repeat in any
// case; values must be printable ASCII or tab (no CR, LF, NUL or other
// controls, no bytes above 0x7E) of at most 4096 bytes; at most 32 headers.
//
// The gateway must set its own credential headers after filtering, replacing
// (http.Header.Set) rather than adding.
func FilterHeaders(h map[string]string) (http.Header, error) {
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
		if err := checkRequestHeaderName(canon); err != nil {
			return nil, err
		}
		out[canon] = []string{value}
	}
	return out, nil
}

func checkRequestHeaderName(canon string) error {
	if why, ok := deniedRequestHeaders[canon]; ok {
		return refusef("header %s is refused: %s", canon, why)
	}
	for _, d := range deniedRequestPrefixes {
		if strings.HasPrefix(canon, d.prefix) {
			return refusef("header %s is refused: %s", canon, d.why)
		}
	}
	if allowedRequestHeaders[canon] {
		return nil
	}
	lower := strings.ToLower(canon)
	for _, w := range credentialWords {
		if strings.Contains(lower, w) {
			return refusef("header %s is refused: it looks like a credential, and the gateway injects the connection's credentials itself", canon)
		}
	}
	if strings.HasPrefix(canon, "X-") {
		return nil
	}
	return refusef("header %s is not on the allow-list (Accept, Accept-Language, Content-Type, If-Match, If-None-Match, If-Modified-Since, Prefer, Idempotency-Key, and X- headers)", canon)
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
