package config

import (
	"time"
)

// Console configures the web console at /console: how people log in (the
// OIDC authorization code flow with PKCE against identity.issuer) and how
// long their sessions last. Who may see what is decided by admin.groups,
// admin.auditors and the rules' approvers, as for the admin API.
type Console struct {
	// Disabled turns the console (and its login) off.
	Disabled bool `yaml:"disabled"`
	// ClientID is the console's OAuth client at the issuer (default
	// "airlock-console"). The issuer must allow the redirect URI
	// server.public_url + "/console/auth/callback".
	ClientID string `yaml:"client_id"`
	// ClientSecret, by reference, for an IdP that registers the console as
	// a confidential client; absent for a public client (PKCE only).
	ClientSecret *SecretRef `yaml:"client_secret"`
	// SessionTTL bounds a login session (default 8h); a person logs in
	// again after it.
	SessionTTL time.Duration `yaml:"session_ttl"`
	// Scopes asked for at login besides "openid", e.g. [groups] for an IdP
	// that puts the groups claim in the ID token only when asked.
	Scopes []string `yaml:"scopes"`
}

// Console defaults.
const (
	DefaultConsoleClientID   = "airlock-console"
	DefaultConsoleSessionTTL = 8 * time.Hour
)

func (c *Console) setDefaults(cfg *Config) {
	if c.ClientID == "" {
		c.ClientID = DefaultConsoleClientID
	}
	if c.SessionTTL == 0 {
		c.SessionTTL = DefaultConsoleSessionTTL
	}
	if s := c.ClientSecret; s != nil && s.File != "" {
		s.File = cfg.Resolve(s.File)
	}
}

func (c *Console) validate() error {
	if c.SessionTTL < time.Minute || c.SessionTTL > 7*24*time.Hour {
		return invalid("console.session_ttl", "must be between 1m and 168h")
	}
	if err := c.ClientSecret.check("console.client_secret"); err != nil {
		return err
	}
	return nil
}
