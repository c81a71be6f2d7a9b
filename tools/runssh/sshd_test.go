package runssh

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/airlockhq/airlock/config"
	"github.com/airlockhq/airlock/tools/runssh/sshdtest"
)

// Tests against a real OpenSSH sshd (see sshdtest): the commands really
// run, as an unprivileged account, so sentinel files prove what did not.

// sshdCommands are the templates of the real-sshd tests; dir is the
// sentinel directory, dir/log holds app.log.
func sshdCommands(dir string) string {
	return fmt.Sprintf(`    commands:
      - {name: disk-usage, argv: [df, {literal: -h, optional: true}]}
      - name: app-log
        argv: [tail, {flag: -n, value: {int: {min: 1, max: 500}}}, {path: {under: %[1]s/log}}]
      - {name: service-status, argv: [systemctl, status, {enum: [nginx]}]}
      - {name: whoami, argv: [id, -un]}
      - {name: list, argv: [ls, {path: {under: %[1]s}}]}
      - {name: echo, argv: [echo, {regex: "[ -~]{0,200}"}]}
      - {name: sleep, argv: [sleep, {regex: "[0-9]{1,3}[.][0-9]{1,9}"}]}
      - {name: touch, argv: [touch, {path: {under: %[1]s}}], access: write}
`, dir)
}

func sshdConn(srv *sshdtest.Server, hostKey, extra, dir string) string {
	if hostKey == "" {
		hostKey = "    known_hosts: " + srv.KnownHosts + "\n"
	}
	return fmt.Sprintf("    address: %s\n    user: %s\n    private_key: {file: %s}\n", srv.Addr, srv.User, srv.KeyFile) +
		hostKey + extra + sshdCommands(dir)
}

// sentinelDir makes the directory the tests' commands point at, with a log
// to read and a file that must survive.
func sentinelDir(t *testing.T, srv *sshdtest.Server) string {
	t.Helper()
	dir := srv.SentinelDir(t)
	if err := os.Mkdir(filepath.Join(dir, "log"), 0o755); err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	for i := 1; i <= 20; i++ {
		fmt.Fprintf(&log, "line %d\n", i)
	}
	for name, body := range map[string]string{"log/app.log": log.String(), "keep": "keep\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if p != dir {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	slices.Sort(out)
	return out
}

// execRequests counts the exec requests sshd has logged (LogLevel DEBUG1).
func execRequests(srv *sshdtest.Server) int {
	return strings.Count(srv.Log(), "request exec")
}

func TestOpenSSH(t *testing.T) {
	srv := sshdtest.Start(t, sshdtest.Options{})
	dir := sentinelDir(t, srv)
	tl := buildTool(t, loadConfig(t, sshdConn(srv, "", "", dir), ""))

	t.Run("allowed", func(t *testing.T) {
		if st := mustRun(t, tl, "id -un"); st["stdout"] != srv.User+"\n" || st["exit_status"] != 0 {
			t.Errorf("id -un: %v", st)
		}
		if st := mustRun(t, tl, "df -h"); !strings.Contains(st["stdout"].(string), "Filesystem") || st["exit_status"] != 0 {
			t.Errorf("df -h: %v", st)
		}
		if st := mustRun(t, tl, "tail -n 2 "+dir+"/log/../log/app.log"); st["stdout"] != "line 19\nline 20\n" {
			t.Errorf("tail: %v", st)
		}
		st := mustRun(t, tl, "ls "+dir+"/missing")
		if st["exit_status"] != 2 || !strings.Contains(st["stderr"].(string), "No such file") || st["stdout"] != "" {
			t.Errorf("ls missing: %v", st)
		}
		// Spacing and metacharacters inside quotes reach the program as
		// one literal argument.
		if st := mustRun(t, tl, `echo 'a  b; touch `+dir+`/s0 $(id) *'`); st["stdout"] != "a  b; touch "+dir+"/s0 $(id) *\n" {
			t.Errorf("echo: %v", st)
		}
		// The positive control: an allowed touch does create its file, so
		// the sentinels below would exist had their commands run.
		mustRun(t, tl, "touch "+dir+"/control")
		if _, err := os.Stat(filepath.Join(dir, "control")); err != nil {
			t.Fatalf("allowed touch did not create its file: %v", err)
		}
		os.Remove(filepath.Join(dir, "control"))
	})

	t.Run("refused", func(t *testing.T) {
		before, execs := listDir(t, dir), execRequests(srv)
		for _, cmd := range sshdtest.RefusedCommands(dir) {
			r, err := run(t, tl, cmd)
			if err == nil {
				t.Errorf("%q ran: %v", cmd, r.Structured)
				continue
			}
			agentMsg(t, err)
		}
		if after := listDir(t, dir); !slices.Equal(before, after) {
			t.Errorf("the sentinel directory changed: %v, was %v", after, before)
		}
		if n := execRequests(srv); n != execs {
			t.Errorf("sshd saw %d exec requests for refused commands", n-execs)
		}
	})

	t.Run("timeout kills the command on the host", func(t *testing.T) {
		tl := buildTool(t, loadConfig(t, sshdConn(srv, "", "    command_timeout: 1s\n", dir), ""))
		marker := randomMarker(t)
		done := make(chan error, 1)
		go func() {
			_, err := run(t, tl, "sleep "+marker)
			done <- err
		}()
		waitFor(t, func() bool { return len(processesWith(marker)) > 0 }, "the remote sleep to start")
		err := <-done
		if msg := agentMsg(t, err); !strings.HasPrefix(msg, "timeout: ") {
			t.Errorf("message: %s", msg)
		}
		waitFor(t, func() bool { return len(processesWith(marker)) == 0 }, "the remote sleep to be killed")
		// sshd writes its log asynchronously: wait for the line rather
		// than reading it once.
		waitFor(t, func() bool { return strings.Contains(srv.Log(), "session_signal_req: signal KILL") },
			"sshd to log the KILL signal request")
	})

	t.Run("host key mismatch", func(t *testing.T) {
		other := sshdtest.OtherHostKey(t)
		kh := filepath.Join(t.TempDir(), "known_hosts")
		os.WriteFile(kh, []byte(knownhosts.Line([]string{srv.Addr}, other)+"\n"), 0o600)
		hostKeyRefused(t, srv, dir, "    known_hosts: "+kh+"\n")
		hostKeyRefused(t, srv, dir, "    host_key: "+strings.TrimSpace(string(ssh.MarshalAuthorizedKey(other)))+"\n")
	})

	t.Run("unknown host", func(t *testing.T) {
		kh := filepath.Join(t.TempDir(), "known_hosts")
		os.WriteFile(kh, []byte(knownhosts.Line([]string{"web1.internal"}, srv.HostPublicKey)+"\n"), 0o600)
		hostKeyRefused(t, srv, dir, "    known_hosts: "+kh+"\n")
	})

	t.Run("pinned host key", func(t *testing.T) {
		tl := buildTool(t, loadConfig(t, sshdConn(srv, "    host_key: "+srv.HostKey+"\n", "", dir), ""))
		mustRun(t, tl, "id -un")
	})
}

func hostKeyRefused(t *testing.T, srv *sshdtest.Server, dir, hostKey string) {
	t.Helper()
	accepted := strings.Count(srv.Log(), "Accepted publickey")
	tl := buildTool(t, loadConfig(t, sshdConn(srv, hostKey, "", dir), ""))
	_, err := run(t, tl, "touch "+dir+"/hostkey")
	msg := agentMsg(t, err)
	if !strings.Contains(msg, `host key verification failed for connection "web1"`) || strings.Contains(msg, srv.Addr) || strings.Contains(msg, srv.User) {
		t.Errorf("message: %s", msg)
	}
	if _, err := os.Stat(filepath.Join(dir, "hostkey")); err == nil {
		t.Error("the command ran on a host that failed verification")
	}
	if strings.Count(srv.Log(), "Accepted publickey") != accepted {
		t.Error("the gateway authenticated to a host that failed verification")
	}
}

func randomMarker(t *testing.T) string {
	t.Helper()
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000_000))
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("30.%09d", n.Int64())
}

// processesWith lists the pids of processes whose command line holds
// marker as a whole argument or inside one.
func processesWith(marker string) []string {
	ents, _ := os.ReadDir("/proc")
	var pids []string
	for _, e := range ents {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && bytes.Contains(b, []byte(marker)) {
			pids = append(pids, e.Name())
		}
	}
	return pids
}

// The README's second layer: the gateway's key pinned on the host with
// restrict and a forced command that runs only known command lines.
func TestOpenSSHForcedCommand(t *testing.T) {
	scripts, err := os.MkdirTemp("", "airlock-forced-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(scripts) })
	os.Chmod(scripts, 0o755)
	wrapper := filepath.Join(scripts, "airlock-only")
	if err := os.WriteFile(wrapper, []byte(readmeBlock(t, "sh", 0)), 0o755); err != nil {
		t.Fatal(err)
	}
	srv := sshdtest.Start(t, sshdtest.Options{AuthorizedKeyOptions: `restrict,command="` + wrapper + `"`})
	dir := sentinelDir(t, srv)
	tl := buildTool(t, loadConfig(t, sshdConn(srv, "", "", dir), ""))
	if st := mustRun(t, tl, "id -un"); st["stdout"] != srv.User+"\n" {
		t.Errorf("id -un: %v", st)
	}
	// Allowed by the gateway, not by the host's list: the host refuses.
	st := mustRun(t, tl, "touch "+dir+"/forced")
	if st["exit_status"] != 1 || !strings.Contains(st["stderr"].(string), "not allowed on this host") {
		t.Errorf("touch: %v", st)
	}
	if _, err := os.Stat(filepath.Join(dir, "forced")); err == nil {
		t.Error("the forced command let touch run")
	}
}

// readmeBlock returns the n-th fenced block of kind lang (0-based) in the
// README's "## run_ssh" section.
func readmeBlock(t *testing.T, lang string, n int) string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(b), "\n## run_ssh\n")
	if !ok {
		t.Fatal("README has no run_ssh section")
	}
	if i := strings.Index(sec, "\n## "); i >= 0 {
		sec = sec[:i]
	}
	parts := strings.Split(sec, "```"+lang+"\n")
	if len(parts) <= n+1 {
		t.Fatalf("README's run_ssh section has no %s block %d", lang, n)
	}
	block, _, _ := strings.Cut(parts[n+1], "```")
	return block
}

// The README's connection example is a valid config.
func TestREADMEConnectionExample(t *testing.T) {
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "keys"), 0o755)
	os.WriteFile(filepath.Join(dir, "keys/airlock_ed25519"), []byte("key"), 0o600)
	os.WriteFile(filepath.Join(dir, "keys/known_hosts"), []byte(knownhosts.Line([]string{"web1.internal"}, sshdtest.OtherHostKey(t))+"\n"), 0o600)
	p := filepath.Join(dir, "airlock.yaml")
	os.WriteFile(p, []byte("identity: {dev_issuer: {enabled: true}}\n"+readmeBlock(t, "yaml", 0)), 0o600)
	cfg, err := config.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if s := cfg.Connections["web1"].SSH; s.Address != "web1.internal:22" || len(s.Commands) != 4 || !s.Commands[3].Approve {
		t.Errorf("settings: %+v", s)
	}
}

// A declared tool with a loose pattern and a path rule reads inside its
// directory on a real sshd, and never outside it through "..".
func TestOpenSSHDeclaredPath(t *testing.T) {
	srv := sshdtest.Start(t, sshdtest.Options{})
	dir := sentinelDir(t, srv)
	if err := os.WriteFile(filepath.Join(dir, "outside"), []byte("outside secret\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := loadConfig(t, sshdConn(srv, "", "", dir), fmt.Sprintf(`tools:
  - name: read_log
    kind: ssh
    connection: web1
    description: Read a log file.
    argv: [cat, "{file}"]
    params:
      - {name: file, type: string, pattern: "%[1]s/log/.*", path: {under: %[1]s/log}}
`, dir))
	tl := buildTool(t, cfg)
	dt, err := tl.Declare(&cfg.Tools[0])
	if err != nil {
		t.Fatal(err)
	}
	_, r, err := execDeclared(t, dt, nil, map[string]any{"file": dir + "/log/./app.log"})
	if err != nil {
		t.Fatal(err)
	}
	if st := r.Structured.(map[string]any); !strings.HasPrefix(st["stdout"].(string), "line 1\n") || st["exit_status"] != 0 {
		t.Errorf("read inside: %v", st)
	}
	execs := execRequests(srv)
	for _, f := range []string{dir + "/log/../outside", dir + "/log/../../../../etc/passwd", dir + "/log/x/../../outside"} {
		_, r, err := execDeclared(t, dt, nil, map[string]any{"file": f})
		if err == nil {
			t.Errorf("%s: ran: %v", f, r.Structured)
			continue
		}
		if msg := agentMsg(t, err); !strings.Contains(msg, "must be a path under "+dir+"/log") {
			t.Errorf("%s: %s", f, msg)
		}
	}
	if n := execRequests(srv); n != execs {
		t.Errorf("refused reads reached sshd: %d exec requests", n-execs)
	}
}
