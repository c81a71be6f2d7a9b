package masking

import (
	"encoding/json"
	"strings"
	"testing"
)

// Whoever writes a query chooses its aliases and its literal text, and
// whoever shapes a request may choose the keys of the response (a GraphQL
// alias). Neither may switch a detection off: a name or a word that says
// what a value is not counts only from a stored column.
func TestAgentContextNeverSuppresses(t *testing.T) {
	e, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	ip := ColumnRef{Table: "hosts", Column: "ip"}
	phone := ColumnRef{Table: "customers", Column: "phone"}
	direct := func(r ColumnRef) Lineage { return Lineage{From: []ColumnRef{r}} }
	computed := func(r ColumnRef) Lineage { return Lineage{From: []ColumnRef{r}, Computed: true} }
	cases := []struct {
		name   string // the query's name for the column
		src    ColumnRef
		lin    Lineage
		in     string
		want   string // "" means masked to something without in
		unmask bool   // the value stays: a stored column says what it is
	}{
		// SELECT ip AS version FROM hosts (PostgreSQL reports the source).
		{name: "version", src: ip, lin: direct(ip), in: "203.0.113.45"},
		// The same on SQLite: no source, the lineage names hosts.ip.
		{name: "version", lin: direct(ip), in: "203.0.113.45"},
		// Nothing known about the column: the alias still may not veto.
		{name: "firmware_build", in: "203.0.113.45"},
		// SELECT phone::text || '' AS order_ref FROM customers.
		{name: "order_ref", lin: computed(phone), in: "415-555-2671"},
		{name: "sku", lin: computed(phone), in: "415-555-2671"},
		// SELECT 'version ' || ip FROM hosts.
		{name: "?column?", lin: computed(ip), in: "version 203.0.113.45"},
		{name: "v", lin: computed(ip), in: "build: 203.0.113.45"},
		// SELECT 'order #' || phone FROM customers.
		{name: "?column?", lin: computed(phone), in: "order #415-555-2671"},
		{name: "?column?", lin: computed(phone), in: "invoice no 415-555-2671"},
		// Positive hints may still come from the alias.
		{name: "ssn", lin: computed(ColumnRef{"p", "x"}), in: "536221234", want: "[SSN]"},
		// A stored column named version is what it says.
		{name: "version", src: ColumnRef{"releases", "version"}, lin: direct(ColumnRef{"releases", "version"}), in: "5.19.19.208", unmask: true},
		{name: "v", lin: direct(ColumnRef{"releases", "build"}), in: "5.19.19.208", unmask: true},
		{name: "order_id", src: ColumnRef{"orders", "order_id"}, in: "415-555-2671", unmask: true},
	}
	for _, tc := range cases {
		got := resultColumn(e, tc.name, tc.src, tc.lin).Mask(tc.in, Counts{})
		s, _ := got.(string)
		switch {
		case tc.unmask && s != tc.in:
			t.Errorf("%s %v %+v: %q -> %v, want it kept", tc.name, tc.src, tc.lin, tc.in, got)
		case !tc.unmask && tc.want != "" && s != tc.want:
			t.Errorf("%s %v %+v: %q -> %v, want %q", tc.name, tc.src, tc.lin, tc.in, got, tc.want)
		case !tc.unmask && (strings.Contains(s, "203.0.113.45") || strings.Contains(s, "555-2671") || strings.Contains(s, "536221234")):
			t.Errorf("%s %v %+v: %q came back unmasked: %v", tc.name, tc.src, tc.lin, tc.in, got)
		}
	}
}

// A response's keys may be chosen by whoever shapes the request, so a
// key's negative hint relaxes only weak shapes (a bare run of digits):
// never a dotted address or a formatted phone number.
func TestDocumentKeysNeverSuppressStrongShapes(t *testing.T) {
	e, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	leaks := func(s string) bool {
		return strings.Contains(s, "203.0.113.45") || strings.Contains(s, "555-2671")
	}
	values := []map[string]any{
		{"version": "203.0.113.45"},
		{"data": map[string]any{"build": "203.0.113.45", "firmware": "203.0.113.45"}},
		{"order_id": "415-555-2671"},
		{"sku": "(415) 555-2671"},
		{"ref": "+1 415 555 2671"},
	}
	for _, v := range values {
		out := e.MaskValue(v, Counts{})
		if leaks(toJSON(t, out)) {
			t.Errorf("MaskValue(%v) = %v", v, out)
		}
	}
	docs := []string{
		`{"version": "203.0.113.45", "order_id": "415-555-2671"}`,
		"<host><version>203.0.113.45</version><order_id>415-555-2671</order_id></host>",
		"host:\n  version: 203.0.113.45\n  order_id: 415-555-2671\n",
		"version,order_id\n203.0.113.45,415-555-2671\n",
		// Words in running text ("version 10.2.3.4") still count: the
		// corpora hold such text, and words in a body are the target's.
	}
	for _, d := range docs {
		if out := e.MaskText(d, nil); leaks(out) {
			t.Errorf("MaskText(%q) = %q", d, out)
		}
	}
	// Weak shapes keep their relief: a bare number under an identifier
	// key is an identifier.
	if out := e.MaskText(`{"order_id": "4155552671", "sku": "4155552671"}`, nil); !strings.Contains(out, "4155552671") {
		t.Errorf("bare identifier masked: %s", out)
	}
}

func toJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
