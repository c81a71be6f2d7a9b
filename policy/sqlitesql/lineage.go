package sqlitesql

import (
	"slices"
	"strings"
)

// Source is a stored column that a result column may read: Table "*" is
// any table, Column "*" every column.
type Source struct {
	Table  string
	Column string
}

// ColumnLineage is what one result column may read. Direct is true when
// the column is a plain column reference (one table, one column).
type ColumnLineage struct {
	Sources []Source
	Direct  bool
}

// maxLineageTokens bounds the statements analysed; longer ones (and ones
// that do not tokenize) read anything.
const maxLineageTokens = 20_000

// maxSources bounds the sources given to one column; past it the tables
// are dropped and any table's column of each name is meant.
const maxSources = 256

// Lineage traces the result columns (named by the database: names) of one
// SQLite statement to the stored columns they may read, conservatively,
// from its tokens: SQLite's parse tree is not available here.
//
//   - A single SELECT without WITH, subqueries or compound operators: each
//     select-list item reads every column it names, in every table named
//     after FROM or JOIN; "*" and "t.*" read the same-named column.
//     count(...) reads nothing.
//   - Anything else (CTEs, subqueries, UNION, RETURNING, ...): every result
//     column reads every name anywhere in the statement, in every table
//     named.
func Lineage(sql string, names []string) []ColumnLineage {
	out := make([]ColumnLineage, len(names))
	toks, ok := lineageTokens(sql)
	if !ok {
		for i := range out {
			out[i].Sources = []Source{{"*", "*"}}
		}
		return out
	}
	tables := tableNames(toks)
	items, simple := selectItems(toks)
	if !simple {
		var idents []string
		for k, t := range toks {
			if t.ident && !isCall(toks, k) {
				idents = append(idents, t.text)
			}
		}
		for i, n := range names {
			out[i] = ColumnLineage{Sources: cross(tables, append(slices.Clone(idents), n))}
		}
		return out
	}
	// Line the select list up with the result: "*" items take the
	// columns the others leave.
	first, last := -1, -1
	for k, it := range items {
		if it.star {
			if first < 0 {
				first = k
			}
			last = k
		}
	}
	if first < 0 {
		first, last = len(items), len(items)-1
	}
	head, tail := first, len(items)-1-last
	n := len(names)
	doubt := false
	if first == len(items) && len(items) != n || head+tail > n {
		head, tail, first, last, doubt = 0, 0, 0, len(items)-1, true
	}
	for i, name := range names {
		var its []item
		switch {
		case i < head:
			its = items[i : i+1]
		case i >= n-tail:
			its = items[len(items)-(n-i) : len(items)-(n-i)+1]
		case first <= last:
			its = items[first : last+1]
		}
		var cols []string
		direct := len(its) == 1 && !doubt
		for _, it := range its {
			if it.star {
				cols = append(cols, name)
				ts := tables
				if it.table != "" {
					ts = []string{it.table}
				}
				if len(ts) != 1 {
					direct = false
				}
				out[i].Sources = append(out[i].Sources, cross(ts, []string{name})...)
				continue
			}
			direct = direct && it.direct
			out[i].Sources = append(out[i].Sources, cross(tablesFor(it, tables), it.idents)...)
		}
		out[i].Sources = normalize(out[i].Sources)
		out[i].Direct = direct && len(out[i].Sources) == 1
	}
	return out
}

func tablesFor(it item, tables []string) []string {
	if it.table != "" {
		return []string{it.table}
	}
	return tables
}

// cross pairs tables and columns; with no table known, any table.
func cross(tables, cols []string) []Source {
	if len(tables) == 0 {
		tables = []string{"*"}
	}
	if len(tables)*len(cols) > maxSources {
		tables = []string{"*"}
	}
	out := make([]Source, 0, len(tables)*len(cols))
	for _, t := range tables {
		for _, c := range cols {
			out = append(out, Source{Table: t, Column: c})
		}
	}
	return normalize(out)
}

func normalize(src []Source) []Source {
	slices.SortFunc(src, func(x, y Source) int {
		if c := strings.Compare(x.Table, y.Table); c != 0 {
			return c
		}
		return strings.Compare(x.Column, y.Column)
	})
	return slices.Compact(src)
}

// ltok is a token for lineage: its text (identifiers unquoted), whether it
// is a name (not a keyword or literal), and its nesting depth.
type ltok struct {
	text   string
	word   bool // a bare word (keyword or name)
	ident  bool // a name: a bare word that is not a keyword, or a quoted identifier
	quoted bool
	depth  int
}

func lineageTokens(sql string) ([]ltok, bool) {
	lx := lexer{src: sql}
	var out []ltok
	depth := 0
	for len(out) < maxLineageTokens {
		t, err := lx.next()
		if err != nil {
			return nil, false
		}
		text := sql[t.start:t.end]
		switch t.kind {
		case tokEOF:
			return out, true
		case tokSemi:
			continue
		case tokLParen:
			out = append(out, ltok{text: "(", depth: depth})
			depth++
			continue
		case tokRParen:
			depth--
			out = append(out, ltok{text: ")", depth: depth})
			continue
		case tokWord:
			low := strings.ToLower(text)
			out = append(out, ltok{text: low, word: true, ident: !sqlKeywords[low], depth: depth})
			continue
		}
		switch c := text[0]; {
		case c == '"' || c == '`':
			q := string(c)
			out = append(out, ltok{text: strings.ToLower(strings.ReplaceAll(text[1:len(text)-1], q+q, q)), ident: true, quoted: true, depth: depth})
		case c == '[':
			out = append(out, ltok{text: strings.ToLower(text[1 : len(text)-1]), ident: true, quoted: true, depth: depth})
		default:
			out = append(out, ltok{text: text, depth: depth})
		}
	}
	return nil, false
}

// tableNames are the names right after FROM or JOIN, or after a comma in
// a FROM clause, at any depth (schema-qualified names keep the table).
func tableNames(toks []ltok) []string {
	var out []string
	inFrom := map[int]bool{}
	for k, t := range toks {
		if t.word && !t.ident {
			switch t.text {
			case "from", "join":
				inFrom[t.depth] = true
			case "where", "group", "order", "limit", "having", "window", "union", "intersect", "except", "on", "using", "returning", "select", "values", "set":
				inFrom[t.depth] = false
			}
		}
		if !t.ident || k == 0 {
			continue
		}
		p := toks[k-1]
		if p.text == "." && k >= 2 && toks[k-2].ident {
			// schema.table: the table counts; the schema was taken as one
			// too, which only adds candidates.
		} else if !(p.word && (p.text == "from" || p.text == "join")) && !(p.text == "," && inFrom[t.depth]) {
			continue
		}
		out = append(out, t.text)
		for j := k + 1; j+1 < len(toks) && toks[j].text == "."; j += 2 {
			out = append(out, toks[j+1].text)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// item is one select-list item of a simple SELECT.
type item struct {
	star   bool
	table  string   // "t" of "t.*" or "t.c"
	idents []string // the names it mentions
	direct bool     // a plain column reference, maybe aliased
}

// selectItems splits the select list of a simple statement: one SELECT,
// no WITH, no nested SELECT, no compound operator, no RETURNING.
func selectItems(toks []ltok) ([]item, bool) {
	if len(toks) == 0 || toks[0].text != "select" || !toks[0].word {
		return nil, false
	}
	for _, t := range toks[1:] {
		if t.word && !t.ident {
			switch t.text {
			case "select", "with", "union", "intersect", "except", "returning", "values":
				return nil, false
			}
		}
	}
	k := 1
	if k < len(toks) && toks[k].word && (toks[k].text == "distinct" || toks[k].text == "all") {
		k++
	}
	var items []item
	var cur []ltok
	flush := func() {
		items = append(items, makeItem(cur))
		cur = nil
	}
	for ; k < len(toks); k++ {
		t := toks[k]
		if t.depth == 0 && t.word && !t.ident && (t.text == "from" || t.text == "where" || t.text == "group" || t.text == "order" || t.text == "limit" || t.text == "window" || t.text == "having") {
			break
		}
		if t.depth == 0 && t.text == "," {
			flush()
			continue
		}
		cur = append(cur, t)
	}
	flush()
	return items, true
}

func makeItem(ts []ltok) item {
	// Drop an alias: "... AS x" or a trailing name after a complete
	// expression ("ssn x").
	if n := len(ts); n >= 2 && ts[n-2].word && ts[n-2].text == "as" {
		ts = ts[:n-2]
	} else if n >= 2 && ts[n-1].ident && ts[n-1].depth == 0 && endsExpr(ts[n-2]) {
		ts = ts[:n-1]
	}
	switch {
	case len(ts) == 1 && ts[0].text == "*":
		return item{star: true}
	case len(ts) == 3 && ts[0].ident && ts[1].text == "." && ts[2].text == "*":
		return item{star: true, table: ts[0].text}
	case len(ts) == 1 && ts[0].ident:
		return item{idents: []string{ts[0].text}, direct: true}
	case len(ts) == 3 && ts[0].ident && ts[1].text == "." && ts[2].ident:
		return item{table: ts[0].text, idents: []string{ts[2].text}, direct: true}
	}
	if len(ts) >= 3 && ts[0].word && ts[0].text == "count" && ts[1].text == "(" && ts[len(ts)-1].text == ")" && ts[len(ts)-1].depth == 0 {
		closes := 0
		for _, t := range ts {
			if t.text == ")" && t.depth == 0 {
				closes++
			}
		}
		if closes == 1 {
			return item{}
		}
	}
	var it item
	for k, t := range ts {
		if t.ident && !isCall(ts, k) {
			it.idents = append(it.idents, t.text)
		}
	}
	return it
}

// isCall reports a name followed by "(": a function, not a column.
func isCall(ts []ltok, k int) bool {
	return k+1 < len(ts) && ts[k+1].text == "(" && !ts[k].quoted
}

// endsExpr reports a token after which a name is an alias ("ssn x",
// "upper(ssn) x", "'a' x"), not part of the expression.
func endsExpr(t ltok) bool {
	if t.ident || t.text == ")" || t.word && t.text == "end" {
		return true
	}
	return !t.word && t.text != "" && (t.text[0] == '\'' || isDigit(t.text[0]))
}

// sqlKeywords are words that are never column names in what Lineage
// reads; anything else bare is taken as a name (function names too,
// which only adds candidates).
var sqlKeywords = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`select from where as and or not null is in like glob regexp match between
		case when then else end distinct all on join left right inner outer cross natural using group by
		order having limit offset union intersect except with recursive asc desc collate cast escape exists
		values window over partition filter nulls first last returning insert update delete into set
		replace default true false current_date current_time current_timestamp isnull notnull materialized`) {
		sqlKeywords[w] = true
	}
}
