//go:build pgquery_wasm

package pgsql

import (
	"errors"
	"sync/atomic"

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
// cgo build returns an error), and the module is not usable after that:
// later parses return empty trees. So the panic becomes an error and every
// later parse is refused until the process restarts — fail closed, at the
// price of letting one statement stop SQL classification (docs/release.md).
func parseSQL(sql string) (tree *pg_query.ParseResult, err error) {
	if poisoned.Load() {
		return nil, errPoisoned
	}
	defer func() {
		if r := recover(); r != nil {
			poisoned.Store(true)
			tree, err = nil, errTooDeep
		}
	}()
	return pgquery.Parse(sql)
}

var poisoned atomic.Bool

var errPoisoned = errors.New("the SQL parser stopped after a statement it could not handle; restart the gateway")

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
