package config

import (
	"time"

	"github.com/airlockhq/airlock/policy/httpguard"
)

// HTTPSettings configure a connection of kind http: an internal API the
// gateway calls on the agent's behalf, injecting the credential itself.
type HTTPSettings struct {
	// BaseURL is the API's origin and base path; agents give paths under it.
	BaseURL string `yaml:"base_url"`
	// Headers are added to every request, e.g. Authorization: "Bearer ${API_TOKEN}"
	// (the value comes from the environment; never write it in the file).
	Headers map[string]string `yaml:"headers"`
	// TLS configures a client certificate (mTLS) and extra CAs.
	TLS *HTTPTLS `yaml:"tls"`
	// Timeout bounds a whole request including reading the body.
	Timeout          time.Duration `yaml:"timeout"`
	MaxRequestBytes  int           `yaml:"max_request_bytes"`
	MaxResponseBytes int           `yaml:"max_response_bytes"`
	// AllowPrivateNetwork lets the API live on loopback or private
	// addresses — only those its own host name resolves to.
	AllowPrivateNetwork bool `yaml:"allow_private_network"`
	// Routes map method + path glob to an access class, approve or deny.
	Routes []httpguard.Route `yaml:"routes"`
}

// HTTPTLS configures TLS for an http connection.
type HTTPTLS struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	CAFile   string `yaml:"ca_file"`
}

func (h *HTTPSettings) isZero() bool {
	return h.BaseURL == "" && len(h.Headers) == 0 && h.TLS == nil && h.Timeout == 0 && h.MaxRequestBytes == 0 &&
		h.MaxResponseBytes == 0 && !h.AllowPrivateNetwork && len(h.Routes) == 0
}

// setDefaults is filled in by the http kind's owner.
func (h *HTTPSettings) setDefaults(c *Config) {}

// validate is filled in by the http kind's owner.
func (h *HTTPSettings) validate(field string, conn *Connection) error { return nil }
