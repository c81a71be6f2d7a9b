package runssh

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/identity"
	"github.com/airlockhq/airlock/policy"
	"github.com/airlockhq/airlock/tools"
)

// declaredTools are the operator-declared ssh tools of these tests.
const declaredTools = `tools:
  - name: service_status
    kind: ssh
    connection: web1
    description: Status of a service.
    argv: [systemctl, status, "{unit}"]
    params:
      - {name: unit, type: string, enum: [nginx, postgresql]}
  - name: app_log_tail
    kind: ssh
    connection: web1
    description: Last lines of the app log.
    argv: [tail, -n, "{lines}", /var/log/app/app.log]
    params:
      - {name: lines, type: integer, minimum: 1, maximum: 500, optional: true, default: 50}
  - name: grep_log
    kind: ssh
    connection: web1
    description: Search the app log.
    argv: [grep, -F, -e, "{needle}", /var/log/app/app.log]
    params:
      - {name: needle, type: string, pattern: "[ -~]{1,100}"}
  - name: offset_echo
    kind: ssh
    connection: web1
    description: Echo an offset.
    argv: [echo, "{offset}"]
    params:
      - {name: offset, type: string, pattern: "-?[0-9]+"}
  - name: my_home
    kind: ssh
    connection: web1
    description: List the caller's home.
    argv: [id, "{user}"]
    params:
      - {name: user, from_claim: sub}
  - name: whoami_claim
    kind: ssh
    connection: web1
    description: Echo the caller.
    argv: [echo, "{user}", "{tag}"]
    params:
      - {name: user, from_claim: sub}
      - {name: tag, type: string, enum: [a, b]}
  - name: read_app_file
    kind: ssh
    connection: web1
    description: Read a file of the app.
    argv: [cat, "{file}"]
    params:
      - {name: file, type: string, pattern: "/var/log/app/.*", path: {under: /var/log/app}}
  - name: restart_service
    kind: ssh
    connection: web1
    description: Restart a service.
    argv: [systemctl, restart, "{unit}"]
    access: write
    approve: true
    params:
      - {name: unit, type: string, enum: [nginx]}
`

// declaredSetup builds run_ssh on the in-process server and declares every
// tool of declaredTools.
func declaredSetup(t *testing.T) (*testServer, map[string]tools.Tool) {
	t.Helper()
	s := newTestServer(t)
	cfg := loadConfig(t, s.connYAML(""), declaredTools)
	tl := buildTool(t, cfg)
	if !slices.Equal(tl.DeclaredKinds(), []string{"ssh"}) {
		t.Fatalf("DeclaredKinds %v", tl.DeclaredKinds())
	}
	out := map[string]tools.Tool{}
	for i := range cfg.Tools {
		dt, err := tl.Declare(&cfg.Tools[i])
		if err != nil {
			t.Fatalf("%s: %v", cfg.Tools[i].Name, err)
		}
		out[cfg.Tools[i].Name] = dt
	}
	return s, out
}

func execDeclared(t *testing.T, tl tools.Tool, who *identity.Principal, args map[string]any) (*tools.Call, *tools.Result, error) {
	t.Helper()
	c, err := tl.Parse(args)
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if who != nil {
		ctx = identity.NewContext(ctx, who)
	}
	r, err := tl.Execute(ctx, c)
	return c, r, err
}

func TestDeclaredEnumRuns(t *testing.T) {
	s, dts := declaredSetup(t)
	c, r, err := execDeclared(t, dts["service_status"], nil, map[string]any{"unit": "nginx"})
	if err != nil {
		t.Fatal(err)
	}
	want := tools.Action{Connection: "web1", Access: policy.Read, Command: "service_status", Resources: []string{"systemctl", "status", "nginx"}}
	if c.Connection != want.Connection || c.Access != want.Access || c.Command != want.Command || !slices.Equal(c.Resources, want.Resources) || c.NeedsApproval {
		t.Errorf("action %+v", c.Action)
	}
	st := r.Structured.(map[string]any)
	if st["stdout"] != "ran: systemctl status nginx\n" || st["exit_status"] != 0 || st["command"] != "service_status" || st["connection"] != "web1" {
		t.Errorf("result %v", st)
	}
	if got := s.state().execs; !slices.Equal(got, []string{"systemctl status nginx"}) {
		t.Errorf("execs %q", got)
	}
}

func TestDeclaredRefusedNeverReachHost(t *testing.T) {
	s, dts := declaredSetup(t)
	cases := []struct {
		tool string
		args map[string]any
	}{
		{"service_status", map[string]any{"unit": "nginx; rm -rf /"}},
		{"service_status", map[string]any{"unit": "-h"}},
		{"service_status", map[string]any{"unit": "apache"}},
		{"service_status", map[string]any{"unit": 5}},
		{"service_status", map[string]any{}},
		{"service_status", map[string]any{"unit": "nginx", "extra": "x"}},
		{"grep_log", map[string]any{"needle": "-rf"}},       // pattern admits '-' only incidentally
		{"grep_log", map[string]any{"needle": "a\nb"}},      // control character
		{"grep_log", map[string]any{"needle": "a\x00b"}},    // NUL
		{"grep_log", map[string]any{"needle": "a\u202eb"}},  // bidi override
		{"grep_log", map[string]any{"needle": "x$(id)\tb"}}, // tab
		{"offset_echo", map[string]any{"offset": "-x"}},
		{"app_log_tail", map[string]any{"lines": 1.5}},
		{"app_log_tail", map[string]any{"lines": 501.0}},
		{"app_log_tail", map[string]any{"lines": "10"}},
		{"my_home", map[string]any{"user": "root"}}, // claim-bound
		{"whoami_claim", map[string]any{"user": "root", "tag": "a"}},
		{"read_app_file", map[string]any{"file": "/var/log/app/../../../etc/passwd"}},
		{"read_app_file", map[string]any{"file": "/var/log/app/x/../../../../etc/shadow"}},
		{"read_app_file", map[string]any{"file": "/var/log/app/.."}},
		{"read_app_file", map[string]any{"file": "/var/log/apple/x.log"}},
		{"read_app_file", map[string]any{"file": "/var/log/app/\x00/../../passwd"}},
	}
	for _, tc := range cases {
		if _, err := dts[tc.tool].Parse(tc.args); err == nil {
			t.Errorf("%s %v: accepted", tc.tool, tc.args)
		}
	}
	if got := s.state(); got.accepted != 0 || len(got.execs) != 0 {
		t.Errorf("the host saw %d connections and ran %q", got.accepted, got.execs)
	}
}

func TestDeclaredShellMetacharactersAreQuoted(t *testing.T) {
	s, dts := declaredSetup(t)
	if _, _, err := execDeclared(t, dts["grep_log"], nil, map[string]any{"needle": "a; rm -rf / $(id) 'x'"}); err != nil {
		t.Fatal(err)
	}
	if got := s.state().execs; !slices.Equal(got, []string{`grep -F -e "a; rm -rf / \$(id) 'x'" /var/log/app/app.log`}) {
		t.Errorf("execs %q", got)
	}
	// A pattern that asks for the dash explicitly lets it through.
	if _, _, err := execDeclared(t, dts["offset_echo"], nil, map[string]any{"offset": "-5"}); err != nil {
		t.Fatal(err)
	}
	if got := s.state().execs; got[len(got)-1] != "echo -5" {
		t.Errorf("execs %q", got)
	}
}

// A declared path parameter is cleaned, then confined under its directory;
// the cleaned path is what runs, even when the operator's pattern is loose.
func TestDeclaredPathParam(t *testing.T) {
	s, dts := declaredSetup(t)
	for _, tc := range []struct{ file, want string }{
		{"/var/log/app/app.log", "cat /var/log/app/app.log"},
		{"/var/log/app/./a//b/../c.log", "cat /var/log/app/a/c.log"},
		{"/var/log/app/.", "cat /var/log/app"},
	} {
		c, _, err := execDeclared(t, dts["read_app_file"], nil, map[string]any{"file": tc.file})
		if err != nil {
			t.Fatalf("%s: %v", tc.file, err)
		}
		if got := s.state().execs; got[len(got)-1] != tc.want || c.Resources[1] != strings.TrimPrefix(tc.want, "cat ") {
			t.Errorf("%s ran %q (resources %q), want %q", tc.file, got[len(got)-1], c.Resources, tc.want)
		}
	}
	for _, tc := range []struct{ file, want string }{
		{"/var/log/app/../../../etc/passwd", `must be a path under /var/log/app ("/var/log/app/../../../etc/passwd" resolves to "/etc/passwd")`},
		{"/var/log/app/../apple/x", "must be a path under /var/log/app"},
	} {
		_, err := dts["read_app_file"].Parse(map[string]any{"file": tc.file})
		if err == nil {
			t.Errorf("%s: accepted", tc.file)
			continue
		}
		if msg := agentMsg(t, err); !strings.Contains(msg, "file "+tc.want) || !strings.Contains(msg, "Nothing was run") {
			t.Errorf("%s: %s", tc.file, msg)
		}
	}
	var schema struct {
		Properties map[string]map[string]any `json:"properties"`
	}
	if err := json.Unmarshal(dts["read_app_file"].Definition().RawInputSchema, &schema); err != nil {
		t.Fatal(err)
	}
	if d, _ := schema.Properties["file"]["description"].(string); !strings.Contains(d, "under /var/log/app") {
		t.Errorf("schema does not describe the path rule: %v", schema.Properties["file"])
	}
}

func TestDeclaredIntegerParam(t *testing.T) {
	s, dts := declaredSetup(t)
	c, _, err := execDeclared(t, dts["app_log_tail"], nil, map[string]any{"lines": 20.0})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Resources, []string{"tail", "-n", "20", "/var/log/app/app.log"}) {
		t.Errorf("resources %q", c.Resources)
	}
	if _, _, err := execDeclared(t, dts["app_log_tail"], nil, map[string]any{}); err != nil {
		t.Fatal(err)
	}
	if got := s.state().execs; !slices.Equal(got, []string{"tail -n 20 /var/log/app/app.log", "tail -n 50 /var/log/app/app.log"}) {
		t.Errorf("execs %q", got)
	}
}

func TestDeclaredClaimParam(t *testing.T) {
	s, dts := declaredSetup(t)
	if _, _, err := execDeclared(t, dts["my_home"], &identity.Principal{Subject: "alice"}, map[string]any{}); err != nil {
		t.Fatal(err)
	}
	// Claims fill whole words too: a hostile subject is quoted, a missing one refused.
	if _, _, err := execDeclared(t, dts["whoami_claim"], &identity.Principal{Subject: "bob; id"}, map[string]any{"tag": "b"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := execDeclared(t, dts["my_home"], nil, map[string]any{}); err == nil || !strings.Contains(agentMsg(t, err), `"sub" claim`) {
		t.Errorf("no principal: %v", err)
	}
	if _, _, err := execDeclared(t, dts["whoami_claim"], &identity.Principal{Subject: "-rf"}, map[string]any{"tag": "a"}); err == nil {
		t.Error("a claim starting with '-' was used")
	}
	if got := s.state().execs; !slices.Equal(got, []string{"id alice", "echo 'bob; id' b"}) {
		t.Errorf("execs %q", got)
	}
}

func TestDeclaredApproval(t *testing.T) {
	_, dts := declaredSetup(t)
	c, err := dts["restart_service"].Parse(map[string]any{"unit": "nginx"})
	if err != nil {
		t.Fatal(err)
	}
	if !c.NeedsApproval || c.Access != policy.Write || c.Command != "restart_service" {
		t.Errorf("action %+v", c.Action)
	}
	def := dts["restart_service"].Definition()
	if *def.Annotations.ReadOnlyHint || !strings.Contains(def.Description, "approval") {
		t.Errorf("definition %+v", def)
	}
}

func TestDeclaredDefinition(t *testing.T) {
	_, dts := declaredSetup(t)
	def := dts["whoami_claim"].Definition()
	var schema struct {
		Properties map[string]map[string]any `json:"properties"`
		Required   []string                  `json:"required"`
	}
	if err := json.Unmarshal(def.RawInputSchema, &schema); err != nil {
		t.Fatal(err)
	}
	if _, ok := schema.Properties["user"]; ok || schema.Properties["tag"] == nil || !slices.Equal(schema.Required, []string{"tag"}) {
		t.Errorf("schema %s", def.RawInputSchema)
	}
	if !*def.Annotations.ReadOnlyHint || def.Name != "whoami_claim" {
		t.Errorf("definition %+v", def)
	}
	tail := dts["app_log_tail"].Definition()
	schema.Required = nil
	if err := json.Unmarshal(tail.RawInputSchema, &schema); err != nil {
		t.Fatal(err)
	}
	if len(schema.Required) != 0 {
		t.Errorf("optional lines is required: %s", tail.RawInputSchema)
	}
	if sc, ok := dts["my_home"].(tools.Scoped); !ok || !slices.Equal(sc.Connections(), []string{"web1"}) {
		t.Error("declared tool is not scoped to web1")
	}
}

func TestDeclaredRefusalReasons(t *testing.T) {
	_, dts := declaredSetup(t)
	for _, tc := range []struct {
		tool, arg, value, want string
	}{
		{"service_status", "unit", "nginx; rm -rf /", "must be one of nginx, postgresql"},
		{"service_status", "unit", "-h", "must be one of"},
		{"grep_log", "needle", "-rf", "may not start with '-'"},
		{"grep_log", "needle", "a\nb", "control or non-printable"},
	} {
		_, err := dts[tc.tool].Parse(map[string]any{tc.arg: tc.value})
		if err == nil {
			t.Errorf("%s %q: accepted", tc.tool, tc.value)
			continue
		}
		if msg := agentMsg(t, err); !strings.Contains(msg, tc.want) || !strings.Contains(msg, "Nothing was run") {
			t.Errorf("%s %q: %s", tc.tool, tc.value, msg)
		}
	}
}

func TestDeclareRejectsBadDeclarations(t *testing.T) {
	s := newTestServer(t)
	cfg := loadConfig(t, s.connYAML(""), `tools:
  - name: no_default
    kind: ssh
    connection: web1
    description: Optional without a default.
    argv: [tail, -n, "{lines}", /var/log/app/app.log]
    params:
      - {name: lines, type: integer, optional: true}
  - name: bad_default
    kind: ssh
    connection: web1
    description: Default breaks its own rule.
    argv: [systemctl, status, "{unit}"]
    params:
      - {name: unit, type: string, enum: [nginx], optional: true, default: "-h"}
`)
	tl := buildTool(t, cfg)
	for i := range cfg.Tools {
		if _, err := tl.Declare(&cfg.Tools[i]); err == nil {
			t.Errorf("%s: declared", cfg.Tools[i].Name)
		}
	}
	d := cfg.Tools[0]
	d.Connection = "nope"
	if _, err := tl.Declare(&d); err == nil {
		t.Error("unknown connection declared")
	}
}
