package server_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/airlockhq/airlock/internal/syncbuf"
	"github.com/airlockhq/airlock/internal/telemetry"
	"github.com/airlockhq/airlock/server"
)

// The session id of a streamable-HTTP or SSE session is a bearer
// credential for that session: neither it nor the agent's token may reach
// the gateway's log, whoever writes the line (the gateway, or mcp-go's
// transports, which log session ids). The log is captured at Debug, with
// the default loggers routed as airlock serve routes them, over real
// sessions that open, call, listen, end and are closed by shutdown.
func TestLogNeverShowsSessionIDsOrTokens(t *testing.T) {
	e := newEnv(t)
	logs := &syncbuf.Buffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	t.Cleanup(telemetry.RouteDefaultLoggers(log, "mcp-go"))
	g, base := e.start(t, server.Options{Logger: log})
	token := e.token(t, "alice", "analysts")
	var secrets []string

	// Streamable HTTP at a protocol version with sessions: two sessions,
	// one ended by the client (DELETE), one left for shutdown.
	for i := range 2 {
		c, err := client.NewStreamableHttpClient(base+server.PathMCP,
			transport.WithHTTPHeaders(map[string]string{"Authorization": "Bearer " + token}))
		if err != nil {
			t.Fatal(err)
		}
		initialize(t, c, "2025-06-18")
		sid := c.GetSessionId()
		if sid == "" {
			t.Fatal("no session id")
		}
		secrets = append(secrets, sid)
		exercise(t, c)
		// A request naming an unknown session, and one resuming an
		// unknown event on this one.
		for _, h := range []map[string]string{{"Mcp-Session-Id": sid + "0"}, {"Mcp-Session-Id": sid, "Last-Event-ID": "bogus-" + sid}} {
			req, _ := http.NewRequest(http.MethodGet, base+server.PathMCP, nil)
			req.Header.Set("Authorization", "Bearer "+token)
			req.Header.Set("Accept", "text/event-stream")
			for k, v := range h {
				req.Header.Set(k, v)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			if resp, err := http.DefaultClient.Do(req.WithContext(ctx)); err == nil {
				resp.Body.Close()
			}
			cancel()
		}
		if i == 0 {
			c.Close()
		}
	}
	// SSE: the session id is in the message URL.
	sc := httpClient(t, "sse", base, token)
	exercise(t, sc)
	if ep := sc.GetTransport().(*transport.SSE).GetEndpoint(); ep != nil {
		secrets = append(secrets, ep.Query().Get("sessionId"))
	}
	// Shutdown closes the sessions still open.
	_ = g.Close()
	time.Sleep(100 * time.Millisecond)

	out := logs.String()
	secrets = append(secrets, token, strings.Split(token, ".")[2])
	for _, s := range secrets {
		if s != "" && strings.Contains(out, s) {
			t.Errorf("a session id or token is in the log:\n%s", out)
		}
	}
	// Every line is JSON from the gateway's logger; mcp-go's carry lib.
	libLines := 0
	for line := range strings.SplitSeq(strings.TrimSpace(out), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Errorf("not the gateway's log format: %q", line)
		}
		if m[telemetry.KeyLib] == "mcp-go" {
			libLines++
		}
	}
	t.Logf("%d log lines, %d from mcp-go", strings.Count(out, "\n"), libLines)
}

func exercise(t *testing.T, c *client.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.ListTools(ctx, mcp.ListToolsRequest{}); err != nil {
		t.Fatal(err)
	}
	callTool(t, c, "list_connections", map[string]any{})
}
