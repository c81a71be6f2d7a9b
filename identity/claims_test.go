package identity

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// signRaw signs payload bytes as they are, so a test can send what
// json.Marshal would never produce (duplicate keys, odd numbers).
func signRaw(t testing.TB, d *DevIssuer, payload string) string {
	t.Helper()
	jws, err := d.signer.Sign([]byte(payload))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// testLater is the exp of the test payloads: one value for the whole run,
// so a second boundary between building a payload and checking its expiry
// cannot make them differ.
var testLater = time.Now().Add(time.Hour).Unix()

// rawClaims is a valid payload for d with the members in extra appended
// (or, when a name is already present, a duplicate of it).
func rawClaims(d *DevIssuer, exp, extra string) string {
	if exp == "" {
		exp = fmt.Sprint(testLater)
	}
	s := fmt.Sprintf(`{"iss":%q,"sub":"alice","aud":%q,"exp":%s`, d.Issuer(), testAudience, exp)
	if extra != "" {
		s += "," + extra
	}
	return s + "}"
}

// Registered claims must have their RFC 7519 types, and a payload with a
// duplicated member is refused, through the whole Verify path.
func TestVerifyTypedClaims(t *testing.T) {
	d := newInProcessIssuer(t)
	v, err := NewVerifier(t.Context(), VerifierConfig{Issuer: d.Issuer(), Audience: testAudience, JWKSURL: d.JWKSURL(), HTTPClient: d.HTTPClient()})
	if err != nil {
		t.Fatal(err)
	}
	later := testLater
	refused := map[string]string{
		"exp as string":              rawClaims(d, fmt.Sprintf("%q", fmt.Sprint(later)), ""),
		"exp as string with float":   rawClaims(d, fmt.Sprintf(`"%d.5"`, later), ""),
		"exp negative":               rawClaims(d, "-1", ""),
		"exp huge":                   rawClaims(d, "1e300", ""),
		"exp beyond year 9999":       rawClaims(d, "253402300800", ""),
		"exp int64 overflow":         rawClaims(d, "9223372036854775808", ""),
		"exp true":                   rawClaims(d, "true", ""),
		"exp array":                  rawClaims(d, fmt.Sprintf("[%d]", later), ""),
		"exp object":                 rawClaims(d, fmt.Sprintf(`{"n":%d}`, later), ""),
		"nbf as string":              rawClaims(d, "", `"nbf":"1"`),
		"iat as string":              rawClaims(d, "", `"iat":"1700000000"`),
		"iat negative":               rawClaims(d, "", `"iat":-5`),
		"nbf null":                   rawClaims(d, "", `"nbf":null`),
		"sub as array":               fmt.Sprintf(`{"iss":%q,"sub":["alice"],"aud":%q,"exp":%d}`, d.Issuer(), testAudience, later),
		"sub as number":              fmt.Sprintf(`{"iss":%q,"sub":7,"aud":%q,"exp":%d}`, d.Issuer(), testAudience, later),
		"jti as number":              rawClaims(d, "", `"jti":42`),
		"aud array with number":      fmt.Sprintf(`{"iss":%q,"sub":"alice","aud":[%q,7],"exp":%d}`, d.Issuer(), testAudience, later),
		"aud nested array":           fmt.Sprintf(`{"iss":%q,"sub":"alice","aud":[[%q]],"exp":%d}`, d.Issuer(), testAudience, later),
		"duplicate exp":              rawClaims(d, "", fmt.Sprintf(`"exp":%d`, later+10)),
		"duplicate sub":              rawClaims(d, "", `"sub":"root"`),
		"duplicate aud":              rawClaims(d, "", `"aud":"other"`),
		"duplicate groups":           rawClaims(d, "", `"groups":["a"],"groups":["admins"]`),
		"duplicate in nested object": rawClaims(d, "", `"ext":{"a":1,"a":2}`),
		"duplicate after escape":     rawClaims(d, "", `"s\u0075b":"root"`),
	}
	for name, payload := range refused {
		t.Run("refused/"+name, func(t *testing.T) {
			p, err := v.Verify(t.Context(), signRaw(t, d, payload))
			if err == nil {
				t.Fatalf("accepted: %+v", p)
			}
			var ae *AuthError
			if !errors.As(err, &ae) {
				t.Fatalf("%T %v", err, err)
			}
			t.Log(ae.Reason, "|", err)
		})
	}
	accepted := map[string]string{
		"integer exp":                  rawClaims(d, "", ""),
		"fractional exp (RFC 7519 §2)": rawClaims(d, fmt.Sprintf("%d.25", later), ""),
		"exponent exp":                 rawClaims(d, fmt.Sprintf("%de0", later), ""),
		"aud array":                    fmt.Sprintf(`{"iss":%q,"sub":"alice","aud":["x",%q],"exp":%d}`, d.Issuer(), testAudience, later),
		"same name in two objects":     rawClaims(d, "", `"a":{"k":1},"b":{"k":2}`),
	}
	for name, payload := range accepted {
		t.Run("accepted/"+name, func(t *testing.T) {
			p, err := v.Verify(t.Context(), signRaw(t, d, payload))
			if err != nil {
				t.Fatal(err)
			}
			if p.Subject != "alice" || p.Expiry.Unix() != later {
				t.Errorf("got %+v (expiry %v)", p, p.Expiry)
			}
		})
	}
}

func TestCheckClaims(t *testing.T) {
	cases := []struct {
		payload string
		err     string // substring; "" means accepted
	}{
		{`{}`, ""},
		{`{"exp":1}`, ""},
		{`{"exp":0}`, ""},
		{`{"exp":1.5}`, ""},
		{`{"exp":253402300799}`, ""},
		{`{"exp":253402300800}`, "year 9999"},
		{`{"exp":"1"}`, "NumericDate"},
		{`{"exp":-0.5}`, "negative"},
		{`{"exp":null}`, "NumericDate"},
		{`{"nbf":false}`, "NumericDate"},
		{`{"iat":[1]}`, "NumericDate"},
		{`{"iss":1}`, `"iss"`},
		{`{"sub":null}`, `"sub"`},
		{`{"aud":[]}`, `"aud"`},
		{`{"aud":{}}`, `"aud"`},
		{`{"aud":"a"}`, ""},
		{`{"aud":["a","b"]}`, ""},
		{`{"a":1,"a":1}`, "duplicate"},
		{`{"a":[{"b":1,"b":2}]}`, "duplicate"},
		{`{"a":[{"b":1},{"b":2}]}`, ""},
		{`{"a":{"b":{}},"b":1}`, ""},
		{`[1]`, "not a JSON object"},
		{`{"a":1}x`, "JSON"},
		{`{"a":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`, "deeply"},
		{`{"groups":"x","custom":{"exp":"not registered here"}}`, ""},
	}
	for _, tc := range cases {
		err := checkClaims([]byte(tc.payload))
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%s: refused: %v", tc.payload, err)
		case tc.err != "" && err == nil:
			t.Errorf("%s: accepted, want %q", tc.payload, tc.err)
		case tc.err != "" && !strings.Contains(err.Error(), tc.err):
			t.Errorf("%s: error %q, want %q", tc.payload, err, tc.err)
		}
	}
}

func FuzzCheckClaims(f *testing.F) {
	for _, s := range []string{`{}`, `{"exp":1,"exp":2}`, `{"aud":["a"],"sub":"x","exp":1.5}`, `{"a":{"b":[{"c":1,"c":1}]}}`, `{"exp":"1"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		err := checkClaims(b)
		if err == nil {
			// Whatever passes is an object whose registered claims parse
			// with their types.
			if e2 := checkNoDuplicates(b); e2 != nil {
				t.Fatalf("accepted with duplicates: %v", e2)
			}
		}
	})
}

func BenchmarkCheckClaims(b *testing.B) {
	payload := []byte(`{"iss":"https://issuer.example/oidc","sub":"alice","aud":["airlock","other"],"iat":1767225600,"nbf":1767225600,"exp":1767229200,"jti":"abc","groups":["analysts","oncall","eng"],"azp":"claude-code"}`)
	b.ReportAllocs()
	for b.Loop() {
		if err := checkClaims(payload); err != nil {
			b.Fatal(err)
		}
	}
}

// A wrong audience or issuer tells the operator what was expected and what
// the token said (Detail), and the caller only a short reason; neither
// holds the token.
func TestVerifyAudienceIssuerDetail(t *testing.T) {
	d := newInProcessIssuer(t)
	v, err := NewVerifier(t.Context(), VerifierConfig{Issuer: d.Issuer(), Audience: testAudience, JWKSURL: d.JWKSURL(), HTTPClient: d.HTTPClient()})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, token, reason string
		detail              []string
	}{
		{"audience", mint(t, d, MintOptions{Subject: "alice", Audience: "grafana"}), "token audience is not this gateway",
			[]string{`expected audience "` + testAudience + `"`, `"grafana"`}},
		{"issuer", signed(t, d, with(baseClaims(d), "iss", "https://evil.example")), "token issuer is not trusted here",
			[]string{`expected issuer "` + d.Issuer() + `"`, `"https://evil.example"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.Verify(t.Context(), tc.token)
			var ae *AuthError
			if !errors.As(err, &ae) {
				t.Fatalf("%T %v", err, err)
			}
			if ae.Reason != tc.reason {
				t.Errorf("reason %q, want %q", ae.Reason, tc.reason)
			}
			for _, w := range tc.detail {
				if !strings.Contains(ae.Detail, w) {
					t.Errorf("detail %q lacks %q", ae.Detail, w)
				}
			}
			for _, part := range strings.Split(tc.token, ".") {
				if strings.Contains(ae.Detail, part) || strings.Contains(ae.Reason, part) {
					t.Errorf("detail or reason echoes the token")
				}
			}
		})
	}
}
