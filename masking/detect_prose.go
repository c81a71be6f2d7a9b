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
}

// proseFirst marks the first letters of proseKeys, both cases.
var proseFirst [256]bool

func init() {
	for _, k := range proseKeys {
		proseFirst[k[0]] = true
		proseFirst[k[0]-32] = true
	}
}

// proseAt proposes, for a secret word starting at i, the random-looking
// word that follows it after at most four filler words.
func (sc *scanner) proseAt(i int) {
	s := sc.s
	if !sc.e.enabled(Secret) {
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
