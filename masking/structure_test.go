package masking

import (
	"bytes"
	"strings"
	"testing"
)

func TestStructureKeyContext(t *testing.T) {
	e, err := New(Config{JSONKeys: map[string]Operator{"**.internal_ref": Redact, "db.host": Redact}})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, in string
		gone     []string // must not survive
		kept     []string // must survive
	}{
		{"csv header", "id,name,ssn,phone\n1,Ann,536904399,4155550123\n2,Bo,078051120,12\n",
			[]string{"536904399", "4155550123"}, []string{"Ann", "078051120"}},
		{"tsv header", "id\tmobile\tnote\n7\t0301234567\tok\n", []string{"0301234567"}, []string{"ok"}},
		{"semicolon", "kunde;telefon;ssn\nA;x;536904399\n", []string{"536904399"}, []string{"kunde"}},
		{"markdown", "| user | SSN | api_key |\n|---|---|---|\n| ann | 536904399 | q8Zr2LmX0pVt7Yw3Kd9s |\n",
			[]string{"536904399", "q8Zr2LmX0pVt7Yw3Kd9s"}, []string{"ann"}},
		{"xml element", "<r><user><ssn>536904399</ssn><phone_number>4155550123</phone_number><n>536904399x</n></user></r>",
			[]string{"<ssn>536904399<", "4155550123"}, []string{"536904399x"}},
		{"xml attribute", `<user ssn="536904399" password="hunter2-Zq8!xx" id="536904399"/>`,
			[]string{`ssn="536904399"`, "hunter2-Zq8!xx"}, []string{`id="536904399"`}},
		{"xml name/value", `<field name="ssn" value="536904399"/><entry key="mobile">4155550123</entry>`,
			[]string{"536904399", "4155550123"}, nil},
		{"xml cdata", "<ssn><![CDATA[536904399]]></ssn>", []string{"536904399"}, nil},
		{"json numbers", `{"card":4111111111111111,"ssn":536904399,"short_ssn":1234567}`,
			[]string{"4111111111111111", ":536904399,", "1234567"}, nil},
		{"json number no context", `{"id":7,"count":536904399,"phone_count":2}`, nil, []string{`"count":536904399`, `"phone_count":2`}},
		{"yaml key rule", "db:\n  host: pg.internal\n  port: 5432\nother:\n  host: keep.me\n",
			[]string{"pg.internal"}, []string{"keep.me", "5432"}},
		{"logfmt key rule", "ts=1 level=info internal_ref=abc123 msg=ok\n", []string{"abc123"}, []string{"msg=ok"}},
		{"header echo", "X-Api-Key: 9f8e7d6c5b4a39281706f5e4d3c2b1a0\nAccept: */*\n",
			[]string{"9f8e7d6c5b4a39281706f5e4d3c2b1a0"}, []string{"*/*"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := e.MaskText(tc.in, nil)
			for _, g := range tc.gone {
				if strings.Contains(out, g) {
					t.Errorf("%q survived: %q", g, out)
				}
			}
			for _, k := range tc.kept {
				if !strings.Contains(out, k) {
					t.Errorf("%q was masked: %q", k, out)
				}
			}
			if again := e.MaskText(out, nil); again != out {
				t.Errorf("not idempotent: %q then %q", out, again)
			}
		})
	}
}

func TestMaskJSONStream(t *testing.T) {
	e, err := New(Config{JSONKeys: map[string]Operator{"users.secret": Null, "**.blob": Redact}})
	if err != nil {
		t.Fatal(err)
	}
	in := `{"users":[{"ssn":"234-56-7890","secret":{"a":[1,2]},"n":1.5e3,"ok":true,"x":null,"mail\u0040":"a\"b"}],
"blob":[{"k":"v"}], "card": 4111111111111111, "jane@example.com": 1}
[1, "4111 1111 1111 1111"]`
	var b bytes.Buffer
	if err := e.MaskJSON(strings.NewReader(in), &b, nil); err != nil {
		t.Fatal(err)
	}
	want := `{"users":[{"ssn":"[SSN]","secret":null,"n":1.5e3,"ok":true,"x":null,"mail\u0040":"a\"b"}],
"blob":"[REDACTED]", "card": "[CREDIT_CARD]", "[EMAIL]": 1}
[1, "[CREDIT_CARD]"]`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
	for _, bad := range []string{`{"a":}`, `{"a" 1}`, `[1,,]`, `{"a":"x`, `[tru]`, strings.Repeat("[", 2000)} {
		b.Reset()
		if err := e.MaskJSON(strings.NewReader(bad), &b, nil); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
