package pgsql

import "strings"

// deniedFunctions are functions that make any statement admin, wherever they
// are called. A read-only transaction does not stop them: they sleep, signal
// other sessions, touch the server's files, change settings or sequences,
// take locks, run query text the classifier never saw, or control the
// server. One '*' in a pattern matches any run of characters.
//
// This list complements the read allow-list (it does not replace it): a
// statement that gets past it is still only a SELECT, SHOW or EXPLAIN and
// still runs READ ONLY.
var deniedFunctions = []struct{ pattern, why string }{
	{"pg_sleep*", "makes the server wait"},
	{"pg_terminate_backend", "ends other database sessions"},
	{"pg_cancel_backend", "cancels other sessions' queries"},
	{"pg_log_backend_memory_contexts", "signals other database sessions"},
	{"pg_read_file", "reads files on the database server"},
	{"pg_read_binary_file", "reads files on the database server"},
	{"pg_stat_file", "reads the database server's file system"},
	{"pg_ls_*", "lists the database server's file system"},
	{"pg_file_*", "writes files on the database server"},
	{"lo_*", "reads or writes large objects and server files"},
	{"loread", "reads large objects"},
	{"lowrite", "writes large objects"},
	{"dblink*", "connects to other databases"},
	{"set_config", "changes session settings"},
	{"nextval", "changes a sequence"},
	{"setval", "changes a sequence"},
	{"pg_advisory*", "takes advisory locks"},
	{"pg_try_advisory*", "takes advisory locks"},
	{"pg_notify", "sends notifications to other sessions"},
	{"query_to_xml*", "runs a query given as text, which cannot be checked"},
	{"cursor_to_xml*", "reads from a cursor, which cannot be checked"},
	{"table_to_xml*", "reads a table named in a string, which cannot be checked"},
	{"schema_to_xml*", "reads every table of a schema"},
	{"database_to_xml*", "reads every table of the database"},
	{"ts_stat", "runs a query given as text, which cannot be checked"},
	{"ts_rewrite", "can run a query given as text, which cannot be checked"},
	{"pg_reload_conf", "reloads the server configuration"},
	{"pg_rotate_logfile", "controls the server's log files"},
	{"pg_import_system_collations", "changes the system catalogs"},
	{"pg_logical_emit_message", "writes to the write-ahead log"},
	{"pg_create_*_replication_slot", "manages replication"},
	{"pg_copy_*_replication_slot", "manages replication"},
	{"pg_drop_replication_slot", "manages replication"},
	{"pg_replication_slot_advance", "manages replication"},
	{"pg_logical_slot_*", "consumes or reads replication changes"},
	{"pg_replication_origin_*", "manages replication"},
	{"pg_switch_wal", "controls the write-ahead log"},
	{"pg_create_restore_point", "controls the write-ahead log"},
	{"pg_wal_replay_*", "controls recovery"},
	{"pg_promote", "promotes a standby server"},
	{"pg_backup_start", "controls backups"},
	{"pg_backup_stop", "controls backups"},
	{"txid_current", "assigns a transaction id, which is a write"},
	{"pg_current_xact_id", "assigns a transaction id, which is a write"},
	{"pg_stat_reset*", "resets server statistics"},
	{"pg_stat_statements_reset", "resets server statistics"},
	{"binary_upgrade_*", "is for pg_upgrade only"},
}

// deniedFunction reports whether a function (its unqualified, lower-cased
// name) is on the deny-list, and why. Matching ignores the schema so that
// pg_catalog.pg_sleep and a look-alike in another schema are both caught.
func deniedFunction(name string) (why string, ok bool) {
	for _, d := range deniedFunctions {
		pre, suf, wild := strings.Cut(d.pattern, "*")
		if !wild {
			if name == d.pattern {
				return d.why, true
			}
			continue
		}
		if len(name) >= len(pre)+len(suf) && strings.HasPrefix(name, pre) && strings.HasSuffix(name, suf) {
			return d.why, true
		}
	}
	return "", false
}
