package httpguard

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
)

// DefaultMaxRedirects is the number of redirects a guarded client follows.
const DefaultMaxRedirects = 3

// RelativePath returns target's path relative to base, in canonical escaped
// form, when target is on base's origin (same scheme, host and port, with
// default ports made explicit), carries no user info, and its path lies under
// base's path and passes the JoinPath rules. It is how a redirect target is
// turned back into an agent path, e.g. to match it against routes.
//
// Hosts are compared as written, case-insensitively: "127.0.0.1",
// "2130706433", "0x7f000001", "0177.0.0.1", "[::ffff:127.0.0.1]" and "[::]"
// are all different origins, so a redirect can't reach the local host by
// respelling it (and DialPolicy checks the dialled address regardless).
func RelativePath(base, target *url.URL) (string, error) {
	if base == nil || target == nil {
		return "", refusef("no URL to compare")
	}
	if target.User != nil {
		return "", refusef("URLs with user info are refused")
	}
	if target.Opaque != "" || !strings.EqualFold(base.Scheme, target.Scheme) ||
		!strings.EqualFold(base.Hostname(), target.Hostname()) || port(base) != port(target) {
		return "", refusef("the target is not on the connection's origin (scheme, host and port must match)")
	}
	bp, err := basePath(base)
	if err != nil {
		return "", err
	}
	tp := target.EscapedPath()
	if tp == "" {
		tp = "/"
	}
	if bp != "" && tp != bp && !strings.HasPrefix(tp, bp+"/") {
		return "", refusef("the target path is not under the connection's base path %s", bp)
	}
	rel := tp[len(bp):]
	if rel == "" {
		rel = "/"
	}
	canon, _, err := parsePath(rel, false)
	if err != nil {
		return "", err
	}
	return canon, nil
}

func port(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	switch strings.ToLower(u.Scheme) {
	case "http":
		return "80"
	case "https":
		return "443"
	}
	return ""
}

// SameOriginRedirects returns an http.Client CheckRedirect function that
// follows at most maxRedirects redirects (DefaultMaxRedirects is the usual
// choice; 0 follows none), each to base's scheme, host and port and under
// base's path, as RelativePath decides. Anything else stops the request with a *Error
// (wrapped by the client in a *url.Error).
//
// Redirects that respell the host as an IP literal (http://2130706433/,
// http://0x7f000001/, http://0177.0.0.1/, http://[::ffff:127.0.0.1]/,
// http://[::]/) are refused here as other origins and, independently, by the
// transport's DialPolicy, which sees the address actually dialled: Go reads
// the bracketed forms as the IPv6 addresses they are (::ffff:127.0.0.1 is
// judged as 127.0.0.1, :: is always refused) and does not read decimal, hex
// or octal IPv4 at all, so those are host names whose resolved addresses get
// checked. A connection allowed to reach its own private address should set
// DialPolicy.AllowedPorts too, so that the dial check alone also keeps a
// redirect off that host's other ports.
//
// The redirected request may still hit a route the original did not; use
// RoutedRedirects to check that too.
func SameOriginRedirects(base *url.URL, maxRedirects int) func(req *http.Request, via []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		if len(via) > maxRedirects {
			return refusef("redirect refused: stopped after %d redirects", maxRedirects)
		}
		if _, err := RelativePath(base, req.URL); err != nil {
			return redirectRefused(err)
		}
		return nil
	}
}

// RoutedRedirects is SameOriginRedirects that also requires each redirect
// target to match an allow route for the redirected method. Approve routes
// refuse too: an approval covered the request the agent made, not wherever
// the server sends it next.
func RoutedRedirects(base *url.URL, maxRedirects int, routes []Route) func(req *http.Request, via []*http.Request) error {
	same := SameOriginRedirects(base, maxRedirects)
	return func(req *http.Request, via []*http.Request) error {
		if err := same(req, via); err != nil {
			return err
		}
		rel, err := RelativePath(base, req.URL)
		if err != nil {
			return redirectRefused(err)
		}
		d, err := MatchRoute(routes, req.Method, rel)
		if err != nil {
			return redirectRefused(err)
		}
		if d.Effect != EffectAllow {
			return refusef("redirect refused: %s %s needs approval; call it directly", req.Method, rel)
		}
		return nil
	}
}

func redirectRefused(err error) error {
	var e *Error
	if errors.As(err, &e) {
		return &Error{Msg: "redirect refused: " + e.Msg}
	}
	return err
}
