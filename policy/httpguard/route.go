package httpguard

import (
	"errors"
	"fmt"
	"strings"

	"github.com/airlockhq/airlock/policy"
)

// Route effects.
const (
	EffectAllow   = "allow"
	EffectApprove = "approve"
	EffectDeny    = "deny"
)

// maxMethodLen bounds method names; real ones are at most 7 bytes.
const maxMethodLen = 16

// Route says which agent calls an HTTP connection accepts. Routes are listed
// under the connection's `routes:` in airlock.yaml and matched in order; the
// first match decides and no match refuses.
type Route struct {
	// Methods the route covers, e.g. [GET, HEAD]; ["*"] covers every method
	// except TRACE and CONNECT, which are never allowed (TRACE echoes the
	// injected credentials back; CONNECT opens a tunnel).
	Methods []string `yaml:"methods"`
	// Path is a pattern over the agent path (relative to the base URL):
	// segments are literal text compared with the decoded agent segments,
	// `*` matches exactly one segment and `**` any number, including none:
	// /v1/customers/*/orders, /v1/**. A trailing slash is ignored on both
	// sides. Write characters decoded (a space, not %20).
	Path string `yaml:"path"`
	// Access is the class the call needs (read, write, ddl or admin). Empty
	// means read for GET and HEAD and write for every other method.
	Access policy.Access `yaml:"access"`
	// Effect is allow (the default), approve (each call needs a human
	// approval) or deny.
	Effect string `yaml:"effect"`
}

// Decision is the outcome of MatchRoute.
type Decision struct {
	Access     policy.Access
	Effect     string // EffectAllow, EffectApprove or EffectDeny
	RouteIndex int    // index of the matching route; -1 when none matched
}

// Validate checks one route as written in configuration.
func (r *Route) Validate() error {
	if len(r.Methods) == 0 {
		return errors.New(`methods: at least one method (or "*") is required`)
	}
	for _, m := range r.Methods {
		if m == "*" {
			if len(r.Methods) > 1 {
				return errors.New(`methods: "*" already covers every method; list it alone`)
			}
			continue
		}
		up := strings.ToUpper(m)
		if err := checkMethod(up); err != nil {
			return fmt.Errorf("methods: %q: %w", m, err)
		}
	}
	if err := checkPattern(r.Path); err != nil {
		return fmt.Errorf("path: %w", err)
	}
	if r.Access != "" {
		if _, err := policy.ParseAccess(string(r.Access)); err != nil {
			return fmt.Errorf("access: %w", err)
		}
		// read on every method would classify DELETE as a read. An operator
		// who means a read-only POST (a search endpoint) can say so by name.
		if r.Access == policy.Read && r.Methods[0] == "*" {
			return errors.New(`access: read with methods ["*"] would make writes pass as reads; list the methods`)
		}
	}
	switch r.Effect {
	case "", EffectAllow, EffectApprove, EffectDeny:
	default:
		return fmt.Errorf("effect: unknown effect %q (want allow, approve or deny)", r.Effect)
	}
	return nil
}

func checkPattern(p string) error {
	switch {
	case p == "":
		return errors.New("a pattern starting with / is required")
	case p[0] != '/':
		return fmt.Errorf("%q must start with /", p)
	case len(p) > MaxPathLen:
		return fmt.Errorf("longer than %d bytes", MaxPathLen)
	}
	t := strings.TrimSuffix(p[1:], "/")
	if t == "" {
		return nil
	}
	for seg := range strings.SplitSeq(t, "/") {
		switch {
		case seg == "":
			return fmt.Errorf("%q contains //", p)
		case seg == "*" || seg == "**":
			continue
		case strings.Contains(seg, "*"):
			return fmt.Errorf("%q: * and ** must be whole segments", p)
		case strings.TrimRight(seg, ". ") == "":
			return fmt.Errorf("%q: segments made only of dots or spaces never match", p)
		case strings.ContainsAny(seg, "%?#;\\"):
			return fmt.Errorf("%q: write segments decoded, without %%, ?, #, ; or \\", p)
		}
		for i := 0; i < len(seg); i++ {
			if seg[i] < 0x20 || seg[i] == 0x7f {
				return fmt.Errorf("%q contains a control character", p)
			}
		}
	}
	return nil
}

// checkMethod accepts upper-case method names other than TRACE and CONNECT.
// Agents must write methods in upper case: methods are case-sensitive, and a
// back end that folds "delete" into DELETE would otherwise slip past a route
// that denies DELETE.
func checkMethod(m string) error {
	if m == "" || len(m) > maxMethodLen {
		return refusef("method must be 1 to %d upper-case letters, such as GET", maxMethodLen)
	}
	for i := 0; i < len(m); i++ {
		if m[i] < 'A' || m[i] > 'Z' {
			return refusef("method must be upper-case letters, such as GET")
		}
	}
	switch m {
	case "TRACE":
		return refusef("TRACE is never allowed: it echoes the request, credentials included")
	case "CONNECT":
		return refusef("CONNECT is never allowed: it opens a tunnel")
	}
	return nil
}

// MatchRoute finds the first route covering method and the agent path (the
// path as the agent gave it, relative to the base URL; it is checked and
// decoded by the rules of JoinPath first). It returns:
//
//   - the decision and nil for an allow or approve route;
//   - the decision and a *Error for a deny route, so a caller that only checks
//     the error cannot run a denied call;
//   - Decision{RouteIndex: -1} and a *Error when the method or path is refused
//     or no route matches ("no route allows POST /v1/x").
//
// Allow routes compare segments exactly. Deny and approve routes compare them
// without regard to case: some back ends route /V1/ADMIN to /v1/admin, and
// matching a restrictive route more widely only ever makes the outcome
// stricter. Routes should have passed Validate; an unknown effect or access
// class on the matching route is an error, never an allow.
func MatchRoute(routes []Route, method, path string) (Decision, error) {
	none := Decision{RouteIndex: -1}
	if err := checkMethod(method); err != nil {
		return none, err
	}
	_, segs, err := parsePath(path, true)
	if err != nil {
		return none, err
	}
	for i := range routes {
		r := &routes[i]
		if !r.coversMethod(method) {
			continue
		}
		effect := r.Effect
		if effect == "" {
			effect = EffectAllow
		}
		if !matchSegments(r.Path, segs, effect != EffectAllow) {
			continue
		}
		d := Decision{Access: r.Access, Effect: effect, RouteIndex: i}
		if d.Access == "" {
			d.Access = policy.Write
			if method == "GET" || method == "HEAD" {
				d.Access = policy.Read
			}
		} else if _, err := policy.ParseAccess(string(d.Access)); err != nil {
			return d, fmt.Errorf("httpguard: routes[%d]: %w", i, err)
		}
		switch effect {
		case EffectAllow, EffectApprove:
			return d, nil
		case EffectDeny:
			return d, refusef("%s %s is denied by route %d (%s)", method, path, i, r.Path)
		default:
			return d, fmt.Errorf("httpguard: routes[%d]: unknown effect %q", i, effect)
		}
	}
	return none, refusef("no route allows %s %s", method, path)
}

func (r *Route) coversMethod(method string) bool {
	for _, m := range r.Methods {
		if m == "*" || strings.EqualFold(m, method) {
			return true
		}
	}
	return false
}

// matchSegments matches decoded agent segments against a route pattern. It is
// the classic wildcard algorithm at segment granularity: on a mismatch it
// retries from the most recent `**`, consuming one more segment, which keeps
// the cost at O(len(pattern)·len(segs)) however many `**` there are.
func matchSegments(pattern string, segs []string, fold bool) bool {
	pattern = strings.TrimPrefix(pattern, "/")
	pattern = strings.TrimSuffix(pattern, "/")
	if n := len(segs); n > 0 && segs[n-1] == "" {
		segs = segs[:n-1]
	}
	pi, si := 0, 0
	starPi, starSi := -1, 0
	for si < len(segs) {
		if pi < len(pattern) {
			ps, next := nextSegment(pattern, pi)
			if ps == "**" {
				starPi, starSi, pi = next, si, next
				continue
			}
			if ps == "*" || ps == segs[si] || fold && strings.EqualFold(ps, segs[si]) {
				pi, si = next, si+1
				continue
			}
		}
		if starPi < 0 {
			return false
		}
		starSi++
		pi, si = starPi, starSi
	}
	for pi < len(pattern) {
		ps, next := nextSegment(pattern, pi)
		if ps != "**" {
			return false
		}
		pi = next
	}
	return true
}

// nextSegment returns the pattern segment starting at byte i and the offset of
// the one after it (len(pattern) at the end).
func nextSegment(pattern string, i int) (string, int) {
	if j := strings.IndexByte(pattern[i:], '/'); j >= 0 {
		return pattern[i : i+j], i + j + 1
	}
	return pattern[i:], len(pattern)
}
