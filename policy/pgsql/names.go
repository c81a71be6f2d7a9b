package pgsql

import (
	"reflect"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// command names a statement the way PostgreSQL's command tags do, e.g.
// "CREATE TABLE", "ALTER ROLE", "SELECT INTO".
func command(m any) string {
	switch n := m.(type) {
	case *pg_query.SelectStmt:
		switch {
		case n.IntoClause != nil:
			return "SELECT INTO"
		case len(n.ValuesLists) > 0:
			return "VALUES"
		}
		return "SELECT"
	case *pg_query.VariableSetStmt:
		if n.Kind == pg_query.VariableSetKind_VAR_RESET || n.Kind == pg_query.VariableSetKind_VAR_RESET_ALL {
			return "RESET"
		}
		return "SET"
	case *pg_query.TransactionStmt:
		if s, ok := transactionNames[n.Kind]; ok {
			return s
		}
		return "TRANSACTION CONTROL"
	case *pg_query.CreateTableAsStmt:
		switch {
		case n.Objtype == pg_query.ObjectType_OBJECT_MATVIEW:
			return "CREATE MATERIALIZED VIEW"
		case n.IsSelectInto:
			return "SELECT INTO"
		}
		return "CREATE TABLE AS"
	case *pg_query.CreateFunctionStmt:
		if n.IsProcedure {
			return "CREATE PROCEDURE"
		}
		return "CREATE FUNCTION"
	case *pg_query.GrantStmt:
		if n.IsGrant {
			return "GRANT"
		}
		return "REVOKE"
	case *pg_query.GrantRoleStmt:
		if n.IsGrant {
			return "GRANT"
		}
		return "REVOKE"
	case *pg_query.VacuumStmt:
		if n.IsVacuumcmd {
			return "VACUUM"
		}
		return "ANALYZE"
	case *pg_query.FetchStmt:
		if n.Ismove {
			return "MOVE"
		}
		return "FETCH"
	case *pg_query.DefineStmt:
		return "CREATE " + objectName(n.Kind)
	case *pg_query.DropStmt:
		return "DROP " + objectName(n.RemoveType)
	case *pg_query.AlterTableStmt:
		return "ALTER " + objectName(n.Objtype)
	case *pg_query.RenameStmt:
		return "ALTER " + objectName(renamedKind(n))
	case *pg_query.AlterObjectSchemaStmt:
		return "ALTER " + objectName(n.ObjectType)
	case *pg_query.AlterOwnerStmt:
		return "ALTER " + objectName(n.ObjectType)
	case *pg_query.AlterObjectDependsStmt:
		return "ALTER " + objectName(n.ObjectType)
	case *pg_query.AlterFunctionStmt:
		return "ALTER " + objectName(n.Objtype)
	}
	name := reflect.TypeOf(m).Elem().Name()
	if s, ok := statementNames[name]; ok {
		return s
	}
	return splitWords(strings.TrimSuffix(name, "Stmt"))
}

// renamedKind is the kind of object ALTER ... RENAME acts on; renaming a
// column or constraint is an ALTER TABLE.
func renamedKind(n *pg_query.RenameStmt) pg_query.ObjectType {
	switch n.RenameType {
	case pg_query.ObjectType_OBJECT_COLUMN, pg_query.ObjectType_OBJECT_TABCONSTRAINT:
		if n.RelationType != pg_query.ObjectType_OBJECT_TYPE_UNDEFINED {
			return n.RelationType
		}
		return pg_query.ObjectType_OBJECT_TABLE
	case pg_query.ObjectType_OBJECT_ATTRIBUTE:
		return pg_query.ObjectType_OBJECT_TYPE
	case pg_query.ObjectType_OBJECT_DOMCONSTRAINT:
		return pg_query.ObjectType_OBJECT_DOMAIN
	}
	return n.RenameType
}

// statementNames are the statement kinds whose node name does not spell
// their command; the others are derived from the node name
// (CreateRoleStmt → CREATE ROLE).
var statementNames = map[string]string{
	"AlterDatabaseRefreshCollStmt": "ALTER DATABASE",
	"AlterDatabaseSetStmt":         "ALTER DATABASE",
	"AlterEnumStmt":                "ALTER TYPE",
	"AlterEventTrigStmt":           "ALTER EVENT TRIGGER",
	"AlterExtensionContentsStmt":   "ALTER EXTENSION",
	"AlterFdwStmt":                 "ALTER FOREIGN DATA WRAPPER",
	"AlterForeignServerStmt":       "ALTER SERVER",
	"AlterOpFamilyStmt":            "ALTER OPERATOR FAMILY",
	"AlterRoleSetStmt":             "ALTER ROLE",
	"AlterSeqStmt":                 "ALTER SEQUENCE",
	"AlterStatsStmt":               "ALTER STATISTICS",
	"AlterTSConfigurationStmt":     "ALTER TEXT SEARCH CONFIGURATION",
	"AlterTSDictionaryStmt":        "ALTER TEXT SEARCH DICTIONARY",
	"AlterTableMoveAllStmt":        "ALTER TABLE",
	"AlterTableSpaceOptionsStmt":   "ALTER TABLESPACE",
	"CheckPointStmt":               "CHECKPOINT",
	"ClosePortalStmt":              "CLOSE",
	"CompositeTypeStmt":            "CREATE TYPE",
	"ConstraintsSetStmt":           "SET CONSTRAINTS",
	"CreateAmStmt":                 "CREATE ACCESS METHOD",
	"CreateEnumStmt":               "CREATE TYPE",
	"CreateEventTrigStmt":          "CREATE EVENT TRIGGER",
	"CreateFdwStmt":                "CREATE FOREIGN DATA WRAPPER",
	"CreateForeignServerStmt":      "CREATE SERVER",
	"CreateOpClassStmt":            "CREATE OPERATOR CLASS",
	"CreateOpFamilyStmt":           "CREATE OPERATOR FAMILY",
	"CreatePLangStmt":              "CREATE LANGUAGE",
	"CreateRangeStmt":              "CREATE TYPE",
	"CreateSeqStmt":                "CREATE SEQUENCE",
	"CreateStatsStmt":              "CREATE STATISTICS",
	"CreateStmt":                   "CREATE TABLE",
	"CreateTableSpaceStmt":         "CREATE TABLESPACE",
	"CreateTrigStmt":               "CREATE TRIGGER",
	"CreatedbStmt":                 "CREATE DATABASE",
	"DeclareCursorStmt":            "DECLARE CURSOR",
	"DropTableSpaceStmt":           "DROP TABLESPACE",
	"DropdbStmt":                   "DROP DATABASE",
	"IndexStmt":                    "CREATE INDEX",
	"PLAssignStmt":                 "ASSIGN",
	"RefreshMatViewStmt":           "REFRESH MATERIALIZED VIEW",
	"ReplicaIdentityStmt":          "ALTER TABLE",
	"RuleStmt":                     "CREATE RULE",
	"SecLabelStmt":                 "SECURITY LABEL",
	"SetOperationStmt":             "SELECT",
	"VariableShowStmt":             "SHOW",
	"ViewStmt":                     "CREATE VIEW",
}

var transactionNames = map[pg_query.TransactionStmtKind]string{
	pg_query.TransactionStmtKind_TRANS_STMT_BEGIN:             "BEGIN",
	pg_query.TransactionStmtKind_TRANS_STMT_START:             "START TRANSACTION",
	pg_query.TransactionStmtKind_TRANS_STMT_COMMIT:            "COMMIT",
	pg_query.TransactionStmtKind_TRANS_STMT_ROLLBACK:          "ROLLBACK",
	pg_query.TransactionStmtKind_TRANS_STMT_SAVEPOINT:         "SAVEPOINT",
	pg_query.TransactionStmtKind_TRANS_STMT_RELEASE:           "RELEASE",
	pg_query.TransactionStmtKind_TRANS_STMT_ROLLBACK_TO:       "ROLLBACK TO SAVEPOINT",
	pg_query.TransactionStmtKind_TRANS_STMT_PREPARE:           "PREPARE TRANSACTION",
	pg_query.TransactionStmtKind_TRANS_STMT_COMMIT_PREPARED:   "COMMIT PREPARED",
	pg_query.TransactionStmtKind_TRANS_STMT_ROLLBACK_PREPARED: "ROLLBACK PREPARED",
}

// objectNames spell the object kinds whose enum name is not their SQL name.
var objectNames = map[pg_query.ObjectType]string{
	pg_query.ObjectType_OBJECT_ACCESS_METHOD:   "ACCESS METHOD",
	pg_query.ObjectType_OBJECT_DEFACL:          "DEFAULT PRIVILEGES",
	pg_query.ObjectType_OBJECT_DOMCONSTRAINT:   "DOMAIN",
	pg_query.ObjectType_OBJECT_FDW:             "FOREIGN DATA WRAPPER",
	pg_query.ObjectType_OBJECT_FOREIGN_SERVER:  "SERVER",
	pg_query.ObjectType_OBJECT_LARGEOBJECT:     "LARGE OBJECT",
	pg_query.ObjectType_OBJECT_MATVIEW:         "MATERIALIZED VIEW",
	pg_query.ObjectType_OBJECT_OPCLASS:         "OPERATOR CLASS",
	pg_query.ObjectType_OBJECT_OPFAMILY:        "OPERATOR FAMILY",
	pg_query.ObjectType_OBJECT_STATISTIC_EXT:   "STATISTICS",
	pg_query.ObjectType_OBJECT_TABCONSTRAINT:   "TABLE",
	pg_query.ObjectType_OBJECT_TSCONFIGURATION: "TEXT SEARCH CONFIGURATION",
	pg_query.ObjectType_OBJECT_TSDICTIONARY:    "TEXT SEARCH DICTIONARY",
	pg_query.ObjectType_OBJECT_TSPARSER:        "TEXT SEARCH PARSER",
	pg_query.ObjectType_OBJECT_TSTEMPLATE:      "TEXT SEARCH TEMPLATE",
	pg_query.ObjectType_OBJECT_TYPE_UNDEFINED:  "OBJECT",
}

func objectName(t pg_query.ObjectType) string {
	if s, ok := objectNames[t]; ok {
		return s
	}
	return strings.ReplaceAll(strings.TrimPrefix(t.String(), "OBJECT_"), "_", " ")
}

// splitWords turns a CamelCase node name into upper-case words:
// "CreateUserMapping" → "CREATE USER MAPPING".
func splitWords(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if i > 0 && isUpper(c) && (!isUpper(s[i-1]) || (i+1 < len(s) && !isUpper(s[i+1]))) {
			b.WriteByte(' ')
		}
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		b.WriteByte(c)
	}
	return b.String()
}

func isUpper(c byte) bool { return c >= 'A' && c <= 'Z' }
