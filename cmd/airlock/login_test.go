package main

import (
	"bufio"
	"context"
	"html"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// serveQuickstart runs `airlock serve` on the quick start's config, on a
// free loopback port that is also its public URL.
func serveQuickstart(t *testing.T) (cfgPath, base string) {
	t.Helper()
	p := quickstart(t)
	data, _ := os.ReadFile(p)
	// A free port is picked and then bound by serve, so another process
	// may take it in between: then serve fails to bind, and what answers
	// on the port is not this gateway. Our gateway is up once its banner
	// (printed after it bound) appears; if serve ends first, try a new port.
	for range 5 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		os.WriteFile(p, []byte(strings.Replace(string(data), "listen: 127.0.0.1:8080", "listen: "+addr, 1)), 0o600)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		pr, pw := io.Pipe()
		bound := make(chan struct{})
		go func() {
			sc := bufio.NewScanner(pr)
			for sc.Scan() {
				if strings.Contains(sc.Text(), "Press Ctrl-C to stop") {
					close(bound)
					break
				}
			}
			io.Copy(io.Discard, pr)
		}()
		go func() {
			done <- run(ctx, []string{"serve", "--config", p}, io.Discard, pw)
			pw.Close()
		}()
		select {
		case err := <-done:
			cancel()
			t.Logf("serve on %s ended before it was up (%v); another port", addr, err)
			continue
		case <-bound:
		case <-time.After(60 * time.Second):
			cancel()
			t.Fatal("the gateway never came up")
		}
		t.Cleanup(func() {
			cancel()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				t.Error("serve did not stop")
			}
		})
		return p, "http://" + addr
	}
	t.Fatal("no free port for the gateway after 5 tries")
	return
}

var hiddenInput = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

// browse plays the person's browser: open the login URL, fill the dev
// issuer's form, and follow the redirect to the CLI's loopback listener.
func browse(t *testing.T, authURL, subject, groups string) {
	t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	form := url.Values{"subject": {subject}, "groups": {groups}, "action": {"login"}}
	for _, m := range hiddenInput.FindAllStringSubmatch(string(body), -1) {
		form.Set(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
	}
	resp, err = c.PostForm(strings.Split(authURL, "?")[0], form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("login form: %s", resp.Status)
	}
	resp, err = c.Get(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("callback: %s", resp.Status)
	}
}

// login runs `airlock login --no-browser` and browses to the URL it
// prints.
func loginAs(t *testing.T, cfgPath, subject, groups string) string {
	t.Helper()
	out, err := tryLogin(t, subject, groups, "--config", cfgPath)
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	return out
}

func tryLogin(t *testing.T, subject, groups string, args ...string) (string, error) {
	t.Helper()
	pr, pw := io.Pipe()
	var out strings.Builder
	done := make(chan error, 1)
	go func() {
		err := run(context.Background(), append([]string{"login", "--no-browser"}, args...), &out, pw)
		pw.Close()
		done <- err
	}()
	sc := bufio.NewScanner(pr)
	var authURL string
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); strings.HasPrefix(l, "http") {
			authURL = l
			break
		}
	}
	go io.Copy(io.Discard, pr)
	if authURL == "" {
		t.Fatalf("login printed no URL: %v", <-done)
	}
	u, _ := url.Parse(authURL)
	q := u.Query()
	if q.Get("code_challenge_method") != "S256" || !strings.HasPrefix(q.Get("redirect_uri"), "http://127.0.0.1:") {
		t.Errorf("authorization URL: %s", u.Redacted())
	}
	browse(t, authURL, subject, groups)
	select {
	case err := <-done:
		return out.String(), err
	case <-time.After(60 * time.Second):
		t.Fatal("login did not finish")
	}
	return "", nil
}

// TestLoginThenAdminCommands: `airlock login` through the dev issuer's
// login form keeps a token (0600) that `approvals` and `grants` use.
func TestLoginThenAdminCommands(t *testing.T) {
	cache := filepath.Join(t.TempDir(), "cache", "tokens.json")
	t.Setenv("AIRLOCK_TOKEN_CACHE", cache)
	t.Setenv("AIRLOCK_TOKEN", "")
	t.Setenv("AIRLOCK_CLIENT_ID", "")
	p, base := serveQuickstart(t)

	if out, err := runCmd(t, "approvals", "list", "--config", p); err == nil || !strings.Contains(out+err.Error(), "airlock login") {
		t.Fatalf("before login: %v %s", err, out)
	}
	out := loginAs(t, p, "dana", "dba")
	if !strings.Contains(out, "Logged in to "+base+" as dana") {
		t.Errorf("login output: %s", out)
	}
	st, err := os.Stat(cache)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("cache mode %o", st.Mode().Perm())
	}
	for _, args := range [][]string{{"approvals", "list"}, {"grants", "list"}} {
		if out, err := runCmd(t, append(args, "--config", p)...); err != nil {
			t.Errorf("%v after login: %v %s", args, err, out)
		}
	}

	// A cache others can read is not trusted.
	os.Chmod(cache, 0o644)
	if out, err := runCmd(t, "approvals", "list", "--config", p); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("world-readable cache: %v %s", err, out)
	}
	os.Chmod(cache, 0o600)

	if out, err := runCmd(t, "logout", "--config", p); err != nil || !strings.Contains(out, "Logged out") {
		t.Fatalf("logout: %v %s", err, out)
	}
	if _, err := runCmd(t, "approvals", "list", "--config", p); err == nil || !strings.Contains(err.Error(), "airlock login") {
		t.Errorf("after logout: %v", err)
	}
}

func TestCachedTokenExpired(t *testing.T) {
	cache := filepath.Join(t.TempDir(), "tokens.json")
	t.Setenv("AIRLOCK_TOKEN_CACHE", cache)
	if err := writeTokenCache(cache, map[string]cachedLogin{
		"http://gw": {Token: "x", Expiry: time.Now().Add(-time.Minute)},
		"http://ok": {Token: "y", Expiry: time.Now().Add(time.Hour)},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := cachedToken("http://gw"); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Errorf("expired: %v", err)
	}
	if tok, err := cachedToken("http://ok"); err != nil || tok != "y" {
		t.Errorf("valid: %q %v", tok, err)
	}
	if _, err := cachedToken("http://other"); err == nil || !strings.Contains(err.Error(), "airlock login") {
		t.Errorf("unknown gateway: %v", err)
	}
}

// TestLoginRefusedByGateway: gateway B trusts A's dev issuer but wants
// another audience; a login to B through A (without the resource
// indicator, which A would refuse) gets a token B refuses, and login says
// so instead of keeping it.
func TestLoginRefusedByGateway(t *testing.T) {
	cache := filepath.Join(t.TempDir(), "tokens.json")
	t.Setenv("AIRLOCK_TOKEN_CACHE", cache)
	t.Setenv("AIRLOCK_CLIENT_ID", "")
	_, baseA := serveQuickstart(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addrB := ln.Addr().String()
	ln.Close()
	p := filepath.Join(t.TempDir(), "airlock.yaml")
	os.WriteFile(p, []byte("server: {listen: "+addrB+"}\nidentity: {issuer: "+baseA+"/oidc, audience: airlock-b}\n"+
		"store: sqlite:airlock.db\nconnections:\n  demo: {kind: sqlite, path: demo.db, seed: demo}\n"), 0o600)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve", "--config", p}, io.Discard, io.Discard) }()
	defer func() { cancel(); <-done }()
	baseB := "http://" + addrB
	for i := 0; i < 200; i++ {
		if resp, err := http.Get(baseB + "/healthz"); err == nil {
			resp.Body.Close()
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	_, err = tryLogin(t, "dana", "dba", "--server", baseB, "--no-resource")
	if err == nil || !strings.Contains(err.Error(), "refuses the token") || !strings.Contains(err.Error(), "audience") {
		t.Fatalf("login to B: %v", err)
	}
	if m, _ := readTokenCache(cache); len(m) != 0 {
		t.Errorf("a refused token was kept: %v", m)
	}
}
