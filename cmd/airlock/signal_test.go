package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
)

// TestMain lets a test run this package's main() in a child process: the
// real binary's signal handling, without a separate go build.
func TestMain(m *testing.M) {
	if os.Getenv("AIRLOCK_TEST_RUN_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// logWatch collects a child's stderr lines and waits for one.
type logWatch struct {
	mu    sync.Mutex
	lines []string
	cond  chan struct{}
}

func watchLog(r io.Reader) *logWatch {
	w := &logWatch{cond: make(chan struct{}, 1)}
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			w.mu.Lock()
			w.lines = append(w.lines, sc.Text())
			w.mu.Unlock()
			select {
			case w.cond <- struct{}{}:
			default:
			}
		}
	}()
	return w
}

func (w *logWatch) text() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(w.lines, "\n")
}

// wait returns the first line that has every part, or fails after d.
func (w *logWatch) wait(t *testing.T, d time.Duration, parts ...string) string {
	t.Helper()
	deadline := time.After(d)
	for {
		w.mu.Lock()
		for _, l := range w.lines {
			ok := true
			for _, p := range parts {
				ok = ok && strings.Contains(l, p)
			}
			if ok {
				w.mu.Unlock()
				return l
			}
		}
		w.mu.Unlock()
		select {
		case <-w.cond:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatalf("no log line with %q; the log:\n%s", parts, w.text())
		}
	}
}

// A real gateway process: SIGHUP is logged and ignored (it used to kill
// the process without a word), SIGTERM is logged with the calls in flight,
// the call in flight finishes, and the end of the drain is logged.
func TestServeSignals(t *testing.T) {
	p := quickstart(t)
	data, _ := os.ReadFile(p)
	cfg := strings.Replace(string(data), "wait: 30s", "wait: 3s", 1)
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "serve", "--config", p, "--listen", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "AIRLOCK_TEST_RUN_MAIN=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	logs := watchLog(stderr)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })
	line := logs.wait(t, 30*time.Second, "airlock listening on ")
	base := "http://" + strings.TrimSpace(strings.TrimPrefix(line, "airlock listening on "))
	healthy := func() bool {
		resp, err := http.Get(base + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}

	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	logs.wait(t, 10*time.Second, "SIGHUP", "reload is not supported")
	select {
	case err := <-exited:
		t.Fatalf("SIGHUP stopped the gateway (%v); log:\n%s", err, logs.text())
	case <-time.After(200 * time.Millisecond):
	}
	if !healthy() {
		t.Fatal("not serving after SIGHUP")
	}

	// A call held for approval stays in flight for approvals.wait.
	out, err := runCmd(t, "token", "mint", "--config", p, "--subject", "carol", "--groups", "contractors")
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.NewStreamableHttpClient(base+"/mcp", transport.WithHTTPHeaders(map[string]string{
		"Authorization": "Bearer " + strings.TrimSpace(out)}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = mcp.LATEST_PROTOCOL_VERSION
	init.Params.ClientInfo = mcp.Implementation{Name: "signals", Version: "1"}
	if _, err := c.Initialize(ctx, init); err != nil {
		t.Fatal(err)
	}
	progress := make(chan struct{}, 16)
	c.OnNotification(func(n mcp.JSONRPCNotification) {
		if n.Method == "notifications/progress" {
			select {
			case progress <- struct{}{}:
			default:
			}
		}
	})
	answered := make(chan *mcp.CallToolResult, 1)
	go func() {
		req := mcp.CallToolRequest{}
		req.Params.Name = "request_access"
		req.Params.Arguments = map[string]any{"connection": "demo", "access": "read", "reason": "signal test"}
		req.Params.Meta = &mcp.Meta{ProgressToken: "sig-1"}
		res, err := c.CallTool(ctx, req)
		if err != nil {
			t.Error(err)
		}
		answered <- res
	}()
	select {
	case <-progress:
	case <-time.After(20 * time.Second):
		t.Fatal("the held call sent no progress")
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	logs.wait(t, 10*time.Second, "shutting down", "received SIGTERM", "in_flight=1")
	select {
	case res := <-answered:
		if res == nil || res.IsError || !strings.Contains(strings.ToLower(textOf(res)), "pending") {
			t.Errorf("the call in flight did not finish normally: %+v", res)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the call in flight never answered")
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit: %v; log:\n%s", err, logs.text())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the gateway did not exit after SIGTERM")
	}
	logs.wait(t, 5*time.Second, "shutdown complete")
}

func textOf(res *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}

// The start-up lines tell a newcomer what runs (dev issuer on, how to mint
// a token, where the journal and the demo database are, which tools each
// group sees); demo.db exists at start; Ctrl-C prints a line and so does
// the end of the drain.
func TestServeBannerAndCtrlC(t *testing.T) {
	p := quickstart(t)
	dir := filepath.Dir(p)
	cmd := exec.Command(os.Args[0], "serve", "--config", p, "--listen", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "AIRLOCK_TEST_RUN_MAIN=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	logs := watchLog(stderr)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })
	logs.wait(t, 30*time.Second, "Press Ctrl-C to stop")
	for _, parts := range [][]string{
		{"identity:", "dev issuer ON", "development only"},
		{"token:", "airlock token mint --config " + p, "--groups analysts"},
		{"journal:", filepath.Join(dir, "airlock.db")},
		{"connection: demo (sqlite) " + filepath.Join(dir, "demo.db")},
		{"tools:", "group analysts sees", "query_db", "request_access", "list_connections"},
	} {
		logs.wait(t, time.Second, parts...)
	}
	if _, err := os.Stat(filepath.Join(dir, "demo.db")); err != nil {
		t.Errorf("demo.db not created at start: %v", err)
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	logs.wait(t, 10*time.Second, "airlock: received SIGINT, stopping")
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit: %v; log:\n%s", err, logs.text())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the gateway did not exit after SIGINT")
	}
	logs.wait(t, 5*time.Second, "airlock stopped")
}
