package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func load(t *testing.T, yaml string, vars map[string]string) (*Config, error) {
	t.Helper()
	cfg, err := Parse([]byte(yaml), env(vars))
	if err != nil {
		return nil, err
	}
	cfg.Dir = "/etc/airlock"
	cfg.setDefaults()
	return cfg, cfg.Validate()
}

const minimal = `
identity:
  dev_issuer: {enabled: true}
connections:
  demo: {kind: sqlite, path: demo.db}
`

func TestDefaultsAndRelativePaths(t *testing.T) {
	cfg, err := load(t, minimal, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Server.Listen != DefaultListen || cfg.Limits.MaxRows != DefaultMaxRows || cfg.Limits.CallTimeout != DefaultCallTimeout {
		t.Errorf("defaults not filled: %+v %+v", cfg.Server, cfg.Limits)
	}
	if cfg.Store != "sqlite:/etc/airlock/airlock.db" {
		t.Errorf("store = %q", cfg.Store)
	}
	if got := cfg.Connections["demo"].Path; got != "/etc/airlock/demo.db" {
		t.Errorf("path = %q", got)
	}
	if cfg.Identity.Issuer != "http://127.0.0.1:8080/oidc" {
		t.Errorf("issuer = %q", cfg.Identity.Issuer)
	}
	if cfg.Identity.DevIssuer.KeyFile != "/etc/airlock/dev-issuer.pem" {
		t.Errorf("key file = %q", cfg.Identity.DevIssuer.KeyFile)
	}
	if cfg.Console.ClientID != DefaultConsoleClientID || cfg.Console.SessionTTL != DefaultConsoleSessionTTL || cfg.Console.Disabled {
		t.Errorf("console defaults: %+v", cfg.Console)
	}
}

func TestEnvInterpolation(t *testing.T) {
	cfg, err := load(t, minimal+`
  wh:
    kind: postgres
    dsn: postgres://app@${PGHOST}:5432/db
    password: {env: WH_PASSWORD}
limits:
  call_timeout: ${TIMEOUT}
`, map[string]string{"PGHOST": "db.internal", "TIMEOUT": "45s"})
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Connections["wh"].DSN; got != "postgres://app@db.internal:5432/db" {
		t.Errorf("dsn = %q", got)
	}
	if cfg.Limits.CallTimeout != 45*time.Second {
		t.Errorf("call_timeout = %v", cfg.Limits.CallTimeout)
	}
	if got, _ := expand("a$${B}c", env(nil)); got != "a${B}c" {
		t.Errorf("escape: %q", got)
	}
}

func TestInvalid(t *testing.T) {
	cases := []struct {
		name, yaml, field, msg string
	}{
		{"unknown top-level key", minimal + "bogus: 1\n", "bogus", "unknown key"},
		{"unknown nested key", minimal + "  other:\n    kind: sqlite\n    dsnn: x\n", "connections.other.dsnn", "unknown key"},
		{"unknown server key", "server: {lisen: x}\n" + minimal, "server.lisen", "unknown key"},
		{"unset env var", minimal + "server: {listen: \"${NOPE}\"}\n", "server.listen", "NOPE is not set"},
		{"no issuer", "connections: {}\n", "identity.issuer", "required"},
		{"bad kind", minimal + "  x: {kind: mysql}\n", "connections.x.kind", "unknown kind"},
		{"missing kind", minimal + "  x: {path: a}\n", "connections.x.kind", "required"},
		{"password in dsn", minimal + "  pg: {kind: postgres, dsn: 'postgres://u:secret@h/db'}\n", "connections.pg.dsn", "must not contain a password"},
		{"password query in dsn", minimal + "  pg: {kind: postgres, dsn: 'postgres://u@h/db?password=x'}\n", "connections.pg.dsn", "must not contain a password"},
		{"simple protocol dsn", minimal + "  pg: {kind: postgres, dsn: 'postgres://u@h/db?default_query_exec_mode=simple_protocol'}\n", "connections.pg.dsn", "extended protocol"},
		{"secret both", minimal + "  pg: {kind: postgres, dsn: 'postgres://u@h/db', password: {env: A, file: b}}\n", "connections.pg.password", "exactly one"},
		{"sqlite no path", minimal + "  s: {kind: sqlite}\n", "connections.s.path", "required"},
		{"unknown seed", minimal + "  s: {kind: sqlite, path: x, seed: prod}\n", "connections.s.seed", "unknown seed"},
		{"rule bad access", minimal + "rules: [{groups: [a], connections: [demo], access: [root], effect: allow}]\n", "rules[0]", "unknown access class"},
		{"rule bad effect", minimal + "rules: [{groups: [a], connections: [demo], access: [read], effect: maybe}]\n", "rules[0]", "unknown effect"},
		{"rule unknown conn", minimal + "rules: [{groups: [a], connections: [nope], access: [read], effect: allow}]\n", "rules[0].connections", "unknown connection"},
		{"rule no groups", minimal + "rules: [{connections: [demo], access: [read], effect: allow}]\n", "rules[0]", "groups"},
		{"statement timeout above call", minimal + "limits: {call_timeout: 5s, statement_timeout: 10s}\n", "limits.statement_timeout", "at most"},
		{"bad duration", minimal + "limits: {call_timeout: {a: 1}}\n", "limits.call_timeout", "duration"},
		{"store scheme", minimal + "store: mysql://x\n", "store", "sqlite:PATH or a postgres:// URL"},
		{"store password in url", minimal + "store: 'postgres://u:pw@h/db'\n", "store", "store_password"},
		{"store password query", minimal + "store: 'postgres://u@h/db?password=pw'\n", "store", "must not contain a password"},
		{"store no host", minimal + "store: 'postgres:///db'\n", "store", "postgres://USER@HOST"},
		{"store password bad ref", minimal + "store: 'postgres://u@h/db'\nstore_password: {env: A, file: b}\n", "store_password", "exactly one"},
		{"store password for sqlite", minimal + "store: sqlite:x.db\nstore_password: {env: A}\n", "store_password", "postgres:// store only"},
		{"webhook without secret", minimal + "approvals: {webhook_url: 'https://hooks.example/x'}\n", "approvals.webhook_secret", "required with webhook_url"},
		{"webhook secret without url", minimal + "approvals: {webhook_secret: {env: WH}}\n", "approvals.webhook_secret", "only together with webhook_url"},
		{"stdio principal", minimal + "  stdio_principal: {groups: [a]}\n", "", ""},
		{"unknown console key", minimal + "console: {client: x}\n", "console.client", "unknown key"},
		{"console session too short", minimal + "console: {session_ttl: 10s}\n", "console.session_ttl", "between 1m and 168h"},
		{"console session too long", minimal + "console: {session_ttl: 400h}\n", "console.session_ttl", "between 1m and 168h"},
		{"console secret inline", minimal + "console: {client_secret: hunter2}\n", "console.client_secret", "by reference"},
		{"console secret both", minimal + "console: {client_secret: {env: A, file: b}}\n", "console.client_secret", "exactly one"},
		{"auditors not a list", minimal + "admin: {auditors: {a: 1}}\n", "admin.auditors", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, tc.yaml, nil)
			if tc.field == "" {
				return // just must not panic
			}
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.field+":") || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q should name %q and say %q", err, tc.field, tc.msg)
			}
		})
	}
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "airlock.yaml")
	if err := os.WriteFile(p, []byte(minimal), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Connections["demo"].Path != filepath.Join(dir, "demo.db") {
		t.Errorf("path not resolved against config dir: %q", cfg.Connections["demo"].Path)
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml")); err == nil {
		t.Error("missing file loaded")
	}
}

func TestSecretRef(t *testing.T) {
	t.Setenv("AIRLOCK_TEST_SECRET", "s3cret")
	if v, err := (&SecretRef{Env: "AIRLOCK_TEST_SECRET"}).Resolve(); err != nil || v != "s3cret" {
		t.Errorf("env: %q %v", v, err)
	}
	f := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(f, []byte("filepw\n"), 0o600)
	if v, err := (&SecretRef{File: f}).Resolve(); err != nil || v != "filepw" {
		t.Errorf("file: %q %v", v, err)
	}
	_, err := (&SecretRef{Env: "AIRLOCK_TEST_UNSET_X"}).Resolve()
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("unset env: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(minimal))
	f.Add([]byte("server: {listen: ${X}}\nrules: [{groups: [a]}]"))
	f.Add([]byte("a: &x 1\nb: *x"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data, env(map[string]string{"X": "1"}))
		if err == nil {
			cfg.setDefaults()
			_ = cfg.Validate()
		}
	})
}

func BenchmarkParse(b *testing.B) {
	data := []byte(minimal + "rules: [{groups: [a], connections: [demo], access: [read], effect: allow}]\n")
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Parse(data, env(nil)); err != nil {
			b.Fatal(err)
		}
	}
}

func TestJournalConfig(t *testing.T) {
	cfg, err := load(t, minimal+"journal: {retention: 90d, checkpoint_interval: 1m}\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Journal.Retention.Std() != 90*24*time.Hour || cfg.Journal.CheckpointInterval.Std() != time.Minute {
		t.Errorf("journal: %+v", cfg.Journal)
	}
	if cfg.Journal.CheckpointKeyFile != "/etc/airlock/journal-checkpoint.key" || cfg.Journal.MaxRecordBytes != DefaultMaxRecordBytes {
		t.Errorf("defaults: %+v", cfg.Journal)
	}
	for _, bad := range []string{"journal: {retention: 5x}\n", "journal: {retention: 10m}\n", "journal: {max_record_bytes: 10}\n"} {
		if _, err := load(t, minimal+bad, nil); err == nil || !strings.Contains(err.Error(), "journal.") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestDeclaredToolsInvalid(t *testing.T) {
	base := minimal + "tools:\n"
	cases := []struct{ yaml, field, msg string }{
		{"  - {name: Bad-Name, kind: sql, connection: demo, description: d, statement: SELECT 1}\n", "tools[0].name", "lower-case"},
		{"  - {name: query_db, kind: sql, connection: demo, description: d, statement: SELECT 1}\n", "tools[0].name", "taken"},
		{"  - {name: t1, kind: sql, connection: nope, description: d, statement: SELECT 1}\n", "tools.t1.connection", "unknown connection"},
		{"  - {name: t1, kind: sql, connection: demo, statement: SELECT 1}\n", "tools.t1.description", "required"},
		{"  - {name: t1, kind: nosql, connection: demo, description: d, statement: SELECT 1}\n", "tools.t1.kind", "unknown kind"},
		{"  - {name: t1, kind: sql, connection: demo, description: d}\n", "tools.t1.statement", "required"},
		{"  - {name: t1, kind: sql, connection: demo, description: d, statement: 'SELECT $2'}\n", "tools.t1.statement", "uses $2"},
		{"  - {name: t1, kind: sql, connection: demo, description: d, statement: 'SELECT 1', params: [{name: a, type: string}]}\n", "tools.t1.statement", "not used"},
		{"  - {name: t1, kind: sql, connection: demo, description: d, statement: 'SELECT $1', params: [{name: a, type: text}]}\n", "tools.t1.params[0].type", "unknown type"},
		{"  - {name: t1, kind: sql, connection: demo, description: d, statement: 'SELECT $1', params: [{name: a, type: integer, pattern: x}]}\n", "tools.t1.params[0].pattern", "strings only"},
		{"  - {name: t1, kind: sql, connection: demo, description: d, statement: 'SELECT $1', params: [{name: a, from_claim: sub, optional: true}]}\n", "tools.t1.params[0].from_claim", "cannot be optional"},
		{"  - {name: t1, kind: sql, connection: demo, description: d, statement: 'SELECT $1', params: [{name: a, type: string, colour: red}]}\n", "tools[0].params[0].colour", "unknown key"},
	}
	for _, tc := range cases {
		_, err := load(t, base+tc.yaml, nil)
		if err == nil || !strings.Contains(err.Error(), tc.field+":") || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: got %v, want %s: ...%s", tc.yaml, err, tc.field, tc.msg)
		}
	}
	if _, err := load(t, base+"  - {name: ok_tool, kind: sql, connection: demo, description: d, statement: 'SELECT * FROM t WHERE a = $1 AND b = $2', params: [{name: a, type: integer, minimum: 1}, {name: b, from_claim: sub}]}\n", nil); err != nil {
		t.Errorf("valid declared tool refused: %v", err)
	}
}

func TestDeclaredSSHAndHTTPTools(t *testing.T) {
	conns := `
  web1:
    kind: ssh
    address: 127.0.0.1:22
    user: ops
    password: {env: X}
    host_key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKi6HwN1R0oP+cfCr+oEbpGQUTMbdk4h/ekU4Pt0JVJ3"
    commands: [{name: df, argv: [df, -h]}]
  api: {kind: http, base_url: "http://127.0.0.1:9/api", allow_private_network: true}
tools:
`
	ok := []string{
		"  - {name: unit_status, kind: ssh, connection: web1, description: d, argv: [systemctl, status, '{unit}'], params: [{name: unit, type: string, enum: [nginx]}]}\n",
		"  - {name: get_customer, kind: http, connection: api, description: d, method: GET, path: '/customers/{id}', params: [{name: id, type: integer}]}\n",
		"  - {name: note, kind: http, connection: api, description: d, method: POST, path: /notes, body: {text: '{text}', tags: ['{tag}']}, params: [{name: text, type: string}, {name: tag, type: string}]}\n",
		"  - {name: read_log, kind: ssh, connection: web1, description: d, argv: [cat, '{f}'], params: [{name: f, type: string, path: {under: /var/log/app}}]}\n",
	}
	for _, y := range ok {
		if _, err := load(t, minimal+conns+y, map[string]string{"X": "pw"}); err != nil {
			t.Errorf("%s: %v", y, err)
		}
	}
	bad := []struct{ yaml, field string }{
		{"  - {name: t1, kind: ssh, connection: web1, description: d, argv: ['{p}', x], params: [{name: p, type: string}]}\n", "tools.t1.argv[0]"},
		{"  - {name: t1, kind: ssh, connection: web1, description: d, argv: [ls, 'a{p}'], params: [{name: p, type: string}]}\n", "tools.t1.argv[1]"},
		{"  - {name: t1, kind: ssh, connection: api, description: d, argv: [ls]}\n", "tools.t1.connection"},
		{"  - {name: t1, kind: http, connection: api, description: d, method: GET, path: '/x/{nope}'}\n", "tools.t1.path"},
		{"  - {name: t1, kind: http, connection: api, description: d, method: GET, path: /x, params: [{name: p, type: string}]}\n", "tools.t1.path"},
		{"  - {name: t1, kind: ssh, connection: web1, description: d, argv: [cat, '{f}'], params: [{name: f, type: string, path: {under: var/log}}]}\n", "tools.t1.params[0].path"},
		{"  - {name: t1, kind: ssh, connection: web1, description: d, argv: [cat, '{f}'], params: [{name: f, type: string, path: {under: /var/log/../etc}}]}\n", "tools.t1.params[0].path"},
		{"  - {name: t1, kind: ssh, connection: web1, description: d, argv: [cat, '{f}'], params: [{name: f, type: integer, path: {under: /var/log}}]}\n", "tools.t1.params[0].path"},
		{"  - {name: t1, kind: http, connection: api, description: d, method: GET, path: '/x/{f}', params: [{name: f, type: string, path: {under: /x}}]}\n", "tools.t1.params[0].path"},
	}
	for _, b := range bad {
		_, err := load(t, minimal+conns+b.yaml, map[string]string{"X": "pw"})
		if err == nil || !strings.Contains(err.Error(), b.field+":") {
			t.Errorf("%s: %v (want %s)", b.yaml, err, b.field)
		}
	}
}
