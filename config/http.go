package config

import (
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strings"
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
	// They replace any agent header of the same name, and their values are
	// scrubbed from everything returned or recorded.
	Headers map[string]string `yaml:"headers"`
	// AllowHeaders extends the agent's request-header allow-list
	// (httpguard.DefaultAllowedHeaders) on this connection, e.g.
	// [X-Scope-OrgID]. Host, credential, hop-by-hop, framing and
	// method/path override headers can never be allowed.
	AllowHeaders []string `yaml:"allow_headers"`
	// TLS configures a client certificate (mTLS) and extra CAs.
	TLS *HTTPTLS `yaml:"tls"`
	// Timeout bounds a whole request including reading the body.
	Timeout          time.Duration `yaml:"timeout"`
	MaxRequestBytes  int           `yaml:"max_request_bytes"`
	MaxResponseBytes int           `yaml:"max_response_bytes"`
	// AllowPrivateNetwork lets the API live on loopback or private
	// addresses — only those its own host name resolves to.
	AllowPrivateNetwork bool `yaml:"allow_private_network"`
	// Resolver is the DNS server (IP:port) that resolves base_url's host,
	// at start-up and on every request, instead of the system's resolver:
	// for split-horizon DNS. Every address it answers is still checked at
	// dial time, so a resolver that rebinds the name gains nothing.
	Resolver string `yaml:"resolver"`
	// Routes map method + path glob to an access class, approve or deny.
	// None means every method on every path under the base URL, with the
	// default access classes (GET and HEAD read, others write).
	Routes []httpguard.Route `yaml:"routes"`
}

// HTTPTLS configures TLS for an http connection.
type HTTPTLS struct {
	// CertFile and KeyFile are a PEM client certificate and key (mTLS);
	// give both or neither.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// CAFile, when set, is the only set of CAs trusted for the server.
	CAFile string `yaml:"ca_file"`
}

// HTTP connection defaults and bounds.
const (
	DefaultHTTPTimeout          = 30 * time.Second
	DefaultHTTPMaxRequestBytes  = 1 << 20
	DefaultHTTPMaxResponseBytes = 4 << 20
	// MaxHTTPBodyBytes bounds max_request_bytes: a request body is held
	// in memory.
	MaxHTTPBodyBytes = 64 << 20
	// MaxHTTPResponseBytes bounds max_response_bytes. A response body
	// longer than 4 MiB is masked as it is read and only what the token
	// budget carries is kept, so memory does not grow with this cap;
	// reading and masking does (time, and the connection's timeout).
	MaxHTTPResponseBytes = 512 << 20
)

func (h *HTTPSettings) isZero() bool {
	return h.BaseURL == "" && len(h.Headers) == 0 && len(h.AllowHeaders) == 0 && h.TLS == nil && h.Timeout == 0 && h.MaxRequestBytes == 0 &&
		h.MaxResponseBytes == 0 && !h.AllowPrivateNetwork && h.Resolver == "" && len(h.Routes) == 0
}

// setDefaults fills the timeout and body caps and resolves TLS file paths
// against the config's folder.
func (h *HTTPSettings) setDefaults(c *Config) {
	if h.Timeout == 0 {
		h.Timeout = DefaultHTTPTimeout
	}
	if h.MaxRequestBytes == 0 {
		h.MaxRequestBytes = DefaultHTTPMaxRequestBytes
	}
	if h.MaxResponseBytes == 0 {
		h.MaxResponseBytes = DefaultHTTPMaxResponseBytes
	}
	if t := h.TLS; t != nil {
		t.CertFile = c.Resolve(t.CertFile)
		t.KeyFile = c.Resolve(t.KeyFile)
		t.CAFile = c.Resolve(t.CAFile)
	}
}

// refusedOperatorHeaders are headers the gateway manages itself; an
// operator header may carry credentials (Authorization, X-Api-Key), but
// not change the host, the framing or the connection.
var refusedOperatorHeaders = map[string]string{
	"Host":                "the host comes from base_url",
	"Content-Length":      "message framing is managed by the gateway",
	"Transfer-Encoding":   "message framing is managed by the gateway",
	"Content-Encoding":    "request bodies are sent as given",
	"Connection":          "hop-by-hop headers are managed by the gateway",
	"Keep-Alive":          "hop-by-hop headers are managed by the gateway",
	"Proxy-Connection":    "hop-by-hop headers are managed by the gateway",
	"Proxy-Authorization": "no proxy is ever used",
	"Te":                  "hop-by-hop headers are managed by the gateway",
	"Trailer":             "hop-by-hop headers are managed by the gateway",
	"Upgrade":             "protocol upgrades are not allowed",
	"Expect":              "the gateway sends bodies without waiting for 100-continue",
	"Accept-Encoding":     "the gateway negotiates compression itself so responses can be masked",
}

// validate checks an http connection; field is "connections.NAME".
func (h *HTTPSettings) validate(field string, conn *Connection) error {
	if conn.DSN != "" || conn.Password != nil || conn.Path != "" || conn.Seed != "" {
		return invalid(field, "dsn, password, path and seed do not apply to kind http (credentials go in headers, by ${ENV} reference)")
	}
	if h.BaseURL == "" {
		return invalid(field+".base_url", "required for kind http (e.g. https://api.internal/v1)")
	}
	u, err := url.Parse(h.BaseURL)
	if err != nil {
		return invalid(field+".base_url", "not a URL")
	}
	if err := httpguard.CheckBaseURL(u); err != nil {
		return invalid(field+".base_url", "%s", strings.TrimPrefix(err.Error(), "httpguard: "))
	}
	seen := map[string]bool{}
	for _, name := range sortedKeys(h.Headers) {
		hf := field + ".headers." + name
		canon := http.CanonicalHeaderKey(name)
		if !validHeaderName(name) {
			return invalid(hf, "not a valid HTTP header name")
		}
		if seen[canon] {
			return invalid(hf, "given more than once (header names ignore case)")
		}
		seen[canon] = true
		if why, ok := refusedOperatorHeaders[canon]; ok {
			return invalid(hf, "refused: %s", why)
		}
		v := h.Headers[name]
		if strings.TrimSpace(v) == "" {
			return invalid(hf, "empty value (is the environment variable it references set?)")
		}
		for i := 0; i < len(v); i++ {
			if c := v[i]; c != '\t' && (c < 0x20 || c == 0x7f) {
				// Never quote the value: it is usually a credential.
				return invalid(hf, "value contains a control character (CR, LF, NUL, …)")
			}
		}
	}
	allowed := map[string]bool{}
	for i, name := range h.AllowHeaders {
		af := fmt.Sprintf("%s.allow_headers[%d]", field, i)
		if err := httpguard.CheckAllowableHeader(name); err != nil {
			return invalid(af, "%v", err)
		}
		canon := http.CanonicalHeaderKey(name)
		if allowed[canon] {
			return invalid(af, "%s is listed more than once (header names ignore case)", canon)
		}
		allowed[canon] = true
	}
	if t := h.TLS; t != nil {
		if (t.CertFile == "") != (t.KeyFile == "") {
			return invalid(field+".tls", "give both cert_file and key_file, or neither")
		}
		for _, f := range []struct{ name, path string }{{"cert_file", t.CertFile}, {"key_file", t.KeyFile}, {"ca_file", t.CAFile}} {
			if f.path == "" {
				continue
			}
			if st, err := os.Stat(f.path); err != nil || st.IsDir() {
				return invalid(field+".tls."+f.name, "cannot read file %s", f.path)
			}
		}
	}
	if h.Timeout <= 0 {
		return invalid(field+".timeout", "must be positive")
	}
	if h.MaxRequestBytes <= 0 || h.MaxRequestBytes > MaxHTTPBodyBytes {
		return invalid(field+".max_request_bytes", "must be between 1 and %d", MaxHTTPBodyBytes)
	}
	if h.MaxResponseBytes <= 0 || h.MaxResponseBytes > MaxHTTPResponseBytes {
		return invalid(field+".max_response_bytes", "must be between 1 and %d", MaxHTTPResponseBytes)
	}
	if h.Resolver != "" {
		if ap, err := netip.ParseAddrPort(h.Resolver); err != nil || ap.Port() == 0 {
			return invalid(field+".resolver", "must be a DNS server's IP address and port, e.g. 10.0.0.2:53")
		}
	}
	for i := range h.Routes {
		if err := h.Routes[i].Validate(); err != nil {
			return invalid(fmt.Sprintf("%s.routes[%d]", field, i), "%v", err)
		}
	}
	return nil
}

// validHeaderName reports whether s is an RFC 9110 token.
func validHeaderName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	return !slices.ContainsFunc([]byte(s), func(c byte) bool {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
			return false
		}
		return !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c))
	})
}
