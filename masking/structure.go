package masking

import (
	"sort"
	"strings"
)

// Structure-aware scanning. A text result is often a document: a JSON
// body, an XML answer, a CSV export, a markdown table, YAML, log lines of
// key=value fields. The detectors read words next to a value as context,
// but a table header is lines away from its cells and an XML element name
// is not a word before its text. So a document is recognised first and
// each value is given its key — the JSON key, the element or attribute
// name, the column header, the YAML key, the log field — and masked as a
// JSON value under that key is: JSON key rules (Config.JSONKeys, with the
// document's nesting as the path), secret-named keys, and the SSN and
// phone context of a key. Then the text detectors run over the whole
// result as before, so recognising a document only ever adds masking.
// A JSON document is masked by the streaming JSON masker instead, which
// applies everything MaskValue does.

type docKind uint8

const (
	docText docKind = iota
	docJSON
	docXML
	docTable // CSV, TSV, semicolon-separated
	docMarkdown
	docExpanded // psql's expanded display (\x): "-[ RECORD 1 ]---", then "column | value"
)

// minDoc is the shortest text looked at as a document.
const minDoc = 8

// sniff says what s looks like, from its first lines only.
func sniff(s string) (docKind, byte) {
	i := 0
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n') {
		i++
	}
	if i == len(s) {
		return docText, 0
	}
	if strings.HasPrefix(s[i:], "-[ RECORD ") {
		return docExpanded, '|'
	}
	switch s[i] {
	case '{', '[':
		return docJSON, 0
	case '<':
		// A tag, not curl's "< HTTP/2 200" header echo.
		if i+1 < len(s) && (isLetter(s[i+1]) || s[i+1] == '?' || s[i+1] == '!' || s[i+1] == '_') {
			return docXML, 0
		}
		return docText, 0
	case '|':
		if markdownTable(s[i:]) {
			return docMarkdown, '|'
		}
		return docText, 0
	}
	if d := tableDelim(s[i:]); d != 0 {
		return docTable, d
	}
	return docText, 0
}

func firstLines(s string, n int) []string {
	var out []string
	for len(out) < n && s != "" {
		line, rest, _ := strings.Cut(s, "\n")
		out = append(out, strings.TrimRight(line, "\r"))
		s = rest
	}
	return out
}

// markdownTable: a header row and a |---| separator row.
func markdownTable(s string) bool {
	ls := firstLines(s, 2)
	if len(ls) < 2 || !strings.HasPrefix(strings.TrimSpace(ls[1]), "|") {
		return false
	}
	sep := strings.TrimSpace(ls[1])
	return strings.Trim(sep, "|-: ") == "" && strings.Contains(sep, "-")
}

// tableDelim returns the delimiter of a delimited table with a header
// row: the header's fields look like names and the next row has as many
// fields.
func tableDelim(s string) byte {
	ls := firstLines(s, 3)
	if len(ls) < 2 {
		return 0
	}
	for _, d := range []byte{'\t', ',', ';', '|'} {
		h := splitFields(ls[0], d, nil)
		if len(h) < 2 || !headerRow(ls[0], h) {
			continue
		}
		next := ls[1]
		if d == '|' && strings.Trim(next, "-+ ") == "" && len(ls) > 2 {
			next = ls[2] // psql's rule under the header
		}
		if len(splitFields(next, d, nil)) == len(h) {
			return d
		}
	}
	return 0
}

func headerRow(line string, fs [][2]int) bool {
	for _, f := range fs {
		v := strings.TrimSpace(line[f[0]:f[1]])
		if len(v) > 64 || strings.ContainsAny(v, "@/=") || v != "" && isNumber(v) {
			return false
		}
	}
	return true
}

// splitFields splits a delimited line into the spans of its fields'
// values (inside quotes when quoted).
func splitFields(line string, d byte, out [][2]int) [][2]int {
	out = out[:0]
	for i := 0; i <= len(line); {
		if i < len(line) && line[i] == '"' {
			j := i + 1
			for j < len(line) {
				if line[j] == '"' {
					if j+1 < len(line) && line[j+1] == '"' {
						j += 2
						continue
					}
					break
				}
				j++
			}
			q := min(j, len(line))
			k := strings.IndexByte(line[q:], d)
			end := len(line)
			if k >= 0 {
				end = q + k
			}
			if strings.TrimSpace(strings.TrimPrefix(line[q:end], `"`)) != "" {
				// Text after the closing quote belongs to the field: the
				// span is all of it, so nothing in it goes unmasked.
				out = append(out, [2]int{i, end})
			} else {
				out = append(out, [2]int{i + 1, q})
			}
			if k < 0 {
				return out
			}
			i = end + 1
			continue
		}
		k := strings.IndexByte(line[i:], d)
		if k < 0 {
			out = append(out, [2]int{i, len(line)})
			return out
		}
		out = append(out, [2]int{i, i + k})
		i += k + 1
	}
	return out
}

// edit replaces s[start:end].
type edit struct {
	start, end int
	repl       string
}

func applyEdits(s string, eds []edit) string {
	if len(eds) == 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	last := 0
	for _, ed := range eds {
		if ed.start < last {
			continue
		}
		b.WriteString(s[last:ed.start])
		b.WriteString(ed.repl)
		last = ed.end
	}
	b.WriteString(s[last:])
	return b.String()
}

// maskDocument masks s as the document it looks like. done reports that
// the result is final (a JSON document, masked completely); otherwise the
// text detectors still run over out.
func (e *Engine) maskDocument(s string, c Counts) (out string, done bool) {
	kind, d := sniff(s)
	if kind == docText {
		// A document after a few lines of preamble, as in a rendered
		// HTTP response: "HTTP 200 OK\nContent-Type: text/csv\n\nid,ssn…".
		off := s
		for n := 0; n < 12; n++ {
			nl := strings.IndexByte(off, '\n')
			if nl < 0 {
				break
			}
			off = off[nl+1:]
			if k, _ := sniff(off); k != docText {
				head, body := s[:len(s)-len(off)], off
				m, done := e.maskDocument(body, c)
				if done {
					return e.maskText(head, 0, c) + m, true
				}
				return applyEdits(head, e.kvEdits(head, c)) + m, false
			}
		}
	}
	switch kind {
	case docJSON:
		var b strings.Builder
		b.Grow(len(s))
		if err := e.MaskJSON(strings.NewReader(s), &b, c); err == nil {
			// The text pass still runs: it joins an SSN split over
			// sibling keys, which a value-by-value pass cannot see.
			return b.String(), false
		}
		return s, false
	case docXML:
		return applyEdits(s, e.xmlEdits(s, c)), false
	case docTable, docMarkdown:
		return applyEdits(s, e.tableEdits(s, d, kind == docMarkdown, c)), true
	case docExpanded:
		return applyEdits(s, e.expandedEdits(s, c)), true
	}
	return applyEdits(s, e.kvEdits(s, c)), false
}

// keyed masks val, the value of key at path, as MaskValue masks a string
// under that key; ok is false when the key gives no context (the text
// detectors will judge the value on their own).
func (e *Engine) keyed(path []string, key, val string, c Counts) (string, bool) {
	return e.keyedValue(path, key, val, 0, false, false, c)
}

// keyedValue is keyed with extra context hints; full masks val with the
// detectors even when the key gives no context (the caller skips the text
// pass for it), so that a key that says what a value is not ("sku",
// "version") can keep it from being taken for a card or an address.
//
// A table's header is also a column name: column rules (Config.Columns)
// apply to it as to a computed column (".email" matches "*.email").
func (e *Engine) keyedValue(path []string, key, val string, extra uint8, full, column bool, c Counts) (string, bool) {
	t := strings.TrimSpace(val)
	if t == "" {
		return "", false
	}
	lk := strings.ToLower(key)
	hints := docKeyHints(lk) | extra
	if looksMasked(t) {
		if !full {
			return "", false // the text pass reads it
		}
		// No text pass follows a table cell: "*** 078-05-1121" only
		// looks masked, so the detectors still read it (key rules do not
		// mask a masked value again).
		if out := e.maskText(t, hints, c); out != t {
			return out, true
		}
		return "", false
	}
	if len(e.keys) > 0 && len(path) > 0 {
		if op, ok := e.keyOperator(path); ok {
			return scalarText(e.maskWhole(op, t, "", hints, c)), true
		}
	}
	if column && key != "" && len(e.columns) > 0 {
		if op, ok := e.ColumnOperator("", key); ok {
			return scalarText(e.maskWhole(op, t, "", hints, c)), true
		}
	}
	strength := max(secretKey(key), secretName(key))
	if !full && hints == 0 && (strength == 0 || !e.enabled(Secret)) {
		return "", false
	}
	if hints != 0 && isNumber(t) {
		if out := e.maskNumber(t, t, hints, c); out != any(t) {
			return scalarText(out), true
		}
	}
	w := walker{e: e, c: c}
	out := scalarText(w.named(key, t, hints))
	if out == t {
		return "", false
	}
	return out, true
}

func scalarText(v any) string {
	if v == nil {
		return ""
	}
	s, _ := scalarString(v)
	return s
}

// tableEdits masks a delimited or markdown table completely: each cell
// under its column header (and, in two-column key/value tables, the key
// cell before it), every other line as text.
func (e *Engine) tableEdits(s string, d byte, markdown bool, c Counts) []edit {
	var eds []edit
	var header []string
	var fs [][2]int
	path := make([]string, 1)
	pos := 0
	text := func(base int, line string) {
		if m := e.maskText(line, 0, c); m != line {
			eds = append(eds, edit{base, base + len(line), m})
		}
	}
	for row := 0; pos < len(s); row++ {
		base := pos
		raw, next := nextLine(s, pos)
		line := strings.TrimRight(raw, "\r")
		pos = next
		if markdown {
			t := strings.TrimSpace(line)
			if !strings.HasPrefix(t, "|") {
				header = nil // the table ended
				text(base, line)
				continue
			}
			off := strings.IndexByte(line, '|') + 1
			inner := strings.TrimSuffix(line[off:], "|")
			if strings.HasSuffix(strings.TrimSpace(line[off:]), "|") {
				inner = line[off:strings.LastIndexByte(line, '|')]
			}
			fs = splitFields(inner, '|', fs)
			for k := range fs {
				fs[k][0] += off
				fs[k][1] += off
			}
			if header == nil {
				header = make([]string, len(fs))
				for k, f := range fs {
					header[k] = strings.TrimSpace(line[f[0]:f[1]])
				}
				text(base, line)
				continue
			}
			if strings.Trim(t, "|-: ") == "" {
				continue
			}
		} else {
			if d == '|' && strings.Trim(line, "-+ ") == "" {
				continue // psql's rule under the header
			}
			fs = splitFields(line, d, fs)
			if header == nil {
				header = make([]string, len(fs))
				for k, f := range fs {
					header[k] = strings.TrimSpace(line[f[0]:f[1]])
				}
				text(base, line)
				continue
			}
		}
		var prev uint8
		for k, f := range fs {
			key := ""
			if k < len(header) {
				key = header[k]
			}
			path[0] = strings.ToLower(key)
			v := line[f[0]:f[1]]
			extra := prev
			prev = 0
			// A masked label ("[PHONE]") is a value, not a key: it must
			// not give the next cell a context (masking stays stable).
			if t := strings.TrimSpace(v); len(t) <= 40 && !strings.ContainsAny(t, "0123456789") && keyLike(t) {
				prev = docKeyHints(strings.ToLower(t)) // "ssn","078051120": a key/value table
			}
			if out, ok := e.keyedValue(path, key, v, extra, true, true, c); ok {
				// Keep the cell's padding (markdown) so columns stay aligned.
				lead := len(v) - len(strings.TrimLeft(v, " \t"))
				trail := len(v) - len(strings.TrimRight(v, " \t"))
				eds = append(eds, edit{base + f[0] + lead, base + f[1] - trail, out})
			}
		}
	}
	return eds
}

// expandedEdits masks psql's expanded display completely: each
// "column | value" line's value under its column name, as a table's cell
// under its header; a wrapped value's continuation lines (" | …", the
// line before ends in '+') keep the column; every other line as text.
func (e *Engine) expandedEdits(s string, c Counts) []edit {
	var eds []edit
	path := make([]string, 1)
	key := ""
	for pos := 0; pos < len(s); {
		base := pos
		raw, next := nextLine(s, pos)
		line := strings.TrimRight(raw, "\r")
		pos = next
		if strings.HasPrefix(line, "-[ RECORD ") {
			key = ""
			continue
		}
		bar := strings.IndexByte(line, '|')
		if bar < 0 {
			key = ""
			if m := e.maskText(line, 0, c); m != line {
				eds = append(eds, edit{base, base + len(line), m})
			}
			continue
		}
		if k := strings.TrimSpace(line[:bar]); k != "" {
			key = k
		}
		vs := bar + 1
		v := line[vs:]
		ve := len(line)
		if t := strings.TrimRight(v, " "); strings.HasSuffix(t, "+") {
			ve = vs + len(t) - 1 // psql's wrap mark
			v = line[vs:ve]
		}
		path[0] = strings.ToLower(key)
		if out, ok := e.keyedValue(path, key, v, 0, true, true, c); ok {
			lead := len(v) - len(strings.TrimLeft(v, " \t"))
			trail := len(v) - len(strings.TrimRight(v, " \t"))
			eds = append(eds, edit{base + vs + lead, base + ve - trail, out})
		}
	}
	return eds
}

// keyLike: t could be a key cell ("ssn", "phone number"), not a masked
// label such as "[PHONE]".
func keyLike(t string) bool {
	for i := 0; i < len(t); i++ {
		if !keyByte(t[i]) && t[i] != ' ' {
			return false
		}
	}
	return true
}

// xmlEdits masks element text and attribute values by their names, with
// the element nesting as the key path. <field name="ssn" value="…"/> and
// <entry key="phone">…</entry> name their value with an attribute.
func (e *Engine) xmlEdits(s string, c Counts) []edit {
	var eds []edit
	var stack []string // local names, lower-case
	var names []string // the same as written: "SecretAccessKey" names a secret, "secretaccesskey" does not
	var named []string // a name= / key= attribute of each open element
	add := func(path []string, key string, start, end int) {
		v := s[start:end]
		if out, ok := e.keyed(path, key, v, c); ok {
			lead := len(v) - len(strings.TrimLeft(v, " \t\r\n"))
			trail := len(v) - len(strings.TrimRight(v, " \t\r\n"))
			eds = append(eds, edit{start + lead, end - trail, out})
		}
	}
	top := func() (string, []string) {
		if len(stack) == 0 {
			return "", nil
		}
		if n := named[len(named)-1]; n != "" {
			return n, append(stack[:len(stack):len(stack)], strings.ToLower(n))
		}
		return names[len(names)-1], stack
	}
	i := 0
	for i < len(s) {
		lt := strings.IndexByte(s[i:], '<')
		if lt < 0 {
			// Text after the last tag still belongs to the open element:
			// a chunk of a stream may end before its end tag.
			if key, path := top(); key != "" && strings.TrimSpace(s[i:]) != "" {
				add(path, key, i, len(s))
			}
			break
		}
		if lt > 0 {
			if key, path := top(); key != "" {
				add(path, key, i, i+lt)
			}
		}
		i += lt
		rest := s[i:]
		switch {
		case strings.HasPrefix(rest, "<!--"):
			k := strings.Index(rest, "-->")
			if k < 0 {
				return eds
			}
			i += k + 3
			continue
		case strings.HasPrefix(rest, "<![CDATA["):
			k := strings.Index(rest, "]]>")
			if k < 0 {
				return eds
			}
			if key, path := top(); key != "" {
				add(path, key, i+9, i+k)
			}
			i += k + 3
			continue
		case strings.HasPrefix(rest, "<?"), strings.HasPrefix(rest, "<!"):
			k := strings.IndexByte(rest, '>')
			if k < 0 {
				return eds
			}
			i += k + 1
			continue
		case strings.HasPrefix(rest, "</"):
			k := strings.IndexByte(rest, '>')
			if k < 0 {
				return eds
			}
			name := localName(strings.TrimSpace(rest[2:k]))
			for n := len(stack) - 1; n >= 0 && len(stack)-n <= 8; n-- {
				if stack[n] == name {
					stack, names, named = stack[:n], names[:n], named[:n]
					break
				}
			}
			i += k + 1
			continue
		}
		// A start tag: its name, then attributes.
		j := i + 1
		for j < len(s) && xmlNameByte(s[j]) {
			j++
		}
		if j == i+1 {
			i++
			continue
		}
		written := localNameAsWritten(s[i+1 : j])
		name := strings.ToLower(written)
		elemName := ""
		type attr struct {
			name, written string
			start, end    int
		}
		var attrs []attr
		for j < len(s) && s[j] != '>' {
			if s[j] == '/' && j+1 < len(s) && s[j+1] == '>' {
				break
			}
			if !xmlNameByte(s[j]) {
				j++
				continue
			}
			a := j
			for j < len(s) && xmlNameByte(s[j]) {
				j++
			}
			aw := localNameAsWritten(s[a:j])
			an := strings.ToLower(aw)
			for j < len(s) && s[j] == ' ' {
				j++
			}
			if j >= len(s) || s[j] != '=' {
				continue
			}
			j++
			for j < len(s) && s[j] == ' ' {
				j++
			}
			if j >= len(s) || s[j] != '"' && s[j] != '\'' {
				continue
			}
			q := s[j]
			k := strings.IndexByte(s[j+1:], q)
			if k < 0 {
				return eds
			}
			attrs = append(attrs, attr{an, aw, j + 1, j + 1 + k})
			switch an {
			case "name", "key", "field", "property", "param":
				elemName = s[j+1 : j+1+k]
			}
			j += k + 2
		}
		for _, a := range attrs {
			key := a.written
			if elemName != "" && (a.name == "value" || a.name == "val") {
				key = elemName
			}
			switch a.name {
			case "name", "key", "field", "property", "param", "type", "id":
				if key == a.written {
					continue // names, not values
				}
			}
			add(append(stack[:len(stack):len(stack)], name, strings.ToLower(key)), key, a.start, a.end)
		}
		selfClosing := j < len(s) && s[j] == '/'
		if !selfClosing && len(stack) < 256 {
			stack = append(stack, name)
			names = append(names, written)
			named = append(named, elemName)
		}
		if k := strings.IndexByte(s[j:], '>'); k >= 0 {
			i = j + k + 1
		} else {
			return eds
		}
	}
	return eds
}

func xmlNameByte(c byte) bool {
	return isAlnum(c) || c == '_' || c == '-' || c == '.' || c == ':'
}

func localName(n string) string {
	return strings.ToLower(localNameAsWritten(n))
}

func localNameAsWritten(n string) string {
	if k := strings.LastIndexByte(n, ':'); k >= 0 {
		n = n[k+1:]
	}
	return n
}

// kvEdits gives key context to YAML mappings (indentation gives the
// path), "Key: value" lines (HTTP headers, log fields) and key=value log
// fields: JSON key rules, secret-named keys, SSN and phone keys.
func (e *Engine) kvEdits(s string, c Counts) []edit {
	var eds []edit
	type level struct {
		indent int
		key    string
	}
	var stack []level
	// block is the key whose value follows on the next lines: a block
	// scalar ("password: |", "private_key: >-") or a list ("ssn:", then
	// "- …" items). Each of its lines is masked under the key.
	var block struct {
		on, scalar bool
		indent     int
		key        string
		path       []string
	}
	pos := 0
	for pos < len(s) {
		base := pos
		raw, next := nextLine(s, pos)
		line := strings.TrimRight(raw, "\r")
		pos = next
		if block.on {
			t := strings.TrimLeft(line, " ")
			sp := len(line) - len(t)
			t = strings.TrimRight(t, " \t")
			switch {
			case t == "":
				continue
			case block.scalar && sp > block.indent:
				if out, ok := e.keyed(block.path, block.key, t, c); ok {
					eds = append(eds, edit{base + sp, base + sp + len(t), out})
				}
				continue
			case !block.scalar && sp >= block.indent && (t == "-" || strings.HasPrefix(t, "- ")):
				item := strings.TrimSpace(t[1:])
				if item != "" && item[0] != '#' && !strings.Contains(item, ": ") && !strings.HasSuffix(item, ":") {
					vs := sp + 1 + (len(t[1:]) - len(strings.TrimLeft(t[1:], " ")))
					if out, ok := e.keyed(block.path, block.key, strings.Trim(item, `"'`), c); ok {
						eds = append(eds, edit{base + vs, base + vs + len(item), out})
					}
					continue
				}
			}
			block.on = false
		}
		// YAML or header: "  key: value"; curl -v echoes headers
		// behind "< " and "> ".
		if len(line) > 2 && (line[0] == '<' || line[0] == '>') && line[1] == ' ' {
			line = "  " + line[2:]
		}
		ind := 0
		for ind < len(line) && (line[ind] == ' ' || line[ind] == '-') {
			ind++
		}
		k := ind
		for k < len(line) && keyByte(line[k]) {
			k++
		}
		if k > ind && k < len(line) && line[k] == ':' && (k+1 == len(line) || line[k+1] == ' ') {
			key := line[ind:k]
			for len(stack) > 0 && stack[len(stack)-1].indent >= ind {
				stack = stack[:len(stack)-1]
			}
			path := make([]string, 0, len(stack)+1)
			for _, l := range stack {
				path = append(path, strings.ToLower(l.key))
			}
			path = append(path, strings.ToLower(key))
			v := strings.TrimSpace(line[k+1:])
			if v == "" {
				stack = append(stack, level{ind, key})
				block.on, block.scalar, block.indent, block.key, block.path = true, false, ind, key, path
				continue
			}
			if blockScalar(v) {
				block.on, block.scalar, block.indent, block.key, block.path = true, true, ind, key, path
				continue
			}
			vs := k + 1 + strings.Index(line[k+1:], v)
			if prose(v) {
				continue // "Phone: 555 0100. Then ts 1733059200": a sentence, not a value
			}
			if out, ok := e.keyed(path, key, strings.Trim(v, `"'`), c); ok {
				eds = append(eds, edit{base + vs, base + vs + len(v), out})
			}
			continue
		}
		// A log line's "key: value" field after a prefix: "… [audit] ssn: …".
		if ci := strings.Index(line, ": "); ci > 0 {
			ks := ci
			for ks > 0 && keyByte(line[ks-1]) {
				ks--
			}
			if ks < ci && (ks == 0 || ks >= 2 && line[ks-1] == ' ' && line[ks-2] == ']') {
				key := line[ks:ci]
				v := strings.TrimSpace(line[ci+2:])
				if v != "" && !prose(v) {
					vs := ci + 2 + strings.Index(line[ci+2:], v)
					if out, ok := e.keyed([]string{strings.ToLower(key)}, key, strings.Trim(v, `"'`), c); ok {
						eds = append(eds, edit{base + vs, base + vs + len(v), out})
					}
				}
				continue
			}
		}
		// "… user updated socialSecurityNumber: 078…, phone: …": a field
		// after words, when its key tells what the value is.
		n0 := len(eds)
		for i, n := 0, 0; i < len(line) && n < 64; n++ {
			ci := strings.Index(line[i:], ": ")
			if ci < 0 {
				break
			}
			ci += i
			i = ci + 2
			ks := ci
			for ks > 0 && keyByte(line[ks-1]) {
				ks--
			}
			if ks == ci || ks == 0 || ci-ks > 64 || !isLetter(line[ks]) || line[ks-1] != ' ' && line[ks-1] != ',' {
				continue
			}
			key := line[ks:ci]
			if docKeyHints(strings.ToLower(key))&(hintSSN|hintPhone|hintCard) == 0 && max(secretKey(key), secretName(key)) == 0 {
				continue
			}
			ve := ci + 2 + strings.IndexAny(line[ci+2:], ",;")
			if ve < ci+2 {
				ve = len(line)
			}
			v := strings.TrimSpace(line[ci+2 : ve])
			if v == "" || prose(v) {
				continue
			}
			vs := ci + 2 + strings.Index(line[ci+2:], v)
			if out, ok := e.keyed([]string{strings.ToLower(key)}, key, strings.Trim(v, `"'`), c); ok {
				eds = append(eds, edit{base + vs, base + vs + len(v), out})
			}
		}
		// logfmt: key=value fields.
		for i := 0; i < len(line); {
			eq := strings.IndexByte(line[i:], '=')
			if eq < 0 {
				break
			}
			eq += i
			ks := eq
			for ks > 0 && keyByte(line[ks-1]) {
				ks--
			}
			vs, ve := eq+1, eq+1
			if ve < len(line) && line[ve] == '"' {
				vs++
				ve = vs + max(0, strings.IndexByte(line[vs:], '"'))
				if ve == vs && (vs >= len(line) || line[vs] != '"') {
					ve = len(line)
				}
			} else {
				for ve < len(line) && line[ve] != ' ' && line[ve] != '\t' && (line[ve] != '&' || !(ks > 0 && (line[ks-1] == '?' || line[ks-1] == '&'))) {
					ve++
				}
			}
			if ks < eq && ve > vs && ve < len(line) && line[ve] == ' ' && line[vs] != '"' && isNumber(line[vs:ve]) {
				// "contact_number=98765 43210": a phone's digit groups.
				if docKeyHints(strings.ToLower(line[ks:eq]))&hintPhone != 0 {
					for ve+1 < len(line) && isDigit(line[ve+1]) {
						ve++
						for ve < len(line) && isDigit(line[ve]) {
							ve++
						}
						if ve >= len(line) || line[ve] != ' ' {
							break
						}
					}
				}
			}
			if ks < eq && ve > vs {
				key := line[ks:eq]
				if out, ok := e.keyed([]string{strings.ToLower(key)}, key, line[vs:ve], c); ok {
					eds = append(eds, edit{base + vs, base + ve, out})
				}
			}
			i = max(ve, eq+1)
		}
		if len(eds)-n0 > 1 {
			line := eds[n0:]
			sort.Slice(line, func(a, b int) bool { return line[a].start < line[b].start })
		}
	}
	return eds
}

// blockScalar: v is a YAML block scalar's header ("|", ">-", "|2+").
func blockScalar(v string) bool {
	if v == "" || v[0] != '|' && v[0] != '>' || len(v) > 4 {
		return false
	}
	return strings.Trim(v[1:], "-+0123456789") == ""
}

// mayBeDocument is the cheap test before sniff: documents start with a
// bracket or a tag, or have more than one line.
func mayBeDocument(s string) bool {
	switch s[0] {
	case '{', '[', '<', ' ', '\t', '\n', '\r', '|':
		return true
	}
	return strings.IndexByte(s, '\n') >= 0
}

// prose reports a field value that reads as sentences rather than one
// value, so that its key is no context for all of it.
func prose(v string) bool {
	if v != "" && (v[0] == '"' || v[0] == '\'') {
		return false // quoted: one value
	}
	return strings.Contains(v, ". ") || strings.Contains(v, "; ") || strings.Count(v, " ") > 6
}

// nextLine returns the line of s that starts at pos, without its '\n',
// and where the next line starts (past len(s) after the last line).
func nextLine(s string, pos int) (line string, next int) {
	end := strings.IndexByte(s[pos:], '\n')
	if end < 0 {
		return s[pos:], len(s) + 1
	}
	return s[pos : pos+end], pos + end + 1
}
