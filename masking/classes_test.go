package masking

import (
	"strings"
	"testing"
)

// Classes of values the engine missed on an unseen corpus, with values of
// our own: each input must lose every listed secret; each negative must
// come back unchanged.
func TestMissedClasses(t *testing.T) {
	e, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, in string
		gone     []string
	}{
		{"form plus card in a URL", "see https://shop.example/pay?card_number=5555+5555+5555+4444&step=2 now",
			[]string{"5555+5555", "4444"}},
		{"form plus card in an access log", `10.0.0.9 - - [02/Dec/2026:10:00:00 +0000] "GET /checkout?pan=6011+1111+1111+1117 HTTP/1.1" 200 512`,
			[]string{"6011+1111", "1117"}},
		{"form plus SSN", "GET /tax?taxpayerSSN=536+22+1234 HTTP/1.1", []string{"536+22+1234"}},
		{"form plus E.164", "GET /sms?msisdn=%2B44+7700+900321&x=1 HTTP/1.1", []string{"7700+900321"}},
		{"form plus national mobile", "https://a.example/c?fax=07700+900321", []string{"07700+900321"}},
		{"form plus IBAN", "https://a.example/p?payout_account=GB29+NWBK+6016+1331+9268+19", []string{"NWBK+6016", "9268+19"}},
		{"slash phone csv", "name,telefon\nJo,030/12345678\n", []string{"030/12345678"}},
		{"slash phone yaml", "contact:\n  mobile: 0171/2345678\n", []string{"0171/2345678"}},
		{"slash phone logfmt", "level=info fax=0621/987654 msg=sent", []string{"0621/987654"}},
		{"slash phone kv", "2026-12-02 INFO contact_number: 089/12345678", []string{"089/12345678"}},
		{"nbsp phone in an HTML cell", "<tr><th>phone</th><td>0171&nbsp;2345678</td></tr>", []string{"2345678"}},
		{"entity dash phone in an HTML cell", "<tr><th>Phone</th><td>011&#45;23456789</td></tr>", []string{"23456789"}},
		{"hex entity dash phone", "<td>tel</td><td>(11)&#x20;3456&#x2d;7890</td>", []string{"3456&#x2d;7890"}},
		{"google api key in prose", "maps key AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q for the site", []string{"AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q"}},
		{"azure account key", "DefaultEndpointsProtocol=https;AccountName=acme;AccountKey=q9Zr4Tm2Lx9Pw3Nv7Kc5Yh1Bq9Zr4Tm2Lx9Pw3Nv7Kc5Yh1B+x/8Zz==;EndpointSuffix=core.windows.net",
			[]string{"q9Zr4Tm2Lx9Pw3Nv7Kc5Yh1B"}},
		{"slack webhook prose", "post to https://hooks.slack.com/services/T0ABCDEF12/B0ABCDEF34/z9Yx8Wv7Ut6Sr5Qp4On3Ml2K then",
			[]string{"z9Yx8Wv7Ut6Sr5Qp4On3Ml2K"}},
		{"slack webhook encoded", "u=https%3A%2F%2Fhooks.slack.com%2Fservices%2FT0ABCDEF12%2FB0ABCDEF34%2Fz9Yx8Wv7Ut6Sr5Qp4On3Ml2K",
			[]string{"z9Yx8Wv7Ut6Sr5Qp4On3Ml2K"}},
		{"stripe webhook secret", "the signing secret is whsec_Ab12Cd34Ef56Gh78Ij90Kl12Mn34Op56 ok", []string{"whsec_Ab12"}},
		{"aws secret in xml", "<Credentials><AccessKeyId>ASIAEXAMPLEID</AccessKeyId><SecretAccessKey>Zk3pQ9rT/x2Lm8NvB4cW7yH1aS6dF0gJ5eU+iOqR</SecretAccessKey></Credentials>",
			[]string{"Zk3pQ9rT"}},
		{"camel-case secret attribute", `<cfg clientSecret="Qm7Zr2Xp9Lk4Tv8Bn3Wc6Yh1" />`, []string{"Qm7Zr2Xp9Lk4Tv8Bn3Wc6Yh1"}},
	}
	for _, tc := range cases {
		out := e.MaskText(tc.in, nil)
		for _, g := range tc.gone {
			if strings.Contains(out, g) {
				t.Errorf("%s: %q survived: %q", tc.name, g, out)
			}
		}
	}
	negatives := []string{
		`<param api_key="&lt;your-token-here&gt;"/>`,
		"GET /calc?expr=2+2&x=1 HTTP/1.1",
		"search?q=order+5555+5555+5554+4444",
		"date 01/2024 and ratio 030/12345678 in a table",
		"https://hooks.slack.com/services/ docs page",
		"whsec_short",
		"<tr><th>qty</th><td>1&nbsp;234&nbsp;567</td></tr>",
	}
	for _, in := range negatives {
		if out := e.MaskText(in, nil); out != in {
			t.Errorf("negative changed: %q -> %q", in, out)
		}
	}
}
