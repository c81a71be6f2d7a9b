// Package config loads, checks and defaults airlock.yaml: listeners,
// identity, the store, connections, access rules and limits. Decoding is
// strict (an unknown key is an error naming its path), ${ENV} references
// are expanded in values, and credentials are only ever given by reference.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/airlockhq/airlock/policy"
)

// Config is the whole airlock.yaml.
type Config struct {
	Server      Server                 `yaml:"server"`
	Identity    Identity               `yaml:"identity"`
	Store       string                 `yaml:"store"`
	Connections map[string]*Connection `yaml:"connections"`
	Rules       []policy.Rule          `yaml:"rules"`
	Limits      Limits                 `yaml:"limits"`
	Journal     Journal                `yaml:"journal"`
	Approvals   Approvals              `yaml:"approvals"`
	Admin       Admin                  `yaml:"admin"`
	Masking     Masking                `yaml:"masking"`
	Console     Console                `yaml:"console"`
	// Tools are declared tools (see DeclaredTool).
	Tools []DeclaredTool `yaml:"tools"`

	// StorePassword is the password of a postgres:// store, by reference.
	StorePassword *SecretRef `yaml:"store_password"`

	// Dir is the folder of the config file; relative paths resolve against it.
	Dir string `yaml:"-"`
}

// Server configures the HTTP listener.
type Server struct {
	Listen string `yaml:"listen"`
	// PublicURL is how clients reach the gateway; it names the protected
	// resource in RFC 9728 metadata and roots the dev issuer's URL.
	PublicURL      string        `yaml:"public_url"`
	AllowedOrigins []string      `yaml:"allowed_origins"`
	ShutdownGrace  time.Duration `yaml:"shutdown_grace"`
	// SessionIdleTimeout ends an MCP session (streamable HTTP or SSE) with
	// no request for this long; MaxSessionsPerPrincipal bounds one
	// principal's open sessions (the least recently used one is closed to
	// admit a new one).
	SessionIdleTimeout      time.Duration `yaml:"session_idle_timeout"`
	MaxSessionsPerPrincipal int           `yaml:"max_sessions_per_principal"`
	// MaxConnsPerClient bounds open HTTP connections per client address;
	// MaxCallsPerPrincipal the requests one principal has in flight;
	// MaxInflightBytes the request bodies being read or handled at once,
	// across all callers.
	MaxConnsPerClient    int   `yaml:"max_conns_per_client"`
	MaxCallsPerPrincipal int   `yaml:"max_calls_per_principal"`
	MaxInflightBytes     int64 `yaml:"max_inflight_bytes"`
	// MetricsListen is where Prometheus metrics are served (GET /metrics,
	// no authentication), apart from the MCP listener; empty: not served.
	// Keep it on loopback or a network only the scraper reaches.
	MetricsListen string `yaml:"metrics_listen"`
}

// Identity configures how callers prove who they are.
type Identity struct {
	Issuer      string    `yaml:"issuer"`
	Audience    string    `yaml:"audience"`
	GroupsClaim string    `yaml:"groups_claim"`
	DevIssuer   DevIssuer `yaml:"dev_issuer"`
	// StdioPrincipal is a fixed local principal for `serve --stdio` when no
	// AIRLOCK_TOKEN is set. Absent means a token is required.
	StdioPrincipal *StdioPrincipal `yaml:"stdio_principal"`
}

// DevIssuer is the built-in OIDC issuer for development and tests.
type DevIssuer struct {
	Enabled bool `yaml:"enabled"`
	// KeyFile holds the RSA signing key, created on first use. Default:
	// dev-issuer.pem beside the store.
	KeyFile string `yaml:"key_file"`
}

// StdioPrincipal is the identity given to stdio calls without a token.
type StdioPrincipal struct {
	Subject string   `yaml:"subject"`
	Groups  []string `yaml:"groups"`
}

// Connection is one target system. Which fields apply depends on Kind.
type Connection struct {
	Kind        string `yaml:"kind"`
	Description string `yaml:"description"`

	// postgres
	DSN      string     `yaml:"dsn"`
	Password *SecretRef `yaml:"password"`
	MaxConns int32      `yaml:"max_conns"`

	// sqlite
	Path string `yaml:"path"`
	// Seed names a built-in data set used to create the file on first run.
	Seed string `yaml:"seed"`

	// MaxRows overrides limits.max_rows for this connection.
	MaxRows int `yaml:"max_rows"`
	// MaxResultTokens overrides limits.max_result_tokens.
	MaxResultTokens int `yaml:"max_result_tokens"`
	// AllowBinary lets query_db return binary values that are not text
	// (bytea, BLOB) as base64; by default they are replaced by a size
	// marker, since masking cannot read them.
	AllowBinary bool `yaml:"allow_binary"`
	// Functions are the non-catalog functions (user-defined, extensions)
	// a read may call on this connection; '*' in a name matches any run
	// of characters. Any other non-catalog function needs admin access.
	Functions []string `yaml:"functions"`

	// Options configure a custom connection (kind custom); values may use
	// ${ENV} like everything else, but secrets belong in SecretRefs.
	Options map[string]string `yaml:"options"`

	SSH  SSHSettings  `yaml:",inline"`
	HTTP HTTPSettings `yaml:",inline"`
	// MCP configures an upstream MCP server (kind mcp, config/mcp.go).
	MCP *MCPSettings `yaml:"mcp"`
}

// SecretRef names where a credential lives; the value itself is never in
// the config file.
type SecretRef struct {
	Env  string `yaml:"env"`
	File string `yaml:"file"`
}

// Approvals configures how held requests wait and are announced.
type Approvals struct {
	// Wait is how long a held call or grant request waits for a decision
	// (sending progress notifications) before answering "pending".
	Wait time.Duration `yaml:"wait"`
	// TTL is how long a request may stay undecided, and how long an
	// approved call stays usable.
	TTL time.Duration `yaml:"ttl"`
	// WebhookURL receives a JSON POST (Slack-compatible "text") for each
	// new request and decision.
	WebhookURL string `yaml:"webhook_url"`
	// WebhookSecret, by reference, is the HMAC-SHA256 key that signs each
	// webhook POST (header Airlock-Signature: t=UNIX,v1=HEX over
	// "UNIX.BODY"), so the receiver can tell the gateway's messages from
	// anyone else's. Required with webhook_url.
	WebhookSecret *SecretRef `yaml:"webhook_secret"`
	// Slack, when set, posts requests to Slack with Approve and Deny
	// buttons (see config/slack.go).
	Slack *Slack `yaml:"slack"`
}

// Admin configures the admin API's roles.
type Admin struct {
	// Groups whose members may list and revoke any grant and see every
	// request.
	Groups []string `yaml:"groups"`
	// Auditors are the groups whose members may read the journal in the
	// console (search, a call's record, replay, export, chain status).
	Auditors []string `yaml:"auditors"`
}

// Approval defaults.
const (
	DefaultApprovalWait = 30 * time.Second
	DefaultApprovalTTL  = time.Hour
)

func (a *Approvals) validate() error {
	if a.Wait < 0 || a.Wait > 10*time.Minute {
		return invalid("approvals.wait", "must be between 0s and 10m")
	}
	if a.TTL < time.Second {
		return invalid("approvals.ttl", "must be at least 1s")
	}
	if a.WebhookURL != "" {
		u, err := url.Parse(a.WebhookURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return invalid("approvals.webhook_url", "must be an http(s) URL")
		}
	}
	switch {
	case a.WebhookURL != "" && a.WebhookSecret == nil:
		return invalid("approvals.webhook_secret", "required with webhook_url: the key that signs each POST so the receiver can verify it "+
			"(e.g. `openssl rand -hex 32 > webhook.key`, then webhook_secret: {file: webhook.key}, or {env: NAME})")
	case a.WebhookURL == "" && a.WebhookSecret != nil:
		return invalid("approvals.webhook_secret", "applies only together with webhook_url")
	}
	if err := a.WebhookSecret.check("approvals.webhook_secret"); err != nil {
		return err
	}
	return a.Slack.validate()
}

// Limits bound every call.
type Limits struct {
	CallTimeout      time.Duration `yaml:"call_timeout"`
	StatementTimeout time.Duration `yaml:"statement_timeout"`
	MaxRows          int           `yaml:"max_rows"`
	// MaxResultTokens caps what one call returns, counted with
	// TokenEncoding; the result is cut at a row or line boundary.
	MaxResultTokens int    `yaml:"max_result_tokens"`
	TokenEncoding   string `yaml:"token_encoding"`
}

// Connection kinds known to the foundation.
const (
	KindPostgres = "postgres"
	KindSQLite   = "sqlite"
	KindSSH      = "ssh"
	KindHTTP     = "http"
	// KindCustom is a connection served by a tool kind registered in Go
	// (see examples/custom-tool); Options carry its settings.
	KindCustom = "custom"
)

// Default values filled by Load.
const (
	DefaultListen           = "127.0.0.1:8080"
	DefaultAudience         = "airlock"
	DefaultGroupsClaim      = "groups"
	DefaultStore            = "sqlite:airlock.db"
	DefaultCallTimeout      = 30 * time.Second
	DefaultStatementTimeout = 15 * time.Second
	DefaultMaxRows          = 1000
	DefaultShutdownGrace    = 30 * time.Second
	// Sessions and HTTP load bounds (server.*).
	DefaultSessionIdleTimeout      = 30 * time.Minute
	DefaultMaxSessionsPerPrincipal = 16
	DefaultMaxConnsPerClient       = 64
	DefaultMaxCallsPerPrincipal    = 16
	DefaultMaxInflightBytes        = 64 << 20
	DevIssuerPath                  = "/oidc"
)

// ValidationError is a problem with one field of the config.
type ValidationError struct {
	Field string // dotted path, e.g. connections.demo.kind
	Msg   string
}

func (e *ValidationError) Error() string { return fmt.Sprintf("config: %s: %s", e.Field, e.Msg) }

func invalid(field, format string, args ...any) error {
	return &ValidationError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Load reads, decodes, defaults and validates the config file at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	cfg, err := Parse(data, os.LookupEnv)
	if err != nil {
		return nil, err
	}
	cfg.Dir = filepath.Dir(abs)
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// setDefaults fills every field left empty and resolves relative paths
// against the config's folder.
func (c *Config) setDefaults() {
	if c.Server.Listen == "" {
		c.Server.Listen = DefaultListen
	}
	if c.Server.PublicURL == "" {
		c.Server.PublicURL = "http://" + c.Server.Listen
	}
	c.Server.PublicURL = strings.TrimSuffix(c.Server.PublicURL, "/")
	if c.Server.ShutdownGrace == 0 {
		c.Server.ShutdownGrace = DefaultShutdownGrace
	}
	if c.Server.SessionIdleTimeout == 0 {
		c.Server.SessionIdleTimeout = DefaultSessionIdleTimeout
	}
	if c.Server.MaxSessionsPerPrincipal == 0 {
		c.Server.MaxSessionsPerPrincipal = DefaultMaxSessionsPerPrincipal
	}
	if c.Server.MaxConnsPerClient == 0 {
		c.Server.MaxConnsPerClient = DefaultMaxConnsPerClient
	}
	if c.Server.MaxCallsPerPrincipal == 0 {
		c.Server.MaxCallsPerPrincipal = DefaultMaxCallsPerPrincipal
	}
	if c.Server.MaxInflightBytes == 0 {
		c.Server.MaxInflightBytes = DefaultMaxInflightBytes
	}
	if c.Identity.Audience == "" {
		c.Identity.Audience = DefaultAudience
	}
	if c.Identity.GroupsClaim == "" {
		c.Identity.GroupsClaim = DefaultGroupsClaim
	}
	if c.Store == "" {
		c.Store = DefaultStore
	}
	if p, ok := strings.CutPrefix(c.Store, "sqlite:"); ok {
		c.Store = "sqlite:" + c.Resolve(p)
	}
	if c.Identity.DevIssuer.Enabled {
		if c.Identity.DevIssuer.KeyFile == "" {
			c.Identity.DevIssuer.KeyFile = filepath.Join(c.StoreDir(), "dev-issuer.pem")
		}
		c.Identity.DevIssuer.KeyFile = c.Resolve(c.Identity.DevIssuer.KeyFile)
		if c.Identity.Issuer == "" {
			c.Identity.Issuer = c.DevIssuerURL()
		}
	}
	if c.Limits.CallTimeout == 0 {
		c.Limits.CallTimeout = DefaultCallTimeout
	}
	if c.Limits.StatementTimeout == 0 {
		c.Limits.StatementTimeout = min(DefaultStatementTimeout, c.Limits.CallTimeout)
	}
	if c.Limits.MaxRows == 0 {
		c.Limits.MaxRows = DefaultMaxRows
	}
	if c.Limits.MaxResultTokens == 0 {
		c.Limits.MaxResultTokens = DefaultMaxResultTokens
	}
	if c.Limits.TokenEncoding == "" {
		c.Limits.TokenEncoding = DefaultTokenEncoding
	}
	c.Journal.setDefaults(c)
	c.Console.setDefaults(c)
	for i := range c.Rules {
		c.Rules[i].SetDefaults()
	}
	if c.Approvals.Wait == 0 {
		c.Approvals.Wait = DefaultApprovalWait
	}
	if c.Approvals.TTL == 0 {
		c.Approvals.TTL = DefaultApprovalTTL
	}
	if s := c.Approvals.WebhookSecret; s != nil && s.File != "" {
		s.File = c.Resolve(s.File)
	}
	if sl := c.Approvals.Slack; sl != nil {
		for _, s := range []*SecretRef{sl.BotToken, sl.SigningSecret} {
			if s != nil && s.File != "" {
				s.File = c.Resolve(s.File)
			}
		}
	}
	for _, conn := range c.Connections {
		if conn == nil {
			continue
		}
		if conn.Path != "" {
			conn.Path = c.Resolve(conn.Path)
		}
		if conn.Password != nil && conn.Password.File != "" {
			conn.Password.File = c.Resolve(conn.Password.File)
		}
		if conn.MaxRows == 0 {
			conn.MaxRows = c.Limits.MaxRows
		}
		if conn.MaxConns == 0 {
			conn.MaxConns = 4
		}
		switch conn.Kind {
		case KindSSH:
			conn.SSH.setDefaults(c)
		case KindHTTP:
			conn.HTTP.setDefaults(c)
		case KindMCP:
			if conn.MCP != nil {
				conn.MCP.setDefaults(c)
			}
		}
	}
}

// Resolve makes a relative path relative to the config's folder.
func (c *Config) Resolve(p string) string {
	if p == "" || filepath.IsAbs(p) || c.Dir == "" {
		return p
	}
	return filepath.Join(c.Dir, p)
}

// StoreDir is the folder that holds the store and the keys kept beside it.
func (c *Config) StoreDir() string {
	if p, ok := strings.CutPrefix(c.Store, "sqlite:"); ok {
		return filepath.Dir(c.Resolve(p))
	}
	return c.Dir
}

// DevIssuerURL is the issuer URL of the built-in dev issuer.
func (c *Config) DevIssuerURL() string { return c.Server.PublicURL + DevIssuerPath }

// Validate checks the whole config and returns every problem found (an
// Errors), each naming its field.
func (c *Config) Validate() error {
	var errs []error
	add := func(err error) { errs = append(errs, err) }
	// A bad listen address makes the public URL and the dev issuer's URL
	// derived from it bad too: report the cause once.
	listenErr := validListen(c.Server.Listen)
	derived := listenErr != nil && c.Server.PublicURL == "http://"+c.Server.Listen
	if listenErr != nil {
		add(invalid("server.listen", "%v", listenErr))
	}
	if _, err := url.Parse(c.Server.PublicURL); !derived && (err != nil || !strings.HasPrefix(c.Server.PublicURL, "http")) {
		add(invalid("server.public_url", "must be an http(s) URL"))
	}
	for _, f := range []struct {
		field string
		v     int64
	}{
		{"server.session_idle_timeout", int64(c.Server.SessionIdleTimeout)},
		{"server.max_sessions_per_principal", int64(c.Server.MaxSessionsPerPrincipal)},
		{"server.max_conns_per_client", int64(c.Server.MaxConnsPerClient)},
		{"server.max_calls_per_principal", int64(c.Server.MaxCallsPerPrincipal)},
		{"server.max_inflight_bytes", c.Server.MaxInflightBytes},
	} {
		if f.v < 0 {
			add(invalid(f.field, "must be positive"))
		}
	}
	if a := c.Server.MetricsListen; a != "" {
		if _, port, err := net.SplitHostPort(a); err != nil || port == "" {
			add(invalid("server.metrics_listen", "must be host:port (e.g. 127.0.0.1:9464, or :9464 for every interface), not %q", a))
		} else if a == c.Server.Listen {
			add(invalid("server.metrics_listen", "must differ from server.listen (%s): metrics are served on a listener of their own", a))
		}
	}
	if c.Server.MaxInflightBytes >= 0 && c.Server.MaxInflightBytes < 4<<20 {
		add(invalid("server.max_inflight_bytes", "must be at least 4194304 (one request of the largest size)"))
	}
	if c.Limits.CallTimeout < 0 {
		add(invalid("limits.call_timeout", "must be positive"))
	}
	if c.Limits.StatementTimeout < 0 || c.Limits.StatementTimeout > c.Limits.CallTimeout {
		add(invalid("limits.statement_timeout", "must be positive and at most limits.call_timeout (%s)", c.Limits.CallTimeout))
	}
	if c.Limits.MaxRows < 0 {
		add(invalid("limits.max_rows", "must be positive"))
	}
	add(c.Journal.validate())
	add(c.Approvals.validate())
	add(c.Masking.validate())
	add(c.Console.validate())
	if c.Limits.MaxResultTokens < 100 {
		add(invalid("limits.max_result_tokens", "must be at least 100"))
	}
	if c.Identity.Issuer == "" {
		add(invalid("identity.issuer", "required unless identity.dev_issuer.enabled is true"))
	} else if u, err := url.Parse(c.Identity.Issuer); !(derived && c.Identity.Issuer == c.DevIssuerURL()) && (err != nil || u.Scheme == "" || u.Host == "") {
		add(invalid("identity.issuer", "must be an absolute URL"))
	}
	if sp := c.Identity.StdioPrincipal; sp != nil && sp.Subject == "" {
		add(invalid("identity.stdio_principal.subject", "required"))
	}
	add(c.validateStore())
	connsOK := true
	for _, name := range sortedKeys(c.Connections) {
		if err := c.Connections[name].validate("connections." + name); err != nil {
			add(err)
			connsOK = false
		}
	}
	// Declared tools refer to connections: check them once those are sound.
	if connsOK {
		add(c.validateTools())
	}
	for i := range c.Rules {
		field := fmt.Sprintf("rules[%d]", i)
		if err := c.Rules[i].Validate(); err != nil {
			add(invalid(field, "%v", err))
			continue
		}
		for _, conn := range c.Rules[i].Connections {
			if !strings.ContainsAny(conn, "*?[") && c.Connections[conn] == nil {
				add(invalid(field+".connections", "unknown connection %q", conn))
			}
		}
	}
	return joinErrs(errs)
}

// validListen checks server.listen is host:port with a numeric port (the
// host may be empty for every interface), so check finds a typo before
// serve fails to bind.
func validListen(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("want host:port such as 127.0.0.1:8080 (%v)", err)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("port %q is not a number between 0 and 65535", port)
	}
	if strings.ContainsAny(host, " /") {
		return fmt.Errorf("host %q is not a host name or IP address", host)
	}
	return nil
}

// CheckSecrets resolves every secret reference (environment variable set,
// file readable) and reports all that fail at once, each by field, never
// with a value. serve and check call it after Load, so two unset
// variables take one round to fix, not two.
func (c *Config) CheckSecrets() error {
	var errs []error
	try := func(field string, ref *SecretRef) {
		if ref == nil {
			return
		}
		if _, err := ref.Resolve(); err != nil {
			errs = append(errs, invalid(field, "%v", err))
		}
	}
	for _, name := range sortedKeys(c.Connections) {
		conn, field := c.Connections[name], "connections."+name
		if conn == nil {
			continue
		}
		try(field+".password", conn.Password)
		try(field+".private_key", conn.SSH.PrivateKey)
		try(field+".passphrase", conn.SSH.Passphrase)
	}
	if c.Approvals.WebhookURL != "" {
		try("approvals.webhook_secret", c.Approvals.WebhookSecret)
	}
	try("masking.hash_key", c.Masking.HashKey)
	return joinErrs(errs)
}

func (conn *Connection) validate(field string) error {
	if conn == nil {
		return invalid(field, "empty connection")
	}
	if !validName(strings.TrimPrefix(field, "connections.")) {
		return invalid(field, "connection names use letters, digits, '-' and '_'")
	}
	switch conn.Kind {
	case KindPostgres:
		if conn.DSN == "" {
			return invalid(field+".dsn", "required for kind postgres")
		}
		u, err := url.Parse(conn.DSN)
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			return invalid(field+".dsn", "must be a postgres:// URL")
		}
		if _, has := u.User.Password(); has || u.Query().Has("password") {
			return invalid(field+".dsn", "must not contain a password; give it by reference in %s.password: {env: NAME} or {file: PATH}", field)
		}
		if m := u.Query().Get("default_query_exec_mode"); m != "" {
			return invalid(field+".dsn", "default_query_exec_mode is set by the gateway (extended protocol only); remove it")
		}
		if conn.Path != "" || conn.Seed != "" {
			return invalid(field, "path and seed apply to kind sqlite only")
		}
	case KindSQLite:
		if conn.Path == "" {
			return invalid(field+".path", "required for kind sqlite")
		}
		if conn.Seed != "" && conn.Seed != "demo" {
			return invalid(field+".seed", "unknown seed %q (known: demo)", conn.Seed)
		}
		if conn.DSN != "" || conn.Password != nil {
			return invalid(field, "dsn and password apply to kind postgres only")
		}
	case KindSSH:
		if err := conn.SSH.validate(field, conn); err != nil {
			return err
		}
	case KindHTTP:
		if err := conn.HTTP.validate(field, conn); err != nil {
			return err
		}
	case KindMCP:
		if err := conn.MCP.validate(field, conn); err != nil {
			return err
		}
	case KindCustom:
	case "":
		return invalid(field+".kind", "required (postgres, sqlite, ssh, http, mcp or custom)")
	default:
		return invalid(field+".kind", "unknown kind %q (known: postgres, sqlite, ssh, http, mcp, custom)", conn.Kind)
	}
	if conn.Kind != KindMCP && conn.MCP != nil {
		return invalid(field+".mcp", "applies to kind mcp only")
	}
	if conn.Kind != KindCustom && len(conn.Options) > 0 {
		return invalid(field+".options", "applies to kind custom only")
	}
	if conn.Kind != KindSSH && !conn.SSH.isZero() {
		return invalid(field, "ssh settings (address, user, private_key, known_hosts, host_key, commands...) apply to kind ssh only")
	}
	if conn.Kind != KindHTTP && !conn.HTTP.isZero() {
		return invalid(field, "http settings (base_url, headers, routes, tls...) apply to kind http only")
	}
	if err := conn.Password.check(field + ".password"); err != nil {
		return err
	}
	if conn.MaxRows < 0 {
		return invalid(field+".max_rows", "must be positive")
	}
	return nil
}

// check validates a reference at field: exactly one of env or file, and an
// env that is a variable name (a secret pasted there is never quoted).
func (s *SecretRef) check(field string) error {
	if s == nil {
		return nil
	}
	if (s.Env == "") == (s.File == "") {
		return invalid(field, "give exactly one of env or file: {env: NAME} or {file: PATH}")
	}
	if s.Env != "" && !validEnvName(s.Env) {
		return invalid(field+".env", "not an environment variable name (letters, digits and _); %s", secretHint)
	}
	return nil
}

// MinWebhookSecretBytes is the shortest webhook signing key accepted.
const MinWebhookSecretBytes = 16

// WebhookKey resolves approvals.webhook_secret; nil when no webhook is set.
func (c *Config) WebhookKey() ([]byte, error) {
	if c.Approvals.WebhookURL == "" {
		return nil, nil
	}
	k, err := c.Approvals.WebhookSecret.Resolve()
	if err != nil {
		return nil, errors.New("approvals.webhook_secret: " + err.Error())
	}
	if len(k) < MinWebhookSecretBytes {
		return nil, fmt.Errorf("approvals.webhook_secret: must be at least %d bytes (e.g. `openssl rand -hex 32`)", MinWebhookSecretBytes)
	}
	return []byte(k), nil
}

// Resolve reads the secret. The value is never logged or returned in an error.
func (s *SecretRef) Resolve() (string, error) {
	switch {
	case s == nil:
		return "", nil
	case s.Env != "":
		v, ok := os.LookupEnv(s.Env)
		if !ok {
			return "", fmt.Errorf("secret: environment variable %s is not set", s.Env)
		}
		return v, nil
	default:
		b, err := os.ReadFile(s.File)
		if err != nil {
			return "", fmt.Errorf("secret: cannot read file %s", s.File)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// validateStore: sqlite:PATH, or a postgres:// URL whose password comes
// by reference (store_password), never in the URL.
func (c *Config) validateStore() error {
	if strings.HasPrefix(c.Store, "postgres://") || strings.HasPrefix(c.Store, "postgresql://") {
		u, err := url.Parse(c.Store)
		if err != nil || u.Host == "" {
			return invalid("store", "not a valid postgres:// URL (postgres://USER@HOST:PORT/DB?sslmode=verify-full)")
		}
		if _, has := u.User.Password(); has || u.Query().Has("password") {
			return invalid("store", "must not contain a password; give it by reference in store_password: {env: NAME} or {file: PATH}")
		}
		return c.StorePassword.check("store_password")
	}
	if !strings.HasPrefix(c.Store, "sqlite:") || strings.TrimPrefix(c.Store, "sqlite:") == "" {
		return invalid("store", "must be sqlite:PATH or a postgres:// URL")
	}
	if c.StorePassword != nil {
		return invalid("store_password", "applies to a postgres:// store only")
	}
	return nil
}

// StoreDSN is the store to open: Store with the password of a postgres://
// store filled in from store_password. The result holds a secret: never
// log it or put it in an error.
func (c *Config) StoreDSN() (string, error) {
	if c.StorePassword == nil || !(strings.HasPrefix(c.Store, "postgres://") || strings.HasPrefix(c.Store, "postgresql://")) {
		return c.Store, nil
	}
	pw, err := c.StorePassword.Resolve()
	if err != nil {
		return "", errors.New("store_password: " + err.Error())
	}
	u, err := url.Parse(c.Store)
	if err != nil {
		return "", errors.New("store: not a valid postgres:// URL")
	}
	u.User = url.UserPassword(u.User.Username(), pw)
	return u.String(), nil
}
