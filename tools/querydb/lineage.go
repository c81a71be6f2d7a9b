package querydb

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/airlockhq/airlock/masking"
	"github.com/airlockhq/airlock/policy/pgsql"
)

// pgLineage traces each result column of sql to the stored columns it
// reads (policy/pgsql), so that column rules also cover expressions such
// as reverse(ssn) or row_to_json(c). Views and materialized views among
// those columns are followed to what their definitions read, on the
// call's database (see expandViews).
func pgLineage(ctx context.Context, db querier, sql string, columns []string) ([]masking.Lineage, error) {
	cols := pgsql.AnalyzeLineage(sql).Resolve(columns)
	cols, err := expandViews(ctx, db, cols)
	if err != nil {
		return nil, err
	}
	out := make([]masking.Lineage, len(cols))
	for i, c := range cols {
		l := masking.Lineage{Computed: !c.Direct}
		for _, s := range c.Sources {
			l.From = append(l.From, masking.ColumnRef(s))
		}
		out[i] = l
	}
	return out, nil
}

// maxViewDepth bounds views defined over views.
const maxViewDepth = 8

// viewInfo is one relation the lineage names: a view's columns and what
// each reads.
type viewInfo struct {
	cols map[string]pgsql.ColumnLineage
	all  []pgsql.Source
}

// expandViews replaces each column of a view (or materialized view) in
// cols by what the view's definition reads for it, keeping the view's own
// column too (a rule may name it). The catalog is asked on every call, on
// the call's database: a view redefined a second ago is followed as it is
// now. A relation that does not resolve is kept as written.
func expandViews(ctx context.Context, db querier, cols []pgsql.ColumnLineage) ([]pgsql.ColumnLineage, error) {
	views := map[string]*viewInfo{} // by name as written; nil: not a view
	for depth := 0; ; depth++ {
		var ask []string
		for _, c := range cols {
			for _, s := range c.Sources {
				if _, seen := views[s.Table]; !seen && s.Table != "*" {
					views[s.Table] = nil
					ask = append(ask, s.Table)
				}
			}
		}
		if len(ask) == 0 {
			return cols, nil
		}
		if depth == maxViewDepth {
			// Views nested deeper than this are not followed: what they
			// read is taken to be anything.
			for i := range cols {
				cols[i] = pgsql.ColumnLineage{Sources: []pgsql.Source{pgsql.Wildcard}}
			}
			return cols, nil
		}
		found, err := lookupViews(ctx, db, ask)
		if err != nil {
			return nil, err
		}
		if len(found) == 0 {
			return cols, nil
		}
		for name, v := range found {
			views[name] = v
		}
		for i, c := range cols {
			cols[i] = substitute(c, found)
		}
	}
}

// substitute adds, for each source that is a column of a view in found,
// what that view column reads.
func substitute(c pgsql.ColumnLineage, found map[string]*viewInfo) pgsql.ColumnLineage {
	out := pgsql.ColumnLineage{Sources: slices.Clone(c.Sources), Direct: c.Direct}
	for _, s := range c.Sources {
		v, ok := found[s.Table]
		if !ok {
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
	slices.SortFunc(out.Sources, func(x, y pgsql.Source) int {
		if c := strings.Compare(x.Table, y.Table); c != 0 {
			return c
		}
		return strings.Compare(x.Column, y.Column)
	})
	out.Sources = slices.Compact(out.Sources)
	return out
}

// lookupViews asks the catalog which of names are views or materialized
// views, with their columns and definitions.
func lookupViews(ctx context.Context, db querier, names []string) (map[string]*viewInfo, error) {
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = quoteName(n)
	}
	rows, err := db.Query(ctx, `SELECT x.i, pg_catalog.pg_get_viewdef(c.oid),
		ARRAY(SELECT a.attname::text FROM pg_catalog.pg_attribute a
		      WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum)
		FROM unnest($1::text[]) WITH ORDINALITY AS x(n, i)
		JOIN pg_catalog.pg_class c ON c.oid = pg_catalog.to_regclass(x.n)
		WHERE c.relkind IN ('v', 'm')`, quoted)
	if err != nil {
		return nil, fmt.Errorf("querydb: resolve the views a result reads, for masking: %w", err)
	}
	defer rows.Close()
	out := map[string]*viewInfo{}
	for rows.Next() {
		var (
			i    int64
			def  string
			cols []string
		)
		if err := rows.Scan(&i, &def, &cols); err != nil {
			return nil, fmt.Errorf("querydb: resolve the views a result reads, for masking: %w", err)
		}
		res := pgsql.AnalyzeLineage(def).Resolve(cols)
		v := &viewInfo{cols: make(map[string]pgsql.ColumnLineage, len(cols))}
		for k, col := range cols {
			v.cols[col] = res[k]
			v.all = append(v.all, res[k].Sources...)
		}
		out[names[i-1]] = v
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("querydb: resolve the views a result reads, for masking: %w", err)
	}
	return out, nil
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
