//go:build !pgquery_wasm

package pgsql

import (
	"errors"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"github.com/pganalyze/pg_query_go/v6/parser"
)

// ParserName says which build of libpg_query parses statements (see
// docs/release.md): this one calls it through cgo.
const ParserName = "pg_query_go (cgo)"

// parseSQL parses sql with libpg_query linked through cgo.
func parseSQL(sql string) (*pg_query.ParseResult, error) { return pg_query.Parse(sql) }

// parserError returns the parser's message and cursor position when err
// is a syntax error from libpg_query.
func parserError(err error) (msg string, pos int, ok bool) {
	var pe *parser.Error
	if !errors.As(err, &pe) {
		return "", 0, false
	}
	return pe.Message, pe.Cursorpos, true
}
