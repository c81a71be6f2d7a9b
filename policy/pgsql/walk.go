package pgsql

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/airlockhq/airlock/policy"
)

// class orders the access classes so the strongest one found wins.
type class uint8

const (
	classRead class = iota
	classWrite
	classDDL
	classAdmin
)

func (c class) access() policy.Access {
	return [...]policy.Access{policy.Read, policy.Write, policy.DDL, policy.Admin}[c]
}

// plan lists, for one generated message type, the fields the walk must
// descend into.
type plan struct {
	stmt   bool  // the type is a statement node (SelectStmt, DoStmt...)
	fields []int // exported fields that can hold nodes: *T, []*T or a oneof
}

// plans holds the plan of every message type of pg_query's protobuf file,
// built once. Working from the Go types of the generated code, rather than
// from a list of node kinds, means a kind this package has never heard of
// is still walked.
var plans = sync.OnceValue(func() map[reflect.Type]*plan {
	msgs := pg_query.File_pg_query_proto.Messages()
	m := make(map[reflect.Type]*plan, msgs.Len())
	for i := range msgs.Len() {
		mt, err := protoregistry.GlobalTypes.FindMessageByName(msgs.Get(i).FullName())
		if err != nil {
			continue // planFor builds it on demand
		}
		t := reflect.TypeOf(mt.Zero().Interface()).Elem()
		m[t] = newPlan(t)
	}
	return m
})

func planFor(t reflect.Type) *plan {
	if p, ok := plans()[t]; ok {
		return p
	}
	return newPlan(t)
}

func newPlan(t reflect.Type) *plan {
	p := &plan{stmt: strings.HasSuffix(t.Name(), "Stmt")}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue // protobuf bookkeeping
		}
		switch f.Type.Kind() {
		case reflect.Pointer, reflect.Interface:
			p.fields = append(p.fields, i)
		case reflect.Slice:
			if f.Type.Elem().Kind() == reflect.Pointer {
				p.fields = append(p.fields, i)
			}
		}
	}
	return p
}

// walker visits every message of a parse tree and keeps the strongest class
// seen, the reason for it, and the relations and functions named.
type walker struct {
	class     class
	reason    string
	tables    []string
	funcs     []string
	userFuncs []string
	err       *Error
}

// raise records class c unless something at least as strong was already
// found; the first reason for the final class is the one reported.
func (w *walker) raise(c class, reason string) {
	if c > w.class {
		w.class, w.reason = c, reason
	}
}

// visit walks x (a pointer to a pg_query node) and everything below it.
// ctes holds the names of the common table expressions in scope, so that
// references to them are not reported as tables.
//
// The walk is generic: it follows every pointer, list and oneof field of the
// generated structs (via reflect, which is several times cheaper here than
// protoreflect), so nested nodes are visited wherever the grammar puts them.
// Only the few kinds that carry meaning are special-cased.
func (w *walker) visit(x any, ctes []string) {
	if w.err != nil {
		return
	}
	v := reflect.ValueOf(x)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return
	}
	v = v.Elem()
	p := planFor(v.Type())
	// Classify a statement before what it contains, so that the reason
	// given is about the statement the agent wrote when possible.
	if p.stmt {
		w.statement(x)
	}

	// Fields already handled below and not to be walked again.
	var skipA, skipB any

	switch n := x.(type) {
	case *pg_query.RangeVar:
		if n.Schemaname == "" && n.Catalogname == "" && slices.Contains(ctes, n.Relname) {
			return // a reference to a CTE, not to a relation
		}
		w.addTable(n)
		return // its alias holds only names
	case *pg_query.LockingClause:
		w.raise(classWrite, lockReason(n.Strength))
		// Its relations name FROM items, often by alias, which were
		// reported where they were introduced.
		return
	case *pg_query.IntoClause:
		w.raise(classDDL, "SELECT ... INTO creates a table")
		w.addTable(n.Rel) // the new table, never a CTE
		skipA = n.Rel
	case *pg_query.FuncCall:
		w.funcCall(n)
	case *pg_query.SelectStmt:
		ctes = w.with(n.WithClause, ctes)
		skipA = n.WithClause
	case *pg_query.InsertStmt:
		ctes = w.with(n.WithClause, ctes)
		w.target(n.Relation)
		skipA, skipB = n.WithClause, n.Relation
	case *pg_query.UpdateStmt:
		ctes = w.with(n.WithClause, ctes)
		w.target(n.Relation)
		skipA, skipB = n.WithClause, n.Relation
	case *pg_query.DeleteStmt:
		ctes = w.with(n.WithClause, ctes)
		w.target(n.Relation)
		skipA, skipB = n.WithClause, n.Relation
	case *pg_query.MergeStmt:
		ctes = w.with(n.WithClause, ctes)
		w.target(n.Relation)
		skipA, skipB = n.WithClause, n.Relation
	}

	for _, i := range p.fields {
		f := v.Field(i)
		switch f.Kind() {
		case reflect.Pointer:
			if f.IsNil() {
				continue
			}
			if c := f.Interface(); c != skipA && c != skipB {
				w.visit(c, ctes)
			}
		case reflect.Interface:
			// A oneof (Node's, A_Const's) holds a pointer to a wrapper
			// struct whose one field is the value.
			if f.IsNil() {
				continue
			}
			wr := f.Elem()
			if wr.Kind() != reflect.Pointer || wr.IsNil() || wr.Elem().Kind() != reflect.Struct || wr.Elem().NumField() != 1 {
				continue
			}
			if c := wr.Elem().Field(0); c.Kind() == reflect.Pointer && !c.IsNil() {
				w.visit(c.Interface(), ctes)
			}
		case reflect.Slice:
			for j := range f.Len() {
				if e := f.Index(j); !e.IsNil() {
					w.visit(e.Interface(), ctes)
				}
			}
		}
	}
}

// target records the relation a statement writes to: always a relation,
// never a CTE. Writing to a system catalog or view is admin: an UPDATE of
// pg_settings, for one, changes session settings that outlive the call on a
// pooled connection.
func (w *walker) target(rv *pg_query.RangeVar) {
	if rv == nil {
		return
	}
	w.addTable(rv)
	if rv.Schemaname == "pg_catalog" || rv.Schemaname == "information_schema" || strings.HasPrefix(rv.Relname, "pg_") {
		w.raise(classAdmin, "writing to "+rv.Relname+", a system catalog or view, needs admin access")
	}
}

// with walks a WITH clause and returns the CTE names in scope for the rest
// of the statement. A CTE sees the ones before it, or all of them under
// RECURSIVE, so that WITH x AS (SELECT * FROM x) still reports table x.
func (w *walker) with(wc *pg_query.WithClause, ctes []string) []string {
	if wc == nil {
		return ctes
	}
	// The full slice expressions make every append copy, so a scope never
	// leaks into a sibling's.
	if wc.Recursive {
		for _, c := range wc.Ctes {
			if cte := c.GetCommonTableExpr(); cte != nil {
				ctes = append(ctes[:len(ctes):len(ctes)], cte.Ctename)
			}
		}
	}
	for _, c := range wc.Ctes {
		w.visit(c, ctes)
		if cte := c.GetCommonTableExpr(); cte != nil && !wc.Recursive {
			ctes = append(ctes[:len(ctes):len(ctes)], cte.Ctename)
		}
	}
	return ctes
}

// statement classifies one statement node by its kind. Nested statements
// are classified too, so the result is the strongest kind anywhere.
func (w *walker) statement(m any) {
	switch n := m.(type) {
	// read
	case *pg_query.SelectStmt, *pg_query.VariableShowStmt,
		*pg_query.SetOperationStmt, *pg_query.ReturnStmt, *pg_query.RawStmt:
		// A SELECT's INTO, locking clause, nested DML and calls are found
		// as the walk goes on.

	// write
	case *pg_query.InsertStmt, *pg_query.UpdateStmt, *pg_query.DeleteStmt, *pg_query.MergeStmt:
		w.raise(classWrite, command(m)+" modifies data")
	case *pg_query.ExplainStmt:
		if explainAnalyze(n.Options) {
			w.raise(classWrite, "EXPLAIN ANALYZE executes the statement it explains")
		}
	case *pg_query.CopyStmt:
		w.copyStmt(n)

	// ddl
	case *pg_query.CreateStmt, *pg_query.CreateTableAsStmt, *pg_query.ViewStmt,
		*pg_query.IndexStmt, *pg_query.CreateSeqStmt, *pg_query.AlterSeqStmt,
		*pg_query.CreateSchemaStmt, *pg_query.CompositeTypeStmt, *pg_query.CreateEnumStmt,
		*pg_query.CreateRangeStmt, *pg_query.AlterEnumStmt, *pg_query.AlterTypeStmt,
		*pg_query.CreateDomainStmt, *pg_query.AlterDomainStmt,
		*pg_query.CreateFunctionStmt, *pg_query.AlterFunctionStmt,
		*pg_query.CreateTrigStmt, *pg_query.RuleStmt, *pg_query.CommentStmt,
		*pg_query.CreateStatsStmt, *pg_query.AlterStatsStmt, *pg_query.CreateForeignTableStmt,
		*pg_query.CreateCastStmt, *pg_query.CreateConversionStmt,
		*pg_query.CreateOpClassStmt, *pg_query.CreateOpFamilyStmt, *pg_query.AlterOpFamilyStmt,
		*pg_query.AlterOperatorStmt, *pg_query.AlterCollationStmt,
		*pg_query.AlterTSDictionaryStmt, *pg_query.AlterTSConfigurationStmt,
		*pg_query.RefreshMatViewStmt, *pg_query.ReplicaIdentityStmt:
		w.raise(classDDL, command(m)+" changes the database schema")
	case *pg_query.TruncateStmt:
		w.raise(classDDL, "TRUNCATE removes every row of a table and needs DDL access")
	case *pg_query.DefineStmt:
		w.objectStmt(m, n.Kind)
	case *pg_query.DropStmt:
		w.objectStmt(m, n.RemoveType)
	case *pg_query.RenameStmt:
		w.objectStmt(m, n.RenameType)
	case *pg_query.AlterObjectSchemaStmt:
		w.objectStmt(m, n.ObjectType)
	case *pg_query.AlterTableStmt:
		w.alterTable(m, n)

	// refused
	case *pg_query.TransactionStmt:
		w.err = &Error{Msg: fmt.Sprintf("%s is not allowed: the gateway manages transactions itself; send the statement without transaction control", command(m))}

	// admin, with a more specific reason than the default
	case *pg_query.GrantStmt, *pg_query.GrantRoleStmt:
		w.raise(classAdmin, command(m)+" changes privileges and needs admin access")
	case *pg_query.DoStmt:
		w.raise(classAdmin, "DO runs procedural code that cannot be checked before it runs, so it needs admin access")
	case *pg_query.VariableSetStmt:
		w.raise(classAdmin, command(m)+" changes session settings, which the gateway manages; it needs admin access")
	case *pg_query.AlterOwnerStmt:
		w.raise(classAdmin, command(m)+" ... OWNER TO changes ownership, so it needs admin access")
	case *pg_query.CallStmt:
		w.raise(classAdmin, "CALL runs a procedure whose effects cannot be checked, so it needs admin access")
	default:
		// Fail closed: every statement kind not allowed above.
		w.raise(classAdmin, command(m)+" is not a read, write or DDL statement, so it needs admin access")
	}
}

// copyStmt classifies COPY by where the data goes.
func (w *walker) copyStmt(n *pg_query.CopyStmt) {
	switch {
	case n.IsProgram:
		w.raise(classAdmin, "COPY ... PROGRAM runs a shell command on the database server, so it needs admin access")
	case n.Filename != "":
		w.raise(classAdmin, "COPY with a file name reads or writes files on the database server, so it needs admin access")
	case n.IsFrom:
		w.raise(classWrite, "COPY ... FROM STDIN loads rows into a table")
		w.target(n.Relation)
	default:
		// Not on the read allow-list: the gateway reads with SELECT.
		w.raise(classAdmin, "COPY ... TO STDOUT needs admin access; use SELECT to read data")
	}
}

// objectStmt classifies statements that act on a named kind of object: on
// schema objects they are ddl, on server-wide or security objects (roles,
// databases, extensions, languages, policies...) admin.
func (w *walker) objectStmt(m any, t pg_query.ObjectType) {
	if ddlObjects[t] {
		w.raise(classDDL, command(m)+" changes the database schema")
		return
	}
	w.raise(classAdmin, command(m)+" changes a server-wide or security object, so it needs admin access")
}

// ddlObjects are the object kinds whose creation, change or removal is a
// schema change. Anything else is admin.
var ddlObjects = map[pg_query.ObjectType]bool{
	pg_query.ObjectType_OBJECT_AGGREGATE:       true,
	pg_query.ObjectType_OBJECT_ATTRIBUTE:       true,
	pg_query.ObjectType_OBJECT_CAST:            true,
	pg_query.ObjectType_OBJECT_COLUMN:          true,
	pg_query.ObjectType_OBJECT_COLLATION:       true,
	pg_query.ObjectType_OBJECT_CONVERSION:      true,
	pg_query.ObjectType_OBJECT_DOMAIN:          true,
	pg_query.ObjectType_OBJECT_DOMCONSTRAINT:   true,
	pg_query.ObjectType_OBJECT_FOREIGN_TABLE:   true,
	pg_query.ObjectType_OBJECT_FUNCTION:        true,
	pg_query.ObjectType_OBJECT_INDEX:           true,
	pg_query.ObjectType_OBJECT_MATVIEW:         true,
	pg_query.ObjectType_OBJECT_OPCLASS:         true,
	pg_query.ObjectType_OBJECT_OPERATOR:        true,
	pg_query.ObjectType_OBJECT_OPFAMILY:        true,
	pg_query.ObjectType_OBJECT_PROCEDURE:       true,
	pg_query.ObjectType_OBJECT_ROUTINE:         true,
	pg_query.ObjectType_OBJECT_RULE:            true,
	pg_query.ObjectType_OBJECT_SCHEMA:          true,
	pg_query.ObjectType_OBJECT_SEQUENCE:        true,
	pg_query.ObjectType_OBJECT_STATISTIC_EXT:   true,
	pg_query.ObjectType_OBJECT_TABCONSTRAINT:   true,
	pg_query.ObjectType_OBJECT_TABLE:           true,
	pg_query.ObjectType_OBJECT_TRIGGER:         true,
	pg_query.ObjectType_OBJECT_TSCONFIGURATION: true,
	pg_query.ObjectType_OBJECT_TSDICTIONARY:    true,
	pg_query.ObjectType_OBJECT_TYPE:            true,
	pg_query.ObjectType_OBJECT_VIEW:            true,
}

// alterTable is ddl, except for the subcommands that change who may see or
// own the data: those are access control, hence admin.
func (w *walker) alterTable(m any, n *pg_query.AlterTableStmt) {
	for _, c := range n.Cmds {
		switch c.GetAlterTableCmd().GetSubtype() {
		case pg_query.AlterTableType_AT_ChangeOwner:
			w.raise(classAdmin, command(m)+" ... OWNER TO changes ownership, so it needs admin access")
			return
		case pg_query.AlterTableType_AT_EnableRowSecurity, pg_query.AlterTableType_AT_DisableRowSecurity,
			pg_query.AlterTableType_AT_ForceRowSecurity, pg_query.AlterTableType_AT_NoForceRowSecurity:
			w.raise(classAdmin, command(m)+" ... ROW LEVEL SECURITY changes access control, so it needs admin access")
			return
		}
	}
	w.raise(classDDL, command(m)+" changes the database schema")
}

// explainAnalyze reports whether EXPLAIN's options turn ANALYZE on. Only an
// explicit false/off/0 turns it off; anything else counts as on, because
// ANALYZE executes the statement.
func explainAnalyze(opts []*pg_query.Node) bool {
	on := false
	for _, o := range opts {
		d := o.GetDefElem()
		if d == nil || !strings.EqualFold(d.Defname, "analyze") {
			continue
		}
		switch a := d.Arg.GetNode().(type) {
		case *pg_query.Node_String_:
			v := a.String_.GetSval()
			on = !strings.EqualFold(v, "false") && !strings.EqualFold(v, "off")
		case *pg_query.Node_Integer:
			on = a.Integer.GetIval() != 0
		case *pg_query.Node_Boolean:
			on = a.Boolean.GetBoolval()
		default:
			on = true
		}
		if on {
			return true
		}
	}
	return on
}

func lockReason(s pg_query.LockClauseStrength) string {
	switch s {
	case pg_query.LockClauseStrength_LCS_FORKEYSHARE:
		return "SELECT ... FOR KEY SHARE takes row locks"
	case pg_query.LockClauseStrength_LCS_FORSHARE:
		return "SELECT ... FOR SHARE takes row locks"
	case pg_query.LockClauseStrength_LCS_FORNOKEYUPDATE:
		return "SELECT ... FOR NO KEY UPDATE takes row locks"
	}
	return "SELECT ... FOR UPDATE takes row locks"
}

// funcCall records a called function and raises to admin when it is on the
// deny-list.
func (w *walker) funcCall(n *pg_query.FuncCall) {
	parts := n.Funcname
	// SQL-syntax calls (EXTRACT, TRIM, AT TIME ZONE...) come back with an
	// implied pg_catalog qualifier the agent did not write.
	if n.Funcformat == pg_query.CoercionForm_COERCE_SQL_SYNTAX && len(parts) == 2 &&
		parts[0].GetString_().GetSval() == "pg_catalog" {
		parts = parts[1:]
	}
	if len(parts) == 0 {
		return
	}
	last := strings.ToLower(parts[len(parts)-1].GetString_().GetSval())
	name := last
	if len(parts) > 1 || needsQuote(last) {
		// Quote parts such as ".x" so the dots between parts stay
		// unambiguous, as for tables.
		var b strings.Builder
		for i, p := range parts {
			if i > 0 {
				b.WriteByte('.')
			}
			writeIdent(&b, strings.ToLower(p.GetString_().GetSval()))
		}
		name = b.String()
	}
	w.funcs = append(w.funcs, name)
	if why, ok := deniedFunction(last); ok {
		w.raise(classAdmin, fmt.Sprintf("%s() %s, so it needs admin access", name, why))
		return
	}
	// Unqualified names resolve in pg_catalog first (PostgreSQL searches
	// it before the search_path unless the path names it later).
	inCatalog := (len(parts) == 1 || len(parts) == 2 && parts[0].GetString_().GetSval() == "pg_catalog") && IsCatalogFunction(last)
	switch {
	case !inCatalog:
		w.userFuncs = append(w.userFuncs, name)
	case volatileEffect(last):
		w.raise(classAdmin, fmt.Sprintf("%s() is a volatile system function that can change the database or server state (it is not on the gateway's list of harmless ones), so it needs admin access", name))
	}
}

// addTable records a relation as written, quoting any part that would not
// survive being written unquoted, so that "a.b" (one name) and a.b (schema
// and table) stay distinct.
func (w *walker) addTable(rv *pg_query.RangeVar) {
	if rv == nil || rv.Relname == "" {
		return
	}
	if rv.Schemaname == "" && rv.Catalogname == "" && !needsQuote(rv.Relname) {
		w.tables = append(w.tables, rv.Relname)
		return
	}
	var b strings.Builder
	for _, p := range []string{rv.Catalogname, rv.Schemaname, rv.Relname} {
		if p == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		writeIdent(&b, p)
	}
	w.tables = append(w.tables, b.String())
}

// needsQuote reports whether an identifier must be double-quoted to be read
// back as the same name: anything but lower-case letters, digits, _ and $
// (and not starting with a digit or $).
func needsQuote(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c == '_', c >= 0x80:
		case (c >= '0' && c <= '9') || c == '$':
			if i == 0 {
				return true
			}
		default:
			return true
		}
	}
	return s == ""
}

func writeIdent(b *strings.Builder, s string) {
	if !needsQuote(s) {
		b.WriteString(s)
		return
	}
	b.WriteByte('"')
	b.WriteString(strings.ReplaceAll(s, `"`, `""`))
	b.WriteByte('"')
}
