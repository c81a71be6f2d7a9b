package maskingeval

// The document corpus: a second generator, written apart from the one in
// corpus.go (its own value makers, seeds, shapes and contexts), that puts
// values into whole documents — prose, JSON bodies, XML, CSV, YAML,
// markdown tables, log lines, SQL result cells and echoed HTTP headers —
// next to hard look-alikes. It has two splits: "tune", which may be looked
// at while improving the detectors, and "heldout", which is only scored.
// The held-out split uses another seed and also shapes the tune split
// never has (every third template of each context), so a detector that
// learned the tune split's values or templates does not pass it by
// construction.

import (
	"encoding/json"
	"fmt"
	"hash/crc32"
	"math/big"
	"math/rand/v2"
	"strings"
)

// Doc is one labelled document. Values are the sensitive values it holds
// (each must not survive masking); Decoys are look-alikes (each must).
type Doc struct {
	ID      string  `json:"id"`
	Split   string  `json:"split"`
	Context string  `json:"context"`
	Text    string  `json:"text"`
	Values  []Value `json:"values"`
	Decoys  []Value `json:"decoys"`
}

// Value is a labelled value as it appears in Doc.Text.
type Value struct {
	Kind  string `json:"kind"`
	Shape string `json:"shape"`
	Text  string `json:"text"`
}

// Kinds scored by the document corpus (secret formats are one kind).
var DocKinds = []string{"card", "ssn", "email", "phone", "iban", "ip", "secret"}

// DocContexts are the document shapes.
var DocContexts = []string{"text", "json", "xml", "csv", "yaml", "markdown", "log", "sql", "http"}

type dgen struct {
	r *rand.Rand
}

func (g *dgen) n(k int) int             { return g.r.IntN(k) }
func (g *dgen) one(xs ...string) string { return xs[g.r.IntN(len(xs))] }
func (g *dgen) num(k int) string {
	var b strings.Builder
	for range k {
		b.WriteByte(byte('0' + g.r.IntN(10)))
	}
	return b.String()
}
func (g *dgen) from(k int, alpha string) string {
	var b strings.Builder
	for range k {
		b.WriteByte(alpha[g.r.IntN(len(alpha))])
	}
	return b.String()
}

const (
	alnum62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	lowerHx = "0123456789abcdef"
)

// withLuhn appends the Luhn check digit.
func withLuhn(body string) string {
	sum := 0
	for i := len(body) - 1; i >= 0; i-- {
		d := int(body[i] - '0')
		if (len(body)-1-i)%2 == 0 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return body + string(rune('0'+(10-sum%10)%10))
}

func groups(d string, sizes []int, sep string) string {
	var parts []string
	for _, n := range sizes {
		parts = append(parts, d[:n])
		d = d[n:]
	}
	if d != "" {
		parts = append(parts, d)
	}
	return strings.Join(parts, sep)
}

type dval struct {
	kind, shape, text string
	number            bool // may stand as a JSON number
}

func (g *dgen) cardVal() dval {
	sep := g.one(" ", "-", "", " ")
	switch g.n(6) {
	case 0:
		d := withLuhn(g.one("34", "37") + g.num(12))
		return dval{"card", "amex-4-6-5", groups(d, []int{4, 6, 5}, sep), sep == ""}
	case 1:
		d := withLuhn("4" + g.num(17))
		return dval{"card", "visa-19", groups(d, []int{4, 4, 4, 4, 3}, sep), sep == ""}
	case 2:
		d := withLuhn(g.one("2221", "2720", "5105", "5555") + g.num(11))
		return dval{"card", "mc-16", groups(d, []int{4, 4, 4, 4}, sep), sep == ""}
	case 3:
		d := withLuhn("36" + g.num(11))
		return dval{"card", "diners-4-6-4", groups(d, []int{4, 6, 4}, sep), sep == ""}
	case 4:
		d := withLuhn("6011" + g.num(11))
		return dval{"card", "discover-16", groups(d, []int{4, 4, 4, 4}, sep), sep == ""}
	}
	d := withLuhn("4" + g.num(14))
	return dval{"card", "visa-16", groups(d, []int{4, 4, 4, 4}, sep), sep == ""}
}

func (g *dgen) ssnDigits() string {
	for {
		a := 1 + g.n(899)
		if a == 666 {
			continue
		}
		return fmt.Sprintf("%03d%02d%04d", a, 1+g.n(99), 1+g.n(9999))
	}
}

// ssnVal: keyed says the value sits under a telling key, so the bare
// nine-digit shape is fair.
func (g *dgen) ssnVal(keyed bool) dval {
	d := g.ssnDigits()
	if keyed && g.n(3) == 0 {
		return dval{"ssn", "bare", d, d[0] != '0'}
	}
	if g.n(4) == 0 {
		return dval{"ssn", "spaced", d[:3] + " " + d[3:5] + " " + d[5:], false}
	}
	return dval{"ssn", "dashed", d[:3] + "-" + d[3:5] + "-" + d[5:], false}
}

func (g *dgen) emailVal(ctx string) dval {
	first := g.one("maria", "jonas", "aiko", "priya", "tomás", "olu", "svetlana", "kwame", "ines", "dmitri")
	last := g.one("keller", "nakamura", "sharma", "oliveira", "mensah", "dubois", "petrova", "okafor", "lindqvist")
	dom := g.one("example.com", "example.org", "mail.example.net", "corp.example.co.uk", "example.io", "staff.example.de")
	local := first + "." + last
	switch g.n(4) {
	case 0:
		local = first[:1] + last + "+" + g.one("billing", "news", "test")
	case 1:
		local = last + "_" + g.num(2)
	}
	local = strings.NewReplacer("á", "a").Replace(local)
	if ctx == "text" || ctx == "log" || ctx == "http" {
		if g.n(4) == 0 {
			return dval{"email", "percent-encoded", strings.ReplaceAll(local, "+", "%2B") + "%40" + dom, false}
		}
	}
	return dval{"email", "plain", local + "@" + dom, false}
}

func (g *dgen) phoneVal() dval {
	switch g.n(13) {
	case 0:
		return dval{"phone", "de-national", "0" + g.one("30", "40", "89", "221") + " " + g.num(7+g.n(2)), false}
	case 1:
		return dval{"phone", "de-mobile", "01" + g.one("51", "60", "71", "76") + " " + g.num(7+g.n(2)), false}
	case 2:
		return dval{"phone", "fr-national", "0" + g.one("1", "4", "6", "7") + " " + g.num(2) + " " + g.num(2) + " " + g.num(2) + " " + g.num(2), false}
	case 3:
		return dval{"phone", "in-mobile", "+91 " + g.one("98", "97", "91", "88") + g.num(3) + " " + g.num(5), false}
	case 4:
		return dval{"phone", "in-national", "0" + g.one("98", "97", "70") + g.num(3) + " " + g.num(5), false}
	case 5:
		return dval{"phone", "br-national", "(" + g.one("11", "21", "31") + ") 9" + g.num(4) + "-" + g.num(4), false}
	case 6:
		return dval{"phone", "br-intl", "+55 " + g.one("11", "21", "31") + " 9" + g.num(4) + "-" + g.num(4), false}
	case 7:
		return dval{"phone", "jp-national", g.one("03", "06") + "-" + g.num(4) + "-" + g.num(4), false}
	case 8:
		return dval{"phone", "jp-mobile", g.one("090", "080", "070") + "-" + g.num(4) + "-" + g.num(4), false}
	case 9:
		return dval{"phone", "uk-national", "020 " + g.one("7946", "3946", "8123") + " " + g.num(4), false}
	case 10:
		return dval{"phone", "uk-mobile", "07" + g.one("700", "911", "456") + " " + g.num(6), false}
	case 11:
		return dval{"phone", "e164", "+" + g.one("4930", "3314", "4420", "8190", "5511") + g.num(8), false}
	}
	return dval{"phone", "us", "(" + g.one("415", "212", "646", "312") + ") " + g.one("555", "734", "892") + "-" + g.num(4), false}
}

var docIBAN = []struct {
	cc string
	n  int
}{{"DE", 22}, {"FR", 27}, {"GB", 22}, {"NL", 18}, {"ES", 24}, {"IT", 27}, {"AT", 20}, {"CH", 21}}

func ibanFor(cc, bban string) string {
	var num strings.Builder
	for _, c := range bban + cc + "00" {
		if c >= 'A' && c <= 'Z' {
			fmt.Fprintf(&num, "%d", c-'A'+10)
		} else {
			num.WriteRune(c)
		}
	}
	n, _ := new(big.Int).SetString(num.String(), 10)
	check := 98 - new(big.Int).Mod(n, big.NewInt(97)).Int64()
	return fmt.Sprintf("%s%02d%s", cc, check, bban)
}

func (g *dgen) ibanVal() dval {
	c := docIBAN[g.n(len(docIBAN))]
	bban := g.num(c.n - 4)
	if c.cc == "GB" || c.cc == "NL" {
		bban = g.from(4, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") + bban[4:]
	}
	iban := ibanFor(c.cc, bban)
	if g.n(2) == 0 {
		return dval{"iban", "grouped", groups(iban, []int{4, 4, 4, 4, 4, 4, 4}[:len(iban)/4], " "), false}
	}
	return dval{"iban", "compact", iban, false}
}

func (g *dgen) ipVal() dval {
	switch g.n(5) {
	case 0:
		return dval{"ip", "ipv6-full", fmt.Sprintf("2a0%d:%04x:%04x:%04x:%04x:%04x:%04x:%04x", 1+g.n(8), g.n(65536), g.n(65536), g.n(65536), g.n(65536), g.n(65536), g.n(65536), 1+g.n(65535)), false}
	case 1:
		return dval{"ip", "ipv6-compressed", fmt.Sprintf("2001:%x:%x::%x", 0x4860+g.n(16), g.n(65536), 1+g.n(65535)), false}
	case 2:
		return dval{"ip", "ipv4-mapped-ipv6", fmt.Sprintf("::ffff:%d.%d.%d.%d", 23+g.n(100), g.n(256), g.n(256), 1+g.n(254)), false}
	}
	return dval{"ip", "ipv4", fmt.Sprintf("%d.%d.%d.%d", g.one2(23, 185), g.n(256), g.n(256), 1+g.n(254)), false}
}

func (g *dgen) one2(a, b int) int {
	if g.n(2) == 0 {
		return a
	}
	return b
}

// githubToken makes a token whose last six characters are the base62
// CRC32 of the rest, as GitHub's are.
func githubToken(prefix, body string) string {
	sum := crc32.ChecksumIEEE([]byte(body))
	var enc [6]byte
	for i := 5; i >= 0; i-- {
		enc[i] = alnum62[sum%62]
		sum /= 62
	}
	return prefix + body + string(enc[:])
}

func (g *dgen) password() string {
	return g.from(3, "ABCDEFGHJKLMNPQRSTUVWXYZ") + g.from(4, "abcdefghijkmnopqrstuvwxyz") + g.num(2) + g.one("!", "#", "%", "*", "") + g.from(3, alnum62)
}

// secretVal returns the secret and the text around it (the value alone
// unless it is a credential inside something larger).
func (g *dgen) secretVal() (dval, string, string) {
	switch g.n(9) {
	case 0:
		return dval{"secret", "github-pat", githubToken(g.one("ghp_", "gho_", "ghs_"), g.from(30, alnum62)), false}, "", ""
	case 1:
		return dval{"secret", "aws-key", "AKIA" + g.from(16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"), false}, "", ""
	case 2:
		return dval{"secret", "stripe", g.one("sk_live_", "rk_live_") + g.from(24, alnum62), false}, "", ""
	case 3:
		return dval{"secret", "slack", "xoxb-" + g.num(11) + "-" + g.num(12) + "-" + g.from(24, alnum62), false}, "", ""
	case 4:
		pw := g.password()
		return dval{"secret", "mysql-dsn", pw, false}, g.one("app", "svc_orders", "root") + ":", "@tcp(" + g.one("db.internal", "10.2.3.4") + ":3306)/" + g.one("shop", "crm")
	case 5:
		pw := g.password()
		return dval{"secret", "mongodb-srv", pw, false}, "mongodb+srv://" + g.one("reader", "etl") + ":", "@cluster0." + g.from(5, "abcdefghijklmnopqrstuvwxyz0123456789") + ".mongodb.net/" + g.one("events", "app") + "?retryWrites=true"
	case 6:
		pw := g.password()
		return dval{"secret", "jdbc", pw, false}, "jdbc:sqlserver://" + g.one("sql01", "db.corp") + ":1433;databaseName=" + g.one("Sales", "HR") + ";user=" + g.one("sa", "report") + ";password=", ";encrypt=true"
	case 7:
		pw := g.password()
		return dval{"secret", "libpq-kv", pw, false}, "host=" + g.one("pg1", "db") + " port=5432 user=" + g.one("app", "etl") + " password=", " dbname=" + g.one("orders", "core")
	}
	pw := g.password()
	return dval{"secret", "prose", pw, false}, g.one("the root password is ", "log in with passphrase ", "the admin pass is now ", "new password: ", "the staging API key is "), g.one(" (rotate it monday)", ", do not share", "")
}

// decoy returns a look-alike of kind and a key it would sit under.
func (g *dgen) decoy() (dval, string) {
	switch g.n(16) {
	case 0:
		d := withLuhn("4" + g.num(14))
		bad := d[:15] + string(rune('0'+(int(d[15]-'0')+1+g.n(8))%10))
		return dval{"card", "bad-luhn", groups(bad, []int{4, 4, 4, 4}, g.one(" ", "-", "")), false}, g.one("order_id", "reference")
	case 1:
		return dval{"card", "tracking", "1Z" + g.from(6, "ABCDEFGHJKLMNPRSTUVWXYZ0123456789") + g.num(10), false}, "tracking"
	case 2:
		return dval{"ssn", "invalid-area", g.one("000", "666", "9"+g.num(2)) + "-" + g.num(2) + "-" + fmt.Sprintf("%04d", 1+g.n(9999)), false}, g.one("ticket", "case_ref")
	case 3:
		return dval{"ssn", "zip4", fmt.Sprintf("%05d-%04d", 10000+g.n(89999), g.n(10000)), false}, "zip"
	case 4:
		return dval{"phone", "isbn", "978-" + g.one("3", "0", "1") + "-" + g.num(3) + "-" + g.num(5) + "-" + g.num(1), false}, "isbn"
	case 5:
		return dval{"phone", "timestamp", "17" + g.num(8), false}, g.one("created", "ts")
	case 6:
		return dval{"phone", "invoice", "INV-" + g.one("2023", "2024") + "-" + g.num(6), false}, "invoice"
	case 7:
		return dval{"ip", "version", fmt.Sprintf("%d.%d.%d.%d", 1+g.n(12), g.n(30), g.n(20000), g.n(9999)), false}, g.one("version", "build")
	case 8:
		return dval{"ip", "oid", "1.3.6.1.4.1." + g.num(5), false}, "oid"
	case 9:
		return dval{"secret", "git-sha", g.from(40, lowerHx), false}, g.one("commit", "sha")
	case 10:
		return dval{"secret", "uuid", fmt.Sprintf("%s-%s-4%s-a%s-%s", g.from(8, lowerHx), g.from(4, lowerHx), g.from(3, lowerHx), g.from(3, lowerHx), g.from(12, lowerHx)), false}, g.one("request_id", "trace_id")
	case 11:
		return dval{"secret", "placeholder", g.one("${DB_PASSWORD}", "your-api-key-here", "changeme", "********", "REDACTED_BY_USER", "ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"), false}, g.one("password", "api_key")
	case 12:
		bban := g.num(18)
		good := ibanFor("DE", bban)[2:4]
		bad := good
		for bad == good {
			bad = fmt.Sprintf("%02d", 2+g.n(97))
		}
		return dval{"iban", "bad-check", "DE" + bad + bban, false}, g.one("ref", "account_ref")
	case 13:
		return dval{"email", "handle", "@" + g.one("maria_k", "jonas.dev", "ops-team"), false}, "handle"
	case 14:
		return dval{"card", "sku-ean", ean13(g.num(12)), false}, "sku"
	}
	return dval{"ip", "coords", fmt.Sprintf("%d.%06d, %d.%06d", 40+g.n(20), g.n(999999), g.n(30), g.n(999999)), false}, "location"
}

func ean13(d string) string {
	sum := 0
	for i, c := range d {
		w := 1
		if i%2 == 1 {
			w = 3
		}
		sum += int(c-'0') * w
	}
	return d + string(rune('0'+(10-sum%10)%10))
}

var keysFor = map[string][]string{
	"card":   {"card_number", "pan", "cc", "creditCard", "payment_card", "Kartennummer"},
	"ssn":    {"ssn", "social_security_number", "SSN", "taxpayer_ssn", "employeeSSN"},
	"email":  {"email", "contact_email", "mail", "e-mail", "userEmail"},
	"phone":  {"phone", "mobile", "telefon", "tel", "phone_number", "contactPhone", "fax"},
	"iban":   {"iban", "account_iban", "bank_account", "IBAN"},
	"ip":     {"client_ip", "remote_addr", "ip", "source_address", "x_forwarded_for"},
	"secret": {"password", "api_key", "secret", "db_password", "client_secret", "dsn", "connection_string"},
}

// textLead is the context words prose puts before a value.
func (g *dgen) textLead(kind string) string {
	switch kind {
	case "card":
		return g.one("charged to card ", "card on file: ", "Kreditkarte ", "paid with ")
	case "ssn":
		return g.one("SSN ", "social security no. ", "her SSN is ")
	case "email":
		return g.one("write to ", "contact: ", "sent a copy to ", "")
	case "phone":
		return g.one("call ", "Tel. ", "phone: ", "reach her on ", "mobile ", "Telefon: ")
	case "iban":
		return g.one("IBAN ", "refund to ", "account ")
	case "ip":
		return g.one("login from ", "client ", "blocked ")
	}
	return ""
}

// item is one value in a document: what to write and what is labelled.
type item struct {
	v         dval
	pre, post string // around the value, part of the field (connection strings)
	key       string
	decoy     bool
}

func (g *dgen) items(ctx string) []item {
	var out []item
	for range 1 + g.n(3) {
		kind := DocKinds[g.n(len(DocKinds))]
		it := item{key: keysFor[kind][g.n(len(keysFor[kind]))]}
		switch kind {
		case "card":
			it.v = g.cardVal()
		case "ssn":
			it.v = g.ssnVal(true)
		case "email":
			it.v = g.emailVal(ctx)
		case "phone":
			it.v = g.phoneVal()
		case "iban":
			it.v = g.ibanVal()
		case "ip":
			it.v = g.ipVal()
		case "secret":
			it.v, it.pre, it.post = g.secretVal()
			switch {
			case it.v.shape == "mysql-dsn" || it.v.shape == "mongodb-srv" || it.v.shape == "jdbc" || it.v.shape == "libpq-kv":
				it.key = g.one("dsn", "database_url", "conn", "datasource")
			case it.v.shape == "prose":
				it.key = g.one("note", "comment", "message")
			}
		}
		out = append(out, it)
	}
	for range 1 + g.n(2) {
		d, k := g.decoy()
		out = append(out, item{v: d, key: k, decoy: true})
	}
	g.r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

func (it item) field() string { return it.pre + it.v.text + it.post }

func jsonStr(s string) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(s)
	return strings.TrimSuffix(b.String(), "\n")
}

func title(s string) string {
	ws := strings.Fields(s)
	for i, w := range ws {
		ws[i] = strings.ToUpper(w[:1]) + w[1:]
	}
	return strings.Join(ws, " ")
}

func xmlEsc(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}

func xmlName(k string) string { return strings.NewReplacer("-", "_").Replace(k) }

// render writes the items as one document of ctx in template variant t.
// It returns "" when the items do not fit the template.
func (g *dgen) render(ctx string, t int, its []item) string {
	var b strings.Builder
	user := g.one("u-1042", "acct-77", "c_9x2", "7731")
	switch ctx {
	case "text":
		for i, it := range its {
			if i > 0 {
				b.WriteString(g.one(" Also, ", ". Then ", "; ", ".\n"))
			}
			lead := ""
			if !it.decoy && it.pre == "" {
				lead = g.textLead(it.v.kind)
			} else if it.decoy {
				lead = it.key + " "
			}
			if t == 1 && it.v.kind == "email" && !it.decoy && strings.Contains(it.v.text, "%40") {
				lead = "see https://crm.example.com/search?q=" // an encoded address in a URL
			}
			if t == 2 {
				lead = strings.ToUpper(lead[:min(1, len(lead))]) + lead[min(1, len(lead)):]
			}
			b.WriteString(lead + it.field())
		}
		b.WriteString(".")
	case "json":
		ind := ""
		if t != 1 {
			ind = "  "
		}
		b.WriteString("{")
		if ind != "" {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, `%s"id": %s,`, ind, jsonStr(user))
		if t == 2 {
			b.WriteString(` "data": {"records": [{`)
		}
		for i, it := range its {
			if i > 0 {
				b.WriteString(",")
			}
			if ind != "" && t != 2 {
				b.WriteString("\n" + ind)
			} else {
				b.WriteString(" ")
			}
			if it.v.number && g.n(2) == 0 {
				fmt.Fprintf(&b, "%s: %s", jsonStr(it.key), it.v.text)
			} else {
				fmt.Fprintf(&b, "%s: %s", jsonStr(it.key), jsonStr(it.field()))
			}
		}
		if t == 2 {
			b.WriteString("}]}")
		}
		if ind != "" {
			b.WriteString("\n")
		}
		b.WriteString("}")
	case "xml":
		b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n<response><customer id=\"" + user + "\">\n")
		for _, it := range its {
			switch {
			case t == 1:
				fmt.Fprintf(&b, "  <attr name=\"%s\" value=\"%s\"/>\n", it.key, xmlEsc(it.field()))
			case t == 2 && !strings.ContainsAny(it.field(), "\"&<>"):
				fmt.Fprintf(&b, "  <field %s=\"%s\"/>\n", xmlName(it.key), it.field())
			default:
				fmt.Fprintf(&b, "  <%s>%s</%s>\n", xmlName(it.key), xmlEsc(it.field()), xmlName(it.key))
			}
		}
		b.WriteString("</customer></response>")
	case "csv", "sql", "markdown":
		sep := ","
		switch {
		case ctx == "csv" && t == 1:
			sep = "\t"
		case ctx == "csv" && t == 2:
			sep = ";"
		case ctx != "csv":
			sep = " | "
		}
		hdr := []string{"id"}
		for _, it := range its {
			hdr = append(hdr, it.key)
		}
		cells := func(row []string) string {
			if ctx == "markdown" {
				return "| " + strings.Join(row, " | ") + " |"
			}
			if ctx == "sql" {
				return " " + strings.Join(row, " | ")
			}
			for i, c := range row {
				if strings.ContainsAny(c, sep+"\"") {
					row[i] = `"` + strings.ReplaceAll(c, `"`, `""`) + `"`
				}
			}
			return strings.Join(row, sep)
		}
		b.WriteString(cells(hdr) + "\n")
		switch ctx {
		case "markdown":
			b.WriteString("|" + strings.Repeat("---|", len(hdr)) + "\n")
		case "sql":
			b.WriteString(strings.Repeat("-", 10*len(hdr)) + "\n")
		}
		row := []string{user}
		for _, it := range its {
			row = append(row, it.field())
		}
		b.WriteString(cells(row) + "\n")
		if ctx == "sql" {
			b.WriteString("(1 row)\n")
		}
	case "yaml":
		b.WriteString("customer:\n  id: " + user + "\n")
		if t == 1 {
			b.WriteString("  contacts:\n")
		}
		for _, it := range its {
			ind := "  "
			if t == 1 {
				ind = "    - "
			}
			v := it.field()
			if t == 2 || strings.ContainsAny(v, ":#{}[]&*!|>'%@`") {
				v = jsonStr(v)
			}
			fmt.Fprintf(&b, "%s%s: %s\n", ind, it.key, v)
		}
	case "log":
		ts := fmt.Sprintf("2025-0%d-1%dT0%d:1%d:2%d.%03dZ", 1+g.n(9), g.n(10), g.n(10), g.n(10), g.n(10), g.n(1000))
		for _, it := range its {
			switch t {
			case 1:
				fmt.Fprintf(&b, "%s [%s] %s: %s\n", ts, g.one("audit", "worker-3"), it.key, it.field())
			case 2:
				fmt.Fprintf(&b, "{\"ts\":%s,\"level\":\"info\",%s:%s}\n", jsonStr(ts), jsonStr(it.key), jsonStr(it.field()))
			default:
				v := it.field()
				if strings.ContainsAny(v, " ") {
					v = jsonStr(v)
				}
				fmt.Fprintf(&b, "time=%s level=%s user=%s %s=%s\n", ts, g.one("info", "warn"), user, strings.ReplaceAll(it.key, "-", "_"), v)
			}
		}
	case "http":
		b.WriteString(g.one("HTTP/1.1 200 OK\n", "< HTTP/2 401\n", "GET /v1/me HTTP/1.1\n"))
		for _, it := range its {
			name := "X-" + strings.ReplaceAll(strings.ReplaceAll(title(strings.NewReplacer("_", " ", "-", " ").Replace(it.key)), " ", "-"), "--", "-")
			switch {
			case t == 1 && !it.decoy && it.v.kind == "secret" && it.pre == "" && it.v.shape != "prose":
				name = g.one("Authorization: Bearer", "X-Api-Key:", "Cookie: session=")
				fmt.Fprintf(&b, "%s %s\n", strings.TrimSuffix(name, ":"), it.field())
				continue
			case t == 2:
				fmt.Fprintf(&b, "< %s: %s\n", strings.ToLower(name), it.field())
				continue
			}
			fmt.Fprintf(&b, "%s: %s\n", name, it.field())
		}
	}
	return b.String()
}

// GenerateDocs returns the document corpus split: "tune" or "heldout".
func GenerateDocs(split string) []Doc {
	seed := uint64(0x7e57_d0c5)
	switch split {
	case "heldout":
		seed = 0x4e1d_0a7f
	case "probe":
		seed = probeSeed
	}
	g := &dgen{r: rand.New(rand.NewPCG(seed, 0x51))}
	var out []Doc
	for _, ctx := range DocContexts {
		for i := 0; i < 90; i++ {
			t := g.n(3)
			if split == "tune" && t == 2 {
				t = g.n(2) // template 2 is held out
			}
			its := g.items(ctx)
			text := g.render(ctx, t, its)
			d := Doc{ID: fmt.Sprintf("%s-%s-%03d", split, ctx, i), Split: split, Context: ctx, Text: text, Values: []Value{}, Decoys: []Value{}}
			for _, it := range its {
				v := Value{Kind: it.v.kind, Shape: it.v.shape, Text: it.v.text}
				if it.decoy {
					d.Decoys = append(d.Decoys, v)
				} else {
					d.Values = append(d.Values, v)
				}
			}
			out = append(out, d)
		}
	}
	return out
}

// probeSeed seeds the "probe" split: a throwaway split for development,
// neither committed nor held to the bar. AIRLOCK_MASKING_PROBE_SEED=N
// makes TestDocumentCorpus score (and show) it instead of tune and
// heldout.
var probeSeed uint64 = 0x9999
