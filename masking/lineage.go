package masking

import (
	"path"
	"strings"
)

// ColumnRef names a stored column that a result column reads. Column "*"
// is every column of Table (a whole-row reference); Table "*" is any
// relation (an input that could not be traced).
type ColumnRef struct {
	Table  string
	Column string
}

// Lineage says which stored columns a result column's value comes from,
// beyond the one source a database reports for a plain column. Query
// analysis fills it (policy/pgsql, policy/sqlitesql), so that column rules
// also cover expressions: reverse(ssn), row_to_json(c), a CTE's columns.
type Lineage struct {
	// From lists the stored columns the value reads.
	From []ColumnRef
	// Computed is true when the value is computed from From (through a
	// function, an operator, a cast, a whole row, or one of several
	// candidate columns) rather than being one of them as stored.
	Computed bool
}

// LineageOperator returns the strictest operator of the column rules that
// match any column in l.From, and whether any does. A whole-row reference
// matches every rule for its table, an untraced input every rule. For a
// computed value partial and hash act as redact: which part of a computed
// value is safe to keep is unknown (partial of reverse(card) would show
// the first digits), and pseudonyms of chosen computed values would let
// anyone confirm guesses of the stored ones.
func (e *Engine) LineageOperator(l Lineage) (Operator, bool) {
	var op Operator
	for _, ref := range l.From {
		if x, ok := e.refOperator(ref); ok {
			op = stricter(op, x)
		}
	}
	if op == "" {
		return "", false
	}
	if l.Computed && opRank(op) < opRank(Redact) {
		op = Redact
	}
	return op, true
}

func (e *Engine) refOperator(ref ColumnRef) (Operator, bool) {
	table, column := strings.ToLower(ref.Table), strings.ToLower(ref.Column)
	if table != "*" && column != "*" {
		return e.ColumnOperator(table, column)
	}
	tables := []string{table}
	if i := strings.LastIndexByte(table, '.'); i >= 0 {
		tables = append(tables, table[i+1:])
	}
	var op Operator
	for _, r := range e.columns {
		if column != "*" {
			if ok, _ := path.Match(r.columnPat, column); !ok {
				continue
			}
		}
		if table != "*" && !matchAny(r.tablePat, tables) {
			continue
		}
		op = stricter(op, r.op)
	}
	return op, op != ""
}

func matchAny(pattern string, names []string) bool {
	for _, n := range names {
		if ok, _ := path.Match(pattern, n); ok {
			return true
		}
	}
	return false
}

// splitColumnPattern cuts a "table.column" pattern at its last dot.
func splitColumnPattern(p string) (table, column string) {
	i := strings.LastIndexByte(p, '.')
	if i < 0 {
		return "*", p
	}
	return p[:i], p[i+1:]
}

// MaskCellFrom masks one result cell as MaskCell does, with the column
// rules of the stored columns the value was read or computed from (l) as
// well: the strictest operator of the cell's own source and its lineage
// applies to the whole value. To mask many cells of one column, build a
// ColumnMasker once with Column.
func (e *Engine) MaskCellFrom(table, column string, l Lineage, v any, c Counts) any {
	return e.Column(table, column, l).Mask(v, c)
}

// ColumnMasker masks the cells of one result column: the rules that
// apply to it are matched once, not per cell.
type ColumnMasker struct {
	e             *Engine
	table, column string
	hints         uint8
	strength      int      // the column name's secret strength (secretKey, secretName)
	op            Operator // the winning structured rule, "" when none
	computed      bool     // op came from the lineage of a computed value
}

// Column prepares the masking of a result column resolved to
// table.column whose values read the stored columns in l.
func (e *Engine) Column(table, column string, l Lineage) *ColumnMasker {
	m := &ColumnMasker{e: e, table: table, column: column, hints: keyHints(strings.ToLower(column)),
		strength: max(secretKey(column), secretName(column))}
	own, hasOwn := e.ColumnOperator(table, column)
	lop, hasLin := e.LineageOperator(l)
	switch {
	case hasLin && (!hasOwn || opRank(lop) > opRank(own)):
		m.op, m.computed = lop, l.Computed
	case hasOwn:
		m.op = own
	}
	return m
}

// ResultColumn prepares the masking of result column name (as the
// query wrote it: an alias, or the database's name for an expression)
// whose stored source is src (the zero ColumnRef when the database does
// not report one) and whose value reads the stored columns in l.
//
// Whoever writes the query chooses its aliases and its literal text, so
// a name or a word that says what a value is not ("version", "order_id",
// "order #") counts only when it comes from the stored column: an alias
// may make a value more sensitive (an "ssn" alias reads nine digits as an
// SSN) but never less ("SELECT ip AS version" is still an address). The
// stored column is src, or else the single column l says the value is
// read as stored. In a computed value no word inside the cell keeps a
// value from being detected either: 'version ' || ip is an address.
func (e *Engine) ResultColumn(name string, src ColumnRef, l Lineage) *ColumnMasker {
	table, column := "", name
	stored := ""
	if src.Column != "" {
		table, column, stored = src.Table, src.Column, src.Column
	} else if !l.Computed && len(l.From) == 1 && l.From[0].Column != "*" && l.From[0].Table != "*" {
		stored = l.From[0].Column
	}
	m := e.Column(table, column, l)
	lname := strings.ToLower(name)
	m.hints = keyHints(lname) & hintsPositive
	if stored != "" {
		m.hints |= keyHints(strings.ToLower(stored))
	}
	m.strength = max(m.strength, secretKey(name), secretName(name))
	if l.Computed || stored == "" {
		m.hints |= hintStrict
	}
	return m
}

// Mask masks one cell of the column.
func (m *ColumnMasker) Mask(v any, c Counts) any {
	e := m.e
	switch {
	case m.op == "":
		w := walker{e: e, c: c}
		return w.namedStrength(m.column, m.strength, v, m.hints)
	case !m.computed:
		return e.maskWhole(m.op, v, "", m.hints, c)
	}
	// A computed value is masked even when it looks masked already: an
	// agent can make it look so ('***' || ssn).
	if v == nil {
		return nil
	}
	ent := Field
	if str, scalar := scalarString(v); scalar {
		if x, ok := e.classify(str, m.hints); ok {
			ent = x
		}
	}
	c.add(ent)
	if m.op == Null {
		return nil
	}
	return label(ent)
}
