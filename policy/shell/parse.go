// Package shell turns a command string sent by an agent for an SSH
// connection into an argv, checks that argv against the connection's command
// templates, and quotes it again for the remote shell.
//
// The remote side of an SSH exec request is a shell, so any text sent there is
// a shell script. Airlock therefore never forwards the agent's text: Parse
// reads it with a real shell parser (mvdan.cc/sh, Bash dialect) and accepts
// only one simple command made of literal words, so that what an approver and
// the journal see is exactly the argv that runs; Match allows an argv only when
// a template written by the operator describes it word for word; Quote builds
// the text that is actually sent, from the argv alone. A command string can
// thus never smuggle in a second command: even if Parse missed some shell
// feature, the argv it produced is quoted word by word before it leaves the
// gateway.
//
// The remote login shell must be POSIX-like (sh, dash, bash, ksh, zsh):
// csh-family shells and fish give quotes different meanings.
package shell

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"mvdan.cc/sh/v3/syntax"
)

// Error is a refused command or argv. Msg is written for the agent that sent
// the command: it says what was found and, where possible, what to do instead.
type Error struct {
	Msg      string // what is wrong, in plain words
	Position int    // 1-based byte offset in the command string, 0 when unknown
	Arg      int    // index in argv of the word at fault, -1 when none
}

func (e *Error) Error() string { return e.Msg }

func errorf(pos, arg int, format string, a ...any) *Error {
	return &Error{Msg: fmt.Sprintf(format, a...), Position: pos, Arg: arg}
}

// maxCommandBytes bounds the work done on one command; no legitimate
// templated command comes close.
const maxCommandBytes = 16 << 10

// parsers holds reusable parsers: a Parser is not safe for concurrent use,
// but building one per call costs more than the parse of a short command.
var parsers = sync.Pool{New: func() any {
	// Comments are kept so they can be refused: silently dropping them would
	// let the journal and the approver see text that never takes part in the
	// decision.
	return syntax.NewParser(syntax.Variant(syntax.LangBash), syntax.KeepComments(true))
}}

// Parse reads command as Bash would and returns its argv. It accepts exactly
// one simple command whose words are plain literal text, optionally in single
// or double quotes; quotes are removed. Anything that makes a shell do more
// than run one program with fixed arguments is refused with an *Error: command
// lists and pipelines, redirections, expansions of any kind, globs, brace
// expansion, assignments, background jobs, comments, compound commands and
// keywords, and any control or non-printable character, even inside quotes.
func Parse(command string) ([]string, error) {
	if err := checkText(command); err != nil {
		return nil, err
	}
	if strings.TrimLeft(command, " ") == "" {
		return nil, errorf(0, -1, "the command is empty")
	}

	p := parsers.Get().(*syntax.Parser)
	f, err := p.Parse(strings.NewReader(command), "")
	parsers.Put(p)
	if err != nil {
		pos := 0
		var pe syntax.ParseError
		if errors.As(err, &pe) {
			pos = int(pe.Pos.Offset()) + 1
		}
		return nil, errorf(pos, -1, "the command is not valid shell syntax: %v", err)
	}

	if len(f.Last) > 0 {
		return nil, errorf(offset(f.Last[0].Hash), -1, "comments (`#` at the start of a word) are not allowed; quote the `#` if it is part of an argument")
	}
	switch len(f.Stmts) {
	case 0:
		return nil, errorf(0, -1, "the command is empty")
	case 1:
	default:
		// Only reachable with `;` or `&` between statements: newlines were
		// refused above.
		return nil, oneCommand(f.Stmts[0])
	}
	st := f.Stmts[0]
	if err := checkStmt(st); err != nil {
		return nil, err
	}
	call, ok := st.Cmd.(*syntax.CallExpr)
	if !ok {
		return nil, compound(st.Cmd)
	}
	if len(call.Assigns) > 0 {
		a := call.Assigns[0]
		name := ""
		if a.Name != nil {
			name = a.Name.Value
		}
		return nil, errorf(offset(a.Pos()), -1, "variable assignments such as `%s=…` are not allowed; only a program and its arguments may be given", name)
	}
	argv := make([]string, 0, len(call.Args))
	for i, w := range call.Args {
		s, err := literal(w, i)
		if err != nil {
			return nil, err
		}
		argv = append(argv, s)
	}
	if len(argv) == 0 {
		return nil, errorf(0, -1, "the command is empty")
	}
	return argv, nil
}

// checkText refuses characters before the parser sees them. A newline or
// carriage return would start a second command (or hide one from a reader);
// other control characters, bidirectional overrides, zero-width characters and
// invalid UTF-8 either mean something to the shell or make the command read
// differently to a human approver than it runs. Refusing them everywhere, even
// inside quotes, also guarantees that every accepted word can be re-quoted by
// Quote without escape sequences.
func checkText(command string) error {
	if len(command) > maxCommandBytes {
		return errorf(0, -1, "the command is %d bytes long; at most %d are allowed", len(command), maxCommandBytes)
	}
	for i, r := range command {
		switch {
		case r == '\n' || r == '\r':
			return errorf(i+1, -1, "only one simple command on one line is allowed; found a line break at byte %d (line breaks are refused even inside quotes)", i+1)
		case r == 0:
			return errorf(i+1, -1, "NUL bytes are not allowed (byte %d)", i+1)
		case r == '\t':
			return errorf(i+1, -1, "tab characters are not allowed (byte %d); separate words with spaces", i+1)
		case r == utf8.RuneError:
			// Also catches a literal U+FFFD, which Quote could not write
			// without an escape sequence.
			return errorf(i+1, -1, "the command is not valid UTF-8 text (byte %d)", i+1)
		case !unicode.IsPrint(r):
			return errorf(i+1, -1, "control or non-printable character %U at byte %d is not allowed", r, i+1)
		}
	}
	return nil
}

// checkStmt refuses what a statement can carry around its command.
func checkStmt(st *syntax.Stmt) error {
	switch {
	case len(st.Comments) > 0:
		return errorf(offset(st.Comments[0].Hash), -1, "comments (`#` at the start of a word) are not allowed; quote the `#` if it is part of an argument")
	case st.Negated:
		return errorf(offset(st.Pos()), -1, "`!` (negating a command) is not allowed")
	case st.Background:
		return errorf(offset(st.Semicolon), -1, "running in the background with `&` is not allowed")
	case st.Coprocess:
		return errorf(offset(st.Semicolon), -1, "`|&` is not allowed")
	case st.Disown:
		return errorf(offset(st.Semicolon), -1, "`&|` and `&!` are not allowed")
	case st.Semicolon.IsValid():
		// A lone trailing `;` is harmless to a shell but is refused anyway:
		// it is never needed, and an agent writing one is probably about to
		// chain commands.
		return errorf(offset(st.Semicolon), -1, "only one simple command is allowed; found `;`")
	case len(st.Redirs) > 0:
		r := st.Redirs[0]
		return errorf(offset(r.OpPos), -1, "redirections and here-documents (found `%s`) are not allowed; the command's output is returned to you", r.Op)
	}
	return nil
}

// oneCommand explains why a file with more than one statement was refused.
func oneCommand(first *syntax.Stmt) error {
	switch {
	case first.Background:
		return errorf(offset(first.Semicolon), -1, "only one simple command is allowed; found `&`")
	default:
		return errorf(offset(first.Semicolon), -1, "only one simple command is allowed; found `;`")
	}
}

// compound explains why a command other than a simple command was refused.
func compound(cmd syntax.Command) error {
	pos := 0
	if cmd != nil {
		pos = offset(cmd.Pos())
	}
	switch c := cmd.(type) {
	case *syntax.BinaryCmd:
		return errorf(offset(c.OpPos), -1, "only one simple command is allowed; found `%s`", c.Op)
	case *syntax.Subshell:
		return errorf(pos, -1, "subshells `( … )` are not allowed; send one simple command")
	case *syntax.Block:
		return errorf(pos, -1, "command groups `{ … }` are not allowed; send one simple command")
	case *syntax.FuncDecl:
		return errorf(pos, -1, "function declarations are not allowed")
	case *syntax.TimeClause:
		return errorf(pos, -1, "`time` is not allowed")
	case *syntax.CoprocClause:
		return errorf(pos, -1, "`coproc` is not allowed")
	case *syntax.DeclClause:
		return errorf(pos, -1, "`%s` is not allowed", c.Variant.Value)
	case *syntax.LetClause:
		return errorf(pos, -1, "`let` is not allowed")
	case *syntax.TestClause:
		return errorf(pos, -1, "`[[ … ]]` tests are not allowed")
	case *syntax.ArithmCmd:
		return errorf(pos, -1, "arithmetic commands `(( … ))` are not allowed")
	case *syntax.IfClause, *syntax.WhileClause, *syntax.ForClause, *syntax.CaseClause:
		return errorf(pos, -1, "control structures (`if`, `while`, `for`, `case`) are not allowed; send one simple command")
	default:
		return errorf(pos, -1, "only one simple command made of literal words is allowed")
	}
}

// literal returns the value of a word that is literal text only, removing
// quotes the way Bash would.
func literal(w *syntax.Word, arg int) (string, error) {
	// Most words are a single unquoted literal: return it without copying.
	if len(w.Parts) == 1 {
		if l, ok := w.Parts[0].(*syntax.Lit); ok {
			if err := checkUnquoted(l, arg); err != nil {
				return "", err
			}
			return l.Value, nil
		}
	}
	var b strings.Builder
	for _, part := range w.Parts {
		switch p := part.(type) {
		case *syntax.Lit:
			if err := checkUnquoted(p, arg); err != nil {
				return "", err
			}
			b.WriteString(p.Value)
		case *syntax.SglQuoted:
			if p.Dollar {
				return "", errorf(offset(p.Pos()), arg, "`$'…'` strings are not allowed (they expand escape sequences); use plain single quotes")
			}
			b.WriteString(p.Value)
		case *syntax.DblQuoted:
			if p.Dollar {
				return "", errorf(offset(p.Pos()), arg, "`$\"…\"` strings are not allowed; use plain single quotes")
			}
			for _, inner := range p.Parts {
				l, ok := inner.(*syntax.Lit)
				if !ok {
					return "", expansion(inner, arg)
				}
				if err := unescapeDouble(&b, l, arg); err != nil {
					return "", err
				}
			}
		default:
			return "", expansion(part, arg)
		}
	}
	return b.String(), nil
}

// expansion explains why a word part that is not literal text was refused.
func expansion(part syntax.WordPart, arg int) error {
	pos := offset(part.Pos())
	switch p := part.(type) {
	case *syntax.ParamExp:
		return errorf(pos, arg, "parameter expansion (`$NAME`, `${…}`) is not allowed; write the value itself, in single quotes if it contains `$`")
	case *syntax.CmdSubst:
		if p.Backquotes {
			return errorf(pos, arg, "command substitution with backticks is not allowed")
		}
		return errorf(pos, arg, "command substitution `$(…)` is not allowed")
	case *syntax.ArithmExp:
		return errorf(pos, arg, "arithmetic expansion `$((…))` is not allowed")
	case *syntax.ProcSubst:
		return errorf(pos, arg, "process substitution `<(…)` / `>(…)` is not allowed")
	case *syntax.ExtGlob:
		return errorf(pos, arg, "glob patterns such as `%s…)` are not allowed", p.Op)
	case *syntax.BraceExp:
		return errorf(pos, arg, "brace expansion `{…}` is not allowed")
	default:
		return errorf(pos, arg, "only literal words are allowed")
	}
}

// checkUnquoted refuses characters that Bash would give a meaning to in an
// unquoted word although the parser keeps them in a literal: globs, brace and
// tilde expansion, a `$` it leaves alone, backslash escapes, and `!` (history
// expansion in interactive shells, negation in patterns). Quoting the word
// makes all of them literal, so the message says so.
func checkUnquoted(l *syntax.Lit, arg int) error {
	i := strings.IndexAny(l.Value, "*?[{~$\\!`")
	if i < 0 {
		return nil
	}
	pos := offset(l.Pos()) + i
	const quote = "put the word in single quotes if the character is meant literally"
	switch c := l.Value[i]; c {
	case '*', '?', '[':
		return errorf(pos, arg, "glob characters (`*`, `?`, `[`) are not allowed unquoted; name files exactly, or %s", quote)
	case '{':
		return errorf(pos, arg, "an unquoted `{` is not allowed (brace expansion); %s", quote)
	case '~':
		return errorf(pos, arg, "an unquoted `~` is not allowed (home directory expansion); give an absolute path, or %s", quote)
	case '\\':
		return errorf(pos, arg, "backslash escapes outside quotes are not allowed; %s", quote)
	default:
		return errorf(pos, arg, "an unquoted `%c` is not allowed; %s", c, quote)
	}
}

// unescapeDouble writes the value of literal text from inside double quotes:
// there a backslash escapes only `$`, a backtick, `"` and itself, and is kept
// before any other character. An unescaped `$` is refused even where Bash
// would keep it (at the end of the quotes), so that no `$` inside double
// quotes is ever left to the shell's judgement.
func unescapeDouble(b *strings.Builder, l *syntax.Lit, arg int) error {
	v := l.Value
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch c {
		case '\\':
			if i+1 < len(v) {
				switch v[i+1] {
				case '$', '`', '"', '\\':
					i++
					c = v[i]
				}
			} else {
				// The parser never ends a literal on a lone backslash; refuse
				// rather than guess what it would have escaped.
				return errorf(offset(l.Pos())+i, arg, "a trailing backslash inside double quotes is not allowed")
			}
		case '$', '`':
			return errorf(offset(l.Pos())+i, arg, "`%c` inside double quotes is not allowed; use single quotes for literal text", c)
		}
		b.WriteByte(c)
	}
	return nil
}

// offset turns a parser position into a 1-based byte offset (0 if unknown).
func offset(p syntax.Pos) int {
	if !p.IsValid() {
		return 0
	}
	return int(p.Offset()) + 1
}
