package config

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/airlockhq/airlock/policy/httpguard"
)

// Parse decodes YAML strictly. lookup resolves ${NAME} references in
// scalar values; a reference to an unset variable is an error naming the
// field. "$${" stands for a literal "${".
func Parse(data []byte, lookup func(string) (string, bool)) (*Config, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	cfg := &Config{}
	if doc.Kind == 0 { // empty file
		return cfg, nil
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if err := walk(root, reflect.TypeFor[Config](), "", lookup); err != nil {
		return nil, err
	}
	if err := root.Decode(cfg); err != nil {
		return nil, decodeErr(err)
	}
	return cfg, nil
}

// yamlValue is how yaml.v3 quotes a value in a type error: " `ro-secr...`".
var yamlValue = regexp.MustCompile(" `[^`]*`")

// decodeErr reports a decoding error without the values yaml.v3 quotes in
// it: a value in the wrong place may be a secret pasted inline. walk
// catches the type errors it can with the field's path first; this is the
// net under it.
func decodeErr(err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs := make([]string, len(te.Errors))
		for i, m := range te.Errors {
			msgs[i] = yamlValue.ReplaceAllString(m, "")
		}
		return fmt.Errorf("config: %s", strings.Join(msgs, "; "))
	}
	return fmt.Errorf("config: %s", yamlValue.ReplaceAllString(err.Error(), ""))
}

// secretHint ends every error about a field that holds a secret reference.
const secretHint = "a secret is never written in the config file: give it by reference, {env: NAME} or {file: PATH}"

var (
	secretRefType   = reflect.TypeFor[SecretRef]()
	unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()
)

// checkScalar reports a scalar that cannot be decoded into t, naming the
// field and the expected type but never the value (it may be a secret
// written in the wrong place).
func checkScalar(n *yaml.Node, t reflect.Type, path string) error {
	if t == secretRefType {
		if n.Tag == "!!null" {
			return nil
		}
		return fieldErr(path, n, secretHint)
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) || n.Tag == "!!null" {
		return nil
	}
	var want string
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		want = "want a whole number"
	case reflect.Float32, reflect.Float64:
		want = "want a number"
	case reflect.Bool:
		want = "want true or false"
	case reflect.Struct, reflect.Map:
		return fieldErr(path, n, "want a mapping (key: value), not a single value")
	case reflect.Slice, reflect.Array:
		return fieldErr(path, n, "want a list, not a single value")
	default:
		return nil
	}
	if err := n.Decode(reflect.New(t).Interface()); err != nil {
		return fieldErr(path, n, want)
	}
	return nil
}

// walk checks every mapping key against the struct fields of t and expands
// environment references in scalars, building the dotted path as it goes.
func walk(n *yaml.Node, t reflect.Type, path string, lookup func(string) (string, bool)) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch n.Kind {
	case yaml.ScalarNode:
		if t == secretRefType && n.Tag != "!!null" {
			return fieldErr(path, n, secretHint)
		}
		if inlineCredentialHeader(path, n.Value) {
			return fieldErr(path, n, "a credential header must take its value from the environment (e.g. \"Bearer ${API_TOKEN}\"), never hold the credential in the file")
		}
		if n.Tag == "!!str" || n.Style != 0 || strings.Contains(n.Value, "${") {
			v, err := expand(n.Value, lookup)
			if err != nil {
				return fieldErr(path, n, err.Error())
			}
			n.Value = v
		}
		switch t {
		case reflect.TypeFor[Duration]():
			if _, err := ParseDuration(n.Value); err != nil {
				return fieldErr(path, n, "invalid duration (use e.g. 30s, 15m, 12h or 90d)")
			}
			return nil
		case reflect.TypeFor[time.Duration]():
			if _, err := time.ParseDuration(n.Value); err != nil {
				return fieldErr(path, n, "invalid duration (use e.g. 30s, 15m)")
			}
			return nil
		}
		return checkScalar(n, t, path)
	case yaml.AliasNode:
		return fieldErr(path, n, "YAML aliases are not supported")
	case yaml.SequenceNode:
		if t.Kind() == reflect.Interface {
			var errs []error
			for i, c := range n.Content {
				errs = append(errs, walk(c, t, fmt.Sprintf("%s[%d]", path, i), lookup))
			}
			return joinErrs(errs)
		}
		if t == secretRefType {
			return fieldErr(path, n, secretHint)
		}
		if t.Kind() != reflect.Slice {
			return fieldErr(path, n, "a list is not allowed here")
		}
		var errs []error
		for i, c := range n.Content {
			errs = append(errs, walk(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i), lookup))
		}
		return joinErrs(errs)
	case yaml.MappingNode:
		switch t.Kind() {
		case reflect.Interface:
			// Free-form values (a body template): expand references,
			// check no keys.
			var errs []error
			for i := 1; i < len(n.Content); i += 2 {
				errs = append(errs, walk(n.Content[i], t, join(path, n.Content[i-1].Value), lookup))
			}
			return joinErrs(errs)
		case reflect.Map:
			var errs []error
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := n.Content[i].Value
				errs = append(errs, walk(n.Content[i+1], t.Elem(), join(path, k), lookup))
			}
			return joinErrs(errs)
		case reflect.Struct:
			fields := yamlFields(t)
			seen := map[string]bool{}
			var errs []error
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := n.Content[i].Value
				f, ok := fields[k]
				if !ok {
					msg := "unknown key (known: " + strings.Join(slices.Sorted(maps.Keys(fields)), ", ") + ")"
					if t == secretRefType {
						msg += "; " + secretHint
					}
					errs = append(errs, fieldErr(join(path, k), n.Content[i], msg))
					continue
				}
				if seen[k] {
					errs = append(errs, fieldErr(join(path, k), n.Content[i], "duplicate key"))
					continue
				}
				seen[k] = true
				errs = append(errs, walk(n.Content[i+1], f, join(path, k), lookup))
			}
			return joinErrs(errs)
		default:
			if t == reflect.TypeFor[time.Duration]() {
				return fieldErr(path, n, "want a duration such as 30s")
			}
			return fieldErr(path, n, "a mapping is not allowed here")
		}
	}
	return nil
}

func yamlFields(t reflect.Type) map[string]reflect.Type {
	m := map[string]reflect.Type{}
	for f := range t.Fields() {
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if opts == "inline" && f.Type.Kind() == reflect.Struct {
			maps.Copy(m, yamlFields(f.Type))
			continue
		}
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		m[name] = f.Type
	}
	return m
}

func join(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

func fieldErr(path string, n *yaml.Node, msg string) error {
	if path == "" {
		path = "(top level)"
	}
	return &ValidationError{Field: path, Msg: fmt.Sprintf("%s (line %d)", msg, n.Line)}
}

var errUnclosed = errors.New("unclosed ${ reference")

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func isAre(n int) string {
	if n == 1 {
		return "is"
	}
	return "are"
}

// Errors is every problem found in a config, each naming its field, so an
// operator fixes them in one round (two unset variables are two lines,
// not two runs). errors.As finds each *ValidationError inside.
type Errors []error

func (es Errors) Error() string {
	if len(es) == 1 {
		return es[0].Error()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "config: %d problems:", len(es))
	for _, e := range es {
		b.WriteString("\n  ")
		b.WriteString(e.Error())
	}
	return b.String()
}

func (es Errors) Unwrap() []error { return es }

// joinErrs flattens the non-nil errors into one Errors, or nil.
func joinErrs(errs []error) error {
	var out Errors
	for _, e := range errs {
		if nested, ok := e.(Errors); ok {
			out = append(out, nested...)
		} else if e != nil {
			out = append(out, e)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// expand replaces ${NAME} with the value lookup gives.
func expand(s string, lookup func(string) (string, bool)) (string, error) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var b strings.Builder
	var unset []string // every unset variable of the value, reported together
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			if len(unset) > 0 {
				return "", fmt.Errorf("environment variable%s %s %s not set", plural(len(unset)), strings.Join(unset, ", "), isAre(len(unset)))
			}
			b.WriteString(s)
			return b.String(), nil
		}
		if i > 0 && s[i-1] == '$' { // $${ escapes
			b.WriteString(s[:i-1])
			b.WriteString("${")
			s = s[i+2:]
			continue
		}
		b.WriteString(s[:i])
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return "", errUnclosed
		}
		name := s[i+2 : i+end]
		if !validEnvName(name) {
			// Never quote it: a secret pasted between the braces is still
			// a secret.
			return "", errors.New("invalid variable name in ${...} (names use letters, digits and _, and do not start with a digit)")
		}
		v, ok := lookup(name)
		if !ok {
			unset = append(unset, name)
		}
		b.WriteString(v)
		s = s[i+end+1:]
	}
}

func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if !(r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

// inlineCredentialHeader reports whether path is an http connection's
// operator header that carries a credential (connections.NAME.headers.H)
// and raw, as written in the file, references no environment variable.
func inlineCredentialHeader(path, raw string) bool {
	parts := strings.Split(path, ".")
	if len(parts) != 4 || parts[0] != "connections" || parts[2] != "headers" {
		return false
	}
	if !httpguard.CarriesCredential(parts[3]) {
		return false
	}
	// What stays once the references are taken out may be a scheme word
	// ("Bearer ${TOKEN}"), nothing more: "Bearer sk_live_x ${V}" still
	// holds a credential in the file.
	refs := envRef.FindAllStringIndex(raw, -1)
	if len(refs) == 0 {
		return true
	}
	rest := strings.Fields(envRef.ReplaceAllString(raw, " "))
	return len(rest) > 1 || len(rest) == 1 && !schemeWord(rest[0])
}

// envRef is one ${NAME} reference in a raw config value.
var envRef = regexp.MustCompile(`\$\{[^}]*\}`)

// schemeWord reports whether w can be an authentication scheme (letters
// only, as in Bearer, Basic, Token).
func schemeWord(w string) bool {
	if len(w) > 20 {
		return false
	}
	for _, r := range w {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z') {
			return false
		}
	}
	return true
}
