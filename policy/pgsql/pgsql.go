// Package pgsql classifies one PostgreSQL statement by the access it needs
// (read, write, ddl or admin) so that policy can decide whether an agent may
// run it.
//
// The statement is parsed with PostgreSQL's own grammar (pg_query_go) and the
// whole parse tree is walked: statements nested in CTEs, EXPLAIN, CREATE
// SCHEMA or rules, SELECT INTO, locking clauses and function calls anywhere
// (including FROM) all count. Each class is an allow-list; anything this
// package does not know is admin, so new or exotic syntax fails closed.
//
// Classification is one layer of defence, not the only one: reads also run in
// a READ ONLY transaction with a statement timeout, over the extended protocol
// (which refuses stacked statements).
package pgsql

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"unicode/utf8"

	pg_query "github.com/pganalyze/pg_query_go/v6"

	"github.com/airlockhq/airlock/policy"
)

// Statement is what one SQL statement does.
type Statement struct {
	Access    policy.Access // read, write, ddl or admin
	Command   string        // e.g. "SELECT", "INSERT", "CREATE TABLE", "EXPLAIN", "SHOW", "DO", "COPY", "SET"
	Tables    []string      // relations referenced, as written, schema-qualified when written so ("public.t"), deduplicated, sorted
	Functions []string      // functions called anywhere, lower-case, as written (pg_catalog.pg_sleep), dedup, sorted
	// UserFunctions are the called functions that are not pg_catalog's
	// (user-defined, from extensions, or qualified with another schema),
	// as in Functions. What they do cannot be seen from the statement:
	// the caller decides whether to allow them.
	UserFunctions []string
	Reason        string // why it is not read, when Access != Read, in plain words an agent can act on
}

// Error is a statement the gateway refuses to classify: it does not parse,
// is empty, holds more than one statement, or controls transactions. Its
// text is meant for the agent and holds nothing beyond the parser's message.
type Error struct {
	Msg      string // what is wrong, in plain words
	Position int    // 1-based character position of the problem, 0 when unknown
}

func (e *Error) Error() string { return e.Msg }

// Classify parses sql (exactly one statement) and classifies it by its whole
// parse tree.
func Classify(sql string) (*Statement, error) {
	// pg_query reads a C string: a NUL would hide everything after it from
	// the classifier but not necessarily from the server.
	if strings.IndexByte(sql, 0) >= 0 {
		return nil, &Error{Msg: "the statement contains a NUL byte"}
	}
	// The server rejects invalid UTF-8 anyway; refusing it here keeps the
	// classifier and the server reading the same characters.
	if !utf8.ValidString(sql) {
		return nil, &Error{Msg: "the statement is not valid UTF-8"}
	}
	tree, err := parseSQL(sql)
	if err != nil {
		return nil, parseError(err)
	}
	switch n := len(tree.Stmts); {
	case n == 0:
		return nil, &Error{Msg: "no SQL statement found: send exactly one statement"}
	case n > 1:
		return nil, &Error{Msg: fmt.Sprintf("exactly one statement is allowed, found %d", n)}
	}
	root := stmtOf(tree.Stmts[0].GetStmt())
	if root == nil {
		return nil, &Error{Msg: "no SQL statement found: send exactly one statement"}
	}

	var w walker
	w.visit(root, nil)
	if w.err != nil {
		return nil, w.err
	}
	st := &Statement{
		Access:    w.class.access(),
		Command:   command(root),
		Tables:    sortedSet(w.tables),
		Functions: sortedSet(w.funcs),

		UserFunctions: sortedSet(w.userFuncs),
	}
	if w.class != classRead {
		st.Reason = w.reason
	}
	return st, nil
}

// parseError keeps only the parser's message and position: pg_query's error
// also names PostgreSQL source files and functions, which mean nothing to an
// agent.
func parseError(err error) *Error {
	msg, pos, ok := parserError(err)
	if !ok {
		// Not a parser error (e.g. the protobuf tree was too deep to decode).
		return &Error{Msg: "the statement could not be parsed; simplify it and try again"}
	}
	e := &Error{Msg: msg, Position: pos}
	if e.Position > 0 {
		e.Msg = fmt.Sprintf("%s (at position %d)", msg, pos)
	}
	return e
}

// stmtOf returns the statement node a pg_query.Node holds, or nil.
func stmtOf(n *pg_query.Node) any {
	if n.GetNode() == nil {
		return nil
	}
	v := reflect.ValueOf(n.GetNode()).Elem() // a oneof wrapper with one field
	if v.Kind() != reflect.Struct || v.NumField() != 1 {
		return nil
	}
	if f := v.Field(0); f.Kind() == reflect.Pointer && !f.IsNil() {
		return f.Interface()
	}
	return nil
}

// sortedSet sorts and deduplicates names in place.
func sortedSet(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	slices.Sort(s)
	return slices.Compact(s)
}
