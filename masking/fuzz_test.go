package masking

import (
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// planted are valid values that must never survive masking, whatever
// text surrounds them.
var planted = []string{
	"4111 1111 1111 1111", "4111-1111-1111-1111", "5555555555554444", "378282246310005", "3782 822463 10005",
	"078-05-1121", "536-90-4399",
	"AKIAIOSFODNN7EXAMPLE", "ghp_R6hBvq2KzYwT8mN3pL5sX9dF1gH4jK7aQ0eU", "glpat-xK9mP2vL7nQ4wR8tY1zA",
	"xoxb-2930293029-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx", "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
	testJWT, "GB82WEST12345698765432",
}

func FuzzMask(f *testing.F) {
	seeds := []string{
		"", "hello", "card 4111 1111 1111 1111", "ssn: 536904399", "a@b.co", "x 10.0.0.1 y", "2001:db8::1",
		"password=hunter22", "Bearer abcdefABCDEF123456", "postgres://u:p@h/db", "-----BEGIN PRIVATE KEY-----\nAAAA",
		"***-**-1121 555-1234", "+1 (555) 234-5678 x12", "[EMAIL]@example.com", "ｆｕｌｌ４１１１", "a\u200bb",
		mixedCorpus(2000),
	}
	for i, s := range seeds {
		f.Add(s, uint16(i))
	}
	engines := []*Engine{mustEngine(f, Config{})}
	for _, op := range []Operator{Partial, Hash} {
		m := map[Entity]Operator{}
		for _, e := range Entities() {
			m[e] = op
		}
		engines = append(engines, mustEngine(f, Config{Entities: m, HashKey: testKey}))
	}
	f.Fuzz(func(t *testing.T, s string, pick uint16) {
		e := engines[int(pick)%len(engines)]
		once := e.MaskText(s, nil)
		if twice := e.MaskText(once, nil); twice != once {
			t.Fatalf("not idempotent:\n in    %q\n once  %q\n twice %q", s, once, twice)
		}
		// Values too: masking a masked document changes nothing.
		doc := map[string]any{"note": s, "password": s, "phone": s, s: []any{s, float64(len(s))}}
		v1 := e.MaskValue(doc, nil)
		if v2 := e.MaskValue(v1, nil); !reflect.DeepEqual(v1, v2) {
			t.Fatalf("MaskValue not idempotent:\n in    %#v\n once  %#v\n twice %#v", doc, v1, v2)
		}
		// Plant a valid value at a rune boundary.
		p := planted[int(pick/3)%len(planted)]
		k := 0
		if len(s) > 0 {
			k = int(pick) % (len(s) + 1)
			for k > 0 && k < len(s) && !utf8.RuneStart(s[k]) {
				k--
			}
		}
		// "; " keeps the value from joining a number in the random text
		// around it, which would make it ambiguous ("1234 4111 1111 …").
		in := s[:k] + "; " + p + " ;" + s[k:]
		if strings.Contains(s, p) {
			return
		}
		out := e.MaskText(in, nil)
		if strings.Contains(out, p) {
			t.Fatalf("planted %q survived:\n in  %q\n out %q", p, in, out)
		}
		if v, ok := e.MaskValue(map[string]any{"k": in}, nil).(map[string]any)["k"].(string); ok && strings.Contains(v, p) {
			t.Fatalf("planted %q survived MaskValue: %q", p, v)
		}
	})
}

func FuzzTokens(f *testing.F) {
	for _, s := range []string{"", "hello world", "<|endoftext|> <|fim_prefix|>", "  a  b\n\nc\t d", "日本語のテキスト", "x = 12345678901234567890;", "\xff\xfe bad utf8"} {
		f.Add(s, 10)
	}
	tc, err := NewTokenCounter("")
	if err == nil {
		err = tc.Wait()
	}
	if err != nil {
		f.Fatal(err)
	}
	ref := refEncoder(f, DefaultEncoding) // tiktoken-go's own encoder
	f.Fuzz(func(t *testing.T, s string, limit int) {
		if limit < 0 {
			limit = -limit
		}
		limit %= 1 << 16
		whole := len(ref.EncodeOrdinary(s))
		if got := tc.Count(s, -1); got != whole && len(s) <= chunkSize {
			t.Fatalf("Count(%q) = %d, whole %d", s, got, whole)
		}
		// FitBound skips counting on this bound: it must hold for any text.
		if whole > MaxTokens(s) {
			t.Fatalf("%q has %d tokens, more than the bound %d", s, whole, MaxTokens(s))
		}
		got := tc.Count(s, limit)
		if want := min(tc.Count(s, -1), limit+1); got != want {
			t.Fatalf("Count(%q, %d) = %d, want %d", s, limit, got, want)
		}
		// Cut into small chunks: wherever every cut fell on a space, the
		// sum equals the count of the whole.
		if n, exact := tc.countDetail(s, 16); exact && n != whole {
			t.Fatalf("chunked count of %q = %d, whole %d", s, n, whole)
		}
	})
}
