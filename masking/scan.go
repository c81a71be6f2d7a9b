package masking

import (
	"cmp"
	"slices"
	"sync"
	"unicode/utf8"
)

// match is one detected value: a byte range of the scanned text.
type match struct {
	start, end int
	ent        Entity
	// encoded marks a value found in decoded text: the span is its
	// encoded form, which no partial operator may show.
	encoded bool
}

// Context hints: a key or column name, or words just before a value, that
// make an otherwise ambiguous shape (nine bare digits, a ten-digit number)
// an SSN or a phone number.
const (
	hintSSN uint8 = 1 << iota
	hintPhone
	hintCard
	// hintVersion and hintID come from keys that name what a value is
	// not: a "version" or "build" is no IP address, an "order_id", "sku"
	// or "created" timestamp no phone number and an EAN no card.
	hintVersion
	hintID
	// hintStrict marks text an agent may have written around the value
	// (a computed column: 'version ' || ip, 'order #' || phone): words in
	// it never keep a value from being detected.
	hintStrict
	// hintKey marks hintVersion or hintID read from a key in a document
	// or a response body (a JSON key, an XML element, a YAML key, a CSV
	// header). Whoever shapes the request may choose those keys (a
	// GraphQL alias, { version: ip }), so they only ever relax weak,
	// ambiguous shapes: a bare run of digits, never a dotted address or
	// a formatted phone number.
	hintKey
)

// hintsNegative are the hints that suppress a detection.
const hintsNegative = hintVersion | hintID

// hintsPositive are the hints that make a shape a detection.
const hintsPositive = hintSSN | hintPhone | hintCard

// scanner finds matches in one line (or one string value). It is pooled:
// the buffers are reused across lines.
type scanner struct {
	e       *Engine
	s       string
	hints   uint8
	matches []match
	groups  []group
	v6End   int // end of the last IPv6 candidate run, so each run is parsed once
	kvEnd   int // end of the last key/value secret
	// The numeric span being examined and its context (-1: not looked up).
	spanStart, ctxPhone, ctxNotPhone int
	// nonASCII records that the last scan met a multi-byte character.
	nonASCII bool
	fold     folded
	out      []byte // replacement buffer
	res      []resolved
	dec      runDecoder
}

var scannerPool = sync.Pool{New: func() any { return new(scanner) }}

func (e *Engine) getScanner() *scanner {
	sc := scannerPool.Get().(*scanner)
	sc.e = e
	return sc
}

func (sc *scanner) release() {
	sc.e, sc.s = nil, ""
	if cap(sc.fold.s) > 1<<16 {
		sc.fold = folded{}
	}
	if cap(sc.out) > 1<<16 {
		sc.out = nil
	}
	if cap(sc.res) > 1<<10 {
		sc.res = nil
	}
	if cap(sc.dec.buf) > 1<<16 {
		sc.dec.buf = nil
	}
	sc.dec.run = DecodedRun{}
	scannerPool.Put(sc)
}

func (sc *scanner) add(start, end int, ent Entity) {
	if start < end && sc.e.enabled(ent) {
		sc.matches = append(sc.matches, match{start: start, end: end, ent: ent})
	}
}

// trigger marks the bytes without which no detector can match: digits
// (numbers, IBANs), '@' (emails), ':' and '=' (key/value secrets, URIs,
// IPv6), '_' and '-' (token prefixes, PEM armour), and multi-byte
// characters (normalisation may turn them into any of these). 'A', 'J',
// 'b' and 'B' are checked in context: AKIA/ASIA keys, "eyJ" JWTs,
// "Bearer" and "Basic" credentials.
var trigger [256]uint8

const (
	trigAlways = 1 + iota
	trigLetter
)

func init() {
	for c := '0'; c <= '9'; c++ {
		trigger[c] = trigAlways
	}
	for _, c := range "@:=_-" {
		trigger[c] = trigAlways
	}
	for c := 0x80; c < 0x100; c++ {
		trigger[c] = trigAlways
	}
	for _, c := range "AJbB" {
		trigger[c] = trigLetter
	}
}

// mayContain is the prefilter: it reports whether any detector could
// match in s, in one pass over its bytes. Prose, names and most JSON keys
// fail it and are not scanned further.
func mayContain(s string) bool {
	for i := 0; i < len(s); i++ {
		switch trigger[s[i]] {
		case 0:
			continue
		case trigAlways:
			return true
		}
		switch s[i] {
		case 'A':
			if i+2 < len(s) && ((s[i+1] == 'K' || s[i+1] == 'S') && s[i+2] == 'I' || s[i+1] == 'I' && s[i+2] == 'z') {
				return true
			}
		case 'J':
			if i >= 2 && s[i-1] == 'y' && s[i-2] == 'e' {
				return true
			}
		default: // b, B
			if hasPrefixFold(s[i+1:], "earer") || hasPrefixFold(s[i+1:], "asic") {
				return true
			}
		}
	}
	return false
}

// scan runs every enabled detector over s in one pass. It steps over
// bytes that cannot begin a detection with a table lookup and runs a
// detector only at a trigger: the start of a word that may begin one
// (digits, token prefixes, IBAN country codes, "Bearer"), '@', ':', '=',
// '+' and '('. Other words are skipped whole.
func (sc *scanner) scan(s string, hints uint8) []match {
	sc.s, sc.hints = s, hints
	sc.matches = sc.matches[:0]
	sc.v6End = -1
	sc.kvEnd = -1
	sc.nonASCII = false
	n := len(s)
	for i := 0; i < n; {
		c := s[i]
		if c >= utf8.RuneSelf {
			sc.nonASCII = true
			r, size := utf8.DecodeRuneInString(s[i:])
			if wordRune(r) {
				i = wordEnd(s, i)
			} else {
				i += size
			}
			continue
		}
		if isWordByte(c) {
			if (wordStarters[c] || i+3 < n && isDigit(s[i+2]) && isDigit(s[i+3])) &&
				(i == 0 || !isWordByte(s[i-1]) && (s[i-1] < utf8.RuneSelf || !wordBefore(s, i))) {
				if next := sc.wordStart(i); next > i {
					i = next
					continue
				}
			}
			if proseFirst[c] && (i == 0 || !isWordByte(s[i-1]) && s[i-1] != '-') {
				sc.proseAt(i)
			}
			i++
			for i < n && isWordByte(s[i]) {
				i++
			}
			if i < n && s[i] >= utf8.RuneSelf {
				sc.nonASCII = true
				i = wordEnd(s, i)
			}
			continue
		}
		switch c {
		case '@':
			sc.mysqlDSN(i)
			sc.email(i)
		case ':':
			if i+2 < n && s[i+1] == '/' && s[i+2] == '/' {
				sc.slackWebhook(i + 3)
				sc.uriPassword(i)
			} else {
				sc.ipv6(i)
				sc.keyValue(i, 1)
			}
		case '=':
			sc.equals(i)
		case '+', '(':
			if i+1 < n && isDigit(s[i+1]) && !wordBefore(s, i) {
				if next := sc.numeric(i); next > i {
					i = next
					continue
				}
			}
		}
		i++
	}
	return sc.matches
}

// wordStarters are the first bytes of words that a detector may start
// with; any other word is only an IBAN candidate (two letters, two digits).
var wordStarters [256]bool

func init() {
	for _, c := range "0123456789AgxsreBbwSnhp" {
		wordStarters[c] = true
	}
}

// wordStart runs the detectors that begin at the start of a word and
// returns where scanning resumes (i when nothing matched).
func (sc *scanner) wordStart(i int) int {
	s := sc.s
	c := s[i]
	if isDigit(c) {
		return sc.numeric(i)
	}
	if i+3 < len(s) && isDigit(s[i+2]) && isDigit(s[i+3]) && isLetter(s[i+1]) && isLetter(c) {
		if end := sc.iban(i); end > i {
			return end
		}
	}
	var end int
	switch c {
	case 'A':
		end = sc.aws(i)
	case 'g':
		end = sc.gitToken(i)
	case 'x':
		end = sc.slack(i)
	case 's', 'r', 'w':
		if end = sc.stripe(i); end == i && c == 's' {
			end = sc.vendorKey(i)
		}
	case 'e':
		end = sc.jwt(i, JWT)
	case 'B', 'b':
		end = sc.authScheme(i)
	case 'S', 'n', 'h', 'p':
		end = sc.vendorKey(i)
	}
	if end > i {
		return end
	}
	return i
}

// priority breaks ties between overlapping matches: the more specific
// detector names the value.
var priority = map[Entity]int{
	PrivateKey: 16, JWT: 15, AWSAccessKey: 14, GitHubToken: 13, GitLabToken: 12, SlackToken: 11,
	StripeKey: 10, DBURIPassword: 9, BearerToken: 8, IBAN: 7, CreditCard: 6, SSN: 5, Email: 4,
	IPAddress: 3, Phone: 2, Secret: 1,
}

// resolve merges overlapping matches into clusters: the replaced range is
// the union, so no part of any detected value survives, and the winner
// (highest priority, then longest) names it. exact reports whether the
// winner covers the whole union, which partial masking needs.
type resolved struct {
	match
	exact bool
}

func resolve(ms []match, out []resolved) []resolved {
	out = out[:0]
	if len(ms) == 0 {
		return out
	}
	if len(ms) > 1 {
		// The same pdqsort as sort.Slice with the same order (so equal
		// spans keep the same winner), without its allocations.
		slices.SortFunc(ms, cmpMatch)
	}
	cur := resolved{match: ms[0]}
	win := ms[0]
	for _, m := range ms[1:] {
		if m.start < cur.end {
			if m.end > cur.end {
				cur.end = m.end
			}
			if better(m, win) {
				win = m
			}
			continue
		}
		out = appendResolved(out, cur, win)
		cur = resolved{match: m}
		win = m
	}
	return appendResolved(out, cur, win)
}

// cmpMatch orders matches by start, the longer first.
func cmpMatch(a, b match) int {
	if a.start != b.start {
		return cmp.Compare(a.start, b.start)
	}
	return cmp.Compare(b.end, a.end)
}

// appendResolved appends the merged span cur, which win names.
func appendResolved(out []resolved, cur resolved, win match) []resolved {
	cur.ent = win.ent
	cur.exact = win.start == cur.start && win.end == cur.end && !win.encoded
	return append(out, cur)
}

func better(a, b match) bool {
	pa, pb := priority[a.ent], priority[b.ent]
	if pa != pb {
		return pa > pb
	}
	return a.end-a.start > b.end-b.start
}
