package console

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/airlockhq/airlock/identity"
)

// Login is how people prove who they are: the OIDC authorization code
// flow with PKCE (NewOIDCLogin), or a stand-in in tests.
type Login interface {
	// AuthCodeURL is where to send the browser to log in. state binds the
	// answer to this browser, nonce the ID token to this login, and the
	// PKCE verifier (sent as its S256 challenge) the code to this client.
	AuthCodeURL(ctx context.Context, state, nonce, verifier string) (string, error)
	// Exchange redeems an authorization code and returns the person the
	// verified ID token names, after checking its nonce.
	Exchange(ctx context.Context, code, verifier, nonce string) (*identity.Principal, error)
}

// OIDCConfig configures the OIDC login.
type OIDCConfig struct {
	Issuer       string
	ClientID     string
	ClientSecret string // empty for a public client
	RedirectURL  string
	Scopes       []string
	GroupsClaim  string
	// HTTPClient reaches the issuer (discovery, token, keys); nil for a
	// default client with a timeout.
	HTTPClient *http.Client
}

// NewOIDCLogin returns the authorization-code-with-PKCE login against
// cfg.Issuer (coreos/go-oidc for discovery and ID token verification,
// golang.org/x/oauth2 for the code exchange). Discovery runs at the first
// login and is retried until it succeeds.
func NewOIDCLogin(cfg OIDCConfig) Login { return &oidcLogin{cfg: cfg} }

type oidcLogin struct {
	cfg OIDCConfig

	mu       sync.Mutex
	oauth    *oauth2.Config
	verifier *identity.Verifier
}

func (l *oidcLogin) client() *http.Client {
	if l.cfg.HTTPClient != nil {
		return l.cfg.HTTPClient
	}
	return &http.Client{Timeout: 10 * time.Second}
}

func (l *oidcLogin) setup(ctx context.Context) (*oauth2.Config, *identity.Verifier, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.oauth != nil {
		return l.oauth, l.verifier, nil
	}
	ctx = oidc.ClientContext(ctx, l.client())
	provider, err := oidc.NewProvider(ctx, l.cfg.Issuer)
	if err != nil {
		return nil, nil, fmt.Errorf("console login: discovery for issuer %q: %w", l.cfg.Issuer, err)
	}
	ep := provider.Endpoint()
	if ep.AuthURL == "" || ep.TokenURL == "" {
		return nil, nil, fmt.Errorf("console login: issuer %q has no authorization or token endpoint in its discovery document; "+
			"people log in with the authorization code flow", l.cfg.Issuer)
	}
	var keys struct {
		JWKSURL string `json:"jwks_uri"`
	}
	_ = provider.Claims(&keys)
	// The ID token is for the console: its audience is the console's
	// client id, never the gateway's API audience.
	v, err := identity.NewVerifier(ctx, identity.VerifierConfig{Issuer: l.cfg.Issuer, Audience: l.cfg.ClientID,
		GroupsClaim: l.cfg.GroupsClaim, JWKSURL: keys.JWKSURL, HTTPClient: l.client()})
	if err != nil {
		return nil, nil, err
	}
	if l.cfg.ClientSecret == "" {
		// A public client authenticates with PKCE alone.
		ep.AuthStyle = oauth2.AuthStyleInParams
	}
	l.oauth = &oauth2.Config{ClientID: l.cfg.ClientID, ClientSecret: l.cfg.ClientSecret, Endpoint: ep,
		RedirectURL: l.cfg.RedirectURL, Scopes: append([]string{oidc.ScopeOpenID}, l.cfg.Scopes...)}
	l.verifier = v
	return l.oauth, l.verifier, nil
}

func (l *oidcLogin) AuthCodeURL(ctx context.Context, state, nonce, verifier string) (string, error) {
	oc, _, err := l.setup(ctx)
	if err != nil {
		return "", err
	}
	return oc.AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)), nil
}

func (l *oidcLogin) Exchange(ctx context.Context, code, verifier, nonce string) (*identity.Principal, error) {
	oc, v, err := l.setup(ctx)
	if err != nil {
		return nil, err
	}
	tok, err := oc.Exchange(context.WithValue(ctx, oauth2.HTTPClient, l.client()), code, oauth2.VerifierOption(verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.ErrorCode != "" {
			return nil, fmt.Errorf("the issuer refused the login code: %s", re.ErrorCode)
		}
		return nil, errors.New("the login code could not be redeemed at the issuer")
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return nil, errors.New("the issuer returned no ID token (is the console's client allowed the openid scope?)")
	}
	p, err := v.Verify(ctx, raw)
	if err != nil {
		var ae *identity.AuthError
		if errors.As(err, &ae) {
			return nil, fmt.Errorf("ID token refused: %s", ae.Reason)
		}
		return nil, errors.New("ID token refused")
	}
	var got string
	if rawNonce, ok := p.Claims["nonce"]; ok {
		_ = json.Unmarshal(rawNonce, &got)
	}
	if subtle.ConstantTimeCompare([]byte(got), []byte(nonce)) != 1 {
		return nil, errors.New("ID token refused: its nonce is not this login's")
	}
	return p, nil
}

// Cookie names. The session cookie is scoped to the console's path.
const (
	sessionCookie = "airlock_console"
	loginCookie   = "airlock_console_login"
	loginTTL      = 10 * time.Minute
	maxSessions   = 10000
	maxLogins     = 1000
	// Per source address and per subject: far above what a person does,
	// far below what would crowd others out.
	maxLoginsPerSource    = 32
	maxSessionsPerSubject = 32
)

// session is one logged-in person. Its id lives only in the browser's
// cookie; the table keys on the id's hash.
type session struct {
	p       *identity.Principal
	csrf    string
	expires time.Time
	// flash is the confirmation of this person's last decision or
	// revocation, shown once by the next page (never read from a URL).
	flash string
}

type pendingLogin struct {
	verifier, nonce, next string
	from                  string // the browser's address, for fair eviction
	expires               time.Time
}

// sessions is the server-side session table: lost on restart (people log
// in again), bounded, expired lazily.
type sessions struct {
	ttl time.Duration
	now func() time.Time

	mu     sync.Mutex
	live   map[string]*session
	logins map[string]*pendingLogin
}

func newSessions(ttl time.Duration, now func() time.Time) *sessions {
	return &sessions{ttl: ttl, now: now, live: map[string]*session{}, logins: map[string]*pendingLogin{}}
}

func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashID(id string) string {
	h := sha256.Sum256([]byte(id))
	return hex.EncodeToString(h[:])
}

// beginLogin records a login in progress for a browser at from (its
// address) and returns its state. The table is bounded per source and in
// all: a source that starts logins it never finishes evicts its own
// oldest, and when the table is full the source holding the most entries
// loses its oldest, so a flood from one address cannot push out another
// person's login.
func (s *sessions) beginLogin(next, from string) (state string, pl *pendingLogin) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if len(s.logins) >= maxLogins {
		for k, v := range s.logins {
			if !v.expires.After(now) {
				delete(s.logins, k)
			}
		}
	}
	evictFair(s.logins, from, maxLoginsPerSource, maxLogins,
		func(v *pendingLogin) (string, time.Time) { return v.from, v.expires })
	state = randomToken()
	pl = &pendingLogin{verifier: oauth2.GenerateVerifier(), nonce: randomToken(), next: next, from: from, expires: now.Add(loginTTL)}
	s.logins[hashID(state)] = pl
	return state, pl
}

// evictFair makes room in m for one more entry of owner: first by dropping
// owner's oldest entries while it holds perOwner, then, while m holds
// total, the oldest entry of whichever owner holds the most. ownerOf gives
// an entry's owner and the time it expires (older entries expire first).
// A flood from one owner stays within its share, so the table rarely
// fills and the scans stay one pass without allocating.
func evictFair[V any](m map[string]V, owner string, perOwner, total int, ownerOf func(V) (string, time.Time)) {
	for {
		n, oldest := holding(m, owner, ownerOf)
		if n < perOwner {
			break
		}
		delete(m, oldest)
	}
	for len(m) >= total {
		count := map[string]int{owner: 0}
		for _, v := range m {
			o, _ := ownerOf(v)
			count[o]++
		}
		top := owner
		for o, n := range count {
			if n > count[top] {
				top = o
			}
		}
		n, oldest := holding(m, top, ownerOf)
		if n == 0 {
			return
		}
		delete(m, oldest)
	}
}

// holding counts owner's entries in m and finds its oldest.
func holding[V any](m map[string]V, owner string, ownerOf func(V) (string, time.Time)) (n int, oldest string) {
	var exp time.Time
	for k, v := range m {
		if o, e := ownerOf(v); o == owner {
			if n++; oldest == "" || e.Before(exp) {
				oldest, exp = k, e
			}
		}
	}
	return n, oldest
}

// finishLogin takes the login in progress for state, once.
func (s *sessions) finishLogin(state string) *pendingLogin {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := hashID(state)
	pl := s.logins[k]
	delete(s.logins, k)
	if pl == nil || !pl.expires.After(s.now()) {
		return nil
	}
	return pl
}

// create starts a session for p and returns its id. The session ends at
// the TTL, or earlier when the same subject opens more than
// maxSessionsPerSubject sessions (its oldest ends) or the table is full
// (the oldest session of the subject holding the most ends): one account
// logging in again and again cannot log everyone else out.
func (s *sessions) create(p *identity.Principal) (string, *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if len(s.live) >= maxSessions {
		for k, v := range s.live {
			if !v.expires.After(now) {
				delete(s.live, k)
			}
		}
	}
	evictFair(s.live, p.Subject, maxSessionsPerSubject, maxSessions,
		func(v *session) (string, time.Time) { return v.p.Subject, v.expires })
	id := randomToken()
	ss := &session{p: p, csrf: randomToken(), expires: now.Add(s.ttl)}
	s.live[hashID(id)] = ss
	return id, ss
}

func (s *sessions) get(id string) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := hashID(id)
	ss := s.live[k]
	if ss != nil && !ss.expires.After(s.now()) {
		delete(s.live, k)
		return nil
	}
	return ss
}

// setFlash keeps msg for ss's next page.
func (s *sessions) setFlash(ss *session, msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss.flash = msg
}

// takeFlash returns ss's confirmation, once.
func (s *sessions) takeFlash(ss *session) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	msg := ss.flash
	ss.flash = ""
	return msg
}

func (s *sessions) end(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.live, hashID(id))
}

func isHTTPS(publicURL string) bool {
	u, err := url.Parse(publicURL)
	return err == nil && u.Scheme == "https"
}

func (c *Console) cookie(name, value, path string, maxAge int, r *http.Request) *http.Cookie {
	return &http.Cookie{Name: name, Value: value, Path: path, MaxAge: maxAge, HttpOnly: true,
		Secure: c.secure || r.TLS != nil, SameSite: http.SameSiteLaxMode}
}

// safeNext keeps a post-login redirect inside the console.
func safeNext(next string) string {
	if !strings.HasPrefix(next, Path+"/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return Path + "/"
	}
	if u, err := url.Parse(next); err != nil || u.Host != "" || u.Scheme != "" {
		return Path + "/"
	}
	return next
}

// handleLogin starts the authorization code flow.
func (c *Console) handleLogin(w http.ResponseWriter, r *http.Request) {
	state, pl := c.sessions.beginLogin(safeNext(r.URL.Query().Get("next")), sourceOf(r))
	u, err := c.login.AuthCodeURL(r.Context(), state, pl.nonce, pl.verifier)
	if err != nil {
		c.log.Error("console: login cannot start", "err", err)
		c.renderError(w, r, nil, http.StatusBadGateway, "Login is not available: the identity provider could not be reached or does not support the authorization code flow. An operator can find the cause in the gateway's log.")
		return
	}
	http.SetCookie(w, c.cookie(loginCookie, state, Path+"/auth/", int(loginTTL/time.Second), r))
	http.Redirect(w, r, u, http.StatusFound)
}

// handleCallback finishes the flow: the state must be this browser's, the
// code is redeemed with the PKCE verifier, the ID token verified, and a
// new session begins.
func (c *Console) handleCallback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	http.SetCookie(w, c.cookie(loginCookie, "", Path+"/auth/", -1, r))
	ck, err := r.Cookie(loginCookie)
	state := q.Get("state")
	if err != nil || state == "" || subtle.ConstantTimeCompare([]byte(ck.Value), []byte(state)) != 1 {
		c.renderError(w, r, nil, http.StatusBadRequest, "This login did not start in this browser, or took too long. Log in again.")
		return
	}
	pl := c.sessions.finishLogin(state)
	if pl == nil {
		c.renderError(w, r, nil, http.StatusBadRequest, "This login has expired or was already used. Log in again.")
		return
	}
	if e := q.Get("error"); e != "" {
		c.renderError(w, r, nil, http.StatusForbidden, "The identity provider refused the login ("+e+").")
		return
	}
	p, err := c.login.Exchange(r.Context(), q.Get("code"), pl.verifier, pl.nonce)
	if err != nil {
		c.log.Warn("console: login refused", "reason", err.Error(), "remote", r.RemoteAddr)
		c.renderError(w, r, nil, http.StatusForbidden, "Login failed: "+err.Error()+".")
		return
	}
	p.Claims = nil // nothing of the token is kept but who and which groups
	id, _ := c.sessions.create(p)
	http.SetCookie(w, c.cookie(sessionCookie, id, Path, int(c.o.Config.Console.SessionTTL/time.Second), r))
	c.log.Info("console: login", "subject", p.Subject)
	http.Redirect(w, r, pl.next, http.StatusSeeOther)
}

func (c *Console) handleLogout(w http.ResponseWriter, r *http.Request, s *session) {
	if ck, err := r.Cookie(sessionCookie); err == nil {
		c.sessions.end(ck.Value)
	}
	http.SetCookie(w, c.cookie(sessionCookie, "", Path, -1, r))
	c.render(w, r, http.StatusOK, "loggedout", &page{Title: "Logged out"})
}

type sessionKey struct{}

// authed admits a request with a live session; pages without one go to
// the login, everything else gets 401. State-changing requests must carry
// the session's CSRF token and come from the console's own origin.
func (c *Console) authed(h func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var s *session
		if ck, err := r.Cookie(sessionCookie); err == nil {
			s = c.sessions.get(ck.Value)
		}
		if s == nil {
			if r.Method == http.MethodGet && r.Header.Get("Accept") != "text/event-stream" {
				http.Redirect(w, r, Path+"/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusFound)
				return
			}
			http.Error(w, "not logged in", http.StatusUnauthorized)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			if !c.sameOrigin(r) {
				http.Error(w, "cross-origin request refused", http.StatusForbidden)
				return
			}
			r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
			tok := r.Header.Get("X-CSRF-Token")
			if tok == "" {
				tok = r.PostFormValue("csrf")
			}
			if subtle.ConstantTimeCompare([]byte(tok), []byte(s.csrf)) != 1 {
				c.renderError(w, r, s, http.StatusForbidden, "This form has expired or did not come from the console (CSRF token missing or wrong). Reload the page and try again.")
				return
			}
		}
		h(w, r.WithContext(context.WithValue(r.Context(), sessionKey{}, s)), s)
	}
}

// sameOrigin refuses requests a browser marks as coming from another
// site: by Sec-Fetch-Site, else by Origin.
func (c *Console) sameOrigin(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
	default:
		return false
	}
	o := r.Header.Get("Origin")
	if o == "" {
		return true // not a browser's cross-site request; the CSRF token still decides
	}
	self, err := url.Parse(c.o.Config.Server.PublicURL)
	if err != nil {
		return false
	}
	return o == self.Scheme+"://"+self.Host || o == originOf(r)
}

func originOf(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// sourceOf is the address a request came from, without its port: behind
// a proxy every browser shares the proxy's, and the per-source bound then
// still bounds the whole table.
func sourceOf(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
