package unseen

import (
	"fmt"
	"math/rand/v2"
	"net/url"
	"strings"
)

// Item is one labelled value in a document.
type Item struct {
	Kind, Shape, Context string
	// KeyClass is "telling" (the key names the kind), "generic" (it does
	// not) or "none" (prose, access-log client address).
	KeyClass string
	Key      string
	Neg      bool
	// Enc is the value exactly as written in the document (escaped as the
	// context escapes it).
	Enc string
	// Checks are raw strings that must not survive (positives only).
	Checks     []string
	DigitsNorm bool
}

// Doc is one generated document.
type Doc struct {
	ID      int
	Context string
	JSON    bool // masked through the JSON path
	Text    string
	Items   []Item
}

// Contexts lists the document contexts in report order.
var Contexts = []string{
	"json_string", "json_nested_array", "json_number", "json_uescape", "ndjson",
	"xml_element", "xml_attribute", "csv", "tsv", "markdown_table", "yaml",
	"logfmt", "kv_log", "access_log", "prose", "http_headers", "url_query",
	"html_entities", "dotenv", "psql_table", "psql_expanded", "sql_insert",
	"exception", "log_embedded_json",
}

func isJSONContext(c string) bool {
	switch c {
	case "json_string", "json_nested_array", "json_number", "json_uescape", "ndjson":
		return true
	}
	return false
}

var tellingKeys = map[string][]string{
	"card":          {"card_number", "pan", "ccnum", "paymentCard", "card"},
	"ssn":           {"ssn", "social_security_no", "taxpayerSSN", "SSN", "socialSecurityNumber"},
	"email":         {"email", "contact_email", "e_mail", "notify_to"},
	"phone":         {"phone", "tel", "mobile", "telefon", "contact_number", "fax", "msisdn", "phoneNumber", "Telefonnummer", "celular", "mobile-phone"},
	"iban":          {"iban", "bank_account", "IBAN", "payout_account"},
	"ip":            {"client_ip", "remote_addr", "ip", "source_address"},
	"aws_key":       {"aws_access_key_id", "AccessKeyId"},
	"secret":        {"aws_secret_access_key", "SecretAccessKey"},
	"github":        {"token", "gh_token", "GITHUB_TOKEN"},
	"slack":         {"slack_token", "webhook_url", "SLACK_BOT_TOKEN"},
	"stripe":        {"stripe_key", "STRIPE_SECRET_KEY", "sk"},
	"jwt":           {"id_token", "jwt", "access_token"},
	"private_key":   {"private_key", "ssh_key", "tls_key"},
	"conn_password": {"database_url", "dsn", "DATABASE_URL", "connection_string", "REDIS_URL"},
	"gitlab":        {"gitlab_token", "CI_JOB_TOKEN_OVERRIDE", "token"},
	"other_secret":  {"api_key", "credentials"},
	"basic_auth":    {"Authorization", "authorization"},
	"named_secret":  {"password", "db_password", "client_secret", "api_key", "X-Api-Key", "secret", "passphrase"},
	"bearer":        {"Authorization", "authorization", "Proxy-Authorization"},
}

var genericKeys = []string{"value", "note", "details", "field_3", "data", "comment", "attr"}

func needsKey(s shape) bool {
	switch s.kind {
	case "ssn":
		return strings.HasPrefix(s.name, "bare")
	case "phone":
		return !strings.HasPrefix(s.name, "E.164")
	case "secret", "bearer", "basic_auth", "named_secret":
		return true
	}
	return false
}

func compatible(s shape, ctx string) bool {
	if s.multiline {
		switch ctx {
		case "json_string", "json_nested_array", "yaml", "prose", "xml_element", "ndjson", "sql_insert":
			return true
		}
		return false
	}
	if ctx == "json_number" {
		return s.numeric
	}
	if ctx == "url_query" || ctx == "access_log" {
		return s.kind != "conn_password"
	}
	if (s.kind == "bearer" || s.kind == "basic_auth") && (ctx == "url_query" || ctx == "access_log") {
		return false
	}
	if s.kind == "bearer" && (ctx == "csv" || ctx == "tsv" || ctx == "markdown_table") {
		return false
	}
	return true
}

type field struct {
	key, val string
	num      bool
	item     int // index into doc.Items, -1 for filler
}

// Generate builds the corpus deterministically from seed.
func Generate(seed uint64) []Doc {
	g := &gen{r: rand.New(rand.NewPCG(seed, seed^0x9E3779B97F4A7C15))}
	sh := shapes()
	negs := negShapes()
	var docs []Doc
	negIdx := 0
	keyIdx := 0
	// Every shape in every context that can hold it: a class (kind, shape,
	// context) is then one document, and a shape's misses across contexts
	// say whether the shape or the context is the problem.
	for _, s := range sh {
		for _, ctx := range Contexts {
			if !compatible(s, ctx) {
				continue
			}
			written, extra := s.make(g)
			key, keyClass := "", "telling"
			tk := tellingKeys[s.kind]
			if s.keys != nil {
				tk = s.keys
			}
			keyIdx++
			if !needsKey(s) && g.n(4) == 0 {
				key, keyClass = genericKeys[g.n(len(genericKeys))], "generic"
			} else {
				key = tk[keyIdx%len(tk)]
			}
			if ctx == "prose" || (ctx == "access_log" && s.kind == "ip") {
				keyClass = "none"
			}
			val := written
			if ctx == "json_number" {
				// A stored integer has lost any leading zeros.
				val = strings.TrimLeft(written, "0")
				extra = append(extra, val)
			}
			if s.kind == "bearer" && ctx != "url_query" && ctx != "access_log" {
				val = g.pick("Bearer ", "Bearer ", "bearer ") + written
			}
			if s.kind == "bearer" && (ctx == "url_query" || ctx == "access_log") {
				key = "access_token"
			}
			pos := Item{Kind: s.kind, Shape: s.name, Context: ctx, KeyClass: keyClass, Key: key,
				Checks: append(append([]string(nil), extra...), written), DigitsNorm: s.digitsNorm}
			d := Doc{ID: len(docs), Context: ctx, JSON: isJSONContext(ctx)}
			d.Items = append(d.Items, pos)
			fs := []field{{key: key, val: val, num: ctx == "json_number", item: 0}}
			if len(docs)%2 == 0 {
				n := negs[negIdx%len(negs)]
				negIdx++
				nk := n.keys[g.n(len(n.keys))]
				if nk == key {
					nk = "ref_" + nk
				}
				d.Items = append(d.Items, Item{Kind: "negative", Shape: n.name, Context: ctx, Key: nk, KeyClass: "telling", Neg: true})
				fs = append(fs, field{key: nk, val: n.make(g), item: 1})
			}
			render(g, &d, fs, s)
			docs = append(docs, d)
		}
	}
	return docs
}

var fillerNames = []string{"Dana Whitfield", "Kenji Mori", "Amara Okafor", "Luis Ortega", "Freya Lindqvist", "Priya Raman"}

func render(g *gen, d *Doc, fs []field, s shape) {
	// Shuffle field order a little (positive first or second).
	if len(fs) == 2 && g.n(2) == 0 {
		fs[0], fs[1] = fs[1], fs[0]
	}
	var b strings.Builder
	set := func(f field, enc string) {
		if f.item >= 0 {
			d.Items[f.item].Enc = enc
		}
	}
	name := fillerNames[g.n(len(fillerNames))]
	id := 1000 + g.n(9000)
	switch d.Context {
	case "json_string":
		fmt.Fprintf(&b, `{"id":%d,"name":%s,"status":"active"`, id, jsonStr(name))
		for _, f := range fs {
			e := jsonStr(f.val)
			set(f, e)
			fmt.Fprintf(&b, `,%s:%s`, jsonStr(f.key), e)
		}
		b.WriteString("}\n")
	case "json_nested_array", "json_number":
		fmt.Fprintf(&b, "{\n  \"data\": {\n    \"page\": 1,\n    \"results\": [\n      {\"id\": %d, \"name\": %s},\n      {\n        \"id\": %d,\n        \"profile\": {\n", id, jsonStr(fillerNames[0]), id+1)
		for i, f := range fs {
			e := jsonStr(f.val)
			if f.num {
				e = f.val
			}
			set(f, e)
			sep := ","
			if i == len(fs)-1 {
				sep = ""
			}
			fmt.Fprintf(&b, "          %s: %s%s\n", jsonStr(f.key), e, sep)
		}
		b.WriteString("        },\n        \"tags\": [\"vip\", \"eu\"]\n      }\n    ]\n  }\n}\n")
	case "json_uescape":
		fmt.Fprintf(&b, `{"event":"profile.updated","actor":%s`, jsonStr(name))
		for _, f := range fs {
			e := jsonStr(f.val)
			if !f.isNeg(d) {
				e = uescape(f.val)
			}
			set(f, e)
			fmt.Fprintf(&b, `,%s:%s`, jsonStr(f.key), e)
		}
		b.WriteString("}\n")
	case "ndjson":
		fmt.Fprintf(&b, `{"seq":1,"level":"info","msg":"batch start"}`+"\n")
		fmt.Fprintf(&b, `{"seq":2,"level":"info","user":%s`, jsonStr(name))
		for _, f := range fs {
			e := jsonStr(f.val)
			set(f, e)
			fmt.Fprintf(&b, `,%s:%s`, jsonStr(f.key), e)
		}
		b.WriteString("}\n")
		b.WriteString(`{"seq":3,"level":"info","msg":"batch done","n":2}` + "\n")
	case "xml_element":
		fmt.Fprintf(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<response>\n  <customer id=\"%d\">\n    <fullName>%s</fullName>\n", id, name)
		for _, f := range fs {
			e := xmlEsc(f.val, false)
			set(f, e)
			fmt.Fprintf(&b, "    <%s>%s</%s>\n", xmlName(f.key), e, xmlName(f.key))
		}
		b.WriteString("  </customer>\n</response>\n")
	case "xml_attribute":
		b.WriteString("<?xml version=\"1.0\"?>\n<records>\n")
		fmt.Fprintf(&b, "  <record id=\"%d\" status=\"ok\"/>\n  <record id=\"%d\"", id, id+1)
		for _, f := range fs {
			e := xmlEsc(f.val, true)
			set(f, e)
			fmt.Fprintf(&b, " %s=\"%s\"", xmlName(f.key), e)
		}
		b.WriteString(" status=\"review\"/>\n</records>\n")
	case "csv", "tsv":
		sep := ","
		if d.Context == "tsv" {
			sep = "\t"
		}
		cols := []string{"id", "name"}
		for _, f := range fs {
			cols = append(cols, f.key)
		}
		cols = append(cols, "status")
		b.WriteString(strings.Join(cols, sep) + "\n")
		fmt.Fprintf(&b, "%d%s%s%s", id-1, sep, csvCell(fillerNames[1], sep), sep)
		b.WriteString(strings.Repeat(sep, len(fs)) + "closed\n")
		row := []string{fmt.Sprint(id), csvCell(name, sep)}
		for _, f := range fs {
			e := csvCell(f.val, sep)
			set(f, e)
			row = append(row, e)
		}
		row = append(row, "open")
		b.WriteString(strings.Join(row, sep) + "\n")
	case "markdown_table":
		cols := []string{"id", "name"}
		for _, f := range fs {
			cols = append(cols, f.key)
		}
		b.WriteString("Results for the query:\n\n| " + strings.Join(cols, " | ") + " |\n|" + strings.Repeat("---|", len(cols)) + "\n")
		row := []string{fmt.Sprint(id), name}
		for _, f := range fs {
			e := strings.ReplaceAll(f.val, "|", `\|`)
			set(f, e)
			row = append(row, e)
		}
		b.WriteString("| " + strings.Join(row, " | ") + " |\n")
	case "yaml":
		fmt.Fprintf(&b, "apiVersion: v1\nkind: CustomerRecord\nmetadata:\n  name: rec-%d\nspec:\n  owner: %s\n  contact:\n", id, name)
		for _, f := range fs {
			if strings.Contains(f.val, "\n") {
				fmt.Fprintf(&b, "    %s: |\n", f.key)
				block := "      " + strings.ReplaceAll(f.val, "\n", "\n      ")
				set(f, block)
				b.WriteString(block + "\n")
				continue
			}
			e := yamlScalar(f.val)
			set(f, e)
			fmt.Fprintf(&b, "    %s: %s\n", f.key, e)
		}
		b.WriteString("  retention: 30d\n")
	case "logfmt":
		fmt.Fprintf(&b, "time=2026-11-30T08:14:%02dZ level=info component=sync msg=\"started\"\n", g.n(60))
		fmt.Fprintf(&b, "time=2026-11-30T08:15:%02dZ level=warn component=sync msg=\"record mismatch\" record=%d", g.n(60), id)
		for _, f := range fs {
			e := logfmtVal(f.val)
			set(f, e)
			fmt.Fprintf(&b, " %s=%s", f.key, e)
		}
		b.WriteString("\n")
	case "kv_log":
		fmt.Fprintf(&b, "2026-11-30 08:15:%02d,%03d INFO  [worker-%d] sync.Customer - loaded record %d\n", g.n(60), g.n(1000), g.n(8), id)
		for _, f := range fs {
			set(f, f.val)
			fmt.Fprintf(&b, "2026-11-30 08:15:%02d,%03d DEBUG [worker-%d] sync.Customer - %s: %s\n", g.n(60), g.n(1000), g.n(8), f.key, f.val)
		}
	case "access_log":
		client := fmt.Sprintf("198.18.%d.%d", g.n(255), 1+g.n(250)) // benchmarking range, not labelled
		var q []string
		for _, f := range fs {
			if f.item == 0 && s.kind == "ip" {
				client = f.val
				set(f, f.val)
				continue
			}
			e := url.QueryEscape(f.val)
			set(f, e)
			q = append(q, f.key+"="+e)
		}
		path := "/api/v2/" + g.pick("customers/lookup", "checkout/confirm", "export")
		if len(q) > 0 {
			path += "?" + strings.Join(q, "&")
		}
		fmt.Fprintf(&b, "%s - - [30/Nov/2026:08:15:%02d +0000] \"GET %s HTTP/1.1\" %d %d \"-\" \"Mozilla/5.0 (X11; Linux x86_64) Firefox/132.0\"\n", client, g.n(60), path, g.pick2(200, 302, 404), 200+g.n(5000))
	case "prose":
		var parts []string
		parts = append(parts, g.pick("Hi team,", "Update from support:", "Note for the on-call:"))
		for _, f := range fs {
			set(f, f.val)
			if f.isNeg(d) {
				parts = append(parts, fmt.Sprintf("The %s is %s.", strings.ReplaceAll(f.key, "_", " "), f.val))
				continue
			}
			parts = append(parts, fmt.Sprintf(proseTemplate(g, s), f.val))
		}
		parts = append(parts, g.pick("Thanks!", "Let me know if anything is unclear.", "-- "+name))
		b.WriteString(strings.Join(parts, " ") + "\n")
	case "http_headers":
		pre := g.pick("", "< ")
		fmt.Fprintf(&b, "%sHTTP/1.1 200 OK\n%sDate: Mon, 30 Nov 2026 08:15:%02d GMT\n%sContent-Type: application/json\n", pre, pre, g.n(60), pre)
		for _, f := range fs {
			set(f, f.val)
			fmt.Fprintf(&b, "%s%s: %s\n", pre, headerName(f.key), f.val)
		}
		fmt.Fprintf(&b, "%s\n{\"ok\":true}\n", strings.TrimSpace(pre))
	case "url_query":
		var q []string
		for _, f := range fs {
			e := url.QueryEscape(f.val)
			set(f, e)
			q = append(q, f.key+"="+e)
		}
		fmt.Fprintf(&b, "redirecting to https://portal.%s/v1/verify?%s&lang=en\n", g.pick("northwind.io", "acme-health.com"), strings.Join(q, "&"))
	case "html_entities":
		b.WriteString("<table class=\"profile\">\n")
		fmt.Fprintf(&b, "  <tr><th>Name</th><td>%s</td></tr>\n", name)
		for _, f := range fs {
			e := htmlEnc(g, f.val)
			if f.isNeg(d) {
				e = xmlEsc(f.val, false)
			}
			set(f, e)
			fmt.Fprintf(&b, "  <tr><th>%s</th><td>%s</td></tr>\n", f.key, e)
		}
		b.WriteString("</table>\n")
	case "psql_table":
		cols := []string{"id", "name"}
		row := []string{fmt.Sprint(id), name}
		for _, f := range fs {
			cols = append(cols, f.key)
			row = append(row, f.val)
		}
		w := make([]int, len(cols))
		for i := range cols {
			w[i] = max(len(cols[i]), len(row[i]))
		}
		var hdr, rule, line []string
		for i := range cols {
			hdr = append(hdr, " "+cols[i]+strings.Repeat(" ", w[i]-len(cols[i]))+" ")
			rule = append(rule, strings.Repeat("-", w[i]+2))
			line = append(line, " "+row[i]+strings.Repeat(" ", w[i]-len(row[i]))+" ")
		}
		for _, f := range fs {
			set(f, f.val)
		}
		b.WriteString(strings.Join(hdr, "|") + "\n" + strings.Join(rule, "+") + "\n" + strings.Join(line, "|") + "\n(1 row)\n")
	case "psql_expanded":
		b.WriteString("-[ RECORD 1 ]-------------------------\n")
		w := 4
		for _, f := range fs {
			w = max(w, len(f.key))
		}
		fmt.Fprintf(&b, "%-*s | %d\n%-*s | %s\n", w, "id", id, w, "name", name)
		for _, f := range fs {
			set(f, f.val)
			fmt.Fprintf(&b, "%-*s | %s\n", w, f.key, f.val)
		}
	case "sql_insert":
		cols := []string{"id", "full_name"}
		vals := []string{fmt.Sprint(id), "'" + name + "'"}
		for _, f := range fs {
			e := strings.ReplaceAll(f.val, "'", "''")
			set(f, e)
			cols = append(cols, strings.ToLower(f.key))
			vals = append(vals, "'"+e+"'")
		}
		fmt.Fprintf(&b, "-- dump of table customers\nINSERT INTO customers (%s) VALUES (%s);\n", strings.Join(cols, ", "), strings.Join(vals, ", "))
	case "exception":
		var f field
		for _, x := range fs {
			if !x.isNeg(d) {
				f = x
			}
		}
		set(f, f.val)
		fmt.Fprintf(&b, "Traceback (most recent call last):\n  File \"/srv/app/sync.py\", line %d, in push\n    client.update(record)\n", 40+g.n(200))
		fmt.Fprintf(&b, "app.errors.ValidationError: field %s rejected value '%s' (record %d)\n", f.key, f.val, id)
		for _, x := range fs {
			if x.isNeg(d) {
				set(x, x.val)
				fmt.Fprintf(&b, "  context: %s=%s\n", x.key, x.val)
			}
		}
	case "log_embedded_json":
		var parts []string
		for _, f := range fs {
			e := jsonStr(f.val)
			set(f, e)
			parts = append(parts, jsonStr(f.key)+":"+e)
		}
		fmt.Fprintf(&b, "2026-11-30T08:15:%02d.%03dZ WARN webhook delivery failed status=422 payload={\"id\":%d,%s} retry_in=30s\n", g.n(60), g.n(1000), id, strings.Join(parts, ","))
	case "dotenv":
		b.WriteString("# generated by deploy tooling\nNODE_ENV=production\n")
		for _, f := range fs {
			e := f.val
			if strings.ContainsAny(e, " #\"'") {
				e = `"` + strings.ReplaceAll(e, `"`, `\"`) + `"`
			}
			set(f, e)
			fmt.Fprintf(&b, "%s=%s\n", strings.ToUpper(strings.ReplaceAll(f.key, "-", "_")), e)
		}
		b.WriteString("LOG_LEVEL=info\n")
	}
	d.Text = b.String()
}

func (f field) isNeg(d *Doc) bool { return f.item >= 0 && d.Items[f.item].Neg }

func proseTemplate(g *gen, s shape) string {
	t := map[string][]string{
		"card":          {"The customer read out card %s over the phone, please void it.", "We charged %s twice, refund one of them.", "Payment failed for the card on file (%s)."},
		"ssn":           {"Her social security number is %s.", "SSN on the W-2 is %s, please double check.", "Identity verified with SSN %s before releasing the file."},
		"email":         {"Forward the thread to %s when done.", "Bounce from <%s>: mailbox full.", "Please cc %s on the renewal."},
		"phone":         {"Call me back on %s after 5pm.", "Mobile: %s", "You can reach the front desk at %s.", "Tel. %s (ask for Sam)."},
		"iban":          {"Please wire the deposit to IBAN %s by Friday.", "Payout account changed to %s yesterday."},
		"ip":            {"The login from %s was blocked by the WAF.", "An ssh session from %s was closed after 3 failed attempts."},
		"aws_key":       {"We rotated the leaked access key %s this morning.", "CloudTrail shows calls signed with %s."},
		"secret":        {"The AWS secret access key is %s, rotate it after the demo."},
		"github":        {"Someone pasted %s into the issue tracker.", "CI still uses %s, revoke it."},
		"slack":         {"The bot token %s was revoked.", "Alerts post to %s now."},
		"stripe":        {"Use %s for the live account.", "Found %s in the frontend bundle!"},
		"jwt":           {"The failing request carried %s as its token.", "Decoded %s and the exp claim is in the past."},
		"private_key":   {"Here is the deploy key, keep it safe:\n%s\nthanks"},
		"conn_password": {"Connect with %s and run the migration.", "The job failed to reach %s (timeout)."},
		"gitlab":        {"The runner still authenticates with %s, rotate it.", "Leaked in the MR description: %s"},
		"other_secret":  {"Found %s hard-coded in config.js.", "The staging credentials are %s (please move them to the vault)."},
		"basic_auth":    {"Repro: curl -H 'Authorization: %s' https://registry.internal/v2/"},
		"named_secret":  {"The root password is %s, change it after the audit.", "Log in with passphrase %s and rotate it."},
		"bearer":        {"Repro: curl -H 'Authorization: %s' https://api.internal/v1/me", "The proxy logged the header Authorization: %s on the 401."},
	}[s.kind]
	return t[g.n(len(t))]
}

func jsonStr(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if r < 0x20 {
				fmt.Fprintf(&b, `\u%04x`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

// uescape writes s as a JSON string with the punctuation a serialiser may
// escape as \u00XX (or \/), and the first character escaped when there is
// no such punctuation.
func uescape(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	escaped := false
	for i, r := range s {
		switch {
		case r == '/':
			b.WriteString(`\/`)
			escaped = true
		case strings.ContainsRune("@-+&<>=:.", r):
			fmt.Fprintf(&b, `\u%04x`, r)
			escaped = true
		case r == '"':
			b.WriteString(`\"`)
		case r == '\n':
			b.WriteString(`\n`)
		case i == len(s)-1 && !escaped:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func xmlEsc(s string, attr bool) string {
	r := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")
	s = r.Replace(s)
	if attr {
		s = strings.NewReplacer(`"`, "&quot;", "\n", "&#10;").Replace(s)
	}
	return s
}

func xmlName(k string) string { return strings.ReplaceAll(k, " ", "_") }

func csvCell(s, sep string) string {
	if sep == "," && strings.ContainsAny(s, ",\"\n") {
		return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
	}
	return s
}

func yamlScalar(s string) string {
	if s == "" || strings.Contains(s, ": ") || strings.Contains(s, " #") || strings.ContainsAny(s[:1], "@!&*%{[|>'\"`#,?") {
		return `"` + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), `"`, `\"`) + `"`
	}
	return s
}

func logfmtVal(s string) string {
	if strings.ContainsAny(s, " =\"") {
		return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"`
	}
	return s
}

func headerName(k string) string {
	if strings.EqualFold(k, "authorization") || strings.EqualFold(k, "proxy-authorization") {
		return k
	}
	parts := strings.FieldsFunc(k, func(r rune) bool { return r == '_' || r == '-' })
	for i, p := range parts {
		parts[i] = strings.ToUpper(p[:1]) + p[1:]
	}
	return "X-" + strings.Join(parts, "-")
}

// htmlEnc writes s as an HTML text node the way CMSs and e-mail templates
// do: punctuation as numeric references, spaces as &nbsp;.
func htmlEnc(g *gen, s string) string {
	var b strings.Builder
	hexStyle := g.n(2) == 0
	for _, r := range s {
		switch {
		case r == '&':
			b.WriteString("&amp;")
		case r == '<':
			b.WriteString("&lt;")
		case r == '>':
			b.WriteString("&gt;")
		case r == ' ':
			b.WriteString("&nbsp;")
		case strings.ContainsRune("@-.+:/", r):
			if hexStyle {
				fmt.Fprintf(&b, "&#x%x;", r)
			} else {
				fmt.Fprintf(&b, "&#%d;", r)
			}
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
