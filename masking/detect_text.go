package masking

import (
	"math"
	"net/netip"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

func localByte(c byte) bool {
	return isAlnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-'
}

func labelRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r) || unicode.Is(unicode.Mc, r)
}

// email proposes the address around the '@' at i: a dot-atom local part
// (letters of any script allowed, as in internationalised addresses) and a
// domain of at least two labels whose top level is alphabetic or punycode.
// A userinfo in a URL ("https://user@host") and scp-style remotes
// ("git@github.com:org/repo") are not addresses.
func (sc *scanner) email(i int) {
	s := sc.s
	j := i
	for j > 0 && i-j <= 64 {
		c := s[j-1]
		if c < utf8.RuneSelf {
			if !localByte(c) {
				break
			}
			j--
			continue
		}
		r, n := utf8.DecodeLastRuneInString(s[:j])
		if !labelRune(r) {
			break
		}
		j -= n
	}
	if i-j > 64 {
		return
	}
	// A JSON escape right before the address ("\u003cjane@…", "\njane@…")
	// is not part of it.
	if j > 0 && s[j-1] == '\\' && j < i {
		if (s[j] == 'u' || s[j] == 'U') && i-j > 5 && isHex(s[j+1]) && isHex(s[j+2]) && isHex(s[j+3]) && isHex(s[j+4]) {
			j += 5
		} else if strings.IndexByte("nrtbf", s[j]) >= 0 {
			j++
		}
	}
	for j < i && (s[j] == '.' || s[j] == '-' || s[j] == '+') {
		j++
	}
	if j == i && i > 0 && (s[i-1] == '"' || s[i-1] == ';') {
		j = quotedLocal(s, i)
	}
	if j == i || s[i-1] == '.' || strings.Contains(s[j:i], "..") {
		return
	}
	// A '*' before the local part is no sign of a masked address: the
	// partial mask leaves no character between its stars and the '@'.
	// Domain labels.
	k := i + 1
	lastDot := -1
	labels := 0
	for {
		ls := k
		for k < len(s) {
			c := s[k]
			if c < utf8.RuneSelf {
				if !isAlnum(c) && c != '-' {
					break
				}
				k++
				continue
			}
			r, n := utf8.DecodeRuneInString(s[k:])
			if !labelRune(r) {
				break
			}
			k += n
		}
		if k == ls || k-ls > 63 || s[ls] == '-' || s[k-1] == '-' {
			return
		}
		labels++
		if k+1 < len(s) && s[k] == '.' && (isAlnum(s[k+1]) || s[k+1] >= utf8.RuneSelf) {
			lastDot = k
			k++
			continue
		}
		break
	}
	if labels < 2 || k-i-1 > 253 {
		return
	}
	if !validTLD(s[lastDot+1 : k]) {
		return
	}
	if k < len(s) {
		c := s[k]
		if c == '@' || wordAt(s, k) {
			return
		}
		if c == ':' && k+1 < len(s) && (isAlnum(s[k+1]) || s[k+1] == '/' || s[k+1] == '~') {
			return
		}
	}
	if inAuthority(s, i) {
		return
	}
	sc.add(j, k, Email)
}

// quotedLocal returns the start of a quoted local part that ends right
// before the '@' at i, "\"first last\"@example.com", written plain, with
// JSON's \", CSV's doubled "" or HTML's &quot; for its quotes; i when there is none. The
// quoted text is one line of printable characters without '@' that
// starts and ends with a letter or digit.
func quotedLocal(s string, i int) int {
	q := `"`
	switch {
	case s[i-1] == ';':
		if i < 6 || s[i-6:i] != "&quot;" {
			return i
		}
		q = "&quot;"
	case i >= 2 && s[i-2] == '\\':
		q = `\"`
	case i >= 2 && s[i-2] == '"':
		q = `""`
	}
	end := i - len(q)
	for k := end - 1; k >= 0 && end-k <= 64; k-- {
		c := s[k]
		if c < 0x20 || c == '@' || c == 0x7f {
			return i
		}
		if q == "&quot;" {
			if c == '"' {
				return i
			}
			if c != '&' || !strings.HasPrefix(s[k:], q) {
				continue
			}
		} else if c != '"' {
			continue
		} else if q != `"` {
			if k == 0 || s[k-1] != q[0] {
				return i
			}
			k--
		}
		// The quoted words start and end with a letter or digit, and the
		// opening quote starts a word: not `name="handle" value="@x.io"`.
		if cs := k + len(q); end-cs < 1 || !isAlnum(s[cs]) || !isAlnum(s[end-1]) || k > 0 && isWordByte(s[k-1]) {
			return i
		}
		return k
	}
	return i
}

func validTLD(t string) bool {
	if hasPrefixFold(t, "xn--") {
		return len(t) > 4
	}
	n := 0
	for _, r := range t {
		if !unicode.IsLetter(r) && !unicode.Is(unicode.Mn, r) && !unicode.Is(unicode.Mc, r) {
			return false
		}
		n++
	}
	return n >= 2
}

// inAuthority reports whether the '@' at i sits in the authority of a
// URI ("scheme://user:password@host"): going back, "://" comes before any
// space, quote or path slash.
func inAuthority(s string, i int) bool {
	for k := i - 1; k >= 2 && i-k < 512; k-- {
		switch s[k] {
		case ' ', '\t', '"', '\'', '<', '>', '`':
			return false
		case '/':
			return s[k-1] == '/' && s[k-2] == ':'
		}
	}
	return false
}

// uriPassword proposes the password in the userinfo of the URI whose
// "://" starts at i: postgres://app:PASSWORD@db/x. Any scheme counts:
// a password in an https:// or amqp:// URI is as secret as in a DSN.
func (sc *scanner) uriPassword(i int) {
	s := sc.s
	k := i
	for k > 0 && i-k < 32 && (isAlnum(s[k-1]) || s[k-1] == '+' || s[k-1] == '.' || s[k-1] == '-') {
		k--
	}
	if k == i || !isLetter(s[k]) {
		return
	}
	start := i + 3
	end := start
	for end < len(s) && end-start < 1024 {
		c := s[end]
		if c <= ' ' || c == '/' || c == '?' || c == '"' || c == '\'' || c == '<' || c == '>' || c == '`' {
			break
		}
		end++
	}
	auth := s[start:end]
	at := strings.LastIndexByte(auth, '@')
	if at < 0 {
		return
	}
	colon := strings.IndexByte(auth[:at], ':')
	if colon < 0 {
		return
	}
	pw := auth[colon+1 : at]
	if pw == "" || placeholder(pw) {
		return
	}
	sc.add(start+colon+1, start+at, DBURIPassword)
}

// ipv6 proposes an IPv6 address through the ':' at i, validated by
// net/netip. The run must hold a digit and either "::" or eight groups,
// which rules out times ("10:30:45"), MAC addresses and "std::string".
func (sc *scanner) ipv6(i int) {
	s := sc.s
	if i < sc.v6End {
		return
	}
	prevOK := i > 0 && (isHex(s[i-1]) || s[i-1] == ':')
	nextOK := i+1 < len(s) && (isHex(s[i+1]) || s[i+1] == ':')
	if !prevOK && !nextOK {
		return
	}
	l := i
	for l > 0 && i-l < 40 && (isHex(s[l-1]) || s[l-1] == ':') {
		l--
	}
	r := i
	for r < len(s) && r-l < 64 && (isHex(s[r]) || s[r] == ':' || s[r] == '.') {
		r++
	}
	sc.v6End = r
	for r > l && s[r-1] == '.' {
		r--
	}
	if r-l >= 2 && s[r-1] == ':' && s[r-2] != ':' {
		r--
	}
	end := r
	if end < len(s) && s[end] == '%' {
		z := end + 1
		for z < len(s) && z-end < 16 && (isAlnum(s[z]) || s[z] == '_' || s[z] == '.' || s[z] == '-') {
			z++
		}
		for z > end+1 && s[z-1] == '.' {
			z--
		}
		if z > end+1 {
			end = z
		}
	}
	if l > 0 && wordBefore(s, l) {
		return
	}
	if end < len(s) && wordAt(s, end) {
		return
	}
	cand := s[l:r]
	colons := strings.Count(cand, ":")
	if colons < 2 || !strings.ContainsAny(cand, "0123456789") {
		return
	}
	if !strings.Contains(cand, "::") && colons < 6 {
		return
	}
	addr, err := netip.ParseAddr(s[l:end])
	if err != nil {
		if end == r {
			return
		}
		if addr, err = netip.ParseAddr(cand); err != nil {
			return
		}
		end = r
	}
	if !addr.Is6() || !reportableIP(addr.Unmap()) {
		return
	}
	sc.add(l, end, IPAddress)
}

// equals handles '=' as a key/value separator, not as part of "==",
// "!=", "<=" or ">="; "=>" separates too.
func (sc *scanner) equals(i int) {
	s := sc.s
	if i+1 < len(s) && s[i+1] == '=' {
		return
	}
	if i > 0 && (s[i-1] == '=' || s[i-1] == '!' || s[i-1] == '<' || s[i-1] == '>') {
		return
	}
	if i+1 < len(s) && s[i+1] == '>' {
		sc.keyValue(i, 2)
		return
	}
	sc.keyValue(i, 1)
}

func keyByte(c byte) bool { return isAlnum(c) || c == '_' || c == '-' || c == '.' }

// keyValue proposes the value after the separator at i when the key
// before it is named like a secret: password=…, "api_key": "…",
// X-Auth-Token: …, DB_PASSWORD='…'.
func (sc *scanner) keyValue(i, sepLen int) {
	s := sc.s
	if i < sc.kvEnd {
		return // inside a value already taken as a secret
	}
	j := i
	for j > 0 && i-j < 4 && (s[j-1] == ' ' || s[j-1] == '\t') {
		j--
	}
	if j > 0 && (s[j-1] == '"' || s[j-1] == '\'') {
		j--
		if j > 0 && s[j-1] == '\\' {
			j--
		}
	}
	ke := j
	if ke < 3 || !secretSuffix(s[ke-3], s[ke-2], s[ke-1]) {
		return
	}
	for j > 0 && ke-j <= 64 && keyByte(s[j-1]) {
		j--
	}
	if j == ke || ke-j > 64 {
		return
	}
	strength := secretKey(s[j:ke])
	if strength == 0 {
		return
	}
	k := i + sepLen
	// "key = value" and "key: value" take spaces; after "key=" a space
	// means the value is empty ("password= and then…").
	if s[i] == ':' || i > 0 && (s[i-1] == ' ' || s[i-1] == '\t') {
		for k < len(s) && k-i < 12 && (s[k] == ' ' || s[k] == '\t') {
			k++
		}
	}
	if k >= len(s) {
		return
	}
	// "Authorization: Bearer …": the scheme name is not the secret, and
	// the scheme's own detector judges the credentials.
	for _, scheme := range []string{"bearer ", "basic ", "token ", "digest "} {
		if hasPrefixFold(s[k:], scheme) {
			k += len(scheme)
			for k < len(s) && s[k] == ' ' {
				k++
			}
			break
		}
	}
	var vs, ve int
	switch c := s[k]; {
	case c == '"' || c == '\'' || c == '`':
		vs, ve = k+1, closingQuote(s, k+1, c)
	case c == '\\' && k+1 < len(s) && s[k+1] == '"':
		vs = k + 2
		ve = vs
		for ve < len(s) && ve-vs < maxValue && !(s[ve] == '\\' && ve+1 < len(s) && s[ve+1] == '"') {
			ve++
		}
	case sepLen == 1 && s[i] == ':' && lineStartKey(s, j):
		// A YAML mapping: the value is the rest of the line.
		vs, ve = k, len(s)
		if c := strings.Index(s[vs:], " #"); c >= 0 {
			ve = vs + c
		}
		for ve > vs && (s[ve-1] == ' ' || s[ve-1] == '\t' || s[ve-1] == '\r') {
			ve--
		}
	default:
		// '&' ends a value only in a query string ("?user=x&password=y").
		query := j > 0 && (s[j-1] == '?' || s[j-1] == '&')
		vs, ve = k, k
		ent := -1 // the end of the last character reference in the value
		for ve < len(s) && ve-vs < maxValue && !valueStop(s[ve]) && (s[ve] != '&' || !query) {
			if s[ve] == '\\' && (ve+1 == len(s) || s[ve+1] == '"') {
				break
			}
			if s[ve] == '&' {
				if n := escapeAt(s, ve); n > 0 {
					ve += n // "&lt;your-key&gt;" is one value, ';' and all
					ent = ve
					continue
				}
			}
			ve++
		}
		// Sentence punctuation after a value is not part of it.
		for ve > vs && ve != ent && strings.IndexByte(".,:;", s[ve-1]) >= 0 {
			ve--
		}
	}
	if ve > vs && secretValue(s[vs:ve], strength) {
		sc.add(vs, ve, Secret)
		sc.kvEnd = ve
	}
}

// maxValue bounds how far a secret value is followed, so text made of
// separators costs linear time.
const maxValue = 4096

func closingQuote(s string, from int, q byte) int {
	k := from
	for k < len(s) && k-from < maxValue {
		switch s[k] {
		case '\\':
			k += 2
			continue
		case q:
			return k
		}
		k++
	}
	if k > len(s) {
		k = len(s)
	}
	return k
}

func valueStop(c byte) bool {
	switch c {
	case ' ', '\t', '\r', '\n', ',', ';', '"', '\'', '`', ')', '}', ']', '<', '>':
		return true
	}
	return false
}

// lineStartKey reports whether the key at j is the first thing on its
// line (after indentation or a YAML list dash).
func lineStartKey(s string, j int) bool {
	for k := j - 1; k >= 0; k-- {
		switch s[k] {
		case ' ', '\t', '-':
			continue
		case '\n':
			return true
		}
		return false
	}
	return true
}

// Key strengths: a strong name (password, api_key) marks nearly any value
// as secret; a weak one (token, auth) needs a value that looks random.
const (
	keyWeak   = 1
	keyStrong = 2
)

// keyNames maps the secret words a key may end in to their strength;
// 0 marks names that only page through results.
var keyNames = map[string]int{}

func init() {
	for _, w := range []string{"password", "passwd", "pwd", "passphrase", "pass", "secret", "secret_key",
		"private_key", "api_key", "apikey", "access_key", "client_secret", "signing_key",
		"encryption_key", "master_key", "secret_access_key", "account_key", "shared_access_key",
		"stripe_key", "sendgrid_key", "maps_key", "google_key", "mailgun_key", "twilio_key", "openai_key", "mapbox_key",
		"algolia_key", "anthropic_key", "datadog_key", "mailchimp_key", "postmark_key"} {
		keyNames[w] = keyStrong
	}
	for _, w := range []string{"token", "auth", "authorization", "credential", "credentials", "bearer",
		"session_key", "auth_key"} {
		keyNames[w] = keyWeak
	}
	for _, w := range []string{"page_token", "next_token", "continuation_token", "pagination_token",
		"sync_token", "resume_token", "cursor_token"} {
		keyNames[w] = 0
	}
}

// suffixes holds, as a bitmap over three letters, the last three letters
// of every secret word: most keys are rejected by one lookup.
var suffixes [1 << 15]bool

func init() {
	for w := range keyNames {
		suffixes[tri(w[len(w)-3], w[len(w)-2], w[len(w)-1])] = true
	}
}

func tri(a, b, c byte) int { return int(a&31)<<10 | int(b&31)<<5 | int(c&31) }

// secretSuffix reports whether a key ending in abc may name a secret.
// The 5-bit fold is case-insensitive for letters; a rare false hit costs
// only the full check.
func secretSuffix(a, b, c byte) bool { return suffixes[tri(a, b, c)] }

// secretKey says how strongly a key name marks its value as a secret. The
// name is folded to snake case ("clientSecret", "X-Api-Key" →
// "client_secret", "x_api_key") and must end in a secret word, so
// "password_changed_at" and "max_tokens" are not secrets. The longest
// matching suffix decides, so "next_page_token" is not one either.
func secretKey(key string) int {
	if len(key) > 64 || len(key) < 3 {
		return 0
	}
	n := len(key)
	if !secretSuffix(key[n-3], key[n-2], key[n-1]) {
		return 0
	}
	var buf [128]byte
	b := buf[:0]
	for k := 0; k < len(key); k++ {
		c := key[k]
		switch {
		case c >= 'A' && c <= 'Z':
			if k > 0 && (key[k-1] >= 'a' && key[k-1] <= 'z' || isDigit(key[k-1])) {
				b = append(b, '_')
			}
			b = append(b, c+'a'-'A')
		case c == '-' || c == '.' || c == ' ':
			b = append(b, '_')
		default:
			b = append(b, c)
		}
	}
	for len(b) > 0 && b[len(b)-1] == '_' {
		b = b[:len(b)-1]
	}
	for k := 0; k < len(b); k++ {
		if k > 0 && b[k-1] != '_' {
			continue
		}
		if v, ok := keyNames[string(b[k:])]; ok {
			return v
		}
	}
	return 0
}

// secretValue decides whether a value under a secret-named key is a real
// secret: not empty, not a placeholder or reference, not already masked,
// and with enough Shannon entropy per character for the key's strength.
func secretValue(v string, strength int) bool {
	// Judge only what is not masked already, so that masking a value's
	// parts never turns it into a secret on the next pass.
	v = strings.TrimSpace(stripMaskTokens(v))
	if v == "" || placeholder(v) {
		return false
	}
	h := entropy(v)
	if strength >= keyStrong {
		return len(v) >= 3 && h >= 1.5
	}
	// A token is one word: "auth: method=oidc issuer=…" is settings.
	return len(v) >= 10 && h >= 3.0 && !strings.ContainsAny(v, " \t")
}

// entropy is the Shannon entropy per byte of v (of its first 256 bytes:
// enough to tell a secret from a word).
func entropy(v string) float64 {
	if len(v) > 256 {
		v = v[:256]
	}
	var counts [256]int
	for k := 0; k < len(v); k++ {
		counts[v[k]]++
	}
	n := float64(len(v))
	h := 0.0
	for _, c := range counts {
		if c > 0 {
			p := float64(c) / n
			h -= p * math.Log2(p)
		}
	}
	return h
}

var placeholderWords = map[string]bool{
	"null": true, "nil": true, "none": true, "undefined": true, "true": true, "false": true,
	"yes": true, "no": true, "on": true, "off": true, "required": true, "optional": true,
	"empty": true, "string": true, "redacted": true, "hidden": true, "masked": true,
	"omitted": true, "removed": true, "n/a": true, "na": true, "tbd": true, "todo": true,
	"changeme": true, "change-me": true, "change_me": true, "changeit": true, "secret": true, "password": true,
	"example": true, "sample": true, "dummy": true, "placeholder": true,
}

// placeholder recognises values that are not secrets themselves: empty
// markers, references to where the secret lives (${DB_PASSWORD},
// {{ .token }}, <your-key>, %s), values already masked by this package or
// by someone else (***, [REDACTED]), and nested structure openers.
// redactedWords reports a value like "REDACTED_BY_USER" or "<redacted>":
// the word redacted among plain words, no digits or symbols a secret has.
func redactedWords(lv string) bool {
	words := strings.FieldsFunc(lv, func(r rune) bool { return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9') })
	if !slices.Contains(words, "redacted") {
		return false
	}
	for _, w := range words {
		if strings.ContainsAny(w, "0123456789") {
			return false
		}
	}
	for _, r := range lv {
		if !(r >= 'a' && r <= 'z' || strings.ContainsRune("<>[]()*_-. ", r)) {
			return false
		}
	}
	return true
}

func placeholder(v string) bool {
	if isMaskToken(v) {
		return true
	}
	if holdsFormat(v) {
		return false // "<sk_live_…>": a placeholder's shape around a real key
	}
	if strings.Contains(v, `\u00`) {
		// JSON text escapes '<', '>' and '&' in "<your-password>".
		v = strings.NewReplacer(`\u003c`, "<", `\u003e`, ">", `\u0026`, "&").Replace(v)
	}
	// So does XML and HTML, api_key="&lt;your-token-here&gt;", and a
	// URL, "%3Cyour-api-key%3E".
	v = unescapeText(v)
	lv := strings.ToLower(v)
	if placeholderWords[lv] {
		return true
	}
	switch {
	case strings.HasPrefix(v, "${"), strings.HasPrefix(v, "$("), strings.HasPrefix(v, "{{"),
		strings.HasPrefix(v, "%("), strings.HasPrefix(v, "#{"), v == "%s", v == "%v",
		strings.HasPrefix(v, "<") && strings.HasSuffix(v, ">"),
		strings.HasPrefix(v, "{") || strings.HasPrefix(v, "["),
		// Masked-looking values only in the shapes masks take: stars or
		// bullets with a few characters kept, or words around "redacted".
		// A real secret with "***" appended is still a secret.
		// A partial email's host is kept as written, so it is no mask of
		// a secret: "x***@<secret>" is judged as a value.
		looksMasked(strings.ReplaceAll(v, "•", "*")) && !partialEmailShape(v), redactedWords(lv),
		strings.HasPrefix(v, "!"), v == "|", v == ">":
		return true
	}
	if len(v) > 1 && v[0] == '$' && (v[1] == '_' || v[1] >= 'A' && v[1] <= 'Z') {
		return true
	}
	// Instructions rather than values: your-api-key-here, <insert token>.
	if strings.HasPrefix(lv, "your-") || strings.HasPrefix(lv, "your_") || strings.HasSuffix(lv, "-here") ||
		strings.HasSuffix(lv, "_here") || strings.HasPrefix(lv, "insert-") || strings.HasPrefix(lv, "replace-") ||
		strings.HasPrefix(lv, "insert_") || strings.HasPrefix(lv, "replace_") || lv == "replaceme" {
		return !holdsFormat(v)
	}
	// One repeated character: xxxxxxxx, --------.
	if strings.Count(v, v[:1]) == len(v) {
		return true
	}
	return false
}

// secretPrefixes start the secret formats that detectors know by their
// prefix; a value that holds one after it is no placeholder.
var secretPrefixes = []string{"sk_live_", "sk_test_", "rk_live_", "rk_test_", "whsec_", "ghp_", "gho_", "ghu_", "ghs_", "ghr_",
	"github_pat_", "glpat-", "xoxb-", "xoxp-", "xoxa-", "SG.", "npm_", "AKIA", "ASIA", "AIza", "eyJ"}

// holdsFormat reports one of secretPrefixes followed by 16 or more letters,
// digits, '-', '_' or '.'.
func holdsFormat(v string) bool {
	if len(v) < 20 {
		return false
	}
	for _, p := range secretPrefixes {
		for from := 0; from < len(v); {
			k := strings.Index(v[from:], p)
			if k < 0 {
				break
			}
			k += from + len(p)
			if runEnd(v, k, 64, func(c byte) bool { return isB64URL(c) || c == '.' })-k >= 16 {
				return true
			}
			from = k
		}
	}
	return false
}

// isMaskToken recognises this package's own output: "[EMAIL]",
// "[REDACTED]", "EMAIL_3fa9c2d1e0b4", so masking stays idempotent.
func isMaskToken(v string) bool {
	if len(v) > 2 && v[0] == '[' && v[len(v)-1] == ']' {
		name := v[1 : len(v)-1]
		return name == "REDACTED" || knownEntity(Entity(name))
	}
	if len(v) > 13 && v[len(v)-13] == '_' {
		for k := len(v) - 12; k < len(v); k++ {
			if !isDigit(v[k]) && (v[k] < 'a' || v[k] > 'f') {
				return false
			}
		}
		return knownEntity(Entity(v[:len(v)-13]))
	}
	return false
}

// stripMaskTokens removes this package's labels and pseudonyms from v.
func stripMaskTokens(v string) string {
	if !strings.ContainsAny(v, "[_") {
		return v
	}
	var b strings.Builder
	for i := 0; i < len(v); {
		if v[i] == '[' {
			if j := strings.IndexByte(v[i:], ']'); j > 0 && isMaskToken(v[i:i+j+1]) {
				i += j + 1
				continue
			}
		}
		if v[i] >= 'A' && v[i] <= 'Z' && (i == 0 || !isWordByte(v[i-1])) {
			e := i
			for e < len(v) && isWordByte(v[e]) {
				e++
			}
			if isMaskToken(v[i:e]) {
				i = e
				continue
			}
			b.WriteString(v[i:e])
			i = e
			continue
		}
		b.WriteByte(v[i])
		i++
	}
	return b.String()
}

func knownEntity(e Entity) bool {
	switch e {
	case CreditCard, SSN, Email, Phone, IBAN, IPAddress, AWSAccessKey, GitHubToken, GitLabToken,
		SlackToken, StripeKey, JWT, PrivateKey, DBURIPassword, BearerToken, Secret, Field:
		return true
	}
	return false
}
