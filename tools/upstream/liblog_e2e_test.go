package upstream_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"

	"github.com/airlockhq/airlock/internal/syncbuf"
	"github.com/airlockhq/airlock/internal/telemetry"
)

// badEvent follows the SSE endpoint event with a message that is not
// JSON-RPC, which mcp-go's SSE client logs.
type badEvent struct {
	http.ResponseWriter
	done bool
}

func (b *badEvent) Write(p []byte) (int, error) {
	n, err := b.ResponseWriter.Write(p)
	if err == nil && !b.done && bytes.Contains(p, []byte("event: endpoint")) {
		b.done = true
		_, err = b.ResponseWriter.Write([]byte("event: message\ndata: {not json\n\n"))
	}
	return n, err
}

func (b *badEvent) Flush() { b.ResponseWriter.(http.Flusher).Flush() }

// mcp-go's client transports log on their own (a message they cannot
// read, a broken stream, a failed close). Their lines reach the gateway's log, marked lib=mcp-go
// and connection=<name>, not slog.Default; and neither the upstream's
// credential (a bearer token, a key in its URL) nor its session id is in
// them. The upstream here sends a message that is not JSON-RPC and
// breaks its connections mid-session.
func TestUpstreamTransportLogsRedacted(t *testing.T) {
	const bearer, urlKey = "upstream-bearer-8d1f7c2a9b", "url-key-5e6f7a8b9c"
	// Anything logged to slog.Default is a line that escaped the
	// gateway's logger.
	var stray syncbuf.Buffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&stray, &slog.HandlerOptions{Level: slog.LevelDebug})))
	t.Cleanup(func() { slog.SetDefault(old) })

	s := mcpserver.NewMCPServer("remote-upstream", "1")
	s.AddTool(mcp.NewTool("whoami", mcp.WithDescription("Says hello.")),
		func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return mcp.NewToolResultText("hello from remote"), nil
		})
	var mu sync.Mutex
	var sessions []string
	ts := httptest.NewUnstartedServer(nil)
	sse := mcpserver.NewSSEServer(s, mcpserver.WithBaseURL("http://"+ts.Listener.Addr().String()))
	ts.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+bearer || r.URL.Query().Get("key") != urlKey && r.URL.Path == "/sse" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		if id := r.URL.Query().Get("sessionId"); id != "" {
			mu.Lock()
			sessions = append(sessions, id)
			mu.Unlock()
		}
		if r.URL.Path == "/sse" {
			w = &badEvent{ResponseWriter: w}
		}
		sse.ServeHTTP(w, r)
	})
	ts.Start()
	t.Cleanup(ts.Close)

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bearer"), []byte(bearer+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, fmt.Sprintf(`
  rsse:
    kind: mcp
    mcp: {url: %q, transport: sse, bearer: {file: %q}, accept_new: true, tools: [{match: "*", access: read}]}
`, ts.URL+"/sse?key="+urlKey, filepath.Join(dir, "bearer")))
	var logs syncbuf.Buffer
	e.log = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	g, base := e.start(t)
	c := e.client(t, base, "ana", "analysts")
	grant(t, c, "rsse", "read")
	if res := call(t, c, "rsse_whoami", map[string]any{}); res.IsError || !strings.Contains(resultText(res), "hello from remote") {
		t.Fatalf("call: %s", resultText(res))
	}
	waitFor(t, "a line from mcp-go's transport", func() bool {
		return strings.Contains(logs.String(), `"`+telemetry.KeyLib+`":"mcp-go"`)
	})
	// The upstream drops every connection: the SSE stream breaks.
	ts.CloseClientConnections()
	time.Sleep(200 * time.Millisecond)
	_ = g.Close()

	out := logs.String()
	mu.Lock()
	secrets := append([]string{bearer, urlKey}, sessions...)
	mu.Unlock()
	if len(secrets) == 2 {
		t.Fatal("the upstream saw no session")
	}
	for _, sec := range secrets {
		if strings.Contains(out, sec) {
			t.Errorf("%q is in the gateway's log:\n%s", sec, out)
		}
	}
	for line := range strings.SplitSeq(out, "\n") {
		if strings.Contains(line, `"`+telemetry.KeyLib+`":"mcp-go"`) && !strings.Contains(line, `"connection":"rsse"`) {
			t.Errorf("an mcp-go line without its connection: %s", line)
		}
	}
	if stray.String() != "" {
		t.Errorf("logged to slog.Default:\n%s", stray.String())
	}
}
