// Package maskingeval holds the labelled corpus that scores the masking
// detectors: positives of every entity embedded in prose, CSV rows, JSON
// and log lines, and hard negatives that look like them (order ids,
// timestamps, versions, UUIDs, numbers failing Luhn, SSN-shaped invalid
// numbers, git SHAs, base64 blobs). Generate builds it deterministically;
// gencorpus writes it to testdata/corpus.jsonl, and the eval test checks
// that file against Generate before scoring it.
//
// Every value is fake but well formed: published test card numbers and
// random Luhn-valid ones, reserved example domains, fictional 555 and
// Ofcom drama phone numbers, documentation IP ranges, AWS's documented
// example key and random tokens of the right shapes.
package maskingeval

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
)

// Span is a labelled value: byte offsets into Item.Text.
type Span struct {
	Entity string `json:"entity"`
	Start  int    `json:"start"`
	End    int    `json:"end"`
	Value  string `json:"value"`
}

// Item is one labelled text. Negatives have no spans.
type Item struct {
	ID     string `json:"id"`
	Format string `json:"format"` // prose, csv, json, log
	Text   string `json:"text"`
	Spans  []Span `json:"spans"`
}

// piece is a run of text, labelled with an entity or not.
type piece struct {
	ent, text string
}

func lit(s string) piece       { return piece{"", s} }
func val(e, s string) piece    { return piece{e, s} }
func frag(ps ...piece) []piece { return ps }

var formats = []string{"prose", "csv", "json", "log"}

type gen struct {
	r *rand.Rand
}

func (g *gen) pick(xs ...string) string { return xs[g.r.IntN(len(xs))] }

func (g *gen) digits(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('0' + g.r.IntN(10))
	}
	return string(b)
}

func (g *gen) chars(n int, alphabet string) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[g.r.IntN(len(alphabet))]
	}
	return string(b)
}

const (
	upperDigits = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	base62      = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b64url      = base62 + "-_"
	hexDigits   = "0123456789abcdef"
)

// wrap embeds a fragment in one of the four formats. JSON escapes each
// piece, so labels stay on the escaped text that a scanner sees.
func (g *gen) wrap(format string, f []piece) ([]piece, bool) {
	user := g.pick("jdoe", "asmith", "mkowalski", "li.wei", "ops-bot")
	ts := fmt.Sprintf("2024-%02d-%02dT%02d:%02d:%02d.%03dZ", 1+g.r.IntN(12), 1+g.r.IntN(28), g.r.IntN(24), g.r.IntN(60), g.r.IntN(60), g.r.IntN(1000))
	switch format {
	case "prose":
		pre := g.pick("Please check ", "The customer gave ", "Support note: updated to ", "We found ", "As discussed, the value is ", "FYI ")
		post := g.pick(" before Friday.", " and closed the ticket.", ".", " (see thread).", " — thanks!", "")
		return append(append([]piece{lit(pre)}, f...), lit(post)), true
	case "csv":
		for _, p := range f {
			if strings.ContainsAny(p.text, ",\"\n") {
				return nil, false
			}
		}
		pre := fmt.Sprintf("%d,%s,", 1000+g.r.IntN(9000), user)
		post := fmt.Sprintf(",%s,%s", ts[:10], g.pick("active", "closed", "pending"))
		return append(append([]piece{lit(pre)}, f...), lit(post)), true
	case "json":
		out := []piece{lit(fmt.Sprintf(`{"id":%d,"user":"%s","note":"`, g.r.IntN(100000), user))}
		for _, p := range f {
			b, _ := json.Marshal(p.text)
			out = append(out, piece{p.ent, string(b[1 : len(b)-1])})
		}
		return append(out, lit(fmt.Sprintf(`","ts":"%s"}`, ts))), true
	default: // log
		for _, p := range f {
			if strings.Contains(p.text, "\n") {
				return nil, false
			}
		}
		pre := fmt.Sprintf("%s %s svc=%s req=%s msg=", ts, g.pick("INFO", "WARN", "ERROR", "DEBUG"), g.pick("billing", "auth", "api"), g.chars(12, hexDigits))
		return append(append([]piece{lit(pre)}, f...), lit(fmt.Sprintf(" dur=%dms", g.r.IntN(900)))), true
	}
}

func build(id, format string, ps []piece) Item {
	var b strings.Builder
	it := Item{ID: id, Format: format, Spans: []Span{}}
	for _, p := range ps {
		start := b.Len()
		b.WriteString(p.text)
		if p.ent != "" {
			it.Spans = append(it.Spans, Span{Entity: p.ent, Start: start, End: b.Len(), Value: p.text})
		}
	}
	it.Text = b.String()
	return it
}

// Generate returns the corpus: positives per entity, then negatives.
func Generate() []Item {
	g := &gen{r: rand.New(rand.NewPCG(20240501, 7))}
	var items []Item
	add := func(prefix string, n int, mk func(format string) []piece) {
		for i := 0; len(items) >= 0 && i < n; {
			format := formats[(i+g.r.IntN(2))%len(formats)]
			w, ok := g.wrap(format, mk(format))
			if !ok {
				continue
			}
			i++
			items = append(items, build(fmt.Sprintf("%s-%03d", prefix, i), format, w))
		}
	}
	for _, p := range positives(g) {
		add("pos-"+p.name, p.n, p.mk)
	}
	for _, n := range negatives(g) {
		add("neg-"+n.name, n.n, n.mk)
	}
	for i, h := range handWritten {
		it := Item{ID: fmt.Sprintf("hand-%03d", i+1), Format: h.format, Text: h.text, Spans: []Span{}}
		from := 0
		for k := 0; k+1 < len(h.labels); k += 2 {
			at := from + strings.Index(h.text[from:], h.labels[k+1])
			it.Spans = append(it.Spans, Span{Entity: h.labels[k], Start: at, End: at + len(h.labels[k+1]), Value: h.labels[k+1]})
			from = at + len(h.labels[k+1])
		}
		items = append(items, it)
	}
	return items
}

// handWritten are lines written by hand rather than from templates: real
// shapes of logs, SQL, shell and config, labelled as entity, value pairs
// in order of appearance.
var handWritten = []struct {
	format, text string
	labels       []string
}{
	{"log", `ERROR pq: password authentication failed for user "app" (host=10.2.3.4)`, []string{"IP_ADDRESS", "10.2.3.4"}},
	{"prose", `INSERT INTO customers VALUES (42, 'Jane Roe', 'jane.roe@example.org', '536-90-4399');`, []string{"EMAIL", "jane.roe@example.org", "SSN", "536-90-4399"}},
	{"prose", `| 42 | Jane Roe | 4242 4242 4242 4242 | 12/27 |`, []string{"CREDIT_CARD", "4242 4242 4242 4242"}},
	{"log", `Stripe::AuthenticationError: Invalid API Key provided: sk_test_4eC39HqLyjWDarjtT1zdp7dc`, []string{"STRIPE_KEY", "sk_test_4eC39HqLyjWDarjtT1zdp7dc"}},
	{"prose", `export GITHUB_TOKEN=ghp_R6hBvq2KzYwT8mN3pL5sX9dF1gH4jK7aQ0eU`, []string{"GITHUB_TOKEN", "ghp_R6hBvq2KzYwT8mN3pL5sX9dF1gH4jK7aQ0eU"}},
	{"prose", `curl -H "Authorization: Bearer 9f8e7d6c5b4a39281706f5e4d3c2b1a0" https://api.example.com/v1/me`, []string{"BEARER_TOKEN", "9f8e7d6c5b4a39281706f5e4d3c2b1a0"}},
	{"prose", `redis_url: redis://default:Zx8vQ2mP9rT4@cache.example.com:6379`, []string{"DB_URI_PASSWORD", "Zx8vQ2mP9rT4"}},
	{"log", `[2024-05-01 10:00:00] Sending SMS to +44 7700 900123`, []string{"PHONE", "+44 7700 900123"}},
	{"prose", `Wire to IBAN: GB33 BUKB 2020 1555 5555 55 (Jane Roe)`, []string{"IBAN", "GB33 BUKB 2020 1555 5555 55"}},
	{"json", `{"level":"info","client_ip":"2001:db8:4006:812::200e","msg":"login ok"}`, []string{"IP_ADDRESS", "2001:db8:4006:812::200e"}},
	{"prose", `AWS_ACCESS_KEY_ID=AKIAI44QH8DHBEXAMPLE`, []string{"AWS_ACCESS_KEY", "AKIAI44QH8DHBEXAMPLE"}},
	{"json", `{"type":"service_account","private_key":"-----BEGIN PRIVATE KEY-----
MIIEvgIBADANBgkqhkiG9w0BAQEFAASC
-----END PRIVATE KEY-----
"}`, []string{"PRIVATE_KEY", `-----BEGIN PRIVATE KEY-----
MIIEvgIBADANBgkqhkiG9w0BAQEFAASC
-----END PRIVATE KEY-----`}},
	{"log", `slack token xoxp-1234567890-1234567890123-abcdefABCDEF1234 revoked`, []string{"SLACK_TOKEN", "xoxp-1234567890-1234567890123-abcdefABCDEF1234"}},
	{"log", `Set-Cookie: session=eyJhbGciOiJIUzI1NiJ9.eyJ1aWQiOjQyfQ.c2lnbmF0dXJlc2lnbmF0dXJlc2ln; HttpOnly`, []string{"JWT", "eyJhbGciOiJIUzI1NiJ9.eyJ1aWQiOjQyfQ.c2lnbmF0dXJlc2lnbmF0dXJlc2ln"}},
	{"prose", `Customer phone (212) 555-0147, ext. 22 after 5pm`, []string{"PHONE", "(212) 555-0147"}},
	{"prose", `db: {user: admin, password: "S3cure!Pass"}`, []string{"SECRET", "S3cure!Pass"}},
	{"log", `gitlab-runner register --token glrt-t3_kZ9xQmP2vL7nR4wY8bA`, []string{"GITLAB_TOKEN", "glrt-t3_kZ9xQmP2vL7nR4wY8bA"}},
	{"csv", `7,Jane Roe,jane+orders@mail.example.com,+1 (415) 555-2671,203.0.113.9`, []string{"EMAIL", "jane+orders@mail.example.com", "PHONE", "+1 (415) 555-2671", "IP_ADDRESS", "203.0.113.9"}},
	// Negatives.
	{"log", `Processed 1,234,567 rows in 12.5s (98.7% cache hits)`, nil},
	{"log", `commit 3f786850e387550fdab836ed7e6dc881de23001b (HEAD -> main, origin/main)`, nil},
	{"log", `docker pull nginx@sha256:0d17b565c37bcbd895e9d92315a05c1c3c9a29f762b011a10c54a66cd53c9b31`, nil},
	{"log", `java.lang.NullPointerException at com.example.Foo.bar(Foo.java:42)`, nil},
	{"prose", `Order 1-800-FLOWERS placed for $59.99 on 05/01/2024`, nil},
	{"log", `pod web-7d9f8c6b5-x2kqp restarted 3 times in 10m`, nil},
	{"prose", `Latitude 40.7128, longitude -74.0060`, nil},
	{"log", `Build 20240501.3 deployed to 3 regions`, nil},
	{"prose", `SELECT * FROM users WHERE id = 4111 AND plan = 'basic';`, nil},
	{"prose", `Card expires 12/27; CVV and PIN are never stored.`, nil},
	{"log", `request 123e4567-e89b-12d3-a456-426614174000 took 250ms`, nil},
	{"prose", `Phone extension 4321 is not configured yet.`, nil},
	{"log", `version: 2.14.0-rc.1+build.5678`, nil},
	{"log", `GET /v2/orders/5552345678/items?page=2&per_page=50 200`, nil},
	{"csv", `2024-05-01,2024-05-31,31,1024.00,EUR`, nil},
	{"log", `auth: method=oidc issuer=https://login.example.com token_ttl=3600`, nil},
	// Phones after short identifier keys, and numbers that only look like
	// phones after a contact-like key.
	{"log", `ref=(312) 555-0193;status=ok`, []string{"PHONE", "(312) 555-0193"}},
	{"json", `{"ticket":"T-88","ref":"(646) 555-0127","state":"open"}`, []string{"PHONE", "(646) 555-0127"}},
	{"prose", `Callback id (415) 555-0148 after lunch.`, []string{"PHONE", "(415) 555-0148"}},
	{"json", `{"contact":"(718) 555-0166","zip":"11201-3344"}`, []string{"PHONE", "(718) 555-0166"}},
	{"json", `{"name":"Ada","contact":"415 555 0139"}`, []string{"PHONE", "415 555 0139"}},
	{"json", `{"contact":"94107-2231","kind":"postal"}`, nil},
	{"json", `{"contact":"1733059200123","kind":"updated_ms"}`, nil},
	{"json", `{"contact":"1733059200","kind":"updated"}`, nil},
	{"json", `{"contact":"10.0.22631.4460"}`, nil},
	{"json", `{"contact":"4219876543214"}`, nil},
	{"json", `{"contact":"842135792463"}`, nil},
	{"json", `{"contact":"978-0-306-12345-0"}`, nil},
	{"json", `{"contact":"1-904527-81-7"}`, nil},
	{"json", `{"contact":"000-00-0000"}`, nil},
	{"json", `{"contact":"000-31-7754"}`, nil},
	{"json", `{"contact":"SKU 400-1234-567"}`, nil},
	{"log", `call scheduled build=2.14.0.1234`, nil},
	// Encoded values are found in their encoded form.
	{"json", `{"id":7,"blob":"MjE5LTQ1LTc3ODE=","kind":"note"}`, []string{"SSN", "MjE5LTQ1LTc3ODE="}},
	{"log", `audit actor=722e6c696e64406578616d706c652e6e6574 action=login`, []string{"EMAIL", "722e6c696e64406578616d706c652e6e6574"}},
	{"prose", `<td>&#51;&#55;&#50;&#45;&#53;&#49;&#45;&#48;&#57;&#52;&#54;</td>`, []string{"SSN", "&#51;&#55;&#50;&#45;&#53;&#49;&#45;&#48;&#57;&#52;&#54;"}},
	{"log", `GET /lookup?pan=5105%201051%200510%205100&full=1 200`, []string{"CREDIT_CARD", "5105%201051%200510%205100"}},
	{"json", `{"avatar":"iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJ","etag":"W/\"5f3a9c\""}`, nil},
}

type family struct {
	name string
	n    int
	mk   func(format string) []piece
}

// luhnDigit returns the check digit that makes body+digit Luhn-valid.
func luhnDigit(body string) byte {
	sum := 0
	double := true
	for i := len(body) - 1; i >= 0; i-- {
		d := int(body[i] - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return byte('0' + (10-sum%10)%10)
}

func (g *gen) card() string {
	prefixes := []struct {
		p string
		n int
	}{{"4", 16}, {"4", 16}, {"4", 13}, {"51", 16}, {"55", 16}, {"2221", 16}, {"2720", 16}, {"34", 15}, {"37", 15},
		{"6011", 16}, {"65", 16}, {"3528", 16}, {"36", 14}, {"62", 16}, {"4", 19}}
	pp := prefixes[g.r.IntN(len(prefixes))]
	body := pp.p + g.digits(pp.n-len(pp.p)-1)
	return body + string(luhnDigit(body))
}

func groupCard(d string, sep string) string {
	if len(d) == 15 {
		return d[:4] + sep + d[4:10] + sep + d[10:]
	}
	var parts []string
	for i := 0; i < len(d); i += 4 {
		parts = append(parts, d[i:min(i+4, len(d))])
	}
	return strings.Join(parts, sep)
}

func (g *gen) formatCard(d string) string {
	switch g.r.IntN(3) {
	case 0:
		return d
	case 1:
		return groupCard(d, " ")
	}
	return groupCard(d, "-")
}

func (g *gen) ssn() string {
	for {
		area := 1 + g.r.IntN(899)
		if area == 666 {
			continue
		}
		s := fmt.Sprintf("%03d%02d%04d", area, 1+g.r.IntN(99), 1+g.r.IntN(9999))
		switch s {
		case "078051120", "219099999", "123456789":
			continue
		}
		return s
	}
}

func (g *gen) email() string {
	local := g.pick("jane.doe", "john", "a.kowalska", "li_wei", "ops", "m.o'neil", "billing", "x")
	local = strings.ReplaceAll(local, "'", "")
	if g.r.IntN(3) == 0 {
		local += "+" + g.pick("news", "tag42", "billing")
	}
	if g.r.IntN(4) == 0 {
		local += strconv.Itoa(g.r.IntN(1000))
	}
	domain := g.pick("example.com", "example.org", "example.net", "mail.example.com", "eu.mail.example.org",
		"example.co.uk", "exämple.com", "bücher.example", "xn--bcher-kva.example", "例え.テスト", "test.example")
	if g.r.IntN(10) == 0 {
		local = g.pick("josé", "zoë", "用户")
	}
	return local + "@" + domain
}

func (g *gen) phone() string {
	x := g.digits(4)
	switch g.r.IntN(12) {
	case 0:
		return "(555) 2" + g.digits(2) + "-" + x
	case 1:
		return "555-3" + g.digits(2) + "-" + x
	case 2:
		return "555.4" + g.digits(2) + "." + x
	case 3:
		return "1-800-555-01" + g.digits(2)
	case 4:
		return "+1 415 555 " + x
	case 5:
		return "+1415555" + x
	case 6:
		return "+44 20 7946 0" + g.digits(3)
	case 7:
		return "020 7946 0" + g.digits(3)
	case 8:
		return "07700 900" + g.digits(3)
	case 9:
		return "+49 30 " + g.digits(6)
	case 10:
		return "+33 1 " + g.digits(2) + " " + g.digits(2) + " " + g.digits(2) + " " + g.digits(2)
	}
	return "(555) 2" + g.digits(2) + "-" + x + " " + g.pick("x", "ext. ", "ext ") + g.digits(3)
}

var ibanCountries = []struct {
	cc   string
	n    int
	bank string // letters in the BBAN's bank code, if any
}{{"DE", 22, ""}, {"GB", 22, "WEST"}, {"FR", 27, ""}, {"NL", 18, "ABNA"}, {"ES", 24, ""}, {"IT", 27, "X"},
	{"CH", 21, ""}, {"BE", 16, ""}, {"NO", 15, ""}, {"PL", 28, ""}, {"AT", 20, ""}, {"IE", 22, "AIBK"}}

func ibanCheck(cc, bban string) string {
	r := 0
	for _, c := range bban + cc + "00" {
		if c >= '0' && c <= '9' {
			r = (r*10 + int(c-'0')) % 97
		} else {
			r = (r*100 + int(c-'A'+10)) % 97
		}
	}
	return fmt.Sprintf("%02d", 98-r)
}

func (g *gen) iban(valid bool) string {
	c := ibanCountries[g.r.IntN(len(ibanCountries))]
	bban := c.bank + g.digits(c.n-4-len(c.bank))
	check := ibanCheck(c.cc, bban)
	if !valid {
		n, _ := strconv.Atoi(check)
		check = fmt.Sprintf("%02d", (n+1+g.r.IntN(90))%97+2)
		if check == ibanCheck(c.cc, bban) {
			check = fmt.Sprintf("%02d", (n+50)%97+2)
		}
	}
	s := c.cc + check + bban
	if g.r.IntN(2) == 0 {
		var parts []string
		for i := 0; i < len(s); i += 4 {
			parts = append(parts, s[i:min(i+4, len(s))])
		}
		return strings.Join(parts, " ")
	}
	return s
}

func (g *gen) ipv4() string {
	switch g.r.IntN(6) {
	case 0:
		return fmt.Sprintf("192.0.2.%d", 1+g.r.IntN(254))
	case 1:
		return fmt.Sprintf("198.51.100.%d", 1+g.r.IntN(254))
	case 2:
		return fmt.Sprintf("203.0.113.%d", 1+g.r.IntN(254))
	case 3:
		return fmt.Sprintf("10.%d.%d.%d", g.r.IntN(256), g.r.IntN(256), 1+g.r.IntN(254))
	case 4:
		return fmt.Sprintf("172.%d.%d.%d", 16+g.r.IntN(16), g.r.IntN(256), 1+g.r.IntN(254))
	}
	return fmt.Sprintf("192.168.%d.%d", g.r.IntN(256), 1+g.r.IntN(254))
}

func (g *gen) ipv6() string {
	h := func() string { return strconv.FormatUint(uint64(g.r.IntN(0x10000)), 16) }
	switch g.r.IntN(4) {
	case 0:
		return "2001:db8::" + h()
	case 1:
		return "2001:db8:" + h() + ":" + h() + "::" + h() + ":" + h()
	case 2:
		return fmt.Sprintf("2001:0db8:%04x:%04x:%04x:%04x:%04x:%04x", g.r.IntN(0x10000), g.r.IntN(0x10000), g.r.IntN(0x10000), g.r.IntN(0x10000), g.r.IntN(0x10000), 1+g.r.IntN(0xfffe))
	}
	return "fe80::" + h() + ":" + h() + "%eth0"
}

func (g *gen) jwt() string {
	hdr := g.pick(`{"alg":"HS256","typ":"JWT"}`, `{"alg":"RS256","kid":"k1","typ":"JWT"}`, `{"typ":"JWT","alg":"ES256"}`)
	payload := fmt.Sprintf(`{"sub":"%d","name":"%s","iat":%d,"exp":%d}`, g.r.IntN(1e6), g.pick("Jane", "Li", "Ops"), 1714500000+g.r.IntN(1e5), 1714600000+g.r.IntN(1e5))
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(hdr)) + "." + enc.EncodeToString([]byte(payload)) + "." + g.chars(43, b64url)
}

func (g *gen) pem() string {
	label := g.pick("RSA PRIVATE KEY", "PRIVATE KEY", "EC PRIVATE KEY", "OPENSSH PRIVATE KEY", "ENCRYPTED PRIVATE KEY")
	var lines []string
	for i := 0; i < 2+g.r.IntN(4); i++ {
		lines = append(lines, g.chars(64, base62+"+/"))
	}
	return "-----BEGIN " + label + "-----\n" + strings.Join(lines, "\n") + "\n" + g.chars(20, base62) + "==\n-----END " + label + "-----"
}

func (g *gen) password() string {
	return g.pick("Tr0ub4dor&3", "hunter22", "s3cr3t!", "P@ssw0rd2024", "correct-horse-battery", "zX9#kL2$") + g.chars(g.r.IntN(4), base62)
}

func positives(g *gen) []family {
	return []family{
		{"card", 45, func(string) []piece {
			return frag(lit(g.pick("card ", "cc=", "paid with ", "Card number: ", "")), val("CREDIT_CARD", g.formatCard(g.card())))
		}},
		{"ssn", 40, func(string) []piece {
			s := g.ssn()
			switch g.r.IntN(4) {
			case 0:
				return frag(lit(g.pick("ssn: ", "SSN ", "social security number ")), val("SSN", s))
			case 1:
				return frag(lit("SSN "), val("SSN", s[:3]+" "+s[3:5]+" "+s[5:]))
			}
			return frag(lit(g.pick("ssn=", "tax id ", "", "SSN on file: ")), val("SSN", s[:3]+"-"+s[3:5]+"-"+s[5:]))
		}},
		{"email", 45, func(string) []piece {
			return frag(lit(g.pick("contact ", "email=", "from: ", "mailto:", "<")), val("EMAIL", g.email()), lit(g.pick("", ">", " (work)")))
		}},
		{"phone", 45, func(string) []piece {
			return frag(lit(g.pick("call ", "phone: ", "tel ", "mobile=", "reach me at ", "")), val("PHONE", g.phone()))
		}},
		{"iban", 35, func(string) []piece {
			return frag(lit(g.pick("IBAN ", "iban=", "pay to ", "account: ")), val("IBAN", g.iban(true)))
		}},
		{"ip", 45, func(string) []piece {
			v := g.ipv4()
			if g.r.IntN(3) == 0 {
				v = g.ipv6()
			}
			if g.r.IntN(4) == 0 && !strings.Contains(v, ":") {
				return frag(lit("client="), val("IP_ADDRESS", v), lit(fmt.Sprintf(":%d", 1024+g.r.IntN(60000))))
			}
			return frag(lit(g.pick("from ", "src_ip=", "peer ", "remote addr ")), val("IP_ADDRESS", v))
		}},
		{"aws", 35, func(string) []piece {
			v := g.pick("AKIA", "AKIA", "ASIA") + g.chars(16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
			if g.r.IntN(5) == 0 {
				v = "AKIAIOSFODNN7EXAMPLE"
			}
			return frag(lit(g.pick("aws key ", "AccessKeyId=", "key id: ", "")), val("AWS_ACCESS_KEY", v))
		}},
		{"github", 35, func(string) []piece {
			v := g.pick("ghp_", "gho_", "ghu_", "ghs_", "ghr_") + g.chars(36, base62)
			if g.r.IntN(4) == 0 {
				v = "github_pat_" + g.chars(22, base62) + "_" + g.chars(59, base62)
			}
			if g.r.IntN(4) == 0 {
				return frag(lit("git clone https://"), val("GITHUB_TOKEN", v), lit("@github.com/org/repo.git"))
			}
			return frag(lit(g.pick("using ", "GH_TOKEN=", "token ", "")), val("GITHUB_TOKEN", v))
		}},
		{"gitlab", 30, func(string) []piece {
			return frag(lit(g.pick("gitlab token ", "PRIVATE-TOKEN: ", "")), val("GITLAB_TOKEN", "glpat-"+g.chars(20, b64url)))
		}},
		{"slack", 30, func(string) []piece {
			v := g.pick("xoxb-", "xoxp-", "xoxa-2-") + g.digits(11) + "-" + g.digits(13) + "-" + g.chars(24, base62)
			return frag(lit(g.pick("slack ", "SLACK_BOT_TOKEN=", "")), val("SLACK_TOKEN", v))
		}},
		{"stripe", 30, func(string) []piece {
			v := g.pick("sk_live_", "rk_live_", "sk_test_") + g.chars(24+g.r.IntN(76), base62)
			return frag(lit(g.pick("stripe ", "STRIPE_KEY=", "key: ", "")), val("STRIPE_KEY", v))
		}},
		{"jwt", 35, func(string) []piece {
			return frag(lit(g.pick("id_token ", "jwt=", "session ", "")), val("JWT", g.jwt()))
		}},
		{"pem", 30, func(format string) []piece {
			return frag(lit(g.pick("key:\n", "deploy key ", "")), val("PRIVATE_KEY", g.pem()))
		}},
		{"dburi", 35, func(string) []piece {
			pw := g.password()
			pw = strings.NewReplacer("@", "%40", "#", "%23", "/", "%2F", "?", "%3F", ":", "%3A").Replace(pw)
			scheme := g.pick("postgres", "postgresql", "mysql", "mongodb+srv", "redis", "amqps")
			host := lit("@" + g.pick("db.example.com:5432", "cluster0.example.net", "cache.internal.example"))
			if g.r.IntN(4) == 0 {
				host = val("IP_ADDRESS", "10.0.3."+strconv.Itoa(1+g.r.IntN(254)))
				return frag(lit(g.pick("DATABASE_URL=", "dsn ", "")+scheme+"://app:"), val("DB_URI_PASSWORD", pw), lit("@"), host, lit(":5432/app"))
			}
			return frag(lit(g.pick("DATABASE_URL=", "dsn ", "connecting to ", "")+scheme+"://"+g.pick("app", "root", "svc_user", "")+":"), val("DB_URI_PASSWORD", pw), host, lit("/"+g.pick("app", "prod", "0", "")))
		}},
		{"bearer", 30, func(string) []piece {
			tok := g.chars(20+g.r.IntN(20), base62) + g.digits(2)
			return frag(lit(g.pick("Authorization: Bearer ", "authorization=Bearer ", "header Bearer ", "-H 'Authorization: Bearer ")), val("BEARER_TOKEN", tok))
		}},
		{"secret", 45, func(format string) []piece {
			v := g.password()
			switch g.r.IntN(7) {
			case 0:
				return frag(lit("password="), val("SECRET", v))
			case 1:
				return frag(lit(`"api_key": "`), val("SECRET", g.chars(32, hexDigits)), lit(`"`))
			case 2:
				return frag(lit("client_secret: "), val("SECRET", g.chars(40, base62)))
			case 3:
				return frag(lit("DB_PASSWORD='"), val("SECRET", v), lit("'"))
			case 4:
				return frag(lit("aws_secret_access_key="), val("SECRET", g.chars(40, base62+"/+")))
			case 5:
				u := g.pick("admin", "svc", "jane")
				return frag(lit("Authorization: Basic "), val("SECRET", base64.StdEncoding.EncodeToString([]byte(u+":"+v))))
			}
			return frag(lit("X-Api-Key: "), val("SECRET", g.chars(24, base62)))
		}},
		// Two values in one line.
		{"mixed", 30, func(string) []piece {
			return frag(lit("user "), val("EMAIL", g.email()), lit(" ssn "), val("SSN", func() string { s := g.ssn(); return s[:3] + "-" + s[3:5] + "-" + s[5:] }()),
				lit(" from "), val("IP_ADDRESS", g.ipv4()))
		}},
	}
}

func (g *gen) uuid() string {
	h := g.chars(32, hexDigits)
	return h[:8] + "-" + h[8:12] + "-4" + h[13:16] + "-a" + h[17:20] + "-" + h[20:]
}

func (g *gen) timestamp() string {
	switch g.r.IntN(5) {
	case 0:
		return fmt.Sprintf("2024-%02d-%02dT%02d:%02d:%02dZ", 1+g.r.IntN(12), 1+g.r.IntN(28), g.r.IntN(24), g.r.IntN(60), g.r.IntN(60))
	case 1:
		return fmt.Sprintf("2024-%02d-%02d %02d:%02d:%02d.%06d", 1+g.r.IntN(12), 1+g.r.IntN(28), g.r.IntN(24), g.r.IntN(60), g.r.IntN(60), g.r.IntN(1e6))
	case 2:
		return fmt.Sprintf("%02d/%02d/2024 %02d:%02d", 1+g.r.IntN(12), 1+g.r.IntN(28), g.r.IntN(24), g.r.IntN(60))
	case 3:
		return strconv.Itoa(1700000000 + g.r.IntN(1e8))
	}
	return strconv.Itoa(1700000000000 + g.r.IntN(1e11))
}

func (g *gen) badLuhn() string {
	d := g.card()
	last := (int(d[len(d)-1]-'0') + 1 + g.r.IntN(9)) % 10
	d = d[:len(d)-1] + strconv.Itoa(last)
	return g.formatCard(d)
}

func (g *gen) badSSN() string {
	switch g.r.IntN(7) {
	case 0:
		return "000-" + fmt.Sprintf("%02d-%04d", 1+g.r.IntN(99), 1+g.r.IntN(9999))
	case 1:
		return "666-" + fmt.Sprintf("%02d-%04d", 1+g.r.IntN(99), 1+g.r.IntN(9999))
	case 2:
		return fmt.Sprintf("9%02d-%02d-%04d", g.r.IntN(100), 1+g.r.IntN(99), 1+g.r.IntN(9999))
	case 3:
		return fmt.Sprintf("%03d-00-%04d", 1+g.r.IntN(665), 1+g.r.IntN(9999))
	case 4:
		return fmt.Sprintf("%03d-%02d-0000", 1+g.r.IntN(665), 1+g.r.IntN(99))
	}
	return g.pick("078-05-1120", "219-09-9999", "123-45-6789")
}

func negatives(g *gen) []family {
	return []family{
		{"orderid", 40, func(string) []piece {
			return frag(lit(g.pick("order ", "Order #", "invoice ", "ticket ", "ref ")), lit(g.pick(
				"ORD-2024-"+g.digits(6), g.digits(3)+"-"+g.digits(3)+"-"+g.digits(4), "INV"+g.digits(8), g.digits(7), "A-"+g.digits(5)+"-"+g.digits(2))))
		}},
		{"timestamp", 40, func(string) []piece {
			return frag(lit(g.pick("at ", "created_at=", "ts ", "")), lit(g.timestamp()))
		}},
		{"version", 35, func(string) []piece {
			return frag(lit(g.pick("version ", "v", "release ", "go", "Chrome/", "build ")),
				lit(fmt.Sprintf("%d.%d.%d", g.r.IntN(20), g.r.IntN(30), g.r.IntN(300))+g.pick("", "."+strconv.Itoa(g.r.IntN(9999)), "-rc1", "+build."+g.digits(4))))
		}},
		{"uuid", 35, func(string) []piece {
			return frag(lit(g.pick("request_id=", "id ", "trace ", "")), lit(g.uuid()))
		}},
		{"productcode", 35, func(string) []piece {
			return frag(lit(g.pick("SKU ", "part no. ", "model ", "item ", "product ")), lit(g.pick(
				g.digits(3)+"-"+g.digits(3)+"-"+g.digits(4), g.digits(4)+"-"+g.digits(3)+"-"+g.digits(3), "PN-"+g.digits(3)+"-"+g.digits(4),
				g.digits(2)+"-"+g.digits(4)+"-"+g.digits(4), "ISBN 978-"+g.digits(1)+"-"+g.digits(2)+"-"+g.digits(6)+"-"+g.digits(1))))
		}},
		{"badluhn", 40, func(string) []piece {
			return frag(lit(g.pick("card ", "ref ", "number ", "")), lit(g.badLuhn()))
		}},
		{"badssn", 40, func(string) []piece {
			return frag(lit(g.pick("ssn ", "SSN: ", "id ", "")), lit(g.badSSN()))
		}},
		{"gitsha", 35, func(string) []piece {
			sha := g.chars(40, hexDigits)
			return frag(lit(g.pick("commit ", "HEAD is now at ", "merged ", "sha256:")), lit(g.pick(sha, sha[:7], sha+g.chars(24, hexDigits))))
		}},
		{"base64", 35, func(string) []piece {
			b := make([]byte, 24+g.r.IntN(40))
			for i := range b {
				b[i] = byte(g.r.IntN(256))
			}
			enc := base64.StdEncoding.EncodeToString(b)
			if g.r.IntN(2) == 0 {
				enc = base64.RawURLEncoding.EncodeToString(b)
			}
			return frag(lit(g.pick("thumbnail=", "data ", "etag ", "checksum: ", "blob ")), lit(enc))
		}},
		{"badiban", 25, func(string) []piece {
			return frag(lit(g.pick("IBAN ", "iban=", "")), lit(g.iban(false)))
		}},
		{"netish", 40, func(string) []piece {
			return frag(lit(g.pick(
				"listen 127.0.0.1:8080", "bind 0.0.0.0:443", "netmask 255.255.255.0", "addr ::1", "v1.2.3.4 released",
				"version 10.2.3.4", "oid 1.3.6.1.4.1.343", "mac 00:1a:2b:3c:4d:5e", "at 10:30:45", "std::vector<int>",
				"999.12.1.1 is not an address", "1.2.3.4.5", "ratio 3:2:1", "git@github.com:org/repo.git",
				"user@localhost", "@channel", "npm i left-pad@1.3.0", "image@sha256:"+g.chars(16, hexDigits), "a::b",
				fmt.Sprintf("%d.%d.%d", g.r.IntN(256), g.r.IntN(256), g.r.IntN(256)))))
		}},
		{"secretish", 45, func(string) []piece {
			return frag(lit(g.pick(
				"password: ${DB_PASSWORD}", "password=", "password: <your-password>", "password: null", "password=********",
				"token_type=bearer", "max_tokens=4096", "password_changed_at=2024-05-01", "next_page_token=CiAKGjBpNDd2Nmp2Zml2",
				"pk_live_"+g.chars(24, base62), "AKIA1234", "sk_test_", "uses Bearer authentication", "Basic setup steps",
				"eyJhbGciOiJIUzI1NiJ9", "token: expired", "auth: oidc", "api_key: \"<redacted>\"", "secret_name=prod/db",
				"password_hint=first pet", "ghp_short", "xoxb-not-a-token", "Bearer realm=\"api\"", "api_key=[REDACTED]",
				"postgres://app@db.example.com/app", "redis://cache:6379/0", "https://example.com/a:b@c")))
		}},
		{"numbers", 40, func(string) []piece {
			return frag(lit(g.pick("total ", "amount $", "qty ", "latency ", "coords ", "port ")), lit(g.pick(
				fmt.Sprintf("%d,%03d.%02d", 1+g.r.IntN(999), g.r.IntN(1000), g.r.IntN(100)),
				fmt.Sprintf("%d.%d,-%d.%d", g.r.IntN(90), g.r.IntN(1e6), g.r.IntN(180), g.r.IntN(1e6)),
				g.digits(1+g.r.IntN(6)), fmt.Sprintf("%d.%04d", g.r.IntN(1000), g.r.IntN(10000)),
				fmt.Sprintf("p99=%dms p50=%dms", g.r.IntN(999), g.r.IntN(99)), g.digits(12), "1Z999AA1"+g.digits(10))))
		}},
		{"hash", 30, func(string) []piece {
			return frag(lit(g.pick("sha256 ", "md5=", "digest: ", "nonce ")), lit(g.chars(g.pick2(32, 64), hexDigits)))
		}},
		{"prose", 40, func(string) []piece {
			return frag(lit(g.pick(
				"The Q3 report shows revenue up 12% on 1,204 orders.",
				"Reset your password from the account page; tokens expire after 15 minutes.",
				"Call the on-call engineer if p99 latency exceeds 250ms for 5 minutes.",
				"Basic plan customers get 2 seats and 10 GB storage.",
				"Use the API key from the vault, never from chat.",
				"The meeting moved to 3:30 in room 4B, floor 12.",
				"Deploy 2024.05.01-1 rolled out to 3 of 4 regions.",
				"Bearer tokens are validated against the issuer.",
				"Email support if the IBAN field rejects your input.",
				"Section 4.2.1 covers the SSN retention policy.")))
		}},
	}
}

func (g *gen) pick2(a, b int) int {
	if g.r.IntN(2) == 0 {
		return a
	}
	return b
}
