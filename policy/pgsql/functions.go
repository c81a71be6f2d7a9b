package pgsql

import (
	"strings"
	"sync"
)

// Functions are classified in three groups beyond the deny-list:
//
//   - pg_catalog functions that are not VOLATILE (lower, count, now,
//     jsonb_build_object...) cannot change anything: they are reads.
//   - VOLATILE pg_catalog functions may: index maintenance
//     (brin_summarize_new_values, gin_clean_pending_list), WAL, replication,
//     statistics, sequences, large objects, settings, signals, locks. Each
//     one makes the statement admin unless it is on harmlessVolatile, a
//     reviewed list of volatile functions that only read or return fresh
//     values (random, clock_timestamp, pg_relation_size). A function a new
//     PostgreSQL release adds is VOLATILE-unknown and so admin until it is
//     reviewed (TestCatalogMatchesServer finds it).
//   - Every other function — user-defined, from an extension, or qualified
//     with a schema other than pg_catalog — is opaque: what it does cannot
//     be seen from the statement. Classify lists them in
//     Statement.UserFunctions; the caller decides (query_db makes the call
//     admin unless the connection's `functions:` allow-list names them).

// harmlessVolatile are VOLATILE pg_catalog functions reviewed as having no
// effect beyond returning a value: random or time values, sizes, status
// reads. They are reads.
var harmlessVolatile = setOf(`
clock_timestamp timeofday random setseed gen_random_uuid random_normal array_sample array_shuffle
currval lastval current_query
pg_database_size pg_relation_size pg_table_size pg_total_relation_size pg_indexes_size pg_tablespace_size
pg_partition_tree pg_partition_ancestors
pg_is_in_recovery pg_last_xact_replay_timestamp pg_last_wal_receive_lsn pg_last_wal_replay_lsn
pg_current_wal_lsn pg_current_wal_insert_lsn pg_current_wal_flush_lsn
pg_is_wal_replay_paused pg_get_wal_replay_pause_state
pg_blocking_pids pg_safe_snapshot_blocking_pids pg_isolation_test_session_is_blocked pg_lock_status
pg_jit_available pg_notification_queue_usage pg_sequence_last_value
pg_xact_commit_timestamp pg_xact_commit_timestamp_origin pg_last_committed_xact pg_xact_status txid_status
pg_collation_actual_version pg_database_collation_actual_version
pg_stat_have_stats pg_stat_get_xact_blocks_fetched pg_stat_get_xact_blocks_hit pg_stat_get_xact_function_calls
pg_stat_get_xact_function_self_time pg_stat_get_xact_function_total_time pg_stat_get_xact_numscans
pg_stat_get_xact_tuples_deleted pg_stat_get_xact_tuples_fetched pg_stat_get_xact_tuples_hot_updated
pg_stat_get_xact_tuples_inserted pg_stat_get_xact_tuples_returned pg_stat_get_xact_tuples_updated
pg_stat_get_recovery_prefetch pg_get_wal_resource_managers
`)

// newerCatalogNames are pg_catalog functions of PostgreSQL 16 and 17 that
// the generated list (from 15) lacks; newerVolatileNames are those among
// them that are VOLATILE.
var (
	newerCatalogNames = setOf(`
any_value array_sample array_shuffle random_normal date_add date_subtract erf erfc
pg_input_is_valid pg_input_error_info pg_split_walfile_name system_user
to_bin to_oct uuid_extract_timestamp uuid_extract_version unistr pg_basetype pg_column_toast_chunk_id
pg_log_standby_snapshot pg_sync_replication_slots pg_get_wal_summarizer_state pg_available_wal_summaries
pg_wal_summary_contents pg_stat_reset_slru pg_get_acl pg_numa_available
`)
	newerVolatileNames = setOf(`
array_sample array_shuffle random_normal pg_log_standby_snapshot pg_sync_replication_slots
pg_get_wal_summarizer_state pg_available_wal_summaries pg_wal_summary_contents
`)
)

var (
	catalogSet  = sync.OnceValue(func() map[string]bool { return union(setOf(catalogNames), newerCatalogNames) })
	volatileSet = sync.OnceValue(func() map[string]bool { return union(setOf(volatileNames), newerVolatileNames) })
)

// IsCatalogFunction reports whether name (unqualified, lower-case) is a
// pg_catalog function the gateway knows.
func IsCatalogFunction(name string) bool { return catalogSet()[name] }

// volatileEffect reports whether calling the pg_catalog function name may
// change something: it is VOLATILE and not reviewed as harmless.
func volatileEffect(name string) bool { return volatileSet()[name] && !harmlessVolatile[name] }

func setOf(words string) map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(words) {
		m[w] = true
	}
	return m
}

func union(a, b map[string]bool) map[string]bool {
	for k := range b {
		a[k] = true
	}
	return a
}
