package console_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/airlockhq/airlock/config"
	"github.com/airlockhq/airlock/identity"
	"github.com/airlockhq/airlock/server"
)

// fakeIdP is an OIDC provider for tests of the console's login: discovery,
// JWKS (a dev issuer's key), an authorization endpoint that logs in
// whoever the test says, and a token endpoint that checks the PKCE
// verifier and returns an ID token. Tamper lets a test break one thing.
type fakeIdP struct {
	t      *testing.T
	URL    string
	dev    *identity.DevIssuer
	srv    *http.Server
	mu     sync.Mutex
	who    identity.Principal
	codes  map[string]authCode
	Tamper func(claims map[string]any)
	// Challenges records each authorization request's PKCE method.
	Methods []string
}

type authCode struct {
	challenge, nonce, clientID, redirect string
	who                                  identity.Principal
}

func newFakeIdP(t *testing.T) *fakeIdP {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	idp := &fakeIdP{t: t, URL: "http://" + ln.Addr().String(), codes: map[string]authCode{}}
	idp.dev, err = identity.LoadOrCreateDevIssuer(idp.URL, filepath.Join(t.TempDir(), "idp.pem"))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{
			"issuer": idp.URL, "jwks_uri": idp.URL + "/jwks",
			"authorization_endpoint": idp.URL + "/authorize", "token_endpoint": idp.URL + "/token",
			"response_types_supported": []string{"code"}, "subject_types_supported": []string{"public"},
			"id_token_signing_alg_values_supported": []string{"RS256"}, "code_challenge_methods_supported": []string{"S256"},
		})
	})
	mux.Handle("GET /jwks", idp.dev.Handler())
	mux.HandleFunc("GET /authorize", idp.authorize)
	mux.HandleFunc("POST /token", idp.token)
	idp.srv = &http.Server{Handler: mux}
	go idp.srv.Serve(ln)
	t.Cleanup(func() { idp.srv.Close() })
	return idp
}

// As sets who the next logins are.
func (idp *fakeIdP) As(subject string, groups ...string) {
	idp.mu.Lock()
	defer idp.mu.Unlock()
	idp.who = identity.Principal{Subject: subject, Groups: groups}
}

func (idp *fakeIdP) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	idp.mu.Lock()
	defer idp.mu.Unlock()
	idp.Methods = append(idp.Methods, q.Get("code_challenge_method"))
	if q.Get("response_type") != "code" || q.Get("code_challenge") == "" || !strings.Contains(q.Get("scope"), "openid") {
		http.Error(w, "bad authorization request", http.StatusBadRequest)
		return
	}
	code := fmt.Sprintf("code-%d", len(idp.codes)+1)
	idp.codes[code] = authCode{challenge: q.Get("code_challenge"), nonce: q.Get("nonce"), clientID: q.Get("client_id"),
		redirect: q.Get("redirect_uri"), who: idp.who}
	http.Redirect(w, r, q.Get("redirect_uri")+"?code="+code+"&state="+url.QueryEscape(q.Get("state")), http.StatusFound)
}

func (idp *fakeIdP) token(w http.ResponseWriter, r *http.Request) {
	idp.mu.Lock()
	c, ok := idp.codes[r.PostFormValue("code")]
	delete(idp.codes, r.PostFormValue("code"))
	tamper := idp.Tamper
	idp.mu.Unlock()
	sum := sha256.Sum256([]byte(r.PostFormValue("code_verifier")))
	switch {
	case !ok:
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"error":"invalid_grant"}`)
		return
	case base64.RawURLEncoding.EncodeToString(sum[:]) != c.challenge:
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"error":"invalid_grant","error_description":"PKCE verifier does not match"}`)
		return
	case r.PostFormValue("client_id") != c.clientID || r.PostFormValue("redirect_uri") != c.redirect:
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"error":"invalid_client"}`)
		return
	}
	now := time.Now()
	claims := map[string]any{"iss": idp.URL, "sub": c.who.Subject, "aud": c.clientID, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"nonce": c.nonce, "groups": c.who.Groups}
	if tamper != nil {
		tamper(claims)
	}
	payload, _ := json.Marshal(claims)
	idt, err := idp.dev.SignRaw(payload)
	if err != nil {
		idp.t.Error(err)
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"access_token": "opaque", "token_type": "Bearer", "expires_in": 3600, "id_token": idt})
}

// Token mints an API token for an agent at this IdP (audience airlock).
func (idp *fakeIdP) Token(t *testing.T, subject string, groups ...string) string {
	t.Helper()
	tok, err := idp.dev.Mint(identity.MintOptions{Subject: subject, Groups: groups, Audience: "airlock", TTL: 10 * time.Minute, Agent: "test-agent"})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// testRules: analysts get reads by themselves; writes on demo need a dba's
// approval of each call; contractors' grants need two dbas.
const testRules = `
rules:%s
  - {name: analysts-read, groups: [analysts], connections: [demo], access: [read], effect: allow, grant: {mode: auto, max_duration: 1h}}
  - {name: analysts-write-approved, groups: [analysts], connections: [demo], access: [write], effect: approve,
     grant: {mode: auto, approvers: [dba], max_duration: 1h}}
  - {name: contractors-read, groups: [contractors], connections: [demo], access: [read], effect: allow,
     grant: {mode: approval, approvers: [dba], min_approvals: 2, max_duration: 30m}}
admin:
  groups: [platform]
  auditors: [audit]
approvals:
  wait: 60s
`

type stack struct {
	G    *server.Gateway
	Base string
	Cfg  *config.Config
	IdP  *fakeIdP
}

// startStack runs a gateway on a loopback port of its own (its public URL
// is the console's redirect URI) with issuer = the fake IdP, or with the
// built-in dev issuer when idp is nil.
func startStack(t *testing.T, idp *fakeIdP, extra string) *stack {
	t.Helper()
	return startStackWith(t, idp, "", "", extra)
}

// startStackWith is startStack with more connections (indented entries)
// and rules (list items, placed first).
func startStackWith(t *testing.T, idp *fakeIdP, conns, rules string, extra ...string) *stack {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	ident := "identity:\n  audience: airlock\n  dev_issuer: {enabled: true}\n"
	if idp != nil {
		ident = fmt.Sprintf("identity:\n  audience: airlock\n  issuer: %s\n", idp.URL)
	}
	dir := t.TempDir()
	yaml := fmt.Sprintf("server:\n  listen: %s\n  public_url: %s\n%sstore: sqlite:airlock.db\nconnections:\n  demo: {kind: sqlite, path: demo.db, seed: demo, description: Demo shop}\n",
		ln.Addr(), base, ident) + conns + fmt.Sprintf(testRules, rules) + strings.Join(extra, "")
	p := filepath.Join(dir, "airlock.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	g, err := server.New(context.Background(), cfg, server.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: g.Handler()}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close(); g.Close() })
	return &stack{G: g, Base: base, Cfg: cfg, IdP: idp}
}

// person is a browser stand-in: a cookie jar that follows redirects.
type person struct {
	t    *testing.T
	c    *http.Client
	base string
}

func (s *stack) login(t *testing.T, subject string, groups ...string) *person {
	t.Helper()
	s.IdP.As(subject, groups...)
	jar, _ := cookiejar.New(nil)
	p := &person{t: t, c: &http.Client{Jar: jar, Timeout: 30 * time.Second}, base: s.Base}
	code, body := p.get("/console/")
	if code != http.StatusOK || !strings.Contains(body, `id="whoami">`+subject+`<`) {
		t.Fatalf("login as %s: %d\n%s", subject, code, body)
	}
	return p
}

func (p *person) get(path string) (int, string) {
	p.t.Helper()
	resp, err := p.c.Get(p.base + path)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// csrf reads the session's CSRF token from a console page.
func (p *person) csrf() string {
	p.t.Helper()
	_, body := p.get("/console/")
	i := strings.Index(body, `name="csrf" value="`)
	if i < 0 {
		p.t.Fatalf("no CSRF token on the page:\n%s", body)
	}
	rest := body[i+len(`name="csrf" value="`):]
	return rest[:strings.IndexByte(rest, '"')]
}

// post submits a console form (same origin, as a browser would).
func (p *person) post(path string, form url.Values) (int, string) {
	p.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, p.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", p.base)
	resp, err := p.c.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// agent connects an MCP client over streamable HTTP with a bearer token.
func agent(t *testing.T, base, token string) *client.Client {
	t.Helper()
	return agentVersion(t, base, token, mcp.LATEST_PROTOCOL_VERSION)
}

// agentVersion is agent speaking the given protocol version; before
// 2026-07-28 streamable HTTP has sessions, which the journal records.
func agentVersion(t *testing.T, base, token, version string) *client.Client {
	t.Helper()
	c, err := client.NewStreamableHttpClient(base+server.PathMCP, transport.WithHTTPHeaders(map[string]string{"Authorization": "Bearer " + token}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	req := mcp.InitializeRequest{}
	req.Params.ProtocolVersion = version
	req.Params.ClientInfo = mcp.Implementation{Name: "console-test-agent", Version: "1"}
	if _, err := c.Initialize(ctx, req); err != nil {
		t.Fatal(err)
	}
	return c
}

func call(t *testing.T, c *client.Client, name string, args map[string]any) *mcp.CallToolResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	req := mcp.CallToolRequest{}
	req.Params.Name = name
	req.Params.Arguments = args
	res, err := c.CallTool(ctx, req)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return res
}

func text(res *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}

// pending waits until the store holds a pending request of subject and
// returns its id.
func (s *stack) pending(t *testing.T, subject string) string {
	t.Helper()
	for range 600 {
		list, err := s.G.Store().ListRequests(context.Background(), storeFilterPending(subject))
		if err != nil {
			t.Fatal(err)
		}
		if len(list) > 0 {
			return list[0].ID
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no pending request of %s", subject)
	return ""
}

func newJar() http.CookieJar {
	j, _ := cookiejar.New(nil)
	return j
}

// goCall calls a tool in the background (the call may wait for a human)
// and delivers its result, or nil when the call failed (the test may end
// first and close the client).
func goCall(t *testing.T, c *client.Client, name string, args map[string]any) <-chan *mcp.CallToolResult {
	out := make(chan *mcp.CallToolResult, 1)
	go func() {
		defer close(out)
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		req := mcp.CallToolRequest{}
		req.Params.Name = name
		req.Params.Arguments = args
		res, err := c.CallTool(ctx, req)
		if err != nil {
			t.Logf("%s: %v", name, err)
			return
		}
		out <- res
	}()
	return out
}
