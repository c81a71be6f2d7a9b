package masking

import "strings"

// HTML-escaped documents: "&lt;ssn&gt;078…&lt;/ssn&gt;" or
// "{&quot;phoneNumber&quot;: &quot;…&quot;}" name their values only once
// the entities are read. The text is decoded with a map back to the
// original offsets, the structure passes run over the decoded text, and
// each value's edit is put back where the value stands in the original
// (a value is found between entities, never across one).

var entities = map[string]byte{"&quot;": '"', "&lt;": '<', "&gt;": '>', "&apos;": '\'', "&#39;": '\'', "&#34;": '"', "&#x27;": '\'', "&#x22;": '"', "&amp;": '&'}

// hasEntities is the cheap test: an entity that hides structure.
func hasEntities(s string) bool {
	i := strings.IndexByte(s, '&')
	if i < 0 {
		return false
	}
	s = s[i:]
	return strings.Contains(s, "&quot;") || strings.Contains(s, "&lt;") || strings.Contains(s, "&#")
}

// decodeEntities returns s with the structural entities decoded and, for
// each decoded byte and one past the end, its offset in s.
func decodeEntities(s string) (string, []int) {
	var b strings.Builder
	b.Grow(len(s))
	at := make([]int, 0, len(s)+1)
	for i := 0; i < len(s); {
		if s[i] == '&' {
			if k := strings.IndexByte(s[i:min(len(s), i+8)], ';'); k > 0 {
				c, ok := entities[s[i:i+k+1]]
				if !ok {
					c, ok = numericEntity(s[i+1 : i+k])
				}
				if ok {
					b.WriteByte(c)
					at = append(at, i)
					i += k + 1
					continue
				}
			}
		}
		b.WriteByte(s[i])
		at = append(at, i)
		i++
	}
	at = append(at, len(s))
	return b.String(), at
}

// entityEdits returns the edits, in s, that the structure passes make in
// s decoded.
func (e *Engine) entityEdits(s string, c Counts) []edit {
	d, at := decodeEntities(s)
	if len(d) == len(s) {
		return nil
	}
	var eds []edit
	// Escaped XML shows a closing or self-closing tag; a lone "&lt;…&gt;"
	// is a placeholder or a word in angle brackets, not an element whose
	// name would give the text after it a key.
	if strings.IndexByte(d, '<') >= 0 && (strings.Contains(s, "&lt;/") || strings.Contains(s, "/&gt;")) {
		eds = e.xmlEdits(d, c)
	} else {
		eds = e.kvEdits(d, c)
	}
	eds = append(eds, e.exceptionEditsAll(d, c)...)
	out := eds[:0]
	last := 0
	for _, ed := range sortEdits(eds) {
		st, en := at[ed.start], at[ed.end]
		if st < last || strings.ContainsAny(ed.repl, "<>&\"'") {
			continue
		}
		out = append(out, edit{st, en, ed.repl})
		last = en
	}
	return out
}

// numericEntity decodes "#53" or "#x35" (the text between '&' and ';')
// when it is a printable ASCII character.
func numericEntity(n string) (byte, bool) {
	if len(n) < 2 || n[0] != '#' {
		return 0, false
	}
	base, d := 10, n[1:]
	if d[0] == 'x' || d[0] == 'X' {
		base, d = 16, d[1:]
	}
	if d == "" || len(d) > 4 {
		return 0, false
	}
	v := 0
	for i := 0; i < len(d); i++ {
		c := d[i]
		switch {
		case c >= '0' && c <= '9':
			v = v*base + int(c-'0')
		case base == 16 && c >= 'a' && c <= 'f':
			v = v*base + int(c-'a'+10)
		case base == 16 && c >= 'A' && c <= 'F':
			v = v*base + int(c-'A'+10)
		default:
			return 0, false
		}
	}
	if v < 0x20 || v > 0x7e {
		return 0, false
	}
	return byte(v), true
}
