package masking

import "strings"

// SQL INSERT statements in a text result or a log line:
//
//	INSERT INTO users (id, ssn, "Phone") VALUES (1, '078-05-1121', '…'), (2, …);
//
// Each value is masked under the name of its column, as a table cell
// under its header: column rules, secret-named columns, SSN and phone
// context. Quoted identifiers ("x", `x`, [x]) and doubled quotes inside
// strings ('it''s') are read; a value that is masked partly keeps its
// quotes doubled.

// hasInsert is the cheap test for an INSERT statement with a column
// list: a ')' followed by VALUES in any case. ')' is rare in text, so
// this is one fast scan.
func hasInsert(s string) bool {
	for i := 0; i < len(s); {
		k := strings.IndexByte(s[i:], ')')
		if k < 0 {
			return false
		}
		i = skipSpace(s, i+k+1)
		if len(s)-i >= 6 && strings.EqualFold(s[i:i+6], "values") {
			return true
		}
	}
	return false
}

// insertEdits returns the edits masking the values of every INSERT
// statement in s that names its columns.
func (e *Engine) insertEdits(s string, c Counts) []edit {
	var eds []edit
	var cols []string
	path := make([]string, 1)
	for from := 0; from < len(s); {
		i := indexFold(s[from:], "insert into")
		if i < 0 {
			break
		}
		p := from + i + len("insert into")
		from = p
		// The table name: identifiers, quoted, dotted.
		p = skipSpace(s, p)
		for p < len(s) && !isSpace(s[p]) && s[p] != '(' {
			p++
		}
		p = skipSpace(s, p)
		if p >= len(s) || s[p] != '(' {
			continue
		}
		// The column list.
		cols = cols[:0]
		p++
		for p < len(s) && s[p] != ')' && len(cols) < 1024 {
			p = skipSpace(s, p)
			st := p
			for p < len(s) && s[p] != ',' && s[p] != ')' {
				p++
			}
			cols = append(cols, strings.Trim(strings.TrimSpace(s[st:p]), "\"`[]"))
			if p < len(s) && s[p] == ',' {
				p++
			}
		}
		if p >= len(s) || s[p] != ')' {
			continue
		}
		p = skipSpace(s, p+1)
		if len(s)-p < 6 || !strings.EqualFold(s[p:p+6], "values") {
			continue
		}
		p += 6
		// The tuples.
		for {
			p = skipSpace(s, p)
			if p >= len(s) || s[p] != '(' {
				break
			}
			p++
			for k := 0; p < len(s) && s[p] != ')'; k++ {
				p = skipSpace(s, p)
				st, en, q := p, p, false
				switch {
				case p < len(s) && s[p] == '\'':
					q = true
					st = p + 1
					p = st
					for p < len(s) {
						if s[p] == '\'' {
							if p+1 < len(s) && s[p+1] == '\'' {
								p += 2
								continue
							}
							break
						}
						p++
					}
					en = p
					if p < len(s) {
						p++
					}
				default:
					depth := 0
					for p < len(s) && (depth > 0 || s[p] != ',' && s[p] != ')') && s[p] != '\n' {
						switch s[p] {
						case '(':
							depth++
						case ')':
							depth--
						}
						p++
					}
					en = p
				}
				if k < len(cols) && en > st {
					key := cols[k]
					path[0] = strings.ToLower(key)
					v := s[st:en]
					if q {
						v = strings.ReplaceAll(v, "''", "'")
					}
					if out, ok := e.keyedValue(path, key, v, 0, false, true, c); ok {
						if q {
							out = strings.ReplaceAll(out, "'", "''")
						}
						eds = append(eds, edit{st, en, out})
					}
				}
				for p < len(s) && s[p] != ',' && s[p] != ')' && s[p] != '\n' {
					p++ // a cast or text after a closing quote
				}
				if p < len(s) && s[p] == ',' {
					p++
				}
				if p < len(s) && s[p] == '\n' {
					p++
				}
			}
			if p >= len(s) {
				break
			}
			p = skipSpace(s, p+1) // past ')'
			if p >= len(s) || s[p] != ',' {
				break
			}
			p++
		}
		from = max(from, p)
	}
	return eds
}

func isSpace(b byte) bool { return b == ' ' || b == '\t' || b == '\n' || b == '\r' }

func skipSpace(s string, p int) int {
	for p < len(s) && isSpace(s[p]) {
		p++
	}
	return p
}

// indexFold is strings.Index for an ASCII lower-case needle, ignoring
// case in s.
func indexFold(s, needle string) int {
	for i := 0; i+len(needle) <= len(s); {
		j := strings.IndexAny(s[i:], needle[:1]+strings.ToUpper(needle[:1]))
		if j < 0 || i+j+len(needle) > len(s) {
			return -1
		}
		i += j
		if strings.EqualFold(s[i:i+len(needle)], needle) {
			return i
		}
		i++
	}
	return -1
}
