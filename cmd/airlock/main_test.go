package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/airlockhq/airlock/config"
	"github.com/airlockhq/airlock/identity"
)

// quickstart copies the quick start's config into a temp dir so its store
// and demo database land there.
func quickstart(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("../../examples/quickstart/airlock.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "airlock.yaml")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func runCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(context.Background(), args, &out, &errb)
	return out.String() + errb.String(), err
}

func TestCheckQuickstart(t *testing.T) {
	p := quickstart(t)
	out, err := runCmd(t, "check", "--config", p)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(out, "demo") || !strings.Contains(out, "ok") {
		t.Errorf("output: %s", out)
	}
}

func TestCheckReportsBrokenConnection(t *testing.T) {
	p := filepath.Join(t.TempDir(), "airlock.yaml")
	os.WriteFile(p, []byte(`
identity: {dev_issuer: {enabled: true}}
connections:
  broken: {kind: postgres, dsn: "postgres://nobody@127.0.0.1:1/x?connect_timeout=2"}
  missing: {kind: sqlite, path: nothere.db}
`), 0o600)
	out, err := runCmd(t, "check", "--config", p)
	if err == nil {
		t.Fatalf("check passed: %s", out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 2 || !strings.Contains(lines[0], "broken") || !strings.Contains(lines[0], "FAIL") ||
		!strings.Contains(lines[1], "missing") || !strings.Contains(lines[1], "FAIL") {
		t.Errorf("want one FAIL line per connection, got:\n%s", out)
	}
	if strings.Contains(out, "nobody") {
		t.Errorf("output leaks the DSN user: %s", out)
	}
	// The operator reads the cause, not only the advice an agent gets.
	if !strings.Contains(lines[0], "connection refused") {
		t.Errorf("check does not say why: %s", lines[0])
	}
}

func TestCheckInvalidConfigNamesField(t *testing.T) {
	p := filepath.Join(t.TempDir(), "airlock.yaml")
	os.WriteFile(p, []byte("identity: {dev_issuer: {enabled: true}}\nconnections:\n  x: {kind: sqlite, path: a.db, colour: red}\n"), 0o600)
	_, err := runCmd(t, "check", "--config", p)
	if err == nil || !strings.Contains(err.Error(), "connections.x.colour") {
		t.Fatalf("got %v", err)
	}
}

func TestTokenMintVerifies(t *testing.T) {
	p := quickstart(t)
	out, err := runCmd(t, "token", "mint", "--config", p, "--subject", "alice", "--groups", "analysts, dba", "--ttl", "5m")
	if err != nil {
		t.Fatal(err)
	}
	tok := strings.TrimSpace(out)
	cfg, err := config.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	dev, err := identity.LoadOrCreateDevIssuer(cfg.DevIssuerURL(), cfg.Identity.DevIssuer.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	v, err := identity.NewVerifier(context.Background(), identity.VerifierConfig{
		Issuer: cfg.Identity.Issuer, Audience: cfg.Identity.Audience, JWKSURL: dev.JWKSURL(), HTTPClient: dev.HTTPClient()})
	if err != nil {
		t.Fatal(err)
	}
	pr, err := v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if pr.Subject != "alice" || strings.Join(pr.Groups, ",") != "analysts,dba" {
		t.Errorf("principal %+v", pr)
	}
	if _, err := runCmd(t, "token", "mint", "--config", p); err == nil {
		t.Error("mint without --subject succeeded")
	}
	if _, err := runCmd(t, "token", "mint", "--config", p, "--subject", "a", "--ttl", "48h"); err == nil {
		t.Error("mint with a 48h ttl succeeded")
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{{}, {"bogus"}, {"token"}, {"journal"}, {"serve", "--nope"}} {
		if _, err := runCmd(t, args...); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
	if out, err := runCmd(t, "version"); err != nil || !strings.Contains(out, "airlock") {
		t.Errorf("version: %q %v", out, err)
	}
}

// serve answers health checks, and shuts down cleanly on cancel.
func TestServeAndShutdown(t *testing.T) {
	p := quickstart(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var out bytes.Buffer
	go func() { done <- run(ctx, []string{"serve", "--config", p, "--listen", addr}, &out, &out) }()
	var resp *http.Response
	for range 100 {
		if resp, err = http.Get("http://" + addr + "/healthz"); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("healthz never answered: %v", err)
	}
	resp.Body.Close()
	quickstartSession(t, p, "http://"+addr)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not shut down")
	}
	out2, err := runCmd(t, "journal", "tail", "--config", p)
	if err != nil {
		t.Fatalf("journal tail: %v %s", err, out2)
	}
}

// quickstartSession is the README's flow: mint a token, connect over
// streamable HTTP, ask for a grant, query the demo.
func quickstartSession(t *testing.T, cfgPath, base string) {
	t.Helper()
	out, err := runCmd(t, "token", "mint", "--config", cfgPath, "--subject", "alice", "--groups", "analysts")
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
	init.Params.ClientInfo = mcp.Implementation{Name: "quickstart", Version: "1"}
	if _, err := c.Initialize(ctx, init); err != nil {
		t.Fatal(err)
	}
	call := func(name string, args map[string]any) *mcp.CallToolResult {
		req := mcp.CallToolRequest{}
		req.Params.Name, req.Params.Arguments = name, args
		res, err := c.CallTool(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	if res := call("query_db", map[string]any{"connection": "demo", "sql": "SELECT 1"}); !res.IsError {
		t.Fatal("query without a grant ran")
	}
	if res := call("request_access", map[string]any{"connection": "demo", "access": "read", "duration": "15m", "reason": "weekly order report"}); res.IsError {
		t.Fatalf("request_access: %+v", res.Content)
	}
	res := call("query_db", map[string]any{"connection": "demo", "sql": "SELECT status, count(*) FROM orders GROUP BY status"})
	if res.IsError {
		t.Fatalf("query: %+v", res.Content)
	}
}

func TestMaskCommand(t *testing.T) {
	p := quickstart(t)
	var out, errb bytes.Buffer
	in := strings.NewReader("card 4111 1111 1111 1111 for jane@example.com\nnothing here\n")
	if err := cmdMask([]string{"--config", p}, in, &out, &errb); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "4111 1111") || strings.Contains(out.String(), "jane@") || !strings.Contains(out.String(), "nothing here") {
		t.Errorf("masked: %q", out.String())
	}
	if !strings.Contains(errb.String(), "EMAIL: 1") {
		t.Errorf("counts: %q", errb.String())
	}
	out.Reset()
	if err := cmdMask([]string{"--config", p, "--json"}, strings.NewReader(`{"user":{"ssn":"234-56-7890"}}`), &out, &errb); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "234-56-7890") {
		t.Errorf("json: %s", out.String())
	}
	// Text is read as a document: a bare SSN under a CSV header "ssn".
	out.Reset()
	if err := cmdMask([]string{"--config", p}, strings.NewReader("id,ssn,note\n1,234567890,ok\n2,345678901,ok\n"), &out, &errb); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "234567890") || strings.Contains(out.String(), "345678901") {
		t.Errorf("csv: %s", out.String())
	}
}

// airlock check --token says who a token names, or exactly why the gateway
// refuses it (expected vs received audience), never the token itself.
func TestCheckToken(t *testing.T) {
	p := quickstart(t)
	cfg, err := config.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	dev, err := identity.LoadOrCreateDevIssuer(cfg.DevIssuerURL(), cfg.Identity.DevIssuer.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	good, err := dev.Mint(identity.MintOptions{Subject: "alice", Groups: []string{"analysts"}, Audience: cfg.Identity.Audience})
	if err != nil {
		t.Fatal(err)
	}
	out, err := runCmd(t, "check", "--config", p, "--token", good)
	if err != nil || !strings.Contains(out, `ok: subject "alice"`) {
		t.Fatalf("a good token: %v\n%s", err, out)
	}
	wrong, err := dev.Mint(identity.MintOptions{Subject: "alice", Audience: "some-other-api"})
	if err != nil {
		t.Fatal(err)
	}
	out, err = runCmd(t, "check", "--config", p, "--token", wrong)
	if err == nil {
		t.Fatalf("a token for another audience passed check:\n%s", out)
	}
	if !strings.Contains(out, "some-other-api") || !strings.Contains(out, cfg.Identity.Audience) {
		t.Errorf("check does not name the expected and received audience:\n%s", out)
	}
	if strings.Contains(out, wrong) {
		t.Errorf("check printed the token:\n%s", out)
	}
}

// The admin commands print their usage on --help (before any config or
// token is needed) and name the choices on a wrong subcommand.
func TestAdminCommandsHelp(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"grants", "--help"}, "usage: airlock grants list"},
		{[]string{"grants", "help"}, "airlock grants revoke ID"},
		{[]string{"approvals", "--help"}, "usage: airlock approvals list"},
		{[]string{"approvals", "-h"}, "airlock approvals approve ID"},
	} {
		out, err := runCmd(t, append(c.args, "--config", "/nonexistent/airlock.yaml")...)
		if err != nil || !strings.Contains(out, c.want) || strings.Contains(out, "token is required") {
			t.Errorf("%v: %v\n%s", c.args, err, out)
		}
	}
	for _, args := range [][]string{{"grants", "bogus"}, {"approvals", "list2"}, {"approvals"}, {"grants"}} {
		_, err := runCmd(t, args...)
		var ue usageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), "usage: airlock "+args[0]) {
			t.Errorf("%v: want a usage error, got %v", args, err)
		}
	}
}

// --ttl takes the duration syntax of the config and journal filters (1d),
// and refuses more than a day with a reason, not a parse error.
func TestTokenMintTTLSyntax(t *testing.T) {
	p := quickstart(t)
	if out, err := runCmd(t, "token", "mint", "--config", p, "--subject", "a", "--ttl", "1d"); err != nil || strings.Count(out, ".") != 2 {
		t.Errorf("--ttl 1d: %v %s", err, out)
	}
	out, err := runCmd(t, "token", "mint", "--config", p, "--subject", "a", "--ttl", "7d")
	if err == nil || !strings.Contains(err.Error(), "between 1s and 24h") {
		t.Errorf("--ttl 7d: %v %s", err, out)
	}
	if _, err := runCmd(t, "token", "mint", "--config", p, "--subject", "a", "--ttl", "soon"); err == nil || !strings.Contains(err.Error(), "invalid duration") {
		t.Errorf("--ttl soon: %v", err)
	}
}

// check reports every config problem at once, server.listen among them,
// and an unreachable issuer as a failed check (serve would retry).
func TestCheckReportsAllProblems(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "airlock.yaml")
	os.WriteFile(p, []byte(`
server: {listen: "127.0.0.1:http-alt"}
identity: {dev_issuer: {enabled: true}}
connections:
  a: {kind: postgres, dsn: "postgres://u@127.0.0.1:1/db", password: {env: FIRSTRUN_UNSET_1}}
  b: {kind: postgres, dsn: "postgres://u@127.0.0.1:1/db", password: {env: FIRSTRUN_UNSET_2}}
`), 0o600)
	_, err := runCmd(t, "check", "--config", p)
	if err == nil || !strings.Contains(err.Error(), "server.listen") {
		t.Fatalf("bad listen accepted: %v", err)
	}
	os.WriteFile(p, []byte(`
identity: {dev_issuer: {enabled: true}}
connections:
  a: {kind: postgres, dsn: "postgres://u@127.0.0.1:1/db", password: {env: FIRSTRUN_UNSET_1}}
  b: {kind: postgres, dsn: "postgres://u@127.0.0.1:1/db", password: {env: FIRSTRUN_UNSET_2}}
`), 0o600)
	_, err = runCmd(t, "check", "--config", p)
	if err == nil || !strings.Contains(err.Error(), "FIRSTRUN_UNSET_1") || !strings.Contains(err.Error(), "FIRSTRUN_UNSET_2") {
		t.Fatalf("want both unset secrets in one round: %v", err)
	}
	// An issuer that does not answer (a closed loopback port).
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	os.WriteFile(p, []byte(`
identity: {issuer: "http://`+addr+`/"}
connections:
  demo: {kind: sqlite, path: demo.db, seed: demo}
`), 0o600)
	out, err := runCmd(t, "check", "--config", p)
	if err == nil || !strings.Contains(out, "identity") || !strings.Contains(out, "FAIL") || !strings.Contains(out, "retries") {
		t.Fatalf("unreachable issuer: %v\n%s", err, out)
	}
}

// check says, in plain words, what each group of the rules may do.
func TestCheckSaysWhatEachGroupMayDo(t *testing.T) {
	out, err := runCmd(t, "check", "--config", quickstart(t))
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{
		"group analysts: may read on demo after asking (request_access), granted at once for at most 1h (rule analysts-read-demo)",
		"group contractors: may read on demo after asking (request_access) and once members of dba approve, for at most 30m (rule contractors-read-demo)",
		"group platform: may list and revoke anyone's grants (admin)",
		"anyone else: nothing (deny by default)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("lacks %q:\n%s", want, out)
		}
	}
}
