package console

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/config"
	"github.com/airlockhq/airlock/identity"
	"github.com/airlockhq/airlock/policy/jit"
)

type redirectLogin struct{}

func (redirectLogin) AuthCodeURL(_ context.Context, state, _, _ string) (string, error) {
	return "https://idp.example/authorize?state=" + state, nil
}

func (redirectLogin) Exchange(context.Context, string, string, string) (*identity.Principal, error) {
	return &identity.Principal{Subject: "dave"}, nil
}

// TestCookiesSecureOnTLS: cookies are Secure when the public URL is https
// or the request came over TLS, and always HttpOnly and SameSite=Lax.
func TestCookiesSecureOnTLS(t *testing.T) {
	for _, tc := range []struct {
		public string
		tls    bool
		secure bool
	}{
		{"https://airlock.example", false, true},
		{"http://127.0.0.1:8080", true, true},
		{"http://127.0.0.1:8080", false, false},
	} {
		cfg := &config.Config{}
		cfg.Server.PublicURL = tc.public
		cfg.Console.SessionTTL = config.DefaultConsoleSessionTTL
		c, err := New(Options{Config: cfg, Requests: jit.New(nil, nil, jit.Config{}, nil), Login: redirectLogin{}})
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest("GET", "/console/login", nil)
		if tc.tls {
			req.TLS = &tls.ConnectionState{}
		}
		w := httptest.NewRecorder()
		c.Handler().ServeHTTP(w, req)
		sc := w.Header().Get("Set-Cookie")
		if w.Code != 302 || !strings.Contains(sc, "HttpOnly") || !strings.Contains(sc, "SameSite=Lax") || strings.Contains(sc, "Secure") != tc.secure {
			t.Errorf("%s tls=%v: %d %s", tc.public, tc.tls, w.Code, sc)
		}
		for _, h := range []string{"Content-Security-Policy", "X-Frame-Options", "Referrer-Policy"} {
			if w.Header().Get(h) == "" {
				t.Errorf("no %s", h)
			}
		}
	}
}

// TestCloseStreamsEndsLiveUpdates: a graceful shutdown does not wait on
// open console pages.
func TestCloseStreamsEndsLiveUpdates(t *testing.T) {
	cfg := &config.Config{}
	cfg.Server.PublicURL = "http://127.0.0.1:8080"
	cfg.Console.SessionTTL = config.DefaultConsoleSessionTTL
	c, err := New(Options{Config: cfg, Requests: jit.New(nil, nil, jit.Config{}, nil), Login: redirectLogin{}})
	if err != nil {
		t.Fatal(err)
	}
	id, _ := c.sessions.create(&identity.Principal{Subject: "dave"})
	ts := httptest.NewServer(c.Handler())
	defer ts.Close()
	req, _ := http.NewRequest("GET", ts.URL+"/console/events", nil)
	req.AddCookie(&http.Cookie{Name: sessionCookie, Value: id})
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("stream: %v %v", resp, err)
	}
	done := make(chan error, 1)
	go func() { _, err := io.ReadAll(resp.Body); done <- err }()
	c.CloseStreams()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the stream outlived CloseStreams")
	}
	req2, _ := http.NewRequest("GET", ts.URL+"/console/events", nil)
	req2.AddCookie(&http.Cookie{Name: sessionCookie, Value: id})
	if r, err := http.DefaultClient.Do(req2); err != nil || r.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("stream after close: %v %v", r.StatusCode, err)
	}
}
