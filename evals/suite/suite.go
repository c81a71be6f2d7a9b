// Package suite is Airlock's adversarial and benign eval suite: a corpus of
// tool calls (cases/*.yaml, embedded), a runner that drives each one
// through a real gateway process over MCP against real targets (a
// PostgreSQL schema, local HTTP APIs, a honeypot), and a scorecard.
//
// A blocked case passes only when the gateway refused it *and* the target
// shows no effect: the sentinel table, the database's roles, settings and
// advisory locks, the API's write counter and the honeypot are compared
// before and after every call. A masked case passes only when no seeded
// sensitive value appears in the agent's answer or anywhere in the journal
// export. `airlock eval` is the command; `make test` runs it as a gate.
package suite

import (
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

//go:embed cases/*.yaml
var corpus embed.FS

// Expectations a case can have.
const (
	// Blocked: refused (an isError result or a JSON-RPC error), with no
	// effect on any target.
	Blocked = "blocked"
	// Allowed: answered without error; Contains must appear in the answer.
	Allowed = "allowed"
	// Masked: answered without error, and every value of Absent (and every
	// seeded sensitive value) is missing from the answer.
	Masked = "masked"
	// Held: refused as pending a human approval, with no effect.
	Held = "held"
	// Unauthorized: a token case; HTTP answers 401 and stdio refuses every
	// call.
	Unauthorized = "unauthorized"
)

// Kinds of case.
const (
	// KindCall (the default) is one tool call by the eval agent.
	KindCall = "call"
	// KindToken presents a crafted token (Payload signed per Alg, or Raw)
	// and makes the call with it.
	KindToken = "token"
	// KindExpiry makes the call with a token that lives 3 s, on one
	// session before and after it expires; the second must be refused.
	KindExpiry = "expiry"
	// KindHijack has another principal use the eval agent's session id
	// (Method on the transport's endpoint); the gateway must refuse.
	KindHijack = "hijack"
	// KindApproval sends a call that waits for a human, has an approver
	// approve it, and runs it once; then Method "replay" sends the same
	// call again and "swap" sends Swap (other arguments) under the same
	// approval. Either must be held again, with no effect.
	KindApproval = "approval"
	// KindFlood holds Count hostile connections open while the case's
	// call is made: Method "sessions" initializes that many MCP sessions
	// as one principal, "slow-bodies" opens that many requests that never
	// send their body. The call must still be answered as expected.
	KindFlood = "flood"
)

// Case is one call and what must happen.
type Case struct {
	ID       string `yaml:"id"`
	Category string `yaml:"category"`
	// Note says what the case tries, in a few words.
	Note string         `yaml:"note"`
	Tool string         `yaml:"tool"`
	Args map[string]any `yaml:"args"`
	// Grants are asked for (connection:access) before the call; the
	// default is a read grant on the case's connection.
	Grants []string `yaml:"grants"`
	// NoGrant runs the call as a principal that holds no grant at all
	// (grants are per subject, and the eval agent collects them).
	NoGrant bool   `yaml:"no_grant"`
	Expect  string `yaml:"expect"`
	// Contains are substrings the answer must hold (allowed, masked);
	// Absent are values that must appear neither in the answer nor in the
	// journal (masked, and any case).
	Contains []string `yaml:"contains"`
	Absent   []string `yaml:"absent"`
	// Transports the case runs over. The default is streamable HTTP and
	// stdio for every kind that both carry; hijack and flood cases attack
	// HTTP sessions and connections, so they default to streamable HTTP.
	Transports []string `yaml:"transports"`
	// Benign marks ordinary work: a block is a false block.
	Benign bool `yaml:"benign"`
	// Kind is call (default), token, expiry or hijack.
	Kind string `yaml:"kind"`
	// Payload is a token's claims (JSON, with {{issuer}}, {{audience}},
	// {{now}}, {{exp}} and {{past}}); Alg signs it: RS256 with the dev
	// issuer's key (default), none, HS256-public (HMAC keyed with the
	// issuer's public key), RS256-foreign (another key, the issuer's key
	// id) or RS256-jku (another key, its key set at the honeypot). Raw is
	// a literal token instead.
	Payload string `yaml:"payload"`
	Alg     string `yaml:"alg"`
	Raw     string `yaml:"raw"`
	// Method is a hijack's HTTP method: POST (a call), GET (the
	// notification stream) or DELETE (end the session); for an approval
	// case, replay or swap.
	Method string `yaml:"method"`
	// Swap is the arguments an approval case's second call sends.
	Swap map[string]any `yaml:"swap"`
	// Count is a flood case's number of hostile sessions or connections.
	Count int `yaml:"count"`

	file string
}

// Transports a case can run over.
const (
	TransportHTTP  = "streamable-http"
	TransportStdio = "stdio"
	TransportSSE   = "sse"
)

// Load reads the embedded corpus.
func Load() ([]Case, error) { return LoadFS(corpus, "cases") }

// LoadFS reads every *.yaml under dir of fsys, strictly.
func LoadFS(fsys fs.FS, dir string) ([]Case, error) {
	names, err := fs.Glob(fsys, path.Join(dir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var all []Case
	seen := map[string]string{}
	for _, name := range names {
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		var cs []Case
		if err := dec.Decode(&cs); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		for i := range cs {
			c := &cs[i]
			c.file = name
			if err := c.validate(); err != nil {
				return nil, fmt.Errorf("%s: case %d (%s): %w", name, i+1, c.ID, err)
			}
			if prev, dup := seen[c.ID]; dup {
				return nil, fmt.Errorf("%s: case id %s is also in %s", name, c.ID, prev)
			}
			seen[c.ID] = name
		}
		all = append(all, cs...)
	}
	if len(all) == 0 {
		return nil, fmt.Errorf("no cases under %s", dir)
	}
	return all, nil
}

func (c *Case) validate() error {
	switch {
	case c.ID == "":
		return fmt.Errorf("id is required")
	case c.Category == "":
		return fmt.Errorf("category is required")
	case c.Tool == "":
		return fmt.Errorf("tool is required")
	}
	switch c.Expect {
	case Blocked, Allowed, Masked, Held, Unauthorized:
	default:
		return fmt.Errorf("expect must be %s, %s, %s, %s or %s, not %q", Blocked, Allowed, Masked, Held, Unauthorized, c.Expect)
	}
	if c.Kind == "" {
		c.Kind = KindCall
	}
	switch c.Kind {
	case KindCall:
		if c.Payload != "" || c.Raw != "" || c.Alg != "" || c.Method != "" {
			return fmt.Errorf("payload, raw, alg and method belong to token and hijack cases")
		}
	case KindToken:
		if (c.Payload == "") == (c.Raw == "") {
			return fmt.Errorf("a token case needs exactly one of payload and raw")
		}
		switch c.Alg {
		case "", "RS256", "none", "HS256-public", "RS256-foreign", "RS256-jku":
		default:
			return fmt.Errorf("alg must be RS256, none, HS256-public, RS256-foreign or RS256-jku")
		}
		if c.Expect != Unauthorized {
			return fmt.Errorf("a token case expects %s", Unauthorized)
		}
	case KindFlood:
		if c.Expect != Allowed {
			return fmt.Errorf("a flood case expects %s (the gateway keeps serving)", Allowed)
		}
		if (c.Method != "sessions" && c.Method != "slow-bodies") || c.Count < 1 || c.Count > 2000 {
			return fmt.Errorf("a flood case needs method sessions or slow-bodies and a count of 1 to 2000")
		}
	case KindApproval:
		if c.Expect != Blocked {
			return fmt.Errorf("an approval case expects %s", Blocked)
		}
		if c.Method != "replay" && c.Method != "swap" || (c.Method == "swap") != (c.Swap != nil) {
			return fmt.Errorf("an approval case needs method replay, or method swap with swap arguments")
		}
	case KindExpiry, KindHijack:
		if c.Expect != Blocked {
			return fmt.Errorf("a %s case expects %s", c.Kind, Blocked)
		}
		if c.Kind == KindHijack && c.Method != "POST" && c.Method != "GET" && c.Method != "DELETE" {
			return fmt.Errorf("a hijack case needs method POST, GET or DELETE")
		}
	default:
		return fmt.Errorf("kind must be call, token, expiry, hijack, approval or flood, not %q", c.Kind)
	}
	if c.Benign && c.Expect != Allowed && c.Expect != Masked {
		return fmt.Errorf("a benign case must expect %s or %s", Allowed, Masked)
	}
	for _, t := range c.Transports {
		if t != TransportHTTP && t != TransportStdio && t != TransportSSE {
			return fmt.Errorf("unknown transport %q", t)
		}
	}
	if len(c.Transports) == 0 {
		c.Transports = defaultTransports(c.Kind)
	}
	if c.NoGrant && len(c.Grants) > 0 {
		return fmt.Errorf("no_grant and grants exclude each other")
	}
	for _, g := range c.Grants {
		if _, _, ok := strings.Cut(g, ":"); !ok {
			return fmt.Errorf("grant %q must be connection:access", g)
		}
	}
	return nil
}

// defaultTransports are the transports a case of kind runs over when it
// names none: every case goes over streamable HTTP and stdio, except those
// whose attack only exists over HTTP (a session id to steal, connections
// to flood).
func defaultTransports(kind string) []string {
	if kind == KindHijack || kind == KindFlood {
		return []string{TransportHTTP}
	}
	return []string{TransportHTTP, TransportStdio}
}

// connection is the connection a case's call names, if any.
func (c *Case) connection() string {
	s, _ := c.Args["connection"].(string)
	return s
}

// grants are the grants to ask for before the call.
func (c *Case) grants() []string {
	if c.NoGrant {
		return nil
	}
	if c.Grants != nil {
		return c.Grants
	}
	if conn := c.connection(); conn != "" {
		return []string{conn + ":read"}
	}
	return nil
}

// Categories lists the categories of cs, sorted.
func Categories(cs []Case) []string {
	var out []string
	for _, c := range cs {
		if !slices.Contains(out, c.Category) {
			out = append(out, c.Category)
		}
	}
	sort.Strings(out)
	return out
}
