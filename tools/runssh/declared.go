package runssh

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/airlockhq/airlock/config"
	"github.com/airlockhq/airlock/policy"
	"github.com/airlockhq/airlock/policy/shell"
	"github.com/airlockhq/airlock/recorder"
	"github.com/airlockhq/airlock/tools"
)

var (
	_ tools.Declarer = (*Tool)(nil)
	_ tools.Tool     = (*declared)(nil)
	_ tools.Scoped   = (*declared)(nil)
)

// maxSafeInt is the largest integer a JSON number carries exactly.
const maxSafeInt = 1<<53 - 1

// maxWordBytes bounds one filled argument, like run_ssh's command string.
const maxWordBytes = maxCommandBytes

// DeclaredKinds implements tools.Declarer.
func (t *Tool) DeclaredKinds() []string { return []string{config.DeclaredSSH} }

// declared is an operator-declared SSH tool: a fixed argv whose "{name}"
// words are filled whole by typed parameters, then quoted word by word for
// the remote shell exactly as run_ssh does. It never goes through shell
// parsing: the agent supplies values, never command text.
type declared struct {
	def    *config.DeclaredTool
	host   *host
	action tools.Action
	mcp    mcp.Tool
	// holes maps an argv index to the parameter index filling it.
	holes      map[int]int
	paramIndex map[string]int
	params     *tools.Params
}

var holeRE = regexp.MustCompile(`^\{([a-z][a-z0-9_]*)\}$`)

// Declare implements tools.Declarer. Literal words are checked now; an
// optional parameter needs a default that passes its own checks, since a
// word of the command cannot be left out without changing its meaning.
func (t *Tool) Declare(d *config.DeclaredTool) (tools.Tool, error) {
	h, ok := t.hosts[d.Connection]
	if !ok {
		return nil, fmt.Errorf("tools.%s: connection %q is not an ssh connection", d.Name, d.Connection)
	}
	if len(d.Argv) == 0 {
		return nil, fmt.Errorf("tools.%s.argv: required", d.Name)
	}
	access := d.Access
	if access == "" {
		access = policy.Read
	}
	if access != policy.Read && access != policy.Write {
		return nil, fmt.Errorf("tools.%s.access: must be read or write", d.Name)
	}
	dt := &declared{def: d, host: h, holes: map[int]int{}, paramIndex: map[string]int{}}
	for i := range d.Params {
		p := &d.Params[i]
		dt.paramIndex[p.Name] = i
	}
	ps, err := tools.NewParams(d.Name, d.Params)
	if err != nil {
		return nil, err
	}
	dt.params = ps
	for i, w := range d.Argv {
		if m := holeRE.FindStringSubmatch(w); m != nil {
			pi, ok := dt.paramIndex[m[1]]
			if !ok {
				return nil, fmt.Errorf("tools.%s.argv[%d]: {%s} is not a declared parameter", d.Name, i, m[1])
			}
			if i == 0 {
				return nil, fmt.Errorf("tools.%s.argv[0]: the program must be a literal", d.Name)
			}
			dt.holes[i] = pi
			continue
		}
		if err := safeWord(w); err != nil {
			return nil, fmt.Errorf("tools.%s.argv[%d]: %v", d.Name, i, err)
		}
	}
	for i := 0; i < len(d.Argv[0]); i++ {
		if d.Argv[0][i] >= utf8.RuneSelf {
			return nil, fmt.Errorf("tools.%s.argv[0]: the program name must be plain ASCII", d.Name)
		}
	}
	for i := range d.Params {
		p := &d.Params[i]
		if p.FromClaim != "" || !p.Optional {
			continue
		}
		if p.Default == nil {
			return nil, fmt.Errorf("tools.%s.params[%d]: an optional parameter of an ssh tool needs a default (a word of the command cannot be left out)", d.Name, i)
		}
		if _, err := dt.fill(p, normalizeDefault(p.Default)); err != nil {
			return nil, fmt.Errorf("tools.%s.params[%d].default: %v", d.Name, i, err)
		}
	}
	dt.action = tools.Action{Connection: d.Connection, Access: access, Command: d.Name, NeedsApproval: d.Approve}
	dt.mcp = dt.definition()
	return dt, nil
}

// normalizeDefault turns YAML-decoded numbers into the float64 that JSON
// arguments carry.
func normalizeDefault(v any) any {
	switch x := v.(type) {
	case int:
		return float64(x)
	case int64:
		return float64(x)
	case uint64:
		return float64(x)
	case float32:
		return float64(x)
	}
	return v
}

func (d *declared) Connections() []string { return []string{d.def.Connection} }

func (d *declared) Definition() mcp.Tool { return d.mcp }

func (d *declared) definition() mcp.Tool {
	return tools.DeclaredDefinition(d.def, d.action.Access, d.action.NeedsApproval, d.params.Schema())
}

// declaredCommand is a declared tool's parsed arguments: argv with agent
// parameters filled; claim holes are filled at Execute.
type declaredCommand struct {
	argv []string
}

// Parse checks every argument against its declared type and constraints
// and fills the argv; a claim-bound parameter cannot be set by the agent.
// No I/O.
func (d *declared) Parse(args map[string]any) (*tools.Call, error) {
	for k := range args {
		i, ok := d.paramIndex[k]
		if !ok || d.def.Params[i].FromClaim != "" {
			return nil, fmt.Errorf("unknown argument %q", k)
		}
	}
	argv := slices.Clone(d.def.Argv)
	for ai, pi := range d.holes {
		p := &d.def.Params[pi]
		if p.FromClaim != "" {
			continue
		}
		v, present := args[p.Name]
		if !present || v == nil {
			if !p.Optional {
				return nil, fmt.Errorf("%s is required", p.Name)
			}
			v = normalizeDefault(p.Default)
		}
		w, err := d.fill(p, v)
		if err != nil {
			return nil, tools.Refuse(recorder.OutcomeInvalid, "%s. Nothing was run.", strings.TrimSuffix(err.Error(), "."))
		}
		argv[ai] = w
	}
	a := d.action
	a.Resources = slices.Clone(argv)
	return &tools.Call{Action: a, Args: &declaredCommand{argv: argv}}, nil
}

// fill checks v against p and returns the word it fills: strings as they
// are (paths cleaned and confined under their directory), integers without decimals, booleans as true/false.
func (d *declared) fill(p *config.DeclaredParam, v any) (string, error) {
	// Control characters first: the most specific reason to refuse.
	if s, ok := v.(string); ok {
		if err := safeWord(s); err != nil {
			return "", fmt.Errorf("%s %v", p.Name, err)
		}
	}
	tv, err := d.params.Check(p, v)
	if err != nil {
		return "", err
	}
	switch x := tv.(type) {
	case string:
		if p.Path != nil {
			// Clean, then confine: the cleaned path is the word that runs.
			c, err := p.Path.Confine(x)
			if err != nil {
				return "", fmt.Errorf("%s %v", p.Name, err)
			}
			return c, nil
		}
		if strings.HasPrefix(x, "-") && !slices.Contains(p.Enum, x) && !dashExplicit(d.params.Regexp(p.Name), x) {
			return "", fmt.Errorf("%s may not start with '-' (it would be read as an option)", p.Name)
		}
		return x, nil
	case int64:
		// A negative number is a word starting with '-': only when the
		// operator's minimum explicitly allows negatives.
		if x < 0 && (p.Minimum == nil || *p.Minimum >= 0) {
			return "", fmt.Errorf("%s may not be negative", p.Name)
		}
		return strconv.FormatInt(x, 10), nil
	case float64:
		if x < 0 && (p.Minimum == nil || *p.Minimum >= 0) {
			return "", fmt.Errorf("%s may not be negative", p.Name)
		}
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	case bool:
		return strconv.FormatBool(x), nil
	}
	return "", fmt.Errorf("%s has an unknown type", p.Name)
}

// dashExplicit reports whether the (anchored) pattern explicitly asks for
// the leading '-' of s: it matches s, but no longer matches once the dash
// is replaced by an ordinary character. A pattern such as `.*` or
// `[a-z-]+` admits a dash only incidentally and does not count; `-?[0-9]+`
// or `--[a-z]+` does.
func dashExplicit(re *regexp.Regexp, s string) bool {
	if re == nil || !re.MatchString(s) {
		return false
	}
	for _, c := range []string{"x", "_", "."} {
		if re.MatchString(c + s[1:]) {
			return false
		}
	}
	return true
}

// safeWord is run_ssh's shell-level safety for one argument: valid UTF-8,
// printable, no NUL, line break, tab or other control character, nothing
// shell.Quote could not spell without escapes, and bounded in size.
func safeWord(w string) error {
	if len(w) > maxWordBytes {
		return fmt.Errorf("is %d bytes long; at most %d are allowed", len(w), maxWordBytes)
	}
	for i, r := range w {
		switch {
		case r == 0:
			return fmt.Errorf("contains a NUL byte (byte %d)", i+1)
		case r == utf8.RuneError:
			return fmt.Errorf("is not valid UTF-8 text (byte %d)", i+1)
		case !unicode.IsPrint(r):
			return fmt.Errorf("contains a control or non-printable character %U at byte %d", r, i+1)
		}
	}
	return nil
}

// Execute fills claim-bound parameters from the verified principal, quotes
// argv with shell.Quote and runs it on the host like run_ssh.
func (d *declared) Execute(ctx context.Context, c *tools.Call) (*tools.Result, error) {
	cmd, ok := c.Args.(*declaredCommand)
	if !ok {
		return nil, errors.New(d.def.Name + ": call was not parsed by " + d.def.Name)
	}
	argv := slices.Clone(cmd.argv)
	claims, err := d.params.ClaimValues(ctx)
	if err != nil {
		return nil, err
	}
	for ai, pi := range d.holes {
		p := &d.def.Params[pi]
		if p.FromClaim == "" {
			continue
		}
		w, err := d.fill(p, claims[p.Name])
		if err != nil {
			return nil, tools.Refuse(recorder.OutcomeDenied, "your token's %q claim cannot be used by %s: %s. Nothing was run.", p.FromClaim, d.def.Name, err.Error())
		}
		argv[ai] = w
	}
	text, err := shell.Quote(argv)
	if err != nil {
		return nil, tools.Refuse(recorder.OutcomeInvalid, "command refused: %s. Nothing was run.", err.Error())
	}
	out, err := d.host.run(ctx, text)
	if err != nil {
		return nil, err
	}
	return out.result(d.def.Connection, d.def.Name, argv), nil
}
