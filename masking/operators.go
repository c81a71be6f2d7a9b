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
	if strings.HasSuffix(v, ".*.*") || strings.HasSuffix(v, ":*:*:*:*:*") {
		return true // partial IP addresses
	}
	if at := strings.LastIndexByte(v, '@'); at > 0 {
		// A partial email: one character of the local part, then stars.
		_, n := utf8.DecodeRuneInString(v)
		return v[n:at] == "***"
	}
	// Cards, SSNs, phones, IBANs, fields: stars and separators, and at
	// most six characters kept (an IBAN's country code and last four).
	stars, kept := 0, 0
	for _, r := range v {
		switch r {
		case '*':
			stars++
		case ' ', '-', '(', ')', '.', '+', '/':
		default:
			kept++
		}
	}
	return stars >= 3 && kept <= 6
}
