package config

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
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
}

// Declared tool kinds.
const DeclaredSQL = "sql"

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
		case "":
			return invalid(field+".kind", "required (sql)")
		default:
			return invalid(field+".kind", "unknown kind %q (known: sql)", d.Kind)
		}
		names := map[string]bool{}
		for j := range d.Params {
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
