package masking

import "strings"

// Credentials outside key=value shapes: a password told in a sentence
// ("the root password is Tr7!kQz9", "log in with passphrase …") and the
// password of a Go MySQL DSN ("app:pw@tcp(db:3306)/shop"), which has no
// scheme for uriPassword to anchor on.

// proseKeys are the words that announce a secret in prose, longest first
// where one is a prefix of another.
var proseKeys = []string{"passphrase", "password", "passwort", "passwd", "pass", "pwd", "api key", "api-key", "apikey",
	"secret", "token", "kennwort"}

// proseFill are the words allowed between the key word and the value.
var proseFill = map[string]bool{
	"is": true, "was": true, "are": true, "now": true, "set": true, "to": true, "for": true, "the": true, "of": true,
	"our": true, "my": true, "his": true, "her": true, "their": true, "new": true, "reset": true, "changed": true,
	"as": true, "be": true, "will": true, "root": true, "admin": true, "staging": true, "prod": true, "production": true,
	"dev": true, "db": true, "database": true, "server": true, "account": true, "user": true, "default": true,
	"temporary": true, "temp": true, "ist": true, "lautet": true, "still": true, "again": true, "key": true,
	"access": true,
}

// proseFirst marks the first letters of proseKeys, both cases.
var proseFirst [256]bool

func init() {
	for _, k := range proseKeys {
		proseFirst[k[0]] = true
		proseFirst[k[0]-32] = true
	}
	proseFirst['v'], proseFirst['V'] = true, true // fieldValue's "value"
}

// fieldValue proposes the value an error message quotes for a field with
// a secret name, "field db_password rejected value 'Tr7!kQz9'": the word
// "value" at i, a secret-named field among the (at most six) words before
// it on its line, and the quoted or bare word after it.
func (sc *scanner) fieldValue(i int) {
	s := sc.s
	k := i + 5
	if k >= len(s) || s[k] != ' ' && s[k] != ':' || i > 0 && s[i-1] != ' ' {
		return
	}
	strength := 0
	for w, e := 0, i-1; w < 6 && e > 0 && i-e < 96 && strength == 0; w++ {
		for e > 0 && s[e-1] == ' ' {
			e--
		}
		b := e
		for b > 0 && keyByte(s[b-1]) {
			b--
		}
		if b == e || b > 0 && s[b-1] != ' ' && s[b-1] != ':' && s[b-1] != '(' {
			return
		}
		strength = max(secretKey(s[b:e]), secretName(s[b:e]))
		e = b - 1
	}
	if strength == 0 {
		return
	}
	for k < len(s) && k-i < 10 && (s[k] == ' ' || s[k] == ':' || s[k] == '=') {
		k++
	}
	if k >= len(s) {
		return
	}
	vs, ve := k, k
	if c := s[k]; c == '"' || c == '\'' || c == '`' {
		vs = k + 1
		ve = closingQuote(s, vs, c)
	} else {
		for ve < len(s) && ve-vs < maxValue && !valueStop(s[ve]) {
			ve++
		}
		for ve > vs && strings.IndexByte(".,:;", s[ve-1]) >= 0 {
			ve--
		}
	}
	if ve > vs && ve <= len(s) && secretValue(s[vs:ve], strength) {
		sc.add(vs, ve, Secret)
	}
}

// proseAt proposes, for a secret word starting at i, the random-looking
// word that follows it after at most four filler words.
func (sc *scanner) proseAt(i int) {
	s := sc.s
	if !sc.e.enabled(Secret) {
		return
	}
	if (s[i] == 'v' || s[i] == 'V') && hasPrefixFold(s[i:], "value") {
		sc.fieldValue(i)
		return
	}
	kw := ""
	for _, k := range proseKeys {
		if hasPrefixFold(s[i:], k) {
			kw = k
			break
		}
	}
	if kw == "" {
		return
	}
	k := i + len(kw)
	if k >= len(s) || s[k] != ' ' && s[k] != ':' && s[k] != '\t' {
		return // "passport", "tokens", "token_ttl", "pass=" (keyValue's)
	}
	// Skip separators and filler words.
	for words := 0; k < len(s); {
		for k < len(s) && (s[k] == ' ' || s[k] == ':' || s[k] == '=' || s[k] == '\t') {
			k++
		}
		e := k
		for e < len(s) && isLetter(s[e]) {
			e++
		}
		if e == k || e < len(s) && !(s[e] == ' ' || s[e] == ':' || s[e] == '\t') || words == 4 ||
			!proseFill[strings.ToLower(s[k:e])] {
			break
		}
		k = e
		words++
	}
	vs, ve := k, k
	for ve < len(s) && ve-vs < 128 && s[ve] > ' ' && s[ve] != '"' && s[ve] != '\'' && s[ve] != '`' && s[ve] != '<' && s[ve] != ',' && s[ve] != ';' {
		ve++
	}
	for ve > vs && strings.IndexByte(".,;:)", s[ve-1]) >= 0 {
		ve--
	}
	if ve-vs >= 8 && proseValue(s[vs:ve]) {
		sc.add(vs, ve, Secret)
	}
}

// proseValue: one word mixing letters with digits or symbols, random
// enough to be a credential, and no other detector's shape.
func proseValue(v string) bool {
	var letter, digit, other bool
	for k := 0; k < len(v); k++ {
		switch c := v[k]; {
		case isLetter(c):
			letter = true
		case isDigit(c):
			digit = true
		case c == '/' && len(v) >= 32 && v[0] != '/' && !strings.Contains(v, "//"):
			other = true // base64: an AWS secret access key
		case c == '@' || c == '/' || c >= 0x80:
			return false // addresses, URLs, paths
		default:
			other = true
		}
	}
	return letter && (digit || other) && !isMaskToken(v) && secretValue(v, keyWeak) ||
		letter && digit && other && entropy(v) >= 2.5 && !placeholder(v)
}

// mysqlDSN proposes the password of "user:password@tcp(host)/db" (also
// unix( and udp(), with '@' at i.
func (sc *scanner) mysqlDSN(i int) {
	s := sc.s
	r := s[i+1:]
	if !strings.HasPrefix(r, "tcp(") && !strings.HasPrefix(r, "unix(") && !strings.HasPrefix(r, "udp(") {
		return
	}
	colon := -1
	for k := i - 1; k >= 0 && i-k <= 256; k-- {
		c := s[k]
		if c <= ' ' || c == '"' || c == '\'' || c == '`' || c == '=' || c == ',' {
			break
		}
		if c == ':' {
			colon = k // the first colon: passwords may hold one
		}
	}
	if colon < 0 || colon+1 >= i || placeholder(s[colon+1:i]) {
		return
	}
	sc.add(colon+1, i, DBURIPassword)
}
