package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// Marked steps of a Markdown file: `<!-- quickstart:step NAME [background] -->`
// before a ```sh block, and `<!-- quickstart:expect NAME -->` before a
// ```text block with the output that step prints. In expected output `…`
// matches any text within a line, and a line that is only `…` any number
// of lines. A step without an expect block must print nothing.
type mdStep struct {
	name, cmd  string
	background bool
	expect     *string
}

var mdMarker = regexp.MustCompile(`^<!-- (quickstart|clients):(step|expect) ([\w-]+)( background)? -->$`)

func parseSteps(t *testing.T, path, prefix string) []*mdStep {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	var steps []*mdStep
	byName := map[string]*mdStep{}
	for i := 0; i < len(lines); i++ {
		m := mdMarker.FindStringSubmatch(lines[i])
		if m == nil || m[1] != prefix {
			continue
		}
		// The fenced block that follows the marker.
		if i+1 >= len(lines) || !strings.HasPrefix(lines[i+1], "```") {
			t.Fatalf("%s:%d: marker not followed by a fenced block", path, i+1)
		}
		var body []string
		j := i + 2
		for ; j < len(lines) && lines[j] != "```"; j++ {
			body = append(body, lines[j])
		}
		text := strings.Join(body, "\n")
		switch m[2] {
		case "step":
			s := &mdStep{name: m[3], cmd: text, background: m[4] != ""}
			steps = append(steps, s)
			byName[s.name] = s
		case "expect":
			s := byName[m[3]]
			if s == nil {
				t.Fatalf("%s:%d: expect for unknown step %s", path, i+1, m[3])
			}
			s.expect = &text
		}
		i = j
	}
	if len(steps) == 0 {
		t.Fatalf("%s: no %s steps", path, prefix)
	}
	return steps
}

// outputRegexp turns an expected block into an anchored pattern.
func outputRegexp(expect string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString(`\A`)
	for _, line := range strings.Split(strings.TrimRight(expect, "\n"), "\n") {
		if line == "…" {
			b.WriteString(`(?:[^\n]*\n)*?`)
			continue
		}
		parts := strings.Split(line, "…")
		for k, p := range parts {
			if k > 0 {
				b.WriteString(`[^\n]*`)
			}
			b.WriteString(regexp.QuoteMeta(p))
		}
		b.WriteString(`\n`)
	}
	b.WriteString(`\z`)
	return regexp.MustCompile(b.String())
}

func matchOutput(t *testing.T, step, expect, got string) {
	t.Helper()
	got = strings.Trim(got, "\n") + "\n"
	if strings.TrimSpace(expect) == "" {
		if strings.TrimSpace(got) != "" {
			t.Errorf("step %s: the doc shows no output, got:\n%s", step, got)
		}
		return
	}
	if !outputRegexp(expect).MatchString(got) {
		t.Errorf("step %s: output differs from the doc.\n--- doc:\n%s\n--- got:\n%s", step, expect, got)
	}
}

// freshCopy copies the checkout's files (tracked and untracked, not
// ignored) into a temp dir, as a fresh clone would have them.
func freshCopy(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("git", "-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	dst := t.TempDir()
	for _, f := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		if f == "" {
			continue
		}
		data, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			continue // deleted in the work tree
		}
		st, _ := os.Stat(filepath.Join(root, f))
		p := filepath.Join(dst, f)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, data, st.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// inspectorEnv makes the pinned inspector of scripts/npm-interop.sh the
// one `npx -y @modelcontextprotocol/inspector@VERSION` finds in dir, and
// keeps npm offline: nothing is downloaded while the tests run.
func inspectorEnv(t *testing.T, dir string) []string {
	t.Helper()
	mods, _ := filepath.Abs("testdata/inspector/node_modules")
	if _, err := os.Stat(filepath.Join(mods, "@modelcontextprotocol/inspector/package.json")); err != nil {
		t.Fatalf("the pinned MCP Inspector is not installed (run `bash scripts/npm-interop.sh`, which `make test` runs): %v", err)
	}
	if err := os.Symlink(mods, filepath.Join(dir, "node_modules")); err != nil && !os.IsExist(err) {
		t.Fatal(err)
	}
	return append(os.Environ(), "npm_config_offline=true", "npm_config_update_notifier=false", "NO_COLOR=1")
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestReadmeQuickstart follows README.md's quick start literally on a
// fresh copy of the checkout: the serve command, the token mint, the
// request_access and query_db calls through the pinned MCP Inspector; each
// step's output must be what the README shows. The only change: the
// README's 127.0.0.1:8080 becomes a free loopback port, in the copy's
// config and in the commands, so parallel runs do not collide.
func TestReadmeQuickstart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the gateway from a fresh copy")
	}
	steps := parseSteps(t, "../../README.md", "quickstart")
	dir := freshCopy(t)
	env := inspectorEnv(t, dir)
	addr := freePort(t)
	port := func(s string) string { return strings.ReplaceAll(s, "127.0.0.1:8080", addr) }
	cfg := filepath.Join(dir, "examples/quickstart/airlock.yaml")
	data, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, []byte(port(string(data))), 0o600)

	var script strings.Builder
	script.WriteString("set -e\n")
	var fg []*mdStep
	for _, s := range steps {
		if s.background {
			startBackground(t, dir, env, port(s.cmd), s, port)
			continue
		}
		fg = append(fg, s)
		fmt.Fprintf(&script, "printf '\\n@@step %s\\n'\n%s\n", s.name, port(s.cmd))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script.String()+"printf '\\n@@end\\n'\n")
	cmd.Dir, cmd.Env = dir, env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the steps failed: %v\n%s", err, out)
	}
	got := map[string]string{}
	cur := ""
	for _, line := range strings.SplitAfter(string(out), "\n") {
		if name, ok := strings.CutPrefix(strings.TrimSuffix(line, "\n"), "@@step "); ok {
			cur = name
			continue
		}
		if strings.TrimSpace(line) == "@@end" {
			break
		}
		got[cur] += line
	}
	for _, s := range fg {
		exp := ""
		if s.expect != nil {
			exp = port(*s.expect)
		}
		matchOutput(t, s.name, exp, got[s.name])
	}
}

// startBackground runs a step that stays up (serve) and waits until its
// output, minus structured log lines, has as many lines as the README
// shows; then compares them.
func startBackground(t *testing.T, dir string, env []string, command string, s *mdStep, port func(string) string) {
	t.Helper()
	cmd := exec.Command("bash", "-c", "exec "+command)
	cmd.Dir, cmd.Env = dir, env
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
		}
		pw.Close()
	})
	want := ""
	if s.expect != nil {
		want = port(*s.expect)
	}
	n := strings.Count(strings.TrimRight(want, "\n"), "\n") + 1
	var mu sync.Mutex
	var plain, all bytes.Buffer
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pr)
		count := 0
		for sc.Scan() {
			mu.Lock()
			all.WriteString(sc.Text() + "\n")
			if !strings.HasPrefix(sc.Text(), "time=") {
				plain.WriteString(sc.Text() + "\n")
				count++
				if count == n {
					close(ready)
				}
			}
			mu.Unlock()
		}
	}()
	select {
	case <-ready:
	case <-time.After(8 * time.Minute): // a cold cgo build of libpg_query takes minutes
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("step %s: did not print the README's lines in time; output:\n%s", s.name, all.String())
	}
	mu.Lock()
	got := plain.String()
	mu.Unlock()
	matchOutput(t, s.name, want, got)
}

// The matcher that compares doc and output: … within a line, … as lines,
// and anything else literal.
func TestDocOutputMatcher(t *testing.T) {
	cases := []struct {
		expect, got string
		ok          bool
	}{
		{"a …\nb", "a 1\nb\n", true},
		{"a …\nb", "a 1\nc\n", false},
		{"…\nz", "x\ny\nz\n", true},
		{"…\nz", "z\n", true},
		{"…\nz\n…", "x\nz\ny\n", true},
		{"x", "x\nextra\n", false},
		{`"n": 1`, `"n": 2` + "\n", false},
	}
	for _, tc := range cases {
		if got := outputRegexp(tc.expect).MatchString(tc.got); got != tc.ok {
			t.Errorf("%q vs %q: %v, want %v", tc.expect, tc.got, got, tc.ok)
		}
	}
}
