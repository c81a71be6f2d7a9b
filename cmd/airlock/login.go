package main

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"html"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/airlockhq/airlock/config"
	"github.com/airlockhq/airlock/server"
)

const loginUsage = `usage: airlock login  [--config F] [--server URL] [--client-id ID] [--port N]
                      [--scopes openid,...] [--param k=v]... [--id-token] [--no-resource]
                      [--no-browser]
       airlock logout [--config F] [--server URL]

Logs you in to the gateway's identity provider in your browser
(authorization code flow with PKCE, redirected to a listener on
127.0.0.1) and keeps the token in a file only you can read
($AIRLOCK_TOKEN_CACHE, default <user cache dir>/airlock/tokens.json), so
"airlock approvals" and "airlock grants" work without --token.

The issuer is the one the gateway names in its protected resource
metadata. Without --client-id, the CLI registers itself with the issuer
(dynamic client registration, as the dev issuer offers); with an IdP that
has none, register a public ("native") client whose redirect URI is
http://127.0.0.1:PORT/callback and pass --client-id and --port (see
docs/oauth.md); a client secret, where the IdP insists on one for native
apps, is read from $AIRLOCK_CLIENT_SECRET.
`

// loginTimeout bounds how long the CLI waits for the browser.
const loginTimeout = 5 * time.Minute

// cachedLogin is one gateway's entry in the token cache.
type cachedLogin struct {
	Token   string    `json:"token"`
	Expiry  time.Time `json:"expiry,omitzero"`
	Issuer  string    `json:"issuer"`
	Subject string    `json:"subject,omitempty"`
}

// tokenCachePath is where logins are kept: $AIRLOCK_TOKEN_CACHE, else
// tokens.json in the user's cache directory.
func tokenCachePath() (string, error) {
	if p := os.Getenv("AIRLOCK_TOKEN_CACHE"); p != "" {
		return p, nil
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("token cache: %w (set AIRLOCK_TOKEN_CACHE)", err)
	}
	return filepath.Join(dir, "airlock", "tokens.json"), nil
}

// readTokenCache returns the cache's entries; a missing file is empty. A
// file that others may read is refused rather than trusted.
func readTokenCache(path string) (map[string]cachedLogin, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]cachedLogin{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("token cache: %w", err)
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && runtime.GOOS != "windows" && st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("token cache %s: mode %o lets others read it: run chmod 600 %s, or delete it and log in again", path, st.Mode().Perm(), path)
	}
	m := map[string]cachedLogin{}
	if err := json.NewDecoder(io.LimitReader(f, 4<<20)).Decode(&m); err != nil {
		return nil, fmt.Errorf("token cache %s: not valid JSON (delete it and log in again)", path)
	}
	return m, nil
}

// writeTokenCache replaces the cache atomically, mode 0600 in a 0700
// directory.
func writeTokenCache(path string, m map[string]cachedLogin) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("token cache: %w", err)
	}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tokens-*") // mode 0600
	if err != nil {
		return fmt.Errorf("token cache: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("token cache: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("token cache: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("token cache: %w", err)
	}
	return nil
}

// cachedToken returns the token kept for the gateway at base, or an error
// that says how to get one.
func cachedToken(base string) (string, error) {
	path, err := tokenCachePath()
	if err != nil {
		return "", err
	}
	m, err := readTokenCache(path)
	if err != nil {
		return "", err
	}
	e, ok := m[base]
	if !ok || e.Token == "" {
		return "", usageError("a token is required: run `airlock login`, pass --token, or set AIRLOCK_TOKEN")
	}
	if !e.Expiry.IsZero() && time.Now().Add(30*time.Second).After(e.Expiry) {
		return "", usageError(fmt.Sprintf("your login to %s expired at %s: run `airlock login` again", base, e.Expiry.Local().Format(time.RFC3339)))
	}
	return e.Token, nil
}

// gatewayBase is --server, else server.public_url from the config.
func gatewayBase(srv, cfgPath string) (string, error) {
	base := srv
	if base == "" {
		cfg, err := config.Load(cfgPath)
		if err != nil {
			return "", fmt.Errorf("%w (or pass --server)", err)
		}
		base = cfg.Server.PublicURL
	}
	return strings.TrimSuffix(base, "/"), nil
}

type paramFlag []string

func (p *paramFlag) String() string { return strings.Join(*p, ",") }
func (p *paramFlag) Set(v string) error {
	if k, _, ok := strings.Cut(v, "="); !ok || k == "" {
		return fmt.Errorf("want k=v, got %q", v)
	}
	*p = append(*p, v)
	return nil
}

func cmdLogin(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, cfgPath := newFlags("login")
	srv := fs.String("server", "", "gateway URL (default: server.public_url from the config)")
	clientID := fs.String("client-id", os.Getenv("AIRLOCK_CLIENT_ID"), "OAuth client id registered at the IdP (default $AIRLOCK_CLIENT_ID; empty: register dynamically)")
	port := fs.Int("port", 0, "loopback port for the redirect (0: any free port; fix it when the IdP needs an exact redirect URI)")
	scopes := fs.String("scopes", "openid", "comma-separated scopes to request")
	var params paramFlag
	fs.Var(&params, "param", "extra authorization request parameter k=v (repeatable), e.g. audience=airlock for Auth0")
	useID := fs.Bool("id-token", false, "keep the ID token instead of the access token (IdPs whose access tokens are opaque, e.g. Google; identity.audience must then be the client id)")
	noBrowser := fs.Bool("no-browser", false, "print the login URL instead of opening a browser")
	noResource := fs.Bool("no-resource", false, "do not send the resource indicator (RFC 8707); for IdPs that refuse it, e.g. Entra ID (AADSTS901002)")
	fs.Usage = func() { fmt.Fprint(fs.Output(), loginUsage); fs.PrintDefaults() }
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *port < 0 || *port > 65535 {
		return usageError("--port: want 0-65535")
	}
	base, err := gatewayBase(*srv, *cfgPath)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, loginTimeout)
	defer cancel()
	hc := &http.Client{Timeout: 30 * time.Second}
	ctx = oidc.ClientContext(ctx, hc)

	// 1. The gateway names its issuer and resource (RFC 9728).
	var prm struct {
		Resource             string   `json:"resource"`
		AuthorizationServers []string `json:"authorization_servers"`
	}
	if err := getJSON(ctx, hc, base+server.PathResourceMeta, &prm); err != nil {
		return fmt.Errorf("reading the gateway's protected resource metadata: %w", err)
	}
	if len(prm.AuthorizationServers) == 0 {
		return fmt.Errorf("the gateway at %s names no authorization server", base)
	}
	issuer := prm.AuthorizationServers[0]

	// 2. The issuer's endpoints (OIDC discovery; the issuer must match).
	provider, err := oidc.NewProvider(ctx, issuer)
	if err != nil {
		return fmt.Errorf("discovering issuer %s: %w", issuer, err)
	}
	var meta struct {
		Registration string   `json:"registration_endpoint"`
		PKCE         []string `json:"code_challenge_methods_supported"`
	}
	_ = provider.Claims(&meta)

	// 3. A loopback listener for the redirect (RFC 8252 §7.3).
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(*port)))
	if err != nil {
		return fmt.Errorf("listening for the login redirect on 127.0.0.1:%d: %w", *port, err)
	}
	defer ln.Close()
	redirect := "http://" + ln.Addr().String() + "/callback"

	// 4. The client: given, or registered now (RFC 7591).
	// A "desktop" client of some IdPs (Google) has a secret that is not
	// secret; it is read from the environment only, never a flag, to keep
	// it out of shell history and ps.
	conf := oauth2.Config{ClientID: *clientID, ClientSecret: os.Getenv("AIRLOCK_CLIENT_SECRET"),
		Endpoint: provider.Endpoint(), RedirectURL: redirect}
	for s := range strings.SplitSeq(*scopes, ",") {
		if s = strings.TrimSpace(s); s != "" {
			conf.Scopes = append(conf.Scopes, s)
		}
	}
	if conf.ClientID == "" {
		if meta.Registration == "" {
			return usageError(fmt.Sprintf("issuer %s offers no dynamic client registration: register a public client with redirect URI http://127.0.0.1:PORT/callback, then run airlock login --client-id ID --port PORT (docs/oauth.md)", issuer))
		}
		id, secret, err := registerCLI(ctx, hc, meta.Registration, redirect)
		if err != nil {
			return err
		}
		conf.ClientID, conf.ClientSecret = id, secret
	} else if len(meta.PKCE) > 0 && !slices.Contains(meta.PKCE, "S256") {
		return fmt.Errorf("issuer %s does not offer PKCE with S256 (code_challenge_methods_supported: %v)", issuer, meta.PKCE)
	}

	// 5. The browser leg, with PKCE S256 and a state bound to this run.
	verifier := oauth2.GenerateVerifier()
	state := randomString()
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier)}
	if prm.Resource != "" && !*noResource {
		opts = append(opts, oauth2.SetAuthURLParam("resource", prm.Resource))
	}
	for _, p := range params {
		k, v, _ := strings.Cut(p, "=")
		opts = append(opts, oauth2.SetAuthURLParam(k, v))
	}
	authURL := conf.AuthCodeURL(state, opts...)
	codec := make(chan callbackResult, 1)
	hs := &http.Server{Handler: callbackHandler(state, codec), ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	defer hs.Close()

	fmt.Fprintf(stderr, "Log in to %s in your browser:\n\n  %s\n\n", issuer, authURL)
	if !*noBrowser {
		if err := openBrowser(authURL); err != nil {
			fmt.Fprintln(stderr, "(could not open a browser: open the URL above yourself)")
		}
	}
	fmt.Fprintln(stderr, "Waiting for the login to finish…")
	var res callbackResult
	select {
	case res = <-codec:
	case <-ctx.Done():
		return fmt.Errorf("login not finished within %s", loginTimeout)
	}
	if res.err != nil {
		return res.err
	}

	// 6. The token, bound to the same resource.
	xopts := []oauth2.AuthCodeOption{oauth2.VerifierOption(verifier)}
	if prm.Resource != "" && !*noResource {
		xopts = append(xopts, oauth2.SetAuthURLParam("resource", prm.Resource))
	}
	tok, err := conf.Exchange(ctx, res.code, xopts...)
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			return fmt.Errorf("token request refused: %s %s", re.ErrorCode, re.ErrorDescription)
		}
		return fmt.Errorf("token request: %w", err)
	}
	entry := cachedLogin{Token: tok.AccessToken, Expiry: tok.Expiry, Issuer: issuer}
	if raw, ok := tok.Extra("id_token").(string); ok && raw != "" {
		idt, err := provider.Verifier(&oidc.Config{ClientID: conf.ClientID}).Verify(ctx, raw)
		if err != nil {
			return fmt.Errorf("the issuer's ID token does not verify: %w", err)
		}
		entry.Subject = idt.Subject
		if *useID {
			entry.Token, entry.Expiry = raw, idt.Expiry
		}
	} else if *useID {
		return errors.New("--id-token: the issuer returned no ID token (request the openid scope)")
	}
	if entry.Token == "" {
		return errors.New("the issuer returned no access token")
	}
	if err := checkGatewayAccepts(ctx, hc, base, entry.Token); err != nil {
		return err
	}
	path, err := tokenCachePath()
	if err != nil {
		return err
	}
	m, err := readTokenCache(path)
	if err != nil {
		return err
	}
	m[base] = entry
	if err := writeTokenCache(path, m); err != nil {
		return err
	}
	who := entry.Subject
	if who == "" {
		who = "you"
	}
	fmt.Fprintf(stdout, "Logged in to %s as %s", base, who)
	if !entry.Expiry.IsZero() {
		fmt.Fprintf(stdout, " until %s", entry.Expiry.Local().Format(time.RFC3339))
	}
	fmt.Fprintf(stdout, "; token kept in %s\n", path)
	return nil
}

func cmdLogout(args []string, stdout io.Writer) error {
	fs, cfgPath := newFlags("logout")
	srv := fs.String("server", "", "gateway URL (default: server.public_url from the config)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	base, err := gatewayBase(*srv, *cfgPath)
	if err != nil {
		return err
	}
	path, err := tokenCachePath()
	if err != nil {
		return err
	}
	m, err := readTokenCache(path)
	if err != nil {
		return err
	}
	if _, ok := m[base]; !ok {
		fmt.Fprintf(stdout, "Not logged in to %s\n", base)
		return nil
	}
	delete(m, base)
	if err := writeTokenCache(path, m); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Logged out of %s\n", base)
	return nil
}

type callbackResult struct {
	code string
	err  error
}

// callbackHandler takes the one redirect that carries this run's state;
// anything else is refused without ending the wait.
func callbackHandler(state string, out chan<- callbackResult) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/callback" {
			http.NotFound(w, r)
			return
		}
		q := r.URL.Query()
		if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(state)) != 1 {
			http.Error(w, "this login link does not belong to the airlock login waiting here", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Referrer-Policy", "no-referrer")
		var res callbackResult
		if e := q.Get("error"); e != "" {
			res.err = fmt.Errorf("login refused by the issuer: %s %s", e, q.Get("error_description"))
			fmt.Fprintf(w, "<!doctype html><title>airlock login</title><p>Login failed: %s. You can close this tab.</p>", html.EscapeString(e))
		} else if res.code = q.Get("code"); res.code == "" {
			res.err = errors.New("the issuer redirected back without a code")
			fmt.Fprint(w, "<!doctype html><title>airlock login</title><p>Login failed: no code. You can close this tab.</p>")
		} else {
			fmt.Fprint(w, "<!doctype html><title>airlock login</title><p>Logged in. You can close this tab and return to the terminal.</p>")
		}
		select {
		case out <- res:
		default: // a second redirect with the same state: the first one counts
		}
	})
}

// checkGatewayAccepts asks the gateway whether it takes the token, so a
// token for the wrong audience is reported now, not at the next command.
func checkGatewayAccepts(ctx context.Context, hc *http.Client, base, token string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+server.PathAdminAPI+"requests?status=pending", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("checking the token with the gateway: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		return nil
	}
	var e struct {
		Description string `json:"error_description"`
	}
	_ = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&e)
	return fmt.Errorf("logged in at the issuer, but the gateway refuses the token (%s): check identity.audience and the IdP's audience setup (docs/oauth.md, audience binding); nothing was saved", e.Description)
}

// registerCLI registers the CLI as a public client (RFC 7591).
func registerCLI(ctx context.Context, hc *http.Client, endpoint, redirect string) (id, secret string, err error) {
	body, _ := json.Marshal(map[string]any{
		"client_name":                "airlock CLI",
		"redirect_uris":              []string{redirect},
		"grant_types":                []string{"authorization_code"},
		"response_types":             []string{"code"},
		"token_endpoint_auth_method": "none",
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(string(body)))
	if err != nil {
		return "", "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return "", "", fmt.Errorf("client registration: %w", err)
	}
	defer resp.Body.Close()
	var out struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
		Error        string `json:"error"`
		Description  string `json:"error_description"`
	}
	_ = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&out)
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK || out.ClientID == "" {
		return "", "", fmt.Errorf("client registration refused (%s): %s %s; pass --client-id", resp.Status, out.Error, out.Description)
	}
	return out.ClientID, out.ClientSecret, nil
}

func getJSON(ctx context.Context, hc *http.Client, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(v)
}

func randomString() string {
	b := make([]byte, 24)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// openBrowser asks the desktop to open u; it does not wait for it.
func openBrowser(u string) error {
	var cmd *exec.Cmd
	switch runtime.GOOS {
	case "darwin":
		cmd = exec.Command("open", u)
	case "windows":
		cmd = exec.Command("rundll32", "url.dll,FileProtocolHandler", u)
	default:
		if os.Getenv("DISPLAY") == "" && os.Getenv("WAYLAND_DISPLAY") == "" {
			return errors.New("no display")
		}
		cmd = exec.Command("xdg-open", u)
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	go cmd.Wait()
	return nil
}

var _ flag.Value = (*paramFlag)(nil)
