// Package unseen is a third, blind masking corpus: documents generated from
// real-world data shapes by a generator written without reading the
// detectors or the other corpora, scored through the engine's public API
// only. See README.md in this directory.
package unseen

import (
	"encoding/base64"
	"fmt"
	"hash/crc32"
	"math/big"
	"math/rand/v2"
	"strings"
)

// Seed is this corpus's own seed (no relation to the other generators').
const Seed = 0x5EED_B11D

const (
	digits   = "0123456789"
	upper    = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	lower    = "abcdefghijklmnopqrstuvwxyz"
	alnum    = digits + upper + lower
	base62   = digits + upper + lower
	b32      = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	hexLower = "0123456789abcdef"
)

type gen struct{ r *rand.Rand }

func (g *gen) n(k int) int { return g.r.IntN(k) }

func (g *gen) pick(xs ...string) string { return xs[g.n(len(xs))] }

func (g *gen) str(alpha string, n int) string {
	var b strings.Builder
	for range n {
		b.WriteByte(alpha[g.n(len(alpha))])
	}
	return b.String()
}

// luhnComplete appends the Luhn check digit to body.
func luhnComplete(body string) string {
	return body + string(rune('0'+(10-luhnSum(body, true)%10)%10))
}

// luhnValid reports whether the digits pass Luhn.
func luhnValid(s string) bool { return luhnSum(s, false)%10 == 0 }

// luhnSum is the Luhn sum of the digits, doubling every second one from
// the right, starting with the last when doubleLast.
func luhnSum(s string, doubleLast bool) int {
	sum, double := 0, doubleLast
	for i := len(s) - 1; i >= 0; i-- {
		d := int(s[i] - '0')
		if double {
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum
}

func group(s string, sizes []int, sep string) string {
	var parts []string
	i := 0
	for _, n := range sizes {
		if i >= len(s) {
			break
		}
		if i+n > len(s) {
			n = len(s) - i
		}
		parts = append(parts, s[i:i+n])
		i += n
	}
	if i < len(s) {
		parts = append(parts, s[i:])
	}
	return strings.Join(parts, sep)
}

func onlyDigits(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// shape is one way a kind of value is written.
type shape struct {
	kind, name string
	// digitsNorm: the value's digits alone also count as a leak.
	digitsNorm bool
	// multiline values only go to contexts that can hold them.
	multiline bool
	// numeric values may be written as a bare JSON number.
	numeric bool
	// keys, when set, are the telling keys of this shape (else the kind's).
	keys []string
	make func(g *gen) (value string, extra []string)
}

func cardShape(name string, prefix func(g *gen) string, length int, sizes []int, sep string) shape {
	return shape{kind: "card", name: name, digitsNorm: true, numeric: sep == "", make: func(g *gen) (string, []string) {
		p := prefix(g)
		body := p + g.str(digits, length-1-len(p))
		d := luhnComplete(body)
		if sep == "" {
			return d, nil
		}
		return group(d, sizes, sep), nil
	}}
}

func ssnDigits(g *gen) string {
	var area int
	for {
		area = 1 + g.n(899)
		if area != 666 {
			break
		}
	}
	return fmt.Sprintf("%03d%02d%04d", area, 1+g.n(99), 1+g.n(9999))
}

func ibanCheck(country, bban string) string {
	rearr := bban + country + "00"
	var num strings.Builder
	for _, c := range rearr {
		switch {
		case c >= '0' && c <= '9':
			num.WriteRune(c)
		case c >= 'A' && c <= 'Z':
			fmt.Fprintf(&num, "%d", int(c-'A')+10)
		}
	}
	n, _ := new(big.Int).SetString(num.String(), 10)
	m := new(big.Int).Mod(n, big.NewInt(97)).Int64()
	return fmt.Sprintf("%s%02d%s", country, 98-m, bban)
}

func ibanValid(s string) bool {
	s = strings.ReplaceAll(s, " ", "")
	if len(s) < 5 {
		return false
	}
	rearr := s[4:] + s[:4]
	var num strings.Builder
	for _, c := range rearr {
		switch {
		case c >= '0' && c <= '9':
			num.WriteRune(c)
		case c >= 'A' && c <= 'Z':
			fmt.Fprintf(&num, "%d", int(c-'A')+10)
		default:
			return false
		}
	}
	n, ok := new(big.Int).SetString(num.String(), 10)
	return ok && new(big.Int).Mod(n, big.NewInt(97)).Int64() == 1
}

func ibanShape(country string, bban func(g *gen) string, grouped bool) shape {
	name := country
	if grouped {
		name += " grouped"
	} else {
		name += " compact"
	}
	return shape{kind: "iban", name: name, make: func(g *gen) (string, []string) {
		v := ibanCheck(country, bban(g))
		if grouped {
			return group(v, []int{4, 4, 4, 4, 4, 4, 4, 4}, " "), []string{v}
		}
		return v, nil
	}}
}

func encBase62(n uint32, width int) string {
	var b []byte
	for n > 0 {
		b = append([]byte{base62[n%62]}, b...)
		n /= 62
	}
	for len(b) < width {
		b = append([]byte{'0'}, b...)
	}
	return string(b)
}

// githubToken makes a classic-format token: prefix, 30 random base62
// characters and the CRC32 of those, base62, six characters.
func githubToken(g *gen, prefix string) string {
	body := g.str(alnum, 30)
	return prefix + body + encBase62(crc32.ChecksumIEEE([]byte(body)), 6)
}

func b64url(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func password(g *gen) string {
	// Human-ish passwords and generated ones, no URI-reserved characters.
	switch g.n(3) {
	case 0:
		return g.pick("Summer", "Falcon", "Orchid", "Granite", "Velvet", "Tundra") + g.str(digits, 2+g.n(3)) + g.pick("!", "*", "~", "_", ".")
	case 1:
		return g.str(alnum, 16+g.n(10))
	default:
		return g.str(lower, 4) + "-" + g.str(alnum, 6) + "-" + g.str(digits+upper, 5)
	}
}

func hosts(g *gen) string {
	return g.pick("db-prod-3.internal.corp", "orders.c9xk2.eu-west-1.rds.amazonaws.com", "10.20.4.17", "pg.acme-payroll.io", "cluster0.mq2ze.mongodb.net", "cache-01.svc.cluster.local")
}

func shapes() []shape {
	var s []shape
	visa := func(g *gen) string { return "4" }
	mc := func(g *gen) string {
		if g.n(2) == 0 {
			return fmt.Sprintf("5%d", 1+g.n(5))
		}
		return fmt.Sprintf("%d", 2221+g.n(500))
	}
	amex := func(g *gen) string { return g.pick("34", "37") }
	disc := func(g *gen) string { return g.pick("6011", "65", "644", "649") }
	for _, sep := range []struct{ n, s string }{{"spaces", " "}, {"dashes", "-"}, {"none", ""}} {
		s = append(s,
			cardShape("visa16 "+sep.n, visa, 16, []int{4, 4, 4, 4}, sep.s),
			cardShape("mc16 "+sep.n, mc, 16, []int{4, 4, 4, 4}, sep.s),
			cardShape("amex 4-6-5 "+sep.n, amex, 15, []int{4, 6, 5}, sep.s),
			cardShape("discover16 "+sep.n, disc, 16, []int{4, 4, 4, 4}, sep.s),
		)
	}
	s = append(s,
		cardShape("visa19 4-4-4-4-3 spaces", visa, 19, []int{4, 4, 4, 4, 3}, " "),
		cardShape("visa19 none", visa, 19, nil, ""),
		cardShape("maestro19 dashes", func(g *gen) string { return g.pick("6759", "5018", "6304") }, 19, []int{4, 4, 4, 4, 3}, "-"),
	)
	s = append(s,
		shape{kind: "ssn", name: "dashed", digitsNorm: true, make: func(g *gen) (string, []string) {
			d := ssnDigits(g)
			return d[:3] + "-" + d[3:5] + "-" + d[5:], nil
		}},
		shape{kind: "ssn", name: "spaced", digitsNorm: true, make: func(g *gen) (string, []string) {
			d := ssnDigits(g)
			return d[:3] + " " + d[3:5] + " " + d[5:], nil
		}},
		shape{kind: "ssn", name: "bare9 (telling key)", digitsNorm: true, numeric: true, make: func(g *gen) (string, []string) {
			return ssnDigits(g), nil
		}},
	)
	names := []string{"maria", "j.okafor", "li.wei", "s_nakamura", "anders", "p.dubois", "r-kowalski", "amelia.o'neil"}
	doms := []string{"gmail.com", "outlook.de", "mail.acme-logistics.co.uk", "eng.corp.example.org", "proton.me", "uni-heidelberg.de", "yahoo.co.jp", "xn--bcher-kva.example"}
	s = append(s,
		shape{kind: "email", name: "plain", make: func(g *gen) (string, []string) {
			return strings.ReplaceAll(names[g.n(len(names))], "'", "") + "@" + doms[g.n(3)], nil
		}},
		shape{kind: "email", name: "plus-addressed", make: func(g *gen) (string, []string) {
			return g.pick("tom", "dana.k", "ops") + "+" + g.pick("invoices", "github", "2026q4", "news-letter") + "@" + g.pick(doms...), nil
		}},
		shape{kind: "email", name: "subdomain", make: func(g *gen) (string, []string) {
			return g.pick("helpdesk", "h.mueller", "noc") + "@" + g.pick("mx2.eu.", "mail.", "corp.hq.") + g.pick("siemens-energy.com", "kpmg.co.uk", "health.nsw.gov.au"), nil
		}},
		shape{kind: "email", name: "apostrophe/hyphen local", make: func(g *gen) (string, []string) {
			return g.pick("amelia.o'neil", "jean-luc.picard", "o'brien_m") + "@" + g.pick("ucd.ie", "example-mail.fr"), nil
		}},
		shape{kind: "email", name: "uppercase", make: func(g *gen) (string, []string) {
			return strings.ToUpper(g.pick("Finance.Team", "JSMITH")) + "@" + g.pick("CONTOSO.COM", "Fabrikam.Net"), nil
		}},
		shape{kind: "email", name: "display-name form Name <addr>", make: func(g *gen) (string, []string) {
			a := g.pick("k.tanaka", "billing", "m.rossi") + "@" + g.pick("kyoto-u.ac.jp", "fastmail.fm", "legalteam.it")
			return g.pick("Kenji Tanaka", "Accounts Payable", "Marco Rossi") + " <" + a + ">", []string{a}
		}},
		shape{kind: "email", name: "mailto: URI with subject", make: func(g *gen) (string, []string) {
			a := g.pick("support", "dpo", "a.nowak") + "@" + g.pick("shop-example.pl", "mail.ru", "t-online.de")
			return "mailto:" + a + "?subject=" + g.pick("Refund%20request", "GDPR%20access"), []string{a}
		}},
		shape{kind: "email", name: "quoted local", make: func(g *gen) (string, []string) {
			return `"` + g.pick("john smith", "billing dept") + `"@` + g.pick("example.net", "corp.local.co"), nil
		}},
	)
	ph := func(name string, f func(g *gen) string) shape {
		return shape{kind: "phone", name: name, digitsNorm: true, make: func(g *gen) (string, []string) { return f(g), nil }}
	}
	d := func(g *gen, n int) string { return g.str(digits, n) }
	s = append(s,
		ph("E.164 compact", func(g *gen) string {
			return g.pick("+1"+g.pick("415", "212", "617")+"2"+d(g, 6), "+4420"+"7"+d(g, 7), "+4930"+d(g, 8), "+33"+g.pick("6", "7")+d(g, 8), "+91"+g.pick("98", "70")+d(g, 8), "+5511"+"9"+d(g, 8), "+8190"+d(g, 8))
		}),
		shape{kind: "phone", name: "MSISDN digits without + (telling key)", digitsNorm: true, numeric: true, make: func(g *gen) (string, []string) {
			return g.pick("49151"+d(g, 8), "447700"+d(g, 6), "33612"+d(g, 6), "5511"+"9"+d(g, 8)), nil
		}},
		ph("E.164 spaced", func(g *gen) string {
			return g.pick("+1 "+g.pick("415", "646")+" 2"+d(g, 2)+" "+d(g, 4), "+44 20 7"+d(g, 3)+" "+d(g, 4), "+49 151 "+d(g, 8), "+33 6 "+d(g, 2)+" "+d(g, 2)+" "+d(g, 2)+" "+d(g, 2), "+91 98"+d(g, 3)+" "+d(g, 5), "+55 11 9"+d(g, 4)+"-"+d(g, 4), "+81 3-"+d(g, 4)+"-"+d(g, 4))
		}),
		ph("US (NXX) NXX-XXXX", func(g *gen) string { return "(" + g.pick("415", "303", "718") + ") " + "2" + d(g, 2) + "-" + d(g, 4) }),
		ph("US NXX-NXX-XXXX", func(g *gen) string { return g.pick("312", "206", "503") + "-" + "8" + d(g, 2) + "-" + d(g, 4) }),
		ph("US NXX.NXX.XXXX", func(g *gen) string { return g.pick("512", "404") + "." + "7" + d(g, 2) + "." + d(g, 4) }),
		ph("US 1-NXX-NXX-XXXX", func(g *gen) string { return "1-" + g.pick("800", "617") + "-" + "3" + d(g, 2) + "-" + d(g, 4) }),
		ph("UK national landline 0XX XXXX XXXX", func(g *gen) string { return "020 " + g.pick("7", "8") + d(g, 3) + " " + d(g, 4) }),
		ph("UK national mobile 07XXX XXXXXX", func(g *gen) string { return "07" + g.pick("700", "911", "412") + " " + d(g, 6) }),
		ph("DE national 0XXX XXXXXXX", func(g *gen) string { return g.pick("030 ", "089 ", "0221 ") + d(g, 7) }),
		ph("DE mobile 01XX XXXXXXXX", func(g *gen) string { return "01" + g.pick("51", "60", "76") + " " + d(g, 8) }),
		ph("DE slashed 0XXX/XXXXXX", func(g *gen) string { return g.pick("0711", "0341") + "/" + d(g, 6) }),
		ph("FR national 0X XX XX XX XX", func(g *gen) string {
			return "0" + g.pick("1", "6", "7") + " " + d(g, 2) + " " + d(g, 2) + " " + d(g, 2) + " " + d(g, 2)
		}),
		ph("FR dotted 0X.XX.XX.XX.XX", func(g *gen) string {
			return "0" + g.pick("4", "6") + "." + d(g, 2) + "." + d(g, 2) + "." + d(g, 2) + "." + d(g, 2)
		}),
		ph("IN mobile XXXXX XXXXX", func(g *gen) string { return g.pick("98", "70", "88") + d(g, 3) + " " + d(g, 5) }),
		ph("IN landline 0XX-XXXXXXXX", func(g *gen) string { return g.pick("022", "080") + "-" + d(g, 8) }),
		ph("BR (XX) 9XXXX-XXXX", func(g *gen) string { return "(" + g.pick("11", "21", "31") + ") 9" + d(g, 4) + "-" + d(g, 4) }),
		ph("BR (XX) XXXX-XXXX landline", func(g *gen) string { return "(" + g.pick("11", "48") + ") 3" + d(g, 3) + "-" + d(g, 4) }),
		ph("JP national 0X-XXXX-XXXX", func(g *gen) string { return "0" + g.pick("3", "6") + "-" + d(g, 4) + "-" + d(g, 4) }),
		ph("JP full-width digits ０X-XXXX-XXXX", func(g *gen) string {
			v := "0" + g.pick("3", "6") + "-" + d(g, 4) + "-" + d(g, 4)
			var b strings.Builder
			for _, r := range v {
				if r >= '0' && r <= '9' {
					b.WriteRune(r - '0' + '０')
				} else {
					b.WriteRune('－')
				}
			}
			return b.String()
		}),
		ph("US with extension", func(g *gen) string {
			return "+1 " + g.pick("617", "312") + "-4" + d(g, 2) + "-" + d(g, 4) + g.pick(" ext. ", " x", " ext ") + d(g, 3)
		}),
		ph("JP mobile 0X0-XXXX-XXXX", func(g *gen) string { return "0" + g.pick("90", "80", "70") + "-" + d(g, 4) + "-" + d(g, 4) }),
	)
	s = append(s,
		ibanShape("DE", func(g *gen) string { return g.str(digits, 18) }, true),
		ibanShape("DE", func(g *gen) string { return g.str(digits, 18) }, false),
		ibanShape("GB", func(g *gen) string { return g.pick("NWBK", "BARC", "HBUK") + g.str(digits, 14) }, true),
		ibanShape("GB", func(g *gen) string { return g.pick("MIDL", "LOYD") + g.str(digits, 14) }, false),
		ibanShape("FR", func(g *gen) string { return g.str(digits, 10) + g.str(digits+upper, 11) + g.str(digits, 2) }, true),
		ibanShape("ES", func(g *gen) string { return g.str(digits, 20) }, true),
		ibanShape("NL", func(g *gen) string { return g.pick("ABNA", "INGB", "RABO") + g.str(digits, 10) }, false),
		ibanShape("IT", func(g *gen) string { return g.str(upper, 1) + g.str(digits, 10) + g.str(digits+upper, 12) }, true),
		ibanShape("CH", func(g *gen) string { return g.str(digits, 5) + g.str(digits+upper, 12) }, true),
		ibanShape("BE", func(g *gen) string { return g.str(digits, 12) }, false),
		ibanShape("PL", func(g *gen) string { return g.str(digits, 24) }, true),
		ibanShape("AT", func(g *gen) string { return g.str(digits, 16) }, false),
	)
	ip := func(name string, f func(g *gen) string) shape {
		return shape{kind: "ip", name: name, make: func(g *gen) (string, []string) {
			v := f(g)
			// The address without its port (and brackets) must go too.
			a := v
			if j := strings.IndexByte(a, '['); j >= 0 {
				a = a[j+1:]
			}
			if i := strings.Index(a, "]:"); i >= 0 {
				return v, []string{a[:i]}
			}
			if strings.Count(a, ":") == 1 {
				return v, []string{a[:strings.IndexByte(a, ':')]}
			}
			return v, nil
		}}
	}
	oct := func(g *gen) int { return 1 + g.n(253) }
	s = append(s,
		ip("IPv4 public", func(g *gen) string {
			return fmt.Sprintf("%d.%d.%d.%d", g.pick2(23, 81, 142, 185, 203), oct(g), oct(g), oct(g))
		}),
		ip("IPv4 private", func(g *gen) string {
			return g.pick(fmt.Sprintf("10.%d.%d.%d", oct(g), oct(g), oct(g)), fmt.Sprintf("192.168.%d.%d", oct(g), oct(g)), fmt.Sprintf("172.%d.%d.%d", 16+g.n(16), oct(g), oct(g)))
		}),
		ip("IPv4 with port", func(g *gen) string {
			return fmt.Sprintf("%d.%d.%d.%d:%d", g.pick2(52, 91, 176), oct(g), oct(g), oct(g), 1024+g.n(60000))
		}),
		ip("IPv6 full", func(g *gen) string {
			return "2a02:" + strings.Join([]string{g.str(hexLower, 4), g.str(hexLower, 4), g.str(hexLower, 4), g.str(hexLower, 4), g.str(hexLower, 4), g.str(hexLower, 4), g.str(hexLower, 4)}, ":")
		}),
		ip("IPv6 compressed", func(g *gen) string {
			return "2001:" + g.pick("4860", "67c", "41d0") + ":" + g.str(hexLower, 3) + "::" + g.str(hexLower, 2+g.n(3))
		}),
		ip("IPv6 link-local/ULA", func(g *gen) string {
			return g.pick("fe80::", "fd12:3456:789a::") + g.str(hexLower, 4) + ":" + g.str(hexLower, 4)
		}),
		ip("IPv6 literal in URL", func(g *gen) string {
			return "http://[2a01:4f8:" + g.str(hexLower, 4) + "::" + g.str(hexLower, 2) + "]:8080/healthz"
		}),
		ip("IPv4-mapped IPv6", func(g *gen) string {
			return fmt.Sprintf("::ffff:%d.%d.%d.%d", g.pick2(81, 141), oct(g), oct(g), oct(g))
		}),
		ip("IPv6 bracketed with port", func(g *gen) string {
			return "[2600:1f18:" + g.str(hexLower, 4) + "::" + g.str(hexLower, 3) + "]:" + fmt.Sprint(1024+g.n(60000))
		}),
	)
	sec := func(kind, name string, f func(g *gen) string) shape {
		return shape{kind: kind, name: name, make: func(g *gen) (string, []string) { return f(g), nil }}
	}
	s = append(s,
		sec("aws_key", "AKIA access key id", func(g *gen) string { return "AKIA" + g.str(b32, 16) }),
		sec("aws_key", "ASIA session key id", func(g *gen) string { return "ASIA" + g.str(b32, 16) }),
		sec("secret", "aws secret access key (40 chars)", func(g *gen) string { return g.str(alnum+"/+", 40) }),
		sec("github", "ghp_ classic with CRC", func(g *gen) string { return githubToken(g, "ghp_") }),
		sec("github", "gho_/ghs_/ghu_ with CRC", func(g *gen) string { return githubToken(g, g.pick("gho_", "ghs_", "ghu_", "ghr_")) }),
		sec("github", "github_pat_ fine-grained", func(g *gen) string { return "github_pat_11" + g.str(upper+digits, 20) + "_" + g.str(alnum, 59) }),
		sec("slack", "xoxb bot token", func(g *gen) string {
			return "xoxb-" + g.str(digits, 11) + "-" + g.str(digits, 13) + "-" + g.str(alnum, 24)
		}),
		sec("slack", "xoxp user token", func(g *gen) string {
			return "xoxp-" + g.str(digits, 11) + "-" + g.str(digits, 12) + "-" + g.str(digits, 13) + "-" + g.str(hexLower, 32)
		}),
		sec("slack", "webhook URL secret", func(g *gen) string {
			return "https://hooks.slack.com/services/T" + g.str(upper+digits, 8) + "/B" + g.str(upper+digits, 10) + "/" + g.str(alnum, 24)
		}),
		sec("stripe", "sk_live", func(g *gen) string { return "sk_live_" + g.str(alnum, 24+g.n(76)) }),
		sec("stripe", "rk_live restricted", func(g *gen) string { return "rk_live_" + g.str(alnum, 24+g.n(76)) }),
		sec("stripe", "sk_test", func(g *gen) string { return "sk_test_" + g.str(alnum, 24+g.n(30)) }),
		sec("stripe", "whsec webhook secret", func(g *gen) string { return "whsec_" + g.str(alnum, 32) }),
		sec("jwt", "HS256 short", func(g *gen) string {
			h := b64url(`{"alg":"HS256","typ":"JWT"}`)
			p := b64url(fmt.Sprintf(`{"sub":"%d","name":"%s","iat":%d}`, 100000+g.n(900000), g.pick("Ana Souza", "Ravi K"), 1760000000+g.n(9000000)))
			return h + "." + p + "." + g.str(alnum+"-_", 43)
		}),
		sec("jwt", "RS256 with kid, long sig", func(g *gen) string {
			h := b64url(fmt.Sprintf(`{"kid":"%s","alg":"RS256"}`, g.str(alnum, 20)))
			p := b64url(fmt.Sprintf(`{"iss":"https://login.%s/","aud":"api://%s","exp":%d,"scp":"read write","oid":"%s"}`, g.pick("okta.com", "microsoftonline.com"), g.str(lower, 8), 1760000000+g.n(9000000), g.str(hexLower, 32)))
			return h + "." + p + "." + g.str(alnum+"-_", 342)
		}),
		shape{kind: "private_key", name: "PEM block", multiline: true, make: func(g *gen) (string, []string) {
			label := g.pick("RSA PRIVATE KEY", "PRIVATE KEY", "EC PRIVATE KEY", "OPENSSH PRIVATE KEY", "ENCRYPTED PRIVATE KEY")
			raw := make([]byte, 96+g.n(400))
			for i := range raw {
				raw[i] = byte(g.n(256))
			}
			b := base64.StdEncoding.EncodeToString(raw)
			var lines []string
			for len(b) > 64 {
				lines = append(lines, b[:64])
				b = b[64:]
			}
			lines = append(lines, b)
			v := "-----BEGIN " + label + "-----\n" + strings.Join(lines, "\n") + "\n-----END " + label + "-----"
			var checks []string
			for _, l := range lines {
				if len(l) >= 16 {
					checks = append(checks, l)
				}
			}
			return v, checks
		}},
	)
	conn := func(name string, f func(g *gen, pw string) string) shape {
		return shape{kind: "conn_password", name: name, make: func(g *gen) (string, []string) {
			pw := password(g)
			return f(g, pw), []string{pw}
		}}
	}
	s = append(s,
		conn("postgres URI", func(g *gen, pw string) string {
			return g.pick("postgres", "postgresql") + "://" + g.pick("app", "report_ro", "svc-billing") + ":" + pw + "@" + hosts(g) + ":5432/" + g.pick("orders", "payroll") + "?sslmode=require"
		}),
		conn("mysql URI", func(g *gen, pw string) string {
			return "mysql://" + g.pick("root", "wp_user") + ":" + pw + "@" + hosts(g) + ":3306/" + g.pick("shop", "crm")
		}),
		conn("mongodb+srv URI", func(g *gen, pw string) string {
			return "mongodb+srv://" + g.pick("atlasAdmin", "etl") + ":" + pw + "@" + "cluster0." + g.str(lower+digits, 5) + ".mongodb.net/" + g.pick("events", "test") + "?retryWrites=true&w=majority"
		}),
		conn("JDBC sqlserver ;password=", func(g *gen, pw string) string {
			return "jdbc:sqlserver://" + hosts(g) + ":1433;databaseName=" + g.pick("HR", "Ledger") + ";user=" + g.pick("sa", "etl_svc") + ";password=" + pw + ";encrypt=true"
		}),
		conn("JDBC postgres ?password=", func(g *gen, pw string) string {
			return "jdbc:postgresql://" + hosts(g) + ":5432/" + g.pick("ops", "dw") + "?user=" + g.pick("looker", "dbt") + "&password=" + pw + "&ssl=true"
		}),
		conn("redis URI :pw@", func(g *gen, pw string) string {
			return g.pick("redis", "rediss") + "://" + g.pick("", "default") + ":" + pw + "@" + hosts(g) + ":6379/0"
		}),
		conn("amqp URI", func(g *gen, pw string) string {
			return "amqps://" + g.pick("guest_ops", "celery") + ":" + pw + "@" + g.pick("b-1234.mq.us-east-1.amazonaws.com", "rabbit.internal") + ":5671/vhost"
		}),
		sec("gitlab", "glpat- personal token", func(g *gen) string { return "glpat-" + g.str(alnum+"-_", 20) }),
		withKeys(sec("other_secret", "Google API key AIza", func(g *gen) string { return "AIza" + g.str(alnum+"-_", 35) }), "google_api_key", "GOOGLE_MAPS_KEY", "apiKey"),
		withKeys(sec("other_secret", "SendGrid SG.x.y", func(g *gen) string { return "SG." + g.str(alnum+"-_", 22) + "." + g.str(alnum+"-_", 43) }), "sendgrid_api_key", "SENDGRID_KEY", "mail_api_key"),
		withKeys(sec("other_secret", "npm_ token", func(g *gen) string { return "npm_" + g.str(alnum, 36) }), "NPM_TOKEN", "npm_auth_token", "registry_token"),
		shape{kind: "other_secret", name: "Azure storage AccountKey=", keys: []string{"AZURE_STORAGE_CONNECTION_STRING", "storage_conn", "connectionString"}, make: func(g *gen) (string, []string) {
			raw := make([]byte, 64)
			for i := range raw {
				raw[i] = byte(g.n(256))
			}
			k := base64.StdEncoding.EncodeToString(raw)
			return "DefaultEndpointsProtocol=https;AccountName=" + g.pick("prodlogs", "stbackup01") + ";AccountKey=" + k + ";EndpointSuffix=core.windows.net", []string{k}
		}},
		shape{kind: "conn_password", name: "libpq keyword DSN password=", make: func(g *gen) (string, []string) {
			pw := password(g)
			return "host=" + hosts(g) + " port=5432 dbname=" + g.pick("ledger", "app") + " user=" + g.pick("etl", "svc_api") + " password=" + pw + " sslmode=verify-full", []string{pw}
		}},
		shape{kind: "basic_auth", name: "Authorization Basic base64(user:pass)", make: func(g *gen) (string, []string) {
			pw := password(g)
			return "Basic " + base64.StdEncoding.EncodeToString([]byte(g.pick("admin", "deploy", "api-user")+":"+pw)), nil
		}},
		sec("named_secret", "random password under a password-like key", func(g *gen) string { return password(g) }),
		sec("named_secret", "client_secret 32-40 chars", func(g *gen) string { return g.str(alnum+"~._-", 34+g.n(7)) }),
		sec("named_secret", "hex api key 32", func(g *gen) string { return g.str(hexLower, 32) }),
		sec("bearer", "Authorization Bearer opaque", func(g *gen) string { return g.str(alnum+"-._~", 32+g.n(40)) }),
		sec("bearer", "Authorization Bearer sha-like", func(g *gen) string { return g.pick("ya29.", "EAAC", "at-") + g.str(alnum+"-_", 60+g.n(60)) }),
	)
	return s
}

func (g *gen) pick2(xs ...int) int { return xs[g.n(len(xs))] }

func withKeys(s shape, keys ...string) shape {
	s.keys = keys
	return s
}

// negative is a look-alike that must survive masking.
type negShape struct {
	name string
	keys []string
	make func(g *gen) string
}

func negShapes() []negShape {
	d := func(g *gen, n int) string { return g.str(digits, n) }
	return []negShape{
		{"order number ORD-YYYY-NNNNNN", []string{"order_id", "order", "orderRef"}, func(g *gen) string { return "ORD-2026-" + d(g, 6) }},
		{"16-digit order id, bad Luhn", []string{"order_id", "invoice_number", "reference"}, func(g *gen) string {
			for {
				v := g.pick("4", "5", "6") + d(g, 15)
				if !luhnValid(v) {
					return v
				}
			}
		}},
		{"UPS tracking 1Z", []string{"tracking", "tracking_number", "shipment"}, func(g *gen) string { return "1Z" + g.str(upper+digits, 6) + d(g, 10) }},
		{"USPS tracking 22 digits", []string{"tracking_number", "usps"}, func(g *gen) string { return "9400" + d(g, 18) }},
		{"FedEx tracking 12 digits", []string{"fedex_tracking", "awb"}, func(g *gen) string { return "7" + d(g, 11) }},
		{"ISBN-13 hyphenated", []string{"isbn", "book"}, func(g *gen) string {
			b := "978" + d(g, 9)
			sum := 0
			for i, c := range b {
				w := 1
				if i%2 == 1 {
					w = 3
				}
				sum += int(c-'0') * w
			}
			full := b + string(rune('0'+(10-sum%10)%10))
			return full[:3] + "-" + full[3:4] + "-" + full[4:8] + "-" + full[8:12] + "-" + full[12:]
		}},
		{"EAN-13 barcode", []string{"ean", "barcode", "gtin"}, func(g *gen) string {
			b := g.pick("400", "590", "871") + d(g, 9)
			sum := 0
			for i, c := range b {
				w := 1
				if i%2 == 1 {
					w = 3
				}
				sum += int(c-'0') * w
			}
			return b + string(rune('0'+(10-sum%10)%10))
		}},
		{"UUID v4", []string{"request_id", "id", "trace_id"}, func(g *gen) string {
			return g.str(hexLower, 8) + "-" + g.str(hexLower, 4) + "-4" + g.str(hexLower, 3) + "-" + g.pick("8", "9", "a", "b") + g.str(hexLower, 3) + "-" + g.str(hexLower, 12)
		}},
		{"git SHA-1 40 hex", []string{"commit", "sha", "revision"}, func(g *gen) string { return g.str(hexLower, 40) }},
		{"short git SHA", []string{"commit", "build_ref"}, func(g *gen) string { return g.str(hexLower, 7+g.n(3)) }},
		{"dotted 4-part version", []string{"version", "app_version", "build"}, func(g *gen) string {
			return fmt.Sprintf("%d.%d.%d.%d", 1+g.n(20), g.n(30), g.n(200), 1000+g.n(9000))
		}},
		{"semver with prerelease", []string{"version", "chart_version"}, func(g *gen) string {
			return fmt.Sprintf("v%d.%d.%d-rc.%d+build.%d", g.n(5), g.n(40), g.n(20), 1+g.n(9), 100+g.n(900))
		}},
		{"ISO-8601 timestamp", []string{"created_at", "updated", "timestamp"}, func(g *gen) string {
			return fmt.Sprintf("2026-%02d-%02dT%02d:%02d:%02d.%03dZ", 1+g.n(12), 1+g.n(28), g.n(24), g.n(60), g.n(60), g.n(1000))
		}},
		{"unix epoch seconds", []string{"ts", "exp", "created"}, func(g *gen) string { return fmt.Sprint(1700000000 + g.n(90000000)) }},
		{"unix epoch millis", []string{"ts_ms", "eventTime"}, func(g *gen) string { return fmt.Sprint(1700000000000 + int64(g.n(1<<30))*50) }},
		{"price with currency", []string{"amount", "total", "price"}, func(g *gen) string {
			return g.pick("$", "EUR ", "£") + fmt.Sprintf("%d,%03d.%02d", 1+g.n(99), g.n(1000), g.n(100))
		}},
		{"lat,lon coordinates", []string{"location", "coords", "geo"}, func(g *gen) string {
			return fmt.Sprintf("%.6f,%.6f", -60+g.r.Float64()*120, -170+g.r.Float64()*340)
		}},
		{"date DD/MM/YYYY", []string{"dob_checked", "date", "due"}, func(g *gen) string { return fmt.Sprintf("%02d/%02d/%d", 1+g.n(28), 1+g.n(12), 2000+g.n(27)) }},
		{"9-digit customer id", []string{"customer_id", "account_no", "member_id"}, func(g *gen) string { return fmt.Sprint(100000000 + g.n(899999999)) }},
		{"bare 9 digits (valid SSN area) under id key", []string{"employee_id", "ticket_id", "po_number"}, func(g *gen) string {
			return fmt.Sprintf("%03d%02d%04d", 100+g.n(500), 10+g.n(89), 1000+g.n(8999))
		}},
		{"SHA-256 hex", []string{"sha256", "checksum", "digest"}, func(g *gen) string { return g.str(hexLower, 64) }},
		{"MD5 hex", []string{"etag", "md5"}, func(g *gen) string { return g.str(hexLower, 32) }},
		{"base64 PNG fragment", []string{"thumbnail", "avatar"}, func(g *gen) string {
			raw := make([]byte, 60)
			for i := range raw {
				raw[i] = byte(g.n(256))
			}
			return "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAA" + base64.StdEncoding.EncodeToString(raw)
		}},
		{"ZIP+4", []string{"zip", "postal_code"}, func(g *gen) string { return d(g, 5) + "-" + d(g, 4) }},
		{"MAC address", []string{"mac", "hw_addr"}, func(g *gen) string {
			return strings.Join([]string{g.str(hexLower, 2), g.str(hexLower, 2), g.str(hexLower, 2), g.str(hexLower, 2), g.str(hexLower, 2), g.str(hexLower, 2)}, ":")
		}},
		{"CVE id", []string{"cve", "advisory"}, func(g *gen) string { return fmt.Sprintf("CVE-2026-%d", 10000+g.n(40000)) }},
		{"invalid-area SSN shape 9XX", []string{"ref", "case_no"}, func(g *gen) string { return fmt.Sprintf("9%02d-%02d-%04d", g.n(100), 1+g.n(98), 1+g.n(9998)) }},
		{"bad-check IBAN", []string{"reference", "memo"}, func(g *gen) string {
			for {
				v := "DE" + d(g, 20)
				if !ibanValid(v) {
					return v
				}
			}
		}},
		{"OID dotted", []string{"oid", "policy_oid"}, func(g *gen) string { return fmt.Sprintf("1.3.6.1.4.1.%d.%d.%d", 1000+g.n(50000), g.n(20), g.n(10)) }},
		{"percentage/decimal stats", []string{"p99_ms", "ratio"}, func(g *gen) string { return fmt.Sprintf("%d.%04d", g.n(1000), g.n(10000)) }},
		{"placeholder secret changeme", []string{"api_key", "password"}, func(g *gen) string { return "changeme" }},
		{"placeholder secret <your-token-here>", []string{"api_key", "password"}, func(g *gen) string { return "<your-token-here>" }},
		{"placeholder secret ${VAR}", []string{"api_key", "password"}, func(g *gen) string { return "${STRIPE_SECRET}" }},
		{"placeholder secret xxxxxxxxxxxxxxxx", []string{"api_key", "password"}, func(g *gen) string { return "xxxxxxxxxxxxxxxx" }},
		{"placeholder secret REPLACE_ME", []string{"api_key", "password"}, func(g *gen) string { return "REPLACE_ME" }},
		{"placeholder secret ********", []string{"api_key", "password"}, func(g *gen) string { return "********" }},
		{"phone-shaped invoice number", []string{"invoice", "invoice_no"}, func(g *gen) string { return "INV-" + d(g, 3) + "-" + d(g, 3) + "-" + d(g, 4) }},
		{"docker image digest", []string{"image", "digest"}, func(g *gen) string {
			return "ghcr.io/acme/api@sha256:" + g.str(hexLower, 64)
		}},
		{"C++ scoped name", []string{"symbol", "frame"}, func(g *gen) string {
			return g.pick("std::chrono::milliseconds", "boost::asio::ip::tcp", "absl::Status", "ns::detail::impl")
		}},
		{"time of day HH:MM:SS", []string{"start_time", "window"}, func(g *gen) string { return fmt.Sprintf("%02d:%02d:%02d", g.n(24), g.n(60), g.n(60)) }},
		{"SKU with digit groups", []string{"sku", "part_no"}, func(g *gen) string { return "SKU-" + d(g, 4) + "-" + d(g, 4) + "-" + d(g, 4) }},
		{"already-masked card", []string{"card_number", "pan"}, func(g *gen) string { return "************" + d(g, 4) }},
		{"npm scoped package@version", []string{"package", "dependency"}, func(g *gen) string {
			return g.pick("@babel/core", "@types/node", "@aws-sdk/client-s3") + fmt.Sprintf("@%d.%d.%d", g.n(25), g.n(30), g.n(20))
		}},
		{"git describe", []string{"build", "release"}, func(g *gen) string {
			return fmt.Sprintf("v%d.%d.%d-%d-g%s", g.n(4), g.n(20), g.n(10), g.n(200), g.str(hexLower, 7))
		}},
		{"amount in cents 9 digits", []string{"amount_cents", "balance_minor"}, func(g *gen) string { return fmt.Sprint(100000000 + g.n(800000000)) }},
		{"16 digits in 4-4-4-4 spaced groups, bad Luhn", []string{"reference", "voucher_ref", "batch"}, func(g *gen) string {
			for {
				v := g.pick("4", "5") + d(g, 15)
				if !luhnValid(v) {
					return group(v, []int{4, 4, 4, 4}, " ")
				}
			}
		}},
		{"German case number NNNN/NNNNNN", []string{"case_no", "aktenzeichen", "file_ref"}, func(g *gen) string { return g.pick("0711", "0341", "2026") + "/" + d(g, 6) }},
		{"10-digit contact id", []string{"contact_id", "contactId", "crm_contact"}, func(g *gen) string { return "0" + d(g, 9) }},
		{"non-secret *_key value", []string{"cache_key", "sort_key", "partition_key", "idempotency_key", "PRIMARY_KEY"}, func(g *gen) string {
			return g.pick(fmt.Sprintf("user:%d:profile", g.n(99999)), fmt.Sprintf("tenant-%d#2026-%02d", g.n(500), 1+g.n(12)),
				g.str(hexLower, 8)+"-"+g.str(hexLower, 4)+"-4"+g.str(hexLower, 3)+"-a"+g.str(hexLower, 3)+"-"+g.str(hexLower, 12), "created_at")
		}},
		{"k8s pod name", []string{"pod", "hostname"}, func(g *gen) string {
			return g.pick("checkout", "api-gateway") + "-" + g.str(lower+digits, 10) + "-" + g.str(lower+digits, 5)
		}},
	}
}
