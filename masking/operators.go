package masking

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strings"
	"unicode/utf8"
)

func label(ent Entity) string {
	if l, ok := labels[ent]; ok {
		return l
	}
	return "[" + string(ent) + "]"
}

// labels are the detector entities' labels, built once: a masked cell
// then costs no concatenation.
var labels = func() map[Entity]string {
	m := map[Entity]string{Field: "[REDACTED]"}
	for _, ent := range Entities() {
		m[ent] = "[" + string(ent) + "]"
	}
	return m
}()

// render rewrites one detected value. exact is false when the replaced
// range is wider than the winning match (overlapping detections), where
// keeping a partial view could keep part of another value.
func (e *Engine) render(ent Entity, op Operator, v string, exact bool) string {
	switch op {
	case Hash:
		return e.pseudonym(ent, v)
	case Partial:
		if exact {
			if p, ok := partial(ent, v); ok {
				return p
			}
		}
	}
	return label(ent)
}

// pseudonym is ENTITY_ and the first 12 hex digits of
// HMAC-SHA256(key, entity NUL canonical value): stable across formats of
// the same value ("4111-1111…" and "4111 1111…"), distinct across
// entities, and unreadable without the key.
func (e *Engine) pseudonym(ent Entity, v string) string {
	m := hmac.New(sha256.New, e.hashKey)
	m.Write([]byte(ent))
	m.Write([]byte{0})
	m.Write([]byte(canonical(ent, v)))
	var sum [sha256.Size]byte
	return string(ent) + "_" + hex.EncodeToString(m.Sum(sum[:0])[:6])
}

func canonical(ent Entity, v string) string {
	switch ent {
	case CreditCard, SSN, Phone:
		return digitsOnly(v)
	case Email:
		return strings.ToLower(v)
	case IBAN:
		return strings.ToUpper(strings.ReplaceAll(v, " ", ""))
	case IPAddress:
		if a, err := netip.ParseAddr(v); err == nil {
			return a.String()
		}
	}
	return v
}

func digitsOnly(v string) string {
	var buf [32]byte
	return string(appendDigits(buf[:0], v))
}

// appendDigits appends the ASCII digits of v to dst.
func appendDigits(dst []byte, v string) []byte {
	for k := 0; k < len(v); k++ {
		if isDigit(v[k]) {
			dst = append(dst, v[k])
		}
	}
	return dst
}

// partial keeps the part of a value that helps a reader; see Partial.
func partial(ent Entity, v string) (string, bool) {
	switch ent {
	case CreditCard:
		// Stars for all digits but the last four, built in one buffer.
		var buf [32]byte
		d := appendDigits(buf[:0], v)
		if len(d) < 8 {
			return "", false
		}
		for k := range len(d) - 4 {
			d[k] = '*'
		}
		return string(d), true
	case SSN:
		var buf [32]byte
		d := appendDigits(buf[:0], v)
		if len(d) != 9 {
			return "", false
		}
		var out [11]byte
		copy(out[:], "***-**-")
		copy(out[7:], d[5:])
		return string(out[:]), true
	case Phone:
		return starDigits(v, 4), true
	case IBAN:
		c := canonical(IBAN, v)
		if len(c) < 8 {
			return "", false
		}
		return c[:2] + strings.Repeat("*", len(c)-6) + c[len(c)-4:], true
	case Email:
		at := strings.LastIndexByte(v, '@')
		if at <= 0 {
			return "", false
		}
		_, n := utf8.DecodeRuneInString(v)
		return v[:n] + "***" + v[at:], true
	case IPAddress:
		a, err := netip.ParseAddr(v)
		if err != nil {
			return "", false
		}
		if a.Is4() {
			b := a.As4()
			return fmt.Sprintf("%d.%d.*.*", b[0], b[1]), true
		}
		b := a.As16()
		return fmt.Sprintf("%x:%x:%x:*:*:*:*:*", uint16(b[0])<<8|uint16(b[1]), uint16(b[2])<<8|uint16(b[3]), uint16(b[4])<<8|uint16(b[5])), true
	case AWSAccessKey:
		return keepEnds(v, 4), true
	case GitHubToken:
		if strings.HasPrefix(v, "github_pat_") {
			return keepEnds(v, len("github_pat_")), true
		}
		return keepEnds(v, 4), true
	case GitLabToken:
		return keepEnds(v, strings.IndexByte(v, '-')+1), true
	case SlackToken:
		return keepEnds(v, 5), true
	case StripeKey:
		return keepEnds(v, 8), true
	}
	return "", false
}

func keepEnds(v string, prefix int) string {
	if len(v) < prefix+8 {
		return v[:prefix] + "****"
	}
	return v[:prefix] + "****" + v[len(v)-4:]
}

// starDigits replaces every digit but the last keep with '*', leaving
// separators so the shape stays readable.
func starDigits(v string, keep int) string {
	b := []byte(v)
	seen := 0
	for k := len(b) - 1; k >= 0; k-- {
		if isDigit(b[k]) {
			seen++
			if seen > keep {
				b[k] = '*'
			}
		}
	}
	return string(b)
}

// fieldPartial is the partial view of a value no detector names: the last
// four characters of a value of eight or more, nothing of a shorter one.
func fieldPartial(v string) string {
	n := utf8.RuneCountInString(v)
	if n < 8 {
		return "****"
	}
	var b strings.Builder
	k := 0
	for _, r := range v {
		if k < n-4 {
			b.WriteByte('*')
		} else {
			b.WriteRune(r)
		}
		k++
	}
	return b.String()
}

// looksMasked recognises a value that a structured rule already masked, so
// masking it again (a hash of a hash) leaves it alone. It recognises the
// shapes the operators write — a token, or a partial view that keeps at
// most a few characters beside its stars — and nothing else: a value
// merely containing "***" ("Zq8!xx7Lm2Pq***") is a value, not a mask.
func looksMasked(v string) bool {
	if isMaskToken(v) {
		return true
	}
	return partialIPShape(v) || partialEmailShape(v) || starShape(v)
}

// partialIPShape is partial's IPv4 "203.0.*.*" or IPv6
// "2001:db8:85a3:*:*:*:*:*".
func partialIPShape(v string) bool {
	if rest, ok := strings.CutSuffix(v, ".*.*"); ok {
		a, b, ok := strings.Cut(rest, ".")
		return ok && decOctet(a) && decOctet(b)
	}
	if rest, ok := strings.CutSuffix(v, ":*:*:*:*:*"); ok {
		parts := strings.Split(rest, ":")
		if len(parts) != 3 {
			return false
		}
		for _, p := range parts {
			if len(p) == 0 || len(p) > 4 || strings.Trim(p, "0123456789abcdef") != "" {
				return false
			}
		}
		return true
	}
	return false
}

func decOctet(s string) bool {
	if len(s) == 0 || len(s) > 3 || strings.Trim(s, "0123456789") != "" {
		return false
	}
	n := 0
	for k := 0; k < len(s); k++ {
		n = n*10 + int(s[k]-'0')
	}
	return n <= 255
}

// partialEmailShape is partial's email: one character of the local part,
// "***", and a host name ("j***@example.com").
func partialEmailShape(v string) bool {
	at := strings.LastIndexByte(v, '@')
	if at <= 0 {
		return false
	}
	r, n := utf8.DecodeRuneInString(v)
	if r == '*' || v[n:at] != "***" {
		return false
	}
	host := v[at+1:]
	if len(host) < 3 || len(host) > 253 || !strings.Contains(host, ".") {
		return false
	}
	for _, label := range strings.Split(host, ".") {
		if len(label) == 0 || len(label) > 63 || strings.Trim(label, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") != "" {
			return false
		}
	}
	return true
}

// starShape is a partial view with stars in front and at most four
// characters kept after them: a card's "************1111", a field's
// "****" or "****ab12", an SSN's "***-**-6789", a phone's
// "+* (***) ***-4567" (separators where the number had them, and an
// extension), an IBAN's "DE****************3000". Stars only
// ("********") are a mask too. Nothing but separators comes before the
// last star, except an IBAN's two-letter country code.
func starShape(v string) bool {
	last := strings.LastIndexByte(v, '*')
	if last < 0 {
		return false
	}
	head, tail := v[:last+1], v[last+1:]
	if len(head) >= 2 && head[0] >= 'A' && head[0] <= 'Z' && head[1] >= 'A' && head[1] <= 'Z' {
		// IBAN: country code, stars, last four.
		if strings.Trim(head[2:], "*") != "" || len(tail) != 4 || strings.Trim(tail, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != "" {
			return false
		}
		return strings.Count(head, "*") >= 3
	}
	stars := 0
	for k := 0; k < len(head); k++ {
		switch head[k] {
		case '*':
			stars++
		case ' ', '-', '(', ')', '.', '+', '/':
		default:
			return false
		}
	}
	if stars < 3 {
		return false
	}
	// A phone keeps its extension: "x204", " ext. 7".
	if e := strings.IndexAny(tail, "xXe#"); e >= 0 {
		st := e - countSpacesBefore(tail, e)
		if extension(v, last+1+st) == len(v) {
			tail = tail[:st]
		}
	}
	kept := 0
	for _, r := range tail {
		switch r {
		case ' ', '-', '(', ')', '.', '/':
		case '*':
			return false
		default:
			kept++
		}
	}
	return kept <= 4
}

func countSpacesBefore(s string, i int) int {
	n := 0
	for i-n-1 >= 0 && s[i-n-1] == ' ' && n < 2 {
		n++
	}
	return n
}
