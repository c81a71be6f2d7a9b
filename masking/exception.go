package masking

import (
	"sort"
	"strings"
)

// sortEdits sorts edits by start (stable: the first of two at one place
// wins in applyEdits).
func sortEdits(eds []edit) []edit {
	sort.SliceStable(eds, func(a, b int) bool { return eds[a].start < eds[b].start })
	return eds
}

// Exception and stack-trace messages name a value by a word before it
// rather than by a key=value field:
//
//	ValueError: invalid socialSecurityNumber 078051121
//	IllegalArgumentException: field 'db_password' had value 'hunter2…'
//	Caused by: AuthError: SecretAccessKey wJalr… rejected
//
// On such a line a word that names a secret, an SSN, a phone or a card
// gives its context to the value after it (a quoted token, or the run of
// tokens with digits in it), past a few linking words ("had value",
// "is", "of"). The value must be quoted or hold a digit, so "invalid
// password for user" masks nothing.

// hasException is the cheap test for an exception message: "Error",
// "Exception" or "Caused by" anywhere (needles that start with a capital
// letter are found fastest). Go's "panic: …" and "error: …" lines are
// found by maskText's line loop instead (goErrorLine), where a prefix
// test costs next to nothing.
func hasException(s string) bool {
	if i := strings.IndexByte(s, 'E'); i >= 0 && (strings.Contains(s[i:], "Error") || strings.Contains(s[i:], "Exception")) {
		return true
	}
	return strings.Contains(s, "Caused by")
}

// exceptionLine: the line carries an exception or error message.
func exceptionLine(line string) bool {
	return strings.Contains(line, "Error") || strings.Contains(line, "Exception") || strings.Contains(line, "Caused by")
}

// goErrorLine: the line is a Go panic or a CLI's error message.
func goErrorLine(line string) bool {
	return len(line) > 8 && (line[0] == 'p' && strings.HasPrefix(line, "panic") || line[0] == 'e' && strings.HasPrefix(line, "error"))
}

// maskMessageLine masks a Go panic or error line's named values.
func (e *Engine) maskMessageLine(line string, c Counts) string {
	return applyEdits(line, e.messageEdits(line, 0, nil, c))
}

// exceptionEditsAll reads every line as a message (an escaped document's
// "'key': 'value'" pairs).
func (e *Engine) exceptionEditsAll(s string, c Counts) []edit {
	return e.messageLinesEdits(s, nil, c)
}

func (e *Engine) exceptionEdits(s string, c Counts) []edit {
	return e.messageLinesEdits(s, exceptionLine, c)
}

// messageLinesEdits returns the edits of the lines of s (up to 4 KiB
// each) that is (nil: every line) says are messages.
func (e *Engine) messageLinesEdits(s string, is func(string) bool, c Counts) []edit {
	var eds []edit
	for pos := 0; pos < len(s); {
		base := pos
		line, next := nextLine(s, pos)
		pos = next
		if len(line) > 4096 || is != nil && !is(line) {
			continue
		}
		eds = e.messageEdits(line, base, eds, c)
	}
	return eds
}

// messageEdits appends the edits for the name/value pairs in one
// message line.
func (e *Engine) messageEdits(line string, base int, eds []edit, c Counts) []edit {
	var buf [64][2]int
	toks := msgTokens(line, buf[:0])
	for i := 0; i < len(toks); i++ {
		w, ok := msgName(line[toks[i][0]:toks[i][1]])
		if !ok {
			continue
		}
		lw := strings.ToLower(w)
		// The value is the first quoted, bracketed or digit-bearing token
		// within a few words ("rejected value [...]", "too weak: ..."),
		// unless another name or the clause's end comes first.
		j := i + 1
		for ; j < len(toks) && j-i <= 5; j++ {
			t := line[toks[j][0]:toks[j][1]]
			if strings.IndexByte(`'"[`+"`", t[0]) >= 0 || strings.ContainsAny(t, "0123456789") {
				break
			}
			if _, ok := msgName(t); ok || strings.IndexByte(".;", t[len(t)-1]) >= 0 {
				j = len(toks)
			}
		}
		if j >= len(toks) || j-i > 5 {
			continue
		}
		st, en := toks[j][0], toks[j][1]
		tok := line[st:en]
		if looksMasked(strings.TrimRight(tok, ".,;:)]}'\"")) || strings.HasPrefix(tok, "[[") {
			i = j // masked already ("[SECRET]"): not a value to read again
			continue
		}
		if tok[0] == '\'' || tok[0] == '"' || tok[0] == '`' || tok[0] == '[' {
			q := tok[0]
			if q == '[' {
				q = ']'
			}
			k := strings.IndexByte(line[st+1:], q)
			if k < 0 {
				continue
			}
			st, en = st+1, st+1+k
		} else {
			if !strings.ContainsAny(tok, "0123456789") {
				continue
			}
			// The run of tokens with digits: "98765 43210", "(21) 3456-7890".
			for j+1 < len(toks) && strings.ContainsAny(line[toks[j+1][0]:toks[j+1][1]], "0123456789") && toks[j+1][0]-en == 1 && line[en] == ' ' {
				j++
				en = toks[j][1]
			}
			for en > st && strings.IndexByte(".,;:", line[en-1]) >= 0 {
				en--
			}
			if en > st && line[en-1] == ')' && !strings.Contains(line[st:en], "(") {
				en--
			}
		}
		if en <= st {
			continue
		}
		if out, ok := e.keyed([]string{lw}, w, line[st:en], c); ok {
			if len(eds) == 0 || eds[len(eds)-1].end <= base+st {
				eds = append(eds, edit{base + st, base + en, out})
			}
		}
		i = j
	}
	return eds
}

// msgName returns the name a message token carries when it tells what
// the value after it is (a secret, an SSN, a phone, a card): the token's
// last run of name bytes, as in "{'ssn':", "User{ssn", "[ssn]".
func msgName(tok string) (string, bool) {
	if looksMasked(strings.Trim(tok, `'".,;:(){}<>`+"`")) {
		return "", false // "[SSN]" is a value masked, not a name
	}
	w := strings.TrimRight(tok, `'"`+"`:,;()[]{}<>")
	k := len(w)
	for k > 0 && keyByte(w[k-1]) {
		k--
	}
	w = w[k:]
	if len(w) < 2 || isNumber(w) {
		return "", false
	}
	if docKeyHints(strings.ToLower(w))&(hintSSN|hintPhone|hintCard) == 0 && max(secretKey(w), secretName(w)) == 0 {
		return "", false
	}
	return w, true
}

// msgTokens splits a line at spaces and '=' into at most cap(out) token
// spans.
func msgTokens(line string, out [][2]int) [][2]int {
	for i := 0; i < len(line) && len(out) < cap(out); {
		for i < len(line) && (line[i] == ' ' || line[i] == '\t' || line[i] == '=') {
			i++
		}
		st := i
		for i < len(line) && line[i] != ' ' && line[i] != '\t' && line[i] != '=' {
			i++
		}
		if i > st {
			out = append(out, [2]int{st, i})
		}
	}
	return out
}
