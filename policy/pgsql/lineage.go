package pgsql

import (
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// Source is a stored column that a result column reads.
type Source struct {
	// Table is the relation as written, schema-qualified when written so
	// ("public.customers"); "*" is any relation (an input the analysis
	// could not see through).
	Table string
	// Column is the column's name; "*" is every column of Table (a
	// whole-row reference such as row_to_json(c) or SELECT c).
	Column string
}

// FunctionTable is the Table of a Source that stands for a function call:
// Column is the function's name, schema-qualified when written so. A
// function defined outside pg_catalog may read any table (its body is not
// analysed), so the caller replaces it by Wildcard when the catalog says it
// is one, and drops it otherwise.
const FunctionTable = "()"

// Wildcard is the source of a value the analysis could not trace: every
// column of every relation.
var Wildcard = Source{Table: "*", Column: "*"}

// ColumnLineage is, for each result column, the stored columns it reads.
type ColumnLineage struct {
	// Sources are the columns the value is read or computed from, sorted,
	// without duplicates.
	Sources []Source
	// Direct is true when the value is one stored column as stored (a plain
	// column reference, through aliases, subqueries and CTEs), false when it
	// is computed from Sources (functions, operators, casts, aggregates,
	// whole rows, several candidates).
	Direct bool
}

// Lineage is what the result columns of one statement read, as far as its
// parse tree tells. Resolve it against the result's column names: the
// width of "*" is known only to the server.
type Lineage struct {
	entries []entry
	opaque  bool
}

// entry is one item of a select list: one output column, or an expansion
// of "*" whose width the parse tree does not give.
type entry struct {
	name   string // output name, for lookups by name in a derived table
	star   bool
	direct bool
	src    []Source
	rels   []*relation // star only: each expanded column reads the same-named column of these
}

// relation is a FROM item in scope.
type relation struct {
	alias   string      // the name it is referred to by
	base    string      // a stored relation (table or view) as written; "" when derived
	entries []entry     // a derived relation's columns
	members []*relation // a join's relations (for a join alias)
	rec     bool        // a recursive CTE seen from inside: every column reads all it reads
}

// maxLineageWork bounds the analysis (nodes visited, lookups made): past
// it the statement is treated as opaque, which masks conservatively.
const maxLineageWork = 200_000

// AnalyzeLineage parses sql and traces each result column to the stored
// columns it reads. It never fails: a statement it cannot parse or follow
// gives an opaque lineage, in which every column reads Wildcard.
func AnalyzeLineage(sql string) *Lineage {
	if strings.IndexByte(sql, 0) >= 0 || !utf8.ValidString(sql) {
		return &Lineage{opaque: true}
	}
	tree, err := parseSQL(sql)
	if err != nil || len(tree.Stmts) != 1 {
		return &Lineage{opaque: true}
	}
	return lineageOf(stmtOf(tree.Stmts[0].GetStmt()))
}

func lineageOf(root any) *Lineage {
	a := &analyzer{}
	var es []entry
	switch n := root.(type) {
	case *pg_query.SelectStmt, *pg_query.InsertStmt, *pg_query.UpdateStmt, *pg_query.DeleteStmt, *pg_query.MergeStmt:
		es = a.query(n, nil)
	case *pg_query.ExplainStmt, *pg_query.VariableShowStmt:
		// Plans and settings hold no stored data.
		return &Lineage{}
	default:
		// Anything else that returns rows (CALL with OUT parameters,
		// EXECUTE of a prepared statement, FETCH from a cursor) is not
		// followed: it may read anything.
		return &Lineage{opaque: true}
	}
	if a.over {
		return &Lineage{opaque: true}
	}
	return &Lineage{entries: es}
}

// Opaque reports whether the statement could not be analysed, so that
// every result column is taken to read Wildcard.
func (l *Lineage) Opaque() bool { return l.opaque }

// Resolve returns the lineage of each result column, given the column
// names the server returned. Columns that "*" expanded to read the column
// of the same name in the starred relations. Where the select list and the
// result cannot be lined up, every column in doubt takes the union of what
// the ambiguous items read.
func (l *Lineage) Resolve(names []string) []ColumnLineage {
	out := make([]ColumnLineage, len(names))
	if l.opaque {
		for i := range out {
			out[i].Sources = []Source{Wildcard}
		}
		return out
	}
	es, n := l.entries, len(names)
	first, last := -1, -1
	for i, e := range es {
		if e.star {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	if first < 0 {
		first, last = len(es), len(es)-1
	}
	head, tail := first, len(es)-1-last
	if first == len(es) && len(es) != n || head+tail > n {
		// The select list does not line up with the result: everything is
		// in doubt.
		head, tail, first, last = 0, 0, 0, len(es)-1
	}
	for i := range names {
		switch {
		case i < head:
			out[i] = es[i].resolve(names[i])
		case i >= n-tail:
			out[i] = es[len(es)-(n-i)].resolve(names[i])
		case first == last:
			out[i] = es[first].resolve(names[i])
		default:
			var src []Source
			for _, e := range es[first : last+1] {
				src = append(src, e.resolve(names[i]).Sources...)
			}
			out[i] = ColumnLineage{Sources: normalize(src)}
		}
	}
	return out
}

// resolve is what one result column read when it came from e under name.
func (e entry) resolve(name string) ColumnLineage {
	if !e.star {
		return ColumnLineage{Sources: normalize(slices.Clone(e.src)), Direct: e.direct && len(e.src) == 1}
	}
	src := slices.Clone(e.src)
	direct := len(e.src) == 0
	for _, r := range e.rels {
		s, d := r.lookup(name, 0)
		src = append(src, s...)
		direct = direct && d
	}
	src = normalize(src)
	return ColumnLineage{Sources: src, Direct: direct && len(src) == 1}
}

// all is everything a relation's columns read: what a whole-row reference
// reveals.
func (r *relation) all() []Source {
	if r.base != "" {
		return []Source{{Table: r.base, Column: "*"}}
	}
	var src []Source
	for _, m := range r.members {
		src = append(src, m.all()...)
	}
	for _, e := range r.entries {
		src = append(src, e.src...)
		for _, rr := range e.rels {
			src = append(src, rr.all()...)
		}
	}
	return src
}

// lookup is what column name of r reads, and whether it is that column as
// stored. A derived relation without such a column reads nothing.
func (r *relation) lookup(name string, depth int) ([]Source, bool) {
	if depth > 64 {
		return []Source{Wildcard}, false
	}
	if r.base != "" {
		return []Source{{Table: r.base, Column: name}}, true
	}
	var src []Source
	direct, n := true, 0
	for _, m := range r.members {
		if s, d := m.lookup(name, depth+1); len(s) > 0 {
			src, direct, n = append(src, s...), direct && d, n+1
		}
	}
	for _, e := range r.entries {
		switch {
		case e.star:
			if len(e.src) > 0 {
				src, direct, n = append(src, e.src...), false, n+1
			}
			for _, rr := range e.rels {
				if s, d := rr.lookup(name, depth+1); len(s) > 0 {
					src, direct, n = append(src, s...), direct && d, n+1
				}
			}
		case e.name == name:
			src, direct, n = append(src, e.src...), direct && e.direct, n+1
		}
	}
	return src, direct && n == 1 && len(src) == 1
}

// has reports whether r certainly has a column called name (a derived
// relation that lists it), so outer scopes need not be searched.
func (r *relation) has(name string) bool {
	if r.rec {
		return true
	}
	if r.base != "" {
		return false
	}
	for _, m := range r.members {
		if m.has(name) {
			return true
		}
	}
	for _, e := range r.entries {
		if !e.star && e.name == name {
			return true
		}
	}
	return false
}

// scope is one query level: its FROM items and CTEs, and the enclosing
// level (for correlated references).
type scope struct {
	rels   []*relation
	ctes   map[string]*relation
	parent *scope
}

func (s *scope) cte(name string) *relation {
	for ; s != nil; s = s.parent {
		if r, ok := s.ctes[name]; ok {
			return r
		}
	}
	return nil
}

// visible lists the relations a reference can name: FROM items and the
// members of joins.
func (s *scope) visible() []*relation {
	var out []*relation
	var add func(r *relation)
	add = func(r *relation) {
		out = append(out, r)
		for _, m := range r.members {
			add(m)
		}
	}
	for _, r := range s.rels {
		add(r)
	}
	return out
}

type analyzer struct {
	work int
	over bool
}

func (a *analyzer) step() bool {
	a.work++
	if a.work > maxLineageWork {
		a.over = true
	}
	return !a.over
}

// query returns the result columns of a statement that returns rows: a
// SELECT (with set operations, VALUES and CTEs) or a data-modifying
// statement's RETURNING list.
func (a *analyzer) query(stmt any, outer *scope) []entry {
	if !a.step() {
		return nil
	}
	switch n := stmt.(type) {
	case *pg_query.SelectStmt:
		return a.selectStmt(n, outer)
	case *pg_query.InsertStmt:
		sc := a.with(n.WithClause, outer)
		if n.SelectStmt != nil {
			a.query(stmtOf(n.SelectStmt), sc) // for its CTEs' side: nothing returned
		}
		ls := &scope{parent: sc}
		ls.rels = append(ls.rels, baseRel(n.Relation))
		return a.targets(n.ReturningList, ls)
	case *pg_query.UpdateStmt:
		sc := a.with(n.WithClause, outer)
		ls := &scope{parent: sc}
		ls.rels = append(ls.rels, baseRel(n.Relation))
		a.from(n.FromClause, ls)
		return a.targets(n.ReturningList, ls)
	case *pg_query.DeleteStmt:
		sc := a.with(n.WithClause, outer)
		ls := &scope{parent: sc}
		ls.rels = append(ls.rels, baseRel(n.Relation))
		a.from(n.UsingClause, ls)
		return a.targets(n.ReturningList, ls)
	case *pg_query.MergeStmt:
		sc := a.with(n.WithClause, outer)
		ls := &scope{parent: sc}
		ls.rels = append(ls.rels, baseRel(n.Relation))
		a.from([]*pg_query.Node{n.SourceRelation}, ls)
		return a.targets(n.ReturningList, ls)
	}
	// Anything else in a place that returns rows is not followed: it
	// reads anything.
	return []entry{{star: true, src: []Source{Wildcard}}}
}

func baseRel(rv *pg_query.RangeVar) *relation {
	if rv == nil {
		return &relation{entries: []entry{{star: true, src: []Source{Wildcard}}}}
	}
	r := &relation{alias: rv.Relname, base: qualified(rv)}
	if rv.Alias != nil && rv.Alias.Aliasname != "" {
		r.alias = rv.Alias.Aliasname
	}
	return r
}

func qualified(rv *pg_query.RangeVar) string {
	if rv.Schemaname != "" {
		return rv.Schemaname + "." + rv.Relname
	}
	return rv.Relname
}

func (a *analyzer) selectStmt(n *pg_query.SelectStmt, outer *scope) []entry {
	sc := a.with(n.WithClause, outer)
	switch {
	case n.Op != pg_query.SetOperation_SETOP_NONE && n.Op != pg_query.SetOperation_SET_OPERATION_UNDEFINED:
		l := a.query(n.Larg, sc)
		r := a.query(n.Rarg, sc)
		return setOp(l, r)
	case len(n.ValuesLists) > 0:
		var cols [][]Source
		for _, row := range n.ValuesLists {
			items := row.GetList().GetItems()
			for i, it := range items {
				if i >= len(cols) {
					cols = append(cols, nil)
				}
				cols[i] = append(cols[i], a.expr(it, sc)...)
			}
		}
		es := make([]entry, len(cols))
		for i, c := range cols {
			es[i] = entry{name: "column" + strconv.Itoa(i+1), src: normalize(c)}
		}
		return es
	}
	ls := &scope{parent: sc}
	a.from(n.FromClause, ls)
	return a.targets(n.TargetList, ls)
}

// setOp lines up the columns of a UNION, INTERSECT or EXCEPT: column i
// reads column i of each side. Names are the left side's.
func setOp(l, r []entry) []entry {
	if !hasStar(l) && !hasStar(r) && len(l) == len(r) {
		out := make([]entry, len(l))
		for i := range l {
			out[i] = entry{name: l[i].name, src: normalize(append(slices.Clone(l[i].src), r[i].src...))}
		}
		return out
	}
	// Widths only the server knows: every column may read anything
	// either side reads.
	var src []Source
	for _, es := range [][]entry{l, r} {
		for _, e := range es {
			src = append(src, e.src...)
			for _, rr := range e.rels {
				src = append(src, rr.all()...)
			}
		}
	}
	return []entry{{star: true, src: normalize(src)}}
}

func hasStar(es []entry) bool {
	for _, e := range es {
		if e.star {
			return true
		}
	}
	return false
}

// with binds the CTEs of a WITH clause in a new scope level. A recursive
// CTE is analysed until what it reads stops growing (it refers to
// itself).
func (a *analyzer) with(wc *pg_query.WithClause, outer *scope) *scope {
	if wc == nil {
		return outer
	}
	sc := &scope{parent: outer, ctes: map[string]*relation{}}
	for _, c := range wc.Ctes {
		cte := c.GetCommonTableExpr()
		if cte == nil {
			continue
		}
		r := &relation{alias: cte.Ctename}
		if wc.Recursive {
			r.entries, r.rec = []entry{{star: true}}, true
			sc.ctes[cte.Ctename] = r
			var prev []Source
			for range 4 {
				es := a.query(stmtOf(cte.Ctequery), sc)
				all := normalize((&relation{entries: es}).all())
				r.entries = []entry{{star: true, src: all}}
				if slices.Equal(all, prev) {
					break
				}
				prev = all
			}
		}
		es := a.query(stmtOf(cte.Ctequery), sc)
		r.entries, r.rec = rename(es, cte.Aliascolnames), false
		sc.ctes[cte.Ctename] = r
	}
	return sc
}

// rename applies an alias column list (AS t(a, b)) to a derived
// relation's columns. When a "*" comes before the names run out, which
// column gets which name is not known: the relation becomes one column
// list that reads everything.
func rename(es []entry, names []*pg_query.Node) []entry {
	if len(names) == 0 {
		return es
	}
	out := slices.Clone(es)
	for i, nn := range names {
		if i >= len(out) || out[i].star {
			all := (&relation{entries: es}).all()
			return []entry{{star: true, src: normalize(all)}}
		}
		out[i].name = nn.GetString_().GetSval()
	}
	return out
}

// from adds the FROM items to sc, each seeing the ones before it
// (LATERAL is assumed wherever it could apply, which only adds sources).
func (a *analyzer) from(items []*pg_query.Node, sc *scope) {
	for _, it := range items {
		if r := a.fromItem(it, sc); r != nil {
			sc.rels = append(sc.rels, r)
		}
	}
}

func (a *analyzer) fromItem(it *pg_query.Node, sc *scope) *relation {
	if it == nil || !a.step() {
		return nil
	}
	switch n := it.GetNode().(type) {
	case *pg_query.Node_RangeVar:
		rv := n.RangeVar
		if rv.Schemaname == "" && rv.Catalogname == "" {
			if c := sc.cte(rv.Relname); c != nil {
				r := &relation{alias: rv.Relname, entries: c.entries, rec: c.rec}
				if rv.Alias != nil {
					r.alias = rv.Alias.Aliasname
					r.entries = rename(c.entries, rv.Alias.Colnames)
				}
				return r
			}
		}
		r := baseRel(rv)
		if rv.Alias != nil && len(rv.Alias.Colnames) > 0 {
			// Renamed columns of a stored relation: which is which is
			// the catalog's business.
			r = &relation{alias: r.alias, entries: []entry{{star: true, src: []Source{{Table: r.base, Column: "*"}}}}}
		}
		return r
	case *pg_query.Node_RangeSubselect:
		es := a.query(stmtOf(n.RangeSubselect.Subquery), sc)
		r := &relation{entries: es}
		if al := n.RangeSubselect.Alias; al != nil {
			r.alias = al.Aliasname
			r.entries = rename(es, al.Colnames)
		}
		return r
	case *pg_query.Node_RangeFunction:
		// A function in FROM returns what its arguments give it.
		var src []Source
		for _, f := range n.RangeFunction.Functions {
			src = append(src, a.expr(f, sc)...)
		}
		r := &relation{entries: []entry{{star: true, src: normalize(src)}}}
		if al := n.RangeFunction.Alias; al != nil {
			r.alias = al.Aliasname
		} else if len(n.RangeFunction.Functions) == 1 {
			// Unaliased, it is named after the function.
			for _, x := range n.RangeFunction.Functions[0].GetList().GetItems() {
				if fc := x.GetFuncCall(); fc != nil && len(fc.Funcname) > 0 {
					r.alias = fc.Funcname[len(fc.Funcname)-1].GetString_().GetSval()
				}
			}
		}
		return r
	case *pg_query.Node_RangeTableSample:
		r := a.fromItem(n.RangeTableSample.Relation, sc)
		return r
	case *pg_query.Node_JoinExpr:
		j := n.JoinExpr
		js := &scope{parent: sc.parent, ctes: sc.ctes, rels: slices.Clone(sc.rels)}
		l := a.fromItem(j.Larg, js)
		if l != nil {
			js.rels = append(js.rels, l)
		}
		r := a.fromItem(j.Rarg, js)
		jr := &relation{}
		for _, m := range []*relation{l, r} {
			if m != nil {
				jr.members = append(jr.members, m)
			}
		}
		if j.Alias != nil {
			jr.alias = j.Alias.Aliasname
		}
		if j.JoinUsingAlias != nil {
			jr.members = append(jr.members, &relation{alias: j.JoinUsingAlias.Aliasname, members: slices.Clone(jr.members)})
		}
		return jr
	}
	// XMLTABLE, JSON_TABLE and anything newer: what its expressions read.
	src := a.expr(it, sc)
	r := &relation{entries: []entry{{star: true, src: normalize(append(src, Wildcard))}}}
	switch n := it.GetNode().(type) {
	case *pg_query.Node_RangeTableFunc:
		r.entries[0].src = normalize(src)
		if n.RangeTableFunc.Alias != nil {
			r.alias = n.RangeTableFunc.Alias.Aliasname
		}
	case *pg_query.Node_JsonTable:
		r.entries[0].src = normalize(src)
		if n.JsonTable.Alias != nil {
			r.alias = n.JsonTable.Alias.Aliasname
		}
	}
	return r
}

// targets turns a select or RETURNING list into entries.
func (a *analyzer) targets(list []*pg_query.Node, sc *scope) []entry {
	var out []entry
	for _, t := range list {
		rt := t.GetResTarget()
		if rt == nil || rt.Val == nil {
			continue
		}
		if cr := rt.Val.GetColumnRef(); cr != nil && isStar(cr) {
			out = append(out, a.star(cr, sc)...)
			continue
		}
		src := a.expr(rt.Val, sc)
		e := entry{name: rt.Name, src: normalize(src)}
		if cr := rt.Val.GetColumnRef(); cr != nil {
			if e.name == "" {
				e.name = lastName(cr)
			}
			e.direct = a.directRef(cr, sc)
		} else if e.name == "" {
			e.name = defaultName(rt.Val)
		}
		out = append(out, e)
	}
	return out
}

func isStar(cr *pg_query.ColumnRef) bool {
	return len(cr.Fields) > 0 && cr.Fields[len(cr.Fields)-1].GetAStar() != nil
}

func lastName(cr *pg_query.ColumnRef) string {
	if len(cr.Fields) == 0 {
		return ""
	}
	return cr.Fields[len(cr.Fields)-1].GetString_().GetSval()
}

// defaultName is the column name PostgreSQL gives an unnamed expression,
// as far as lookups in a derived table need it.
func defaultName(n *pg_query.Node) string {
	switch x := n.GetNode().(type) {
	case *pg_query.Node_FuncCall:
		if fn := x.FuncCall.Funcname; len(fn) > 0 {
			return fn[len(fn)-1].GetString_().GetSval()
		}
	case *pg_query.Node_TypeCast:
		if cr := x.TypeCast.Arg.GetColumnRef(); cr != nil {
			return lastName(cr)
		}
		if tn := x.TypeCast.TypeName; tn != nil && len(tn.Names) > 0 {
			return tn.Names[len(tn.Names)-1].GetString_().GetSval()
		}
		return defaultName(x.TypeCast.Arg)
	case *pg_query.Node_CaseExpr:
		return "case"
	case *pg_query.Node_CoalesceExpr:
		return "coalesce"
	}
	return "?column?"
}

// star expands "*" or "t.*" in a select list.
func (a *analyzer) star(cr *pg_query.ColumnRef, sc *scope) []entry {
	var rels []*relation
	if len(cr.Fields) == 1 {
		rels = sc.rels
	} else if r := sc.find(qualifier(cr.Fields[:len(cr.Fields)-1])); r != nil {
		rels = []*relation{r}
	} else {
		return []entry{{star: true, src: []Source{Wildcard}}}
	}
	var out []entry
	for _, r := range rels {
		out = append(out, r.expand()...)
	}
	return out
}

// expand is what "r.*" gives.
func (r *relation) expand() []entry {
	if r.base != "" {
		return []entry{{star: true, rels: []*relation{r}}}
	}
	if len(r.members) > 0 {
		// A join: USING and NATURAL merge columns, so its width is not the
		// sum of its sides'; each column reads the same-named columns.
		return []entry{{star: true, rels: r.members}}
	}
	return r.entries
}

// qualifier joins the name parts before a column ("s.t" for s.t.c).
func qualifier(fields []*pg_query.Node) string {
	parts := make([]string, 0, len(fields))
	for _, f := range fields {
		parts = append(parts, f.GetString_().GetSval())
	}
	return strings.Join(parts, ".")
}

// find returns the relation a qualifier names, innermost level first.
func (s *scope) find(q string) *relation {
	for l := s; l != nil; l = l.parent {
		for _, r := range l.visible() {
			if r.alias != "" && (r.alias == q || r.base == q) {
				return r
			}
			if r.base != "" && r.base == q {
				return r
			}
		}
	}
	return nil
}

// directRef reports whether a column reference resolves to exactly one
// stored column as stored.
func (a *analyzer) directRef(cr *pg_query.ColumnRef, sc *scope) bool {
	_, direct := a.columnRef(cr, sc)
	return direct
}

// columnRef resolves a column reference to its sources. An unqualified
// name that several relations in scope could have reads all of them; one
// that names a relation is also a whole-row reference.
func (a *analyzer) columnRef(cr *pg_query.ColumnRef, sc *scope) ([]Source, bool) {
	if !a.step() {
		return []Source{Wildcard}, false
	}
	names := make([]string, 0, len(cr.Fields))
	for _, f := range cr.Fields {
		if f.GetAStar() != nil {
			names = append(names, "*")
			continue
		}
		names = append(names, f.GetString_().GetSval())
	}
	if len(names) == 0 {
		return []Source{Wildcard}, false
	}
	if names[len(names)-1] == "*" {
		// t.* or * inside an expression: whole rows.
		var src []Source
		if len(names) == 1 {
			for _, r := range sc.rels {
				src = append(src, r.all()...)
			}
		} else if r := sc.find(strings.Join(names[:len(names)-1], ".")); r != nil {
			src = r.all()
		} else {
			src = []Source{Wildcard}
		}
		return src, false
	}
	if len(names) >= 2 {
		// t.c, s.t.c, or a composite column's field c.f.
		for k := len(names) - 1; k >= 1; k-- {
			if r := sc.find(strings.Join(names[:k], ".")); r != nil {
				src, direct := r.lookup(names[k], 0)
				if len(src) == 0 {
					return r.all(), false
				}
				return src, direct && k == len(names)-1
			}
		}
		// A composite column (c).f written c.f: the column's sources.
		src, _ := a.unqualified(names[0], sc)
		return src, false
	}
	return a.unqualified(names[0], sc)
}

// unqualified resolves a bare name: every relation in scope that could
// have the column, level by level outwards until one certainly has it;
// plus the whole row of a relation so named.
func (a *analyzer) unqualified(name string, sc *scope) ([]Source, bool) {
	var src []Source
	cands := 0
	direct, certain := true, false
	for l := sc; l != nil; l = l.parent {
		for _, r := range l.rels {
			s, d := r.lookup(name, 0)
			if len(s) > 0 {
				src = append(src, s...)
				direct = direct && d
				cands++
			}
			certain = certain || r.has(name)
		}
		if certain {
			break
		}
	}
	if r := sc.find(name); r != nil {
		src = append(src, r.all()...)
		direct = false
	}
	if len(src) == 0 && !certain {
		// Nothing in scope could have it: a column the analysis cannot see.
		return []Source{Wildcard}, false
	}
	return src, direct && cands == 1
}

// expr returns the stored columns an expression reads. Predicates that
// only test for presence (IS NULL, EXISTS) and counts read nothing a
// result can reveal; everything else reads whatever its parts read.
func (a *analyzer) expr(n *pg_query.Node, sc *scope) []Source {
	if n == nil || !a.step() {
		return nil
	}
	switch x := n.GetNode().(type) {
	case *pg_query.Node_ColumnRef:
		src, _ := a.columnRef(x.ColumnRef, sc)
		return src
	case *pg_query.Node_AConst, *pg_query.Node_ParamRef:
		return nil
	case *pg_query.Node_NullTest:
		return nil
	case *pg_query.Node_FuncCall:
		fc := x.FuncCall
		if isCount(fc) {
			return nil
		}
		// Ordering, FILTER and OVER choose and order values; they do not
		// put values in the result (like WHERE, which is not tracked).
		src := []Source{{Table: FunctionTable, Column: funcName(fc)}}
		for _, arg := range fc.Args {
			src = append(src, a.expr(arg, sc)...)
		}
		return src
	case *pg_query.Node_SubLink:
		sl := x.SubLink
		if sl.SubLinkType == pg_query.SubLinkType_EXISTS_SUBLINK {
			return nil
		}
		src := a.expr(sl.Testexpr, sc)
		for _, e := range a.query(stmtOf(sl.Subselect), sc) {
			src = append(src, e.src...)
			for _, r := range e.rels {
				src = append(src, r.all()...)
			}
		}
		return src
	case *pg_query.Node_SelectStmt:
		var src []Source
		for _, e := range a.query(x.SelectStmt, sc) {
			src = append(src, e.src...)
			for _, r := range e.rels {
				src = append(src, r.all()...)
			}
		}
		return src
	}
	// Any other node: what its parts read.
	var src []Source
	a.children(reflect.ValueOf(stmtOf(n)), sc, &src)
	return src
}

func funcName(fc *pg_query.FuncCall) string {
	return qualifier(fc.Funcname)
}

// isCount reports count(...) of pg_catalog (also as a window function),
// whose result is a number of rows whatever its argument.
func isCount(fc *pg_query.FuncCall) bool {
	fn := fc.Funcname
	switch {
	case len(fn) == 1:
	case len(fn) == 2 && fn[0].GetString_().GetSval() == "pg_catalog":
	default:
		return false
	}
	return fn[len(fn)-1].GetString_().GetSval() == "count"
}

// children collects the sources of every node below the message v.
func (a *analyzer) children(v reflect.Value, sc *scope, src *[]Source) {
	if !v.IsValid() || v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return
	}
	if !a.step() {
		return
	}
	v = v.Elem()
	for _, i := range planFor(v.Type()).fields {
		f := v.Field(i)
		switch f.Kind() {
		case reflect.Pointer:
			if f.IsNil() {
				continue
			}
			if nd, ok := f.Interface().(*pg_query.Node); ok {
				*src = append(*src, a.expr(nd, sc)...)
			} else {
				a.children(f, sc, src)
			}
		case reflect.Slice:
			for j := range f.Len() {
				e := f.Index(j)
				if e.IsNil() {
					continue
				}
				if nd, ok := e.Interface().(*pg_query.Node); ok {
					*src = append(*src, a.expr(nd, sc)...)
				} else {
					a.children(e, sc, src)
				}
			}
		}
	}
}

// normalize sorts and deduplicates sources; Wildcard absorbs the rest,
// and a whole row absorbs that relation's single columns.
func normalize(src []Source) []Source {
	if len(src) == 0 {
		return nil
	}
	if slices.Contains(src, Wildcard) {
		return []Source{Wildcard}
	}
	slices.SortFunc(src, func(x, y Source) int {
		if c := strings.Compare(x.Table, y.Table); c != 0 {
			return c
		}
		return strings.Compare(x.Column, y.Column)
	})
	src = slices.Compact(src)
	whole := map[string]bool{}
	for _, s := range src {
		if s.Column == "*" {
			whole[s.Table] = true
		}
	}
	if len(whole) > 0 {
		src = slices.DeleteFunc(src, func(s Source) bool { return s.Column != "*" && whole[s.Table] })
	}
	return src
}

// Names lists the relations (as written) and the functions the lineage
// refers to, for a caller that resolves views and functions in the
// catalog before the statement runs.
func (l *Lineage) Names() (relations, functions []string) {
	seen := map[*relation]bool{}
	var rel func(r *relation)
	var src func(ss []Source)
	var ent func(es []entry)
	src = func(ss []Source) {
		for _, s := range ss {
			switch s.Table {
			case "*":
			case FunctionTable:
				functions = append(functions, s.Column)
			default:
				relations = append(relations, s.Table)
			}
		}
	}
	ent = func(es []entry) {
		for _, e := range es {
			src(e.src)
			for _, r := range e.rels {
				rel(r)
			}
		}
	}
	rel = func(r *relation) {
		if seen[r] {
			return
		}
		seen[r] = true
		if r.base != "" {
			relations = append(relations, r.base)
		}
		for _, m := range r.members {
			rel(m)
		}
		ent(r.entries)
	}
	ent(l.entries)
	return sortedSet(relations), sortedSet(functions)
}
