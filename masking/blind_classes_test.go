package masking

import (
	"strings"
	"testing"
)

// The classes an unseen corpus found missed (form-encoded '+' spaces,
// HTML entities inside phone numbers, webhook URLs, Stripe webhook signing
// secrets, an AWS secret key under <SecretAccessKey>, quoted-printable)
// and its one false positive (an entity-encoded placeholder). All values
// here are invented for this test.

// blindCase is a text and the written (possibly encoded) value in it that
// must not survive masking; an empty value means nothing may change.
type blindCase struct {
	name, in, value string
}

var blindPositives = []blindCase{
	// '+' as a space in query strings and form bodies.
	{"query card MC", "GET /pay?card_number=5500+0000+0000+0004&amount=12 HTTP/1.1", "5500+0000+0000+0004"},
	{"query card Discover prose", "see https://shop.example/checkout?pan=6011+1111+1111+1117&x=1 for details", "6011+1111+1111+1117"},
	{"query card Visa-19", "POST /v2/charge?ccnum=4111+1111+1111+1111+003", "4111+1111+1111+1111+003"},
	{"query card camel key", "GET /api/pay?paymentCard=3782+822463+10005&currency=EUR HTTP/2.0", "3782+822463+10005"},
	{"access log ssn", `10.1.2.3 - - [02/Dec/2026:10:00:00 +0000] "GET /v1/verify?ssn=536+22+1234 HTTP/1.1" 200 12 "-" "curl/8"`, "536+22+1234"},
	{"query ssn camel key", "GET /tax?year=2025&taxpayerSSN=401+72+9035 HTTP/1.1", "401+72+9035"},
	{"query iban GB", "GET /payout?bank_account=GB82+WEST+1234+5698+7654+32 HTTP/1.1", "GB82+WEST+1234+5698+7654+32"},
	{"query iban FR", "GET /payout?payout_account=FR14+2004+1010+0505+0001+3M02+606&x=1", "FR14+2004+1010+0505+0001+3M02+606"},
	{"query iban CH", "POST /transfer?iban=CH93+0076+2011+6238+5295+7", "CH93+0076+2011+6238+5295+7"},
	{"query iban PL", "form: bank_account=PL61+1090+1014+0000+0712+1981+2874&name=x", "PL61+1090+1014+0000+0712+1981+2874"},
	{"query phone E.164 UK", "GET /sms?msisdn=%2B44+20+7946+0958&text=hi HTTP/1.1", "%2B44+20+7946+0958"},
	{"query phone E.164 DE", `"GET /notify?fax=%2B49+30+901820+17 HTTP/1.1" 204`, "%2B49+30+901820+17"},
	{"query phone UK national", "GET /fax?fax=07700+900123 HTTP/1.1", "07700+900123"},
	{"form body phone", "body: name=Ann&phone=020+7946+0958&ok=1", "020+7946+0958"},
	// HTML entities inside phone numbers.
	{"html DE mobile nbsp", "<tr><th>phone</th><td>0151&nbsp;2345&nbsp;6789</td></tr>", "0151&nbsp;2345&nbsp;6789"},
	{"html IN landline dec dash", "<tr><th>phone</th><td>022&#45;24567890</td></tr>", "022&#45;24567890"},
	{"html IN landline hex dash", "<tr><th>phone</th><td>080&#x2d;41234567</td></tr>", "080&#x2d;41234567"},
	{"html BR landline", "<tr><th>phone</th><td>(11)&nbsp;3456&#x2d;7890</td></tr>", "3456&#x2d;7890"},
	{"html BR landline named", "<td class=k>phone</td><td>(21)&nbsp;2555&#45;1234</td>", "2555&#45;1234"},
	// Slack (and Discord) incoming-webhook URLs.
	{"slack webhook prose", "the alert goes to https://hooks.slack.com/services/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 every hour", "aB3dE5gH7jK9mN1pQ3sT5vW7"},
	{"slack webhook percent", "GET /hook?url=https%3A%2F%2Fhooks.slack.com%2Fservices%2F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 HTTP/1.1", "aB3dE5gH7jK9mN1pQ3sT5vW7"},
	{"slack webhook entities", "<td>https&#58;&#47;&#47;hooks&#46;slack&#46;com&#47;services&#47;T0ABCD123&#47;B0EFGH456&#47;aB3dE5gH7jK9mN1pQ3sT5vW7</td>", "aB3dE5gH7jK9mN1pQ3sT5vW7"},
	{"slack webhook markdown", "Posted via [webhook](https://hooks.slack.com/services/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).", "Zt4Yq8Lp2Xc6Vb0Nm3Kj9Hg5"},
	{"discord webhook", "notify https://discord.com/api/webhooks/112233445566778899/Qx9-Lm3_Kp7Zt2Wv5Rb8Nc1Yd4Fg6Hj0Sa3De7Ui2Oo", "Qx9-Lm3_Kp7Zt2Wv5Rb8Nc1Yd4Fg6Hj0Sa3De7Ui2Oo"},
	// Stripe webhook signing secrets.
	{"whsec prose", "we rotated whsec_k3J9aZ0pQ7rT2vW5xY8bC1dE4fG6hI0m yesterday", "whsec_k3J9aZ0pQ7rT2vW5xY8bC1dE4fG6hI0m"},
	{"whsec html", "<td>whsec_Qm7Ty2Kd9Lp4Xw1Zr8Vn3Bc6Hg0Js5Fa</td>", "whsec_Qm7Ty2Kd9Lp4Xw1Zr8Vn3Bc6Hg0Js5Fa"},
	{"whsec long", "endpoint secret: whsec_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8s9T0", "whsec_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8s9T0"},
	// AWS secret access key under <SecretAccessKey>.
	{"sts xml", "<Credentials><AccessKeyId>ASIAQWERTYUIOPASDFGH</AccessKeyId><SecretAccessKey>wJa1rXUtnF3MI/K7MDENG/bPxRfiCY9EXAMPLEKz</SecretAccessKey></Credentials>", "wJa1rXUtnF3MI/K7MDENG/bPxRfiCY9EXAMPLEKz"},
	{"sts xml alone", "<SecretAccessKey>kT8+Zq2mW9xP4vL7nB1cR6yH3jF5sD0gA2eQ8uIo</SecretAccessKey>", "kT8+Zq2mW9xP4vL7nB1cR6yH3jF5sD0gA2eQ8uIo"},
	{"sts xml namespaced", "<sts:Creds>\n  <sts:SecretAccessKey>Hq3/Vx7Lm2Np9Rt4Wz6Yb1Cd8Fg5Jk0Ms3Pu7Ea2</sts:SecretAccessKey>\n</sts:Creds>", "Hq3/Vx7Lm2Np9Rt4Wz6Yb1Cd8Fg5Jk0Ms3Pu7Ea2"},
	// Quoted-printable.
	{"qp email", "contact ann=40example.com or call", "ann=40example.com"},
	{"qp email attr", `<a href=3D"mailto:bob=40example.org">write</a>`, "bob=40example.org"},
	{"qp email dotted", "From: j=2Edoe=40example.net", "doe=40example.net"},
	{"qp card", "Karte=3D4111=201111=201111=201111 danke", "=201111=201111"},
}

var blindNegatives = []blindCase{
	{"search words", "GET /search?q=hello+world+2024+edition HTTP/1.1", ""},
	{"time zone", `host - - x "GET /t?at=10:00:00+02:00&n=3 HTTP/1.1" 200`, ""},
	{"query order id", "GET /o?order=ORD+2024+000123&sku=AB+12", ""},
	{"query math", "calc?expr=12+34+56+78", ""},
	{"query base64", "GET /cb?state=q83v3q2+7/8AAQIDBAUGBwgJ+CgsMDQ4PEBES HTTP/1.1", ""},
	{"bad luhn spaced", "GET /pay?card_number=5500+0000+0000+0005 HTTP/1.1", ""},
	{"slack docs", "see https://hooks.slack.com/services/ for docs and https://api.slack.com/messaging/webhooks", ""},
	{"slack placeholder", "url: https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX", ""},
	{"whsec placeholder", "<td>whsec_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx</td>", ""},
	{"whsec short", "the prefix whsec_ and whsec_test1 in docs", ""},
	{"whsec word", "awhsec_k3J9aZ0pQ7rT2vW5xY8bC1dE4fG6hI0m", ""},
	{"placeholder entity", `<config api_key="&lt;your-token-here&gt;" region="eu"/>`, ""},
	{"placeholder redacted entity", `<config api_key="&lt;redacted&gt;" region="eu"/>`, ""},
	{"placeholder percent", `<config api_key="%3Cyour-api-key%3E" region="eu"/>`, ""},
	{"placeholder upper", `<config api_key="YOUR_API_KEY" region="eu"/>`, ""},
	{"placeholder xxx", `<config api_key="xxx" token="changeme"/>`, ""},
	{"placeholder text entity", "api_key=&lt;your-api-key&gt; region=eu", ""},
	{"qp look-alike limit", "GET /list?limit=40&offset=20&color=FF0000", ""},
	{"qp look-alike mode", "render mode=3D, size=40x30", ""},
	{"qp version", "pkg=40a1 build=3D7", ""},
	{"secret access key id only", "<AccessKeyIdLength>20</AccessKeyIdLength><KeyName>primary</KeyName>", ""},
}

func TestBlindClasses(t *testing.T) {
	checkClasses(t, mustEngine(t, Config{}), blindPositives, blindNegatives)
}

// checkClasses checks that each positive's value (and its decoded form)
// is masked away, that masking the output again changes nothing, and that
// no negative changes.
func checkClasses(t *testing.T, e *Engine, positives, negatives []blindCase) {
	t.Helper()
	for _, tc := range positives {
		out := e.MaskText(tc.in, nil)
		if strings.Contains(out, tc.value) {
			t.Errorf("%s: %q survives:\n in  %q\n out %q", tc.name, tc.value, tc.in, out)
		}
		if dec := unescapeText(tc.value); dec != tc.value && strings.Contains(unescapeText(out), dec) {
			t.Errorf("%s: decoded %q survives in %q", tc.name, dec, out)
		}
		if again := e.MaskText(out, nil); again != out {
			t.Errorf("%s: not idempotent: %q then %q", tc.name, out, again)
		}
	}
	for _, tc := range negatives {
		if out := e.MaskText(tc.in, nil); out != tc.in {
			t.Errorf("%s: changed:\n in  %q\n out %q", tc.name, tc.in, out)
		}
	}
}

// The mask covers the encoded span exactly, not the key or the rest of
// the query.
func TestFormSpaceMaskSpan(t *testing.T) {
	e := mustEngine(t, Config{})
	for _, tc := range []struct{ in, want string }{
		{"GET /pay?card_number=5500+0000+0000+0004&amount=12 HTTP/1.1", "GET /pay?card_number=[CREDIT_CARD]&amount=12 HTTP/1.1"},
		{"GET /sms?msisdn=%2B44+20+7946+0958&text=hi", "GET /sms?msisdn=[PHONE]&text=hi"},
		{"<td>whsec_Qm7Ty2Kd9Lp4Xw1Zr8Vn3Bc6Hg0Js5Fa</td>", "<td>[STRIPE_KEY]</td>"},
		{"go https://hooks.slack.com/services/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.", "go https://hooks.slack.com/services/[SLACK_TOKEN]."},
		{"contact ann=40example.com now", "contact [EMAIL] now"},
	} {
		if got := e.MaskText(tc.in, nil); got != tc.want {
			t.Errorf("MaskText(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestFormSpace(t *testing.T) {
	for _, tc := range []struct {
		s    string
		at   int
		want bool
	}{
		{"a=1+2", 3, true},
		{"card=5500+0000", 9, true},
		{"x=%2B44+20", 7, true},
		{"+0000", 0, false},
		{"t +44", 2, false},
		{"a+b", 1, false},           // no key
		{"x=1&5500+0000", 8, false}, // '&' before any '='
		{"p/q=1+2", 5, true},
	} {
		if got := formSpace(tc.s, tc.at); got != tc.want {
			t.Errorf("formSpace(%q, %d) = %v, want %v", tc.s, tc.at, got, tc.want)
		}
	}
}

func TestQuotedPrintable(t *testing.T) {
	for _, tc := range []struct {
		s    string
		want bool
	}{
		{"ann=40example.com", true},
		{`href=3D"x"`, true},
		{"Caf=C3=A9", true},
		{"limit=40", false},
		{"dur=40ms timeout=40s", false},
		{"w=40px; h=3.5", false},
		{"limit=40&x=1", false},
		{"color=FF0000", false},
		{"a=20b", false},
		{"=C3", false},
	} {
		if got := qpSignal(tc.s); got != tc.want {
			t.Errorf("qpSignal(%q) = %v, want %v", tc.s, got, tc.want)
		}
	}
	var got []string
	EncodedRuns("x Caf=C3=A9 ann=40example.com y", func(r *DecodedRun) bool {
		got = append(got, r.Text)
		return true
	})
	if strings.Join(got, "|") != "Café|ann@example.com" {
		t.Errorf("EncodedRuns = %q", got)
	}
}

func TestSecretAccessKeyName(t *testing.T) {
	for _, n := range []string{"SecretAccessKey", "secretaccesskey", "secret_access_key", "aws_secret_access_key", "AccessKey"} {
		if secretName(n) != keyStrong {
			t.Errorf("secretName(%q) = %d, want strong", n, secretName(n))
		}
	}
	for _, n := range []string{"AccessKeyId", "accesskeyid", "primarykey", "monkey", "sortkey"} {
		if secretName(n) != 0 {
			t.Errorf("secretName(%q) = %d, want 0", n, secretName(n))
		}
	}
}

// FuzzBlindClasses seeds with every class case (blind and unseen).
func FuzzBlindClasses(f *testing.F) {
	for _, cases := range [][]blindCase{blindPositives, blindNegatives, unseenPositives, unseenNegatives} {
		for _, tc := range cases {
			f.Add(tc.in)
		}
	}
	e := mustEngine(f, Config{})
	f.Fuzz(func(t *testing.T, s string) {
		once := e.MaskText(s, nil)
		if twice := e.MaskText(once, nil); twice != once {
			t.Fatalf("not idempotent:\n in    %q\n once  %q\n twice %q", s, once, twice)
		}
		EncodedRuns(s, func(r *DecodedRun) bool {
			for k := 0; k < len(r.Text); k++ {
				if st, en := r.Source(k, k+1); st < r.Start || en > r.End || st >= en {
					t.Fatalf("byte %d of %q maps to %d-%d outside %d-%d", k, r.Text, st, en, r.Start, r.End)
				}
			}
			return true
		})
	})
}

// BenchmarkMaskFormEncoded is text full of the shapes these classes add:
// form-encoded query strings, entity-encoded cells, quoted-printable.
func BenchmarkMaskFormEncoded(b *testing.B) {
	e := mustEngine(b, Config{})
	var sb strings.Builder
	for i := 0; i < 200; i++ {
		sb.WriteString(`10.1.2.3 - - [02/Dec/2026:10:00:00 +0000] "GET /search?q=red+shoes+size+42&page=2 HTTP/1.1" 200 512 "-" "curl/8"` + "\n")
		sb.WriteString("<tr><th>phone</th><td>0151&nbsp;2345&nbsp;6789</td><td>see https://example.com/a?b=c</td></tr>\n")
		sb.WriteString("Reply to ann=40example.com about the caf=C3=A9 order, limit=40 offset=20\n")
	}
	s := sb.String()
	b.SetBytes(int64(len(s)))
	b.ReportAllocs()
	for b.Loop() {
		e.MaskText(s, nil)
	}
}

func TestQuotedPrintableSoftBreaks(t *testing.T) {
	e := mustEngine(t, Config{})
	for _, tc := range []struct{ in, gone string }{
		{"Content-Transfer-Encoding: quoted-printable\r\n\r\nWrite to carol.m=\r\narsh=40example.com soon\r\n", "arsh=40example"},
		{"Content-Transfer-Encoding: quoted-printable\n\nKarte 4111 1111 =\n1111 1111 bitte\n", "1111 1111 bitte"},
		{"Antwort an dave=40exam=\nple.org, Gr=C3=BC=C3=9Fe\n", "ple.org"},
	} {
		out := e.MaskText(tc.in, nil)
		if strings.Contains(out, tc.gone) {
			t.Errorf("MaskText(%q) = %q, keeps %q", tc.in, out, tc.gone)
		}
		if again := e.MaskText(out, nil); again != out {
			t.Errorf("not idempotent: %q then %q", out, again)
		}
	}
	for _, in := range []string{
		"a=\nb=\nlimit=40\n", // settings with empty values, no QP
		"Content-Transfer-Encoding: quoted-printable\n\nline one=\nline two, order 4111 1111=\n 1111 1112\n",
	} {
		if out := e.MaskText(in, nil); out != in {
			t.Errorf("MaskText(%q) = %q, want unchanged", in, out)
		}
	}
}

// A value cut at a non-query '&' was masked only in part by the text pass
// ("…=[SECRET]'01"), and the document pass's logfmt reader took the rest
// on the next pass: masking was not idempotent (found by FuzzMaskDocument).
func TestSecretValueAmpersandIdempotent(t *testing.T) {
	e := mustEngine(t, Config{})
	for _, in := range []string{"  Api.key=&01\"010", "  Apikey=0&1'01", "  api_key=Zq8&vN3'wLx2", "  token=a1B2c3D4e5&x\"F6g7H8"} {
		once := e.MaskText(in, nil)
		if twice := e.MaskText(once, nil); twice != once {
			t.Errorf("not idempotent:\n in    %q\n once  %q\n twice %q", in, once, twice)
		}
	}
	// In a query string '&' still ends the value.
	in := "GET /x?api_key=Zq8vN3wLx2&page=2 HTTP/1.1"
	if got, want := e.MaskText(in, nil), "GET /x?api_key=[SECRET]&page=2 HTTP/1.1"; got != want {
		t.Errorf("MaskText(%q) = %q, want %q", in, got, want)
	}
}
