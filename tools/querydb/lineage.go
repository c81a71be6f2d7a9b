package querydb

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/airlockhq/airlock/masking"
	"github.com/airlockhq/airlock/policy/pgsql"
	"github.com/airlockhq/airlock/policy/sqlitesql"
)

// lineageCatalog is what the catalog says about the relations and
// functions a statement's lineage names: views (with what each of their
// columns reads), parents of partitions and inheriting tables, and
// functions defined outside the system schemas.
type lineageCatalog struct {
	views   map[string]*viewInfo
	userFns map[string]bool
	tooDeep bool // views nested past maxViewDepth: not all were followed
}

// loadLineageCatalog asks the catalog, on the call's own connection and
// before the statement runs (a capped stream is cancelled, after which
// the transaction can run nothing), about what lin names, following views
// of views. Nothing is cached: a view redefined a second ago is followed
// as it is now.
func loadLineageCatalog(ctx context.Context, db catalogQuerier, lin *pgsql.Lineage) (*lineageCatalog, error) {
	cat := &lineageCatalog{views: map[string]*viewInfo{}, userFns: map[string]bool{}}
	seenRel, seenFn := map[string]bool{}, map[string]bool{}
	rels, fns := lin.Names()
	for depth := 0; len(rels) > 0 || len(fns) > 0; depth++ {
		rels = slices.DeleteFunc(rels, func(r string) bool { d := seenRel[r]; seenRel[r] = true; return d })
		fns = slices.DeleteFunc(fns, func(f string) bool { d := seenFn[f]; seenFn[f] = true; return d })
		if len(rels) == 0 && len(fns) == 0 {
			break
		}
		if depth == maxViewDepth {
			cat.tooDeep = true
			break
		}
		views, userFns, err := lookupCatalog(ctx, db, rels, fns)
		if err != nil {
			return nil, err
		}
		maps.Copy(cat.userFns, userFns)
		rels, fns = nil, nil
		for name, v := range views {
			cat.views[name] = v
			r, f := v.names()
			rels, fns = append(rels, r...), append(fns, f...)
		}
	}
	return cat, nil
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

// lookupCatalog asks, in one round trip, which of rels are views or
// materialized views (with their columns and definitions) and which of
// fns name a function defined outside the system schemas.
func lookupCatalog(ctx context.Context, db catalogQuerier, rels, fns []string) (map[string]*viewInfo, map[string]bool, error) {
	quoted := make([]string, len(rels))
	for i, n := range rels {
		quoted[i] = quoteName(n)
	}
	bare := make([]string, len(fns))
	for i, f := range fns {
		bare[i] = f[strings.LastIndexByte(f, '.')+1:]
	}
	rows, err := db.Query(ctx, `SELECT 'v', x.i, pg_catalog.pg_get_viewdef(c.oid),
		ARRAY(SELECT a.attname::text FROM pg_catalog.pg_attribute a
		      WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum)
		FROM unnest($1::text[]) WITH ORDINALITY AS x(n, i)
		JOIN pg_catalog.pg_class c ON c.oid = pg_catalog.to_regclass(x.n)
		WHERE c.relkind IN ('v', 'm')
		UNION ALL
		SELECT 'f', x.i, NULL, NULL FROM unnest($2::text[]) WITH ORDINALITY AS x(n, i)
		WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace s ON s.oid = p.pronamespace
		              WHERE p.proname = x.n AND s.nspname NOT IN ('pg_catalog', 'information_schema'))
		UNION ALL
		SELECT 'p', x.i, s.nspname || '.' || c.relname, NULL
		FROM unnest($1::text[]) WITH ORDINALITY AS x(n, i)
		CROSS JOIN LATERAL (WITH RECURSIVE up(oid, depth) AS (
		      SELECT h.inhparent, 1 FROM pg_catalog.pg_inherits h WHERE h.inhrelid = pg_catalog.to_regclass(x.n)
		      UNION ALL
		      SELECT h.inhparent, up.depth + 1 FROM pg_catalog.pg_inherits h JOIN up ON h.inhrelid = up.oid WHERE up.depth < 16)
		    SELECT oid FROM up) a
		JOIN pg_catalog.pg_class c ON c.oid = a.oid
		JOIN pg_catalog.pg_namespace s ON s.oid = c.relnamespace`, quoted, bare)
	if err != nil {
		return nil, nil, fmt.Errorf("querydb: look up the views and functions a result reads, for masking: %w", err)
	}
	defer rows.Close()
	views, userFns := map[string]*viewInfo{}, map[string]bool{}
	for rows.Next() {
		var (
			kind string
			i    int64
			def  *string
			cols []string
		)
		if err := rows.Scan(&kind, &i, &def, &cols); err != nil {
			return nil, nil, fmt.Errorf("querydb: look up the views and functions a result reads, for masking: %w", err)
		}
		switch kind {
		case "f":
			userFns[fns[i-1]] = true
			continue
		case "p":
			v := views[rels[i-1]]
			if v == nil {
				v = &viewInfo{}
				views[rels[i-1]] = v
			}
			v.parents = append(v.parents, *def)
			continue
		}
		lin := pgsql.AnalyzeLineage(*def)
		res := lin.Resolve(cols)
		v := views[rels[i-1]]
		if v == nil {
			v = &viewInfo{}
		}
		v.def = lin
		v.cols = make(map[string]pgsql.ColumnLineage, len(cols))
		for k, col := range cols {
			v.cols[col] = res[k]
			v.all = append(v.all, res[k].Sources...)
		}
		views[rels[i-1]] = v
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("querydb: look up the views and functions a result reads, for masking: %w", err)
	}
	return views, userFns, nil
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
