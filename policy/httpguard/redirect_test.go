package httpguard

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// redirector serves, under /api/v2: /chain/N, which redirects N times before
// answering "done", and /to?u=LOCATION, which redirects to LOCATION verbatim.
func redirector(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/api/v2/chain/{n}", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.PathValue("n"))
		if n > 0 {
			w.Header().Set("Location", "/api/v2/chain/"+strconv.Itoa(n-1))
			w.WriteHeader(http.StatusFound)
			return
		}
		io.WriteString(w, "done")
	})
	mux.HandleFunc("/api/v2/to", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", r.URL.Query().Get("u"))
		w.WriteHeader(http.StatusFound)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "outside base: "+r.URL.Path)
	})
	srv := httptest.NewServer(mux) // listens on 127.0.0.1
	t.Cleanup(srv.Close)
	return srv
}

// loopbackPolicy allows exactly the test server's address and port, the way
// a connection with allow_private_network would after resolving its host.
func loopbackPolicy(t testing.TB, srv *httptest.Server) *DialPolicy {
	t.Helper()
	ap := netip.MustParseAddrPort(srv.Listener.Addr().String())
	return &DialPolicy{AllowPrivate: true, AllowedIPs: []netip.Addr{ap.Addr()}, AllowedPorts: []uint16{ap.Port()}}
}

func get(client *http.Client, u string) (string, error) {
	resp, err := client.Get(u)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func TestSameOriginRedirects(t *testing.T) {
	srv := redirector(t)
	hp := newHoneypot(t)
	var otherHits atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { otherHits.Add(1) }))
	defer other.Close()

	base := mustURL(t, srv.URL+"/api/v2")
	client := &http.Client{
		Transport:     NewTransport(loopbackPolicy(t, srv), nil, Timeouts{}),
		CheckRedirect: SameOriginRedirects(base, DefaultMaxRedirects),
	}
	defer client.CloseIdleConnections()

	for n := 0; n <= 3; n++ {
		body, err := get(client, srv.URL+"/api/v2/chain/"+strconv.Itoa(n))
		if err != nil || body != "done" {
			t.Errorf("%d same-origin redirects: %q, %v", n, body, err)
		}
	}

	hpPort := hp.port()
	refused := []struct{ location, want string }{
		{srv.URL + "/api/v2/chain/4", "stopped after 3"}, // the 4th hop
		{other.URL + "/api/v2/x", "origin"},
		{"//" + other.Listener.Addr().String() + "/api/v2/x", "origin"},
		{strings.Replace(srv.URL, "http:", "https:", 1) + "/api/v2/x", "origin"},
		{"http://user:pw@" + srv.Listener.Addr().String() + "/api/v2/x", "user info"},
		{"/outside", "base path"},
		{"/api/v2x/y", "base path"},
		{"/api/v2/../../outside", "base path"}, // the client removes dot segments first
		{"/api/v2/%2e%2e/outside", "dots"},
		{"/api/v2/a%2fb", "encoded slash"},
		{"http://2130706433:" + hpPort + "/api/v2/", "origin"},
		{"http://0x7f000001:" + hpPort + "/api/v2/", "origin"},
		{"http://0177.0.0.1:" + hpPort + "/api/v2/", "origin"},
		{"http://[::ffff:127.0.0.1]:" + hpPort + "/api/v2/", "origin"},
		{"http://[::]:" + hpPort + "/api/v2/", "origin"},
		{"http://0.0.0.0:" + hpPort + "/api/v2/", "origin"},
		{"http://127.0.0.1:" + hpPort + "/api/v2/", "origin"},
		{"http://169.254.169.254/latest/meta-data/", "origin"},
	}
	for _, c := range refused {
		target := srv.URL + "/api/v2/to?u=" + url.QueryEscape(c.location)
		if strings.HasPrefix(c.location, srv.URL+"/api/v2/chain/") {
			target = c.location
		}
		body, err := get(client, target)
		var e *Error
		if !errors.As(err, &e) || !strings.Contains(e.Msg, c.want) || !strings.HasPrefix(e.Msg, "redirect refused") {
			t.Errorf("redirect to %s: %q, %v; want a refusal mentioning %q", c.location, body, err, c.want)
		}
	}
	if n := otherHits.Load(); n != 0 {
		t.Errorf("cross-origin server was hit %d times", n)
	}
	hp.assertNoHits(t)
}

// With the redirect rule switched off, the dial policy alone still keeps
// IP-literal redirects away from the host's other services.
func TestRedirectsStoppedAtDial(t *testing.T) {
	srv := redirector(t)
	hp := newHoneypot(t)
	client := &http.Client{
		Transport:     NewTransport(loopbackPolicy(t, srv), nil, Timeouts{}),
		CheckRedirect: func(*http.Request, []*http.Request) error { return nil },
	}
	defer client.CloseIdleConnections()
	for _, loc := range []string{
		"http://[::ffff:127.0.0.1]:" + hp.port() + "/", // allowed address, other port
		"http://127.0.0.1:" + hp.port() + "/",
		"http://[::]:" + hp.port() + "/",
		"http://0.0.0.0:" + hp.port() + "/",
		"http://[::1]:" + hp.port() + "/",
		"http://169.254.169.254/latest/meta-data/",
		"http://[fd00:ec2::254]/latest/meta-data/",
	} {
		body, err := get(client, srv.URL+"/api/v2/to?u="+url.QueryEscape(loc))
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("redirect to %s: %q, %v; want a dial refusal", loc, body, err)
		}
		var op *net.OpError
		if !errors.As(err, &op) || op.Op != "dial" {
			t.Errorf("redirect to %s: %v is not a dial error", loc, err)
		}
	}
	hp.assertNoHits(t)
}

func TestRoutedRedirects(t *testing.T) {
	srv := redirector(t)
	base := mustURL(t, srv.URL+"/api/v2")
	routes := []Route{
		{Methods: []string{"GET"}, Path: "/chain/*"},
		{Methods: []string{"GET"}, Path: "/to"},
		{Methods: []string{"GET"}, Path: "/secret/**", Effect: EffectApprove},
	}
	client := &http.Client{
		Transport:     NewTransport(loopbackPolicy(t, srv), nil, Timeouts{}),
		CheckRedirect: RoutedRedirects(base, DefaultMaxRedirects, routes),
	}
	defer client.CloseIdleConnections()
	if body, err := get(client, srv.URL+"/api/v2/chain/2"); err != nil || body != "done" {
		t.Errorf("routed redirects: %q, %v", body, err)
	}
	for loc, want := range map[string]string{
		"/api/v2/admin":    "no route allows GET /admin",
		"/api/v2/secret/1": "needs approval",
		"/outside":         "base path",
	} {
		_, err := get(client, srv.URL+"/api/v2/to?u="+url.QueryEscape(loc))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("redirect to %s: %v, want %q", loc, err, want)
		}
	}
}

func TestRelativePath(t *testing.T) {
	base := mustURL(t, "https://API.example/api/v2/")
	cases := []struct{ target, want string }{
		{"https://api.example/api/v2", "/"},
		{"https://api.example/api/v2/", "/"},
		{"https://api.example:443/api/v2/users/1", "/users/1"},
		{"HTTPS://api.EXAMPLE/api/v2/a%20b", "/a%20b"},
		{"https://api.example/api/v2/%61", "/a"},
	}
	for _, c := range cases {
		got, err := RelativePath(base, mustURL(t, c.target))
		if err != nil || got != c.want {
			t.Errorf("RelativePath(%s) = %q, %v; want %q", c.target, got, err, c.want)
		}
	}
	for _, target := range []string{
		"http://api.example/api/v2/x", "https://api.example:8443/api/v2/x", "https://api.example./api/v2/x",
		"https://other.example/api/v2/x", "https://u@api.example/api/v2/x", "https://api.example/api/v3",
		"https://api.example/api/v2x", "https://api.example/", "https://api.example/api/v2/a;b",
	} {
		if got, err := RelativePath(base, mustURL(t, target)); err == nil {
			t.Errorf("RelativePath(%s) = %q, want refusal", target, got)
		}
	}
	if _, err := RelativePath(base, nil); err == nil {
		t.Error("RelativePath(nil) accepted")
	}
}

// The bytes a back end receives are the canonical path the routes matched.
func TestBuildURLOnTheWire(t *testing.T) {
	var got atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Store(r.RequestURI)
	}))
	defer srv.Close()
	base := mustURL(t, srv.URL+"/api/v2/")
	u, err := BuildURL(base, "/v1/caf%c3%a9/a%20b/%61/x,y%2C/日本", map[string]any{"q": "a&b", "n": float64(3)})
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: NewTransport(loopbackPolicy(t, srv), nil, Timeouts{})}
	defer client.CloseIdleConnections()
	if _, err := get(client, u.String()); err != nil {
		t.Fatal(err)
	}
	want := "/api/v2/v1/caf%C3%A9/a%20b/a/x,y%2C/%E6%97%A5%E6%9C%AC?n=3&q=a%26b"
	if got.Load() != want {
		t.Errorf("server saw %v, want %s", got.Load(), want)
	}
}
