// Package httpguard confines agent HTTP calls to the API a connection
// configures. Agents name a method and a path, never a URL; this package turns
// that pair into a request that can only reach the configured origin, under the
// configured base path, through routes the operator allowed, with headers from
// a short allow-list, and over sockets whose peer address was checked after DNS.
//
// The layers are independent on purpose, so that a mistake in one is caught by
// another:
//
//   - JoinPath (and BuildURL) refuses, rather than repairs, anything a server
//     or an intermediary might read differently from us: dot segments in any
//     encoding, encoded slashes and backslashes, "//", raw "@", controls,
//     fragments, query text, path parameters, double encoding, and Unicode
//     look-alikes of delimiters. What it accepts it re-escapes canonically, so
//     the bytes on the wire are the bytes the routes were matched against.
//   - MatchRoute decides which routes an agent path falls under; first match
//     wins and no match is a refusal.
//   - FilterHeaders refuses (never silently drops) headers that would override
//     the gateway's credentials, the Host, the framing, the client address seen
//     by the back end, the method or the path, or hide the body from masking.
//     SafeResponseHeaders keeps only headers that carry no credentials.
//   - DialPolicy is a net.Dialer Control hook: it sees the address actually
//     being connected to, after name resolution and for every redirect, so DNS
//     rebinding, IP-literal spellings and redirects cannot reach cloud metadata,
//     link-local, loopback or private networks unless the operator allowed the
//     exact private addresses the configured host resolves to (and, with
//     AllowedPorts, its port). NewTransport wires it in, with no proxy.
//   - SameOriginRedirects (and RoutedRedirects) follow a few redirects on the
//     same scheme, host and port and under the base path, never elsewhere.
//
// Refusals the agent can act on are *Error values with plain messages.
package httpguard
