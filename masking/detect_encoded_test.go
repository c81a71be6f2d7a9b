package masking

import (
	"encoding/base64"
	"encoding/hex"
	"net/url"
	"strings"
	"testing"
)

func TestEncodedRuns(t *testing.T) {
	type run struct{ src, text string }
	cases := []struct {
		in   string
		want []run
	}{
		{`{"v":"NTM2LTkwLTQzOTk="}`, []run{{"NTM2LTkwLTQzOTk=", "536-90-4399"}}},
		{`x NTM2LTkwLTQzOTk y`, []run{{"NTM2LTkwLTQzOTk", "536-90-4399"}}},
		{`am9obi5kb2VAZXhhbXBsZS5jb20`, []run{{"am9obi5kb2VAZXhhbXBsZS5jb20", "john.doe@example.com"}}},
		{`h=3533362d39302d34333939;`, []run{{"3533362d39302d34333939", "536-90-4399"}}},
		{`a=536%2D90%2d4399&b=1`, []run{{"a=536%2D90%2d4399&b=1", "a=536-90-4399&b=1"}}},
		{`<td>&#53;&#51;&#x36;-90&hyphen;4399</td>`, []run{{"&#53;&#51;&#x36;-90&hyphen;4399", "536-90-4399"}}},
		{`"\u0035\u0033\u0036-90-4399"`, []run{{`\u0035\u0033\u0036-90-4399`, "536-90-4399"}}},
		{`"\ud83d\ude00 ok"`, []run{{`\ud83d\ude00`, "😀"}}},
		// Noise: words, hashes, ids, random base64, no escapes.
		{"internationalization and ContentTypeHeader", nil},
		{"sha 3f786850e387550fdab836ed7e6dc881de23001b", nil},
		{"blob q83v3q2+7/8AAQIDBAUGBwgJCgsMDQ4P", nil},
		{"R&D at 98% of 100%", nil},
		{"", nil},
		{"%", nil},
		{"&#", nil},
		{`\u12`, nil},
	}
	for _, tc := range cases {
		var got []run
		EncodedRuns(tc.in, func(r *DecodedRun) bool {
			got = append(got, run{tc.in[r.Start:r.End], r.Text})
			return true
		})
		if len(got) != len(tc.want) {
			t.Errorf("EncodedRuns(%q) = %q, want %q", tc.in, got, tc.want)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("EncodedRuns(%q)[%d] = %q, want %q", tc.in, i, got[i], tc.want[i])
			}
		}
	}
}

// Issue 11 item 8: values base64-, hex-, percent-, HTML-entity- or
// \u-encoded are masked in their encoded form, and nothing of them
// survives.
func TestEncodedValuesAreMasked(t *testing.T) {
	e := mustEngine(t, Config{Entities: map[Entity]Operator{SSN: Partial}})
	ssn, card, mail := "536-90-4399", "4111 1111 1111 1111", "jane.roe@example.org"
	b64 := base64.StdEncoding.EncodeToString
	for _, tc := range []struct{ in, want string }{
		{`{"n":"` + b64([]byte(ssn)) + `"}`, `{"n":"[SSN]"}`},
		{`n=` + base64.RawURLEncoding.EncodeToString([]byte("ssn "+ssn)) + ` ok`, `n=[SSN] ok`},
		{`hex ` + hex.EncodeToString([]byte(ssn)), `hex [SSN]`},
		{`HEX ` + strings.ToUpper(hex.EncodeToString([]byte(card))), `HEX [CREDIT_CARD]`},
		{`q=536%2d90%2d4399&page=2`, `q=[SSN]&page=2`},
		{`q=%35%33%36%2D%39%30%2D%34%33%39%39`, `q=[SSN]`},
		{`<b>&#53;&#51;&#54;-&#57;&#48;-&#52;&#51;&#57;&#57;</b>`, `<b>[SSN]</b>`},
		{`<a>` + "jane.roe&#64;example.org" + `</a>`, `<a>[EMAIL]</a>`},
		{`"\u0035\u0033\u0036\u002d\u0039\u0030\u002d\u0034\u0033\u0039\u0039"`, `"[SSN]"`},
		{`nested ` + b64([]byte(url.QueryEscape(mail))), `nested [EMAIL]`},
		{`plain ` + ssn, `plain ***-**-4399`},
	} {
		if got := e.MaskText(tc.in, nil); got != tc.want {
			t.Errorf("MaskText(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	// The same inside JSON values.
	v := e.MaskValue(map[string]any{"a": b64([]byte(ssn)), "b": "&#53;&#51;&#54;-&#57;&#48;-&#52;&#51;&#57;&#57;", "c": hex.EncodeToString([]byte(mail))}, nil).(map[string]any)
	if v["a"] != "[SSN]" || v["b"] != "[SSN]" || v["c"] != "[EMAIL]" {
		t.Errorf("MaskValue = %v", v)
	}
}

// An SSN split over adjacent fields with an SSN context is masked in every
// part; a lone last-four is not.
func TestSplitSSNFields(t *testing.T) {
	e := mustEngine(t, Config{})
	for _, tc := range []struct {
		in   map[string]any
		mask []string
	}{
		{map[string]any{"ssn_first5": "536-90", "ssn_last4": "4399", "name": "Jo"}, []string{"ssn_first5", "ssn_last4"}},
		{map[string]any{"ssn_area": "536", "ssn_group": "90", "ssn_serial": "4399"}, []string{"ssn_area", "ssn_group", "ssn_serial"}},
		{map[string]any{"ssnPrefix": 53690, "ssnSuffix": 4399}, []string{"ssnPrefix", "ssnSuffix"}},
		{map[string]any{"ssn_last4": "4399", "zip": "94105"}, nil},
		{map[string]any{"ssn_last4": "4399", "ssn_note": "see file"}, nil},
	} {
		out := e.MaskValue(tc.in, nil).(map[string]any)
		for k, v := range tc.in {
			masked := out[k] != v
			want := false
			for _, m := range tc.mask {
				want = want || m == k
			}
			if masked != want {
				t.Errorf("%v: %s = %v (masked %v, want %v)", tc.in, k, out[k], masked, want)
			}
		}
	}
}

func TestSplitSSNText(t *testing.T) {
	e := mustEngine(t, Config{Entities: map[Entity]Operator{SSN: Partial}})
	for _, tc := range []struct{ in, want string }{
		{`{"ssn_first5":"536-90","ssn_last4":"4399","name":"Jo"}`, `{"ssn_first5":"[SSN]","ssn_last4":"[SSN]","name":"Jo"}`},
		{`SSN_AREA=536 ssn_group=90 ssn_serial=4399 ok`, `SSN_AREA=[SSN] ssn_group=[SSN] ssn_serial=[SSN] ok`},
		{`"ssnPrefix": 53690, "ssnSuffix": 4399`, `"ssnPrefix": [SSN], "ssnSuffix": [SSN]`},
		{`{"ssn_last4":"4399","zip":"94105"}`, `{"ssn_last4":"4399","zip":"94105"}`},
		{`{"ssn_last4":"4399","ssn_year":"2024"}`, `{"ssn_last4":"4399","ssn_year":"2024"}`},
		{`lessons: 12, ssn_count: 3`, `lessons: 12, ssn_count: 3`},
	} {
		if got := e.MaskText(tc.in, nil); got != tc.want {
			t.Errorf("MaskText(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func FuzzEncodedRuns(f *testing.F) {
	for _, s := range []string{`{"v":"NTM2LTkwLTQzOTk="}`, "3533362d39302d34333939", "a=536%2D90%2d4399&b=1",
		"&#53;&#x36;&amp;", `\u0035\ud83d\ude00\x41\/`, "%zz&#;\\u12", "q83v3q2+7/8AAQIDBAUG"} {
		f.Add(s)
	}
	e, err := New(Config{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		last := 0
		EncodedRuns(s, func(r *DecodedRun) bool {
			if r.Start < last || r.End > len(s) || r.Start >= r.End {
				t.Fatalf("run %d-%d out of order in %q", r.Start, r.End, s)
			}
			last = r.End
			for k := 0; k < len(r.Text); k++ {
				if st, en := r.Source(k, k+1); st < r.Start || en > r.End || st >= en {
					t.Fatalf("byte %d of %q maps to %d-%d outside %d-%d", k, r.Text, st, en, r.Start, r.End)
				}
			}
			return true
		})
		once := e.MaskText(s, nil)
		if twice := e.MaskText(once, nil); twice != once {
			t.Fatalf("masking %q twice: %q then %q", s, once, twice)
		}
	})
}

func BenchmarkEncodedRuns(b *testing.B) {
	var sb strings.Builder
	for i := 0; i < 200; i++ {
		sb.WriteString(`{"id":42,"note":"NTM2LTkwLTQzOTk=","q":"a=536%2D90%2D4399","h":"&#53;&#51;&#54;","trace":"3f786850e387550fdab836ed7e6dc881","text":"internationalization of ContentTypeHeader"}` + "\n")
	}
	s := sb.String()
	b.SetBytes(int64(len(s)))
	b.ReportAllocs()
	var d runDecoder
	for b.Loop() {
		d.each(s, func(*DecodedRun) bool { return true })
	}
}

func BenchmarkMaskEncoded(b *testing.B) {
	e, err := New(Config{})
	if err != nil {
		b.Fatal(err)
	}
	var sb strings.Builder
	for i := 0; i < 200; i++ {
		sb.WriteString(`{"id":42,"note":"NTM2LTkwLTQzOTk=","q":"a=536%2D90%2D4399","h":"&#53;&#51;&#54;","trace":"3f786850e387550fdab836ed7e6dc881"}` + "\n")
	}
	s := sb.String()
	b.SetBytes(int64(len(s)))
	b.ReportAllocs()
	for b.Loop() {
		e.MaskText(s, nil)
	}
}
