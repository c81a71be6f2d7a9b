package shell

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/airlockhq/airlock/policy"
)

// Template is one command an SSH connection allows, written by the operator
// under the connection's `commands:` in airlock.yaml. An argv is allowed when
// it matches the template word for word (see Match).
type Template struct {
	Name string `yaml:"name"` // e.g. "disk-usage"
	// Argv describes the words in order. Argv[0] is a literal program name,
	// compared exactly ("df" and "/usr/bin/df" are different programs).
	Argv []Arg `yaml:"argv"`
	// Access is the class policy sees for this command: read or write.
	// Validate sets the default, read.
	Access policy.Access `yaml:"access"`
	// Approve asks a human to approve each call.
	Approve     bool   `yaml:"approve"`
	Description string `yaml:"description"`

	// validated is set by a successful Validate; Match refuses templates
	// without it rather than trusting regexes that were never compiled or
	// paths that were never checked.
	validated bool
}

// Arg describes one position of a template's argv. Exactly one of Literal,
// Enum, Regex, Int, Path and Flag is set.
//
// In YAML a plain string is a literal; anything else is a mapping:
//
//	df                                   literal
//	{literal: -h, optional: true}        literal that may be left out
//	{enum: [nginx, postgresql]}          one of the listed words
//	{regex: "[a-z0-9-]{1,40}"}           whole word matches (anchored for you)
//	{int: {min: 1, max: 500}}            decimal integer in the range
//	{path: {under: /var/log/app}}        absolute path inside the directory
//	{flag: -n, value: {int: {min: 1, max: 500}}}
//	                                     the word -n, then a word matching value
//
// A flag and its value are two separate words ("-n 5"); the joined forms
// "-n5" and "--lines=5" are not recognised, because each program splits them
// differently. Use a regex argument when a joined form is really needed.
type Arg struct {
	Literal string
	Enum    []string
	// Regex is a Go regular expression that must match the whole word. A
	// word starting with "-" never matches it, so that a loose pattern
	// cannot let an option through that the template does not name.
	Regex string
	Int   *IntRange
	Path  *PathRule
	// Flag is an option word such as "-n" or "--lines". Value, when set,
	// describes the single word that must follow it; without Value the flag
	// stands alone (like a literal, but reads better in a template).
	Flag  string
	Value *Arg
	// Optional lets the argument (a flag with its value) be left out.
	Optional bool

	re *regexp.Regexp // compiled by Validate
}

// IntRange allows a decimal integer between Min and Max, inclusive.
type IntRange struct {
	Min int64 `yaml:"min"`
	Max int64 `yaml:"max"`
}

// PathRule allows an absolute path that, once cleaned lexically (path.Clean),
// is Under or inside it. The check is lexical: a symbolic link inside Under
// that points elsewhere is followed by the host, so confine the account on
// the host too (a forced command, sshd's restrict, a chroot).
type PathRule struct {
	Under string `yaml:"under"`
}

// Validate checks that Under is an absolute, clean path.
func (r *PathRule) Validate() error {
	u := r.Under
	if err := checkWord("path under", u); err != nil {
		return err
	}
	if !strings.HasPrefix(u, "/") || path.Clean(u) != u {
		return fmt.Errorf("path under %q must be an absolute, clean path (no trailing slash, `.` or `..`)", u)
	}
	return nil
}

// Confine returns p cleaned lexically when it is an absolute path that stays
// inside Under (or is Under), and an error for the agent otherwise. The
// cleaned path is what must be run, so that "/var/log/app/../x" can never
// reach the host in any spelling.
func (r *PathRule) Confine(p string) (string, error) {
	if c, ok := underDir(p, r.Under); ok {
		return c, nil
	}
	if !strings.HasPrefix(p, "/") {
		return "", fmt.Errorf("must be an absolute path under %s", r.Under)
	}
	if c := path.Clean(p); c != p {
		return "", fmt.Errorf("must be a path under %s (%q resolves to %q)", r.Under, p, c)
	}
	return "", fmt.Errorf("must be a path under %s", r.Under)
}

// templateKeys are the keys a template mapping may use.
var templateKeys = []string{"name", "argv", "access", "approve", "description"}

// UnmarshalYAML reads a template. It refuses unknown keys itself, because a
// custom unmarshaler does not inherit the caller's KnownFields and a misspelt
// `aprove: true` must not silently drop the approval; and it refuses empty
// argv entries, which yaml.v3 would otherwise drop from the list without a
// word, turning `[rm, ~, -i]` into `[rm, -i]`.
func (t *Template) UnmarshalYAML(n *yaml.Node) error {
	if err := checkKeys(n, templateKeys...); err != nil {
		return err
	}
	if argv := valueOf(n, "argv"); argv != nil && !isNull(argv) {
		if argv.Kind != yaml.SequenceNode {
			return fmt.Errorf("line %d: argv must be a list of arguments", argv.Line)
		}
		for i, item := range argv.Content {
			if isNull(item) {
				return fmt.Errorf("line %d: argument %d of argv is empty", item.Line, i)
			}
		}
	}
	// plain has Template's fields and tags but not this method, so Decode
	// does not recurse.
	type plain Template
	p := plain(*t)
	if err := n.Decode(&p); err != nil {
		return err
	}
	*t = Template(p)
	t.validated = false
	return nil
}

// argKeys are the keys an argument mapping may use.
var argKeys = []string{"literal", "enum", "regex", "int", "path", "flag", "value", "optional"}

// UnmarshalYAML reads an argument: a plain scalar is a literal, a mapping
// names its kind. Unknown keys are refused (yaml.Node.Decode does not honour
// the caller's KnownFields), since a misspelt `optinal: true` would otherwise
// silently change what is allowed.
func (a *Arg) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		if isNull(n) {
			return fmt.Errorf("line %d: an argument cannot be empty", n.Line)
		}
		*a = Arg{Literal: n.Value}
		return nil
	case yaml.MappingNode:
	default:
		return fmt.Errorf("line %d: an argument must be a word or a mapping such as {enum: [a, b]}", n.Line)
	}
	if err := checkKeys(n, argKeys...); err != nil {
		return err
	}
	// yaml.v3 turns a null into a zero value or drops it from a list: an
	// empty `value:` would make a flag take no value, and `enum: [a, ~]`
	// would lose an entry.
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if isNull(v) {
			return fmt.Errorf("line %d: %s has no value", k.Line, k.Value)
		}
		for _, item := range v.Content {
			if k.Value == "enum" && isNull(item) {
				return fmt.Errorf("line %d: enum has an empty entry", item.Line)
			}
		}
	}
	var raw struct {
		Literal  *string   `yaml:"literal"`
		Enum     []string  `yaml:"enum"`
		Regex    *string   `yaml:"regex"`
		Int      yaml.Node `yaml:"int"`
		Path     yaml.Node `yaml:"path"`
		Flag     *string   `yaml:"flag"`
		Value    *Arg      `yaml:"value"`
		Optional bool      `yaml:"optional"`
	}
	if err := n.Decode(&raw); err != nil {
		return err
	}
	out := Arg{Enum: raw.Enum, Value: raw.Value, Optional: raw.Optional}
	kinds := 0
	if raw.Literal != nil {
		kinds++
		out.Literal = *raw.Literal
	}
	if raw.Enum != nil {
		kinds++
	}
	if raw.Regex != nil {
		kinds++
		out.Regex = *raw.Regex
	}
	if raw.Flag != nil {
		kinds++
		out.Flag = *raw.Flag
	}
	if raw.Int.Kind != 0 {
		kinds++
		if err := checkKeys(&raw.Int, "min", "max"); err != nil {
			return err
		}
		if !hasKey(&raw.Int, "min") || !hasKey(&raw.Int, "max") {
			return fmt.Errorf("line %d: int needs both min and max", raw.Int.Line)
		}
		out.Int = new(IntRange)
		if err := raw.Int.Decode(out.Int); err != nil {
			return err
		}
	}
	if raw.Path.Kind != 0 {
		kinds++
		if err := checkKeys(&raw.Path, "under"); err != nil {
			return err
		}
		out.Path = new(PathRule)
		if err := raw.Path.Decode(out.Path); err != nil {
			return err
		}
	}
	if kinds != 1 {
		return fmt.Errorf("line %d: an argument needs exactly one of literal, enum, regex, int, path or flag", n.Line)
	}
	if out.Value != nil && out.Flag == "" {
		return fmt.Errorf("line %d: value is only allowed together with flag", n.Line)
	}
	*a = out
	return nil
}

// checkKeys refuses a mapping key outside allowed, naming its line.
func checkKeys(n *yaml.Node, allowed ...string) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: expected a mapping", n.Line)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		ok := false
		for _, a := range allowed {
			if k.Value == a {
				ok = true
				break
			}
		}
		if !ok {
			return fmt.Errorf("line %d: unknown key %q (want one of %s)", k.Line, k.Value, strings.Join(allowed, ", "))
		}
	}
	return nil
}

func hasKey(n *yaml.Node, key string) bool { return valueOf(n, key) != nil }

// valueOf returns the value of key in mapping n, or nil.
func valueOf(n *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// isNull reports whether n is a YAML null, looking through an alias.
func isNull(n *yaml.Node) bool {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// Validate checks the template, fills in defaults and compiles its regexes.
// It must succeed before the template is given to Match. Errors name the
// template and the argv index of the faulty argument.
func (t *Template) Validate() error {
	t.validated = false
	if strings.TrimSpace(t.Name) == "" {
		return errors.New("command template: name is required")
	}
	switch t.Access {
	case "":
		t.Access = policy.Read
	case policy.Read, policy.Write:
	default:
		return fmt.Errorf("command template %q: access must be read or write, not %q", t.Name, t.Access)
	}
	if len(t.Argv) == 0 {
		return fmt.Errorf("command template %q: argv must name at least the program", t.Name)
	}
	prog := &t.Argv[0]
	if prog.kind() != kindLiteral || prog.Optional {
		return fmt.Errorf("command template %q: argument 0 must be the program name as a plain word", t.Name)
	}
	if err := checkProgram(prog.Literal); err != nil {
		return fmt.Errorf("command template %q: argument 0: %w", t.Name, err)
	}
	for i := 1; i < len(t.Argv); i++ {
		if err := t.Argv[i].validate(); err != nil {
			return fmt.Errorf("command template %q: argument %d: %w", t.Name, i, err)
		}
	}
	t.validated = true
	return nil
}

// checkProgram refuses program names that could not match a parsed command
// or that a reader could mistake for another program.
func checkProgram(s string) error {
	if s == "" {
		return errors.New("the program name is empty")
	}
	for _, r := range s {
		if r <= ' ' || r >= utf8.RuneSelf || r == 0x7f {
			return fmt.Errorf("program name %q must be printable ASCII without spaces", s)
		}
	}
	return nil
}

type argKind int

const (
	kindInvalid argKind = iota
	kindLiteral
	kindEnum
	kindRegex
	kindInt
	kindPath
	kindFlag
)

// kind says which kind of argument a is; kindInvalid when none or more than
// one kind is set.
func (a *Arg) kind() argKind {
	k, n := kindInvalid, 0
	if a.Literal != "" {
		k, n = kindLiteral, n+1
	}
	if a.Enum != nil {
		k, n = kindEnum, n+1
	}
	if a.Regex != "" {
		k, n = kindRegex, n+1
	}
	if a.Int != nil {
		k, n = kindInt, n+1
	}
	if a.Path != nil {
		k, n = kindPath, n+1
	}
	if a.Flag != "" {
		k, n = kindFlag, n+1
	}
	if n != 1 {
		return kindInvalid
	}
	return k
}

func (a *Arg) validate() error {
	if a.Value != nil && a.Flag == "" {
		return errors.New("value is only allowed together with flag")
	}
	switch a.kind() {
	case kindLiteral:
		return checkWord("literal", a.Literal)
	case kindEnum:
		if len(a.Enum) == 0 {
			return errors.New("enum needs at least one value")
		}
		for _, v := range a.Enum {
			if err := checkWord("enum value", v); err != nil {
				return err
			}
		}
	case kindRegex:
		// Anchoring here means an operator who writes "[a-z]+" gets a whole
		// word match, not "contains a letter".
		re, err := regexp.Compile(`^(?:` + a.Regex + `)$`)
		if err != nil {
			return fmt.Errorf("regex %q: %v", a.Regex, err)
		}
		a.re = re
	case kindInt:
		if a.Int.Min > a.Int.Max {
			return fmt.Errorf("int: min %d is greater than max %d", a.Int.Min, a.Int.Max)
		}
	case kindPath:
		if err := a.Path.Validate(); err != nil {
			return err
		}
	case kindFlag:
		if err := checkWord("flag", a.Flag); err != nil {
			return err
		}
		if !strings.HasPrefix(a.Flag, "-") {
			return fmt.Errorf("flag %q must start with -", a.Flag)
		}
		if a.Value != nil {
			if a.Value.Optional {
				return fmt.Errorf("the value of flag %s cannot be optional; make the flag optional instead", a.Flag)
			}
			if a.Value.kind() == kindFlag {
				return fmt.Errorf("the value of flag %s cannot be another flag", a.Flag)
			}
			if err := a.Value.validate(); err != nil {
				return fmt.Errorf("value of flag %s: %w", a.Flag, err)
			}
		}
	default:
		if a.Literal == "" && a.Enum == nil && a.Regex == "" && a.Int == nil && a.Path == nil && a.Flag == "" {
			return errors.New("the argument is empty")
		}
		return errors.New("needs exactly one of literal, enum, regex, int, path or flag")
	}
	return nil
}

// checkWord refuses template text that no parsed argv could ever contain, so
// the operator learns about it at start-up rather than from refused calls.
func checkWord(what, s string) error {
	if s == "" {
		return fmt.Errorf("%s is empty", what)
	}
	if !printable(s) {
		return fmt.Errorf("%s %q contains a control or non-printable character", what, s)
	}
	return nil
}

// printable reports whether s is valid UTF-8 made of printable characters
// (the ASCII space included), the same test Parse applies to commands.
func printable(s string) bool {
	for _, r := range s {
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}
