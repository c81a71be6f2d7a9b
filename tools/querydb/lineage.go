package querydb

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/airlockhq/airlock/masking"
	"github.com/airlockhq/airlock/policy/pgsql"
	"github.com/airlockhq/airlock/policy/sqlitesql"
)

// lineageCatalog is what the catalog says about the relations and
// functions a statement's lineage names: views (with what each of their
// columns reads), parents of partitions and inheriting tables, functions
// defined outside the system schemas, and the columns of the relations
// looked up (for sources).
type lineageCatalog struct {
	views   map[string]*viewInfo
	userFns map[string]bool
	tooDeep bool // views nested past maxViewDepth: not all were followed
	// rels are the relations looked up, by OID: the named ones and those
	// asked for by OID (catalogLoader.lookup).
	rels map[uint32]*relColumns
}

// relColumns is a relation's name and its columns by attribute number, as
// the catalog says now.
type relColumns struct {
	name string
	cols map[int16]string
}

// catalogLoader follows a statement's lineage through the catalog, one
// level of views per lookup; the first lookup can travel with the
// statement's description (pgread.go).
type catalogLoader struct {
	cat             *lineageCatalog
	seenRel, seenFn map[string]bool
	rels, fns       []string // named by the last level, not yet looked up
	depth           int
}

func newCatalogLoader(lin *pgsql.Lineage) *catalogLoader {
	l := &catalogLoader{cat: &lineageCatalog{views: map[string]*viewInfo{}, userFns: map[string]bool{},
		rels: map[uint32]*relColumns{}}, seenRel: map[string]bool{}, seenFn: map[string]bool{}}
	l.rels, l.fns = lin.Names()
	return l
}

// next returns the names the next lookup asks about, those not asked
// about before, or ok false when there are none (or views nest too deep).
func (l *catalogLoader) next() (rels, fns []string, ok bool) {
	rels = slices.DeleteFunc(l.rels, func(r string) bool { d := l.seenRel[r]; l.seenRel[r] = true; return d })
	fns = slices.DeleteFunc(l.fns, func(f string) bool { d := l.seenFn[f]; l.seenFn[f] = true; return d })
	l.rels, l.fns = nil, nil
	if len(rels) == 0 && len(fns) == 0 {
		return nil, nil, false
	}
	if l.depth == maxViewDepth {
		l.cat.tooDeep = true
		return nil, nil, false
	}
	l.depth++
	return rels, fns, true
}

// lookup asks the catalog about rels and fns (from next), in one round
// trip, and then, if oids is not empty, about the columns of those
// relations, in another.
func (l *catalogLoader) lookup(ctx context.Context, db catalogQuerier, rels, fns []string, oids []uint32) error {
	if len(rels) > 0 || len(fns) > 0 {
		sql, args := catalogQuery(rels, fns)
		rows, err := db.Query(ctx, sql, args...)
		if err != nil {
			return fmt.Errorf("querydb: look up the views and functions a result reads, for masking: %w", err)
		}
		if err := l.add(rows, rels, fns); err != nil {
			return err
		}
	}
	if len(oids) > 0 {
		rows, err := db.Query(ctx, columnsByOIDSQL, oids)
		if err != nil {
			return fmt.Errorf("querydb: look up the columns a result reads, for masking: %w", err)
		}
		return l.addColumns(rows, nil)
	}
	return nil
}

// loadLineageCatalog asks the catalog, on the call's own connection and
// before the statement runs (a capped stream is cancelled, after which
// the transaction can run nothing), about what lin names, following views
// of views. Nothing is cached: a view redefined a second ago is followed
// as it is now.
func loadLineageCatalog(ctx context.Context, db catalogQuerier, lin *pgsql.Lineage) (*lineageCatalog, error) {
	l := newCatalogLoader(lin)
	for {
		rels, fns, ok := l.next()
		if !ok {
			return l.cat, nil
		}
		if err := l.lookup(ctx, db, rels, fns, nil); err != nil {
			return nil, err
		}
	}
}

// missing returns the table OIDs of fds whose relations cat has not
// looked up, each once.
func (cat *lineageCatalog) missing(fds []pgconn.FieldDescription) []uint32 {
	var oids []uint32
	for _, fd := range fds {
		if fd.TableOID != 0 && cat.rels[fd.TableOID] == nil && !slices.Contains(oids, fd.TableOID) {
			oids = append(oids, fd.TableOID)
		}
	}
	return oids
}

// sources resolves each result column to the table column it comes from,
// "table.column", through the field's table OID and attribute number, so
// `SELECT ssn AS x FROM customers` is still known to be customers.ssn;
// "" where the server names no table column. The names are the catalog's
// at the lookup, never remembered from an earlier call: a column or table
// renamed since, or dropped and made again, is named as it is now, so the
// rules for its new name apply. Relations missing from cat (see missing)
// have no source.
func (cat *lineageCatalog) sources(fds []pgconn.FieldDescription) []masking.ColumnRef {
	out := make([]masking.ColumnRef, len(fds))
	for i, fd := range fds {
		if r := cat.rels[fd.TableOID]; fd.TableOID != 0 && r != nil {
			if col, ok := r.cols[int16(fd.TableAttributeNumber)]; ok {
				out[i] = masking.ColumnRef{Table: r.name, Column: col}
			}
		}
	}
	return out
}

// resolve traces each result column (named by the server) to the stored
// columns it reads, through the views and functions in cat.
func (cat *lineageCatalog) resolve(lin *pgsql.Lineage, columns []string) []masking.Lineage {
	cols := lin.Resolve(columns)
	for depth := 0; ; depth++ {
		changed := false
		for i, c := range cols {
			n := substitute(c, cat.views, cat.userFns)
			changed = changed || n.Direct != c.Direct || !slices.Equal(n.Sources, c.Sources)
			cols[i] = n
		}
		if !changed {
			break
		}
		if depth == maxViewDepth || cat.tooDeep {
			// Views nested deeper than this are not followed: what they
			// read is taken to be anything.
			for i := range cols {
				cols[i] = pgsql.ColumnLineage{Sources: []pgsql.Source{pgsql.Wildcard}}
			}
			break
		}
	}
	out := make([]masking.Lineage, len(cols))
	for i, c := range cols {
		l := masking.Lineage{Computed: !c.Direct}
		for _, s := range c.Sources {
			l.From = append(l.From, masking.ColumnRef(s))
		}
		out[i] = l
	}
	return out
}

// catalogQuerier is what the catalog lookup needs of a connection.
type catalogQuerier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// maxViewDepth bounds views defined over views.
const maxViewDepth = 8

// viewInfo is one relation the lineage names: a view's columns and what
// each reads, and the tables a table inherits from.
type viewInfo struct {
	cols    map[string]pgsql.ColumnLineage // a view's columns; nil for a table
	all     []pgsql.Source
	parents []string // tables it inherits from or is a partition of, "schema.table"
	def     *pgsql.Lineage
}

// names is what a view's definition names, to be looked up in turn.
func (v *viewInfo) names() (rels, fns []string) {
	if v.def == nil {
		return nil, nil
	}
	return v.def.Names()
}

// substitute adds, for each source that is a column of a view in views,
// what that view column reads, and resolves function calls.
func substitute(c pgsql.ColumnLineage, views map[string]*viewInfo, userFns map[string]bool) pgsql.ColumnLineage {
	out := pgsql.ColumnLineage{Direct: c.Direct}
	for _, s := range c.Sources {
		if s.Table == pgsql.FunctionTable {
			if userFns[s.Column] {
				out.Sources = append(out.Sources, pgsql.Wildcard)
			}
			continue
		}
		out.Sources = append(out.Sources, s)
		v, ok := views[s.Table]
		if !ok {
			continue
		}
		for _, p := range v.parents {
			// A partition's or child table's column is its parent's too.
			out.Sources = append(out.Sources, pgsql.Source{Table: p, Column: s.Column})
		}
		if v.cols == nil {
			continue
		}
		if s.Column == "*" {
			out.Sources = append(out.Sources, v.all...)
			out.Direct = false
			continue
		}
		vc, ok := v.cols[s.Column]
		if !ok {
			out.Sources = append(out.Sources, v.all...)
			out.Direct = false
			continue
		}
		out.Sources = append(out.Sources, vc.Sources...)
		out.Direct = out.Direct && vc.Direct
	}
	if slices.Contains(out.Sources, pgsql.Wildcard) {
		return pgsql.ColumnLineage{Sources: []pgsql.Source{pgsql.Wildcard}}
	}
	slices.SortFunc(out.Sources, func(x, y pgsql.Source) int {
		if c := strings.Compare(x.Table, y.Table); c != 0 {
			return c
		}
		return strings.Compare(x.Column, y.Column)
	})
	out.Sources = slices.Compact(out.Sources)
	return out
}

// catalogSQL asks, in one round trip, which of rels ($1) are views or
// materialized views (with their columns and definitions), which tables
// they inherit from, and which of fns ($2) name a function defined outside
// the system schemas. It is planned at every call (the unnamed statement),
// so it is kept cheap to plan: answering the columns of every relation in
// it too tripled its planning time (2.3-3.4 ms against 0.66-0.93 ms at
// bind, server log, a loaded host), so columns have their own short
// queries below; the parents are one recursive query over all of rels
// rather than one per relation (LATERAL), and the functions' part is only
// sent when the statement calls one (catalogQuery): planning measured with
// EXPLAIN (SUMMARY), warm, load ~7: 0.40-0.60 ms for the parents per
// relation against 0.20-0.29 ms over all of them, 0.21-0.29 ms for the
// functions' part even with no function named.
const (
	catalogRelsSQL = `WITH RECURSIVE up(i, oid, depth) AS (
		  SELECT x.i, h.inhparent, 1 FROM unnest($1::text[]) WITH ORDINALITY AS x(n, i)
		  JOIN pg_catalog.pg_inherits h ON h.inhrelid = pg_catalog.to_regclass(x.n)
		  UNION ALL
		  SELECT up.i, h.inhparent, up.depth + 1 FROM pg_catalog.pg_inherits h JOIN up ON h.inhrelid = up.oid WHERE up.depth < 16)
		SELECT 'v', x.i, pg_catalog.pg_get_viewdef(c.oid),
		ARRAY(SELECT a.attname::text FROM pg_catalog.pg_attribute a
		      WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum)
		FROM unnest($1::text[]) WITH ORDINALITY AS x(n, i)
		JOIN pg_catalog.pg_class c ON c.oid = pg_catalog.to_regclass(x.n)
		WHERE c.relkind IN ('v', 'm')
		UNION ALL
		SELECT 'p', up.i, s.nspname || '.' || c.relname, NULL
		FROM up JOIN pg_catalog.pg_class c ON c.oid = up.oid
		JOIN pg_catalog.pg_namespace s ON s.oid = c.relnamespace`
	catalogFnsPart = `
		SELECT 'f', x.i, NULL, NULL FROM unnest($2::text[]) WITH ORDINALITY AS x(n, i)
		WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace s ON s.oid = p.pronamespace
		              WHERE p.proname = x.n AND s.nspname NOT IN ('pg_catalog', 'information_schema'))`
	catalogSQL = catalogRelsSQL + `
		UNION ALL` + catalogFnsPart
)

// columnsSQL is the columns of the relations named in $1 (as catalogArgs
// quotes them), by attribute number, for sources; x.i is the relation's
// place in $1, whose last part is its name (to_regclass found it by that
// name). It travels with catalogSQL in a read's first flight (pgread.go),
// and is kept to one join: it is planned at every call.
const columnsSQL = `SELECT a.attrelid, x.i, a.attnum, a.attname::text
		FROM unnest($1::text[]) WITH ORDINALITY AS x(n, i)
		JOIN pg_catalog.pg_attribute a ON a.attrelid = pg_catalog.to_regclass(x.n)
		WHERE a.attnum > 0 AND NOT a.attisdropped`

// columnsByOIDSQL is the columns of the relations whose OIDs are in $1.
const columnsByOIDSQL = `SELECT c.oid, c.relname::text, a.attnum, a.attname::text
		FROM pg_catalog.pg_class c
		JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
		WHERE c.oid = ANY ($1::oid[])`

// catalogQuery is the catalog lookup for the relations rels and functions
// fns as the lineage names them: catalogSQL, or catalogRelsSQL when fns
// is empty. Its first argument, the relations, is columnsSQL's too.
func catalogQuery(rels, fns []string) (string, []any) {
	quoted := make([]string, len(rels))
	for i, n := range rels {
		quoted[i] = quoteName(n)
	}
	if len(fns) == 0 {
		return catalogRelsSQL, []any{quoted}
	}
	bare := make([]string, len(fns))
	for i, f := range fns {
		bare[i] = f[strings.LastIndexByte(f, '.')+1:]
	}
	return catalogSQL, []any{quoted, bare}
}

// addColumns reads the answer to columnsSQL about rels, or (rels nil)
// to columnsByOIDSQL.
func (l *catalogLoader) addColumns(rows pgx.Rows, rels []string) error {
	defer rows.Close()
	for rows.Next() {
		var (
			oid uint32
			rel any // columnsSQL: the place in rels; columnsByOIDSQL: the name
			num int16
			col string
		)
		if err := rows.Scan(&oid, &rel, &num, &col); err != nil {
			return fmt.Errorf("querydb: look up the columns a result reads, for masking: %w", err)
		}
		r := l.cat.rels[oid]
		if r == nil {
			r = &relColumns{cols: map[int16]string{}}
			switch v := rel.(type) {
			case string:
				r.name = v
			case int64:
				if v < 1 || int(v) > len(rels) {
					return fmt.Errorf("querydb: look up the columns a result reads, for masking: relation %d of %d", v, len(rels))
				}
				n := rels[v-1]
				r.name = n[strings.LastIndexByte(n, '.')+1:]
			default:
				return fmt.Errorf("querydb: look up the columns a result reads, for masking: relation %T", rel)
			}
			l.cat.rels[oid] = r
		}
		r.cols[num] = col
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("querydb: look up the columns a result reads, for masking: %w", err)
	}
	return nil
}

// add reads the answer to catalogSQL about rels and fns into the catalog,
// and notes what the views found name, for the next level.
func (l *catalogLoader) add(rows pgx.Rows, rels, fns []string) error {
	defer rows.Close()
	cat := l.cat
	for rows.Next() {
		var (
			kind string
			i    int64
			def  *string
			cols []string
		)
		if err := rows.Scan(&kind, &i, &def, &cols); err != nil {
			return fmt.Errorf("querydb: look up the views and functions a result reads, for masking: %w", err)
		}
		switch kind {
		case "f":
			cat.userFns[fns[i-1]] = true
			continue
		case "p":
			v := cat.views[rels[i-1]]
			if v == nil {
				v = &viewInfo{}
				cat.views[rels[i-1]] = v
			}
			v.parents = append(v.parents, *def)
			continue
		}
		lin := pgsql.AnalyzeLineage(*def)
		res := lin.Resolve(cols)
		v := cat.views[rels[i-1]]
		if v == nil {
			v = &viewInfo{}
		}
		v.def = lin
		v.cols = make(map[string]pgsql.ColumnLineage, len(cols))
		for k, col := range cols {
			v.cols[col] = res[k]
			v.all = append(v.all, res[k].Sources...)
		}
		cat.views[rels[i-1]] = v
		r, f := v.names()
		l.rels, l.fns = append(l.rels, r...), append(l.fns, f...)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("querydb: look up the views and functions a result reads, for masking: %w", err)
	}
	return nil
}

// quoteName quotes each part of a relation name as written ("s.t"), so
// that to_regclass reads it as the parser did (already case-folded).
func quoteName(n string) string {
	parts := strings.Split(n, ".")
	for i, p := range parts {
		parts[i] = `"` + strings.ReplaceAll(p, `"`, `""`) + `"`
	}
	return strings.Join(parts, ".")
}

// sqliteLineage is pgLineage for SQLite, from its tokens (policy/sqlitesql):
// conservative, as SQLite's parse tree is not available.
func sqliteLineage(sql string, columns []string) []masking.Lineage {
	cols := sqlitesql.Lineage(sql, columns)
	out := make([]masking.Lineage, len(cols))
	for i, c := range cols {
		l := masking.Lineage{Computed: !c.Direct}
		for _, s := range c.Sources {
			l.From = append(l.From, masking.ColumnRef(s))
		}
		out[i] = l
	}
	return out
}
