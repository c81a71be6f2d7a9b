package sqlitesql

import (
	"fmt"
	"strings"
)

type tokKind uint8

const (
	tokEOF    tokKind = iota
	tokSemi           // ;
	tokWord           // keyword or bare identifier
	tokLParen         // (
	tokRParen         // )
	tokOther          // literals, quoted identifiers, variables, operators
)

type token struct {
	kind       tokKind
	start, end int // byte offsets in the source
}

// lexer splits SQLite SQL into tokens, following sqlite3GetToken
// (tokenize.c) wherever the extent of a token is concerned: that is what
// decides whether a ';' ends a statement. Where SQLite would produce an
// illegal token, or where the lexer is stricter than SQLite (an unterminated
// block comment), it returns an *Error instead.
type lexer struct {
	src string
	pos int
}

func (l *lexer) next() (token, error) {
	src := l.src
	// Skip whitespace and comments.
	for l.pos < len(src) {
		c := src[l.pos]
		switch {
		case isSpaceStart(c):
			// A run of spaces goes on through \v, which cannot start one.
			for l.pos < len(src) && isSpace(src[l.pos]) {
				l.pos++
			}
		case c == 0xEF && strings.HasPrefix(src[l.pos:], "\xEF\xBB\xBF"):
			l.pos += 3 // a UTF-8 byte-order mark counts as a space
		case c == '-' && l.peek(1) == '-':
			if i := strings.IndexByte(src[l.pos:], '\n'); i >= 0 {
				l.pos += i
			} else {
				l.pos = len(src)
			}
		case c == '/' && l.peek(1) == '*':
			// Look for the end from the third byte on, so "/*/" stays open.
			i := strings.Index(src[l.pos+2:], "*/")
			if i < 0 {
				return token{}, &Error{Msg: fmt.Sprintf("unterminated /* comment starting at position %d", l.pos+1), Position: l.pos + 1}
			}
			l.pos += 2 + i + 2
		default:
			return l.token()
		}
	}
	return token{kind: tokEOF, start: l.pos, end: l.pos}, nil
}

// token reads the token starting at l.pos, which is not a space or comment.
func (l *lexer) token() (token, error) {
	src, start := l.src, l.pos
	c := src[start]
	kind := tokOther
	end := start + 1
	switch {
	case c == ';':
		kind = tokSemi
	case c == '(':
		kind = tokLParen
	case c == ')':
		kind = tokRParen
	case c == '\'' || c == '"' || c == '`':
		// A doubled delimiter stands for itself.
		end = start + 1
		for {
			i := strings.IndexByte(src[end:], c)
			if i < 0 {
				return token{}, l.unterminated(quoteName(c), start)
			}
			end += i + 1
			if end < len(src) && src[end] == c {
				end++
				continue
			}
			break
		}
	case c == '[':
		// No escapes: the first ] ends it.
		i := strings.IndexByte(src[start:], ']')
		if i < 0 {
			return token{}, l.unterminated("[identifier]", start)
		}
		end = start + i + 1
	case (c == 'x' || c == 'X') && l.peek(1) == '\'':
		// A blob literal ends at the next quote; '' is no escape in it.
		i := strings.IndexByte(src[start+2:], '\'')
		if i < 0 {
			return token{}, l.unterminated("blob literal", start)
		}
		end = start + 2 + i + 1
	case isDigit(c) || (c == '.' && isDigit(l.peek(1))):
		// Numbers swallow any identifier characters after them (SQLite
		// then calls the token illegal), so "1$a(;)" is not a variable.
		for end < len(src) && (isIDChar(src[end]) || src[end] == '.') {
			end++
		}
	case c == '$' || c == '@' || c == ':' || c == '#':
		var err error
		if end, err = l.variable(); err != nil {
			return token{}, err
		}
	case isIDChar(c):
		kind = tokWord
		for end < len(src) && isIDChar(src[end]) {
			end++
		}
	}
	l.pos = end
	return token{kind: kind, start: start, end: end}, nil
}

// variable reads a $name, @name, :name or #name parameter and returns where
// it ends. SQLite keeps Tcl syntax here: "::" inside the name, and a
// parenthesised suffix that runs to the first ')' or space, so "$a(;)" is
// one token and its ';' ends nothing.
func (l *lexer) variable() (int, error) {
	src, start := l.src, l.pos
	n := 0 // identifier characters in the name
	i := start + 1
loop:
	for i < len(src) {
		c := src[i]
		switch {
		case isIDChar(c):
			n++
			i++
		case c == '(' && n > 0:
			i++
			for i < len(src) && !isSpace(src[i]) && src[i] != ')' {
				i++
			}
			if i >= len(src) || src[i] != ')' {
				return 0, &Error{Msg: fmt.Sprintf("malformed parameter at position %d", start+1), Position: start + 1}
			}
			i++
			break loop
		case c == ':' && i+1 < len(src) && src[i+1] == ':':
			i += 2
		default:
			break loop
		}
	}
	if n == 0 {
		return 0, &Error{Msg: fmt.Sprintf("malformed parameter at position %d", start+1), Position: start + 1}
	}
	return i, nil
}

func (l *lexer) peek(k int) byte {
	if l.pos+k < len(l.src) {
		return l.src[l.pos+k]
	}
	return 0
}

func (l *lexer) unterminated(what string, start int) error {
	return &Error{Msg: fmt.Sprintf("unterminated %s starting at position %d", what, start+1), Position: start + 1}
}

func quoteName(c byte) string {
	switch c {
	case '\'':
		return "string"
	case '"':
		return `"identifier"`
	}
	return "`identifier`"
}

// isSpaceStart reports the bytes that start a run of spaces in SQLite.
func isSpaceStart(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r'
}

// isSpace reports the bytes that continue a run of spaces (sqlite3Isspace).
func isSpace(c byte) bool { return isSpaceStart(c) || c == '\v' }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// isIDChar reports the bytes allowed in an identifier (SQLite's IdChar):
// ASCII letters and digits, _, $ and every byte of a multi-byte character.
func isIDChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || isDigit(c) || c == '_' || c == '$' || c >= 0x80
}
