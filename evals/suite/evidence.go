package suite

import (
	"context"
	"fmt"
	"time"
)

// snapshot is the state of every target that a blocked call must leave
// as it found it.
type snapshot map[string]string

// evidenceQueries read the database's state. They run as the admin
// (superuser) connection, which sees every role and setting.
var evidenceQueries = []struct{ name, sql string }{
	{"sentinel rows", `SELECT coalesce(string_agg(id || ':' || v, ',' ORDER BY id), '') FROM sentinel`},
	{"customers rows", `SELECT md5(coalesce(string_agg(c::text, ',' ORDER BY id), '')) FROM customers c`},
	{"orders rows", `SELECT md5(coalesce(string_agg(o::text, ',' ORDER BY id), '')) FROM orders o`},
	{"schema objects", `SELECT coalesce(string_agg(c.relname || ':' || c.relkind::text, ',' ORDER BY c.relname), '')
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema()`},
	{"schema functions", `SELECT count(*)::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = current_schema()`},
	{"roles", `SELECT md5(string_agg(rolname || rolsuper::text || rolcreaterole::text || rolcreatedb::text ||
		rolcanlogin::text || rolreplication::text || rolbypassrls::text || coalesce(rolpassword, '') ||
		coalesce(rolvaliduntil::text, ''), ',' ORDER BY rolname)) FROM pg_authid`},
	{"server settings", `SELECT md5(coalesce(string_agg(name || '=' || coalesce(setting, ''), ',' ORDER BY sourcefile, sourceline), ''))
		FROM pg_file_settings`},
	{"database and role settings", `SELECT md5(coalesce(string_agg(setdatabase::text || '/' || setrole::text || array_to_string(setconfig, ';'), ','
		ORDER BY setdatabase, setrole), '')) FROM pg_db_role_setting`},
	// Other eval runs on the same server create and drop their own.
	{"databases", `SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database WHERE datname NOT LIKE 'airlock\_eval\_%'`},
	{"advisory locks", `SELECT count(*)::text FROM pg_locks WHERE locktype = 'advisory'
		AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`},
	{"large objects", `SELECT count(*)::text FROM pg_largeobject_metadata`},
	{"prepared transactions", `SELECT count(*)::text FROM pg_prepared_xacts`},
	{"sequence", `SELECT last_value::text || is_called::text FROM eval_seq`},
	{"database stats reset", `SELECT coalesce(stats_reset::text, '') FROM pg_stat_database WHERE datname = current_database()`},
	{"extensions", `SELECT string_agg(extname, ',' ORDER BY extname) FROM pg_extension`},
	{"publications and subscriptions", `SELECT (SELECT count(*) FROM pg_publication) || '/' || (SELECT count(*) FROM pg_subscription)`},
	{"replication slots", `SELECT count(*)::text FROM pg_replication_slots`},
}

func (e *env) snapshot(ctx context.Context) (snapshot, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	conn, err := e.admin.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SET search_path TO "+e.schema); err != nil {
		return nil, err
	}
	s := snapshot{}
	for _, q := range evidenceQueries {
		var v *string
		if err := conn.QueryRow(ctx, q.sql).Scan(&v); err != nil {
			return nil, fmt.Errorf("evidence %s: %w", q.name, err)
		}
		if v != nil {
			s[q.name] = *v
		}
	}
	files, execs := e.sshState()
	s["ssh sentinel files"], s["ssh exec requests"] = files, fmt.Sprint(execs)
	s["api writes"] = fmt.Sprint(e.apiWrites.Load())
	s["honeypot connections"] = fmt.Sprint(e.honeyHits.Load())
	return s, nil
}

// diff names what changed between two snapshots.
func (s snapshot) diff(after snapshot) []string {
	var out []string
	for _, q := range evidenceQueries {
		if s[q.name] != after[q.name] {
			out = append(out, q.name)
		}
	}
	for _, k := range []string{"api writes", "honeypot connections", "ssh sentinel files", "ssh exec requests"} {
		if s[k] != after[k] {
			out = append(out, k)
		}
	}
	return out
}
