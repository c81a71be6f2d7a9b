package identity

import (
	"context"
	"encoding/json"
	"errors"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

const testRedirect = "http://127.0.0.1:1/callback"

// newAuthzIssuer serves a dev issuer with authorization enabled; the
// resource "…/mcp" binds to testAudience and "https://other.example/mcp"
// to another audience.
func newAuthzIssuer(t testing.TB) (*DevIssuer, *httptest.Server) {
	t.Helper()
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	d, err := LoadOrCreateDevIssuer(srv.URL+"/oidc", filepath.Join(t.TempDir(), "dev.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.EnableAuthorization(DevAuthConfig{
		Audience: testAudience,
		Resources: map[string]string{
			srv.URL + "/mcp":            testAudience,
			"https://other.example/mcp": "other-audience",
		},
		SuggestedGroups: []string{"approvers"},
	}); err != nil {
		t.Fatal(err)
	}
	mux.Handle("/oidc/", d.Handler())
	mux.Handle(d.AuthorizationServerMetadataPath(), d.Handler())
	return d, srv
}

// noRedirect is a client that stops at the first redirect, as the
// redirect URI needs no listener.
func noRedirect() *http.Client {
	return &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

var hiddenRE = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

// login follows the login form as a browser would: GET the authorization
// URL, POST the form with subject and groups, and return the redirect.
func login(t *testing.T, authURL, subject, groups, action string) *url.URL {
	t.Helper()
	c := noRedirect()
	resp, err := c.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode == http.StatusFound {
		loc, _ := url.Parse(resp.Header.Get("Location"))
		return loc
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET authorize: %s: %s", resp.Status, body)
	}
	if !strings.Contains(string(body), "DEVELOPMENT ONLY") {
		t.Error("login form lacks the DEVELOPMENT ONLY banner")
	}
	if resp.Header.Get("X-Frame-Options") != "DENY" || resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("login form headers: %v", resp.Header)
	}
	form := url.Values{"subject": {subject}, "groups": {groups}, "action": {action}}
	for _, m := range hiddenRE.FindAllStringSubmatch(string(body), -1) {
		form.Set(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
	}
	resp, err = c.PostForm(strings.Split(authURL, "?")[0], form)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("POST authorize: %s: %s", resp.Status, body)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// TestDevIssuerAuthCodeFlow drives the flow with golang.org/x/oauth2 and
// go-oidc, as the console and `airlock login` do.
func TestDevIssuerAuthCodeFlow(t *testing.T) {
	d, srv := newAuthzIssuer(t)
	ctx := context.Background()
	if err := d.RegisterClient(DevClient{ID: "console", Secret: "s3cret", RedirectURIs: []string{testRedirect}, Name: "Airlock console"}); err != nil {
		t.Fatal(err)
	}
	provider, err := oidc.NewProvider(ctx, d.Issuer())
	if err != nil {
		t.Fatal(err)
	}
	var meta struct {
		Methods []string `json:"code_challenge_methods_supported"`
		Reg     string   `json:"registration_endpoint"`
	}
	if err := provider.Claims(&meta); err != nil || !slices.Equal(meta.Methods, []string{"S256"}) || meta.Reg != d.RegistrationEndpoint() {
		t.Fatalf("discovery: %+v %v", meta, err)
	}
	conf := oauth2.Config{ClientID: "console", ClientSecret: "s3cret", Endpoint: provider.Endpoint(),
		RedirectURL: testRedirect, Scopes: []string{oidc.ScopeOpenID}}

	verifier := oauth2.GenerateVerifier()
	loc := login(t, conf.AuthCodeURL("st-1", oauth2.S256ChallengeOption(verifier), oidc.Nonce("n-1")), "alice", "approvers, dev dev", "login")
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != testRedirect || loc.Query().Get("state") != "st-1" {
		t.Fatalf("redirect = %s", loc.Redacted())
	}
	code := loc.Query().Get("code")
	tok, err := conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := provider.Verifier(&oidc.Config{ClientID: "console"}).Verify(ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	if idt.Subject != "alice" || idt.Nonce != "n-1" {
		t.Errorf("id token: sub=%q nonce=%q", idt.Subject, idt.Nonce)
	}
	if tok.TokenType != "Bearer" || tok.Expiry.IsZero() {
		t.Errorf("token: type=%q expiry=%v", tok.TokenType, tok.Expiry)
	}

	// The access token is what the gateway accepts; the ID token is not.
	v, err := NewVerifier(ctx, VerifierConfig{Issuer: d.Issuer(), Audience: testAudience})
	if err != nil {
		t.Fatal(err)
	}
	p, err := v.Verify(ctx, tok.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if p.Subject != "alice" || !slices.Equal(p.Groups, []string{"approvers", "dev"}) || p.Agent != "console" {
		t.Errorf("principal = %+v", p)
	}
	if _, err := v.Verify(ctx, raw); err == nil {
		t.Error("the gateway accepted an ID token as an access token")
	}

	// A code works once.
	if _, err := conf.Exchange(ctx, code, oauth2.VerifierOption(verifier)); !isOAuthErr(err, "invalid_grant") {
		t.Errorf("second redemption: %v", err)
	}
	_ = srv
}

func isOAuthErr(err error, code string) bool {
	var re *oauth2.RetrieveError
	return errors.As(err, &re) && re.ErrorCode == code
}

// TestDevIssuerTokenRefusals covers each way an exchange must fail.
func TestDevIssuerTokenRefusals(t *testing.T) {
	d, _ := newAuthzIssuer(t)
	ctx := context.Background()
	d.RegisterClient(DevClient{ID: "pub", RedirectURIs: []string{testRedirect}})
	d.RegisterClient(DevClient{ID: "conf", Secret: "s3cret", RedirectURIs: []string{testRedirect}})
	ep := oauth2.Endpoint{AuthURL: d.AuthorizationEndpoint(), TokenURL: d.TokenEndpoint(), AuthStyle: oauth2.AuthStyleInParams}
	pub := oauth2.Config{ClientID: "pub", Endpoint: ep, RedirectURL: testRedirect}

	codeFor := func(c oauth2.Config, verifier string, opts ...oauth2.AuthCodeOption) string {
		t.Helper()
		opts = append(opts, oauth2.S256ChallengeOption(verifier))
		loc := login(t, c.AuthCodeURL("s", opts...), "bob", "", "login")
		code := loc.Query().Get("code")
		if code == "" {
			t.Fatalf("no code: %s", loc.Query().Get("error_description"))
		}
		return code
	}
	ver := oauth2.GenerateVerifier()

	t.Run("wrong verifier", func(t *testing.T) {
		code := codeFor(pub, ver)
		if _, err := pub.Exchange(ctx, code, oauth2.VerifierOption(oauth2.GenerateVerifier())); !isOAuthErr(err, "invalid_grant") {
			t.Errorf("got %v", err)
		}
		// The failed attempt used the code up.
		if _, err := pub.Exchange(ctx, code, oauth2.VerifierOption(ver)); !isOAuthErr(err, "invalid_grant") {
			t.Errorf("retry after failure: %v", err)
		}
	})
	t.Run("no verifier", func(t *testing.T) {
		if _, err := pub.Exchange(ctx, codeFor(pub, ver)); !isOAuthErr(err, "invalid_grant") {
			t.Errorf("got %v", err)
		}
	})
	t.Run("expired code", func(t *testing.T) {
		code := codeFor(pub, ver)
		a := d.authz.Load()
		a.now = func() time.Time { return time.Now().Add(codeTTL + time.Second) }
		defer func() { a.now = time.Now }()
		if _, err := pub.Exchange(ctx, code, oauth2.VerifierOption(ver)); !isOAuthErr(err, "invalid_grant") {
			t.Errorf("got %v", err)
		}
	})
	t.Run("other client", func(t *testing.T) {
		code := codeFor(pub, ver)
		c := oauth2.Config{ClientID: "conf", ClientSecret: "s3cret", Endpoint: ep, RedirectURL: testRedirect}
		if _, err := c.Exchange(ctx, code, oauth2.VerifierOption(ver)); !isOAuthErr(err, "invalid_grant") {
			t.Errorf("got %v", err)
		}
	})
	t.Run("redirect mismatch", func(t *testing.T) {
		code := codeFor(pub, ver)
		c := pub
		c.RedirectURL = testRedirect + "/x"
		if _, err := c.Exchange(ctx, code, oauth2.VerifierOption(ver)); !isOAuthErr(err, "invalid_grant") {
			t.Errorf("got %v", err)
		}
	})
	t.Run("bad secret", func(t *testing.T) {
		c := oauth2.Config{ClientID: "conf", ClientSecret: "s3cret", Endpoint: ep, RedirectURL: testRedirect}
		code := codeFor(c, ver)
		c.ClientSecret = "wrong"
		if _, err := c.Exchange(ctx, code, oauth2.VerifierOption(ver)); !isOAuthErr(err, "invalid_client") {
			t.Errorf("got %v", err)
		}
	})
	t.Run("confidential without secret", func(t *testing.T) {
		c := oauth2.Config{ClientID: "conf", Endpoint: ep, RedirectURL: testRedirect}
		if _, err := c.Exchange(ctx, codeFor(c, ver), oauth2.VerifierOption(ver)); !isOAuthErr(err, "invalid_client") {
			t.Errorf("got %v", err)
		}
	})
	t.Run("resource changed", func(t *testing.T) {
		code := codeFor(pub, ver)
		if _, err := pub.Exchange(ctx, code, oauth2.VerifierOption(ver),
			oauth2.SetAuthURLParam("resource", "https://other.example/mcp")); !isOAuthErr(err, "invalid_target") {
			t.Errorf("got %v", err)
		}
	})
}

// TestDevIssuerAuthorizeRefusals: errors about the client or redirect URI
// are shown, never redirected; the rest go back to the client.
func TestDevIssuerAuthorizeRefusals(t *testing.T) {
	d, _ := newAuthzIssuer(t)
	d.RegisterClient(DevClient{ID: "pub", RedirectURIs: []string{testRedirect}})
	chal := oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())
	base := url.Values{"response_type": {"code"}, "client_id": {"pub"}, "redirect_uri": {testRedirect},
		"code_challenge": {chal}, "code_challenge_method": {"S256"}, "state": {"s"}}
	with := func(k, v string) url.Values {
		q := url.Values{}
		for kk, vv := range base {
			q[kk] = slices.Clone(vv)
		}
		if v == "" {
			q.Del(k)
		} else {
			q.Set(k, v)
		}
		return q
	}
	for _, tc := range []struct {
		name   string
		q      url.Values
		status int
		err    string // redirected error, when status is 302
	}{
		{"unknown client", with("client_id", "nobody"), 400, ""},
		{"no redirect", with("redirect_uri", ""), 400, ""},
		{"redirect prefix", with("redirect_uri", testRedirect+"/evil"), 400, ""},
		{"redirect other host", with("redirect_uri", "http://127.0.0.2:1/callback"), 400, ""},
		{"no pkce", with("code_challenge", ""), 302, "invalid_request"},
		{"plain pkce", with("code_challenge_method", "plain"), 302, "invalid_request"},
		{"no method", with("code_challenge_method", ""), 302, "invalid_request"},
		{"short challenge", with("code_challenge", "abc"), 302, "invalid_request"},
		{"token response", with("response_type", "token"), 302, "unsupported_response_type"},
		{"unknown resource", with("resource", "https://evil.example/mcp"), 302, "invalid_target"},
		{"repeated param", func() url.Values { q := with("state", "s"); q.Add("state", "t"); return q }(), 400, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := noRedirect().Get(d.AuthorizationEndpoint() + "?" + tc.q.Encode())
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if tc.status == 302 {
				loc, _ := url.Parse(resp.Header.Get("Location"))
				if loc.Query().Get("error") != tc.err || loc.Query().Get("code") != "" || loc.Query().Get("state") != "s" {
					t.Errorf("redirect = %s", loc)
				}
			}
		})
	}

	// The person cancels.
	loc := login(t, d.AuthorizationEndpoint()+"?"+base.Encode(), "x", "", "deny")
	if loc.Query().Get("error") != "access_denied" || loc.Query().Get("code") != "" {
		t.Errorf("deny: %s", loc)
	}
	// A POST that did not come from the form is refused.
	forged := with("state", "s")
	forged.Set("subject", "mallory")
	resp, err := noRedirect().PostForm(d.AuthorizationEndpoint(), forged)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("forged POST: %s", resp.Status)
	}
}

// TestDevIssuerDynamicRegistration registers a public client the way MCP
// clients do (RFC 7591), finds the metadata at the RFC 8414 location, and
// checks that a token for another resource carries the other audience and
// is refused by a verifier for this one.
func TestDevIssuerDynamicRegistration(t *testing.T) {
	d, srv := newAuthzIssuer(t)
	ctx := context.Background()

	resp, err := http.Get(srv.URL + "/.well-known/oauth-authorization-server/oidc")
	if err != nil {
		t.Fatal(err)
	}
	var meta map[string]any
	json.NewDecoder(resp.Body).Decode(&meta)
	resp.Body.Close()
	if meta["issuer"] != d.Issuer() || meta["registration_endpoint"] != d.RegistrationEndpoint() ||
		resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("RFC 8414 metadata: %v", meta)
	}

	reg := func(body string) (int, map[string]any) {
		resp, err := http.Post(d.RegistrationEndpoint(), "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	for _, bad := range []string{
		`{}`,
		`{"redirect_uris":["http://example.com/cb"]}`,
		`{"redirect_uris":["javascript:alert(1)"]}`,
		`{"redirect_uris":["https://example.com/cb#frag"]}`,
		`{"redirect_uris":["https://example.com/cb"],"grant_types":["client_credentials"]}`,
		`{"redirect_uris":["https://example.com/cb"],"token_endpoint_auth_method":"private_key_jwt"}`,
		`not json`,
	} {
		if st, out := reg(bad); st != 400 || out["error"] == "" {
			t.Errorf("%s: %d %v", bad, st, out)
		}
	}
	st, out := reg(`{"redirect_uris":["` + testRedirect + `"],"client_name":"MCP Inspector","token_endpoint_auth_method":"none","grant_types":["authorization_code","refresh_token"]}`)
	id, _ := out["client_id"].(string)
	if st != 201 || !strings.HasPrefix(id, "mcp-inspector-") || out["client_secret"] != nil {
		t.Fatalf("register: %d %v", st, out)
	}

	conf := oauth2.Config{ClientID: id, RedirectURL: testRedirect, Endpoint: oauth2.Endpoint{
		AuthURL: d.AuthorizationEndpoint(), TokenURL: d.TokenEndpoint(), AuthStyle: oauth2.AuthStyleInParams}}
	here, err := NewVerifier(ctx, VerifierConfig{Issuer: d.Issuer(), Audience: testAudience})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		resource string
		accepted bool
	}{{srv.URL + "/mcp", true}, {"https://other.example/mcp", false}} {
		ver := oauth2.GenerateVerifier()
		res := oauth2.SetAuthURLParam("resource", tc.resource)
		loc := login(t, conf.AuthCodeURL("s", oauth2.S256ChallengeOption(ver), res), "carol", "dev", "login")
		tok, err := conf.Exchange(ctx, loc.Query().Get("code"), oauth2.VerifierOption(ver), res)
		if err != nil {
			t.Fatal(err)
		}
		p, err := here.Verify(ctx, tok.AccessToken)
		if tc.accepted && (err != nil || p.Subject != "carol" || p.Agent != id) {
			t.Errorf("%s: %v %+v", tc.resource, err, p)
		}
		if !tc.accepted {
			var ae *AuthError
			if !errors.As(err, &ae) || !strings.Contains(ae.Reason, "audience") {
				t.Errorf("%s: token for another audience: %v", tc.resource, err)
			}
		}
	}
}

func TestCheckRedirectURI(t *testing.T) {
	for _, tc := range []struct {
		uri string
		ok  bool
	}{
		{"https://claude.ai/api/mcp/auth_callback", true},
		{"http://localhost:6274/oauth/callback", true},
		{"http://127.0.0.1:33418/", true},
		{"http://[::1]:9/cb", true},
		{"cursor://anysphere.cursor-retrieval/oauth/callback", true},
		{"http://example.com/cb", false},
		{"http://localhost.evil.com/cb", false},
		{"https:///nohost", false},
		{"javascript:alert(1)", false},
		{"data:text/html,x", false},
		{"https://u:p@example.com/cb", false},
		{"https://example.com/cb#x", false},
		{"/relative", false},
	} {
		if err := checkRedirectURI(tc.uri); (err == nil) != tc.ok {
			t.Errorf("%q: %v, want ok=%v", tc.uri, err, tc.ok)
		}
	}
}

func TestEnableAuthorizationErrors(t *testing.T) {
	d := newInProcessIssuer(t)
	if err := d.RegisterClient(DevClient{ID: "x", RedirectURIs: []string{testRedirect}}); err == nil {
		t.Error("RegisterClient before EnableAuthorization succeeded")
	}
	for _, c := range []DevAuthConfig{
		{},
		{Audience: "a", GroupsClaim: "sub"},
		{Audience: "a", Resources: map[string]string{"not a url": "a"}},
		{Audience: "a", Resources: map[string]string{"https://x/mcp": ""}},
	} {
		if err := d.EnableAuthorization(c); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	if err := d.EnableAuthorization(DevAuthConfig{Audience: "airlock"}); err != nil {
		t.Fatal(err)
	}
	if err := d.RegisterClient(DevClient{ID: "airlock", RedirectURIs: []string{testRedirect}}); err == nil {
		t.Error("a client id equal to the audience was accepted")
	}
}

// FuzzCheckRedirectURI: whatever it accepts is absolute, has no fragment
// or user info, is not a script scheme, and is on a loopback host if it
// is plain http.
func FuzzCheckRedirectURI(f *testing.F) {
	for _, s := range []string{"https://a.example/cb", "http://127.0.0.1:1/cb", "http://localhost/cb",
		"cursor://x/cb", "javascript:alert(1)", "http://example.com/", "HTTP://LOCALHOST/", "https://u@h/#f", "http://[::1]:0/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if checkRedirectURI(raw) != nil {
			return
		}
		u, err := url.Parse(raw)
		if err != nil || !u.IsAbs() || u.Fragment != "" || strings.Contains(raw, "#") || u.User != nil {
			t.Fatalf("accepted %q", raw)
		}
		switch s := strings.ToLower(u.Scheme); s {
		case "javascript", "data", "file", "vbscript":
			t.Fatalf("accepted script scheme %q", raw)
		case "http":
			if !isLoopbackHost(u.Hostname()) {
				t.Fatalf("accepted non-loopback http %q", raw)
			}
		}
	})
}

// FuzzTokenEndpoint posts arbitrary bodies: the answer is always a JSON
// OAuth error (never a token, never a 5xx), as no code was issued.
func FuzzTokenEndpoint(f *testing.F) {
	d := newInProcessIssuer(f)
	if err := d.EnableAuthorization(DevAuthConfig{Audience: "airlock"}); err != nil {
		f.Fatal(err)
	}
	d.RegisterClient(DevClient{ID: "pub", RedirectURIs: []string{testRedirect}})
	h := d.Handler()
	f.Add("grant_type=authorization_code&code=x&client_id=pub&code_verifier=" + strings.Repeat("a", 43))
	f.Add("grant_type=refresh_token")
	f.Add("%zz")
	f.Add("client_id=pub&client_id=pub")
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest("POST", "/oidc/token", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var out map[string]string
		if rec.Code < 400 || rec.Code >= 500 || json.Unmarshal(rec.Body.Bytes(), &out) != nil || out["error"] == "" || out["access_token"] != "" {
			t.Fatalf("%q: %d %s", body, rec.Code, rec.Body)
		}
	})
}

func BenchmarkCheckRedirectURI(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = checkRedirectURI("http://localhost:6274/oauth/callback")
	}
}

// BenchmarkTokenExchange: one login's token request (code lookup, PKCE,
// signing the access and ID tokens).
func BenchmarkTokenExchange(b *testing.B) {
	d := newInProcessIssuer(b)
	if err := d.EnableAuthorization(DevAuthConfig{Audience: "airlock"}); err != nil {
		b.Fatal(err)
	}
	a := d.authz.Load()
	a.clients["pub"] = &DevClient{ID: "pub", RedirectURIs: []string{testRedirect}}
	ver := oauth2.GenerateVerifier()
	chal := oauth2.S256ChallengeFromVerifier(ver)
	h := d.Handler()
	b.ReportAllocs()
	for b.Loop() {
		code, _ := a.newCode(&authCode{clientID: "pub", redirectURI: testRedirect, challenge: chal,
			subject: "alice", groups: []string{"dev"}, scope: "openid", audience: "airlock"})
		body := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "client_id": {"pub"},
			"redirect_uri": {testRedirect}, "code_verifier": {ver}}.Encode()
		req := httptest.NewRequest("POST", "/oidc/token", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatal(rec.Body)
		}
	}
}

// TestDevIssuerInProcessExchange: the token endpoint also works through
// HTTPClient (no listener), as a gateway-side client such as the console
// may use it; and the endpoints answer CORS preflights.
func TestDevIssuerInProcessExchange(t *testing.T) {
	d := newInProcessIssuer(t)
	if err := d.EnableAuthorization(DevAuthConfig{Audience: "airlock"}); err != nil {
		t.Fatal(err)
	}
	if err := d.RegisterClient(DevClient{ID: "console", Secret: "s", RedirectURIs: []string{"http://127.0.0.1:1/console/callback"}}); err != nil {
		t.Fatal(err)
	}
	ctx := oidc.ClientContext(context.Background(), d.HTTPClient())
	provider, err := oidc.NewProvider(ctx, d.Issuer())
	if err != nil {
		t.Fatal(err)
	}
	ver := oauth2.GenerateVerifier()
	code, oe := d.authz.Load().newCode(&authCode{clientID: "console", redirectURI: "http://127.0.0.1:1/console/callback",
		challenge: oauth2.S256ChallengeFromVerifier(ver), subject: "erin", groups: []string{"auditors"}, scope: "openid", audience: "airlock"})
	if oe != nil {
		t.Fatal(oe)
	}
	conf := oauth2.Config{ClientID: "console", ClientSecret: "s", Endpoint: provider.Endpoint(), RedirectURL: "http://127.0.0.1:1/console/callback"}
	tok, err := conf.Exchange(ctx, code, oauth2.VerifierOption(ver))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := provider.Verifier(&oidc.Config{ClientID: "console"}).Verify(ctx, raw)
	if err != nil || idt.Subject != "erin" {
		t.Fatalf("id token: %v %v", idt, err)
	}

	for _, p := range []string{"/token", "/register", "/.well-known/openid-configuration", "/jwks"} {
		req := httptest.NewRequest("OPTIONS", d.Issuer()+p, nil)
		req.Header.Set("Origin", "http://localhost:6274")
		req.Header.Set("Access-Control-Request-Method", "POST")
		rec := httptest.NewRecorder()
		d.Handler().ServeHTTP(rec, req)
		if rec.Code != http.StatusNoContent || rec.Header().Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("preflight %s: %d %v", p, rec.Code, rec.Header())
		}
	}
	// The login form is a top-level page: no CORS.
	rec := httptest.NewRecorder()
	d.Handler().ServeHTTP(rec, httptest.NewRequest("GET", d.AuthorizationEndpoint(), nil))
	if rec.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Error("authorize endpoint allows cross-origin reads")
	}
}

// TestDevIssuerAuthorizeOnlyAtItsHost: a web page that rebinds its own
// name to the gateway's address (DNS rebinding) reaches the login form
// same-origin; it must get neither the form (its token) nor a code, or
// any site a developer visits could mint tokens as anyone, with any
// groups, from the developer's browser.
func TestDevIssuerAuthorizeOnlyAtItsHost(t *testing.T) {
	d, srv := newAuthzIssuer(t)
	d.RegisterClient(DevClient{ID: "pub", RedirectURIs: []string{testRedirect}})
	q := url.Values{"response_type": {"code"}, "client_id": {"pub"}, "redirect_uri": {testRedirect},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())}, "code_challenge_method": {"S256"}}
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		var req *http.Request
		if method == http.MethodGet {
			req, _ = http.NewRequest(method, d.AuthorizationEndpoint()+"?"+q.Encode(), nil)
		} else {
			f := url.Values{"subject": {"mallory"}, "groups": {"platform"}, "action": {"login"}}
			for k, v := range q {
				f[k] = v
			}
			req, _ = http.NewRequest(method, d.AuthorizationEndpoint(), strings.NewReader(f.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		req.Host = "rebind.example:" + port
		resp, err := noRedirect().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusMisdirectedRequest || strings.Contains(string(body), "form_token") || resp.Header.Get("Location") != "" {
			t.Fatalf("%s with a foreign Host: %s %s\n%s", method, resp.Status, resp.Header.Get("Location"), body)
		}
	}
	// The issuer's own host still works, the default port written or not.
	if loc := login(t, d.AuthorizationEndpoint()+"?"+q.Encode(), "alice", "dev", "login"); loc.Query().Get("code") == "" {
		t.Fatalf("login at the issuer's host: %s", loc)
	}
}
