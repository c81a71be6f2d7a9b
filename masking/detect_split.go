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
