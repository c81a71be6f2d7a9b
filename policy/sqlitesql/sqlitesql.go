// Package sqlitesql checks that a SQLite query holds exactly one statement
// and gives the access class (read, write, ddl or admin) the caller must be
// granted to run it.
//
// It is deliberately coarse. The real guard for reads is SQLite itself: the
// database is opened read-only and with PRAGMA query_only, so a read that is
// not one fails there. What this package must get exactly right is where
// statements end, because SQLite drivers run every statement of a script:
// its tokenizer follows SQLite's own lexical rules (tokenize.c) for strings,
// quoted identifiers, comments, blobs and variables, so that a ';' hidden
// from one reader cannot be seen by the other.
package sqlitesql

import (
	"fmt"
	"strings"

	"github.com/airlockhq/airlock/policy"
)

// Statement is one SQLite statement.
type Statement struct {
	Access  policy.Access
	Command string // first keyword upper-cased, e.g. "SELECT", "WITH", "INSERT", "PRAGMA"
}

// Error is a query the gateway refuses: it is empty, holds more than one
// statement, does not tokenize, or controls transactions. Its text is meant
// for the agent.
type Error struct {
	Msg      string // what is wrong, in plain words
	Position int    // 1-based byte offset of the problem, 0 when unknown
}

func (e *Error) Error() string { return e.Msg }

// Classify checks that sql holds exactly one statement (a trailing ';' and
// comments are fine) and classifies it by its first keyword.
func Classify(sql string) (*Statement, error) {
	// SQLite reads C strings: text after a NUL would be invisible to it but
	// not to this tokenizer, or the other way round.
	if i := strings.IndexByte(sql, 0); i >= 0 {
		return nil, &Error{Msg: "the statement contains a NUL byte", Position: i + 1}
	}
	var (
		lx     = lexer{src: sql}
		count  int   // non-empty statements seen
		inStmt bool  // inside a statement (a token since the last ';')
		first  token // first token of the first statement
		with   withScan
	)
scan:
	for {
		t, err := lx.next()
		if err != nil {
			return nil, err
		}
		switch t.kind {
		case tokEOF:
			break scan
		case tokSemi:
			inStmt = false
			continue
		}
		if !inStmt {
			inStmt = true
			count++
			if count == 1 {
				first = t
				continue
			}
		}
		if count == 1 {
			with.add(t, sql)
		}
	}
	switch {
	case count == 0:
		return nil, &Error{Msg: "no SQL statement found: send exactly one statement"}
	case count > 1:
		msg := fmt.Sprintf("exactly one statement is allowed, found %d", count)
		if first.kind == tokWord && isTrigger(sql) {
			msg += " (CREATE TRIGGER with a BEGIN ... END body is not supported)"
		}
		return nil, &Error{Msg: msg}
	}
	if first.kind != tokWord {
		return nil, &Error{Msg: "a statement must start with a keyword such as SELECT", Position: first.start + 1}
	}

	word := sql[first.start:first.end]
	kw, ok := lookup(word)
	if !ok {
		// Not a keyword SQLite starts statements with: it will refuse it,
		// and nothing here vouches for it.
		return &Statement{Access: policy.Admin, Command: strings.ToUpper(word)}, nil
	}
	if kw.transaction {
		return nil, &Error{Msg: kw.command + " is not allowed: the gateway manages transactions itself; send the statement without transaction control"}
	}
	st := &Statement{Access: kw.access, Command: kw.command}
	if kw.command == "WITH" {
		st.Access = with.access()
	}
	return st, nil
}

// keyword is what a statement's first word means.
type keyword struct {
	command     string
	access      policy.Access
	transaction bool // refused: the gateway manages transactions
}

var keywords = []keyword{
	{command: "SELECT", access: policy.Read},
	{command: "VALUES", access: policy.Read},
	// EXPLAIN and EXPLAIN QUERY PLAN describe a statement without running
	// it, whatever it is.
	{command: "EXPLAIN", access: policy.Read},
	// A WITH's main statement may be a DML. withScan finds it when it can;
	// otherwise WITH counts as read, and for reads SQLite's query_only still
	// refuses any write inside.
	{command: "WITH", access: policy.Read},
	{command: "INSERT", access: policy.Write},
	{command: "UPDATE", access: policy.Write},
	{command: "DELETE", access: policy.Write},
	{command: "REPLACE", access: policy.Write},
	{command: "UPSERT", access: policy.Write},
	{command: "CREATE", access: policy.DDL},
	{command: "DROP", access: policy.DDL},
	{command: "ALTER", access: policy.DDL},
	{command: "REINDEX", access: policy.DDL},
	{command: "PRAGMA", access: policy.Admin},
	{command: "ATTACH", access: policy.Admin},
	{command: "DETACH", access: policy.Admin},
	{command: "VACUUM", access: policy.Admin},
	{command: "ANALYZE", access: policy.Admin},
	{command: "BEGIN", transaction: true},
	{command: "COMMIT", transaction: true},
	{command: "END", transaction: true},
	{command: "ROLLBACK", transaction: true},
	{command: "SAVEPOINT", transaction: true},
	{command: "RELEASE", transaction: true},
}

// lookup finds a keyword case-insensitively, without allocating.
func lookup(word string) (keyword, bool) {
	for _, k := range keywords {
		if strings.EqualFold(word, k.command) {
			return k, true
		}
	}
	return keyword{}, false
}

// withScan finds the main statement of a WITH: the first word at nesting
// depth 0 that follows a parenthesised CTE body and is not AS, as in
// WITH a(x) AS (...), b AS MATERIALIZED (...) INSERT ...
type withScan struct {
	depth      int
	afterParen bool
	main       string
}

func (s *withScan) add(t token, src string) {
	if s.main != "" {
		return
	}
	switch t.kind {
	case tokLParen:
		s.depth++
		return
	case tokRParen:
		if s.depth > 0 {
			s.depth--
		}
		if s.depth == 0 {
			s.afterParen = true
		}
		return
	}
	if s.depth > 0 {
		return
	}
	if s.afterParen && t.kind == tokWord {
		if w := src[t.start:t.end]; !strings.EqualFold(w, "AS") {
			s.main = w
		}
	}
	s.afterParen = false
}

func (s *withScan) access() policy.Access {
	kw, ok := lookup(s.main)
	if ok && kw.access == policy.Write {
		return policy.Write
	}
	return policy.Read
}

// isTrigger reports whether sql starts with CREATE [TEMP|TEMPORARY] TRIGGER,
// only to explain why such a statement is refused.
func isTrigger(sql string) bool {
	lx := lexer{src: sql}
	for i := 0; i < 3; i++ {
		t, err := lx.next()
		if err != nil || t.kind != tokWord {
			return false
		}
		w := sql[t.start:t.end]
		switch {
		case i == 0 && strings.EqualFold(w, "CREATE"):
		case i == 1 && (strings.EqualFold(w, "TEMP") || strings.EqualFold(w, "TEMPORARY")):
		case i > 0 && strings.EqualFold(w, "TRIGGER"):
			return true
		default:
			return false
		}
	}
	return false
}
