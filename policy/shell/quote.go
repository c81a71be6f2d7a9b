package shell

import (
	"strings"

	"mvdan.cc/sh/v3/syntax"
)

// Quote builds the command text sent to the SSH server from argv alone: each
// word quoted with syntax.Quote for POSIX shells, joined with single spaces.
// The remote shell turns the text back into exactly argv, whatever the words
// contain. A word that cannot be written without escape sequences (a NUL, a
// control or non-printable character, invalid UTF-8) is an error: POSIX sh has
// no way to spell it, and Parse never produces one.
//
// Quote is stricter than syntax.Quote in two ways, both so that the text means
// the same to every POSIX-like login shell and Parse reads it back to the same
// argv: a word that syntax.Quote would leave bare is put in single quotes
// unless it is made only of characters that are ordinary everywhere, and a
// program name that Bash would read as a keyword or declaration builtin
// (time, declare, let, …) is quoted so that it names a program.
func Quote(argv []string) (string, error) {
	if len(argv) == 0 {
		return "", errorf(0, -1, "the command is empty")
	}
	var b strings.Builder
	for i, w := range argv {
		q, err := syntax.Quote(w, syntax.LangPOSIX)
		if err != nil {
			return "", errorf(0, i, "argument %d cannot be quoted for the remote shell: %v", i, err)
		}
		if q == w && (!bare(w) || (i == 0 && special(w))) {
			// syntax.Quote left it bare, so it holds no single quote.
			q = "'" + w + "'"
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(q)
	}
	return b.String(), nil
}

// bare reports whether w can be sent unquoted to any POSIX-like shell: ASCII
// letters, digits and a few punctuation marks that no such shell treats
// specially anywhere in a word. Characters such as `!` (history), `^` (a pipe
// in the Bourne shell, negation in zsh globs), `%` (a job at the start of a
// command), `]`, `}` and non-ASCII letters are quoted rather than reasoned
// about shell by shell.
func bare(w string) bool {
	for i := 0; i < len(w); i++ {
		c := w[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("-_./:,+@", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// special reports whether w, as the first word, would not be run as a program
// by Bash: syntax.Quote already quotes keywords, but not the declaration
// builtins that the parser (like Bash) treats as their own kind of command.
func special(w string) bool {
	switch w {
	case "let", "declare", "local", "export", "readonly", "typeset", "nameref":
		return true
	}
	return syntax.IsKeyword(w)
}
