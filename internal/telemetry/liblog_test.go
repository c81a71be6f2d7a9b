package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	stdlog "log"
	"log/slog"
	"strings"
	"testing"
	"unicode/utf8"
)

// Secret-looking values a library might log.
const (
	testSessionID = "3f9c0a1b2c3d4e5f60718293a4b5c6d7e8f901234567890a" // the gateway's 48 hex digits
	testUUID      = "mcp-session-1b4e28ba-2fa1-11d2-883f-0016d3cca427"
	testBearer    = "Bearer s3cr3t-t0ken-value-1234567890"
)

func captureLogs(level slog.Level) (*bytes.Buffer, *slog.Logger) {
	var buf bytes.Buffer
	return &buf, slog.New(LogHandler(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: level})))
}

func TestLibraryLogger(t *testing.T) {
	for _, tc := range []struct {
		name    string
		log     func(l *slog.Logger)
		level   string // the level written; "" for no line at Debug
		secrets []string
		keep    []string // what must still be there
	}{
		{"streamable server sweep", func(l *slog.Logger) { l.Info("Sweeping expired session", "session", testSessionID) },
			"DEBUG", []string{testSessionID}, []string{"Sweeping expired session", `"session":"[redacted]"`}},
		{"close sessions", func(l *slog.Logger) {
			l.Warn("failed to terminate session during CloseSessions", "sessionID", testUUID, "err", errors.New("session "+testUUID+" not found"))
		}, "WARN", []string{testUUID, "1b4e28ba"}, []string{"failed to terminate session"}},
		{"error quoting a URL", func(l *slog.Logger) {
			l.Error("SSE stream error", "err", fmt.Errorf(`Post "https://up.example:8443/message?sessionId=%s&token=abc123": EOF`, testSessionID))
		}, "WARN", []string{testSessionID, "abc123", "/message"}, []string{"https://up.example:8443", "EOF"}},
		{"headers and tokens by key", func(l *slog.Logger) {
			l.Info("request", "Authorization", testBearer, "headers", map[string]string{"X-Api-Key": "k"}, "Mcp-Session-Id", testSessionID,
				slog.Group("req", "access_token", "tok-1234567890", "method", "tools/call"))
		}, "DEBUG", []string{"s3cr3t", "tok-1234567890", testSessionID, "X-Api-Key"}, []string{`"method":"tools/call"`}},
		{"secret in message", func(l *slog.Logger) { l.Error("upstream said: " + testBearer + " password=hunter2hunter2") },
			"WARN", []string{"s3cr3t-t0ken", "hunter2"}, []string{"upstream said"}},
		{"session in prose kept", func(l *slog.Logger) { l.Info("session terminated, listening again after re-initialization") },
			"DEBUG", nil, []string{"session terminated, listening again"}},
		{"panic value", func(l *slog.Logger) {
			l.Error("panic in SSE notification writer", "panic", "bad session "+testSessionID)
		},
			"WARN", []string{testSessionID}, []string{"panic in SSE notification writer"}},
		{"numbers kept", func(l *slog.Logger) { l.Error("server rejected response", "status", 500, "body_len", 12) },
			"WARN", nil, []string{`"status":500`, `"body_len":12`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			buf, base := captureLogs(slog.LevelDebug)
			tc.log(LibraryLogger(base, "mcp-go"))
			out := buf.String()
			var line map[string]any
			if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
				t.Fatalf("%v: %q", err, out)
			}
			if line["level"] != tc.level || line[KeyLib] != "mcp-go" {
				t.Errorf("level %v lib %v in %s", line["level"], line[KeyLib], out)
			}
			for _, s := range tc.secrets {
				if strings.Contains(out, s) {
					t.Errorf("%q logged: %s", s, out)
				}
			}
			for _, s := range tc.keep {
				if !strings.Contains(out, s) {
					t.Errorf("%q missing: %s", s, out)
				}
			}
		})
	}
}

// At the gateway's default level (Info) a library's Info lines are not
// written; its errors are, as warnings.
func TestLibraryLoggerLevels(t *testing.T) {
	buf, base := captureLogs(slog.LevelInfo)
	l := LibraryLogger(base, "mcp-go")
	l.Info("listening to server forever")
	l.Debug("stderr mirror queue full; dropping chunk")
	if buf.Len() != 0 {
		t.Fatalf("library chatter logged at Info: %s", buf)
	}
	l.Error("failed to send close request", "err", errors.New("EOF"))
	if !strings.Contains(buf.String(), `"level":"WARN"`) {
		t.Fatalf("library error not a warning: %s", buf)
	}
	// With: attributes bound early are redacted too.
	buf.Reset()
	l.With("session", testSessionID).Warn("x")
	if strings.Contains(buf.String(), testSessionID) {
		t.Fatalf("bound attribute logged: %s", buf)
	}
	if LibraryLogger(nil, "x").Enabled(context.Background(), slog.LevelError) {
		t.Error("nil base logs")
	}
}

// mcp-go's SSE server and session hooks log with the log package and its
// client with slog.Default: both reach the gateway's log, redacted.
func TestRouteDefaultLoggers(t *testing.T) {
	buf, base := captureLogs(slog.LevelInfo)
	old := slog.Default()
	restore := RouteDefaultLoggers(base, "mcp-go")
	t.Cleanup(func() {
		restore()
		if slog.Default() != old {
			t.Error("slog.Default not restored")
		}
	})
	stdlog.Printf("panic recovered in SSE message handler for session %s: %v", testSessionID, "boom")
	slog.Warn("mcp: excluding a tool with invalid x-mcp-header annotations", "tool", "t", "err", errors.New("header "+testBearer))
	out := buf.String()
	if strings.Contains(out, testSessionID) || strings.Contains(out, "s3cr3t") {
		t.Fatalf("secret logged: %s", out)
	}
	if n := strings.Count(out, `"lib":"mcp-go"`); n != 2 || strings.Count(out, `"level":"WARN"`) != 2 {
		t.Fatalf("want 2 warnings from mcp-go: %s", out)
	}
}

func TestRedactText(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"session terminated", "session terminated"},
		{"session " + testSessionID + " gone", "session [redacted] gone"},
		{"Mcp-Session-Id: abc123def456", "Mcp-Session-Id: [redacted]"},
		{`sessionId="a1b2c3d4e5"`, `sessionId="[redacted]"`},
		{"trace 4bf92f3577b34da6a3ce929d0e0e4736", "trace [redacted]"},
		{"id 1b4e28ba-2fa1-11d2-883f-0016d3cca427.", "id [redacted]."},
		{`Get "http://u:pw@10.0.0.1:80/sse?k=v": EOF`, `Get "http://[IP_ADDRESS]:80/…": EOF`},
		{`Get "https://api.example/a/b?token=x": EOF`, `Get "https://api.example/…": EOF`},
		{"dial tcp: lookup up.example: no such host", "dial tcp: lookup up.example: no such host"},
	} {
		if got := RedactText(tc.in); got != tc.want {
			t.Errorf("RedactText(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := RedactText(strings.Repeat("a", 2*maxRedactLen)); len(got) > maxRedactLen+len("…") {
		t.Errorf("long text not cut: %d bytes", len(got))
	}
}

func FuzzRedactText(f *testing.F) {
	for _, s := range []string{"session " + testSessionID, `Post "https://h/x?sessionId=1": EOF`, testBearer, "plain words", "sessionid=="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := RedactText(in)
		if len(out) > maxRedactLen*8 {
			t.Fatalf("output grew to %d bytes", len(out))
		}
		if m := idRE.FindString(out); m != "" {
			t.Fatalf("id %q left in %q", m, out)
		}
	})
}

func BenchmarkRedactText(b *testing.B) {
	for name, s := range map[string]string{
		"plain": "failed to send close request: context canceled",
		"url":   `Post "https://up.example:8443/message?sessionId=` + testSessionID + `": connection reset by peer`,
	} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				RedactText(s)
			}
		})
	}
}

// A long line is cut on a rune boundary: the cut never leaves half a rune.
func TestRedactTextCutsWholeRunes(t *testing.T) {
	s := "a" + strings.Repeat("é", maxRedactLen) // two bytes each, from an odd offset
	if got := RedactText(s); !utf8.ValidString(got) {
		t.Errorf("cut mid-rune: %q", got[len(got)-8:])
	}
}
