package identity

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
)

// The dev issuer's authorization server: the OAuth 2.1 authorization code
// flow with PKCE (S256 only) behind a login form on which the person
// types any subject and groups, RFC 8414 metadata and RFC 7591 dynamic
// client registration. It exists so that the quick start, the console
// and MCP clients (the MCP Inspector, the TypeScript SDK) can log in with
// no IdP. It authenticates nobody: it must never face a network that
// untrusted people can reach.

const (
	authorizeSuffix = "/authorize"
	tokenSuffix     = "/token"
	registerSuffix  = "/register"
	// asMetaPrefix is where RFC 8414 §3 puts authorization server
	// metadata: inserted before the issuer's path.
	asMetaPrefix = "/.well-known/oauth-authorization-server"

	codeTTL         = time.Minute
	formTTL         = 15 * time.Minute
	maxPendingCodes = 1024
	maxDevClients   = 1024
	maxRedirectURIs = 10
	maxFormBytes    = 64 << 10
	maxSubjectLen   = 128
	maxGroups       = 32
	maxGroupLen     = 64
)

// DevAuthConfig turns on the dev issuer's authorization endpoints.
type DevAuthConfig struct {
	// Audience is the aud of access tokens issued to a client that names
	// no resource (RFC 8707). Required: the gateway's identity.audience.
	Audience string
	// Resources maps the resource indicators this issuer accepts (the
	// gateway's canonical MCP URL) to the audience their access tokens
	// carry. A request naming any other resource is refused with
	// invalid_target, so a token is always bound to a known audience.
	Resources map[string]string
	// GroupsClaim names the groups claim (default "groups").
	GroupsClaim string
	// AccessTokenTTL is the lifetime of access and ID tokens (default one
	// hour).
	AccessTokenTTL time.Duration
	// SuggestedGroups are shown on the login form as a hint.
	SuggestedGroups []string
}

// DevClient is an OAuth client of the dev issuer.
type DevClient struct {
	ID string
	// Secret, when set, makes a confidential client that must
	// authenticate at the token endpoint (client_secret_basic or
	// client_secret_post). Empty: a public client, protected by PKCE.
	Secret string
	// RedirectURIs are compared exactly with the redirect_uri of each
	// request.
	RedirectURIs []string
	// Name is shown on the login form.
	Name string
}

type devAuthz struct {
	d         *DevIssuer
	cfg       DevAuthConfig
	discovery []byte
	metaPath  string
	formKey   []byte
	now       func() time.Time

	mu      sync.Mutex
	clients map[string]*DevClient
	codes   map[[sha256.Size]byte]*authCode
}

// authCode is what a code stands for until it is redeemed, once.
type authCode struct {
	clientID, redirectURI, challenge string
	subject                          string
	groups                           []string
	scope, nonce, audience           string
	resource                         string
	expires                          time.Time
}

// EnableAuthorization turns on the authorization endpoint (a login form),
// the token endpoint (authorization code + PKCE S256), dynamic client
// registration and RFC 8414 metadata, and updates the discovery document.
// Call it before serving; calling it again replaces the configuration and
// forgets registered clients and pending codes.
func (d *DevIssuer) EnableAuthorization(cfg DevAuthConfig) error {
	if cfg.Audience == "" {
		return errors.New("identity: dev issuer: authorization: audience is required")
	}
	if cfg.GroupsClaim == "" {
		cfg.GroupsClaim = "groups"
	}
	if reservedClaims[cfg.GroupsClaim] || cfg.GroupsClaim == "scope" || cfg.GroupsClaim == "nonce" {
		return fmt.Errorf("identity: dev issuer: groups claim %q collides with a registered claim", cfg.GroupsClaim)
	}
	if cfg.AccessTokenTTL < 0 {
		return errors.New("identity: dev issuer: negative access token TTL")
	}
	if cfg.AccessTokenTTL == 0 {
		cfg.AccessTokenTTL = defaultMintTTL
	}
	res := map[string]string{}
	for r, aud := range cfg.Resources {
		u, err := url.Parse(r)
		if err != nil || !u.IsAbs() || u.Fragment != "" || aud == "" {
			return fmt.Errorf("identity: dev issuer: resource %q: want an absolute URL without fragment, bound to an audience", r)
		}
		res[normResource(r)] = aud
	}
	cfg.Resources = res
	cfg.SuggestedGroups = slices.Clone(cfg.SuggestedGroups)

	a := &devAuthz{
		d:        d,
		cfg:      cfg,
		metaPath: asMetaPrefix + strings.TrimRight(d.issURL.Path, "/"),
		formKey:  make([]byte, 32),
		now:      time.Now,
		clients:  map[string]*DevClient{},
		codes:    map[[sha256.Size]byte]*authCode{},
	}
	rand.Read(a.formKey)
	disc, err := json.Marshal(map[string]any{
		"issuer":                                d.issuer,
		"jwks_uri":                              d.issuer + jwksSuffix,
		"authorization_endpoint":                d.issuer + authorizeSuffix,
		"token_endpoint":                        d.issuer + tokenSuffix,
		"registration_endpoint":                 d.issuer + registerSuffix,
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"response_types_supported":              []string{"code"},
		"response_modes_supported":              []string{"query"},
		"grant_types_supported":                 []string{"authorization_code"},
		"code_challenge_methods_supported":      []string{"S256"},
		"token_endpoint_auth_methods_supported": []string{"none", "client_secret_basic", "client_secret_post"},
		"subject_types_supported":               []string{"public"},
		"scopes_supported":                      []string{"openid", "profile"},
		"claims_supported":                      []string{"iss", "sub", "aud", "exp", "iat", "azp", "nonce", cfg.GroupsClaim},
		"service_documentation":                 "https://github.com/airlockhq/airlock/blob/main/docs/oauth.md",
	})
	if err != nil {
		return fmt.Errorf("identity: dev issuer: discovery: %w", err)
	}
	a.discovery = disc
	d.authz.Store(a)
	return nil
}

// AuthorizationServerMetadataPath is the path, on the issuer's host, of
// the RFC 8414 metadata document ("/.well-known/oauth-authorization-server"
// followed by the issuer's path). A server that mounts Handler only under
// the issuer's path must route this path to Handler too.
func (d *DevIssuer) AuthorizationServerMetadataPath() string {
	return asMetaPrefix + strings.TrimRight(d.issURL.Path, "/")
}

// AuthorizationEndpoint and TokenEndpoint are the endpoints' URLs.
func (d *DevIssuer) AuthorizationEndpoint() string { return d.issuer + authorizeSuffix }

// TokenEndpoint is the token endpoint's URL.
func (d *DevIssuer) TokenEndpoint() string { return d.issuer + tokenSuffix }

// RegistrationEndpoint is the RFC 7591 registration endpoint's URL.
func (d *DevIssuer) RegistrationEndpoint() string { return d.issuer + registerSuffix }

// RegisterClient adds or replaces a client, e.g. the console's.
// EnableAuthorization must have run.
func (d *DevIssuer) RegisterClient(c DevClient) error {
	a := d.authz.Load()
	if a == nil {
		return errors.New("identity: dev issuer: authorization is not enabled")
	}
	if c.ID == "" || len(c.ID) > 128 || !printable(c.ID) {
		return errors.New("identity: dev issuer: client id must be 1-128 printable characters")
	}
	if c.ID == a.cfg.Audience || slices.Contains(slices.Collect(maps.Values(a.cfg.Resources)), c.ID) {
		// An ID token's aud is the client id: it must never be a valid
		// access token for the gateway.
		return fmt.Errorf("identity: dev issuer: client id %q equals an access token audience", c.ID)
	}
	if len(c.RedirectURIs) == 0 {
		return errors.New("identity: dev issuer: a client needs at least one redirect URI")
	}
	for _, u := range c.RedirectURIs {
		if err := checkRedirectURI(u); err != nil {
			return fmt.Errorf("identity: dev issuer: client %q: %w", c.ID, err)
		}
	}
	c.RedirectURIs = slices.Clone(c.RedirectURIs)
	a.mu.Lock()
	defer a.mu.Unlock()
	a.clients[c.ID] = &c
	return nil
}

// checkRedirectURI accepts https URLs, http URLs on a loopback host (RFC
// 8252 §7.3) and private-use schemes of native apps (RFC 8252 §7.1), and
// refuses fragments, user info and schemes a browser would execute.
func checkRedirectURI(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || len(raw) > 2000 {
		return fmt.Errorf("redirect URI %q is not an absolute URL", truncate(raw, 64))
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return fmt.Errorf("redirect URI %q has a fragment", truncate(raw, 64))
	}
	if u.User != nil {
		return fmt.Errorf("redirect URI %q has user info", truncate(raw, 64))
	}
	switch s := strings.ToLower(u.Scheme); s {
	case "https":
		if u.Host == "" {
			return fmt.Errorf("redirect URI %q has no host", truncate(raw, 64))
		}
	case "http":
		if !isLoopbackHost(u.Hostname()) {
			return fmt.Errorf("redirect URI %q: http is allowed only on a loopback host; use https", truncate(raw, 64))
		}
	case "javascript", "data", "file", "vbscript", "about", "blob", "filesystem", "ws", "wss", "ftp":
		return fmt.Errorf("redirect URI %q: scheme %q is not allowed", truncate(raw, 64), s)
	}
	return nil
}

func isLoopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// normResource drops a trailing slash so that "http://h:1" (as configured)
// and "http://h:1/" (as a URL parser prints it) name one resource.
func normResource(r string) string { return strings.TrimRight(r, "/") }

func printable(s string) bool {
	for _, r := range s {
		if !unicode.IsPrint(r) || unicode.IsSpace(r) {
			return false
		}
	}
	return true
}

func (a *devAuthz) client(id string) *DevClient {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.clients[id]
}

// authRequest holds the parameters of an authorization request, carried
// from the query to the form and back.
type authRequest struct {
	ResponseType, ClientID, RedirectURI, State, Scope string
	Challenge, Method, Nonce, Resource                string
}

var authParams = []string{"response_type", "client_id", "redirect_uri", "state", "scope",
	"code_challenge", "code_challenge_method", "nonce", "resource"}

func parseAuthRequest(v url.Values) (authRequest, error) {
	for _, k := range authParams {
		if len(v[k]) > 1 {
			return authRequest{}, fmt.Errorf("parameter %s is repeated", k)
		}
	}
	return authRequest{
		ResponseType: v.Get("response_type"), ClientID: v.Get("client_id"),
		RedirectURI: v.Get("redirect_uri"), State: v.Get("state"), Scope: v.Get("scope"),
		Challenge: v.Get("code_challenge"), Method: v.Get("code_challenge_method"),
		Nonce: v.Get("nonce"), Resource: v.Get("resource"),
	}, nil
}

func (q authRequest) values() []string {
	return []string{q.ResponseType, q.ClientID, q.RedirectURI, q.State, q.Scope,
		q.Challenge, q.Method, q.Nonce, q.Resource}
}

// oauthError is an error returned to the client through its redirect URI
// or the token endpoint. Descriptions never hold a code, verifier or
// secret.
type oauthError struct {
	code, desc string
	status     int
}

func (e *oauthError) Error() string { return e.code + ": " + e.desc }

func oerr(code, desc string) *oauthError {
	return &oauthError{code: code, desc: desc, status: http.StatusBadRequest}
}

// checkClientRedirect validates what must be right before anything may be
// sent to the redirect URI: the client and the exact redirect URI. An
// error here is shown to the person, never redirected (RFC 6749 §4.1.2.1).
func (a *devAuthz) checkClientRedirect(q authRequest) (*DevClient, error) {
	if q.ClientID == "" {
		return nil, errors.New("client_id is missing")
	}
	c := a.client(q.ClientID)
	if c == nil {
		return nil, errors.New("unknown client_id: the client is not registered with this issuer (clients registered dynamically are forgotten when the gateway restarts; register again)")
	}
	if q.RedirectURI == "" {
		return nil, errors.New("redirect_uri is missing")
	}
	if !slices.Contains(c.RedirectURIs, q.RedirectURI) {
		return nil, errors.New("redirect_uri does not exactly match a redirect URI registered for this client")
	}
	return c, nil
}

// checkAuthParams validates the rest; errors go back to the client.
func (a *devAuthz) checkAuthParams(q authRequest) (audience string, err *oauthError) {
	if q.ResponseType != "code" {
		return "", oerr("unsupported_response_type", "only response_type=code is supported")
	}
	if q.Challenge == "" {
		return "", oerr("invalid_request", "PKCE is required: send code_challenge with code_challenge_method=S256")
	}
	if q.Method != "S256" {
		return "", oerr("invalid_request", "code_challenge_method must be S256")
	}
	if !validPKCE(q.Challenge) || len(q.Challenge) != 43 {
		return "", oerr("invalid_request", "code_challenge must be the base64url SHA-256 of the code verifier (43 characters)")
	}
	return a.audienceFor(q.Resource)
}

// audienceFor binds a resource indicator (RFC 8707) to an audience.
func (a *devAuthz) audienceFor(resource string) (string, *oauthError) {
	if resource == "" {
		return a.cfg.Audience, nil
	}
	aud, ok := a.cfg.Resources[normResource(resource)]
	if !ok {
		return "", oerr("invalid_target", "this issuer does not issue tokens for the requested resource")
	}
	return aud, nil
}

// validPKCE reports whether s uses only the characters of RFC 7636 §4.1
// and has a verifier's length bounds.
func validPKCE(s string) bool {
	if len(s) < 43 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	return true
}

// formToken binds the login form to the request it was rendered for and
// to this process, so a POST that did not come from the form is refused.
func (a *devAuthz) formToken(q authRequest, exp int64) string {
	m := hmac.New(sha256.New, a.formKey)
	for _, v := range q.values() {
		m.Write([]byte(strconv.Itoa(len(v))))
		m.Write([]byte{':'})
		m.Write([]byte(v))
	}
	m.Write([]byte(strconv.FormatInt(exp, 10)))
	return strconv.FormatInt(exp, 10) + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (a *devAuthz) checkFormToken(q authRequest, tok string) bool {
	es, _, ok := strings.Cut(tok, ".")
	if !ok {
		return false
	}
	exp, err := strconv.ParseInt(es, 10, 64)
	if err != nil || a.now().Unix() > exp {
		return false
	}
	return hmac.Equal([]byte(a.formToken(q, exp)), []byte(tok))
}

// authorize serves the login form (GET) and takes its answer (POST).
func (a *devAuthz) authorize(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'")
	if !sameHost(r.Host, a.d.issURL) {
		// A page whose name was rebound to this address (DNS rebinding)
		// would read the form and post it same-origin: the login form
		// is served only at the issuer's own host.
		a.page(w, http.StatusMisdirectedRequest, pageData{Error: "this login page is served only at " + a.d.issuer + authorizeSuffix +
			" (the request named another host: open the application's login link, or make the proxy keep the Host header)"})
		return
	}
	var v url.Values
	switch r.Method {
	case http.MethodGet:
		v = r.URL.Query()
	case http.MethodPost:
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		if err := r.ParseForm(); err != nil {
			a.page(w, http.StatusBadRequest, pageData{Error: "the form could not be read"})
			return
		}
		v = r.PostForm
	default:
		h.Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	q, err := parseAuthRequest(v)
	if err != nil {
		a.page(w, http.StatusBadRequest, pageData{Error: "invalid authorization request: " + err.Error()})
		return
	}
	c, err := a.checkClientRedirect(q)
	if err != nil {
		a.page(w, http.StatusBadRequest, pageData{Error: "invalid authorization request: " + err.Error()})
		return
	}
	aud, oe := a.checkAuthParams(q)
	if oe != nil {
		redirectError(w, r, q, oe)
		return
	}
	if r.Method == http.MethodGet {
		a.page(w, http.StatusOK, a.formData(q, c, aud, "", ""))
		return
	}
	if !a.checkFormToken(q, v.Get("form_token")) {
		a.page(w, http.StatusBadRequest, pageData{Error: "this login form has expired or was not issued by this server: start the login again from the application"})
		return
	}
	if v.Get("action") == "deny" {
		redirectError(w, r, q, oerr("access_denied", "the person declined the login"))
		return
	}
	subject := strings.TrimSpace(v.Get("subject"))
	groups, gerr := parseFormGroups(v.Get("groups"))
	switch {
	case subject == "" || len(subject) > maxSubjectLen || !printable(subject):
		a.page(w, http.StatusBadRequest, a.formData(q, c, aud, "Subject: enter 1 to 128 characters without spaces.", v.Get("groups")))
		return
	case gerr != nil:
		a.page(w, http.StatusBadRequest, a.formData(q, c, aud, "Groups: "+gerr.Error(), v.Get("groups")))
		return
	}
	code, oe := a.newCode(&authCode{
		clientID: c.ID, redirectURI: q.RedirectURI, challenge: q.Challenge,
		subject: subject, groups: groups, scope: q.Scope, nonce: q.Nonce,
		audience: aud, resource: q.Resource,
	})
	if oe != nil {
		redirectError(w, r, q, oe)
		return
	}
	redirectTo(w, r, q, url.Values{"code": {code}})
}

// sameHost reports whether a request's Host names the issuer's host,
// with or without the scheme's default port.
func sameHost(host string, iss *url.URL) bool {
	def := map[string]string{"http": ":80", "https": ":443"}[iss.Scheme]
	norm := func(h string) string { return strings.TrimSuffix(strings.ToLower(h), def) }
	return host != "" && norm(host) == norm(iss.Host)
}

// parseFormGroups splits the login form's comma- or space-separated list.
func parseFormGroups(s string) ([]string, error) {
	out := []string{}
	for _, g := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || unicode.IsSpace(r) }) {
		if len(g) > maxGroupLen || !printable(g) {
			return nil, fmt.Errorf("each group is 1 to %d printable characters", maxGroupLen)
		}
		if !slices.Contains(out, g) {
			out = append(out, g)
		}
	}
	if len(out) > maxGroups {
		return nil, fmt.Errorf("at most %d groups", maxGroups)
	}
	return out, nil
}

func (a *devAuthz) newCode(c *authCode) (string, *oauthError) {
	raw := make([]byte, 32)
	rand.Read(raw)
	code := base64.RawURLEncoding.EncodeToString(raw)
	now := a.now()
	c.expires = now.Add(codeTTL)
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.codes) >= maxPendingCodes {
		for k, e := range a.codes {
			if !now.Before(e.expires) {
				delete(a.codes, k)
			}
		}
		if len(a.codes) >= maxPendingCodes {
			return "", oerr("temporarily_unavailable", "too many logins in progress; retry in a minute")
		}
	}
	a.codes[sha256.Sum256([]byte(code))] = c
	return code, nil
}

// redeem removes and returns the code's grant: a code works at most once,
// whether or not the exchange then succeeds.
func (a *devAuthz) redeem(code string) *authCode {
	k := sha256.Sum256([]byte(code))
	a.mu.Lock()
	defer a.mu.Unlock()
	c := a.codes[k]
	delete(a.codes, k)
	if c == nil || !a.now().Before(c.expires) {
		return nil
	}
	return c
}

func redirectTo(w http.ResponseWriter, r *http.Request, q authRequest, params url.Values) {
	u, _ := url.Parse(q.RedirectURI) // validated against the registration
	v := u.Query()
	for k, vs := range params {
		v[k] = vs
	}
	if q.State != "" {
		v.Set("state", q.State)
	}
	u.RawQuery = v.Encode()
	http.Redirect(w, r, u.String(), http.StatusFound)
}

func redirectError(w http.ResponseWriter, r *http.Request, q authRequest, e *oauthError) {
	redirectTo(w, r, q, url.Values{"error": {e.code}, "error_description": {e.desc}})
}

// token serves the token endpoint: grant_type=authorization_code only.
func (a *devAuthz) token(w http.ResponseWriter, r *http.Request) {
	setCORS(w.Header())
	if r.Method == http.MethodOptions {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		tokenError(w, &oauthError{code: "invalid_request", desc: "use POST", status: http.StatusMethodNotAllowed})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		tokenError(w, oerr("invalid_request", "the body must be application/x-www-form-urlencoded"))
		return
	}
	v := r.PostForm
	for _, k := range []string{"grant_type", "code", "redirect_uri", "client_id", "client_secret", "code_verifier", "resource"} {
		if len(v[k]) > 1 {
			tokenError(w, oerr("invalid_request", "parameter "+k+" is repeated"))
			return
		}
	}
	if gt := v.Get("grant_type"); gt != "authorization_code" {
		tokenError(w, oerr("unsupported_grant_type", "only grant_type=authorization_code is supported"))
		return
	}
	c, oe := a.authenticateClient(r, v)
	if oe != nil {
		tokenError(w, oe)
		return
	}
	code := a.redeem(v.Get("code"))
	switch {
	case code == nil:
		tokenError(w, oerr("invalid_grant", "the code is unknown, expired or already used"))
		return
	case code.clientID != c.ID:
		tokenError(w, oerr("invalid_grant", "the code was issued to another client"))
		return
	case v.Get("redirect_uri") != code.redirectURI:
		tokenError(w, oerr("invalid_grant", "redirect_uri does not match the authorization request"))
		return
	}
	verifier := v.Get("code_verifier")
	if !validPKCE(verifier) {
		tokenError(w, oerr("invalid_grant", "code_verifier is missing or malformed (RFC 7636: 43-128 unreserved characters)"))
		return
	}
	sum := sha256.Sum256([]byte(verifier))
	if subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(code.challenge)) != 1 {
		tokenError(w, oerr("invalid_grant", "code_verifier does not match the code_challenge"))
		return
	}
	if res := v.Get("resource"); res != "" && normResource(res) != normResource(code.resource) {
		tokenError(w, oerr("invalid_target", "resource differs from the one in the authorization request"))
		return
	}
	resp, err := a.issue(code)
	if err != nil {
		tokenError(w, &oauthError{code: "server_error", desc: "could not sign the token", status: http.StatusInternalServerError})
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(resp)
}

// authenticateClient identifies the client: by HTTP Basic or
// client_secret in the body for a confidential client, by client_id alone
// for a public one.
func (a *devAuthz) authenticateClient(r *http.Request, v url.Values) (*DevClient, *oauthError) {
	id, secret, basic := r.BasicAuth()
	if basic {
		// RFC 6749 §2.3.1: both are form-urlencoded inside Basic.
		var e1, e2 error
		id, e1 = url.QueryUnescape(id)
		secret, e2 = url.QueryUnescape(secret)
		if e1 != nil || e2 != nil || v.Get("client_secret") != "" {
			return nil, badClient("malformed client authentication")
		}
		if bid := v.Get("client_id"); bid != "" && bid != id {
			return nil, badClient("client_id differs from the authenticated client")
		}
	} else {
		id, secret = v.Get("client_id"), v.Get("client_secret")
	}
	if id == "" {
		return nil, badClient("client_id is missing")
	}
	c := a.client(id)
	if c == nil {
		return nil, badClient("unknown client (clients registered dynamically are forgotten when the gateway restarts; register again)")
	}
	if c.Secret == "" {
		if secret != "" {
			return nil, badClient("this client is public and has no secret")
		}
		return c, nil
	}
	if subtle.ConstantTimeCompare([]byte(secret), []byte(c.Secret)) != 1 {
		return nil, badClient("client authentication failed")
	}
	return c, nil
}

func badClient(desc string) *oauthError {
	return &oauthError{code: "invalid_client", desc: desc, status: http.StatusUnauthorized}
}

func tokenError(w http.ResponseWriter, e *oauthError) {
	h := w.Header()
	if e.status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", `Basic realm="airlock-dev-issuer"`)
	}
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(e.status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": e.code, "error_description": e.desc})
}

type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
	IDToken     string `json:"id_token,omitempty"`
	Scope       string `json:"scope,omitempty"`
}

// issue signs an access token (aud: the bound audience) and, for the
// openid scope, an ID token (aud: the client).
func (a *devAuthz) issue(c *authCode) (*tokenResponse, error) {
	now := a.now()
	ttl := a.cfg.AccessTokenTTL
	base := func(aud string) map[string]any {
		jti := make([]byte, 16)
		rand.Read(jti)
		return map[string]any{
			"iss": a.d.issuer, "sub": c.subject, "aud": aud,
			"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(ttl).Unix(),
			"jti": base64.RawURLEncoding.EncodeToString(jti),
			"azp": c.clientID, a.cfg.GroupsClaim: c.groups,
		}
	}
	at := base(c.audience)
	at["client_id"] = c.clientID
	if c.scope != "" {
		at["scope"] = c.scope
	}
	access, err := a.d.sign(at)
	if err != nil {
		return nil, err
	}
	resp := &tokenResponse{AccessToken: access, TokenType: "Bearer", ExpiresIn: int64(ttl / time.Second), Scope: c.scope}
	if slices.Contains(strings.Fields(c.scope), "openid") {
		it := base(c.clientID)
		it["auth_time"] = now.Unix()
		if c.nonce != "" {
			it["nonce"] = c.nonce
		}
		if resp.IDToken, err = a.d.sign(it); err != nil {
			return nil, err
		}
	}
	return resp, nil
}

// clientMetadata is the part of RFC 7591 client metadata the dev issuer
// reads; other members are ignored, as §2 allows.
type clientMetadata struct {
	RedirectURIs            []string `json:"redirect_uris"`
	ClientName              string   `json:"client_name,omitempty"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method,omitempty"`
	GrantTypes              []string `json:"grant_types,omitempty"`
	ResponseTypes           []string `json:"response_types,omitempty"`
	Scope                   string   `json:"scope,omitempty"`
}

// register serves RFC 7591 dynamic client registration, open to anyone:
// fitting for a development issuer, which is what MCP clients expect.
func (a *devAuthz) register(w http.ResponseWriter, r *http.Request) {
	setCORS(w.Header())
	if r.Method == http.MethodOptions {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		regError(w, http.StatusMethodNotAllowed, "invalid_client_metadata", "use POST with a JSON body")
		return
	}
	var m clientMetadata
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxFormBytes))
	if err := dec.Decode(&m); err != nil {
		regError(w, http.StatusBadRequest, "invalid_client_metadata", "the body must be a JSON object of client metadata (RFC 7591)")
		return
	}
	if len(m.RedirectURIs) == 0 || len(m.RedirectURIs) > maxRedirectURIs {
		regError(w, http.StatusBadRequest, "invalid_redirect_uri", fmt.Sprintf("redirect_uris must list 1 to %d URIs", maxRedirectURIs))
		return
	}
	for _, u := range m.RedirectURIs {
		if err := checkRedirectURI(u); err != nil {
			regError(w, http.StatusBadRequest, "invalid_redirect_uri", err.Error())
			return
		}
	}
	if len(m.ClientName) > 128 {
		m.ClientName = m.ClientName[:128]
	}
	if m.TokenEndpointAuthMethod == "" {
		m.TokenEndpointAuthMethod = "client_secret_basic" // RFC 7591 §2
	}
	c := DevClient{ID: clientID(m.ClientName), RedirectURIs: m.RedirectURIs, Name: m.ClientName}
	switch m.TokenEndpointAuthMethod {
	case "none":
	case "client_secret_basic", "client_secret_post":
		s := make([]byte, 32)
		rand.Read(s)
		c.Secret = base64.RawURLEncoding.EncodeToString(s)
	default:
		regError(w, http.StatusBadRequest, "invalid_client_metadata", "token_endpoint_auth_method must be none, client_secret_basic or client_secret_post")
		return
	}
	for _, gt := range m.GrantTypes {
		if gt != "authorization_code" && gt != "refresh_token" {
			regError(w, http.StatusBadRequest, "invalid_client_metadata", "grant_types: only authorization_code is supported")
			return
		}
	}
	for _, rt := range m.ResponseTypes {
		if rt != "code" {
			regError(w, http.StatusBadRequest, "invalid_client_metadata", "response_types: only code is supported")
			return
		}
	}
	a.mu.Lock()
	if len(a.clients) >= maxDevClients {
		a.mu.Unlock()
		regError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "too many registered clients; restart the gateway to forget them")
		return
	}
	a.clients[c.ID] = &c
	a.mu.Unlock()

	out := map[string]any{
		"client_id":                  c.ID,
		"client_id_issued_at":        a.now().Unix(),
		"redirect_uris":              c.RedirectURIs,
		"token_endpoint_auth_method": m.TokenEndpointAuthMethod,
		// refresh_token is not offered: clients log in again.
		"grant_types":    []string{"authorization_code"},
		"response_types": []string{"code"},
	}
	if c.Name != "" {
		out["client_name"] = c.Name
	}
	if m.Scope != "" {
		out["scope"] = m.Scope
	}
	if c.Secret != "" {
		out["client_secret"] = c.Secret
		out["client_secret_expires_at"] = 0
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(out)
}

// clientID makes a readable, unguessable client id: a slug of the
// client's name (it becomes the azp claim, shown as the agent in the
// journal) and random hex.
func clientID(name string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		if b.Len() >= 32 {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
	}
	slug := strings.Trim(b.String(), "-")
	if slug == "" {
		slug = "client"
	}
	rnd := make([]byte, 8)
	rand.Read(rnd)
	return slug + "-" + hex.EncodeToString(rnd)
}

func regError(w http.ResponseWriter, status int, code, desc string) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}

// setCORS lets browser-based clients call the metadata, token and
// registration endpoints from another origin. No credentials (cookies)
// are involved, so a wildcard is safe.
func setCORS(h http.Header) {
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, MCP-Protocol-Version")
	h.Set("Access-Control-Max-Age", "600")
}

type pageData struct {
	Error           string
	Client          string
	RedirectHost    string
	Resource        string
	Audience        string
	Hidden          map[string]string
	Groups          string
	SuggestedGroups []string
}

func (a *devAuthz) formData(q authRequest, c *DevClient, aud, errMsg, groups string) pageData {
	name := c.Name
	if name == "" {
		name = c.ID
	}
	host := q.RedirectURI
	if u, err := url.Parse(q.RedirectURI); err == nil && u.Host != "" {
		host = u.Scheme + "://" + u.Host
	}
	hidden := map[string]string{}
	for i, v := range q.values() {
		if v != "" {
			hidden[authParams[i]] = v
		}
	}
	hidden["form_token"] = a.formToken(q, a.now().Add(formTTL).Unix())
	return pageData{Error: errMsg, Client: name, RedirectHost: host, Resource: q.Resource,
		Audience: aud, Hidden: hidden, Groups: groups, SuggestedGroups: a.cfg.SuggestedGroups}
}

func (a *devAuthz) page(w http.ResponseWriter, status int, d pageData) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_ = loginPage.Execute(w, d)
}

var loginPage = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Airlock dev issuer — DEVELOPMENT ONLY</title>
<style>
body{font-family:system-ui,sans-serif;max-width:36rem;margin:2rem auto;padding:0 1rem;color:#222}
.banner{background:#b00020;color:#fff;padding:1rem;border-radius:.4rem;font-weight:700}
.banner p{font-weight:400;margin:.4rem 0 0}
.err{background:#fde7e9;border:1px solid #b00020;padding:.6rem;border-radius:.3rem}
label{display:block;margin-top:1rem;font-weight:600}
input[type=text]{width:100%;padding:.5rem;font-size:1rem;box-sizing:border-box}
.hint{color:#555;font-size:.9rem}
button{margin-top:1.2rem;padding:.6rem 1.2rem;font-size:1rem}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.2rem .8rem}dt{font-weight:600}dd{margin:0;word-break:break-all}
</style></head><body>
<div class="banner" id="dev-only-banner">DEVELOPMENT ONLY — NOT A REAL LOGIN
<p>This is Airlock's built-in development issuer. It checks no password: anyone who can reach this page can sign in as anyone, with any groups. Never expose it to untrusted networks; point identity.issuer at a real identity provider in production.</p></div>
{{if .Error}}<p class="err" id="error" role="alert">{{.Error}}</p>{{end}}
{{if .Hidden}}
<h1>Sign in</h1>
<dl><dt>Application</dt><dd id="client">{{.Client}}</dd>
<dt>Returns to</dt><dd>{{.RedirectHost}}</dd>
{{if .Resource}}<dt>Resource</dt><dd>{{.Resource}}</dd>{{end}}
<dt>Token audience</dt><dd>{{.Audience}}</dd></dl>
<form method="post" id="login-form">
{{range $k, $v := .Hidden}}<input type="hidden" name="{{$k}}" value="{{$v}}">
{{end}}<label for="subject">Subject (who you are)</label>
<input type="text" id="subject" name="subject" required maxlength="128" autocomplete="username" autofocus placeholder="alice@example.com">
<label for="groups">Groups (comma- or space-separated)</label>
<input type="text" id="groups" name="groups" value="{{.Groups}}" placeholder="developers">
{{if .SuggestedGroups}}<p class="hint">Groups the gateway's configuration mentions: {{range $i, $g := .SuggestedGroups}}{{if $i}}, {{end}}<code>{{$g}}</code>{{end}}</p>{{end}}
<button type="submit" id="login" name="action" value="login">Sign in</button>
<button type="submit" id="deny" name="action" value="deny" formnovalidate>Cancel</button>
</form>
{{end}}
</body></html>
`))
