package masking

import (
	"strings"
	"testing"
)

// Classes an independent unseen corpus reported (described by class
// only; every value here is invented for this test): vendor keys with a
// recognisable prefix (SendGrid SG.x.y, npm_), *_KEY names of vendor
// keys, emails with a quoted local part, and placeholders under secret
// names left alone in every encoding.

var unseenPositives = []blindCase{
	// SendGrid: "SG." 22 base64url "." 43 base64url.
	{"sendgrid prose", "the mail key is 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 for prod", "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"},
	{"sendgrid generic key json", `{"data": "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"}`, "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"},
	{"sendgrid csv", "id,note\n7,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\n", "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"},
	{"sendgrid url", "GET /hook?attr=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&x=1 HTTP/1.1", "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"},
	// npm: "npm_" and 36 letters and digits.
	{"npm prose", "publish with npm_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8 then", "npm_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"},
	{"npm logfmt", "level=info data=npm_Zy9Xw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0Fe9Dc8 msg=ok", "npm_Zy9Xw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0Fe9Dc8"},
	{"npm npmrc", "//registry.npmjs.org/:_authToken=npm_Q1w2E3r4T5y6U7i8O9p0A1s2D3f4G5h6J7k8", "npm_Q1w2E3r4T5y6U7i8O9p0A1s2D3f4G5h6J7k8"},
	// Other vendor prefixes.
	{"anthropic", "key=ignored ANTHROPIC sk-ant-api03-Qw3rTy8uIoP1aSdFgHjK2lZx9cVbNm4LkJhGf7DsA2qWeRtYu6IoP3a in env", "sk-ant-api03-Qw3rTy8uIoP1aSdFgHjK2lZx9cVbNm4LkJhGf7DsA2qWeRtYu6IoP3a"},
	{"openai project", "using sk-proj-Ab1Cd2Ef3Gh4Ij5Kl6Mn7Op8Qr9St0Uv1Wx2Yz3Ab4Cd5Ef6 today", "sk-proj-Ab1Cd2Ef3Gh4Ij5Kl6Mn7Op8Qr9St0Uv1Wx2Yz3Ab4Cd5Ef6"},
	{"huggingface", "note: hf_Zz9Yy8Xx7Ww6Vv5Uu4Tt3Ss2Rr1Qq0PpOo used", "hf_Zz9Yy8Xx7Ww6Vv5Uu4Tt3Ss2Rr1Qq0PpOo"},
	{"shopify", "data,shpat_0123456789abcdef0123456789abcdef,x", "shpat_0123456789abcdef0123456789abcdef"},
	{"pypi", "upload with pypi-AgEIcHlwaS5vcmcCJDk3ZTBhNGQ1LWQ0ZjItNGY3Ny04N2YwLTI3MjZhYTk0ZjU0MgACKlsz", "pypi-AgEIcHlwaS5vcmcCJDk3ZTBhNGQ1LWQ0ZjItNGY3Ny04N2YwLTI3MjZhYTk0ZjU0MgACKlsz"},
	// *_KEY names of vendor keys: the value is random, no prefix.
	{"GOOGLE_MAPS_KEY dotenv", "GOOGLE_MAPS_KEY=k3Jd8sL2mQ9xV7cB4nZ1", "k3Jd8sL2mQ9xV7cB4nZ1"},
	{"STRIPE_KEY yaml", "billing:\n  STRIPE_KEY: pQ7wE2rT9yU4iO1aS6dF\n", "pQ7wE2rT9yU4iO1aS6dF"},
	{"sendgrid_key json", `{"sendgrid_key": "Hq3Vx7Lm2Np9Rt4Wz6Yb1Cd8"}`, "Hq3Vx7Lm2Np9Rt4Wz6Yb1Cd8"},
	{"mapsKey logfmt", "svc=geo mapsKey=Tz5Xc8Vb1Nm4Lk7Jh0Gf3Ds msg=boot", "Tz5Xc8Vb1Nm4Lk7Jh0Gf3Ds"},
	// Emails with a quoted local part.
	{"quoted email prose", `write to "ann marie"@example.com today`, `"ann marie"@example.com`},
	{"quoted email csv", "id,email\n4,\"\"\"ann marie\"\"@example.org\"\n", `ann marie""@example.org`},
	{"quoted email tsv", "id\temail\n4\t\"jo doe\"@example.net\n", `"jo doe"@example.net`},
	{"quoted email markdown", "| id | note |\n|---|---|\n| 4 | \"jo.q doe\"@example.com |\n", `"jo.q doe"@example.com`},
	{"quoted email yaml", "contact:\n  email: '\"ann b\"@example.co.uk'\n", `"ann b"@example.co.uk`},
	{"quoted email logfmt", `level=info to="\"ann b\"@example.com" msg=sent`, `ann b\"@example.com`},
	{"quoted email xml attr", `<u value="&quot;ann b&quot;@example.com" id="4"/>`, `ann b&quot;@example.com`},
	{"quoted email html", "<tr><th>e_mail</th><td>&quot;Li Wei&quot;@example.cn</td></tr>", `Li Wei&quot;@example.cn`},
	{"quoted email log", "2026-12-02T10:00:00Z INFO notify \"Sam Lee\"@example.io queued", `"Sam Lee"@example.io`},
}

var unseenNegatives = []blindCase{
	// Placeholders under secret names, in every encoding.
	{"REPLACE_ME kv", "password=REPLACE_ME host=db", ""},
	{"REPLACE_ME json", `{"api_key": "REPLACE_ME"}`, ""},
	{"REPLACE_ME uescape", `{"password": "REPLACE\u005fME"}`, ""},
	{"REPLACE_ME xml", "<cfg><api_key>REPLACE_ME</api_key></cfg>", ""},
	{"REPLACE_ME csv", "user,password\nann,REPLACE_ME\n", ""},
	{"REPLACE_ME dotenv", "API_KEY=REPLACE_ME\n", ""},
	{"YOUR_API_KEY", "api_key: YOUR_API_KEY", ""},
	{"your token here entity", `<c password="&lt;your-token-here&gt;"/>`, ""},
	{"your token here percent", "GET /x?password=%3Cyour-token-here%3E HTTP/1.1", ""},
	{"stars percent", "GET /x?api_key=%2A%2A%2A%2A%2A%2A%2A%2A&y=1 HTTP/1.1", ""},
	{"env ref percent", "GET /x?api_key=%24%7BAPI_KEY%7D HTTP/1.1", ""},
	{"changeme", "password: changeme", ""},
	{"xxxx", `{"api_key": "xxxxxxxxxxxxxxxx"}`, ""},
	// SendGrid and npm look-alikes.
	{"SG word", "SG.Example and SG.a.b are not keys", ""},
	{"npm word", "npm_config_cache=/tmp/npm and npm_package_version=1.2.3", ""},
	{"npm placeholder", "token: npm_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", ""},
	{"vendor prefix words", "sk-ant is a prefix; hf_hub_download and shpat_ and pypi-server and sk-proj-name", ""},
	// *_key names that are not secrets.
	{"cache key", "cache_key=user-42-profile-v3 sort_key=created_at", ""},
	{"CACHE_KEY", "CACHE_KEY=Tz5Xc8Vb1Nm4Lk7Jh0Gf3Ds", ""},
	{"primary key", `{"primary_key": "order_id", "partition_key": "tenant"}`, ""},
	// Quoted text before an '@' that is no address.
	{"quote then at", `he said "hi" @ the desk`, ""},
	{"quoted mention", `"see"@team and "done"@10:00`, ""},
	{"entity then at", "a &amp;@example.com b &quot;@example.com", ""},
	{"at first", "@example.com is a domain", ""},
	{"quote at first", `"@example.com`, ""},
}

func TestUnseenClasses(t *testing.T) {
	checkClasses(t, mustEngine(t, Config{}), unseenPositives, unseenNegatives)
}

// A placeholder word around a real secret format does not exempt it.
func TestPlaceholderNeverHidesAFormat(t *testing.T) {
	e := mustEngine(t, Config{})
	for _, tc := range []blindCase{
		{"angle stripe", "api_key=<sk_live_4eC39HqLyjWDarjtT1zdp7dc>", "4eC39HqLyjWDarjtT1zdp7dc"},
		{"replace prefix github", `{"token": "REPLACE_ME_ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789"}`, "aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789"},
		{"entity sendgrid", `<c api_key="&lt;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&gt;"/>`, "Zx9cVbNm4LkJhGf7DsA2qWeRtYu6IoP3aSdFgHj8KlZ"},
		{"your prefix npm", "password=your_npm_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8", "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"},
	} {
		if out := e.MaskText(tc.in, nil); strings.Contains(out, tc.value) {
			t.Errorf("%s: %q survives in %q", tc.name, tc.value, out)
		}
	}
}

func BenchmarkMaskVendorKeys(b *testing.B) {
	e := mustEngine(b, Config{})
	var sb strings.Builder
	for i := 0; i < 200; i++ {
		sb.WriteString("SGML Sunday npm install npm_config Search for \"ann b\"@example.com and 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\n")
		sb.WriteString("GOOGLE_MAPS_KEY=k3Jd8sL2mQ9xV7cB4nZ1 CACHE_KEY=abc password=REPLACE_ME\n")
	}
	s := sb.String()
	b.SetBytes(int64(len(s)))
	b.ReportAllocs()
	for b.Loop() {
		e.MaskText(s, nil)
	}
}

// "telephone" is phone context in text; a key that merely contains
// "contact" (crm_contact, X-Crm-Contact) is not, contact_number is.
func TestPhoneContactWords(t *testing.T) {
	e := mustEngine(t, Config{})
	for _, tc := range []blindCase{
		{"telephone prose", "telephone: 0151 2345678 (office)", "0151 2345678"},
		{"Telephone kv", "Telephone=0151 2345678", "0151 2345678"},
		{"contact_number", `<row contact_number="0151 2345678"/>`, "0151 2345678"},
		{"contact_phone", "contact_phone: 0151 2345678", "0151 2345678"},
	} {
		if out := e.MaskText(tc.in, nil); strings.Contains(out, tc.value) {
			t.Errorf("%s: %q survives in %q", tc.name, tc.value, out)
		}
	}
	for _, in := range []string{
		`<rec crm_contact="0412345678" owner="ann"/>`,
		"X-Crm-Contact: 0412345678",
		"<tr><th>crm_contact</th><td>0412345678</td></tr>",
	} {
		if out := e.MaskText(in, nil); out != in {
			t.Errorf("changed: %q -> %q", in, out)
		}
	}
}

// A secret told in an exception's words: "field <key> rejected value
// '<v>'", "the AWS secret access key is <v>".
func TestSecretInExceptionText(t *testing.T) {
	e := mustEngine(t, Config{})
	for _, tc := range []blindCase{
		{"exception password", "ValidationError: field db_password rejected value 'Qm7#Ty2Kd9Lp'", "Qm7#Ty2Kd9Lp"},
		{"exception api key", `error: field apiKey rejected value "a3f9c2e18b7d4c6f9e0a1b2c3d4e5f60" (too long)`, "a3f9c2e18b7d4c6f9e0a1b2c3d4e5f60"},
		{"exception colon", "InvalidParameter: parameter client_secret has invalid value: Zk4wPq9sLm2xVb7n", "Zk4wPq9sLm2xVb7n"},
		{"aws prose", "the AWS secret access key is Hq3/Vx7Lm2Np9Rt4Wz6Yb1Cd8Fg5Jk0Ms3Pu7Ea2 for now", "Hq3/Vx7Lm2Np9Rt4Wz6Yb1Cd8Fg5Jk0Ms3Pu7Ea2"},
	} {
		if out := e.MaskText(tc.in, nil); strings.Contains(out, tc.value) {
			t.Errorf("%s: %q survives in %q", tc.name, tc.value, out)
		}
	}
	for _, in := range []string{
		"ValidationError: field page_size rejected value 'x9f3k2Lm7Qp'",
		"ValidationError: field password rejected value 'changeme'",
		"field cache_key rejected value 'user-42-profile-v3'",
		"value 'Qm7#Ty2Kd9Lp' is fine",
	} {
		if out := e.MaskText(in, nil); out != in {
			t.Errorf("changed: %q -> %q", in, out)
		}
	}
}
