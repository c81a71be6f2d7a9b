package masking

import (
	"testing"
)

func lineageEngine(t testing.TB) *Engine {
	t.Helper()
	e, err := New(Config{HashKey: "0123456789abcdef0123", Columns: map[string]Operator{
		"customers.ssn":  Redact,
		"*.card_number":  Partial,
		"users.*_token":  Hash,
		"customers.note": Null,
		"public.t.email": Hash,
	}})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestLineageOperator(t *testing.T) {
	e := lineageEngine(t)
	cases := []struct {
		name string
		l    Lineage
		want Operator // "" when no rule applies
	}{
		{"none", Lineage{}, ""},
		{"unprotected", Lineage{From: []ColumnRef{{"customers", "name"}}}, ""},
		{"direct", Lineage{From: []ColumnRef{{"customers", "ssn"}}}, Redact},
		{"direct partial", Lineage{From: []ColumnRef{{"orders", "card_number"}}}, Partial},
		{"direct hash", Lineage{From: []ColumnRef{{"users", "api_token"}}}, Hash},
		{"computed partial is redact", Lineage{From: []ColumnRef{{"orders", "card_number"}}, Computed: true}, Redact},
		{"computed hash is redact", Lineage{From: []ColumnRef{{"users", "api_token"}}, Computed: true}, Redact},
		{"strictest wins", Lineage{From: []ColumnRef{{"customers", "ssn"}, {"customers", "note"}}, Computed: true}, Null},
		{"schema-qualified", Lineage{From: []ColumnRef{{"public.customers", "ssn"}}}, Redact},
		{"qualified rule", Lineage{From: []ColumnRef{{"public.t", "email"}}}, Hash},
		{"case", Lineage{From: []ColumnRef{{"Customers", "SSN"}}}, Redact},
		{"whole row", Lineage{From: []ColumnRef{{"customers", "*"}}, Computed: true}, Null},
		{"whole row of unprotected", Lineage{From: []ColumnRef{{"products", "*"}}, Computed: true}, Redact}, // *.card_number may be one of its columns
		{"whole row of users", Lineage{From: []ColumnRef{{"users", "*"}}}, Hash},
		{"any table", Lineage{From: []ColumnRef{{"*", "ssn"}}}, Redact},
		{"any table unprotected", Lineage{From: []ColumnRef{{"*", "name"}}}, ""},
		{"wildcard", Lineage{From: []ColumnRef{{"*", "*"}}, Computed: true}, Null},
	}
	for _, tc := range cases {
		got, ok := e.LineageOperator(tc.l)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("%s: got %q %v, want %q", tc.name, got, ok, tc.want)
		}
	}
}

func TestMaskCellFrom(t *testing.T) {
	e := lineageEngine(t)
	ssn := Lineage{From: []ColumnRef{{"customers", "ssn"}}, Computed: true}
	cases := []struct {
		name          string
		table, column string
		l             Lineage
		v, want       any
	}{
		{"reversed ssn", "", "reverse", ssn, "1211-50-870", "[REDACTED]"},
		{"looks masked", "", "x", ssn, "***078-05-1121", "[REDACTED]"},
		{"a valid ssn keeps its label", "", "x", ssn, "078-05-1121", "[SSN]"},
		{"null stays null", "", "x", ssn, nil, nil},
		{"json whole row", "", "row_to_json", Lineage{From: []ColumnRef{{"customers", "*"}}, Computed: true}, map[string]any{"ssn": "078-05-1121"}, nil},
		{"direct partial card", "orders", "card_number", Lineage{From: []ColumnRef{{"orders", "card_number"}}}, "4111111111111111", "************1111"},
		{"computed card", "", "right", Lineage{From: []ColumnRef{{"orders", "card_number"}}, Computed: true}, "111111111111", "[REDACTED]"},
		{"no rule: detectors", "", "name", Lineage{From: []ColumnRef{{"customers", "name"}}}, "Ada", "Ada"},
		{"own rule stricter", "customers", "note", Lineage{From: []ColumnRef{{"customers", "ssn"}}, Computed: true}, "x", nil},
	}
	for _, tc := range cases {
		got := e.MaskCellFrom(tc.table, tc.column, tc.l, tc.v, nil)
		if !equalAny(got, tc.want) {
			t.Errorf("%s: got %#v, want %#v", tc.name, got, tc.want)
		}
	}
}

func equalAny(a, b any) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	as, aok := a.(string)
	bs, bok := b.(string)
	return aok && bok && as == bs
}

func FuzzLineageOperator(f *testing.F) {
	f.Add("customers", "ssn", true)
	f.Add("*", "*", false)
	f.Add("public.users", "*", true)
	f.Add("[", "]", false)
	e := lineageEngine(f)
	f.Fuzz(func(t *testing.T, table, column string, computed bool) {
		l := Lineage{From: []ColumnRef{{table, column}}, Computed: computed}
		op, ok := e.LineageOperator(l)
		if ok != (op != "") {
			t.Fatalf("%q %v", op, ok)
		}
		if computed && ok && op != Redact && op != Null {
			t.Fatalf("computed value gets %q", op)
		}
		// Adding a source never weakens the result.
		l.From = append(l.From, ColumnRef{"customers", "ssn"})
		if op2, _ := e.LineageOperator(l); opRank(op2) < opRank(op) || opRank(op2) < opRank(Redact) && computed {
			t.Fatalf("adding customers.ssn: %q after %q", op2, op)
		}
		// The whole row of a table is at least as strict as any of its columns.
		w, _ := e.LineageOperator(Lineage{From: []ColumnRef{{table, "*"}}, Computed: computed})
		if opRank(w) < opRank(op) && column != "*" && table != "*" {
			t.Fatalf("whole row of %q gives %q, its column %q gives %q", table, w, column, op)
		}
	})
}

func BenchmarkColumnMasker(b *testing.B) {
	e := lineageEngine(b)
	l := Lineage{From: []ColumnRef{{"customers", "ssn"}, {"customers", "name"}}, Computed: true}
	b.ReportAllocs()
	for b.Loop() {
		m := e.Column("", "x", l)
		for range 10 {
			m.Mask("1211-50-870", nil)
		}
	}
}
