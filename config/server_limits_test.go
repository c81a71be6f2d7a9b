package config

import (
	"strings"
	"testing"
	"time"
)

func TestServerSessionAndLoadLimits(t *testing.T) {
	cfg, err := load(t, minimal, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Server
	if s.SessionIdleTimeout != DefaultSessionIdleTimeout || s.MaxSessionsPerPrincipal != DefaultMaxSessionsPerPrincipal ||
		s.MaxConnsPerClient != DefaultMaxConnsPerClient || s.MaxCallsPerPrincipal != DefaultMaxCallsPerPrincipal ||
		s.MaxInflightBytes != DefaultMaxInflightBytes {
		t.Errorf("defaults: %+v", s)
	}
	cfg, err = load(t, "server:\n  session_idle_timeout: 5m\n  max_sessions_per_principal: 3\n  max_conns_per_client: 9\n  max_calls_per_principal: 4\n  max_inflight_bytes: 8388608\n"+minimal, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s := cfg.Server; s.SessionIdleTimeout != 5*time.Minute || s.MaxSessionsPerPrincipal != 3 || s.MaxConnsPerClient != 9 ||
		s.MaxCallsPerPrincipal != 4 || s.MaxInflightBytes != 8<<20 {
		t.Errorf("set: %+v", s)
	}
	if cfg, err := load(t, "server: {metrics_listen: '127.0.0.1:9464'}\n"+minimal, nil); err != nil || cfg.Server.MetricsListen != "127.0.0.1:9464" {
		t.Errorf("metrics_listen: %v", err)
	}
	for _, tc := range []struct{ yaml, want string }{
		{"server: {session_idle_timeout: -1s}", "server.session_idle_timeout: must be positive"},
		{"server: {max_sessions_per_principal: -1}", "server.max_sessions_per_principal: must be positive"},
		{"server: {max_conns_per_client: -2}", "server.max_conns_per_client: must be positive"},
		{"server: {max_calls_per_principal: -3}", "server.max_calls_per_principal: must be positive"},
		{"server: {max_inflight_bytes: 1024}", "server.max_inflight_bytes: must be at least 4194304"},
		{"server: {metrics_listen: localhost}", "server.metrics_listen: must be host:port"},
		{"server: {metrics_listen: '127.0.0.1:'}", "server.metrics_listen: must be host:port"},
		{"server: {listen: '127.0.0.1:9000', metrics_listen: '127.0.0.1:9000'}", "server.metrics_listen: must differ from server.listen"},
	} {
		_, err := load(t, tc.yaml+"\n"+minimal, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.yaml, err, tc.want)
		}
	}
}
