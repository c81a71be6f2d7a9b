//go:build pgquery_wasm

package pgsql

import (
	"errors"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	pgquery "github.com/wasilibs/go-pgquery"
	"github.com/wasilibs/go-pgquery/parser"
)

// ParserName says which build of libpg_query parses statements (see
// docs/release.md): this one runs it as WebAssembly in wazero, without cgo.
const ParserName = "go-pgquery (WebAssembly, no cgo)"

// parseSQL parses sql with libpg_query compiled to WebAssembly; the tree
// has pg_query_go's types, so the classifier is the same code. A statement
// nested deeper than the WebAssembly stack makes wazero panic (where the
// cgo build returns an error); that panic is the agent's input, not a bug
// of ours, so it becomes an error here instead of ending the call's
// goroutine.
func parseSQL(sql string) (tree *pg_query.ParseResult, err error) {
	defer func() {
		if r := recover(); r != nil {
			tree, err = nil, errTooDeep
		}
	}()
	return pgquery.Parse(sql)
}

var errTooDeep = errors.New("the statement is nested too deeply to parse")

// parserError returns the parser's message and cursor position when err
// is a syntax error from libpg_query.
func parserError(err error) (msg string, pos int, ok bool) {
	var pe *parser.Error
	if !errors.As(err, &pe) {
		return "", 0, false
	}
	return pe.Message, pe.Cursorpos, true
}
