package masking

import (
	"encoding"
	"encoding/json"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Engine masks text and JSON-like values under one Config. It is
// immutable after New and safe for concurrent use.
type Engine struct {
	ops     map[Entity]Operator
	columns []columnRule
	keys    []keyRule
	hashKey []byte
	anyNull bool
}

// New validates cfg and builds an Engine. The hash operator anywhere in cfg
// requires a HashKey of at least 16 bytes.
func New(cfg Config) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if f, ok := cfg.usesHash(); ok && len(cfg.HashKey) < minHashKey {
		return nil, fieldErr("hash_key", "%s uses the hash operator, which needs a key of at least %d bytes", f, minHashKey)
	}
	e := &Engine{ops: map[Entity]Operator{Field: Redact}, hashKey: []byte(cfg.HashKey)}
	for _, ent := range Entities() {
		op := cfg.Entities[ent]
		if op == "" {
			op = Redact
		}
		e.ops[ent] = op
		e.anyNull = e.anyNull || op == Null
	}
	for _, p := range sortedKeys(cfg.Columns) {
		lp := strings.ToLower(p)
		tp, cp := splitColumnPattern(lp)
		e.columns = append(e.columns, columnRule{pattern: lp, tablePat: tp, columnPat: cp, op: cfg.Columns[p]})
	}
	for _, p := range sortedKeys(cfg.JSONKeys) {
		segs, _ := compileKeyPattern(p)
		e.keys = append(e.keys, keyRule{segs: segs, op: cfg.JSONKeys[p]})
	}
	return e, nil
}

func (e *Engine) enabled(ent Entity) bool {
	op, ok := e.ops[ent]
	return ok && op != Off
}

// Operator returns the operator configured for ent (Off when disabled).
func (e *Engine) Operator(ent Entity) Operator { return e.ops[ent] }

// MaskString masks s as text, counting nothing. It implements Masker.
func (e *Engine) MaskString(s string) string { return e.MaskText(s, nil) }

// MaskText runs the detectors over s line by line and rewrites what they
// find; PEM private key blocks, which span lines, are found first. The
// result is s itself when nothing was found.
func (e *Engine) MaskText(s string, c Counts) string {
	return e.maskText(s, 0, c)
}

func (e *Engine) maskText(s string, hints uint8, c Counts) string {
	if len(s) < 256 && !mayContain(s) && !mayBeEncoded(s) {
		return s // short strings (cells, keys) skip the line machinery
	}
	// Private key blocks span lines: mask them before a document pass,
	// which masks a table cell by cell and line by line (and is final).
	if e.enabled(PrivateKey) && hasPEM(s) {
		s = e.maskPEM(s, c)
	}
	s = e.maskSoftBreaks(s, c) // quoted-printable (detect_encoded.go)
	if len(s) >= 24 && hasInsert(s) {
		s = applyEdits(s, e.insertEdits(s, c))
	}
	if len(s) >= 16 && hasEntities(s) {
		s = applyEdits(s, e.entityEdits(s, c))
	}
	if len(s) >= 16 && hasException(s) {
		s = applyEdits(s, e.exceptionEdits(s, c))
	}
	if len(s) >= minDoc && mayBeDocument(s) {
		out, done := e.maskDocument(s, c)
		if done {
			return out
		}
		s = out
	}
	sc := e.getScanner()
	defer sc.release()
	if strings.IndexByte(s, '\n') < 0 {
		// One line (a cell, a value): its masked form is the result, with
		// no copy through the builder below.
		if goErrorLine(s) {
			s = e.maskMessageLine(s, c)
		}
		masked, _ := sc.maskLine(s, hints, c)
		return masked
	}
	var out strings.Builder
	last := 0
	for start := 0; start <= len(s); {
		end := strings.IndexByte(s[start:], '\n')
		if end < 0 {
			end = len(s)
		} else {
			end += start
		}
		line := s[start:end]
		pre := false
		if goErrorLine(line) {
			if m := e.maskMessageLine(line, c); m != line {
				line, pre = m, true
			}
		}
		if masked, changed := sc.maskLine(line, hints, c); changed || pre {
			if last == 0 {
				out.Grow(len(s) + 32)
			}
			out.WriteString(s[last:start])
			out.WriteString(masked)
			last = end
		}
		start = end + 1
	}
	if out.Cap() == 0 {
		return s
	}
	out.WriteString(s[last:])
	return out.String()
}

// hasPEM is the cheap test for a private key block. "PRIVATE KEY" is
// searched rather than "-----BEGIN": logs are full of '-', and a
// truncated block may have lost its BEGIN line's dashes but not its label.
func hasPEM(s string) bool {
	return strings.Contains(s, "PRIVATE KEY")
}

func (e *Engine) maskPEM(s string, c Counts) string {
	blocks := pemBlocks(s)
	if len(blocks) == 0 {
		return s
	}
	var b strings.Builder
	last := 0
	op := e.ops[PrivateKey]
	for _, blk := range blocks {
		b.WriteString(s[last:blk[0]])
		b.WriteString(e.render(PrivateKey, op, s[blk[0]:blk[1]], true))
		c.add(PrivateKey)
		last = blk[1]
	}
	b.WriteString(s[last:])
	return b.String()
}

// maskLine masks one line and repeats until nothing changes (at most four
// passes): replacing a value can remove what kept a neighbour from being
// detected, and masked output must not change when masked again.
func (sc *scanner) maskLine(line string, hints uint8, c Counts) (string, bool) {
	if !mayContain(line) && !mayBeEncoded(line) {
		return line, false
	}
	out, changed := sc.maskPass(line, hints, c)
	if !changed {
		return line, false
	}
	for k := 0; k < 3; k++ {
		next, again := sc.maskPass(out, hints, c)
		if !again {
			break
		}
		out = next
	}
	return out, true
}

// maxWindow bounds the text scanned at once: a long line (minified JSON,
// a log blob) is cut at a structural character, so the normalised view
// and its offset tables stay small.
const maxWindow = 32 << 10

func (sc *scanner) maskPass(line string, hints uint8, c Counts) (string, bool) {
	if len(line) <= maxWindow {
		return sc.maskWindow(line, hints, c)
	}
	var b strings.Builder
	changed := false
	for len(line) > 0 {
		w := line[:windowEnd(line)]
		out, ch := sc.maskWindow(w, hints, c)
		changed = changed || ch
		b.WriteString(out)
		line = line[len(w):]
	}
	if !changed {
		return "", false
	}
	return b.String(), true
}

// windowEnd picks where to cut a long line: after a structural character
// that no detected value contains, else at a space between non-digits,
// else at a rune boundary.
func windowEnd(s string) int {
	if len(s) <= maxWindow {
		return len(s)
	}
	hi := min(len(s), 2*maxWindow)
	for k := maxWindow; k < hi; k++ {
		switch s[k] {
		case ',', ';', '{', '}', '[', ']', '|', '\t', '<', '>':
			return k + 1
		}
	}
	for k := maxWindow; k < hi-1; k++ {
		if s[k] == ' ' && !isDigit(s[k-1]) && !isDigit(s[k+1]) {
			return k + 1
		}
	}
	k := hi
	for k > maxWindow && k < len(s) && !utf8.RuneStart(s[k]) {
		k--
	}
	return k
}

// view returns the text detectors see: w itself, or its normalised form
// when w has characters that normalisation changes.
func (sc *scanner) view(w string) (string, *folded) {
	if isASCII(w) || !needsFold(w) {
		return w, nil
	}
	sc.fold.foldString(w)
	return string(sc.fold.s), &sc.fold
}

func (sc *scanner) maskWindow(w string, hints uint8, c Counts) (string, bool) {
	// Scan the text as it is; only text with multi-byte characters that
	// normalisation changes is scanned again, normalised. This saves a pass
	// over the (mostly ASCII) text to decide up front.
	scanned, f := w, (*folded)(nil)
	ms := sc.scan(w, hints)
	if sc.nonASCII && needsFold(w) {
		sc.fold.foldString(w)
		scanned, f = string(sc.fold.s), &sc.fold
		ms = sc.scan(scanned, hints)
	}
	ms = sc.encodedMatches(scanned, hints, ms, 0)
	ms = sc.splitSSNText(scanned, ms)
	if len(ms) == 0 {
		return w, false
	}
	e := sc.e
	b := sc.out[:0]
	last := 0
	sc.res = resolve(ms, sc.res)
	for _, r := range sc.res {
		os, oe := r.start, r.end
		if f != nil {
			os, oe = int(f.starts[r.start]), int(f.ends[r.end-1])
		}
		if os < last {
			os = last
		}
		if oe <= os {
			continue
		}
		b = append(b, w[last:os]...)
		b = append(b, e.render(r.ent, e.ops[r.ent], scanned[r.start:r.end], r.exact)...)
		last = oe
		c.add(r.ent)
	}
	b = append(b, w[last:]...)
	sc.out = b
	if string(b) == w {
		return w, false
	}
	return string(b), true
}

// classify returns the entity of a value that is, as a whole, one
// detected value ("078-05-1121" is an SSN; "SSN 078-05-1121" is not).
func (e *Engine) classify(s string, hints uint8) (Entity, bool) {
	t := strings.TrimSpace(s)
	if t == "" {
		return "", false
	}
	if strings.HasPrefix(t, "-----BEGIN ") && e.enabled(PrivateKey) {
		if b := pemBlocks(t); len(b) == 1 && b[0][0] == 0 && b[0][1] == len(t) {
			return PrivateKey, true
		}
	}
	sc := e.getScanner()
	defer sc.release()
	scanned, _ := sc.view(t)
	rs := resolve(sc.scan(scanned, hints), sc.res)
	sc.res = rs
	if len(rs) == 1 && rs[0].exact && rs[0].start == 0 && rs[0].end == len(scanned) {
		return rs[0].ent, true
	}
	return "", false
}

// MaskValue masks a JSON-like value: JSON key rules by key path, the
// secret-name rule on keys, and the detectors on every string (map keys
// included) and integer. It never mutates v: containers come back as new
// map[string]any and []any values; strings, numbers, bools and nil keep
// their types unless masked (masked scalars become strings, or nil under
// the null operator).
func (e *Engine) MaskValue(v any, c Counts) any {
	w := walker{e: e, c: c}
	return w.value(v, 0)
}

// MaskCell masks one result cell whose column resolved to table.column:
// the column rules first, then the secret-name rule on the column name,
// then the detectors (with the column name as context, so nine bare digits
// in an "ssn" column are an SSN).
func (e *Engine) MaskCell(table, column string, v any, c Counts) any {
	lc := strings.ToLower(column)
	if op, ok := e.ColumnOperator(table, column); ok {
		return e.maskWhole(op, v, "", keyHints(lc), c)
	}
	w := walker{e: e, c: c}
	return w.named(column, v, keyHints(lc))
}

// MaskColumnValue applies op to a whole value, as a column or JSON key
// rule does. entityHint names what the value is; when empty, a value that
// a detector recognises as a whole takes that entity (so partial keeps an
// SSN's last four as "***-**-6789"), anything else is FIELD. Values that
// are already masked are returned unchanged; an unknown op redacts.
func (e *Engine) MaskColumnValue(op Operator, v any, entityHint Entity, c Counts) any {
	return e.maskWhole(op, v, entityHint, 0, c)
}

func (e *Engine) maskWhole(op Operator, v any, hint Entity, hints uint8, c Counts) any {
	if v == nil {
		return nil
	}
	str, scalar := scalarString(v)
	// Only what this operator itself writes is left as it is: a label or
	// pseudonym, or under partial a partial view. Stars around readable
	// text ("hunter***") are a value.
	if scalar && (isMaskToken(str) || op == Partial && looksMasked(str)) {
		return v
	}
	ent := hint
	if ent == "" && scalar {
		if x, ok := e.classify(str, hints); ok {
			ent = x
		}
	}
	if ent == "" {
		ent = Field
	}
	c.add(ent)
	switch op {
	case Null:
		return nil
	case Hash:
		if !scalar {
			b, err := json.Marshal(v)
			if err != nil {
				return label(ent)
			}
			str = string(b)
		}
		return e.pseudonym(ent, str)
	case Partial:
		if !scalar {
			return label(ent)
		}
		if ent == Field {
			return fieldPartial(str)
		}
		if p, ok := partial(ent, str); ok {
			return p
		}
	}
	return label(ent)
}

// scalarString renders a scalar for whole-value rules.
func scalarString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case []byte:
		return string(x), true
	case json.Number:
		return string(x), true
	case bool:
		return strconv.FormatBool(x), true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case float32:
		return strconv.FormatFloat(float64(x), 'f', -1, 32), true
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(rv.Int(), 10), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return strconv.FormatUint(rv.Uint(), 10), true
	case reflect.String:
		return rv.String(), true
	}
	if tm, ok := v.(encoding.TextMarshaler); ok {
		if b, err := tm.MarshalText(); err == nil {
			return string(b), true
		}
	}
	return "", false
}

// keyHints reads an SSN, phone or card context from a key, column,
// element or header name (lower-case): social_security, X-Social-Security,
// "phone number", employeeSSN (lower-cased to employeessn) all count.
func keyHints(k string) uint8 {
	if strings.ContainsAny(k, "- .") {
		k = strings.NewReplacer("-", "_", " ", "_", ".", "_").Replace(k)
	}
	var h uint8
	if strings.Contains(k, "ssn") || strings.Contains(k, "social_security") || strings.Contains(k, "socialsecurity") {
		h |= hintSSN
	}
	if strings.Contains(k, "phone") || strings.Contains(k, "mobile") || strings.Contains(k, "msisdn") ||
		strings.Contains(k, "fax") || strings.Contains(k, "contact_num") || strings.Contains(k, "contact_no") || strings.Contains(k, "telefon") || strings.Contains(k, "handy") || strings.Contains(k, "celular") ||
		k == "tel" || k == "cell" || strings.HasSuffix(k, "_tel") || strings.HasPrefix(k, "tel_") {
		h |= hintPhone
	}
	if strings.Contains(k, "card") || strings.Contains(k, "karte") || k == "pan" || k == "cc" || strings.HasPrefix(k, "cc_") || strings.HasSuffix(k, "_pan") {
		h |= hintCard
	}
	if h != 0 {
		return h
	}
	// Whole words only: "android_ip", "building_ip" and "conversion_ip"
	// hold these letters and are still addresses. A camel-case key lost
	// its word breaks, so the key's end counts too ("appversion"), but
	// not for "oid", the end of "android" and "avoid".
	last := k[strings.LastIndexByte(k, '_')+1:]
	for _, w := range versionKeys {
		if w != "oid" && strings.HasSuffix(last, w) {
			return hintVersion
		}
		for t := range strings.SplitSeq(k, "_") {
			if t == w {
				return hintVersion
			}
		}
	}
	for _, w := range idKeys {
		if k == w || len(k) > len(w) && (k[len(w)] == '_' && strings.HasPrefix(k, w) || k[len(k)-len(w)-1] == '_' && strings.HasSuffix(k, w)) {
			return hintID
		}
	}
	return 0
}

// docKeyHints is keyHints for a key an outsider may have chosen: a
// document's or a response body's key rather than a stored column's name.
// Its negative hints carry hintKey.
func docKeyHints(k string) uint8 {
	h := keyHints(k)
	if h&hintsNegative != 0 {
		h |= hintKey
	}
	return h
}

var (
	versionKeys = []string{"version", "build", "release", "firmware", "oid"}
	idKeys      = []string{"id", "order", "invoice", "sku", "ticket", "tracking", "ref", "reference", "isbn", "serial",
		"ean", "gtin", "upc", "ts", "timestamp", "created", "updated", "epoch", "case", "order_id", "request_id", "trace_id"}
)

// walker carries the key path through MaskValue.
type walker struct {
	e    *Engine
	c    Counts
	path []string
}

func (w *walker) value(v any, hints uint8) any {
	e := w.e
	switch x := v.(type) {
	case nil:
		return nil
	case string:
		m, null := e.maskString(x, hints, w.c)
		switch {
		case null:
			return nil
		case m == x:
			return v // unchanged: no new interface value
		}
		return m
	case map[string]any:
		out := make(map[string]any, len(x))
		var renamed []string
		for k, v := range x {
			if mayContain(k) && w.e.maskText(k, 0, nil) != k {
				renamed = append(renamed, k) // later, in order, so collisions resolve the same way every time
				continue
			}
			w.entry(out, k, k, v)
		}
		sort.Strings(renamed)
		for _, k := range renamed {
			w.entry(out, k, w.e.maskText(k, 0, w.c), x[k])
		}
		if e.enabled(SSN) {
			for _, k := range splitSSNKeys(x) {
				if _, ok := out[k]; ok {
					out[k] = e.maskWhole(e.ops[SSN], x[k], SSN, hintSSN, w.c)
				}
			}
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, el := range x {
			out[i] = w.value(el, hints)
		}
		return out
	case bool, time.Time:
		return x
	case []byte:
		if !utf8.Valid(x) {
			return x
		}
		m := e.maskStringValue(string(x), hints, w.c)
		if s, ok := m.(string); ok {
			if s == string(x) {
				return append([]byte(nil), x...)
			}
			return []byte(s)
		}
		return nil
	case json.Number:
		return e.maskNumber(string(x), x, hints, w.c)
	case float64:
		if x == float64(int64(x)) {
			return e.maskNumber(strconv.FormatInt(int64(x), 10), x, hints, w.c)
		}
		return x
	case float32:
		return x
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return e.maskNumber(strconv.FormatInt(rv.Int(), 10), v, hints, w.c)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return e.maskNumber(strconv.FormatUint(rv.Uint(), 10), v, hints, w.c)
	case reflect.String:
		return e.maskStringValue(rv.String(), hints, w.c)
	case reflect.Bool:
		return v
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			return nil
		}
	case reflect.Map:
		if rv.Type().Key().Kind() == reflect.String {
			m := make(map[string]any, rv.Len())
			for it := rv.MapRange(); it.Next(); {
				m[it.Key().String()] = it.Value().Interface()
			}
			return w.value(m, hints)
		}
	case reflect.Slice, reflect.Array:
		out := make([]any, rv.Len())
		for i := range out {
			out[i] = w.value(rv.Index(i).Interface(), hints)
		}
		return out
	}
	if tm, ok := v.(encoding.TextMarshaler); ok {
		if b, err := tm.MarshalText(); err == nil {
			return e.maskStringValue(string(b), hints, w.c)
		}
	}
	// Anything else goes through its JSON form, which is what the agent
	// and the journal will see; what cannot be encoded is not shown.
	b, err := json.Marshal(v)
	if err != nil {
		return label(Field)
	}
	d := json.NewDecoder(strings.NewReader(string(b)))
	d.UseNumber()
	var generic any
	if d.Decode(&generic) != nil {
		return label(Field)
	}
	return w.value(generic, hints)
}

// entry masks one map entry into out under the masked key mk.
func (w *walker) entry(out map[string]any, k, mk string, v any) {
	lk := strings.ToLower(k)
	if len(w.e.keys) > 0 {
		w.path = append(w.path, lk)
		defer func() { w.path = w.path[:len(w.path)-1] }()
	}
	if mk != k {
		// Two keys masked to one label must not overwrite each other.
		base := mk
		for n := 2; ; n++ {
			if _, taken := out[mk]; !taken {
				break
			}
			mk = base + "#" + strconv.Itoa(n)
		}
	}
	hints := docKeyHints(strings.ToLower(stripMaskTokens(k))) // a masked key ("PHONE_…") is no context
	if len(w.e.keys) > 0 {
		if op, ok := w.e.keyOperator(w.path); ok {
			out[mk] = w.e.maskWhole(op, v, "", hints, w.c)
			return
		}
	}
	out[mk] = w.named(k, v, hints)
}

// named masks a value whose key or column is called name: a scalar under
// a secret-like name is masked whole when it looks like a real secret.
func (w *walker) named(name string, v any, hints uint8) any {
	return w.namedStrength(name, max(secretKey(name), secretName(name)), v, hints)
}

// namedStrength is named with the name's secret strength already known
// (a ColumnMasker judges its column's name once, not per cell).
func (w *walker) namedStrength(name string, strength int, v any, hints uint8) any {
	e := w.e
	if strength > 0 && e.enabled(Secret) {
		// Judge the value as the detectors would leave it, as the next
		// pass will: "+100000000000\"1100" is not a secret, but what is
		// left once its phone is masked may be.
		if str, ok := scalarString(v); ok && v != nil && !isBool(v) && secretValue(e.maskText(str, hints, nil), strength) {
			if isMaskToken(str) || looksMasked(str) && !partialEmailShape(str) {
				return v
			}
			ent := Secret
			if x, ok := e.classify(str, hints); ok && e.enabled(x) {
				ent = x
			}
			op := e.ops[ent]
			if op == Partial {
				op = Redact // a secret has no safe part
			}
			return e.maskWhole(op, v, ent, hints, w.c)
		}
	}
	return w.value(v, hints)
}

func isBool(v any) bool {
	_, ok := v.(bool)
	return ok
}

// maskStringValue masks a string that is a whole value: under the null
// operator a value that is entirely one entity becomes nil.
func (e *Engine) maskStringValue(s string, hints uint8, c Counts) any {
	m, null := e.maskString(s, hints, c)
	if null {
		return nil
	}
	return m
}

// maskString is maskStringValue without the interface value: null is
// true when the value becomes nil.
func (e *Engine) maskString(s string, hints uint8, c Counts) (_ string, null bool) {
	if e.anyNull {
		if ent, ok := e.classify(s, hints); ok && e.ops[ent] == Null {
			c.add(ent)
			return "", true
		}
	}
	return e.maskText(s, hints, c), false
}

// maskNumber checks an integer for a card number, or for an SSN or phone
// number when the key says so (an SSN stored as a number loses its leading
// zeros, so short ones are padded back).
func (e *Engine) maskNumber(str string, orig any, hints uint8, c Counts) any {
	d := strings.TrimPrefix(str, "-")
	if d == "" || len(d) > 19 {
		return orig
	}
	for k := 0; k < len(d); k++ {
		if !isDigit(d[k]) {
			return orig
		}
	}
	var ent Entity
	n := len(d)
	switch {
	case n >= 13 && cardIIN([]byte(d)) && luhn([]byte(d)) && (n != 13 || hints&hintCard != 0 || !gtin([]byte(d))):
		ent = CreditCard
	case hints&hintSSN != 0 && n >= 7 && n <= 9:
		d = strings.Repeat("0", 9-n) + d
		if validSSN([]byte(d)) {
			ent = SSN
		}
	case hints&hintPhone != 0 && n >= 7 && n <= 15:
		ent = Phone
	}
	if ent == "" || !e.enabled(ent) {
		return orig
	}
	c.add(ent)
	op := e.ops[ent]
	if op == Null {
		return nil
	}
	return e.render(ent, op, d, true)
}

// Finding is one value the detectors found: byte offsets into the text
// given to Find, and the entity.
type Finding struct {
	Entity     Entity
	Start, End int
}

// Find reports what MaskText would mask in s, without masking it: PEM
// blocks, then each line's detections, overlaps merged as MaskText merges
// them. Scorers and tools that explain a masking decision use it.
func (e *Engine) Find(s string) []Finding {
	var out []Finding
	var blocks [][2]int
	if e.enabled(PrivateKey) && hasPEM(s) {
		blocks = pemBlocks(s)
	}
	sc := e.getScanner()
	defer sc.release()
	lineFind := func(base int, line string) {
		for off := 0; off < len(line); {
			w := line[off : off+windowEnd(line[off:])]
			scanned, f := sc.view(w)
			ms := sc.splitSSNText(scanned, sc.encodedMatches(scanned, 0, sc.scan(scanned, 0), 0))
			for _, r := range resolve(ms, nil) {
				st, en := r.start, r.end
				if f != nil {
					st, en = int(f.starts[r.start]), int(f.ends[r.end-1])
				}
				out = append(out, Finding{Entity: r.ent, Start: base + off + st, End: base + off + en})
			}
			off += len(w)
		}
	}
	pos := 0
	for _, b := range append(blocks, [2]int{len(s), len(s)}) {
		for start := pos; start < b[0]; {
			end := strings.IndexByte(s[start:b[0]], '\n')
			if end < 0 {
				end = b[0]
			} else {
				end += start
			}
			lineFind(start, s[start:end])
			start = end + 1
		}
		if b[1] > b[0] {
			out = append(out, Finding{Entity: PrivateKey, Start: b[0], End: b[1]})
		}
		pos = b[1]
	}
	return out
}
