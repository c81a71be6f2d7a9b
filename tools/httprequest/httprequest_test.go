package httprequest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airlockhq/airlock/config"
	"github.com/airlockhq/airlock/policy"
	"github.com/airlockhq/airlock/policy/httpguard"
	"github.com/airlockhq/airlock/recorder"
	"github.com/airlockhq/airlock/tools"
)

const secret = "s3cr3t-T0ken/with+chars=="

// target is an httptest server that records what arrives.
type target struct {
	*httptest.Server
	hits     atomic.Int32
	lastAuth atomic.Value
}

func newTarget(t testing.TB, h http.HandlerFunc) *target {
	t.Helper()
	tg := &target{}
	tg.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tg.hits.Add(1)
		tg.lastAuth.Store(r.Header.Get("Authorization"))
		h(w, r)
	}))
	t.Cleanup(tg.Close)
	return tg
}

// honeypot is a loopback listener that counts every TCP connection it
// accepts, on 127.0.0.1 and, where available, on ::1 with the same port.
type honeypot struct {
	port int
	hits atomic.Int32
}

func newHoneypot(t *testing.T) *honeypot {
	t.Helper()
	hp := &honeypot{}
	l4, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hp.port = l4.Addr().(*net.TCPAddr).Port
	ls := []net.Listener{l4}
	if l6, err := net.Listen("tcp", fmt.Sprintf("[::1]:%d", hp.port)); err == nil {
		ls = append(ls, l6)
	}
	for _, l := range ls {
		t.Cleanup(func() { l.Close() })
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				hp.hits.Add(1)
				c.Close()
			}
		}()
	}
	return hp
}

func httpConn(baseURL string, mod func(*config.HTTPSettings)) *config.Connection {
	c := &config.Connection{Kind: config.KindHTTP, HTTP: config.HTTPSettings{
		BaseURL: baseURL, AllowPrivateNetwork: true,
		Headers: map[string]string{"Authorization": "Bearer " + secret, "Accept": "application/json"},
		Timeout: 5 * time.Second, MaxRequestBytes: 1 << 10, MaxResponseBytes: 1 << 16,
	}}
	if mod != nil {
		mod(&c.HTTP)
	}
	return c
}

func newTestTool(t testing.TB, conns map[string]*config.Connection, lookup resolver) *Tool {
	t.Helper()
	if lookup == nil {
		lookup = systemResolver
	}
	tl, err := newTool(&tools.Env{Config: &config.Config{Connections: conns}, Policy: policy.NewEngine(nil)}, lookup)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tl.Close() })
	return tl
}

func call(t testing.TB, tl *Tool, args map[string]any) (*tools.Call, *tools.Result, error) {
	t.Helper()
	c, err := tl.Parse(args)
	if err != nil {
		return nil, nil, err
	}
	r, err := tl.Execute(context.Background(), c)
	return c, r, err
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestCredentialInjectedNeverReturned(t *testing.T) {
	tg := newTarget(t, func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		w.Header().Set("X-Request-Id", auth)
		w.Header().Set("Set-Cookie", "session="+secret)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"echo": auth, "token": strings.TrimPrefix(auth, "Bearer "), auth: "as a key",
			"path": r.URL.EscapedPath(), "query": r.URL.RawQuery, "agent": r.Header.Get("X-Trace"),
			"big": json.Number("9007199254740993"), "n": 42,
		})
	})
	tl := newTestTool(t, map[string]*config.Connection{"api": httpConn(tg.URL+"/api/", func(h *config.HTTPSettings) {
		h.AllowHeaders = []string{"X-Trace"}
	})}, nil)
	c, r, err := call(t, tl, map[string]any{"connection": "api", "method": "GET", "path": "/v1/customers/42",
		"query": map[string]any{"limit": float64(10), "tag": []any{"a", "b"}}, "headers": map[string]any{"X-Trace": "t-1"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := tg.lastAuth.Load(); got != "Bearer "+secret {
		t.Errorf("target got Authorization %q", got)
	}
	if c.Access != policy.Read || c.Command != "GET" || c.Resources[0] != "GET /v1/customers/42" || c.NeedsApproval {
		t.Errorf("action %+v", c.Action)
	}
	all := mustJSON(t, r.Structured) + r.Text
	for _, form := range []string{secret, strings.ReplaceAll(secret, "/", `\/`), "s3cr3t-T0ken"} {
		if strings.Contains(all, form) {
			t.Fatalf("credential %q in result: %s", form, all)
		}
	}
	s := r.Structured.(map[string]any)
	body := s["body"].(map[string]any)
	if body["echo"] != "Bearer "+CredentialMark && body["echo"] != CredentialMark || body["token"] != CredentialMark {
		t.Errorf("echo not scrubbed: %v", body)
	}
	if body["path"] != "/api/v1/customers/42" || body["query"] != "limit=10&tag=a&tag=b" || body["agent"] != "t-1" {
		t.Errorf("request as received: %v", body)
	}
	if body["n"] != float64(42) || fmt.Sprint(body["big"]) != "9007199254740993" {
		t.Errorf("numbers: %#v %#v", body["n"], body["big"])
	}
	h := s["headers"].(map[string]any)
	if _, ok := h["Set-Cookie"]; ok || h["Content-Length"] != nil || h["Content-Type"] != "application/json" {
		t.Errorf("headers: %v", h)
	}
	if s["status"] != 200 || s["body_format"] != "json" || s["truncated"] != false {
		t.Errorf("result: %v", s)
	}
	// The agent cannot send or override the credential.
	for _, hdr := range []string{"Authorization", "authorization", "Cookie", "X-Api-Key", "Proxy-Authorization"} {
		if _, err := tl.Parse(map[string]any{"connection": "api", "method": "GET", "path": "/x", "headers": map[string]any{hdr: "mine"}}); err == nil {
			t.Errorf("agent header %s accepted", hdr)
		}
	}
}

func TestOperatorHeadersReplaceAgentHeaders(t *testing.T) {
	var got atomic.Value
	tg := newTarget(t, func(w http.ResponseWriter, r *http.Request) { got.Store(r.Header.Values("X-Tenant")) })
	tl := newTestTool(t, map[string]*config.Connection{"api": httpConn(tg.URL, func(h *config.HTTPSettings) {
		h.Headers["X-Tenant"] = "tenant-acme"
		h.AllowHeaders = []string{"X-Tenant"}
	})}, nil)
	if _, _, err := call(t, tl, map[string]any{"connection": "api", "method": "GET", "path": "/", "headers": map[string]any{"X-Tenant": "other"}}); err != nil {
		t.Fatal(err)
	}
	if v := got.Load().([]string); len(v) != 1 || v[0] != "tenant-acme" {
		t.Errorf("X-Tenant = %v", v)
	}
}

func TestRoutes(t *testing.T) {
	tg := newTarget(t, func(w http.ResponseWriter, r *http.Request) {})
	tl := newTestTool(t, map[string]*config.Connection{"api": httpConn(tg.URL+"/api", func(h *config.HTTPSettings) {
		h.Routes = []httpguard.Route{
			{Methods: []string{"*"}, Path: "/admin/**", Effect: httpguard.EffectDeny},
			{Methods: []string{"GET"}, Path: "/reports/**", Access: policy.Admin},
			{Methods: []string{"POST"}, Path: "/search", Access: policy.Read},
			{Methods: []string{"DELETE"}, Path: "/customers/*", Effect: httpguard.EffectApprove},
			{Methods: []string{"GET", "HEAD", "PUT", "POST"}, Path: "/customers/**"},
		}
	})}, nil)
	cases := []struct {
		method, path string
		access       policy.Access
		approve      bool
		err          string
	}{
		{"GET", "/customers/1", policy.Read, false, ""},
		{"HEAD", "/customers", policy.Read, false, ""},
		{"PUT", "/customers/1", policy.Write, false, ""},
		{"POST", "/search", policy.Read, false, ""},
		{"GET", "/reports/2024", policy.Admin, false, ""},
		{"DELETE", "/customers/1", policy.Write, true, ""},
		{"GET", "/admin/users", "", false, "denied"},
		{"DELETE", "/ADMIN", "", false, "denied"},
		{"PATCH", "/customers/1", "", false, "no route allows PATCH"},
		{"GET", "/orders", "", false, "no route allows"},
		{"get", "/customers/1", "", false, "upper-case"},
		{"TRACE", "/customers/1", "", false, "TRACE"},
	}
	for _, tc := range cases {
		c, err := tl.Parse(map[string]any{"connection": "api", "method": tc.method, "path": tc.path})
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s %s: err %v, want %q", tc.method, tc.path, err, tc.err)
			}
			var ae *tools.AgentError
			if tc.err == "denied" && (!errors.As(err, &ae) || ae.Outcome != recorder.OutcomeDenied) {
				t.Errorf("%s %s: deny route gave %T %v", tc.method, tc.path, err, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s %s: %v", tc.method, tc.path, err)
			continue
		}
		if c.Access != tc.access || c.NeedsApproval != tc.approve || c.Resources[0] != tc.method+" "+tc.path {
			t.Errorf("%s %s: %+v", tc.method, tc.path, c.Action)
		}
	}
	if n := tg.hits.Load(); n != 0 {
		t.Errorf("Parse contacted the target %d times", n)
	}
}

func TestRefusedBeforeSending(t *testing.T) {
	tg := newTarget(t, func(w http.ResponseWriter, r *http.Request) {})
	tl := newTestTool(t, map[string]*config.Connection{"api": httpConn(tg.URL+"/api", nil)}, nil)
	cases := []map[string]any{
		{"path": "/../admin"},
		{"path": "/%2e%2e/admin"},
		{"path": "/v1/%2E./admin"},
		{"path": "//evil.example/"},
		{"path": `/\evil`},
		{"path": `/\\evil`},
		{"path": "/%5cevil"},
		{"path": "/ok@127.0.0.1"},
		{"path": "/a%2fb"},
		{"path": "/a\r\nHost: evil"},
		{"path": "http://evil.example/"},
		{"path": "/x?y=1"},
		{"path": "/x", "headers": map[string]any{"Host": "evil.example"}},
		{"path": "/x", "headers": map[string]any{"host": "127.0.0.1"}},
		{"path": "/x", "headers": map[string]any{"X-Forwarded-Host": "evil.example"}},
		{"path": "/x", "headers": map[string]any{"X-Ok": "a\r\nHost: evil"}},
		{"path": "/x", "query": map[string]any{"a": "b\r\nc"}},
		{"path": "/x", "body": strings.Repeat("a", 2<<10)},
		{"path": "/x", "url": "http://evil.example/"},
	}
	for _, args := range cases {
		args["connection"], args["method"] = "api", "POST"
		if _, _, err := call(t, tl, args); err == nil {
			t.Errorf("accepted %v", args)
		}
	}
	if n := tg.hits.Load(); n != 0 {
		t.Errorf("target contacted %d times", n)
	}
}

func TestRedirects(t *testing.T) {
	hp := newHoneypot(t)
	p := fmt.Sprint(hp.port)
	var location atomic.Value
	tg := newTarget(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/hop":
			http.Redirect(w, r, location.Load().(string), http.StatusFound)
		case "/api/loop":
			http.Redirect(w, r, "/api/loop", http.StatusFound)
		case "/api/moved":
			http.Redirect(w, r, "/api/here", http.StatusMovedPermanently)
		case "/api/to-admin":
			http.Redirect(w, r, "/api/admin/x", http.StatusFound)
		case "/api/to-reports":
			http.Redirect(w, r, "/api/reports/x", http.StatusFound)
		case "/api/to-approve":
			http.Redirect(w, r, "/api/approve/x", http.StatusFound)
		default:
			io.WriteString(w, "at "+r.URL.Path+" auth="+r.Header.Get("Authorization"))
		}
	})
	tl := newTestTool(t, map[string]*config.Connection{"api": httpConn(tg.URL+"/api", func(h *config.HTTPSettings) {
		h.Routes = []httpguard.Route{
			{Methods: []string{"*"}, Path: "/admin/**", Effect: httpguard.EffectDeny},
			{Methods: []string{"GET"}, Path: "/reports/**", Access: policy.Admin},
			{Methods: []string{"GET"}, Path: "/approve/**", Effect: httpguard.EffectApprove},
			{Methods: []string{"GET"}, Path: "/**"},
		}
	})}, nil)
	get := func(path string) (*tools.Result, error) {
		_, r, err := call(t, tl, map[string]any{"connection": "api", "method": "GET", "path": path})
		return r, err
	}
	// Same origin, under the base path: followed, credential kept, and
	// scrubbed from the echo.
	r, err := get("/moved")
	if err != nil || !strings.Contains(r.Text, "at /api/here auth="+CredentialMark) {
		t.Fatalf("same-origin redirect: %v %+v", err, r)
	}
	refused := []string{
		"http://169.254.169.254/latest/meta-data/",
		"http://127.0.0.1:" + p + "/",
		"http://[::ffff:127.0.0.1]:" + p + "/",
		"http://2130706433:" + p + "/",
		"http://0x7f000001:" + p + "/",
		"http://0177.0.0.1:" + p + "/",
		"http://[::]:" + p + "/",
		"http://[::1]:" + p + "/",
		"http://localhost:" + p + "/",
		"//127.0.0.1:" + p + "/",
		"/elsewhere/../../x",
		"/outside-base",
		"https://" + strings.TrimPrefix(tg.URL, "http://") + "/api/x",
		"http://user@" + strings.TrimPrefix(tg.URL, "http://") + "/api/x",
	}
	for _, loc := range refused {
		location.Store(loc)
		r, err := get("/hop")
		var ae *tools.AgentError
		if !errors.As(err, &ae) || ae.Outcome != recorder.OutcomeDenied || !strings.Contains(ae.Msg, "redirect refused") {
			t.Errorf("redirect to %s: %v %+v", loc, err, r)
		}
		if err != nil && strings.Contains(err.Error(), secret) {
			t.Errorf("credential in error: %v", err)
		}
	}
	for _, path := range []string{"/loop", "/to-admin", "/to-reports", "/to-approve"} {
		if _, err := get(path); err == nil || !strings.Contains(err.Error(), "redirect refused") {
			t.Errorf("%s: %v", path, err)
		}
	}
	if n := hp.hits.Load(); n != 0 {
		t.Errorf("honeypot contacted %d times", n)
	}
	// Independently of the redirect rules, the dialler itself refuses
	// every other port and every respelling of the local host.
	cn := tl.conns["api"]
	for _, addr := range []string{"127.0.0.1:" + p, "[::ffff:127.0.0.1]:" + p, "[::]:" + p, "[::1]:" + p,
		"0.0.0.0:" + p, "169.254.169.254:80", "[fe80::1]:80", "[64:ff9b::7f00:1]:" + p} {
		c, err := cn.dial(context.Background(), "tcp", addr)
		if err == nil {
			c.Close()
		}
		if ge := (*httpguard.Error)(nil); !errors.As(err, &ge) {
			t.Errorf("dial %s: %v, want a refusal", addr, err)
		}
	}
	if n := hp.hits.Load(); n != 0 {
		t.Errorf("honeypot contacted %d times by direct dials", n)
	}
}

// staticResolver answers from a map and counts lookups.
func staticResolver(m map[string][]string) resolver {
	return func(_ context.Context, host string) ([]netip.Addr, error) {
		var out []netip.Addr
		for _, s := range m[host] {
			out = append(out, netip.MustParseAddr(s))
		}
		if out == nil {
			return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
		}
		return out, nil
	}
}

func TestMetadataBaseURLRefused(t *testing.T) {
	lookup := staticResolver(map[string][]string{
		"metadata.test": {"169.254.169.254"},
		"mixed.test":    {"10.0.0.7", "169.254.169.254"},
		"private.test":  {"10.0.0.7"},
		"azure.test":    {"168.63.129.16"},
		"imds6.test":    {"fd00:ec2::254"},
	})
	cases := []struct {
		url     string
		private bool
		want    string
	}{
		{"http://metadata.test/latest", false, "169.254.169.254"},
		{"http://metadata.test/latest", true, "169.254.169.254"},
		{"http://mixed.test/", true, "169.254.169.254"},
		{"http://azure.test/", true, "Azure"},
		{"http://imds6.test/", true, "AWS"},
		{"http://169.254.169.254/latest/meta-data/", true, "link-local"},
		{"http://[::ffff:169.254.169.254]/", true, "link-local"},
		{"http://private.test/", false, "does not allow private networks"},
		{"http://127.0.0.1:9/", false, "does not allow private networks"},
		{"http://nowhere.test/", true, "resolve"},
	}
	for _, tc := range cases {
		conns := map[string]*config.Connection{"api": httpConn(tc.url, func(h *config.HTTPSettings) { h.AllowPrivateNetwork = tc.private })}
		_, err := newTool(&tools.Env{Config: &config.Config{Connections: conns}, Policy: policy.NewEngine(nil)}, lookup)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s (private %v): %v, want error with %q", tc.url, tc.private, err, tc.want)
		}
	}
}

// A host that resolves to the API at start-up and to cloud metadata later
// (DNS rebinding) is refused at dial time.
func TestRebindingToMetadataRefusedAtDial(t *testing.T) {
	tg := newTarget(t, func(w http.ResponseWriter, r *http.Request) {})
	port := tg.Listener.Addr().(*net.TCPAddr).Port
	var rebound atomic.Bool
	lookup := func(_ context.Context, host string) ([]netip.Addr, error) {
		if rebound.Load() {
			return []netip.Addr{netip.MustParseAddr("169.254.169.254")}, nil
		}
		return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
	}
	tl := newTestTool(t, map[string]*config.Connection{"api": httpConn(fmt.Sprintf("http://api.test:%d", port), nil)}, lookup)
	if _, _, err := call(t, tl, map[string]any{"connection": "api", "method": "GET", "path": "/"}); err != nil {
		t.Fatal(err)
	}
	tl.Close() // no pooled connection to reuse
	rebound.Store(true)
	_, _, err := call(t, tl, map[string]any{"connection": "api", "method": "GET", "path": "/"})
	var ae *tools.AgentError
	if !errors.As(err, &ae) || ae.Outcome != recorder.OutcomeDenied || !strings.Contains(ae.Msg, "169.254.169.254") {
		t.Errorf("rebound call: %v", err)
	}
	if n := tg.hits.Load(); n != 1 {
		t.Errorf("target hits = %d, want 1", n)
	}
}

func TestResponseCaps(t *testing.T) {
	tg := newTarget(t, func(w http.ResponseWriter, r *http.Request) {
		f := w.(http.Flusher)
		switch r.URL.Path {
		case "/endless":
			w.Header().Set("Content-Type", "application/json")
			chunk := []byte(strings.Repeat(`{"a":1},`, 512))
			for r.Context().Err() == nil {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		case "/slow":
			io.WriteString(w, "first part "+secret[:10])
			f.Flush()
			<-r.Context().Done()
		case "/slow-headers":
			<-r.Context().Done()
		}
	})
	tl := newTestTool(t, map[string]*config.Connection{"api": httpConn(tg.URL, func(h *config.HTTPSettings) {
		h.Timeout = 300 * time.Millisecond
		h.MaxResponseBytes = 10_000
	})}, nil)
	_, r, err := call(t, tl, map[string]any{"connection": "api", "method": "GET", "path": "/endless"})
	if err != nil {
		t.Fatal(err)
	}
	s := r.Structured.(map[string]any)
	if !r.Truncated || s["bytes"] != 10_000 || s["truncated_reason"] != truncatedCap || s["body_format"] != "text" || !strings.Contains(r.Text, "max_response_bytes") {
		t.Errorf("endless: %v", s["truncated_reason"])
	}
	start := time.Now()
	_, r, err = call(t, tl, map[string]any{"connection": "api", "method": "GET", "path": "/slow"})
	if err != nil {
		t.Fatal(err)
	}
	s = r.Structured.(map[string]any)
	if !r.Truncated || s["truncated_reason"] != truncatedTimeout || s["body"] != "first part "+CredentialMark {
		t.Errorf("slow: %v", s)
	}
	_, _, err = call(t, tl, map[string]any{"connection": "api", "method": "GET", "path": "/slow-headers"})
	if err == nil || !strings.Contains(err.Error(), "timed out") {
		t.Errorf("slow headers: %v", err)
	}
	// Both slow calls ended at the timeout, not when the server gave up.
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("slow calls took %s", d)
	}
}

func TestBodies(t *testing.T) {
	tg := newTarget(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		switch r.URL.Path {
		case "/echo":
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(map[string]any{"ct": r.Header.Get("Content-Type"), "body": string(b), "len": r.ContentLength})
		case "/list":
			w.Header().Set("Content-Type", "application/problem+json")
			io.WriteString(w, `[1, 2, 3]`)
		case "/bad-json":
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"a": `)
		case "/binary":
			w.Header().Set("Content-Type", "image/png")
			w.Write([]byte{0x89, 'P', 'N', 'G', 0, 0xff, 0xfe})
		}
	})
	tl := newTestTool(t, map[string]*config.Connection{"api": httpConn(tg.URL, nil)}, nil)
	post := func(path string, body any, hdr map[string]any) map[string]any {
		t.Helper()
		args := map[string]any{"connection": "api", "method": "POST", "path": path, "body": body}
		if hdr != nil {
			args["headers"] = hdr
		}
		_, r, err := call(t, tl, args)
		if err != nil {
			t.Fatal(err)
		}
		return r.Structured.(map[string]any)
	}
	b := post("/echo", map[string]any{"q": "x", "n": float64(1)}, nil)["body"].(map[string]any)
	if b["ct"] != "application/json" || b["body"] != `{"n":1,"q":"x"}` {
		t.Errorf("object body: %v", b)
	}
	b = post("/echo", "a=1&b=2", map[string]any{"Content-Type": "application/x-www-form-urlencoded"})["body"].(map[string]any)
	if b["ct"] != "application/x-www-form-urlencoded" || b["body"] != "a=1&b=2" {
		t.Errorf("string body: %v", b)
	}
	b = post("/echo", nil, nil)["body"].(map[string]any)
	if b["body"] != "" || b["len"] != float64(0) {
		t.Errorf("no body: %v", b)
	}
	if s := post("/list", nil, nil); s["body_format"] != "json" || len(s["body"].([]any)) != 3 {
		t.Errorf("+json list: %v", s)
	}
	if s := post("/bad-json", nil, nil); s["body_format"] != "text" || s["body"] != `{"a": ` {
		t.Errorf("bad json: %v", s)
	}
	if s := post("/binary", nil, nil); s["body_format"] != "binary" || s["body"] != nil || s["bytes"] != 7 {
		t.Errorf("binary: %v", s)
	}
}

// writeCert writes a PEM certificate and key for template, signed by
// parent (self-signed when parent is nil), and returns them.
func writeCert(t *testing.T, dir, name string, tmpl *x509.Certificate, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey, string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	kd, _ := x509.MarshalECPrivateKey(key)
	cf, kf := filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
	os.WriteFile(cf, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(kf, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd}), 0o600)
	return cert, key, cf, kf
}

func TestMutualTLS(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	ca, caKey, caFile, _ := writeCert(t, dir, "ca", &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}, nil, nil)
	srvCert, srvKey, _, _ := writeCert(t, dir, "server", &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "api"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, ca, caKey)
	_, _, clientFile, clientKeyFile := writeCert(t, dir, "client", &x509.Certificate{SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: "airlock"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, ca, caKey)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello "+r.TLS.PeerCertificates[0].Subject.CommonName)
	}))
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool,
		Certificates: []tls.Certificate{{Certificate: [][]byte{srvCert.Raw}, PrivateKey: srvKey}}}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes below
	srv.StartTLS()
	t.Cleanup(srv.Close)
	tl := newTestTool(t, map[string]*config.Connection{
		"mtls": httpConn(srv.URL, func(h *config.HTTPSettings) {
			h.TLS = &config.HTTPTLS{CertFile: clientFile, KeyFile: clientKeyFile, CAFile: caFile}
		}),
		"no-cert": httpConn(srv.URL, func(h *config.HTTPSettings) { h.TLS = &config.HTTPTLS{CAFile: caFile} }),
		"no-ca":   httpConn(srv.URL, nil),
	}, nil)
	_, r, err := call(t, tl, map[string]any{"connection": "mtls", "method": "GET", "path": "/"})
	if err != nil || r.Structured.(map[string]any)["body"] != "hello airlock" {
		t.Fatalf("mTLS: %v %+v", err, r)
	}
	for _, name := range []string{"no-cert", "no-ca"} {
		_, _, err := call(t, tl, map[string]any{"connection": name, "method": "GET", "path": "/"})
		var ae *tools.AgentError
		if !errors.As(err, &ae) || !strings.Contains(ae.Msg, "TLS") && !strings.Contains(ae.Msg, "closed the connection") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestScrubber(t *testing.T) {
	s := newScrubber(http.Header{
		"Authorization": {"Basic " + "dXNlcjpodW50ZXIyMjI="}, // user:hunter222
		"X-Api-Key":     {"k<e>y&123/456"},
		"Accept":        {"application/json"},
		"X-Short":       {"abc"},
	})
	cases := map[string]string{
		"Basic dXNlcjpodW50ZXIyMjI=":      CredentialMark,
		"got dXNlcjpodW50ZXIyMjI=!":       "got " + CredentialMark + "!",
		"pw=hunter222":                    "pw=" + CredentialMark,
		"user:hunter222":                  CredentialMark,
		`"k\u003ce\u003ey\u0026123\/456"`: `"` + CredentialMark + `"`,
		"k%3Ce%3Ey%26123%2F456":           CredentialMark,
		"application/json abc":            "application/json abc",
	}
	for in, want := range cases {
		if got := s.string(in); got != want {
			t.Errorf("string(%q) = %q, want %q", in, got, want)
		}
	}
	if got := s.tail("body ends with k<e>y&1"); got != "body ends with "+CredentialMark {
		t.Errorf("tail = %q", got)
	}
	v := s.value(map[string]any{"user:hunter222": []any{"x hunter222 y", 1.0}})
	if mustJSON(t, v) != `{"[CREDENTIAL]":["x [CREDENTIAL] y",1]}` {
		t.Errorf("value = %s", mustJSON(t, v))
	}
	if err := s.err(errors.New("failed with hunter222")); err.Error() != "failed with "+CredentialMark {
		t.Errorf("err = %v", err)
	}
}

func TestCheckConnection(t *testing.T) {
	tg := newTarget(t, func(w http.ResponseWriter, r *http.Request) {})
	tl := newTestTool(t, map[string]*config.Connection{"api": httpConn(tg.URL, nil)}, nil)
	if err := tl.CheckConnection(context.Background(), "api"); err != nil {
		t.Error(err)
	}
	if err := tl.CheckConnection(context.Background(), "nope"); !errors.Is(err, tools.ErrUnknownConnection) {
		t.Error(err)
	}
}

func BenchmarkGuardedRequest(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":42,"name":"Ada","orders":[{"id":1,"total":12.5},{"id":2,"total":7}]}`)
	}))
	defer srv.Close()
	tl := newTestTool(b, map[string]*config.Connection{"api": httpConn(srv.URL+"/api/v2", func(h *config.HTTPSettings) {
		h.Routes = []httpguard.Route{
			{Methods: []string{"*"}, Path: "/admin/**", Effect: httpguard.EffectDeny},
			{Methods: []string{"GET", "HEAD"}, Path: "/customers/*/orders"},
			{Methods: []string{"GET", "PUT"}, Path: "/customers/**"},
		}
	})}, nil)
	args := map[string]any{"connection": "api", "method": "GET", "path": "/customers/42/orders",
		"query": map[string]any{"limit": float64(10)}, "headers": map[string]any{"Accept": "application/json"}}
	b.ReportAllocs()
	for b.Loop() {
		c, err := tl.Parse(args)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := tl.Execute(context.Background(), c); err != nil {
			b.Fatal(err)
		}
	}
}

func TestNoHTTPConnections(t *testing.T) {
	tl, err := New(&tools.Env{Config: &config.Config{Connections: map[string]*config.Connection{"db": {Kind: config.KindSQLite}}}})
	if tl != nil || err != nil {
		t.Errorf("New = %#v, %v; want an untyped nil", tl, err)
	}
}
