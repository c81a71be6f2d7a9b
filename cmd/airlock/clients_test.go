package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestClientsCookbook runs the snippets of docs/clients.md marked as
// tested, read from the file itself: the pinned MCP Inspector over HTTP
// and over stdio (the server's command after --), and the official
// TypeScript SDK, against a real gateway on the quick start's config. The
// README's 127.0.0.1:8080 becomes a free loopback port.
func TestClientsCookbook(t *testing.T) {
	if testing.Short() {
		t.Skip("runs Node clients")
	}
	steps := parseSteps(t, "../../docs/clients.md", "clients")
	dir := t.TempDir()
	env := inspectorEnv(t, dir)
	sdk, _ := filepath.Abs("../../server/testdata/interop/node_modules")
	if _, err := os.Stat(filepath.Join(sdk, "@modelcontextprotocol/sdk/package.json")); err != nil {
		t.Fatalf("the TypeScript SDK is not installed (run `bash scripts/npm-interop.sh`): %v", err)
	}
	addr := freePort(t)
	port := func(s string) string { return strings.ReplaceAll(s, "127.0.0.1:8080", addr) }
	data, err := os.ReadFile("../../examples/quickstart/airlock.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "examples/quickstart/airlock.yaml")
	os.MkdirAll(filepath.Dir(cfg), 0o755)
	os.WriteFile(cfg, []byte(port(string(data))), 0o600)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(dir, "bin/airlock"), ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	// The gateway, as `airlock serve` runs it.
	srv := exec.Command(filepath.Join(dir, "bin/airlock"), "serve", "--config", cfg)
	stderr, _ := srv.StderrPipe()
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Process.Signal(os.Interrupt); srv.Wait() })
	logs := watchLog(stderr)
	logs.wait(t, time.Minute, "Press Ctrl-C to stop")
	tok, err := runCmd(t, "token", "mint", "--config", cfg, "--subject", "alice", "--groups", "analysts")
	if err != nil {
		t.Fatal(err)
	}
	env = append(env, "TOKEN="+strings.TrimSpace(tok))

	ran := map[string]bool{}
	for _, s := range steps {
		var cmd *exec.Cmd
		switch s.name {
		case "typescript":
			ts := filepath.Join(dir, "ts")
			os.MkdirAll(ts, 0o755)
			os.Symlink(sdk, filepath.Join(ts, "node_modules"))
			os.WriteFile(filepath.Join(ts, "client.mjs"), []byte(port(s.cmd)), 0o600)
			cmd = exec.CommandContext(ctx, "node", "client.mjs")
			cmd.Dir = ts
		default:
			cmd = exec.CommandContext(ctx, "bash", "-c", port(s.cmd))
			cmd.Dir = dir
		}
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("snippet %s failed: %v\n%s", s.name, err, out)
			continue
		}
		ran[s.name] = true
		if s.expect != nil {
			matchOutput(t, s.name, *s.expect, string(out))
		}
		switch s.name {
		case "inspector-http":
			for _, w := range []string{`"name": "query_db"`, `"name": "request_access"`} {
				if !strings.Contains(string(out), w) {
					t.Errorf("inspector over HTTP: no %s in\n%s", w, out)
				}
			}
		case "inspector-stdio":
			if !strings.Contains(string(out), `demo`) || strings.Contains(string(out), `"isError": true`) {
				t.Errorf("inspector over stdio:\n%s", out)
			}
		}
	}
	for _, want := range []string{"inspector-http", "inspector-stdio", "typescript"} {
		if !ran[want] {
			t.Errorf("snippet %s did not run", want)
		}
	}
}
