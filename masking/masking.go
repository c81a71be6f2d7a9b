// Package masking rewrites sensitive values in what targets return before
// the agent or the journal sees them, and caps results to a token budget.
//
// Three layers decide what is masked, most specific first:
//
//   - structured rules: a result column resolved to its source
//     "table.column" (Config.Columns) or a JSON key path (Config.JSONKeys)
//     masks the whole value, whatever it looks like;
//   - key names: a JSON key or column named like a secret (password,
//     api_key, client_secret, password_hash, rolpassword, …, judged by the
//     words the name is made of) masks its value when the value is not an
//     obvious placeholder and has enough entropy;
//   - content detectors: every string, cell and line is scanned for cards
//     (Luhn), US SSNs (valid ranges), emails, phone numbers, IBANs
//     (mod-97), IP addresses (net/netip) and well-known secret formats.
//
// Detectors validate rather than pattern-match, and run on a normalised view
// of the text (NFKC, zero-width and other format characters removed, Unicode
// dashes and digits folded to ASCII) so look-alike characters do not hide a
// value; the replacement is applied to the original text.
//
// Every entity has an operator: redact (the default for all of them, since
// the journal must never hold an unmasked value and even the last four
// digits narrow a person down), partial, a keyed hash that gives a stable
// pseudonym, or null. Masking is idempotent: masking masked output changes
// nothing.
package masking

import (
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"
)

// Masker rewrites sensitive data in strings. Implementations are safe for
// concurrent use.
type Masker interface {
	MaskString(s string) string
}

// None is the pass-through masker.
type None struct{}

// MaskString returns s unchanged.
func (None) MaskString(s string) string { return s }

var (
	_ Masker = None{}
	_ Masker = (*Engine)(nil)
)

// Entity is a kind of sensitive value.
type Entity string

// The entities the detectors find.
const (
	CreditCard    Entity = "CREDIT_CARD"
	SSN           Entity = "SSN"
	Email         Entity = "EMAIL"
	Phone         Entity = "PHONE"
	IBAN          Entity = "IBAN"
	IPAddress     Entity = "IP_ADDRESS"
	AWSAccessKey  Entity = "AWS_ACCESS_KEY"
	GitHubToken   Entity = "GITHUB_TOKEN"
	GitLabToken   Entity = "GITLAB_TOKEN"
	SlackToken    Entity = "SLACK_TOKEN"
	StripeKey     Entity = "STRIPE_KEY"
	JWT           Entity = "JWT"
	PrivateKey    Entity = "PRIVATE_KEY"
	DBURIPassword Entity = "DB_URI_PASSWORD" // the password in any scheme://user:password@host URI
	BearerToken   Entity = "BEARER_TOKEN"
	Secret        Entity = "SECRET" // a value named like a secret (password=…), or HTTP Basic credentials

	// Field is counted when a structured rule (column or JSON key) masks a
	// value that no detector recognises as a specific entity.
	Field Entity = "FIELD"
)

// Entities lists the detector entities, in the order reports show them.
func Entities() []Entity {
	return []Entity{CreditCard, SSN, Email, Phone, IBAN, IPAddress, AWSAccessKey, GitHubToken,
		GitLabToken, SlackToken, StripeKey, JWT, PrivateKey, DBURIPassword, BearerToken, Secret}
}

// Operator says how a sensitive value is rewritten.
type Operator string

// The operators.
const (
	// Redact replaces the value with a label: "[EMAIL]", "[CREDIT_CARD]";
	// "[REDACTED]" for a structured rule on a value of no known kind.
	Redact Operator = "redact"
	// Partial keeps what helps a reader without identifying anyone: the
	// last four digits of cards ("************1111"), SSNs ("***-**-6789"),
	// phones and IBANs; the first letter and the domain of an email; the
	// first two octets of an IPv4 address and the first three groups of an
	// IPv6 one; the type prefix and last four characters of a typed token. Where nothing is safe to keep (JWTs,
	// private keys, passwords) it degrades to Redact.
	Partial Operator = "partial"
	// Hash replaces the value with ENTITY_<12 hex digits> of an
	// HMAC-SHA256 under Config.HashKey, so equal values stay joinable
	// without being readable.
	Hash Operator = "hash"
	// Null makes the whole value null when a column or JSON key rule
	// applies, or when a detector's match is the entire JSON string or
	// number. Inside longer text it degrades to Redact.
	Null Operator = "null"
	// Off disables a detector (Config.Entities only).
	Off Operator = "off"
)

// Config is the masking section of airlock.yaml. The zero value is valid:
// every detector on, every entity redacted, no structured rules.
type Config struct {
	// Entities sets the operator per entity; a missing entity is redacted
	// and "off" disables its detector.
	Entities map[Entity]Operator `yaml:"entities"`
	// Columns masks whole result columns by their source, as
	// "table.column" patterns in path.Match syntax, case-insensitive:
	// "customers.ssn", "*.email", "users.*_token". A computed column has no
	// table and is matched as ".column", so "*.email" covers it too.
	Columns map[string]Operator `yaml:"columns"`
	// JSONKeys masks whole JSON values by key path: keys joined with ".",
	// array indices left out ("users.ssn" matches every element of a
	// "users" array). The path is anchored at the root. A segment is a
	// path.Match glob within one key ("*" is any one key, "*_token"), and
	// "**" is any number of keys, including none: "**.password" is a
	// password key at any depth. Matching is case-insensitive.
	JSONKeys map[string]Operator `yaml:"json_keys"`
	// HashKey is the HMAC key for the hash operator, at least 16 bytes.
	// The caller resolves it from a secret reference; it is never in YAML.
	HashKey string `yaml:"-"`
}

// FieldError is a problem with one field of Config; Field is its path
// relative to the masking section, such as `columns["x.y"]`.
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// minHashKey is the shortest accepted HMAC key: pseudonyms of low-entropy
// values (SSNs, phones) are only as hard to reverse as the key is to guess.
const minHashKey = 16

// Validate checks the config as written in YAML; it does not need HashKey
// (New checks that). All problems are reported, in a stable order.
func (c *Config) Validate() error {
	var errs []error
	known := map[Entity]bool{}
	for _, e := range Entities() {
		known[e] = true
	}
	for _, k := range sortedKeys(c.Entities) {
		f := fmt.Sprintf("entities[%q]", string(k))
		if !known[k] {
			errs = append(errs, fieldErr(f, "unknown entity (known: %s)", entityList()))
			continue
		}
		if err := checkOperator(c.Entities[k], true); err != nil {
			errs = append(errs, fieldErr(f, "%v", err))
		}
	}
	for _, k := range sortedKeys(c.Columns) {
		f := fmt.Sprintf("columns[%q]", k)
		if err := checkColumnPattern(k); err != nil {
			errs = append(errs, fieldErr(f, "%v", err))
		}
		if err := checkOperator(c.Columns[k], false); err != nil {
			errs = append(errs, fieldErr(f, "%v", err))
		}
	}
	for _, k := range sortedKeys(c.JSONKeys) {
		f := fmt.Sprintf("json_keys[%q]", k)
		if _, err := compileKeyPattern(k); err != nil {
			errs = append(errs, fieldErr(f, "%v", err))
		}
		if err := checkOperator(c.JSONKeys[k], false); err != nil {
			errs = append(errs, fieldErr(f, "%v", err))
		}
	}
	return errors.Join(errs...)
}

// usesHash reports the first field that selects the hash operator.
func (c *Config) usesHash() (string, bool) {
	for _, k := range sortedKeys(c.Entities) {
		if c.Entities[k] == Hash {
			return fmt.Sprintf("entities[%q]", string(k)), true
		}
	}
	for _, k := range sortedKeys(c.Columns) {
		if c.Columns[k] == Hash {
			return fmt.Sprintf("columns[%q]", k), true
		}
	}
	for _, k := range sortedKeys(c.JSONKeys) {
		if c.JSONKeys[k] == Hash {
			return fmt.Sprintf("json_keys[%q]", k), true
		}
	}
	return "", false
}

func checkOperator(op Operator, allowOff bool) error {
	switch op {
	case Redact, Partial, Hash, Null:
		return nil
	case Off:
		if allowOff {
			return nil
		}
		// A structured rule exists to mask; exempting a column from the
		// detectors would let a planted value through.
		return errors.New(`operator "off" is only valid under entities`)
	case "":
		return errors.New("missing operator (redact, partial, hash or null)")
	}
	return fmt.Errorf("unknown operator %q (redact, partial, hash, null)", string(op))
}

func checkColumnPattern(p string) error {
	if !strings.Contains(p, ".") {
		return errors.New(`pattern must have the form "table.column" (use "*.column" for any table)`)
	}
	if _, err := path.Match(strings.ToLower(p), ""); err != nil {
		return fmt.Errorf("bad pattern: %v", err)
	}
	return nil
}

func entityList() string {
	var b strings.Builder
	for i, e := range Entities() {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(string(e))
	}
	return b.String()
}

func sortedKeys[K ~string, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	return keys
}

// Counts tallies masked values per entity. A nil Counts is accepted
// everywhere and counts nothing.
type Counts map[Entity]int

func (c Counts) add(e Entity) {
	if c != nil {
		c[e]++
	}
}
