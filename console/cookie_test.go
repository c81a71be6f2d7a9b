package console

import (
	"context"
	"crypto/tls"
	"fmt"
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

// TestFloodsEvictOnlyTheFlooder: a source that starts logins it never
// finishes, or an account that logs in again and again, fills the bounded
// tables with its own entries only; another person's login in progress
// and session survive.
func TestFloodsEvictOnlyTheFlooder(t *testing.T) {
	now := time.Now()
	s := newSessions(time.Hour, func() time.Time { now = now.Add(time.Millisecond); return now })

	state, _ := s.beginLogin(Path+"/", "192.0.2.10")
	for range 5 * maxLogins {
		s.beginLogin(Path+"/", "198.51.100.66")
	}
	if len(s.logins) > maxLogins {
		t.Fatalf("login table grew to %d (bound %d)", len(s.logins), maxLogins)
	}
	if s.finishLogin(state) == nil {
		t.Fatal("a flood of logins from another address evicted this login in progress")
	}
	// Many sources each within their share still fill the table; the
	// bound holds and the oldest of the largest holder goes first.
	for i := range 2 * maxLogins {
		s.beginLogin(Path+"/", fmt.Sprintf("203.0.113.%d", i%200))
	}
	if len(s.logins) > maxLogins {
		t.Fatalf("login table grew to %d (bound %d)", len(s.logins), maxLogins)
	}

	dave, _ := s.create(&identity.Principal{Subject: "dave"})
	for range 3 * maxSessionsPerSubject {
		s.create(&identity.Principal{Subject: "mallory"})
	}
	if s.get(dave) == nil {
		t.Fatal("another account's repeated logins ended dave's session")
	}
	n := 0
	for _, v := range s.live {
		if v.p.Subject == "mallory" {
			n++
		}
	}
	if n > maxSessionsPerSubject {
		t.Fatalf("mallory holds %d sessions (bound %d)", n, maxSessionsPerSubject)
	}
}

// BenchmarkBeginLoginFlood: one address starting logins it never
// finishes (it stays within its share); FullTable: many addresses.
func BenchmarkBeginLoginFlood(b *testing.B) {
	b.ReportAllocs()
	s := newSessions(time.Hour, time.Now)
	for i := range maxLogins / 2 {
		s.beginLogin(Path+"/", fmt.Sprintf("203.0.113.%d", i%250))
	}
	for b.Loop() {
		s.beginLogin(Path+"/", "198.51.100.66")
	}
}

func BenchmarkBeginLoginFullTable(b *testing.B) {
	b.ReportAllocs()
	s := newSessions(time.Hour, time.Now)
	for i := range maxLogins {
		s.beginLogin(Path+"/", fmt.Sprintf("203.0.113.%d", i%250))
	}
	for i := 0; b.Loop(); i++ {
		s.beginLogin(Path+"/", fmt.Sprintf("198.51.100.%d", i%250))
	}
}
