package tools

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/airlockhq/airlock/config"
)

func ptr[T any](v T) *T { return &v }

var testParams = []config.DeclaredParam{
	{Name: "id", Type: "integer", Minimum: ptr(1.0), Maximum: ptr(100.0)},
	{Name: "unit", Type: "string", Enum: []string{"nginx", "postgresql"}},
	{Name: "word", Type: "string", Pattern: "[a-z]+", MaxLength: ptr(8)},
	{Name: "ratio", Type: "number"},
	{Name: "on", Type: "boolean"},
	{Name: "me", FromClaim: "sub", Type: "string"},
}

func TestParamsCheck(t *testing.T) {
	ps, err := NewParams("t", testParams)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		param int
		in    any
		want  any // nil: refused
	}{
		{0, float64(7), int64(7)}, {0, json.Number("9"), int64(9)}, {0, 1.5, nil}, {0, float64(0), nil}, {0, "7", nil},
		{1, "nginx", "nginx"}, {1, "nginx; rm", nil}, {1, 3.0, nil},
		{2, "abc", "abc"}, {2, "abc; x", nil}, {2, "ABC", nil}, {2, "abcdefghij", nil},
		{3, 0.25, 0.25}, {3, "x", nil},
		{4, true, true}, {4, "true", nil},
	}
	for _, c := range cases {
		got, err := ps.Check(&testParams[c.param], c.in)
		if c.want == nil {
			if err == nil {
				t.Errorf("%s %v: accepted as %v", testParams[c.param].Name, c.in, got)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%s %v: got %v, %v; want %v", testParams[c.param].Name, c.in, got, err, c.want)
		}
	}
	schema := string(ps.Schema())
	if strings.Contains(schema, `"me"`) || !strings.Contains(schema, `"^(?:[a-z]+)$"`) {
		t.Errorf("schema: %s", schema)
	}
}

func FuzzParamsCheck(f *testing.F) {
	ps, err := NewParams("t", testParams)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(2, "abc", 1.0)
	f.Add(0, "", 1e300)
	f.Fuzz(func(t *testing.T, i int, s string, n float64) {
		p := &testParams[(i%len(testParams)+len(testParams))%len(testParams)]
		for _, v := range []any{s, n} {
			got, err := ps.Check(p, v)
			if err != nil {
				continue
			}
			// Whatever is accepted satisfies the declaration.
			if str, ok := got.(string); ok && p.Pattern != "" && !ps.Regexp(p.Name).MatchString(str) {
				t.Fatalf("%q accepted against %s", str, p.Pattern)
			}
			if x, ok := got.(int64); ok && (p.Minimum != nil && float64(x) < *p.Minimum || p.Maximum != nil && float64(x) > *p.Maximum) {
				t.Fatalf("%d out of range accepted", x)
			}
		}
	})
}

func BenchmarkParamsCheck(b *testing.B) {
	ps, err := NewParams("t", testParams)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ps.Check(&testParams[2], "abcdef"); err != nil {
			b.Fatal(err)
		}
		if _, err := ps.Check(&testParams[0], float64(42)); err != nil {
			b.Fatal(err)
		}
	}
}
