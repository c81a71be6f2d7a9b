package runssh

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/airlockhq/airlock/config"
	"github.com/airlockhq/airlock/policy"
	"github.com/airlockhq/airlock/tools"
	"github.com/airlockhq/airlock/tools/runssh/sshdtest"
)

// testCommands are the templates of the in-process tests.
const testCommands = `    commands:
      - {name: disk-usage, argv: [df, {literal: -h, optional: true}]}
      - name: app-log
        argv: [tail, {flag: -n, value: {int: {min: 1, max: 500}}}, {path: {under: /var/log/app}}]
      - {name: service-status, argv: [systemctl, status, {enum: [nginx, postgresql]}]}
      - {name: restart-nginx, argv: [systemctl, restart, nginx], access: write, approve: true}
      - {name: echo, argv: [echo, {regex: "[ -~]{0,200}"}]}
      - {name: sleep, argv: [sleep, {regex: "[0-9]{1,3}"}]}
      - {name: touch, argv: [touch, {path: {under: /tmp/airlock-x}}], access: write}
`

// loadConfig writes an airlock.yaml with one ssh connection "web1" whose
// settings are conn (indented under the connection) plus extra top-level
// YAML, and loads it.
func loadConfig(t testing.TB, conn, extra string) *config.Config {
	t.Helper()
	y := "identity: {dev_issuer: {enabled: true}}\nstore: sqlite:airlock.db\nconnections:\n  web1:\n    kind: ssh\n    description: Web server\n" + conn + extra
	p := filepath.Join(t.TempDir(), "airlock.yaml")
	if err := os.WriteFile(p, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// connYAML is the connection to s, with key auth and known_hosts; extra
// settings are appended.
func (s *testServer) connYAML(extra string) string {
	return fmt.Sprintf("    address: %s\n    user: %s\n    private_key: {file: %s}\n    known_hosts: %s\n",
		s.addr, testUser, s.keyFile, s.known) + extra + testCommands
}

func buildTool(t testing.TB, cfg *config.Config) *Tool {
	t.Helper()
	tl, err := New(&tools.Env{Config: cfg, Policy: policy.NewEngine(cfg.Rules)})
	if err != nil {
		t.Fatal(err)
	}
	tt := tl.(*Tool)
	t.Cleanup(func() { tt.Close() })
	return tt
}

func (s *testServer) tool(t testing.TB, extra string) *Tool {
	t.Helper()
	return buildTool(t, loadConfig(t, s.connYAML(extra), ""))
}

// run parses and executes command on web1.
func run(t testing.TB, tl *Tool, command string) (*tools.Result, error) {
	t.Helper()
	c, err := tl.Parse(map[string]any{"connection": "web1", "command": command})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return tl.Execute(ctx, c)
}

func mustRun(t testing.TB, tl *Tool, command string) map[string]any {
	t.Helper()
	r, err := run(t, tl, command)
	if err != nil {
		t.Fatalf("%s: %v", command, err)
	}
	return r.Structured.(map[string]any)
}

// agentMsg returns the text of an agent error, failing on any other.
func agentMsg(t testing.TB, err error) string {
	t.Helper()
	var ae *tools.AgentError
	if !errors.As(err, &ae) {
		t.Fatalf("want an agent error, got %T %v", err, err)
	}
	return ae.Msg
}

func TestAllowedCommands(t *testing.T) {
	s := newTestServer(t)
	s.setHandler(func(cmd string, stdout, stderr io.Writer, _ <-chan string, _ <-chan struct{}) int {
		switch cmd {
		case "df -h":
			io.WriteString(stdout, "Filesystem Size Used\n/dev/sda1 20G 5G\n")
			return 0
		case "tail -n 5 /var/log/app/app.log":
			io.WriteString(stdout, "line 1\nline 2\n")
			io.WriteString(stderr, "tail: warning\n")
			return 0
		case "systemctl status postgresql":
			io.WriteString(stderr, "Unit postgresql.service could not be found.\n")
			return 4
		}
		fmt.Fprintf(stdout, "ran: %s", cmd)
		return 0
	})
	tl := s.tool(t, "")

	st := mustRun(t, tl, "df -h")
	if st["exit_status"] != 0 || st["stdout"] != "Filesystem Size Used\n/dev/sda1 20G 5G\n" || st["stderr"] != "" ||
		st["stdout_truncated"] != false || st["command"] != "disk-usage" || st["connection"] != "web1" {
		t.Errorf("df -h: %v", st)
	}
	if _, ok := st["duration_ms"].(float64); !ok {
		t.Errorf("duration_ms: %v", st["duration_ms"])
	}
	st = mustRun(t, tl, "tail -n 5 /var/log/app/sub/../app.log")
	if st["stdout"] != "line 1\nline 2\n" || st["stderr"] != "tail: warning\n" {
		t.Errorf("tail: %v", st)
	}
	r, err := run(t, tl, "systemctl status postgresql")
	if err != nil {
		t.Fatal(err)
	}
	st = r.Structured.(map[string]any)
	if st["exit_status"] != 4 || !strings.Contains(st["stderr"].(string), "could not be found") {
		t.Errorf("systemctl: %v", st)
	}
	if !strings.HasPrefix(r.Text, "exit status 4 · ") || !strings.Contains(r.Text, "stdout: (empty)") ||
		!strings.Contains(r.Text, "stderr:\nUnit postgresql.service could not be found.") {
		t.Errorf("text:\n%s", r.Text)
	}
	// Quoted words arrive quoted; metacharacters inside quotes are data.
	st = mustRun(t, tl, `echo 'a b; rm -rf / $(x)'`)
	if st["stdout"] != "ran: echo 'a b; rm -rf / $(x)'" {
		t.Errorf("echo: %v", st)
	}

	got := s.state()
	want := []string{"df -h", "tail -n 5 /var/log/app/app.log", "systemctl status postgresql", "echo 'a b; rm -rf / $(x)'"}
	if !slices.Equal(got.execs, want) {
		t.Errorf("host ran %q, want %q (paths cleaned, words re-quoted)", got.execs, want)
	}
	if len(got.requests) != 0 {
		t.Errorf("the client asked for %v; it must ask for no PTY, environment, shell or forwarding", got.requests)
	}
	if got.accepted != 1 || got.sessions != 4 {
		t.Errorf("%d connections and %d sessions; want one connection reused, a session per call", got.accepted, got.sessions)
	}
}

func TestParseAction(t *testing.T) {
	s := newTestServer(t)
	tl := s.tool(t, "")
	cases := []struct {
		command   string
		access    policy.Access
		name      string
		resources []string
		approval  bool
	}{
		{"df", policy.Read, "disk-usage", []string{"df"}, false},
		{"tail -n 50 '/var/log/app/x/../app.log'", policy.Read, "app-log", []string{"tail", "-n", "50", "/var/log/app/app.log"}, false},
		{"systemctl restart nginx", policy.Write, "restart-nginx", []string{"systemctl", "restart", "nginx"}, true},
		{"touch /tmp/airlock-x/f", policy.Write, "touch", []string{"touch", "/tmp/airlock-x/f"}, false},
	}
	for _, tc := range cases {
		c, err := tl.Parse(map[string]any{"connection": "web1", "command": tc.command})
		if err != nil {
			t.Errorf("%s: %v", tc.command, err)
			continue
		}
		if c.Connection != "web1" || c.Access != tc.access || c.Command != tc.name || !slices.Equal(c.Resources, tc.resources) || c.NeedsApproval != tc.approval {
			t.Errorf("%s: action %+v", tc.command, c.Action)
		}
	}
	for _, args := range []map[string]any{
		{"connection": "web2", "command": "df"},
		{"connection": "web1"},
		{"connection": "web1", "command": "  "},
		{"connection": "web1", "command": 5},
		{"connection": "web1", "command": "df", "env": map[string]any{"A": "1"}},
	} {
		if _, err := tl.Parse(args); err == nil {
			t.Errorf("%v: accepted", args)
		}
	}
	if got := s.state(); got.accepted != 0 {
		t.Errorf("Parse connected to the host %d times; it must do no I/O", got.accepted)
	}
}

// Every command of the issue is refused by Parse, before any I/O: the
// in-process host sees no connection at all.
func TestRefusedNeverReachHost(t *testing.T) {
	s := newTestServer(t)
	tl := s.tool(t, "")
	for _, cmd := range append(sshdtest.RefusedCommands("/tmp/airlock-x"),
		// The list as written.
		"df -h; rm -rf /tmp/x", "df -h && touch /tmp/x", "df -h || touch /tmp/x", "df -h | nc 127.0.0.1 9",
		"systemctl status nginx$(touch /tmp/x)", "systemctl status `touch /tmp/x`", "df -h\ntouch /tmp/x",
		"tail -n 5 /var/log/app/app.log > /tmp/x", "LD_PRELOAD=/tmp/x.so df -h", "env sh -c id",
		"tail -n 5 /var/log/app/../../../etc/shadow", "systemctl status $'nginx\ntouch /tmp/x'", "df -h${IFS}-a",
		"{df,-h}", "df -h &", "tail -n 5 /var/log/app/*", "ѕystemctl status nginx",
	) {
		_, err := tl.Parse(map[string]any{"connection": "web1", "command": cmd})
		if err == nil {
			t.Errorf("%q: accepted", cmd)
			continue
		}
		msg := agentMsg(t, err)
		if !strings.Contains(msg, "Nothing was run") {
			t.Errorf("%q: %s", cmd, msg)
		}
	}
	_, err := tl.Parse(map[string]any{"connection": "web1", "command": "ѕystemctl status nginx"})
	if msg := agentMsg(t, err); !strings.Contains(msg, `\u0455`) || !strings.Contains(msg, "non-ASCII") {
		t.Errorf("lookalike: %s", msg)
	}
	if got := s.state(); got.accepted != 0 || len(got.execs) != 0 {
		t.Errorf("the host saw %d connections and ran %q", got.accepted, got.execs)
	}
}

func TestHostKeyVerification(t *testing.T) {
	s := newTestServer(t)
	other := newSigner(t).PublicKey()
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	_, port, _ := net.SplitHostPort(s.addr)
	base := fmt.Sprintf("    address: %s\n    user: %s\n    private_key: {file: %s}\n", s.addr, testUser, s.keyFile)
	cases := map[string]string{
		"known_hosts mismatch": "    known_hosts: " + write("mismatch", knownhosts.Line([]string{s.addr}, other)+"\n") + "\n",
		"unknown host":         "    known_hosts: " + write("unknown", knownhosts.Line([]string{"127.0.0.2:" + port, "web1.internal"}, s.hostKey.PublicKey())+"\n") + "\n",
		"pinned key mismatch":  "    host_key: " + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(other))) + "\n",
	}
	secrets := []string{s.addr, port, "127.0.0.1", testUser, keyBase64(s.hostKey.PublicKey()), keyBase64(other), "SHA256:", "ssh-ed25519", "knownhosts"}
	for name, hk := range cases {
		t.Run(name, func(t *testing.T) {
			tl := buildTool(t, loadConfig(t, base+hk+testCommands, ""))
			_, err := run(t, tl, "df -h")
			msg := agentMsg(t, err)
			if !strings.Contains(msg, `host key verification failed for connection "web1"`) {
				t.Errorf("message: %s", msg)
			}
			for _, sec := range secrets {
				if strings.Contains(msg, sec) {
					t.Errorf("message reveals %q: %s", sec, msg)
				}
			}
			if err := tl.CheckConnection(context.Background(), "web1"); err == nil {
				t.Error("CheckConnection accepted the host")
			}
		})
	}
	if got := s.state(); got.sessions != 0 || len(got.execs) != 0 {
		t.Fatalf("a host that failed verification got %d sessions", got.sessions)
	}
	// The right pinned key works.
	tl := buildTool(t, loadConfig(t, base+"    host_key: "+strings.TrimSpace(string(ssh.MarshalAuthorizedKey(s.hostKey.PublicKey())))+"\n"+testCommands, ""))
	mustRun(t, tl, "df")
}

func keyBase64(k ssh.PublicKey) string {
	f := strings.Fields(string(ssh.MarshalAuthorizedKey(k)))
	return f[1][:24]
}

func TestErrorsHideDetails(t *testing.T) {
	s := newTestServer(t)
	// A key the host does not accept.
	_, wrong := newKeyPair(t)
	wrongFile := filepath.Join(t.TempDir(), "wrong_key")
	writePrivateKey(t, wrongFile, wrong, "")
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()
	cases := []struct {
		name, conn, want string
		hidden           []string
	}{
		{"auth", strings.Replace(s.connYAML(""), s.keyFile, wrongFile, 1), "authentication failed", []string{s.addr, testUser, wrongFile}},
		{"refused", fmt.Sprintf("    address: %s\n    user: %s\n    private_key: {file: %s}\n    host_key: %s\n", closedAddr, testUser, s.keyFile,
			strings.TrimSpace(string(ssh.MarshalAuthorizedKey(s.hostKey.PublicKey())))) + testCommands, "refused the connection", []string{closedAddr, "127.0.0.1", testUser}},
		{"no such host", fmt.Sprintf("    address: airlock-test.invalid:22\n    user: %s\n    private_key: {file: %s}\n    host_key: %s\n    connect_timeout: 2s\n", testUser, s.keyFile,
			strings.TrimSpace(string(ssh.MarshalAuthorizedKey(s.hostKey.PublicKey())))) + testCommands, "nothing was run", []string{"airlock-test.invalid", testUser}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tl := buildTool(t, loadConfig(t, tc.conn, ""))
			_, err := run(t, tl, "df -h")
			msg := agentMsg(t, err)
			if !strings.Contains(msg, tc.want) || !strings.Contains(msg, `connection "web1"`) {
				t.Errorf("message: %s", msg)
			}
			for _, h := range tc.hidden {
				if strings.Contains(msg, h) {
					t.Errorf("message reveals %q: %s", h, msg)
				}
			}
		})
	}
}

func TestTimeoutKillsCommand(t *testing.T) {
	s := newTestServer(t)
	s.setHandler(sleepUntilClosed(20 * time.Second))
	tl := s.tool(t, "    command_timeout: 300ms\n")
	_, err := run(t, tl, "sleep 30")
	if msg := agentMsg(t, err); !strings.HasPrefix(msg, "timeout: ") || !strings.Contains(msg, "SIGKILL") {
		t.Errorf("message: %s", msg)
	}
	// The host got SIGKILL, and the gateway closed the session even though
	// this command did not exit.
	waitFor(t, func() bool {
		st := s.state()
		return slices.Contains(st.signals, "KILL") && slices.Contains(st.closedBy, "client")
	}, "the host to see KILL and the session closed")
	// The shared client survives a killed command.
	s.setHandler(func(cmd string, stdout, _ io.Writer, _ <-chan string, _ <-chan struct{}) int {
		io.WriteString(stdout, "ok")
		return 0
	})
	if st := mustRun(t, tl, "df"); st["stdout"] != "ok" {
		t.Errorf("after a timeout: %v", st)
	}
	if got := s.state(); got.accepted != 1 {
		t.Errorf("%d connections, want 1", got.accepted)
	}
}

// The pipeline's deadline (call timeout, grant expiry) kills the command
// like the command timeout does.
func TestContextDeadlineKillsCommand(t *testing.T) {
	s := newTestServer(t)
	s.setHandler(sleepUntilClosed(20 * time.Second))
	tl := s.tool(t, "")
	c, err := tl.Parse(map[string]any{"connection": "web1", "command": "sleep 30"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err = tl.Execute(ctx, c)
	if msg := agentMsg(t, err); !strings.HasPrefix(msg, "timeout: ") {
		t.Errorf("message: %s", msg)
	}
	waitFor(t, func() bool { return slices.Contains(s.state().signals, "KILL") }, "the host to see KILL")
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestOutputCaps(t *testing.T) {
	s := newTestServer(t)
	out := "héllo wörld, and then a lot more"
	s.setHandler(func(cmd string, stdout, stderr io.Writer, _ <-chan string, _ <-chan struct{}) int {
		for range 1000 {
			io.WriteString(stdout, out)
		}
		io.WriteString(stderr, "warn\xff\n")
		return 0
	})
	tl := s.tool(t, "    max_output_bytes: 9\n")
	r, err := run(t, tl, "df -h")
	if err != nil {
		t.Fatal(err)
	}
	st := r.Structured.(map[string]any)
	// 9 bytes end inside "ö": the cut character is dropped.
	if st["stdout"] != "héllo w" || st["stdout_truncated"] != true || st["stdout_bytes"] != int64(1000*len(out)) {
		t.Errorf("stdout: %q truncated=%v bytes=%v", st["stdout"], st["stdout_truncated"], st["stdout_bytes"])
	}
	if st["stderr"] != "warn\uFFFD\n" || st["stderr_truncated"] != false {
		t.Errorf("stderr: %q", st["stderr"])
	}
	if !r.Truncated || !strings.Contains(r.Text, fmt.Sprintf("stdout (truncated: first 9 of %d bytes", 1000*len(out))) || !utf8.ValidString(r.Text) {
		t.Errorf("text:\n%s", r.Text)
	}
}

func TestCappedKeepsValidUTF8(t *testing.T) {
	for _, tc := range []struct {
		in   string
		max  int
		want string
	}{
		{"abc", 10, "abc"},
		{"abcdef", 3, "abc"},
		{"aé", 2, "a"},   // é cut after its first byte
		{"a€b", 3, "a"},  // € (3 bytes) cut after two
		{"a€b", 4, "a€"}, // € complete
		{"a𝄞", 4, "a"},   // 4-byte rune cut after three
		{"\xffa", 1, "\uFFFD"},
	} {
		c := capped{max: tc.max}
		c.Write([]byte(tc.in))
		if got := c.text(); got != tc.want {
			t.Errorf("capped(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
		}
	}
}

func TestReconnectsAfterConnectionLoss(t *testing.T) {
	s := newTestServer(t)
	tl := s.tool(t, "")
	mustRun(t, tl, "df")
	s.dropConnections()
	// The drop may not have reached the client yet: the stale client then
	// fails to open a session and is replaced.
	mustRun(t, tl, "df -h")
	if got := s.state(); got.accepted != 2 || len(got.execs) != 2 {
		t.Errorf("accepted %d connections, ran %q", got.accepted, got.execs)
	}
}

func TestConcurrentCallsShareOneClient(t *testing.T) {
	s := newTestServer(t)
	tl := s.tool(t, "")
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := tl.Parse(map[string]any{"connection": "web1", "command": fmt.Sprintf("echo call-%d", i)})
			if err == nil {
				_, err = tl.Execute(context.Background(), c)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if got := s.state(); got.accepted != 1 || len(got.execs) != 8 {
		t.Errorf("accepted %d connections for %d commands", got.accepted, len(got.execs))
	}
}

// Channels the host opens towards the gateway (forwarded ports, agent,
// X11) are refused.
func TestHostChannelsRefused(t *testing.T) {
	s := newTestServer(t)
	tl := s.tool(t, "")
	mustRun(t, tl, "df")
	s.mu.Lock()
	sc := s.conns[0]
	s.mu.Unlock()
	for _, typ := range []string{"forwarded-tcpip", "auth-agent@openssh.com", "x11", "direct-tcpip"} {
		_, _, err := sc.OpenChannel(typ, nil)
		var oce *ssh.OpenChannelError
		if !errors.As(err, &oce) || oce.Reason != ssh.Prohibited {
			t.Errorf("%s: %v", typ, err)
		}
	}
	if ok, _, err := sc.SendRequest("tcpip-forward", true, nil); ok || err != nil {
		t.Errorf("global request accepted: %v %v", ok, err)
	}
	mustRun(t, tl, "df") // the connection is still usable
}

func TestPasswordAuth(t *testing.T) {
	s := newTestServer(t)
	s.password = "pw-" + t.Name()
	t.Setenv("RUNSSH_TEST_PASSWORD", s.password)
	conn := fmt.Sprintf("    address: %s\n    user: %s\n    password: {env: RUNSSH_TEST_PASSWORD}\n    known_hosts: %s\n", s.addr, testUser, s.known) + testCommands
	tl := buildTool(t, loadConfig(t, conn, ""))
	mustRun(t, tl, "df")
}

func TestEncryptedKey(t *testing.T) {
	s := newTestServer(t)
	enc := filepath.Join(t.TempDir(), "enc_key")
	writePrivateKey(t, enc, s.userPriv, "correct horse")
	t.Setenv("RUNSSH_TEST_PASSPHRASE", "correct horse")
	base := fmt.Sprintf("    address: %s\n    user: %s\n    private_key: {file: %s}\n    known_hosts: %s\n", s.addr, testUser, enc, s.known)
	tl := buildTool(t, loadConfig(t, base+"    passphrase: {env: RUNSSH_TEST_PASSPHRASE}\n"+testCommands, ""))
	mustRun(t, tl, "df")

	cfg := loadConfig(t, base+testCommands, "")
	_, err := New(&tools.Env{Config: cfg, Policy: policy.NewEngine(nil)})
	if err == nil || !strings.Contains(err.Error(), "encrypted") || strings.Contains(err.Error(), "BEGIN") {
		t.Errorf("no passphrase: %v", err)
	}
}

func TestCheckConnection(t *testing.T) {
	s := newTestServer(t)
	tl := s.tool(t, "")
	if err := tl.CheckConnection(context.Background(), "web1"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return s.state().sessions == 1 }, "the check's session")
	if got := s.state(); len(got.execs) != 0 || got.accepted != 1 {
		t.Errorf("check: %d connections, ran %q", got.accepted, got.execs)
	}
	if err := tl.CheckConnection(context.Background(), "db"); !errors.Is(err, tools.ErrUnknownConnection) {
		t.Errorf("unknown connection: %v", err)
	}
}

func TestDefinition(t *testing.T) {
	s := newTestServer(t)
	def := s.tool(t, "").Definition()
	for _, want := range []string{
		"- web1: Web server",
		"disk-usage (read): df [-h]",
		"app-log (read): tail -n <integer 1..500> <path under /var/log/app>",
		"service-status (read): systemctl status <nginx|postgresql>",
		"restart-nginx (write, each call needs a human approval): systemctl restart nginx",
	} {
		if !strings.Contains(def.Description, want) {
			t.Errorf("description lacks %q:\n%s", want, def.Description)
		}
	}
	a := def.Annotations
	if a.ReadOnlyHint == nil || *a.ReadOnlyHint || a.DestructiveHint == nil || !*a.DestructiveHint {
		t.Errorf("annotations: %+v", a)
	}
	if !strings.Contains(string(def.RawInputSchema), `"additionalProperties":false`) {
		t.Errorf("schema: %s", def.RawInputSchema)
	}
}

func TestNoSSHConnections(t *testing.T) {
	p := filepath.Join(t.TempDir(), "airlock.yaml")
	os.WriteFile(p, []byte("identity: {dev_issuer: {enabled: true}}\nconnections:\n  demo: {kind: sqlite, path: demo.db}\n"), 0o600)
	cfg, err := config.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	tl, err := New(&tools.Env{Config: cfg, Policy: policy.NewEngine(nil)})
	if tl != nil || err != nil {
		t.Errorf("New = %v, %v; want an untyped nil", tl, err)
	}
}
