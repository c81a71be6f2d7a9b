package config

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/airlockhq/airlock/policy"
	"github.com/airlockhq/airlock/policy/shell"
)

// DeclaredTool is a narrow tool an operator declares in config, e.g.
// get_customer_orders(customer_id). It becomes its own MCP tool with a
// JSON Schema built from Params, and runs through the same guard pipeline
// as every other tool.
type DeclaredTool struct {
	Name        string `yaml:"name"`
	Kind        string `yaml:"kind"` // sql (ssh and http follow)
	Connection  string `yaml:"connection"`
	Description string `yaml:"description"`
	// Statement (kind sql) is fixed SQL with $1..$n placeholders, bound by
	// the driver in the order Params are listed; never interpolated.
	Statement string          `yaml:"statement"`
	Params    []DeclaredParam `yaml:"params"`

	// Argv (kind ssh) is a fixed command: literal words, and "{name}"
	// words filled whole by a parameter (never spliced inside a word).
	Argv []string `yaml:"argv"`
	// Access (kinds ssh and http) is the access class the tool needs:
	// read or write. For http it defaults from the method.
	Access policy.Access `yaml:"access"`
	// Approve (kinds ssh and http) asks a human to approve each call.
	Approve bool `yaml:"approve"`
	// Method, Path, Query and Body (kind http): Path segments and Query
	// values may be "{name}"; Body is a JSON template whose "{name}"
	// strings are replaced by the typed parameter value.
	Method string            `yaml:"method"`
	Path   string            `yaml:"path"`
	Query  map[string]string `yaml:"query"`
	Body   any               `yaml:"body"`
}

// DeclaredParam is one typed parameter of a declared tool.
type DeclaredParam struct {
	Name        string `yaml:"name"`
	Type        string `yaml:"type"` // string | integer | number | boolean
	Description string `yaml:"description"`
	// Optional parameters may be omitted (then Default, or null, is bound).
	Optional bool     `yaml:"optional"`
	Default  any      `yaml:"default"`
	Enum     []string `yaml:"enum"`
	Pattern  string   `yaml:"pattern"`
	// MinLength/MaxLength bound strings; Minimum/Maximum bound numbers.
	MinLength *int     `yaml:"min_length"`
	MaxLength *int     `yaml:"max_length"`
	Minimum   *float64 `yaml:"minimum"`
	Maximum   *float64 `yaml:"maximum"`
	// FromClaim binds the parameter from the caller's verified token
	// (e.g. "sub") instead of the agent; it is not in the schema and an
	// agent cannot set it.
	FromClaim string `yaml:"from_claim"`
	// Path (kind ssh, strings) makes the value an absolute path that must
	// stay under Path.Under once cleaned lexically; the cleaned path is
	// what runs. Symbolic links are the host's business.
	Path *shell.PathRule `yaml:"path"`
}

// Declared tool kinds.
const (
	DeclaredSQL  = "sql"
	DeclaredSSH  = "ssh"
	DeclaredHTTP = "http"
)

var (
	toolNameRE  = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)
	placeholder = regexp.MustCompile(`\$([0-9]+)`)
	// BuiltinTools are names declared tools may not take.
	BuiltinTools = []string{"query_db", "run_ssh", "http_request", "list_connections", "request_access", "access_status"}
)

func (c *Config) validateTools() error {
	seen := map[string]bool{}
	for i := range c.Tools {
		d := &c.Tools[i]
		field := fmt.Sprintf("tools[%d]", i)
		if !toolNameRE.MatchString(d.Name) {
			return invalid(field+".name", "must be lower-case letters, digits and _ (start with a letter, at most 64)")
		}
		if slices.Contains(BuiltinTools, d.Name) || seen[d.Name] {
			return invalid(field+".name", "%q is already taken", d.Name)
		}
		seen[d.Name] = true
		field = "tools." + d.Name
		conn := c.Connections[d.Connection]
		if conn == nil {
			return invalid(field+".connection", "unknown connection %q", d.Connection)
		}
		if strings.TrimSpace(d.Description) == "" {
			return invalid(field+".description", "required: agents choose tools by their description")
		}
		switch d.Kind {
		case DeclaredSQL:
			if conn.Kind != KindPostgres && conn.Kind != KindSQLite {
				return invalid(field+".connection", "a sql tool needs a postgres or sqlite connection, %q is %s", d.Connection, conn.Kind)
			}
			if strings.TrimSpace(d.Statement) == "" {
				return invalid(field+".statement", "required for kind sql")
			}
			if err := checkPlaceholders(d); err != nil {
				return invalid(field+".statement", "%v", err)
			}
		case DeclaredSSH:
			if conn.Kind != KindSSH {
				return invalid(field+".connection", "an ssh tool needs an ssh connection, %q is %s", d.Connection, conn.Kind)
			}
			if len(d.Argv) == 0 {
				return invalid(field+".argv", "required for kind ssh")
			}
			if err := checkHoles(d, d.Argv...); err != nil {
				return invalid(field+".argv", "%v", err)
			}
			for j, w := range d.Argv {
				if strings.ContainsAny(w, "{}") && !hole.MatchString(w) || hole.MatchString(w) && hole.FindString(w) != w {
					return invalid(fmt.Sprintf("%s.argv[%d]", field, j), "a parameter fills a whole word: write \"{name}\" alone")
				}
			}
			if j := slices.IndexFunc(d.Argv[:1], hole.MatchString); j == 0 {
				return invalid(field+".argv[0]", "the program must be a literal")
			}
		case DeclaredHTTP:
			if conn.Kind != KindHTTP {
				return invalid(field+".connection", "an http tool needs an http connection, %q is %s", d.Connection, conn.Kind)
			}
			if d.Method == "" || !strings.HasPrefix(d.Path, "/") {
				return invalid(field+".path", "method and a path starting with / are required for kind http")
			}
			parts := []string{d.Path}
			for _, v := range d.Query {
				parts = append(parts, v)
			}
			parts = append(parts, templateStrings(d.Body)...)
			if err := checkHoles(d, parts...); err != nil {
				return invalid(field+".path", "%v", err)
			}
		case "":
			return invalid(field+".kind", "required (sql, ssh or http)")
		default:
			return invalid(field+".kind", "unknown kind %q (known: sql, ssh, http)", d.Kind)
		}
		if d.Kind != DeclaredSQL && d.Access != "" && d.Access != policy.Read && d.Access != policy.Write {
			return invalid(field+".access", "must be read or write")
		}
		names := map[string]bool{}
		for j := range d.Params {
			if d.Params[j].Path != nil && d.Kind != DeclaredSSH {
				return invalid(fmt.Sprintf("%s.params[%d].path", field, j), "applies to kind ssh only")
			}
			if err := d.Params[j].validate(fmt.Sprintf("%s.params[%d]", field, j), names); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkPlaceholders requires $1..$n to be used for exactly the n params.
func checkPlaceholders(d *DeclaredTool) error {
	used := map[int]bool{}
	for _, m := range placeholder.FindAllStringSubmatch(d.Statement, -1) {
		var n int
		fmt.Sscanf(m[1], "%d", &n)
		used[n] = true
	}
	for n := range used {
		if n < 1 || n > len(d.Params) {
			return fmt.Errorf("uses $%d but %d params are declared", n, len(d.Params))
		}
	}
	for n := 1; n <= len(d.Params); n++ {
		if !used[n] {
			return fmt.Errorf("param %d (%s) is declared but $%d is not used", n, d.Params[n-1].Name, n)
		}
	}
	return nil
}

var paramNameRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

func (p *DeclaredParam) validate(field string, names map[string]bool) error {
	if !paramNameRE.MatchString(p.Name) {
		return invalid(field+".name", "must be lower-case letters, digits and _")
	}
	if names[p.Name] {
		return invalid(field+".name", "duplicate parameter %q", p.Name)
	}
	names[p.Name] = true
	if p.Path != nil {
		if p.Type != "" && p.Type != "string" {
			return invalid(field+".path", "applies to strings only")
		}
		if err := p.Path.Validate(); err != nil {
			return invalid(field+".path", "%v", err)
		}
	}
	if p.FromClaim != "" {
		if p.Type != "" && p.Type != "string" {
			return invalid(field+".type", "a parameter bound from a claim is a string")
		}
		p.Type = "string"
		if p.Optional || p.Default != nil {
			return invalid(field+".from_claim", "a claim-bound parameter cannot be optional or have a default")
		}
		return nil
	}
	switch p.Type {
	case "string", "integer", "number", "boolean":
	case "":
		return invalid(field+".type", "required (string, integer, number or boolean)")
	default:
		return invalid(field+".type", "unknown type %q (string, integer, number or boolean)", p.Type)
	}
	if p.Pattern != "" {
		if p.Type != "string" {
			return invalid(field+".pattern", "applies to strings only")
		}
		if _, err := regexp.Compile(p.Pattern); err != nil {
			return invalid(field+".pattern", "invalid regular expression: %v", err)
		}
	}
	if (len(p.Enum) > 0 || p.MinLength != nil || p.MaxLength != nil) && p.Type != "string" {
		return invalid(field, "enum, min_length and max_length apply to strings only")
	}
	if (p.Minimum != nil || p.Maximum != nil) && p.Type != "integer" && p.Type != "number" {
		return invalid(field, "minimum and maximum apply to numbers only")
	}
	if p.Minimum != nil && p.Maximum != nil && *p.Minimum > *p.Maximum {
		return invalid(field+".minimum", "is above maximum")
	}
	return nil
}

var hole = regexp.MustCompile(`\{([a-z][a-z0-9_]*)\}`)

// checkHoles requires every {name} in parts to be a declared parameter and
// every agent or claim parameter to be used.
func checkHoles(d *DeclaredTool, parts ...string) error {
	declared := map[string]bool{}
	for _, p := range d.Params {
		declared[p.Name] = true
	}
	used := map[string]bool{}
	for _, s := range parts {
		for _, m := range hole.FindAllStringSubmatch(s, -1) {
			if !declared[m[1]] {
				return fmt.Errorf("{%s} is not a declared parameter", m[1])
			}
			used[m[1]] = true
		}
	}
	for _, p := range d.Params {
		if !used[p.Name] {
			return fmt.Errorf("parameter %s is declared but not used", p.Name)
		}
	}
	return nil
}

// templateStrings lists the strings inside a JSON body template.
func templateStrings(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			out = append(out, templateStrings(e)...)
		}
		return out
	case map[string]any:
		var out []string
		for _, e := range x {
			out = append(out, templateStrings(e)...)
		}
		return out
	}
	return nil
}
