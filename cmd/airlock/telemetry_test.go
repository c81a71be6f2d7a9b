package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// serve with server.metrics_listen and the standard OTEL_* variables: the
// metrics listener answers after a real session, and the spans reach an
// OTLP/HTTP receiver (an httptest server standing in for the collector)
// without the SQL or the subject in them.
func TestServeExportsMetricsAndTraces(t *testing.T) {
	var mu sync.Mutex
	var bodies [][]byte
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.URL.Path == "/v1/traces" && r.Header.Get("Content-Type") == "application/x-protobuf" {
			mu.Lock()
			bodies = append(bodies, b)
			mu.Unlock()
		}
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer collector.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.URL)
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "50")

	p := quickstart(t)
	metricsAddr, addr := freeAddr(t), freeAddr(t)
	data, _ := os.ReadFile(p)
	data = bytes.Replace(data, []byte("server:\n"), []byte("server:\n  metrics_listen: "+metricsAddr+"\n"), 1)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	var out bytes.Buffer
	go func() { done <- run(ctx, []string{"serve", "--config", p, "--listen", addr, "--log-json"}, &out, &out) }()
	var err error
	for range 100 {
		var resp *http.Response
		if resp, err = http.Get("http://" + addr + "/healthz"); err == nil {
			resp.Body.Close()
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("healthz never answered: %v", err)
	}
	quickstartSession(t, p, "http://"+addr)

	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := `airlock_calls_total{connection="demo",decision="allow",outcome="ok",tool="query_db"} 1`; !strings.Contains(string(metrics), want) {
		t.Errorf("/metrics lacks %s:\n%.2000s", want, metrics)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve: %v\n%s", err, out.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not shut down")
	}
	// Shutdown flushed the batch.
	mu.Lock()
	all := bytes.Join(bodies, nil)
	mu.Unlock()
	if !bytes.Contains(all, []byte("tools/call query_db")) || !bytes.Contains(all, []byte("execute")) {
		t.Fatalf("no call spans reached the collector (%d requests)\n%s", len(bodies), out.String())
	}
	for _, bad := range []string{"SELECT status", "alice", "weekly order report"} {
		if bytes.Contains(all, []byte(bad)) {
			t.Errorf("exported spans hold %q", bad)
		}
	}
	if !strings.Contains(out.String(), `"msg":"tracing: exporting spans over OTLP/HTTP`) || !strings.Contains(out.String(), `"msg":"serving metrics"`) {
		t.Errorf("serve did not say what it exports:\n%s", out.String())
	}
}
