package masking

import (
	"net/netip"
	"strings"
)

// group is one run of digits inside a numeric span.
type group struct{ start, end int }

func (g group) len() int { return g.end - g.start }

// isNumSep reports the characters that may join digit groups of one value:
// "4111 1111", "078-05-1120", "10.0.0.1", "(555) 123-4567".
func isNumSep(c byte) bool {
	return c == ' ' || c == '-' || c == '.' || c == '(' || c == ')' || c == '/'
}

// numeric parses the span of digit groups starting at i (a digit, or '+'
// or '(' before one) and runs the card, SSN, IPv4 and phone detectors on
// it. Digits glued to a word or to a masked run ("ORD-2024-0042",
// "3.14159", "a1b2", "***-**-6789") are part of an identifier: the groups
// up to the next space are skipped. It returns where scanning resumes.
func (sc *scanner) numeric(i int) int {
	s := sc.s
	n := len(s)
	j := i
	if s[j] == '+' || s[j] == '(' {
		j++
	}
	gs := sc.groups[:0]
	end := j
	digits := 0
	for {
		k := j
		for k < n && isDigit(s[k]) {
			k++
		}
		digits += k - j
		gs = append(gs, group{j, k})
		end = k
		m := k
		for m < n && m-k < 3 && isNumSep(s[m]) {
			m++
		}
		if m == k || m >= n || !isDigit(s[m]) {
			break
		}
		j = m
	}
	if cap(gs) == cap(sc.groups) {
		sc.groups = sc.groups[:len(gs)] // same array: no write barrier
	} else {
		sc.groups = gs
	}
	// Cards, SSNs and phones need seven digits or more, IPv4 four groups:
	// most numbers in logs (counts, ports, years) stop here.
	if digits < 7 && len(gs) < 4 {
		return end
	}
	// A date ("2024-05-01", "01/05/2024") is no card, SSN, address or
	// phone, and logs are full of them.
	if len(gs) == 3 && sc.sep(0) == sc.sep(1) && (s[gs[0].end] == '-' || s[gs[0].end] == '/' || s[gs[0].end] == '.') &&
		gs[0].end+1 == gs[1].start && sc.dateShaped(0, 2) {
		return end
	}
	// Only the groups up to the first whitespace belong to a glued
	// identifier; scanning resumes after them.
	if gluedLeft(s, i) {
		for k := 0; k+1 < len(gs); k++ {
			if spaced(sc.sep(k)) {
				return gs[k+1].start
			}
		}
		return end
	}
	spanEnd := end
	if sc.gluedRight(end) {
		k := len(gs) - 2
		for k >= 0 && !spaced(sc.sep(k)) {
			k--
		}
		if k < 0 {
			return end
		}
		gs = gs[:k+1]
		sc.groups = gs
		end = gs[k].end
	}
	prefix := s[i:gs[0].start]
	// Context words are looked for before the span, once per span.
	sc.spanStart, sc.ctxPhone, sc.ctxNotPhone = i, -1, -1

	// Each detector proposes matches over sub-ranges of groups; overlaps
	// are settled later by priority.
	for a := 0; a < len(gs); a++ {
		sc.card(a)
		sc.ssn(a)
		sc.ipv4(a)
	}
	resume := spanEnd
	// Digit groups after "NL67 ABNA " or "PL80 " belong to an IBAN that
	// did not validate, not to a phone number.
	if sc.afterIBANStart() {
		return resume
	}
	for a := 0; a < len(gs); {
		if e, b := sc.phone(a, prefix); b >= a {
			if e > resume {
				resume = e
			}
			a = b + 1
			continue
		}
		a++
	}
	return resume
}

// gluedLeft reports a span that continues an identifier on its left. A
// '*' is no glue: masked output keeps at most four digits beside its
// stars (under the seven digits a detector needs), so a longer run beside
// a '*' is a value, not a masked one ("*4111111111111111").
func gluedLeft(s string, i int) bool {
	if i == 0 {
		return false
	}
	p := s[i-1]
	if wordBefore(s, i) {
		return true
	}
	if (p == '-' || p == '.' || p == '/') && i >= 2 && wordBefore(s, i-1) {
		return true
	}
	return false
}

// gluedRight reports a span that continues into an identifier on its
// right; a phone extension ("x204", "ext. 7") is not glue.
func (sc *scanner) gluedRight(end int) bool {
	s := sc.s
	if end >= len(s) {
		return false
	}
	c := s[end]
	if wordAt(s, end) {
		return extension(s, end) == end
	}
	// A '/' after a number starts a path ("10.0.0.5/db"), not an identifier.
	if (c == '-' || c == '.') && end+1 < len(s) && wordAt(s, end+1) {
		return true
	}
	return false
}

// sep is the separator text after group k.
func (sc *scanner) sep(k int) string {
	return sc.s[sc.groups[k].end:sc.groups[k+1].start]
}

// apart reports whether groups a..b, joined inside by inner, are set
// apart from their neighbours in the span: "12-4111-1111-1111-1111" is one
// dashed identifier, not a card. Space-joined groups always stand apart:
// "qty 2 4111 1111 1111 1111" has a card in it.
func (sc *scanner) apart(a, b int, inner string) bool {
	if inner == " " {
		return true
	}
	if a > 0 && !spaced(sc.sep(a-1)) {
		return false
	}
	if b < len(sc.groups)-1 && !spaced(sc.sep(b)) {
		return false
	}
	return true
}

// spaced reports whether a separator holds whitespace.
func spaced(sep string) bool {
	for k := 0; k < len(sep); k++ {
		if sep[k] == ' ' || sep[k] == '\t' {
			return true
		}
	}
	return false
}

// spacedGroup reports whether group a is separated from its neighbours in the
// span by whitespace.
func (sc *scanner) spacedGroup(a int) bool {
	if a > 0 && !strings.ContainsAny(sc.sep(a-1), " \t(") {
		return false
	}
	return a == len(sc.groups)-1 || strings.ContainsAny(sc.sep(a), " \t)")
}

func (sc *scanner) digitsOf(a, b int, buf []byte) []byte {
	buf = buf[:0]
	for k := a; k <= b; k++ {
		g := sc.groups[k]
		buf = append(buf, sc.s[g.start:g.end]...)
	}
	return buf
}

// card proposes a payment card number starting at group a: 13–19 digits,
// either in one run or grouped by single spaces or dashes in fours (the
// last group shorter), 4-6-5 (Amex) or 4-6-4 (Diners); a known issuer
// prefix and length; and a valid Luhn check digit.
func (sc *scanner) card(a int) {
	gs := sc.groups
	var buf [24]byte
	if gs[a].len() >= 13 {
		// A lone run must stand apart: "3.4111111111111111" is a number.
		if gs[a].len() <= 19 && sc.spacedGroup(a) {
			d := sc.digitsOf(a, a, buf[:0])
			// A bare run of 13 that is also a valid EAN-13 is a product
			// code (13-digit cards are all but extinct) unless the text
			// says card.
			if cardIIN(d) && luhn(d) && (len(d) != 13 || !gtin(d) || sc.hints&hintCard != 0 || sc.hints&hintID == 0 && sc.near(gs[a].start, cardWords)) {
				sc.add(gs[a].start, gs[a].end, CreditCard)
			}
		}
		return
	}
	if gs[a].len() != 4 {
		return
	}
	total := 4
	best := -1
	var inner string
	for b := a + 1; b < len(gs) && total < 19; b++ {
		sp := sc.sep(b - 1)
		if sp != " " && sp != "-" {
			break
		}
		if inner == "" {
			inner = sp
		}
		l := gs[b].len()
		total += l
		if total > 19 {
			break
		}
		if total >= 13 && cardShape(sc.groups[a:b+1]) && sc.apart(a, b, inner) && !sc.inFours(a, b) {
			d := sc.digitsOf(a, b, buf[:0])
			if cardIIN(d) && luhn(d) {
				best = b
			}
		}
		if l != 4 && !(b == a+1 && l == 6) {
			break
		}
	}
	if best >= 0 {
		sc.add(gs[a].start, gs[best].end, CreditCard)
	}
}

// inFours reports a card candidate inside a longer run of single-space
// separated four-digit groups, as in an IBAN or an account number: a
// printed card has 13–19 digits, so a run with more is not one. One
// four-digit group after the card (an expiry, "0925") does not count.
func (sc *scanner) inFours(a, b int) bool {
	gs := sc.groups
	if a > 0 && gs[a-1].len() == 4 && sc.sep(a-1) == " " {
		return true
	}
	if b+2 < len(gs) && gs[b].len() == 4 && gs[b+1].len() == 4 && gs[b+2].len() == 4 && sc.sep(b) == " " && sc.sep(b+1) == " " {
		return true
	}
	return a == 0 && sc.afterDigitWord() || sc.afterIBANStart()
}

// afterIBANStart reports a span preceded, through upper-case words and
// single spaces only, by an IBAN's country code and check digits.
func (sc *scanner) afterIBANStart() bool {
	s := sc.s
	st := sc.groups[0].start
	k := st
	for k > 0 && st-k < 48 {
		c := s[k-1]
		if c != ' ' && !isDigit(c) && (c < 'A' || c > 'Z') {
			break
		}
		k--
	}
	for ; k+4 < st; k++ {
		if (k == 0 || s[k-1] == ' ' || !isAlnum(s[k-1])) && s[k] >= 'A' && s[k] <= 'Z' && s[k+1] >= 'A' && s[k+1] <= 'Z' &&
			isDigit(s[k+2]) && isDigit(s[k+3]) && s[k+4] == ' ' {
			return true
		}
	}
	return false
}

// afterDigitWord reports a span right after a word that ends in digits,
// as the groups of an IBAN follow its "FR70".
func (sc *scanner) afterDigitWord() bool {
	st := sc.groups[0].start
	return st >= 2 && sc.s[st-1] == ' ' && isDigit(sc.s[st-2])
}

// cardShape accepts 4-4-…-(1..4), 4-6-5 and 4-6-4 groupings.
func cardShape(gs []group) bool {
	if len(gs) == 3 && gs[0].len() == 4 && gs[1].len() == 6 && (gs[2].len() == 5 || gs[2].len() == 4) {
		return true
	}
	for k, g := range gs {
		if k < len(gs)-1 && g.len() != 4 {
			return false
		}
		if k == len(gs)-1 && (g.len() < 1 || g.len() > 4) {
			return false
		}
	}
	return true
}

// cardIIN accepts the issuer prefixes and lengths of the major networks;
// numbers that only pass Luhn (one in ten of any digits) are not cards.
func cardIIN(d []byte) bool {
	n := len(d)
	p2 := int(d[0]-'0')*10 + int(d[1]-'0')
	switch d[0] {
	case '4': // Visa
		return n == 13 || n == 16 || n == 19
	case '5':
		if p2 >= 51 && p2 <= 55 { // Mastercard
			return n == 16
		}
		return n >= 13 // Maestro 50, 56–59
	case '2': // Mastercard 2221–2720
		p4 := p2*100 + int(d[2]-'0')*10 + int(d[3]-'0')
		return p4 >= 2221 && p4 <= 2720 && n == 16
	case '3':
		switch p2 {
		case 34, 37: // Amex
			return n == 15
		case 35: // JCB
			return n >= 16
		case 30, 36, 38, 39: // Diners
			return n >= 14
		}
		return false
	case '6': // Discover, UnionPay, Maestro, RuPay
		return n >= 13
	}
	return false
}

func luhn(d []byte) bool {
	sum := 0
	double := false
	for k := len(d) - 1; k >= 0; k-- {
		v := int(d[k] - '0')
		if double {
			v *= 2
			if v > 9 {
				v -= 9
			}
		}
		sum += v
		double = !double
	}
	return sum%10 == 0
}

// ssn proposes a US Social Security number: 3-2-4 digits joined by the
// same dash or space, or nine bare digits next to an SSN keyword.
func (sc *scanner) ssn(a int) {
	gs := sc.groups
	var buf [16]byte
	if gs[a].len() == 9 {
		if (sc.hints&hintSSN != 0 || sc.near(gs[a].start, ssnWords)) && validSSN(sc.digitsOf(a, a, buf[:0])) {
			sc.add(gs[a].start, gs[a].end, SSN)
		}
		return
	}
	if a+2 >= len(gs) || gs[a].len() != 3 || gs[a+1].len() != 2 || gs[a+2].len() != 4 {
		return
	}
	sp := sc.sep(a)
	if (sp != "-" && sp != " ") || sc.sep(a+1) != sp || !sc.apart(a, a+2, sp) {
		return
	}
	if validSSN(sc.digitsOf(a, a+2, buf[:0])) {
		sc.add(gs[a].start, gs[a+2].end, SSN)
	}
}

// validSSN applies the SSA's rules: no area 000, 666 or 900–999, no group
// 00, no serial 0000, and none of the numbers that were published or
// advertised and so never identify anyone.
func validSSN(d []byte) bool {
	if len(d) != 9 {
		return false
	}
	area, grp, serial := string(d[:3]), string(d[3:5]), string(d[5:])
	switch {
	case area == "000", area == "666", area[0] == '9', grp == "00", serial == "0000":
		return false
	}
	switch string(d) {
	case "078051120", "219099999", "123456789":
		return false
	}
	return true
}

// ipv4 proposes a dotted-quad address starting at group a. Loopback,
// unspecified, broadcast and netmask-shaped addresses say nothing about
// anyone and are left alone; so is a quad right after "version".
func (sc *scanner) ipv4(a int) {
	gs := sc.groups
	if a+3 >= len(gs) {
		return
	}
	for k := a; k <= a+3; k++ {
		if gs[k].len() > 3 {
			return
		}
		if k < a+3 && sc.sep(k) != "." {
			return
		}
	}
	if a > 0 && strings.Contains(sc.sep(a-1), ".") {
		return
	}
	if a+4 < len(gs) && strings.Contains(sc.sep(a+3), ".") {
		return
	}
	start, end := gs[a].start, gs[a+3].end
	addr, err := netip.ParseAddr(sc.s[start:end])
	if err != nil || !reportableIP(addr) {
		return
	}
	// A version key from a document (hintKey) is no veto: whoever shapes
	// the request may name an address so ({ version: ip }).
	if sc.hints&(hintVersion|hintKey) == hintVersion || sc.hints&hintStrict == 0 && sc.near(start, versionWords) {
		return
	}
	sc.add(start, end, IPAddress)
}

func reportableIP(a netip.Addr) bool {
	if a.IsLoopback() || a.IsUnspecified() {
		return false
	}
	if a.Is4() {
		b := a.As4()
		v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
		// A netmask is ones then zeros; 255.255.255.255 is broadcast.
		if v != 0 && (^v)&(^v+1) == 0 {
			return false
		}
	}
	return true
}

// phone proposes the longest phone number starting at group a and
// returns its end (extension included) and last group, or b < a.
// Accepted: E.164 ("+44 20 7946 0958", "+15551234567", "0044 …"); North
// American ("(555) 123-4567", "1-800-555-0199", "555.123.4567"); national
// numbers with a trunk 0 in 2–5 digit groups ("020 7946 0958"); and any
// 7–15 digits right after a word like "phone" or "tel". Shapes that only
// look like phones are refused after words like "order" or "invoice".
func (sc *scanner) phone(a int, prefix string) (end, last int) {
	gs := sc.groups
	s := sc.s
	lead := prefix
	if a > 0 {
		lead = sc.sep(a - 1)
		if !strings.ContainsAny(lead, " \t(") {
			return -1, -1
		}
	}
	startPos := gs[a].start
	if strings.HasSuffix(lead, "(") || strings.HasSuffix(lead, "+") {
		startPos--
	}
	paren := strings.HasSuffix(lead, "(")
	plus := strings.HasSuffix(lead, "+")

	maxB := a + 7
	if maxB > len(gs)-1 {
		maxB = len(gs) - 1
	}
	best := -1
	digits := 0
	for b := a; b <= maxB; b++ {
		if b > a && !phoneSep(sc.sep(b-1)) && !sc.slashPhone(a, b) {
			break
		}
		digits += gs[b].len()
		if digits > 16 {
			break
		}
		if digits < 7 || b < len(gs)-1 && !spaced(sc.sep(b)) {
			// Too short, or in the middle of a dashed or dotted run.
			continue
		}
		ok := false
		switch {
		case plus:
			ok = sc.intlPhone(a, b, digits, false)
		case !paren && gs[a].len() >= 2 && s[gs[a].start] == '0' && s[gs[a].start+1] == '0':
			// "0044 20 7946 0958"; one bare run of digits after "00" is as
			// likely a zero-padded id, unless the context says phone.
			ok = a == 0 && (b > a || sc.phoneContext()) && sc.intlPhone(a, b, digits, true)
		}
		if !ok {
			nanp := sc.nanp(a, b, paren)
			shaped := nanp || sc.trunkPhone(a, b, digits, paren)
			if shaped || digits <= 15 {
				positive := sc.phoneContext() && (shaped || sc.plausiblePhone(a, b, startPos))
				// "(212) 555-0182" is written as a phone, never as an
				// order or reference number: no identifier word vetoes it.
				ok = positive || shaped && (paren && nanp || !sc.notPhoneContext(startPos))
			}
		}
		if ok {
			best = b
		}
	}
	if best < 0 {
		return -1, -1
	}
	end = extension(s, gs[best].end)
	sc.add(startPos, end, Phone)
	return end, best
}

// slashPhone reports a national number written area code, '/',
// subscriber ("030/12345678", "0171/2345678", as in Germany) where the
// context says phone: a '/' alone also joins dates and fractions.
func (sc *scanner) slashPhone(a, b int) bool {
	gs := sc.groups
	if b != a+1 || sc.sep(a) != "/" || gs[a].len() < 3 || gs[a].len() > 5 || sc.s[gs[a].start] != '0' ||
		gs[b].len() < 4 || gs[b].len() > 9 {
		return false
	}
	return sc.phoneContext()
}

// phoneContext reports a phone word before the current span (or a phone
// key or column), looked up once per span.
func (sc *scanner) phoneContext() bool {
	if sc.ctxPhone < 0 {
		sc.ctxPhone = 0
		if sc.hints&hintPhone != 0 || sc.near(sc.spanStart, phoneWords) {
			sc.ctxPhone = 1
		}
	}
	return sc.ctxPhone == 1
}

// notPhoneContext reports an identifier word ("order", "invoice") before
// the current span, or a '#' right before the number.
func (sc *scanner) notPhoneContext(start int) bool {
	// An identifier key vetoes a bare run of digits only when it comes
	// from a document (hintKey), which an outsider may name.
	idKey := sc.hints&(hintID|hintPhone) == hintID && (sc.hints&hintKey == 0 || len(sc.groups) == 1)
	if sc.hints&hintStrict != 0 {
		return idKey
	}
	if start > 0 && sc.s[start-1] == '#' {
		return true
	}
	if sc.ctxNotPhone < 0 {
		sc.ctxNotPhone = 0
		if idKey || sc.near(sc.spanStart, notPhoneWords) {
			sc.ctxNotPhone = 1
		}
	}
	return sc.ctxNotPhone == 1
}

// plausiblePhone reports whether groups a..b, which match no phone shape,
// may still be a phone number because the context says phone. A phone key
// or column (hints) is trusted with any 7–15 digits that are not a date. A
// phone word in the text ("contact", "call") is weaker evidence, so the
// number must not read as something else: dotted groups (versions,
// "10.0.19045.3803"), ZIP+4 ("94105-1234"), the SSN shape 3-2-4 (serials
// such as "000-00-0000"), a valid ISBN, a valid GTIN/EAN/UPC check digit
// on a bare 12–14 digit run (SKUs), Unix times in seconds or milliseconds
// ("1733059200", "1733059200000"), 11 bare digits starting with 1 that
// are no North American number, and anything after an identifier word
// ("SKU", "order") or a '#'.
func (sc *scanner) plausiblePhone(a, b, start int) bool {
	if sc.dateShaped(a, b) {
		return false
	}
	if sc.hints&hintPhone != 0 {
		return true
	}
	if sc.notPhoneContext(start) {
		return false // "contact: SKU 123-4567-890"
	}
	gs := sc.groups
	for k := a; k < b; k++ {
		if strings.IndexByte(sc.sep(k), '.') >= 0 {
			return false
		}
	}
	switch {
	case b-a == 1 && gs[a].len() == 5 && gs[b].len() == 4 && sc.sep(a) == "-":
		return false // ZIP+4
	case b-a == 2 && gs[a].len() == 3 && gs[a+1].len() == 2 && gs[b].len() == 4:
		return false // SSN-shaped
	}
	var buf [16]byte
	d := sc.digitsOf(a, b, buf[:0])
	if (b > a && !sc.slashPhone(a, b) || len(d) == 13) && isbn(d) {
		return false
	}
	if a == b {
		switch {
		case len(d) >= 12 && len(d) <= 14 && gtin(d):
			return false
		case d[0] == '1' && (len(d) == 10 || len(d) == 13):
			return false // Unix time in seconds or milliseconds (2001–2033)
		case d[0] == '1' && len(d) == 11 && (d[1] < '2' || d[4] < '2'):
			return false
		}
	}
	return true
}

// isbn reports a valid ISBN-10 (mod 11; a final X is not a digit and so
// never reaches here) or ISBN-13 (978/979 and the EAN check digit).
func isbn(d []byte) bool {
	switch len(d) {
	case 10:
		sum := 0
		for i, c := range d {
			sum += (10 - i) * int(c-'0')
		}
		return sum%11 == 0
	case 13:
		return (string(d[:3]) == "978" || string(d[:3]) == "979") && gtin(d)
	}
	return false
}

// gtin reports a valid GS1 check digit (EAN-13, UPC-A, GTIN-14): weights 3
// and 1 alternating from the digit before the check digit.
func gtin(d []byte) bool {
	sum := 0
	for i := len(d) - 2; i >= 0; i-- {
		w := 1
		if (len(d)-2-i)%2 == 0 {
			w = 3
		}
		sum += w * int(d[i]-'0')
	}
	return (10-sum%10)%10 == int(d[len(d)-1]-'0')
}

// dateShaped reports groups that read as a date or a time: 2024-05-01,
// 01/05/2024, 01.05.24, 20240501.
func (sc *scanner) dateShaped(a, b int) bool {
	gs := sc.groups
	if a == b {
		return gs[a].len() == 8 && (sc.s[gs[a].start] == '1' || sc.s[gs[a].start] == '2')
	}
	if b-a != 2 {
		return false
	}
	l0, l1, l2 := gs[a].len(), gs[a+1].len(), gs[a+2].len()
	return l1 <= 2 && (l0 == 4 && l2 <= 2 || l0 <= 2 && (l2 == 4 || l2 == 2))
}

// phoneSep accepts the separators inside a phone number: up to three of
// space, '-', '.', '(' and ')', never '/'.
func phoneSep(sp string) bool {
	if len(sp) > 3 {
		return false
	}
	var dots, opens, closes int
	for k := 0; k < len(sp); k++ {
		switch sp[k] {
		case ' ', '-':
		case '.':
			dots++
		case '(':
			opens++
		case ')':
			closes++
		default:
			return false
		}
	}
	return dots <= 1 && opens <= 1 && closes <= 1
}

// intlPhone checks an international number: 8–15 digits after the "+"
// or "00" prefix, not starting with 0 (country codes never do).
func (sc *scanner) intlPhone(a, b, digits int, viaZeros bool) bool {
	s := sc.s
	g := sc.groups[a]
	first := s[g.start]
	if viaZeros {
		// "00" and a country code of one to three digits.
		if g.len() > 5 && b > a {
			return false
		}
		digits -= 2
		switch {
		case g.len() > 2:
			first = s[g.start+2]
		case b > a:
			first = s[sc.groups[a+1].start]
		default:
			return false
		}
	}
	if first == '0' {
		return false
	}
	for k := a + 1; k <= b; k++ {
		if sc.groups[k].len() == 1 && s[sc.groups[k].start] == '0' && strings.HasSuffix(sc.sep(k-1), "(") {
			digits-- // the "(0)" trunk hint in "+44 (0)20 …"
		}
	}
	return digits >= 8 && digits <= 15
}

// nanp matches [1] NXX NXX XXXX with the usual separators.
func (sc *scanner) nanp(a, b int, paren bool) bool {
	gs := sc.groups
	s := sc.s
	k := a
	if b-a == 3 && gs[a].len() == 1 && s[gs[a].start] == '1' {
		sp := sc.sep(a)
		if sp != "-" && sp != " " && sp != "." && sp != " (" {
			return false
		}
		paren = strings.HasSuffix(sp, "(")
		k = a + 1
	} else if b-a != 2 {
		return false
	}
	if gs[k].len() != 3 || gs[k+1].len() != 3 || gs[k+2].len() != 4 {
		return false
	}
	if s[gs[k].start] < '2' || s[gs[k+1].start] < '2' {
		return false
	}
	s1, s2 := sc.sep(k), sc.sep(k+1)
	if paren {
		if s1 != ") " && s1 != ")" && s1 != ")-" {
			return false
		}
	} else if s1 != "-" && s1 != "." && s1 != " " {
		return false
	}
	if s2 != "-" && s2 != "." && s2 != " " {
		return false
	}
	if !paren && s1 != s2 && s1 != " " {
		return false
	}
	return true
}

// trunkPhone matches national numbers dialled with a leading 0: 10–11
// digits in 2–5 groups of 2–6 digits.
func (sc *scanner) trunkPhone(a, b, digits int, paren bool) bool {
	gs := sc.groups
	s := sc.s
	// It starts its span: "… 3226 0868 6765 645" is the tail of
	// something longer.
	if a != 0 || b == a || sc.afterDigitWord() || b-a > 4 || digits < 10 || digits > 11 || gs[a].len() < 2 {
		return false
	}
	if s[gs[a].start] != '0' || s[gs[a].start+1] == '0' {
		return false
	}
	var inner string
	for k := a; k <= b; k++ {
		if gs[k].len() < 2 || gs[k].len() > 6 {
			return false
		}
		if k < b {
			sp := sc.sep(k)
			if k == a && paren {
				if sp != ") " && sp != ")" {
					return false
				}
				continue
			}
			if sp != " " && sp != "-" && sp != "." {
				return false
			}
			if inner == "" {
				inner = sp
			} else if sp != inner {
				return false
			}
		}
	}
	return true
}

// extension returns the end of a phone extension right after i ("x204",
// " ext. 7", " #12"), or i.
func extension(s string, i int) int {
	j := i
	for j < len(s) && j-i < 2 && s[j] == ' ' {
		j++
	}
	rest := s[j:]
	var k int
	switch {
	case hasPrefixFold(rest, "extension"):
		k = j + 9
	case hasPrefixFold(rest, "ext"):
		k = j + 3
	case len(rest) > 0 && (rest[0] == 'x' || rest[0] == 'X' || rest[0] == '#'):
		k = j + 1
	default:
		return i
	}
	if k < len(s) && s[k] == '.' {
		k++
	}
	for k < len(s) && s[k] == ' ' && k-j < 12 {
		k++
	}
	d := k
	for d < len(s) && isDigit(s[d]) && d-k < 6 {
		d++
	}
	if d == k || wordAt(s, d) {
		return i
	}
	return d
}

// wordSet is a list of context words indexed by first letter.
type wordSet [26][]string

func newWordSet(words ...string) *wordSet {
	var ws wordSet
	for _, w := range words {
		ws[w[0]-'a'] = append(ws[w[0]-'a'], w)
	}
	return &ws
}

// Context words, matched case-insensitively at a word start shortly
// before a value.
var (
	ssnWords   = newWordSet("ssn", "social security", "ss#", "ss no", "sozialversicherung")
	phoneWords = newWordSet("phone", "tel", "mobile", "cell", "fax", "call", "sms", "whatsapp", "contact", "telefon", "telephone", "msisdn",
		"reach", "ring", "handy", "celular", "portable", "mobil")
	cardWords     = newWordSet("card", "karte", "carte", "tarjeta", "visa", "mastercard", "amex", "pan", "cc")
	notPhoneWords = newWordSet("order", "invoice", "ticket", "sku", "part", "ref", "tracking", "isbn", "serial", "model",
		"build", "version", "account", "acct", "id", "no", "po", "case", "batch", "lot", "item", "product", "issn", "doi",
		"ts", "timestamp", "epoch", "created", "updated", "ean", "gtin", "upc")
	versionWords = newWordSet("version", "ver", "v", "build", "release", "firmware", "oid", "rev")
)

// near reports whether one of words ends within 24 bytes before pos,
// with no digit between it and pos: "phone: 555 0100" and "order no.
// 555-0100" have context, "id 42, name Jo, 555-0100" does not.
func (sc *scanner) near(pos int, words *wordSet) bool {
	s := sc.s
	lo := max(pos-24, 0)
	for k := pos - 1; k >= lo; k-- {
		if isDigit(s[k]) {
			lo = k + 1
			break
		}
	}
	for k := lo; k < pos; k++ {
		c := s[k] | 0x20
		if c < 'a' || c > 'z' || k > 0 && isLetter(s[k-1]) {
			continue
		}
		for _, w := range words[c-'a'] {
			if !hasPrefixFold(s[k:pos], w) {
				continue
			}
			e := k + len(w)
			// Our own labels ("[PHONE]", "SSN_3fa9…") are not context.
			// A snake-case key written in lower case ("contact_number:")
			// is context for the words that make a value sensitive;
			// a pseudonym ("PHONE_3fa9…") is upper case.
			snake := e < len(s) && s[e] == '_' && s[k] >= 'a' && s[k] <= 'z' && words != notPhoneWords && words != versionWords
			if e < len(s) && (isLetter(s[e]) || s[e] == '_' && !snake || s[e] == ']') || k > 0 && (s[k-1] == '[' || w == "contact" && !snake && (s[k-1] == '_' || s[k-1] == '-')) {
				continue
			}
			return true
		}
	}
	return false
}

// hasPrefixFold is an ASCII case-insensitive strings.HasPrefix.
func hasPrefixFold(s, prefix string) bool {
	if len(s) < len(prefix) {
		return false
	}
	for k := 0; k < len(prefix); k++ {
		c := s[k]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != prefix[k] {
			return false
		}
	}
	return true
}
