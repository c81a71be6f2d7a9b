package config

import (
	"fmt"
	"net/url"
	"path"
	"regexp"
	"slices"
	"time"

	"github.com/airlockhq/airlock/policy"
)

// KindMCP is an upstream MCP server whose tools Airlock re-exports through
// its own pipeline (tools/upstream; docs/upstream.md).
const KindMCP = "mcp"

// MCPSettings configure a connection of kind mcp: an upstream MCP server,
// either a command the gateway starts (stdio) or a remote server (url).
type MCPSettings struct {
	// Command is the argv of a stdio server, started by the gateway with
	// only Env (and PATH, HOME) in its environment, in Dir.
	Command []string `yaml:"command"`
	// Env are the server's environment variables, each by reference:
	// {env: NAME} or {file: PATH}. The gateway's own environment is not
	// passed on.
	Env map[string]*SecretRef `yaml:"env"`
	Dir string                `yaml:"dir"`
	// Isolation is shared (one process for every caller, the default) or
	// per_principal (one process per verified subject).
	Isolation string `yaml:"isolation"`

	// URL is a remote server; Transport is streamable_http (default) or
	// sse. The gateway authenticates with Bearer or OAuth, never with the
	// agent's token.
	URL       string     `yaml:"url"`
	Transport string     `yaml:"transport"`
	Bearer    *SecretRef `yaml:"bearer"`
	OAuth     *MCPOAuth  `yaml:"oauth"`

	// Timeout bounds one upstream call (default: limits.call_timeout);
	// StartTimeout bounds starting and initialising the server.
	Timeout      time.Duration `yaml:"timeout"`
	StartTimeout time.Duration `yaml:"start_timeout"`
	// Tools map upstream tool names (globs, first match wins) to what
	// Airlock needs to know about them. An unmapped tool needs admin.
	Tools []MCPToolRule `yaml:"tools"`
	// AcceptNew lets tools seen for the first time be used at once
	// (trust on first use); by default an admin accepts each new tool.
	// A changed tool always waits for an admin.
	AcceptNew bool `yaml:"accept_new"`
	// AllowMedia passes images and audio through; by default they are
	// dropped (masking cannot read them) and the agent is told so.
	AllowMedia bool `yaml:"allow_media"`
	// Resources re-exports resources/read as the tool
	// <connection>_read_resource, a read call.
	Resources bool `yaml:"resources"`
}

// MCPOAuth is the OAuth 2.0 client-credentials grant the gateway uses to
// get its own token for a remote server.
type MCPOAuth struct {
	TokenURL     string     `yaml:"token_url"`
	ClientID     string     `yaml:"client_id"`
	ClientSecret *SecretRef `yaml:"client_secret"`
	Scopes       []string   `yaml:"scopes"`
}

// MCPToolRule classifies upstream tools by name.
type MCPToolRule struct {
	// Match is a glob (path.Match) over the upstream tool's name.
	Match string `yaml:"match"`
	// Access is the class a call needs: read, write or admin.
	Access policy.Access `yaml:"access"`
	// Effect is allow (default), approve (a human approves each call) or
	// deny (the tool is never offered).
	Effect string `yaml:"effect"`
	// Alias renames a tool matched by a literal Match (default
	// <connection>_<tool>).
	Alias string `yaml:"alias"`
	// SQL names an argument that carries PostgreSQL: Airlock classifies it
	// itself, the call needs the stricter of Access and the statement's
	// class, and more than one statement is refused.
	SQL string `yaml:"sql"`
}

// Upstream defaults.
const (
	MCPShared            = "shared"
	MCPPerPrincipal      = "per_principal"
	MCPStreamableHTTP    = "streamable_http"
	MCPSSE               = "sse"
	DefaultMCPStartLimit = 30 * time.Second
)

var mcpNameRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$`)

func (m *MCPSettings) setDefaults(c *Config) {
	if m.Isolation == "" {
		m.Isolation = MCPShared
	}
	if m.URL != "" && m.Transport == "" {
		m.Transport = MCPStreamableHTTP
	}
	if m.Timeout == 0 {
		m.Timeout = c.Limits.CallTimeout
	}
	if m.StartTimeout == 0 {
		m.StartTimeout = DefaultMCPStartLimit
	}
	if m.Dir != "" {
		m.Dir = c.Resolve(m.Dir)
	}
	for _, s := range m.Env {
		if s != nil && s.File != "" {
			s.File = c.Resolve(s.File)
		}
	}
	if m.Bearer != nil && m.Bearer.File != "" {
		m.Bearer.File = c.Resolve(m.Bearer.File)
	}
	if m.OAuth != nil && m.OAuth.ClientSecret != nil && m.OAuth.ClientSecret.File != "" {
		m.OAuth.ClientSecret.File = c.Resolve(m.OAuth.ClientSecret.File)
	}
	for i := range m.Tools {
		if m.Tools[i].Effect == "" {
			m.Tools[i].Effect = "allow"
		}
	}
}

func (m *MCPSettings) validate(field string, conn *Connection) error {
	if m == nil {
		return invalid(field+".mcp", "required for kind mcp: {command: [...]} or {url: ...}")
	}
	field += ".mcp"
	if conn.DSN != "" || conn.Password != nil || conn.Path != "" || conn.Seed != "" {
		return invalid(field, "dsn, password, path and seed do not apply to kind mcp")
	}
	switch {
	case len(m.Command) > 0 && m.URL != "":
		return invalid(field, "give command (stdio) or url (remote), not both")
	case len(m.Command) == 0 && m.URL == "":
		return invalid(field, "give command (a stdio server's argv) or url (a remote server)")
	}
	for k, s := range m.Env {
		if !validEnvName(k) {
			return invalid(field+".env", "%q is not an environment variable name", k)
		}
		if s == nil {
			return invalid(field+".env."+k, "%s", secretHint)
		}
		if err := s.check(field + ".env." + k); err != nil {
			return err
		}
	}
	if len(m.Command) > 0 {
		if m.Command[0] == "" {
			return invalid(field+".command[0]", "the program is required")
		}
		if m.Bearer != nil || m.OAuth != nil || m.Transport != "" {
			return invalid(field, "bearer, oauth and transport apply to a url only; a stdio server gets its credentials in env")
		}
	}
	switch m.Isolation {
	case MCPShared:
	case MCPPerPrincipal:
		if m.URL != "" {
			return invalid(field+".isolation", "per_principal applies to a stdio command (one process per caller)")
		}
	default:
		return invalid(field+".isolation", "must be shared or per_principal")
	}
	if m.URL != "" {
		u, err := url.Parse(m.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return invalid(field+".url", "must be an http(s) URL")
		}
		if u.User != nil {
			return invalid(field+".url", "must not hold credentials; use bearer or oauth (by reference)")
		}
		if len(m.Env) > 0 || m.Dir != "" {
			return invalid(field, "env and dir apply to a stdio command only")
		}
		if m.Transport != MCPStreamableHTTP && m.Transport != MCPSSE {
			return invalid(field+".transport", "must be streamable_http or sse")
		}
		if m.Bearer != nil && m.OAuth != nil {
			return invalid(field, "give bearer or oauth, not both")
		}
		if err := m.Bearer.check(field + ".bearer"); err != nil {
			return err
		}
		if o := m.OAuth; o != nil {
			if tu, err := url.Parse(o.TokenURL); err != nil || (tu.Scheme != "http" && tu.Scheme != "https") || tu.Host == "" {
				return invalid(field+".oauth.token_url", "must be an http(s) URL")
			}
			if o.ClientID == "" {
				return invalid(field+".oauth.client_id", "required")
			}
			if o.ClientSecret == nil {
				return invalid(field+".oauth.client_secret", "required; %s", secretHint)
			}
			if err := o.ClientSecret.check(field + ".oauth.client_secret"); err != nil {
				return err
			}
		}
	}
	if m.Timeout < 0 || m.StartTimeout < 0 {
		return invalid(field+".timeout", "must be positive")
	}
	aliases := map[string]bool{}
	for i, r := range m.Tools {
		f := fmt.Sprintf("%s.tools[%d]", field, i)
		if r.Match == "" {
			return invalid(f+".match", "required: an upstream tool name or glob")
		}
		if _, err := path.Match(r.Match, ""); err != nil {
			return invalid(f+".match", "bad glob: %v", err)
		}
		switch r.Access {
		case policy.Read, policy.Write, policy.Admin:
		case "":
			return invalid(f+".access", "required: read, write or admin")
		default:
			return invalid(f+".access", "must be read, write or admin")
		}
		switch r.Effect {
		case "allow", "approve", "deny":
		default:
			return invalid(f+".effect", "must be allow, approve or deny")
		}
		if r.Alias != "" {
			if !toolNameRE.MatchString(r.Alias) {
				return invalid(f+".alias", "must be lower-case letters, digits and _ (start with a letter, at most 64)")
			}
			if !mcpNameRE.MatchString(r.Match) {
				return invalid(f+".alias", "applies to a literal tool name, not a glob")
			}
			if slices.Contains(BuiltinTools, r.Alias) {
				return invalid(f+".alias", "%q is a built-in tool", r.Alias)
			}
			if aliases[r.Alias] {
				return invalid(f+".alias", "%q is already taken", r.Alias)
			}
			aliases[r.Alias] = true
		}
		if r.SQL != "" && !paramNameRE.MatchString(r.SQL) && !mcpNameRE.MatchString(r.SQL) {
			return invalid(f+".sql", "must be an argument name")
		}
	}
	return nil
}
