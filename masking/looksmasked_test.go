package masking

import "testing"

// Only the shapes the operators write count as masked; a value that
// merely holds stars around readable text is a value.
func TestLooksMaskedShapes(t *testing.T) {
	masked := []string{
		"[REDACTED]", "[SSN]", "SECRET_0123456789ab", "********", "****",
		"************1111", "***-**-6789", "+* ***-***-2671", "(***) ***-4567", "+* ***-***-**67 x204",
		"DE****************3000", "J***@Example.com", "203.0.*.*", "2001:db8:85a3:*:*:*:*:*",
		"****efgh", "*******ñö12",
	}
	for _, v := range masked {
		if !looksMasked(v) {
			t.Errorf("looksMasked(%q) = false", v)
		}
	}
	values := []string{
		"hunter***", "s3cr3t***", "***sk_live_4eC39HqLyjWDarjtT1zdp7dc", "pass***word", "ab***cd",
		"Zq8!xx7Lm2Pq***", "x***@sk_live_4eC39HqLyjWDarjtT1zdp7dc", "x***@hunter2", "***@example.com",
		"hunter2.*.*", "999.1.*.*", "secret:*:*:*:*:*", "**hunter2", "***hunt3r2", "ZZ***hunter2",
		"*** 078-05-1121", "***-**-6789-extra",
	}
	for _, v := range values {
		if looksMasked(v) {
			t.Errorf("looksMasked(%q) = true", v)
		}
	}
}

// A value under a secret-named key or column that holds "***" is masked
// unless it is wholly a mask shape: an agent (password || '***') or a
// target ("***sk_live_…") cannot smuggle a value past the exemption.
func TestSecretNameStarsSmuggle(t *testing.T) {
	e, err := New(Config{Columns: map[string]Operator{"*.password": Redact}})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"Tr0ub4dor***", "hunt3r***", "***sk_live_4eC3", "x***@Tr0ub4dor3xK9.qZ7", "***Tr0ub4dor&3xK9qZ"} {
		cols := []*ColumnMasker{
			// SELECT pw || '***' AS password: the alias names a secret.
			e.ResultColumn("password", ColumnRef{}, Lineage{Computed: true, From: []ColumnRef{{"users", "pw"}}}),
			e.ResultColumn("api_key", ColumnRef{}, Lineage{Computed: true, From: []ColumnRef{{"users", "pw"}}}),
			// SELECT password || '***' AS password_hint: a rule's column.
			e.ResultColumn("password_hint", ColumnRef{}, Lineage{Computed: true, From: []ColumnRef{{"users", "password"}}}),
			// A stored column the rule names, holding stars.
			e.ResultColumn("password", ColumnRef{"users", "password"}, Lineage{}),
		}
		for i, cm := range cols {
			if got := cm.Mask(v, Counts{}); got == v {
				t.Errorf("column %d: %q came back as is", i, v)
			}
		}
		out := e.MaskValue(map[string]any{"api_key": v, "password": v}, Counts{})
		if m := out.(map[string]any); m["api_key"] == v || m["password"] == v {
			t.Errorf("MaskValue: %q came back as is: %v", v, m)
		}
	}
	// The engine's own masks stay as they are.
	for _, v := range []string{"[SECRET]", "********"} {
		if out := e.MaskValue(map[string]any{"password": v}, Counts{}).(map[string]any); out["password"] != v {
			t.Errorf("mask %q masked again: %v", v, out["password"])
		}
	}
}
