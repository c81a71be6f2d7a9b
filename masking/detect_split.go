package masking

import "strings"

// splitSSNKeys returns the keys of an object that together spell an SSN
// split over several fields ({"ssn_first5": "536-90", "ssn_last4":
// "4399"}): two or more keys with an SSN context whose values are short
// runs of digits (with '-' or spaces), nine digits or more in all. Each
// part alone is too short for a detector; together they reveal the number.
func splitSSNKeys(m map[string]any) []string {
	var keys []string
	total := 0
	for k, v := range m {
		if keyHints(strings.ToLower(k))&hintSSN == 0 {
			continue
		}
		str, ok := scalarString(v)
		if !ok || v == nil || isBool(v) {
			continue
		}
		n := ssnPartDigits(str)
		if n == 0 || n >= 9 {
			continue
		}
		keys = append(keys, k)
		total += n
	}
	if len(keys) < 2 || total < 9 {
		return nil
	}
	return keys
}

// ssnPartDigits counts the digits of a value made of digits, '-' and
// spaces only (0 for anything else).
func ssnPartDigits(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case isDigit(c):
			n++
		case c == '-' || c == ' ':
		default:
			return 0
		}
	}
	return n
}

// splitSSNText is splitSSNKeys for text: in one line, two or more
// key/value pairs whose key holds "ssn" (any case) and whose values are
// short digit runs ("ssn_first5":"536-90", ssn_last4=4399) adding up to
// nine digits or more. It adds a match over each value and returns ms.
func (sc *scanner) splitSSNText(w string, ms []match) []match {
	if !strings.Contains(w, "ssn") && !strings.Contains(w, "SSN") && !strings.Contains(w, "Ssn") {
		return ms
	}
	var parts [][2]int
	total := 0
	for from := 0; from < len(w); {
		k := indexSSN(w[from:])
		if k < 0 {
			break
		}
		k += from
		// The rest of the key, its closing quote, the separator, the
		// value's opening quote.
		j := k + 3
		for j < len(w) && keyByte(w[j]) {
			j++
		}
		from = j
		if j < len(w) && (w[j] == '"' || w[j] == '\'') {
			j++
		}
		for j < len(w) && w[j] == ' ' {
			j++
		}
		if j >= len(w) || w[j] != ':' && w[j] != '=' {
			continue
		}
		j++
		for j < len(w) && w[j] == ' ' {
			j++
		}
		q := byte(0)
		if j < len(w) && (w[j] == '"' || w[j] == '\'') {
			q = w[j]
			j++
		}
		v := j
		for j < len(w) && (isDigit(w[j]) || w[j] == '-' || q != 0 && w[j] == ' ') {
			j++
		}
		if j < len(w) && (q != 0 && w[j] != q || q == 0 && !valueStop(w[j])) {
			continue
		}
		if n := ssnPartDigits(w[v:j]); n > 0 && n < 9 {
			parts = append(parts, [2]int{v, j})
			total += n
		}
		from = j
	}
	if len(parts) < 2 || total < 9 || !sc.e.enabled(SSN) {
		return ms
	}
	for _, p := range parts {
		// Marked encoded: no part may be shown partially.
		ms = append(ms, match{start: p[0], end: p[1], ent: SSN, encoded: true})
	}
	sc.matches = ms
	return ms
}

// indexSSN finds "ssn" in any case.
func indexSSN(s string) int {
	for i := 0; i+2 < len(s); i++ {
		if (s[i]|0x20) == 's' && (s[i+1]|0x20) == 's' && (s[i+2]|0x20) == 'n' {
			return i
		}
	}
	return -1
}
