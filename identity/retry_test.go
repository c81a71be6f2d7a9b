package identity

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airlockhq/airlock/internal/syncbuf"
)

// An issuer that does not answer at start: the verifier is built anyway,
// refuses every token while discovery fails (fail closed), retries with
// backoff, logs each failure, and accepts tokens once the issuer answers.
func TestVerifierRetriesUnreachableIssuer(t *testing.T) {
	oldMin, oldMax := DiscoveryRetryMin, DiscoveryRetryMax
	DiscoveryRetryMin, DiscoveryRetryMax = 20*time.Millisecond, 80*time.Millisecond
	t.Cleanup(func() { DiscoveryRetryMin, DiscoveryRetryMax = oldMin, oldMax })

	var up atomic.Bool
	var discoveries atomic.Int32
	mux := http.NewServeMux()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/openid-configuration") {
			discoveries.Add(1)
		}
		if !up.Load() {
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
			return
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	d, err := LoadOrCreateDevIssuer(srv.URL+"/oidc", filepath.Join(t.TempDir(), "dev.pem"))
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("/oidc/", d.Handler())

	var logBuf syncbuf.Buffer
	log := slog.New(slog.NewTextHandler(&logBuf, nil))
	v, err := NewVerifierRetrying(t.Context(), VerifierConfig{Issuer: d.Issuer(), Audience: testAudience, HTTPClient: srv.Client()}, log)
	if err != nil {
		t.Fatalf("an unreachable issuer stopped the start: %v", err)
	}
	tok := mint(t, d, MintOptions{Subject: "alice", Groups: []string{"analysts"}, Audience: testAudience, TTL: time.Minute})
	if _, err := v.Verify(t.Context(), tok); err == nil || !strings.Contains(err.Error(), "identity provider not reachable yet") {
		t.Fatalf("token accepted (or wrong refusal) before discovery: %v", err)
	}
	if v.Pending() == nil {
		t.Error("Pending() is nil before discovery")
	}
	for i := 0; discoveries.Load() < 3; i++ {
		if i > 500 {
			t.Fatalf("discovery not retried: %d attempts", discoveries.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	up.Store(true)
	var p *Principal
	for i := 0; ; i++ {
		if p, err = v.Verify(t.Context(), tok); err == nil {
			break
		}
		if i > 500 {
			t.Fatalf("never recovered: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if p.Subject != "alice" || v.Pending() != nil {
		t.Errorf("after recovery: %+v pending=%v", p, v.Pending())
	}
	logs := logBuf.String()
	for _, w := range []string{"every call is refused until it answers", "still failing", "discovery succeeded"} {
		if !strings.Contains(logs, w) {
			t.Errorf("log lacks %q:\n%s", w, logs)
		}
	}
	// A wrong issuer is a configuration error: no retry loop, an error.
	if _, err := NewVerifierRetrying(t.Context(), VerifierConfig{Issuer: d.Issuer() + "/", Audience: testAudience, HTTPClient: srv.Client()}, log); err == nil {
		t.Error("issuer mismatch accepted for retry")
	}
}
