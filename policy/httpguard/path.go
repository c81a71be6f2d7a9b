package httpguard

import (
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxPathLen is the longest agent path accepted, in bytes, both as the agent
// wrote it and once re-escaped (raw UTF-8 grows threefold when escaped).
const MaxPathLen = 2048

// MaxQueryLen is the longest encoded query BuildQuery returns, in bytes.
const MaxQueryLen = 4096

// maxQueryValues bounds the elements of one array-valued query parameter.
const maxQueryValues = 100

// JoinPath returns the escaped request path for agentPath under base's path:
// base "http://h/api/v2" and agent path "/users" give "/api/v2/users", with no
// doubled slash at the join.
//
// The agent path must start with "/". It is refused, not repaired, when any
// server or intermediary could read it differently from the routes that were
// matched against it:
//
//   - "." and ".." segments, raw or percent-encoded ("%2e%2e", ".%2E"), and any
//     segment made only of dots and spaces (Windows back ends trim those);
//   - "//" anywhere, encoded slashes (%2F), and backslashes raw or as %5C;
//   - control characters (CR, LF, NUL, DEL, C1 controls), raw or encoded, and
//     raw spaces (write %20: a raw space splits the request line);
//   - a raw "@" anywhere: URL parsers treat text before "@" as userinfo, so
//     "/ok@127.0.0.1" must never be glued to a host. Data that really contains
//     "@" (an e-mail address in a segment) is written "%40" and stays encoded;
//   - "?" and "#" raw (the query is a separate argument; fragments never reach
//     a server) or encoded, and ";" raw or encoded: servlet containers treat ";"
//     as a path-parameter delimiter ("/admin;x" is "/admin", "..;" is ".."),
//     and back ends that decode before routing would split on "%3F" or "%23",
//     so each would let a path slip past a route;
//   - double encoding ("%252e"): a back end that decodes twice would see "..";
//   - malformed escapes, invalid or overlong UTF-8 ("%c0%ae"), Unicode format
//     and space characters, and compatibility look-alikes of delimiters and of
//     ASCII (fullwidth "／", "．", "ａｄｍｉｎ", the "‥" leader, …), which back
//     ends that apply NFKC fold into the ASCII they imitate;
//   - a first segment that looks like a scheme ("/http:evil");
//   - more than MaxPathLen bytes.
//
// Accepted paths are re-escaped canonically: unreserved characters are
// written literally (so "%61dmin" becomes "admin", the form the routes saw),
// sub-delimiters and ":" keep the form the agent chose (RFC 3986 says "," and
// "%2C" may differ), and everything else is percent-encoded in upper case.
//
// Refusals are *Error values. An unusable base (nil, or a path this function
// would refuse) is a configuration error of another type.
func JoinPath(base *url.URL, agentPath string) (string, error) {
	bp, err := basePath(base)
	if err != nil {
		return "", err
	}
	p, _, err := parsePath(agentPath, false)
	if err != nil {
		return "", err
	}
	return bp + p, nil
}

// BuildURL returns the absolute URL for agentPath and query under base: base's
// scheme and host, JoinPath's path (with Path and RawPath set so that
// EscapedPath returns exactly the canonical escaping), and BuildQuery's query.
// base is copied, never modified; its user info, query and fragment are not
// carried over.
func BuildURL(base *url.URL, agentPath string, query map[string]any) (*url.URL, error) {
	if err := CheckBaseURL(base); err != nil {
		return nil, err
	}
	escaped, err := JoinPath(base, agentPath)
	if err != nil {
		return nil, err
	}
	q, err := BuildQuery(query)
	if err != nil {
		return nil, err
	}
	// Encoded slashes are refused, so unescaping is unambiguous.
	decoded, err := url.PathUnescape(escaped)
	if err != nil {
		return nil, fmt.Errorf("httpguard: re-escaped path does not decode: %w", err)
	}
	return &url.URL{Scheme: base.Scheme, Host: base.Host, Path: decoded, RawPath: escaped, RawQuery: q}, nil
}

// CheckBaseURL reports whether base can serve as a connection's base URL: an
// absolute http or https URL with a host, no user info (credentials are
// injected per request, never carried in URLs that get logged), no query or
// fragment, and a path JoinPath would accept. Config loaders should call it;
// BuildURL does too.
func CheckBaseURL(base *url.URL) error {
	switch {
	case base == nil:
		return fmt.Errorf("httpguard: no base URL")
	case base.Scheme != "http" && base.Scheme != "https":
		return fmt.Errorf("httpguard: base URL scheme must be http or https, not %q", base.Scheme)
	case base.Opaque != "" || base.Host == "" || base.Hostname() == "":
		return fmt.Errorf("httpguard: base URL must name a host")
	case base.User != nil:
		return fmt.Errorf("httpguard: base URL must not contain user info; configure credentials separately")
	case base.RawQuery != "" || base.ForceQuery:
		return fmt.Errorf("httpguard: base URL must not have a query")
	case base.Fragment != "":
		return fmt.Errorf("httpguard: base URL must not have a fragment")
	}
	_, err := basePath(base)
	return err
}

// basePath returns base's escaped path without trailing slashes, after
// checking it by the agent-path rules: the base is configuration, but a base
// with ".." or "//" in it would defeat confinement just as well.
func basePath(base *url.URL) (string, error) {
	if base == nil {
		return "", fmt.Errorf("httpguard: no base URL")
	}
	bp := strings.TrimRight(base.EscapedPath(), "/")
	if bp == "" {
		return "", nil
	}
	if _, _, err := parsePath(bp, false); err != nil {
		return "", fmt.Errorf("httpguard: base URL path: %w", err)
	}
	return bp, nil
}

// parsePath checks an agent path and returns its canonical escaping and, when
// wantSegs is set, its decoded segments without a trailing empty one.
func parsePath(p string, wantSegs bool) (string, []string, error) {
	switch {
	case p == "":
		return "", nil, refusef("path is empty; give a path starting with /")
	case len(p) > MaxPathLen:
		return "", nil, refusef("path is longer than %d bytes", MaxPathLen)
	case p[0] != '/':
		if strings.Contains(p, "://") {
			return "", nil, refusef("give a path starting with / under the connection's base URL, not a URL")
		}
		return "", nil, refusef("path must start with /")
	}
	out := make([]byte, 0, len(p)+16)
	var segs []string
	if wantSegs {
		segs = make([]string, 0, strings.Count(p, "/"))
	}
	rest, first := p[1:], true
	for {
		raw, tail, more := strings.Cut(rest, "/")
		out = append(out, '/')
		if raw == "" {
			if more {
				// Empty segments collapse in some servers and make
				// "//host" a network-path reference in URL parsers.
				return "", nil, refusef("path must not contain //")
			}
			break // trailing slash, or the path "/"
		}
		var dec string
		var err error
		dec, out, err = appendSegment(out, raw, first)
		if err != nil {
			return "", nil, err
		}
		if wantSegs {
			segs = append(segs, dec)
		}
		if !more {
			break
		}
		rest, first = tail, false
	}
	if len(out) > MaxPathLen {
		return "", nil, refusef("path is longer than %d bytes once percent-encoded", MaxPathLen)
	}
	return string(out), segs, nil
}

// appendSegment checks one raw segment, appends its canonical escaping to out
// and returns its decoded text.
func appendSegment(out []byte, raw string, first bool) (string, []byte, error) {
	hasPct := strings.IndexByte(raw, '%') >= 0
	var dec []byte
	if hasPct {
		dec = make([]byte, 0, len(raw))
	}
	for i := 0; i < len(raw); i++ {
		c, enc := raw[i], false
		if c == '%' {
			if i+2 >= len(raw) || !isHex(raw[i+1]) || !isHex(raw[i+2]) {
				return "", out, refusef("malformed percent-encoding in path (a %% must be followed by two hex digits)")
			}
			c, enc = unhex(raw[i+1])<<4|unhex(raw[i+2]), true
			i += 2
		}
		if err := checkPathByte(c, enc); err != nil {
			return "", out, err
		}
		out = appendCanonical(out, c, enc)
		if hasPct {
			dec = append(dec, c)
		}
	}
	d := raw
	if hasPct {
		d = string(dec)
	}
	if err := checkDecodedSegment(d, first); err != nil {
		return "", out, err
	}
	return d, out, nil
}

func checkPathByte(c byte, enc bool) error {
	if c < 0x20 || c == 0x7f {
		return refusef("control characters (CR, LF, NUL, …) are refused in paths, raw or percent-encoded")
	}
	switch c {
	case ' ':
		if !enc {
			return refusef("spaces in paths must be percent-encoded as %%20")
		}
	case '/':
		// Only an encoded slash gets here: raw ones split segments.
		return refusef("encoded slashes (%%2F) are refused in paths")
	case '\\':
		return refusef("backslashes are refused in paths, raw or as %%5C")
	case '?':
		if enc {
			return refusef("encoded question marks (%%3F) are refused in paths")
		}
		return refusef("? is refused in the path; pass query parameters separately")
	case '#':
		return refusef("# is refused in paths, raw or as %%23 (fragments never reach the server)")
	case ';':
		return refusef("; is refused in paths, raw or as %%3B (path parameters can hide segments from routes)")
	case '@':
		if !enc {
			return refusef("@ is refused in paths (it reads as user info in URLs); percent-encode data that contains it as %%40")
		}
	}
	return nil
}

// appendCanonical writes one decoded byte in canonical form.
func appendCanonical(out []byte, c byte, enc bool) []byte {
	switch {
	case isUnreserved(c):
		return append(out, c)
	case !enc && isSubDelimOrColon(c):
		return append(out, c)
	}
	const hexDigits = "0123456789ABCDEF"
	return append(out, '%', hexDigits[c>>4], hexDigits[c&15])
}

func checkDecodedSegment(d string, first bool) error {
	if strings.TrimRight(d, ". ") == "" {
		return refusef("path segments made only of dots or spaces (such as .. or %%2e%%2e) are refused")
	}
	for i := 0; i+2 < len(d); i++ {
		if d[i] == '%' && isHex(d[i+1]) && isHex(d[i+2]) {
			return refusef("double percent-encoding (%%25 followed by hex digits) is refused in paths")
		}
	}
	if first {
		if i := strings.IndexByte(d, ':'); i > 0 && isSchemeName(d[:i]) {
			return refusef("path must not start with a scheme such as %q; give a path under the base URL", d[:i+1])
		}
	}
	for i := 0; i < len(d); i++ {
		if d[i] >= utf8.RuneSelf {
			return checkUnicode(d)
		}
	}
	return nil
}

func checkUnicode(d string) error {
	if !utf8.ValidString(d) {
		return refusef("path is not valid UTF-8 once decoded (overlong or broken encodings are refused)")
	}
	for _, r := range d {
		switch {
		case r < utf8.RuneSelf:
		case unicode.IsControl(r), unicode.Is(unicode.Cf, r), unicode.IsSpace(r):
			return refusef("character U+%04X (control, format or space) is refused in paths", r)
		case lookalike(r):
			return refusef("character U+%04X is refused in paths: it normalises to ASCII punctuation or letters on some servers", r)
		}
	}
	return nil
}

// lookalike reports runes whose NFKC (or best-fit) form contains ASCII that
// matters to routing: fullwidth ASCII, small and vertical punctuation forms,
// dot leaders, slash and backslash variants, and the "a/c"-style symbols.
// The list is deliberately coarse; such runes have no business in API paths.
func lookalike(r rune) bool {
	switch {
	case r >= 0xFF01 && r <= 0xFF5E: // fullwidth ASCII: ／ ． ａｄｍｉｎ …
		return true
	case r >= 0xFE10 && r <= 0xFE19, r >= 0xFE30 && r <= 0xFE6B: // vertical, compatibility and small forms (︰ ﹒ ﹨ ﹫ …)
		return true
	case r >= 0x2024 && r <= 0x2026: // one and two dot leaders, ellipsis
		return true
	}
	switch r {
	case 0x2044, 0x2215, 0x29F5, 0x29F8, 0x29F9, // fraction slash, division slash, reverse solidus operator, big (reverse) solidus
		0x2100, 0x2101, 0x2105, 0x2106: // ℀ ℁ ℅ ℆ contain "/" once normalised
		return true
	}
	return false
}

func isSchemeName(s string) bool {
	if s == "" || !isAlpha(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !isAlpha(c) && !('0' <= c && c <= '9') && c != '+' && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

func isAlpha(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

func isUnreserved(c byte) bool {
	return isAlpha(c) || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}

func isSubDelimOrColon(c byte) bool {
	switch c {
	case '!', '$', '&', '\'', '(', ')', '*', '+', ',', '=', ':':
		return true
	}
	return false
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// BuildQuery encodes agent query parameters. Values may be strings, booleans,
// numbers (Go integer and float types, or json.Number via its String method),
// or arrays of those (repeated keys, at most 100 elements); nested objects,
// nested arrays and null are refused rather than guessed at. Keys are sorted so
// the same arguments always give the same query (approvals bind to it).
// Control characters and invalid UTF-8 are refused in keys and values, even
// though they would be percent-encoded: back ends that decode and log or
// forward parameters would otherwise receive CR/LF. Keys must be non-empty and
// at most 256 bytes; the result at most MaxQueryLen bytes. An empty map gives "".
//
// Credentials the gateway puts in the query must be set after this, replacing
// any agent value with the same key.
func BuildQuery(q map[string]any) (string, error) {
	if len(q) == 0 {
		return "", nil
	}
	vals := make(url.Values, len(q))
	for k, v := range q {
		if k == "" || len(k) > 256 {
			return "", refusef("query parameter names must be 1 to 256 bytes")
		}
		if err := checkQueryText(k); err != nil {
			return "", refusef("query parameter name %q: %s", k, err.Msg)
		}
		var err *Error
		switch v := v.(type) {
		case []any:
			err = appendQueryList(vals, k, len(v), func(i int) any { return v[i] })
		case []string:
			err = appendQueryList(vals, k, len(v), func(i int) any { return v[i] })
		default:
			var s string
			if s, err = queryScalar(v); err == nil {
				vals[k] = append(vals[k], s)
			}
		}
		if err != nil {
			return "", refusef("query parameter %q: %s", k, err.Msg)
		}
	}
	enc := vals.Encode()
	if len(enc) > MaxQueryLen {
		return "", refusef("query is longer than %d bytes once encoded", MaxQueryLen)
	}
	return enc, nil
}

func appendQueryList(vals url.Values, k string, n int, at func(int) any) *Error {
	if n > maxQueryValues {
		return refusef("at most %d values are allowed", maxQueryValues)
	}
	for i := range n {
		s, err := queryScalar(at(i))
		if err != nil {
			return err
		}
		vals[k] = append(vals[k], s)
	}
	return nil
}

func queryScalar(v any) (string, *Error) {
	var s string
	switch v := v.(type) {
	case string:
		s = v
	case bool:
		s = strconv.FormatBool(v)
	case int:
		s = strconv.FormatInt(int64(v), 10)
	case int8:
		s = strconv.FormatInt(int64(v), 10)
	case int16:
		s = strconv.FormatInt(int64(v), 10)
	case int32:
		s = strconv.FormatInt(int64(v), 10)
	case int64:
		s = strconv.FormatInt(v, 10)
	case uint:
		s = strconv.FormatUint(uint64(v), 10)
	case uint8:
		s = strconv.FormatUint(uint64(v), 10)
	case uint16:
		s = strconv.FormatUint(uint64(v), 10)
	case uint32:
		s = strconv.FormatUint(uint64(v), 10)
	case uint64:
		s = strconv.FormatUint(v, 10)
	case float32:
		return queryFloat(float64(v), 32)
	case float64:
		return queryFloat(v, 64)
	case fmt.Stringer: // json.Number, without importing encoding/json for it
		if _, err := strconv.ParseFloat(v.String(), 64); err != nil {
			return "", refusef("value of type %T is not a number", v)
		}
		s = v.String()
	case nil:
		return "", refusef("null is not a query value; omit the parameter instead")
	default:
		return "", refusef("values must be strings, numbers, booleans or arrays of them, not %T", v)
	}
	if err := checkQueryText(s); err != nil {
		return "", err
	}
	return s, nil
}

// queryFloat writes whole numbers without exponent or fraction, so that the
// 42 a JSON decoder hands over as float64 is sent as "42", not "4.2e+01".
func queryFloat(f float64, bits int) (string, *Error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "", refusef("NaN and infinity are not query values")
	}
	return strconv.FormatFloat(f, 'f', -1, bits), nil
}

func checkQueryText(s string) *Error {
	if !utf8.ValidString(s) {
		return refusef("not valid UTF-8")
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return refusef("control characters are refused")
		}
	}
	return nil
}
