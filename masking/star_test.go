package masking

import (
	"strings"
	"testing"
)

// A '*' beside a value once switched detection off (it was taken for the
// edge of a masked run): one character let a card, an SSN, an email or a
// phone through. Masked output keeps at most four digits beside its stars,
// so the stars no longer protect anything, and masking twice still gives
// the same text.
func TestStarBesideValueStillMasked(t *testing.T) {
	e := mustEngine(t, Config{})
	for _, tc := range []struct{ in, secret string }{
		{"*4111111111111111", "4111111111111111"},
		{"4111111111111111*", "4111111111111111"},
		{"card *4111 1111 1111 1111", "4111 1111 1111 1111"},
		{"card **4111-1111-1111-1111**", "4111-1111-1111-1111"},
		{"ssn 078-05-1121*", "078-05-1121"},
		{"ssn *078-05-1121", "078-05-1121"},
		{"*ann@example.com", "ann@example.com"},
		{"ann@example.com*", "ann@example.com"},
		{"call *415-867-5309", "415-867-5309"},
		{"**2001:db8:85a3::8a2e:370:7334**", "2001:db8:85a3::8a2e:370:7334"},
	} {
		out := e.MaskText(tc.in, nil)
		if strings.Contains(out, tc.secret) {
			t.Errorf("MaskText(%q) = %q: the value is still there", tc.in, out)
		}
		if again := e.MaskText(out, nil); again != out {
			t.Errorf("masking %q twice: %q then %q", tc.in, out, again)
		}
	}
	// The engine's own masks are left alone when masked again.
	for _, masked := range []string{"************1111", "***-**-1121", "j***@example.com", "***-***-5309", "10.1.*.*",
		"2001:db8:85a3:*:*:*:*:*", "DE**************1234"} {
		if got := e.MaskText(masked, nil); got != masked {
			t.Errorf("MaskText(%q) = %q: masked output masked again", masked, got)
		}
	}
}

// Stars inside a value once made a rule skip it as "already masked": a
// secret under a secret-named key, or a value under a key rule, passed
// with "***" appended. Only the shapes the operators write count as
// masked now.
func TestStarsInValueDoNotSkipRules(t *testing.T) {
	e := mustEngine(t, Config{})
	for _, v := range []string{"Zq8!xx7Lm2Pq***", "***Zq8!xx7Lm2Pq", "hunter2-horse-***-battery", "Zq8!xx7Lm2Pq•••", "REDACTED_Zq8!xx7Lm2Pq"} {
		out := e.MaskValue(map[string]any{"password": v}, nil)
		if got := out.(map[string]any)["password"]; got == v {
			t.Errorf("password %q came back unmasked", v)
		}
	}
	for _, masked := range []string{"************1111", "***-**-1121", "j***@example.com", "(***) ***-5309", "10.1.*.*",
		"2001:db8:85a3:*:*:*:*:*", "DE**************1234", "****word"} {
		if !looksMasked(masked) {
			t.Errorf("looksMasked(%q) = false: the operators' own output", masked)
		}
	}
	// Placeholders stay placeholders.
	for _, p := range []string{"********", "REDACTED_BY_USER", "<redacted>", "•••••"} {
		if !placeholder(p) {
			t.Errorf("placeholder(%q) = false", p)
		}
	}
}
