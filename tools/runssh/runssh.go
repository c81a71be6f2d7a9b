// Package runssh is the run_ssh tool kind: allowed commands on SSH hosts
// (connections of kind ssh), run with the gateway's own key.
//
// The agent sends a shell-like command string. It is parsed with a real
// shell parser and must be one simple command of literal words (see
// policy/shell); the resulting argv must match one of the connection's
// command templates, which gives the call its access class and may ask for
// a human approval; and the text sent to the host is built again from the
// argv, every word quoted, so nothing the agent wrote is passed through.
//
// Host keys are always verified (a known_hosts file or a pinned key). One
// SSH client per host is shared by all calls and dialled again when it
// breaks; each call runs in its own session with no PTY, no environment
// variables and no agent or port forwarding, and channels the host tries to
// open towards the gateway are refused. A command that outlives its timeout
// is sent SIGKILL and its session closed.
package runssh

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/airlockhq/airlock/config"
	"github.com/airlockhq/airlock/policy"
	"github.com/airlockhq/airlock/policy/shell"
	"github.com/airlockhq/airlock/recorder"
	"github.com/airlockhq/airlock/tools"
)

// Name is the tool's name.
const Name = "run_ssh"

// maxCommandBytes bounds the command string in the schema; policy/shell
// enforces the same bound.
const maxCommandBytes = 16 << 10

func init() {
	tools.Register(tools.Kind{
		Name:            Name,
		ConnectionKinds: []string{config.KindSSH},
		New:             New,
	})
}

// Tool is run_ssh over the configured ssh connections.
type Tool struct {
	hosts     map[string]*host
	connNames []string
	env       *tools.Env
	def       mcp.Tool
}

var (
	_ tools.Tool              = (*Tool)(nil)
	_ tools.ConnectionChecker = (*Tool)(nil)
	_ tools.Scoped            = (*Tool)(nil)
	_ io.Closer               = (*Tool)(nil)
)

// New builds run_ssh for every ssh connection in the config; nil when
// there are none. Credentials and host keys are loaded now; hosts are
// dialled on first use.
func New(env *tools.Env) (tools.Tool, error) {
	t, err := newTool(env)
	if t == nil {
		return nil, err // an untyped nil: the gateway skips the kind
	}
	return t, nil
}

func newTool(env *tools.Env) (*Tool, error) {
	log := env.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := &Tool{hosts: map[string]*host{}}
	for _, name := range slices.Sorted(maps.Keys(env.Config.Connections)) {
		c := env.Config.Connections[name]
		if c == nil || c.Kind != config.KindSSH {
			continue
		}
		h, err := newHost(name, c, log)
		if err != nil {
			t.Close()
			return nil, fmt.Errorf("connection %s: %w", name, err)
		}
		t.hosts[name] = h
		t.connNames = append(t.connNames, name)
	}
	if len(t.hosts) == 0 {
		return nil, nil
	}
	t.env = env
	t.def = t.definition(env, t.connNames)
	return t, nil
}

func (t *Tool) definition(env *tools.Env, names []string) mcp.Tool {
	var desc strings.Builder
	desc.WriteString("Run one allowed command on a configured SSH host through the Airlock gateway. ")
	desc.WriteString("The command is a program and its literal arguments, e.g. `df -h`: no pipes, redirections, `;`, `&&`, ")
	desc.WriteString("variables, globs, substitutions or newlines. Each connection allows only the forms listed below ")
	desc.WriteString("(<...> is a variable word, [...] may be left out, arguments in the order shown). ")
	desc.WriteString("The result holds stdout and stderr separately, the exit status and the duration; each stream is capped. Connections:")
	readOnly := true
	for _, n := range names {
		c := env.Config.Connections[n]
		fmt.Fprintf(&desc, "\n- %s", n)
		if c.Description != "" {
			fmt.Fprintf(&desc, ": %s", c.Description)
		}
		for i := range t.hosts[n].templates {
			tp := &t.hosts[n].templates[i]
			fmt.Fprintf(&desc, "\n  - %s (%s", tp.Name, tp.Access)
			if tp.Approve {
				desc.WriteString(", each call needs a human approval")
			}
			fmt.Fprintf(&desc, "): %s", form(tp))
			if tp.Description != "" {
				fmt.Fprintf(&desc, " — %s", tp.Description)
			}
			if tp.Access != policy.Read {
				readOnly = false
			}
		}
	}
	schema := map[string]any{
		"type": "object",
		"properties": map[string]any{
			"connection": map[string]any{"type": "string", "enum": names, "description": "Name of the SSH connection (host)."},
			"command": map[string]any{"type": "string", "maxLength": maxCommandBytes,
				"description": "One command in an allowed form, e.g. `df -h` or `tail -n 50 /var/log/app/app.log`."},
		},
		"required":             []string{"connection", "command"},
		"additionalProperties": false,
	}
	raw, _ := json.Marshal(schema)
	def := mcp.NewToolWithRawSchema(Name, desc.String(), raw)
	def.Annotations = tools.Annotations("Run a command on a host", readOnly)
	return def
}

// Definition implements tools.Tool.
func (t *Tool) Definition() mcp.Tool { return t.def }

// DefinitionFor implements tools.ScopedDefinition.
func (t *Tool) DefinitionFor(names []string) mcp.Tool { return t.definition(t.env, names) }

// Connections implements tools.Scoped.
func (t *Tool) Connections() []string { return t.connNames }

// command is run_ssh's parsed arguments.
type command struct {
	argv []string
	// text is argv quoted for the remote shell: what is sent.
	text string
}

// Parse implements tools.Tool: shell.Parse, then shell.Match against the
// connection's templates, then shell.Quote. No I/O.
func (t *Tool) Parse(args map[string]any) (*tools.Call, error) {
	for k := range args {
		if k != "connection" && k != "command" {
			return nil, fmt.Errorf("unknown argument %q (run_ssh takes connection and command)", k)
		}
	}
	name, _ := args["connection"].(string)
	h, ok := t.hosts[name]
	if !ok {
		return nil, tools.UnknownConnection(name)
	}
	text, ok := args["command"].(string)
	if !ok || strings.TrimSpace(text) == "" {
		return nil, errors.New("command is required: one program and its arguments as a string, e.g. \"df -h\"")
	}
	argv, err := shell.Parse(text)
	if err != nil {
		return nil, tools.Refuse(recorder.OutcomeInvalid, "command refused: %s. Nothing was run; send one program with literal arguments in a form run_ssh lists for connection %q.",
			strings.TrimSuffix(err.Error(), "."), name)
	}
	tp, err := shell.Match(argv, h.templates)
	if err != nil {
		return nil, tools.Refuse(recorder.OutcomeDenied, "command not allowed on connection %q: %s. Nothing was run; the run_ssh tool description lists the allowed forms.",
			name, strings.TrimSuffix(err.Error(), "."))
	}
	quoted, err := shell.Quote(argv)
	if err != nil {
		return nil, tools.Refuse(recorder.OutcomeInvalid, "command refused: %s. Nothing was run.", err.Error())
	}
	return &tools.Call{
		Action: tools.Action{
			Connection: name, Access: tp.Access, Command: tp.Name,
			Resources: slices.Clone(argv), NeedsApproval: tp.Approve,
		},
		Args: &command{argv: argv, text: quoted},
	}, nil
}

// Execute implements tools.Tool.
func (t *Tool) Execute(ctx context.Context, c *tools.Call) (*tools.Result, error) {
	cmd, ok := c.Args.(*command)
	h := t.hosts[c.Connection]
	if !ok || h == nil {
		return nil, errors.New("run_ssh: call was not parsed by run_ssh")
	}
	out, err := h.run(ctx, cmd.text)
	if err != nil {
		return nil, err
	}
	return out.result(c.Connection, c.Command, cmd.argv), nil
}

// CheckConnection implements tools.ConnectionChecker: it connects,
// verifying the host key and authenticating, and opens a session without
// running anything.
func (t *Tool) CheckConnection(ctx context.Context, name string) error {
	h, ok := t.hosts[name]
	if !ok {
		return fmt.Errorf("%w %q", tools.ErrUnknownConnection, name)
	}
	return h.check(ctx)
}

// Close closes every host's client.
func (t *Tool) Close() error {
	for _, h := range t.hosts {
		h.close()
	}
	return nil
}

// form writes a template in the notation of the tool description, e.g.
// "tail -n <integer 1..500> <path under /var/log/app>".
func form(t *shell.Template) string {
	parts := make([]string, len(t.Argv))
	for i := range t.Argv {
		parts[i] = describe(&t.Argv[i])
	}
	return strings.Join(parts, " ")
}

func describe(a *shell.Arg) string {
	var s string
	switch {
	case a.Literal != "":
		s = a.Literal
	case a.Flag != "":
		s = a.Flag
		if a.Value != nil {
			s += " " + describe(a.Value)
		}
	case a.Enum != nil:
		s = "<" + strings.Join(a.Enum, "|") + ">"
	case a.Regex != "":
		s = "<text matching ^(?:" + a.Regex + ")$>"
	case a.Int != nil:
		s = "<integer " + strconv.FormatInt(a.Int.Min, 10) + ".." + strconv.FormatInt(a.Int.Max, 10) + ">"
	case a.Path != nil:
		s = "<path under " + a.Path.Under + ">"
	}
	if a.Optional {
		s = "[" + s + "]"
	}
	return s
}
