package masking

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Encoded values. An API that echoes a request, a log line or a JSON string
// may carry a value base64-, base64url- or hex-encoded, percent-encoded,
// as HTML character references or as JSON \u escapes. The detectors see the
// decoded text; what they find there masks the original, encoded span (for
// escapes, exactly the bytes that encode the finding; for base64 and hex,
// the whole run).

// Bounds on what is decoded: runs shorter than these rarely hold a value a
// detector would find (an SSN is 16 base64 characters, 22 hex digits) and
// are mostly words; longer than maxEncodedRun are left to the plain scan.
const (
	minBase64Run   = 12
	minHexRun      = 14
	maxEncodedRun  = 64 << 10
	maxDecodeDepth = 2
)

// DecodedRun is one encoded run of a text: Start and End are byte offsets
// into the text, Text is what the run decodes to.
type DecodedRun struct {
	Start, End int
	Text       string
	// starts and ends map each byte of Text back to the source bytes that
	// encode it (escapes); nil when the run decodes as a whole (base64, hex).
	starts, ends []int32
}

// Source returns the span of the text that encodes Text[start:end]: the
// escapes and characters that decode to it, or the whole run for base64
// and hex.
func (r *DecodedRun) Source(start, end int) (int, int) {
	if r.starts == nil || start >= end {
		return r.Start, r.End
	}
	return r.Start + int(r.starts[start]), r.Start + int(r.ends[end-1])
}

// EncodedRuns calls fn for each run of s that decodes to printable text:
// runs with percent-escapes (%2D), HTML character references (&#45;,
// &#x2d;, &amp;), or JSON/JavaScript escapes (\u002d, \/), extended to the
// surrounding characters up to whitespace, quotes or angle brackets; then
// runs of 14 or more hex digits (an even number), and runs of 12 or more
// base64 or base64url characters mixing upper and lower case, both optionally
// padded. Decoded text that is not valid UTF-8 or holds control characters
// (other than tab and line breaks) is not reported: hashes, ids and words
// decode to binary noise. Runs are reported in order and do not overlap; fn
// returns false to stop.
func EncodedRuns(s string, fn func(r *DecodedRun) bool) {
	var d runDecoder
	d.each(s, fn)
}

// runDecoder holds the buffers of EncodedRuns, so that a pooled scanner
// decodes without allocating until something decodes to text.
type runDecoder struct {
	buf []byte
	run DecodedRun
}

func (d *runDecoder) each(s string, fn func(r *DecodedRun) bool) {
	if len(s) < 4 {
		return
	}
	var esc [][2]int
	// Quoted-printable escapes need a key's '=' and a telling escape.
	if strings.IndexByte(s, '%') >= 0 || strings.IndexByte(s, '&') >= 0 || strings.IndexByte(s, '\\') >= 0 || hasFormSpace(s) ||
		strings.IndexByte(s, '=') >= 0 && qpSignal(s) {
		esc = escapeRuns(s)
	}
	n := len(s)
	for ei, i := 0, 0; i < n; {
		if ei < len(esc) && i >= esc[ei][0] {
			r := esc[ei]
			ei++
			if u, ok := unescapeRun(s[r[0]:r[1]]); ok {
				u.Start, u.End = r[0], r[1]
				if !fn(u) {
					return
				}
			}
			i = max(i, r[1])
			continue
		}
		stop := n
		if ei < len(esc) {
			stop = esc[ei][0]
		}
		var more bool
		if i, more = d.segment(s, i, stop, fn); !more {
			return
		}
	}
}

// segment reports the base64 and hex runs of s[from:stop] (no escapes
// there) and returns stop, and false when fn asked to stop.
func (d *runDecoder) segment(s string, from, stop int, fn func(r *DecodedRun) bool) (int, bool) {
	seg := s[:stop]
	for i := from; i < len(seg); {
		// Skip to the next run of base64 characters, then to its end:
		// the two tight loops are all most text costs.
		for i < len(seg) && !base64Byte[seg[i]] {
			i++
		}
		j := i
		for j < len(seg) && base64Byte[seg[j]] {
			j++
		}
		if j-i < minBase64Run {
			i = j
			continue
		}
		var cls uint8
		allHex := true
		std, url := false, false
		for k := i; k < j; k++ {
			b := seg[k]
			cls |= class[b]
			allHex = allHex && class[b]&clHex != 0
			std = std || b == '+' || b == '/'
			url = url || b == '-' || b == '_'
		}
		end := j
		for end < len(seg) && end-j < 2 && seg[end] == '=' {
			end++
		}
		if j-i > maxEncodedRun || end < len(seg) && base64Byte[seg[end]] {
			i = end
			continue
		}
		var text string
		var ok bool
		switch r := seg[i:j]; {
		case allHex && len(r) >= minHexRun && len(r)%2 == 0 && end == j:
			text, ok, d.buf = decodeHex(r, d.buf)
		case cls&clUpper != 0 && cls&clLower != 0 && !(std && url):
			text, ok, d.buf = decodeBase64(r, url, d.buf)
		}
		if ok {
			d.run = DecodedRun{Start: i, End: end, Text: text}
			if !fn(&d.run) {
				return stop, false
			}
		}
		i = end
	}
	return stop, true
}

// base64Byte marks the characters of both base64 alphabets.
var base64Byte [256]bool

func init() {
	// Not from class: this file's init may run before normalize.go's.
	for _, c := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_" {
		base64Byte[c] = true
	}
}

// decodeHex decodes run (into buf when it fits) and returns it as text
// when it is printable.
func decodeHex(run string, buf []byte) (string, bool, []byte) {
	// Text starts with a printable ASCII byte (0x20–0x7e) or a UTF-8
	// lead byte (0xc2–0xf4): most hashes and ids fail here, undecoded.
	if hi := unhex(run[0]); hi < 2 || hi > 7 && hi < 0xc {
		return "", false, buf
	}
	buf = slicesGrow(buf, len(run)/2)
	for k := 0; k+1 < len(run); k += 2 {
		buf = append(buf, unhex(run[k])<<4|unhex(run[k+1]))
	}
	if !printableText(buf) {
		return "", false, buf
	}
	return string(buf), true, buf
}

// decodeBase64 decodes an unpadded run of one base64 alphabet (into buf
// when it fits) and returns it as text when it is printable.
func decodeBase64(run string, url bool, buf []byte) (string, bool, []byte) {
	if len(run)%4 == 1 {
		return "", false, buf
	}
	buf = slicesGrow(buf, len(run)*3/4+2)
	var acc uint32
	bits := 0
	for k := 0; k < len(run); k++ {
		v := b64Value[run[k]]
		if v == 0xff || url && (run[k] == '+' || run[k] == '/') || !url && (run[k] == '-' || run[k] == '_') {
			return "", false, buf
		}
		acc = acc<<6 | uint32(v)
		bits += 6
		if bits >= 8 {
			bits -= 8
			buf = append(buf, byte(acc>>bits))
		}
	}
	if !printableText(buf) {
		return "", false, buf
	}
	return string(buf), true, buf
}

// b64Value maps both base64 alphabets to their 6-bit values (0xff: none).
var b64Value [256]byte

func init() {
	for i := range b64Value {
		b64Value[i] = 0xff
	}
	for i, c := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/" {
		b64Value[c] = byte(i)
	}
	b64Value['-'], b64Value['_'] = 62, 63
}

// slicesGrow returns buf, emptied, with room for n bytes.
func slicesGrow(buf []byte, n int) []byte {
	if cap(buf) < n {
		return make([]byte, 0, max(n, 256))
	}
	return buf[:0]
}

// printableText reports valid UTF-8 of printable characters, tabs and line
// breaks, at least four bytes long.
func printableText(b []byte) bool {
	if len(b) < 4 || !utf8.Valid(b) {
		return false
	}
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\t' && c != '\n' && c != '\r' || c == 0x7f {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if !unicode.IsPrint(r) {
			return false
		}
		i += size
	}
	return true
}

// escapeRuns returns the runs of s around each escape: from the previous
// delimiter (whitespace, quote, angle bracket) to the next one.
func escapeRuns(s string) [][2]int {
	var out [][2]int
	n := len(s)
	for i := 0; i < n; i++ {
		if escapeAt(s, i) == 0 {
			continue
		}
		start := i
		for start > 0 && !escapeDelim(s[start-1]) {
			start--
		}
		if len(out) > 0 && start < out[len(out)-1][1] {
			start = out[len(out)-1][1]
		}
		end := i
		for end < n && !escapeDelim(s[end]) {
			end++
		}
		if end-start <= maxEncodedRun {
			out = append(out, [2]int{start, end})
		}
		i = end
	}
	return out
}

// escapeDelim ends an escape run. A '\' is not one: it starts escapes.
func escapeDelim(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', '"', '\'', '`', '<', '>':
		return true
	}
	return false
}

// namedRefs are the HTML named character references decoded; numeric ones
// cover everything else.
var namedRefs = map[string]string{
	"amp": "&", "lt": "<", "gt": ">", "quot": `"`, "apos": "'", "nbsp": " ", "sol": "/",
	"colon": ":", "commat": "@", "period": ".", "hyphen": "-", "dash": "-", "num": "#", "plus": "+",
	"equals": "=", "lpar": "(", "rpar": ")", "comma": ",", "semi": ";", "lowbar": "_",
}

// escapeAt returns the length of the escape starting at s[i] and writes
// nothing; 0 when there is none. A quoted-printable escape counts here
// only when it is one of the telling ones (qpTelling): "=3D" and "=40"
// rarely mean anything else, "=FF" often does (color=FF0000).
func escapeAt(s string, i int) int {
	if s[i] == '=' {
		if qpTelling(s, i) {
			return 3
		}
		return 0
	}
	_, n := decodeEscape(s, i, nil, false)
	return n
}

// decodeEscape decodes the escape at s[i], appending it to dst, and returns
// dst and the escape's length (0: none). qp decodes quoted-printable
// escapes ("=40"), which only text that shows telling ones has.
func decodeEscape(s string, i int, dst []byte, qp bool) ([]byte, int) {
	n := len(s)
	switch s[i] {
	case '=':
		// Printable ASCII and UTF-8 bytes; "=FF" and "=0A" are left as
		// they are, so a stray one does not spoil the run.
		if qp && i+2 < n && qpHex(s[i+1]) && qpHex(s[i+2]) {
			if v := unhex(s[i+1])<<4 | unhex(s[i+2]); v >= 0x20 && v < 0x7f || v >= 0x80 && v < 0xf5 && v != 0xc0 && v != 0xc1 {
				return append(dst, v), 3
			}
		}
	case '+':
		if formSpace(s, i) {
			return append(dst, ' '), 1
		}
	case '%':
		if i+2 < n && isHex(s[i+1]) && isHex(s[i+2]) {
			return append(dst, unhex(s[i+1])<<4|unhex(s[i+2])), 3
		}
	case '\\':
		if i+1 >= n {
			return dst, 0
		}
		switch s[i+1] {
		case 'u':
			if i+5 < n && isHex(s[i+2]) && isHex(s[i+3]) && isHex(s[i+4]) && isHex(s[i+5]) {
				r := rune(hexVal(s[i+2 : i+6]))
				size := 6
				if utf16Surrogate(r) && i+11 < n && s[i+6] == '\\' && s[i+7] == 'u' && allHex(s[i+8:i+12]) {
					lo := rune(hexVal(s[i+8 : i+12]))
					r = (r-0xd800)<<10 | (lo - 0xdc00) + 0x10000
					size = 12
				}
				return utf8.AppendRune(dst, r), size
			}
		case 'x':
			if i+3 < n && isHex(s[i+2]) && isHex(s[i+3]) {
				return append(dst, unhex(s[i+2])<<4|unhex(s[i+3])), 4
			}
		case '/', '"', '\\':
			return append(dst, s[i+1]), 2
		}
	case '&':
		j := i + 1
		for j < n && j-i <= 12 && s[j] != ';' && (isAlnum(s[j]) || s[j] == '#') {
			j++
		}
		if j >= n || s[j] != ';' || j == i+1 {
			return dst, 0
		}
		name := s[i+1 : j]
		if name[0] == '#' {
			var v uint64
			var err error
			if len(name) > 2 && (name[1] == 'x' || name[1] == 'X') {
				v, err = strconv.ParseUint(name[2:], 16, 32)
			} else {
				v, err = strconv.ParseUint(name[1:], 10, 32)
			}
			if err != nil || v > unicode.MaxRune {
				return dst, 0
			}
			return utf8.AppendRune(dst, rune(v)), j + 1 - i
		}
		if r, ok := namedRefs[strings.ToLower(name)]; ok {
			return append(dst, r...), j + 1 - i
		}
	}
	return dst, 0
}

// hasFormSpace reports a '+' in s that formSpace decodes (at most 64
// are looked at: '+' is common in text, "+0000", "+1 555…").
func hasFormSpace(s string) bool {
	for i, n := 0, 0; i < len(s) && n < 64; n++ {
		k := strings.IndexByte(s[i:], '+')
		if k < 0 {
			return false
		}
		if formSpace(s, i+k) {
			return true
		}
		i += k + 1
	}
	return false
}

// formSpace reports a '+' that a form-encoded query value writes for a
// space ("card_number=5555+5555+5555+4444", "msisdn=%2B44+7700+900123"):
// between letters or digits, after a '=' in the same run.
func formSpace(s string, i int) bool {
	if i == 0 || i+1 >= len(s) || !isAlnum(s[i-1]) || !isAlnum(s[i+1]) && s[i+1] != '%' {
		return false
	}
	for k := i - 1; k >= 0 && i-k <= 256; k-- {
		switch c := s[k]; {
		case c == '=':
			return true
		case c == '&' || c == '?' || escapeDelim(c):
			return false
		}
	}
	return false
}

func utf16Surrogate(r rune) bool { return r >= 0xd800 && r < 0xdc00 }

func allHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isHex(s[i]) {
			return false
		}
	}
	return true
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

func hexVal(s string) uint32 {
	var v uint32
	for i := 0; i < len(s); i++ {
		v = v<<4 | uint32(unhex(s[i]))
	}
	return v
}

// unescapeRun decodes every escape in run, keeping for each decoded byte
// the source bytes it came from.
func unescapeRun(run string) (*DecodedRun, bool) {
	d := &DecodedRun{}
	buf := make([]byte, 0, len(run))
	starts := make([]int32, 0, len(run))
	ends := make([]int32, 0, len(run))
	changed := false
	qp := strings.IndexByte(run, '=') >= 0 && qpSignal(run)
	for i := 0; i < len(run); {
		before := len(buf)
		var size int
		buf, size = decodeEscape(run, i, buf, qp)
		if size == 0 {
			buf = append(buf, run[i])
			size = 1
		} else {
			changed = true
		}
		for k := before; k < len(buf); k++ {
			starts = append(starts, int32(i))
			ends = append(ends, int32(i+size))
		}
		i += size
	}
	if !changed || !utf8.Valid(buf) {
		return nil, false
	}
	d.Text, d.starts, d.ends = string(buf), starts, ends
	return d, true
}

// encodedMatches adds to ms a match over the source span of every finding
// in the decoded runs of w, and returns ms. Decoded text is scanned with
// the same hints, and decoded again up to maxDecodeDepth levels (base64 of
// a percent-encoded value).
func (sc *scanner) encodedMatches(w string, hints uint8, ms []match, depth int) []match {
	if depth >= maxDecodeDepth {
		return ms
	}
	e := sc.e
	sc.dec.each(w, func(r *DecodedRun) bool {
		sub := e.getScanner()
		// The words just before an escaped run are its context, as they
		// are for plain text: "<th>phone</th><td>0171&nbsp;2345678".
		// Only matches inside the run count.
		ctx := ""
		if r.Start > 0 && depth == 0 {
			ctx = w[max(0, r.Start-24):r.Start]
		}
		text := r.Text
		if ctx != "" {
			text = ctx + r.Text
		}
		found := sub.scan(text, hints)
		found = sub.encodedMatches(text, hints, found, depth+1)
		for _, m := range resolve(found, nil) {
			if m.start < len(ctx) {
				continue
			}
			st, en := r.Source(m.start-len(ctx), m.end-len(ctx))
			ms = append(ms, match{start: st, end: en, ent: m.ent, encoded: true})
		}
		sub.release()
		return true
	})
	if len(ms) > 0 {
		sc.matches = ms
	}
	return ms
}

// mayBeEncoded is the prefilter for text that mayContain passes over: it
// reports an escape or a base64 run long enough for EncodedRuns to decode.
func mayBeEncoded(s string) bool {
	run := 0
	var cls uint8
	for i := 0; i < len(s); i++ {
		c := s[i]
		if base64Byte[c] {
			run++
			cls |= caseClass[c]
			if run >= minBase64Run && cls == 3 {
				return true
			}
			continue
		}
		run, cls = 0, 0
		if (c == '%' || c == '&' || c == '\\' || c == '+' || c == '=') && escapeAt(s, i) > 0 {
			return true
		}
	}
	return false
}

// caseClass is 1 for upper-case and 2 for lower-case ASCII letters.
var caseClass [256]uint8

func init() {
	for c := 'A'; c <= 'Z'; c++ {
		caseClass[c] = 1
		caseClass[c+'a'-'A'] = 2
	}
}

// qpHex is an upper-case hex digit, as quoted-printable writes them.
func qpHex(c byte) bool { return isDigit(c) || c >= 'A' && c <= 'F' }

// qpTelling reports a quoted-printable escape at s[i] that text other than
// quoted-printable rarely holds: "=3D" ('='), "=40" ('@') inside a word
// before a domain (ann=40example.com, not limit=40) and a UTF-8 lead byte
// followed by its continuation ("=C3=A9"). A run with one decodes its
// other escapes too.
func qpTelling(s string, i int) bool {
	if i+2 >= len(s) || s[i] != '=' {
		return false
	}
	switch s[i+1 : i+3] {
	case "3D":
		return true
	case "40":
		// A domain follows: "=40example.com", not "dur=40ms".
		if i == 0 || !localByte(s[i-1]) || i+3 >= len(s) || !isLetter(s[i+3]) {
			return false
		}
		k := i + 3
		for k < len(s) && k-i < 64 && (isAlnum(s[k]) || s[k] == '-') {
			k++
		}
		return k+1 < len(s) && s[k] == '.' && isLetter(s[k+1])
	case "C2", "C3", "C4", "C5", "D0", "D1", "E2":
		return i+5 < len(s) && s[i+3] == '=' && s[i+4] >= '8' && s[i+4] <= 'B' && qpHex(s[i+5])
	}
	return false
}

// qpSignal reports a telling quoted-printable escape anywhere in s.
func qpSignal(s string) bool {
	for k := strings.IndexByte(s, '='); k >= 0 && k+2 < len(s); {
		if c := s[k+1]; (c == '3' || c == '4' || c >= 'C' && c <= 'E') && qpTelling(s, k) {
			return true
		}
		n := strings.IndexByte(s[k+1:], '=')
		if n < 0 {
			return false
		}
		k += 1 + n
	}
	return false
}

// unescapeText returns s with its escapes (percent, HTML character
// references, JSON \u, quoted-printable) decoded, for judging a value
// ("&lt;your-token&gt;" is a placeholder); s itself when it has none.
func unescapeText(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c == '%' || c == '&' || c == '\\' || c == '+' || c == '=') && escapeAt(s, i) > 0 {
			if r, ok := unescapeRun(s); ok {
				return r.Text
			}
			return s
		}
	}
	return s
}

// maskSoftBreaks masks the values that a quoted-printable soft line break
// ("=" at the end of a line) cuts in two, "bob=40exam=\r\nple.com", which
// the line-by-line pass cannot see whole. Only text that shows
// quoted-printable (a Content-Transfer-Encoding header or a telling escape)
// is joined; values within one line are left to the line pass. The mask
// covers the value's source bytes, the soft break included.
func (e *Engine) maskSoftBreaks(s string, c Counts) string {
	if !hasSoftBreak(s) || !(qpSignal(s) || strings.Contains(strings.ToLower(s), "quoted-printable")) {
		return s
	}
	joined := make([]byte, 0, len(s))
	src := make([]int32, 0, len(s)+1)
	for i := 0; i < len(s); {
		if s[i] == '=' {
			if strings.HasPrefix(s[i+1:], "\n") {
				i += 2
				continue
			}
			if strings.HasPrefix(s[i+1:], "\r\n") {
				i += 3
				continue
			}
		}
		joined = append(joined, s[i])
		src = append(src, int32(i))
		i++
	}
	var b strings.Builder
	last := 0
	for _, f := range e.Find(string(joined)) {
		os, oe := int(src[f.Start]), int(src[f.End-1])+1
		if oe-os == f.End-f.Start || os < last {
			continue // within one line: the line pass masks it
		}
		if f.Entity == PrivateKey {
			continue
		}
		b.WriteString(s[last:os])
		b.WriteString(e.render(f.Entity, e.ops[f.Entity], string(joined[f.Start:f.End]), false))
		c.add(f.Entity)
		last = oe
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// hasSoftBreak reports a line that ends in '=' followed by another line.
// It steps from line break to line break: text has fewer of them than
// of '='.
func hasSoftBreak(s string) bool {
	for i := 0; i < len(s); {
		k := strings.IndexByte(s[i:], '\n')
		if k < 0 {
			return false
		}
		k += i
		if k+1 < len(s) && (k > 0 && s[k-1] == '=' || k > 1 && s[k-1] == '\r' && s[k-2] == '=') {
			return true
		}
		i = k + 1
	}
	return false
}
