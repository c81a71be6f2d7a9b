package config

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func loadMCP(t *testing.T, dir, conn string) (*Config, error) {
	t.Helper()
	y := "identity:\n  dev_issuer: {enabled: true}\nconnections:\n  gh:\n    kind: mcp\n" + conn
	cfg, err := Parse([]byte(y), func(k string) (string, bool) { return "", false })
	if err != nil {
		return nil, err
	}
	cfg.Dir = dir
	cfg.setDefaults()
	return cfg, cfg.Validate()
}

func TestMCPConnection(t *testing.T) {
	dir := t.TempDir()
	cfg, err := loadMCP(t, dir, `
    mcp:
      command: [npx, -y, "@modelcontextprotocol/server-github"]
      env: {GITHUB_PERSONAL_ACCESS_TOKEN: {file: gh.token}}
      dir: work
      tools:
        - {match: "get_*", access: read}
        - {match: create_issue, access: write, effect: approve, alias: gh_new_issue}
        - {match: query, access: read, sql: sql}
`)
	if err != nil {
		t.Fatal(err)
	}
	m := cfg.Connections["gh"].MCP
	if m.Isolation != MCPShared || m.Timeout != DefaultCallTimeout || m.StartTimeout != DefaultMCPStartLimit || m.AcceptNew || m.AllowMedia || m.Resources {
		t.Errorf("defaults: %+v", m)
	}
	if m.Dir != filepath.Join(dir, "work") || m.Env["GITHUB_PERSONAL_ACCESS_TOKEN"].File != filepath.Join(dir, "gh.token") {
		t.Errorf("paths not resolved: %s %+v", m.Dir, m.Env["GITHUB_PERSONAL_ACCESS_TOKEN"])
	}
	if m.Tools[0].Effect != "allow" || m.Tools[1].Alias != "gh_new_issue" {
		t.Errorf("tools: %+v", m.Tools)
	}
	cfg, err = loadMCP(t, dir, `
    mcp: {url: "https://mcp.example.com/mcp", oauth: {token_url: "https://idp.example.com/token", client_id: airlock, client_secret: {env: CC}}, timeout: 5s}
`)
	if err != nil {
		t.Fatal(err)
	}
	if m := cfg.Connections["gh"].MCP; m.Transport != MCPStreamableHTTP || m.Timeout != 5*time.Second {
		t.Errorf("remote defaults: %+v", m)
	}
}

func TestMCPConnectionInvalid(t *testing.T) {
	for _, tc := range []struct{ conn, field, msg string }{
		{``, "connections.gh.mcp", "required for kind mcp"},
		{`    mcp: {}`, "connections.gh.mcp", "give command"},
		{`    mcp: {command: [x], url: "https://a"}`, "connections.gh.mcp", "not both"},
		{`    mcp: {command: [""]}`, "connections.gh.mcp.command[0]", "required"},
		{`    mcp: {command: [x], env: {"bad-name": {env: X}}}`, "connections.gh.mcp.env", "not an environment variable name"},
		{`    mcp: {command: [x], env: {TOKEN: {env: A, file: b}}}`, "connections.gh.mcp.env.TOKEN", "exactly one"},
		{`    mcp: {command: [x], bearer: {env: T}}`, "connections.gh.mcp", "apply to a url only"},
		{`    mcp: {command: [x], isolation: sometimes}`, "connections.gh.mcp.isolation", "shared or per_principal"},
		{`    mcp: {url: "https://a", isolation: per_principal}`, "connections.gh.mcp.isolation", "stdio command"},
		{`    mcp: {url: "ftp://a"}`, "connections.gh.mcp.url", "http(s) URL"},
		{`    mcp: {url: "https://u:p@a"}`, "connections.gh.mcp.url", "must not hold credentials"},
		{`    mcp: {url: "https://a", transport: websocket}`, "connections.gh.mcp.transport", "streamable_http or sse"},
		{`    mcp: {url: "https://a", bearer: {env: A}, oauth: {token_url: "https://t", client_id: c, client_secret: {env: S}}}`, "connections.gh.mcp", "not both"},
		{`    mcp: {url: "https://a", oauth: {token_url: "https://t", client_secret: {env: S}}}`, "connections.gh.mcp.oauth.client_id", "required"},
		{`    mcp: {url: "https://a", oauth: {token_url: "https://t", client_id: c}}`, "connections.gh.mcp.oauth.client_secret", "required"},
		{`    mcp: {url: "https://a", env: {A: {env: B}}}`, "connections.gh.mcp", "stdio command only"},
		{`    mcp: {command: [x], tools: [{access: read}]}`, "connections.gh.mcp.tools[0].match", "required"},
		{`    mcp: {command: [x], tools: [{match: "[", access: read}]}`, "connections.gh.mcp.tools[0].match", "bad glob"},
		{`    mcp: {command: [x], tools: [{match: a}]}`, "connections.gh.mcp.tools[0].access", "required"},
		{`    mcp: {command: [x], tools: [{match: a, access: ddl}]}`, "connections.gh.mcp.tools[0].access", "read, write or admin"},
		{`    mcp: {command: [x], tools: [{match: a, access: read, effect: maybe}]}`, "connections.gh.mcp.tools[0].effect", "allow, approve or deny"},
		{`    mcp: {command: [x], tools: [{match: "a*", access: read, alias: b}]}`, "connections.gh.mcp.tools[0].alias", "literal tool name"},
		{`    mcp: {command: [x], tools: [{match: a, access: read, alias: B}]}`, "connections.gh.mcp.tools[0].alias", "lower-case"},
		{`    mcp: {command: [x], tools: [{match: a, access: read, alias: b}, {match: c, access: read, alias: b}]}`, "connections.gh.mcp.tools[1].alias", "already taken"},
		{`    mcp: {command: [x], tools: [{match: a, access: read, alias: request_access}]}`, "connections.gh.mcp.tools[0].alias", "built-in"},
		{`    mcp: {command: [x], tools: [{match: a, access: read, sql: "no spaces"}]}`, "connections.gh.mcp.tools[0].sql", "argument name"},
	} {
		_, err := loadMCP(t, t.TempDir(), tc.conn)
		var ve *ValidationError
		if !errors.As(err, &ve) || ve.Field != tc.field || !strings.Contains(ve.Msg, tc.msg) {
			t.Errorf("%s: got %v, want %s: …%s…", tc.conn, err, tc.field, tc.msg)
		}
	}
	// Unknown keys are errors naming their path; so is a key of mcp on
	// another kind, and a secret written inline.
	if _, err := loadMCP(t, t.TempDir(), "    mcp: {command: [x], colour: red}"); err == nil || !strings.Contains(err.Error(), "colour") {
		t.Errorf("unknown key: %v", err)
	}
	if _, err := loadMCP(t, t.TempDir(), "    mcp: {url: \"https://a\", bearer: ghp_secret}"); err == nil || strings.Contains(err.Error(), "ghp_secret") {
		t.Errorf("inline secret: %v", err)
	}
	y := "identity:\n  dev_issuer: {enabled: true}\nconnections:\n  db:\n    kind: sqlite\n    path: x.db\n    mcp: {command: [x]}\n"
	cfg, err := Parse([]byte(y), func(string) (string, bool) { return "", false })
	if err == nil {
		cfg.setDefaults()
		err = cfg.Validate()
	}
	if err == nil || !strings.Contains(err.Error(), "connections.db.mcp") {
		t.Errorf("mcp on sqlite: %v", err)
	}
}
