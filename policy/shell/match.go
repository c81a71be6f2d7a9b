package shell

import (
	"fmt"
	"path"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Match returns the first template that argv matches exactly, word for word.
// Templates must have passed Validate.
//
// Matching is positional: each template argument takes the next word (a flag
// with a value takes two), an optional argument may be skipped, and every word
// must be taken. Words are compared byte for byte; nothing is normalised, so a
// lookalike character never matches, and a program name with any non-ASCII
// character is refused outright.
//
// When a path argument matches a word that path.Clean changes (for example
// "/var/log/app/sub/../app.log"), Match replaces that word in argv with the
// cleaned path, so that what runs is the path that was checked rather than
// one the remote file system may resolve differently through a symbolic link.
// argv is not changed when no template matches.
//
// When no template matches, the *Error explains why the closest template (the
// one for the same program that matched the most words) did not.
func Match(argv []string, templates []Template) (*Template, error) {
	if len(argv) == 0 {
		return nil, errorf(0, -1, "the command is empty")
	}
	for i, w := range argv {
		if !printable(w) {
			return nil, errorf(0, i, "argument %d contains a control or non-printable character", i)
		}
	}
	prog := argv[0]
	for i := 0; i < len(prog); i++ {
		if prog[i] >= utf8.RuneSelf {
			// ASCII-quoted so the agent sees which character is not what it
			// looks like (a Cyrillic ѕ shows as \u0455).
			return nil, errorf(0, 0, "the program name %s contains non-ASCII characters; program names must be plain ASCII", strconv.QuoteToASCII(prog))
		}
	}

	var (
		closest     *Template
		closestFail failure
	)
	for i := range templates {
		t := &templates[i]
		if !t.validated {
			return nil, errorf(0, -1, "command template %q has not been validated; fix the configuration", t.Name)
		}
		if t.Argv[0].Literal != prog {
			continue
		}
		m := newMatcher(t, argv)
		if m.run(1, 1) {
			return t, nil
		}
		if closest == nil || m.fail.pos > closestFail.pos {
			closest, closestFail = t, m.fail
		}
	}
	if closest == nil {
		return nil, notAllowed(prog, templates)
	}
	return nil, explain(closest, closestFail, argv)
}

// notAllowed lists the programs the connection does allow, so the agent can
// pick one instead of guessing.
func notAllowed(prog string, templates []Template) error {
	var progs []string
	for i := range templates {
		p := templates[i].Argv[0].Literal
		dup := false
		for _, q := range progs {
			if q == p {
				dup = true
				break
			}
		}
		if !dup {
			progs = append(progs, p)
		}
	}
	if len(progs) == 0 {
		return errorf(0, 0, "program %q is not allowed: this connection allows no commands", prog)
	}
	return errorf(0, 0, "program %q is not allowed on this connection; allowed programs: %s", prog, strings.Join(progs, ", "))
}

// expect is one thing a template would have accepted at a word position.
type expect struct {
	arg   int  // index into Template.Argv
	value bool // the flag's value rather than the flag itself
	extra bool // the template had ended: nothing more was expected
}

// failure records the furthest word position where matching failed and what
// was expected there; the furthest point is the most useful to explain.
type failure struct {
	pos int
	n   int
	exp [8]expect // the first few expectations are enough to explain
}

func (f *failure) note(pos int, e expect) {
	if pos < f.pos {
		return
	}
	if pos > f.pos {
		f.pos, f.n = pos, 0
	}
	for _, x := range f.exp[:f.n] {
		if x == e {
			return
		}
	}
	if f.n < len(f.exp) {
		f.exp[f.n] = e
		f.n++
	}
}

// matcher matches one argv against one template. Optional arguments make it
// a search; failed states are remembered so that a template with many
// optional arguments still costs time proportional to its size.
type matcher struct {
	t     *Template
	argv  []string
	fail  failure
	width int    // words per row of failed
	dead  []bool // [arg*width+word] already known not to match
}

func newMatcher(t *Template, argv []string) *matcher {
	m := &matcher{t: t, argv: argv, fail: failure{pos: -1}}
	optional, words := false, 1
	for i := 1; i < len(t.Argv); i++ {
		a := &t.Argv[i]
		optional = optional || a.Optional
		words++
		if a.Value != nil {
			words++
		}
	}
	if optional {
		// The search never gets past the most words the template can take,
		// so the table does not grow with a long argv.
		m.width = min(len(argv), words) + 2
		m.dead = make([]bool, (len(t.Argv)+1)*m.width)
	}
	return m
}

// run reports whether template arguments from i on match words from j on to
// the end. On success it writes cleaned paths back into argv.
func (m *matcher) run(i, j int) bool {
	args := m.t.Argv
	if i == len(args) {
		if j == len(m.argv) {
			return true
		}
		m.fail.note(j, expect{extra: true})
		return false
	}
	key := -1
	if m.dead != nil && j < m.width {
		key = i*m.width + j
		if m.dead[key] {
			return false
		}
	}
	ok := m.take(i, j) || (args[i].Optional && m.run(i+1, j))
	if !ok && key >= 0 {
		m.dead[key] = true
	}
	return ok
}

// take matches argument i at word j and the rest after it.
func (m *matcher) take(i, j int) bool {
	a := &m.t.Argv[i]
	if j >= len(m.argv) {
		m.fail.note(j, expect{arg: i})
		return false
	}
	if a.Flag != "" {
		if m.argv[j] != a.Flag {
			m.fail.note(j, expect{arg: i})
			return false
		}
		if a.Value == nil {
			return m.run(i+1, j+1)
		}
		j++
		if j >= len(m.argv) {
			m.fail.note(j, expect{arg: i, value: true})
			return false
		}
		clean, ok := a.Value.accept(m.argv[j])
		if !ok {
			m.fail.note(j, expect{arg: i, value: true})
			return false
		}
		if !m.run(i+1, j+1) {
			return false
		}
		m.argv[j] = clean
		return true
	}
	clean, ok := a.accept(m.argv[j])
	if !ok {
		m.fail.note(j, expect{arg: i})
		return false
	}
	if !m.run(i+1, j+1) {
		return false
	}
	m.argv[j] = clean
	return true
}

// accept reports whether word fits a (which is not a flag) and returns the
// word to run: the word itself, or for a path its cleaned form.
func (a *Arg) accept(word string) (string, bool) {
	switch {
	case a.Literal != "":
		return word, word == a.Literal
	case a.Enum != nil:
		for _, v := range a.Enum {
			if word == v {
				return word, true
			}
		}
		return word, false
	case a.Regex != "":
		if a.re == nil || strings.HasPrefix(word, "-") {
			return word, false
		}
		return word, a.re.MatchString(word)
	case a.Int != nil:
		v, ok := parseInt(word)
		return word, ok && v >= a.Int.Min && v <= a.Int.Max
	case a.Path != nil:
		return underDir(word, a.Path.Under)
	}
	return word, false
}

// parseInt reads a plain decimal integer. Signs other than a leading minus,
// leading zeros and spaces are refused: programs disagree on what "+5", "05"
// (octal?) or " 5" mean, so only the one spelling everyone agrees on passes.
func parseInt(s string) (int64, bool) {
	d := strings.TrimPrefix(s, "-")
	if d == "" || (d[0] == '0' && (len(d) > 1 || len(s) > 1)) {
		return 0, false
	}
	for i := 0; i < len(d); i++ {
		if d[i] < '0' || d[i] > '9' {
			return 0, false
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	return v, err == nil
}

// underDir reports whether p is an absolute path that stays inside dir (or is
// dir) once cleaned lexically, and returns the cleaned path. The comparison
// is made on whole path elements, so /var/log/apple is not under /var/log/app.
func underDir(p, dir string) (string, bool) {
	if !strings.HasPrefix(p, "/") || strings.IndexByte(p, 0) >= 0 {
		return p, false
	}
	c := path.Clean(p)
	if dir == "/" || c == dir || (strings.HasPrefix(c, dir) && c[len(dir)] == '/') {
		return c, true
	}
	return p, false
}

// explain turns the furthest failure of a template into a message an agent
// can act on: which word, what was expected there, and the template's form.
func explain(t *Template, f failure, argv []string) error {
	form := t.form()
	pos := f.pos
	var wanted []string
	for _, e := range f.exp[:f.n] {
		if !e.extra {
			wanted = append(wanted, e.describe(t))
		}
	}
	if pos >= len(argv) {
		return errorf(0, -1, "argument %d is missing: expected %s; allowed form: %s", pos, strings.Join(wanted, " or "), form)
	}
	word := argv[pos]
	switch len(wanted) {
	case 0:
		for i := range t.Argv {
			if a := &t.Argv[i]; word != "" && (a.Flag == word || a.Literal == word) {
				return errorf(0, pos, "argument %d (%q) is out of place; arguments must come in the order shown: %s", pos, word, form)
			}
		}
		if strings.HasPrefix(word, "-") {
			return errorf(0, pos, "argument %d: option %q is not allowed by command %q; allowed form: %s", pos, word, t.Name, form)
		}
		return errorf(0, pos, "argument %d (%q) is not expected: command %q takes no more arguments there; allowed form: %s", pos, word, t.Name, form)
	case 1:
		var e expect
		for _, x := range f.exp[:f.n] {
			if !x.extra {
				e = x
			}
		}
		return errorf(0, pos, "argument %d %s; allowed form: %s", pos, e.reason(t, word), form)
	default:
		return errorf(0, pos, "argument %d (%q) is not allowed here: expected %s; allowed form: %s", pos, word, strings.Join(wanted, " or "), form)
	}
}

// describe names what e expected, in the notation of Template.form.
func (e expect) describe(t *Template) string {
	a := &t.Argv[e.arg]
	if e.value {
		return a.Value.describe() + " (the value of " + a.Flag + ")"
	}
	return a.describe()
}

// reason says why word does not fit e.
func (e expect) reason(t *Template, word string) string {
	a := &t.Argv[e.arg]
	if e.value {
		return a.Value.reason(word) + " (the value of " + a.Flag + ")"
	}
	return a.reason(word)
}

func (a *Arg) reason(word string) string {
	switch {
	case a.Literal != "":
		return fmt.Sprintf("must be %q", a.Literal)
	case a.Flag != "":
		return fmt.Sprintf("must be %q", a.Flag)
	case a.Enum != nil:
		q := make([]string, len(a.Enum))
		for i, v := range a.Enum {
			q[i] = strconv.Quote(v)
		}
		if len(q) == 1 {
			return "must be " + q[0]
		}
		return "must be one of " + strings.Join(q, ", ")
	case a.Regex != "":
		if strings.HasPrefix(word, "-") {
			return "must not start with \"-\" (options that the command does not list are refused)"
		}
		return fmt.Sprintf("must match the pattern ^(?:%s)$", a.Regex)
	case a.Int != nil:
		return fmt.Sprintf("must be an integer between %d and %d", a.Int.Min, a.Int.Max)
	case a.Path != nil:
		if !strings.HasPrefix(word, "/") {
			return fmt.Sprintf("must be an absolute path under %s", a.Path.Under)
		}
		if c := path.Clean(word); c != word {
			return fmt.Sprintf("must be a path under %s (%q resolves to %q)", a.Path.Under, word, c)
		}
		return fmt.Sprintf("must be a path under %s", a.Path.Under)
	}
	return "is not allowed"
}

// describe writes a in the notation of Template.form: literal words as they
// are, variable words in angle brackets, optional arguments in square ones.
func (a *Arg) describe() string {
	var s string
	switch {
	case a.Literal != "":
		s = a.Literal
	case a.Flag != "":
		s = a.Flag
		if a.Value != nil {
			s += " " + a.Value.describe()
		}
	case a.Enum != nil:
		s = "<" + strings.Join(a.Enum, "|") + ">"
	case a.Regex != "":
		s = "<text matching ^(?:" + a.Regex + ")$>"
	case a.Int != nil:
		s = fmt.Sprintf("<integer %d..%d>", a.Int.Min, a.Int.Max)
	case a.Path != nil:
		s = "<path under " + a.Path.Under + ">"
	}
	if a.Optional {
		s = "[" + s + "]"
	}
	return s
}

// form writes the whole template for error messages, e.g.
// "tail -n <integer 1..500> <path under /var/log/app>".
func (t *Template) form() string {
	parts := make([]string, len(t.Argv))
	for i := range t.Argv {
		parts[i] = t.Argv[i].describe()
	}
	return strings.Join(parts, " ")
}
