package masking

import (
	"encoding/base64"
	"encoding/json"
	"hash/crc32"
	"strings"
	"unicode"
	"unicode/utf8"
)

// runEnd returns the end of the run of bytes accepted by ok from i, and
// stops looking after max bytes.
func runEnd(s string, i, max int, ok func(byte) bool) int {
	j := i
	for j < len(s) && j-i < max && ok(s[j]) {
		j++
	}
	return j
}

// aws proposes an AWS access key id: AKIA (long-term) or ASIA (temporary)
// and 16 upper-case letters or digits.
func (sc *scanner) aws(i int) int {
	s := sc.s
	if len(s)-i >= 39 && s[i:i+4] == "AIza" {
		// A Google API key: "AIza" and 35 base64url characters.
		e := runEnd(s, i+4, 64, isB64URL)
		if e-i == 39 && (e == len(s) || !wordAt(s, e) && s[e] != '-') {
			sc.add(i, e, Secret)
			return e
		}
		return i
	}
	if len(s)-i < 20 || (s[i:i+4] != "AKIA" && s[i:i+4] != "ASIA") {
		return i
	}
	for k := i + 4; k < i+20; k++ {
		if c := s[k]; !isDigit(c) && (c < 'A' || c > 'Z') {
			return i
		}
	}
	if i+20 < len(s) && isAlnum(s[i+20]) {
		return i
	}
	sc.add(i, i+20, AWSAccessKey)
	return i + 20
}

var gitlabPrefixes = []string{"glpat-", "gldt-", "glrt-", "glptt-", "glft-", "glimt-", "glagent-", "glcbt-", "gloas-", "glsoat-"}

// gitToken proposes GitHub tokens (ghp_, gho_, ghu_, ghs_, ghr_ and 36+
// base62 characters; github_pat_ fine-grained tokens) and GitLab tokens
// (glpat- and the other gl…- prefixes, 20+ characters).
func (sc *scanner) gitToken(i int) int {
	s := sc.s
	rest := s[i:]
	switch {
	case len(rest) >= 40 && rest[1] == 'h' && rest[3] == '_' && strings.IndexByte("pousr", rest[2]) >= 0:
		e := runEnd(s, i+4, 256, isAlnum)
		if e-(i+4) >= 36 && (e == len(s) || !isWordByte(s[e])) && (githubChecksum(s[i+4:e]) || !placeholder(s[i+4:e])) {
			sc.add(i, e, GitHubToken)
			return e
		}
	case strings.HasPrefix(rest, "github_pat_"):
		e := runEnd(s, i+11, 256, func(c byte) bool { return isAlnum(c) || c == '_' })
		if e-(i+11) >= 22 && (e == len(s) || !isAlnum(s[e])) {
			sc.add(i, e, GitHubToken)
			return e
		}
	case strings.HasPrefix(rest, "gl"):
		for _, p := range gitlabPrefixes {
			if !strings.HasPrefix(rest, p) {
				continue
			}
			b := i + len(p)
			e := runEnd(s, b, 256, func(c byte) bool { return isB64URL(c) || c == '.' })
			for e > b && s[e-1] == '.' {
				e--
			}
			if e-b >= 20 && (e == len(s) || !wordAt(s, e)) {
				sc.add(i, e, GitLabToken)
				return e
			}
		}
	}
	return i
}

// slack proposes xoxa-, xoxb-, xoxp-, xoxo-, xoxr- and xoxs- tokens.
func (sc *scanner) slack(i int) int {
	s := sc.s
	if len(s)-i < 15 || s[i+1] != 'o' || s[i+2] != 'x' || strings.IndexByte("abporse", s[i+3]) < 0 || s[i+4] != '-' {
		return i
	}
	e := runEnd(s, i+5, 512, func(c byte) bool { return isAlnum(c) || c == '-' })
	for e > i+5 && s[e-1] == '-' {
		e--
	}
	body := s[i+5 : e]
	if len(body) < 10 || !strings.ContainsAny(body, "0123456789") || (e < len(s) && wordAt(s, e)) {
		return i
	}
	sc.add(i, e, SlackToken)
	return e
}

// slackWebhook proposes, at i right after "://", a Slack incoming-webhook
// URL, hooks.slack.com/services/T…/B…/<secret>: the path is the credential
// (anyone holding it can post), so all of it after "services/" is masked.
func (sc *scanner) slackWebhook(i int) int {
	s := sc.s
	rest := s[i:]
	const host = "hooks.slack.com/services/"
	if !strings.HasPrefix(rest, host) {
		return sc.discordWebhook(i)
	}
	b := i + len(host)
	k := b
	for part := 0; part < 3; part++ {
		e := runEnd(s, k, 128, isAlnum)
		if e-k < 8 || part == 0 && s[k] != 'T' || part == 1 && s[k] != 'B' {
			return i
		}
		k = e
		if part < 2 {
			if k >= len(s) || s[k] != '/' {
				return i
			}
			k++
		}
	}
	if k < len(s) && wordAt(s, k) || placeholder(s[strings.LastIndexByte(s[b:k], '/')+b+1:k]) {
		return i
	}
	sc.add(b, k, SlackToken)
	return k
}

// discordWebhook proposes, at i right after "://", a Discord webhook URL,
// discord.com/api/webhooks/<id>/<token>: like Slack's, anyone holding
// the path can post, so the id and token are masked.
func (sc *scanner) discordWebhook(i int) int {
	s := sc.s
	rest := s[i:]
	var b int
	switch {
	case strings.HasPrefix(rest, "discord.com/api/webhooks/"):
		b = i + len("discord.com/api/webhooks/")
	case strings.HasPrefix(rest, "discordapp.com/api/webhooks/"):
		b = i + len("discordapp.com/api/webhooks/")
	default:
		return i
	}
	id := runEnd(s, b, 32, isDigit)
	if id-b < 15 || id >= len(s) || s[id] != '/' {
		return i
	}
	e := runEnd(s, id+1, 256, isB64URL)
	if e-(id+1) < 32 || e < len(s) && wordAt(s, e) || placeholder(s[id+1:e]) {
		return i
	}
	sc.add(b, e, SlackToken)
	return e
}

// stripe proposes Stripe secret and restricted keys, live or test, and
// webhook signing secrets (whsec_).
func (sc *scanner) stripe(i int) int {
	s := sc.s
	rest := s[i:]
	if strings.HasPrefix(rest, "whsec_") {
		e := runEnd(s, i+6, 256, isAlnum)
		if e-(i+6) < 24 || (e < len(s) && wordAt(s, e)) || placeholder(s[i+6:e]) {
			return i
		}
		sc.add(i, e, StripeKey)
		return e
	}
	if len(rest) < 24 || rest[1] != 'k' || rest[2] != '_' || !(strings.HasPrefix(rest[3:], "live_") || strings.HasPrefix(rest[3:], "test_")) {
		return i
	}
	e := runEnd(s, i+8, 256, isAlnum)
	if e-(i+8) < 16 || (e < len(s) && wordAt(s, e)) {
		return i
	}
	sc.add(i, e, StripeKey)
	return e
}

// vendorKey proposes secrets that a vendor marks by their prefix:
// SendGrid API keys ("SG." 22 "." 43 base64url characters), npm access
// tokens ("npm_" and 36 letters and digits), Hugging Face, Shopify,
// Anthropic, OpenAI project and PyPI tokens.
func (sc *scanner) vendorKey(i int) int {
	s := sc.s
	rest := s[i:]
	var e int
	switch {
	case len(rest) >= 69 && rest[0] == 'S' && rest[1] == 'G' && rest[2] == '.':
		m := runEnd(s, i+3, 64, isB64URL)
		if m-(i+3) != 22 || m >= len(s) || s[m] != '.' {
			return i
		}
		e = runEnd(s, m+1, 128, isB64URL)
		if e-(m+1) != 43 {
			return i
		}
	case len(rest) >= 40 && strings.HasPrefix(rest, "npm_"):
		e = runEnd(s, i+4, 64, isAlnum)
		if e-(i+4) != 36 || placeholder(s[i+4:e]) {
			return i
		}
	case len(rest) >= 37 && rest[0] == 'h' && rest[1] == 'f' && rest[2] == '_':
		// Hugging Face: "hf_" and 34 letters.
		e = runEnd(s, i+3, 64, isAlnum)
		if e-(i+3) != 34 || placeholder(s[i+3:e]) {
			return i
		}
	case len(rest) >= 38 && rest[0] == 's' && rest[1] == 'h' && rest[2] == 'p' && rest[5] == '_' && strings.Contains("at ss ca pa", rest[3:5]):
		// Shopify: shpat_, shpss_, shpca_, shppa_ and 32 hex digits.
		e = runEnd(s, i+6, 64, isHex)
		if e-(i+6) != 32 {
			return i
		}
	case len(rest) >= 40 && (strings.HasPrefix(rest, "sk-ant-") || strings.HasPrefix(rest, "sk-proj-")):
		// Anthropic and OpenAI project keys: 32 or more base64url
		// characters after the prefix.
		b := i + 7
		if rest[3] == 'p' {
			b = i + 8
		}
		e = runEnd(s, b, 256, isB64URL)
		if e-b < 32 || placeholder(s[b:e]) {
			return i
		}
	case len(rest) >= 60 && strings.HasPrefix(rest, "pypi-AgE"):
		// PyPI upload tokens: a base64url macaroon.
		e = runEnd(s, i+5, 512, isB64URL)
		if e-(i+5) < 50 {
			return i
		}
	default:
		return i
	}
	if e < len(s) && (wordAt(s, e) || s[e] == '-' || s[e] == '.' && e+1 < len(s) && isAlnum(s[e+1])) {
		return i
	}
	sc.add(i, e, Secret)
	return e
}

// jwt proposes a JSON Web Token: base64url header, payload and signature
// joined by dots, where the header decodes to a JSON object naming its
// "alg" (five parts for an encrypted token whose header has "enc").
func (sc *scanner) jwt(i int, ent Entity) int {
	s := sc.s
	if len(s)-i < 10 || s[i+1] != 'y' || s[i+2] != 'J' {
		return i
	}
	var parts [5][2]int
	k := i
	n := 0
	for n < 5 {
		e := runEnd(s, k, 1<<16, isB64URL)
		parts[n] = [2]int{k, e}
		n++
		k = e
		if k < len(s) && s[k] == '.' && n < 5 {
			k++
			continue
		}
		break
	}
	if n < 3 {
		return i
	}
	hdr := s[parts[0][0]:parts[0][1]]
	if len(hdr) > 4096 {
		return i
	}
	raw, err := base64.RawURLEncoding.DecodeString(hdr)
	if err != nil {
		return i
	}
	var h map[string]any
	if json.Unmarshal(raw, &h) != nil {
		return i
	}
	alg, _ := h["alg"].(string)
	if alg == "" {
		return i
	}
	_, encrypted := h["enc"]
	want := 3
	if encrypted {
		want = 5
	}
	if n < want {
		return i
	}
	payload := s[parts[1][0]:parts[1][1]]
	if !encrypted {
		if len(payload) < 2 {
			return i
		}
		if _, err := base64.RawURLEncoding.DecodeString(payload); err != nil {
			return i
		}
		if parts[2][1] == parts[2][0] && !strings.EqualFold(alg, "none") {
			return i
		}
	}
	end := parts[want-1][1]
	if end < len(s) && (wordAt(s, end) || s[end] == '=') {
		return i
	}
	sc.add(i, end, ent)
	return end
}

// authScheme proposes the credentials of an HTTP Authorization scheme:
// "Bearer <token>" (a JWT is reported as JWT) and "Basic <base64>", which
// must decode to printable "user:password" text.
func (sc *scanner) authScheme(i int) int {
	s := sc.s
	var basic bool
	switch {
	case hasPrefixFold(s[i:], "bearer"):
	case hasPrefixFold(s[i:], "basic"):
		basic = true
	default:
		return i
	}
	k := i + 6
	if basic {
		k = i + 5
	}
	sp := k
	for k < len(s) && k-sp < 3 && (s[k] == ' ' || s[k] == '\t') {
		k++
	}
	if k == sp || k >= len(s) {
		return i
	}
	if basic {
		e := runEnd(s, k, 1024, func(c byte) bool { return isAlnum(c) || c == '+' || c == '/' || c == '=' })
		if e-k < 8 || (e < len(s) && wordAt(s, e)) {
			return i
		}
		if !basicCredentials(s[k:e]) {
			return i
		}
		sc.add(k, e, Secret)
		return e
	}
	if end := sc.jwt(k, JWT); end > k {
		return end
	}
	e := runEnd(s, k, 4096, func(c byte) bool {
		return isAlnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/' || c == '='
	})
	for e > k && (s[e-1] == '.' || s[e-1] == '-') {
		e--
	}
	tok := s[k:e]
	if len(tok) < 12 || (e < len(s) && wordAt(s, e)) || isMaskToken(tok) || placeholder(tok) {
		return i
	}
	var digit, upper, lower bool
	for q := 0; q < len(tok); q++ {
		c := tok[q]
		digit = digit || isDigit(c)
		upper = upper || c >= 'A' && c <= 'Z'
		lower = lower || c >= 'a' && c <= 'z'
	}
	if !digit && !(upper && lower) {
		return i
	}
	sc.add(k, e, BearerToken)
	return e
}

func basicCredentials(b64 string) bool {
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		if raw, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(b64, "=")); err != nil {
			return false
		}
	}
	if len(raw) < 3 || !utf8.Valid(raw) {
		return false
	}
	colon := strings.IndexByte(string(raw), ':')
	if colon <= 0 || colon == len(raw)-1 {
		return false
	}
	for _, r := range string(raw) {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// ibanLengths is the IBAN length of each country in the SWIFT registry.
var ibanLengths = map[string]int{
	"AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
	"BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27,
	"DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27,
	"GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HN": 28, "HR": 21, "HU": 28,
	"IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28,
	"LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22,
	"MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23,
	"PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24,
	"SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28,
	"TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}

// iban proposes an IBAN at i, compact or printed in groups of four: the
// country's registered length and a mod-97 check of 1.
func (sc *scanner) iban(i int) int {
	s := sc.s
	cc := strings.ToUpper(s[i : i+2])
	want := ibanLengths[cc]
	if want == 0 {
		return i
	}
	var buf [34]byte
	count := 0
	grouped := false
	j := i
	for j < len(s) && count < want {
		c := s[j]
		if isAlnum(c) {
			if grouped && count%4 == 0 && s[j-1] != ' ' {
				return i
			}
			if c >= 'a' && c <= 'z' {
				c -= 'a' - 'A'
			}
			buf[count] = c
			count++
			j++
			continue
		}
		if c == ' ' && count%4 == 0 && j+1 < len(s) && isAlnum(s[j+1]) && (grouped || count == 4) {
			grouped = true
			j++
			continue
		}
		break
	}
	if count != want || (j < len(s) && (wordAt(s, j) || s[j] == '*')) {
		return i
	}
	if !ibanChecksum(buf[:count]) {
		return i
	}
	sc.add(i, j, IBAN)
	return j
}

func ibanChecksum(b []byte) bool {
	r := 0
	step := func(c byte) {
		if isDigit(c) {
			r = (r*10 + int(c-'0')) % 97
		} else {
			r = (r*100 + int(c-'A'+10)) % 97
		}
	}
	for _, c := range b[4:] {
		step(c)
	}
	for _, c := range b[:4] {
		step(c)
	}
	return r == 1
}

// pemBlocks finds PEM private key blocks in s, which span lines and so are
// found before the line scan. A block without its END line (truncated
// output) runs for as long as lines look like PEM body.
func pemBlocks(s string) [][2]int {
	var out [][2]int
	pos := 0
	// Labels whose END line is known to be absent, so text full of BEGIN
	// lines is not searched to its end once per line.
	var noEnd map[string]bool
	for {
		k := strings.Index(s[pos:], "-----BEGIN ")
		if k < 0 {
			return out
		}
		start := pos + k
		ls := start + len("-----BEGIN ")
		le := strings.Index(s[ls:], "-----")
		if le < 0 || le > 64 || strings.ContainsAny(s[ls:ls+le], "\r\n") || !strings.Contains(s[ls:ls+le], "PRIVATE KEY") {
			pos = ls
			continue
		}
		label := s[ls : ls+le]
		body := ls + le + 5
		end := body
		m := -1
		if !noEnd[label] {
			m = strings.Index(s[body:], "-----END "+label+"-----")
		}
		if m >= 0 {
			end = body + m + len("-----END "+label+"-----")
		} else {
			if noEnd == nil {
				noEnd = map[string]bool{}
			}
			noEnd[label] = true
			end = pemBodyEnd(s, body)
		}
		out = append(out, [2]int{start, end})
		pos = end
	}
}

func pemBodyEnd(s string, i int) int {
	b64 := func(c byte) bool { return isAlnum(c) || c == '+' || c == '/' || c == '=' || c == '\\' }
	// The rest of the BEGIN line: a one-line body or "\n"-escaped body.
	i = runEnd(s, i, len(s), b64)
	for i < len(s) && (s[i] == '\r' || s[i] == '\n') {
		nl := strings.IndexByte(s[i+1:], '\n')
		lineEnd := len(s)
		if nl >= 0 {
			lineEnd = i + 1 + nl
		}
		line := strings.TrimRight(s[i+1:lineEnd], "\r")
		t := strings.TrimSpace(line)
		ok := t == "" && lineEnd < len(s) ||
			strings.HasPrefix(t, "Proc-Type:") || strings.HasPrefix(t, "DEK-Info:") ||
			strings.HasPrefix(t, "-----END") ||
			t != "" && runEnd(t, 0, len(t), b64) == len(t)
		if !ok {
			break
		}
		i = i + 1 + len(line)
		if strings.HasPrefix(t, "-----END") {
			break
		}
	}
	return i
}

// githubChecksum verifies the checksum GitHub puts in its classic token
// formats: the last six characters are the base62 CRC32 of the rest. A
// token that verifies is certainly one; one that does not may still be
// (older formats, test fixtures) unless it is a placeholder
// (ghp_xxxxxxxx…), which never verifies.
func githubChecksum(body string) bool {
	if len(body) != 36 {
		return false
	}
	sum := crc32.ChecksumIEEE([]byte(body[:30]))
	for i := 35; i >= 30; i-- {
		if body[i] != base62Digits[sum%62] {
			return false
		}
		sum /= 62
	}
	return true
}

const base62Digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
