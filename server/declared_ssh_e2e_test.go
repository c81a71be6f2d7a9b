package server_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airlockhq/airlock/server"
	"github.com/airlockhq/airlock/tools/runssh/sshdtest"
)

// Declared ssh tools end to end: a real MCP client, the gateway in-process,
// a real OpenSSH sshd.
func TestDeclaredSSHTools(t *testing.T) {
	srv := sshdtest.Start(t, sshdtest.Options{})
	dir := srv.SentinelDir(t)
	if err := os.Mkdir(filepath.Join(dir, "log"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "log", "app.log"), []byte("one\ntwo\nthree\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e := newEnvWith(t, sshConnYAML(srv, dir)+`
rules:
  - {name: ops, groups: [ops], connections: [web1], access: [read, write], effect: allow}
tools:
  - name: app_log_tail
    kind: ssh
    connection: web1
    description: Last lines of the app log.
    argv: [tail, -n, "{lines}", `+dir+`/log/app.log]
    params:
      - {name: lines, type: integer, minimum: 1, maximum: 500}
  - name: echo_word
    kind: ssh
    connection: web1
    description: Echo one word.
    argv: [echo, "{word}"]
    params:
      - {name: word, type: string, pattern: "[ -~]{1,300}"}
`)
	_, base := e.start(t, server.Options{})
	olga := httpClient(t, "streamable-http", base, e.token(t, "olga", "ops"))
	grant(t, olga, "web1", "read")

	res := callTool(t, olga, "app_log_tail", map[string]any{"lines": 2})
	st, _ := res.StructuredContent.(map[string]any)
	if res.IsError || st["stdout"] != "two\nthree\n" || st["command"] != "app_log_tail" {
		t.Fatalf("app_log_tail: %s %v", text(res), st)
	}
	// Shell syntax in a value is one literal word on the host.
	res = callTool(t, olga, "echo_word", map[string]any{"word": "a; touch " + dir + "/pwned $(id)"})
	st, _ = res.StructuredContent.(map[string]any)
	if res.IsError || st["stdout"] != "a; touch "+dir+"/pwned $(id)\n" {
		t.Fatalf("echo_word: %s %v", text(res), st)
	}
	if _, err := os.Stat(filepath.Join(dir, "pwned")); err == nil {
		t.Fatal("a value ran as shell")
	}
	// Refused values never reach sshd.
	execs := strings.Count(srv.Log(), "request exec")
	for _, args := range []map[string]any{{"word": "-n"}, {"word": "a\nb"}} {
		if res := callTool(t, olga, "echo_word", args); !res.IsError || !strings.Contains(text(res), "Nothing was run") {
			t.Errorf("%v: %s", args, text(res))
		}
	}
	if res := callTool(t, olga, "app_log_tail", map[string]any{"lines": -1}); !res.IsError {
		t.Errorf("lines -1: %s", text(res))
	}
	if n := strings.Count(srv.Log(), "request exec"); n != execs {
		t.Errorf("sshd saw %d exec requests for refused calls", n-execs)
	}
}
