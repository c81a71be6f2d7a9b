package server_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/airlockhq/airlock/recorder"
	"github.com/airlockhq/airlock/server"
	"github.com/airlockhq/airlock/tools/runssh/sshdtest"
)

// sshConnYAML continues the env's connections: section with "web1", an
// OpenSSH sshd started by the test; dir is the sentinel directory.
func sshConnYAML(srv *sshdtest.Server, dir string) string {
	return fmt.Sprintf(`  web1:
    kind: ssh
    description: Web server
    address: %s
    user: %s
    private_key: {file: %s}
    known_hosts: %s
    command_timeout: 5s
    commands:
      - {name: disk-usage, argv: [df, {literal: -h, optional: true}]}
      - name: app-log
        argv: [tail, {flag: -n, value: {int: {min: 1, max: 500}}}, {path: {under: %[5]s/log}}]
      - {name: service-status, argv: [systemctl, status, {enum: [nginx]}]}
      - {name: whoami, argv: [id, -un]}
      - {name: touch, argv: [touch, {path: {under: %[5]s}}], access: write, approve: true}
`, srv.Addr, srv.User, srv.KeyFile, srv.KnownHosts, dir)
}

// run_ssh end to end: real MCP clients, the gateway in-process and as the
// built binary over stdio, a real OpenSSH sshd.
func TestRunSSHEndToEnd(t *testing.T) {
	srv := sshdtest.Start(t, sshdtest.Options{})
	dir := srv.SentinelDir(t)
	if err := os.Mkdir(filepath.Join(dir, "log"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{"log/app.log": "one\ntwo\nthree\n", "keep": "keep\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	e := newEnvWith(t, sshConnYAML(srv, dir)+`
approvals: {wait: 100ms}
rules:
  - {name: ops, groups: [ops], connections: [web1], access: [read, write], effect: allow, grant: {approvers: [leads]}}
`)
	_, base := e.start(t, server.Options{})
	olga := httpClient(t, "streamable-http", base, e.token(t, "olga", "ops"))
	runSSH := func(c *client.Client, command string) (bool, string, map[string]any) {
		t.Helper()
		res := callTool(t, c, "run_ssh", map[string]any{"connection": "web1", "command": command})
		st, _ := res.StructuredContent.(map[string]any)
		return res.IsError, text(res), st
	}

	// Listed, with its forms and honest annotations.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	lt, err := olga.ListTools(ctx, mcp.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(lt.Tools, func(tl mcp.Tool) bool { return tl.Name == "run_ssh" })
	if i < 0 {
		t.Fatalf("run_ssh not listed")
	}
	def := lt.Tools[i]
	if !strings.Contains(def.Description, "touch (write, each call needs a human approval): touch <path under "+dir+">") ||
		def.Annotations.DestructiveHint == nil || !*def.Annotations.DestructiveHint {
		t.Errorf("definition: %s %+v", def.Description, def.Annotations)
	}

	// No grant, nothing runs.
	if isErr, msg, _ := runSSH(olga, "id -un"); !isErr || !strings.Contains(msg, "request_access") {
		t.Fatalf("no grant: %s", msg)
	}
	grant(t, olga, "web1", "read")
	isErr, msg, st := runSSH(olga, "id -un")
	if isErr || st["stdout"] != srv.User+"\n" || st["exit_status"] != float64(0) || !strings.Contains(msg, srv.User) {
		t.Fatalf("id -un: %s %v", msg, st)
	}
	if isErr, msg, st := runSSH(olga, "tail -n 2 "+dir+"/log/app.log"); isErr || st["stdout"] != "two\nthree\n" {
		t.Errorf("tail: %s %v", msg, st)
	}
	if isErr, _, st := runSSH(olga, "systemctl status nginx"); isErr || st["exit_status"] == float64(0) {
		// No systemd here: the command runs and fails, and says so.
		t.Errorf("systemctl: %v", st)
	}

	// Refused without reaching the host.
	before, execs := dirList(t, dir), strings.Count(srv.Log(), "request exec")
	for _, cmd := range sshdtest.RefusedCommands(dir) {
		if isErr, msg, _ := runSSH(olga, cmd); !isErr || !strings.Contains(msg, "Nothing was run") {
			t.Errorf("%q: %v %s", cmd, isErr, msg)
		}
	}
	if after := dirList(t, dir); !slices.Equal(before, after) {
		t.Errorf("the sentinel directory changed: %v, was %v", after, before)
	}
	if n := strings.Count(srv.Log(), "request exec"); n != execs {
		t.Errorf("sshd saw %d exec requests for refused commands", n-execs)
	}

	// A write template with approve: true waits for a human, per call.
	grant(t, olga, "web1", "write")
	target := filepath.Join(dir, "approved")
	isErr, msg, _ = runSSH(olga, "touch "+target)
	id := approvalIDPattern.FindString(msg)
	if !isErr || id == "" || !strings.Contains(msg, "pending") {
		t.Fatalf("touch before approval: %s", msg)
	}
	if _, err := os.Stat(target); err == nil {
		t.Fatal("touch ran before approval")
	}
	lead := e.token(t, "lee", "leads")
	if code, out := adminCall(t, base, lead, http.MethodPost, "requests/"+id+"/approve", nil); code != http.StatusOK {
		t.Fatalf("approve: %d %v", code, out)
	}
	if isErr, msg, _ := runSSH(olga, "touch "+target); isErr {
		t.Fatalf("approved touch: %s", msg)
	}
	if _, err := os.Stat(target); err != nil {
		t.Fatalf("approved touch did not run: %v", err)
	}

	// The built binary over stdio serves run_ssh too.
	stdio := stdioClient(t, e, e.token(t, "olga", "ops"))
	if isErr, msg, st := runSSH(stdio, "id -un"); isErr || st["stdout"] != srv.User+"\n" {
		t.Errorf("stdio: %s", msg)
	}

	// The journal names the template and the argv that ran.
	var ran, refused int
	for _, r := range journal(t, e) {
		if r.Tool != "run_ssh" || r.Type != recorder.Finished {
			continue
		}
		switch r.Outcome {
		case recorder.OutcomeOK:
			ran++
			if r.Command == "" || len(r.Resources) == 0 || r.Connection != "web1" {
				t.Errorf("record: %+v", r)
			}
		case recorder.OutcomeInvalid, recorder.OutcomeDenied:
			refused++
		}
	}
	if ran != 5 || refused < len(sshdtest.RefusedCommands(dir)) {
		t.Errorf("journal: %d calls ran, %d refused", ran, refused)
	}
	// Masking of command output (both streams, the agent's view and the
	// journal's) is asserted by runssh's TestPipelineMasksOutput.
}

func dirList(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, _ os.DirEntry, _ error) error {
		if rel, _ := filepath.Rel(dir, p); rel != "." {
			out = append(out, rel)
		}
		return nil
	})
	slices.Sort(out)
	return out
}
