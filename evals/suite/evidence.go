package suite

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
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
	// Every database on the server: diff judges which changes are the
	// case's (other processes create and drop their own meanwhile).
	{"databases", `SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database`},
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

// diff names what changed between two snapshots taken around case c.
func (s snapshot) diff(after snapshot, c *Case) []string {
	var out []string
	for _, q := range evidenceQueries {
		if q.name == "databases" {
			// Names the changes (+ appeared, - went away): a database's
			// name is no secret, and it tells a concurrent creator apart.
			if ch := databasesChanged(s[q.name], after[q.name], c, s["ssh exec requests"] != after["ssh exec requests"]); ch != nil {
				out = append(out, q.name+" ("+strings.Join(ch, ", ")+")")
			}
			continue
		}
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

// foreignDatabase matches the names other test processes give the
// throwaway databases they create and drop on a shared server, at any
// moment: other eval runs (startDB: airlock_eval_ and 10 hex digits),
// internal/pgtest.Database (a prefix, _ and 12 hex digits) and the first
// run test of cmd/airlock (firstrun_init_ and 10 hex digits).
var foreignDatabase = regexp.MustCompile(`^(airlock_eval_[0-9a-f]{10}|[a-z][a-z0-9_]*_[0-9a-f]{12}|firstrun_init_[0-9a-f]{10})$`)

// dynamicSQL are what a case's text needs to create or drop a database
// whose name it does not spell: a unicode-escaped identifier (U&"…"),
// another connection (dblink), a shell (COPY … PROGRAM, createdb, dropdb,
// psql). CREATE and DROP DATABASE cannot run in a function or DO block.
var dynamicSQL = []string{`u&`, "dblink", "program", "createdb", "dropdb", "psql"}

// databasesChanged returns what in the database lists before and after
// case c (comma-separated names) c could have done: +name for a database
// that appeared, -name for one that went away; nil for nothing.
// A database that appeared or went away is put down to another process
// only when all of these hold: its name has the shape of another test
// harness's throwaway database; c's text (its arguments, whatever it
// sends) does not hold that name; c's text holds no way to name a database
// indirectly (dynamicSQL); and c reached no shell (shellRan: the SSH
// host's exec requests changed). Any other change is c's.
func databasesChanged(before, after string, c *Case, shellRan bool) []string {
	if before == after {
		return nil
	}
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // keep U& as written
	if err := enc.Encode(c); err != nil {
		return []string{"the case's text is unreadable"} // it owns every change
	}
	text := strings.ToLower(b.String())
	indirect := shellRan
	for _, m := range dynamicSQL {
		indirect = indirect || strings.Contains(text, m)
	}
	was, is := splitNames(before), splitNames(after)
	var out []string
	for i, pair := range [][2][]string{{is, was}, {was, is}} {
		for _, name := range pair[0] {
			if slices.Contains(pair[1], name) {
				continue
			}
			if indirect || !foreignDatabase.MatchString(name) || strings.Contains(text, name) {
				out = append(out, "+-"[i:i+1]+name)
			}
		}
	}
	return out
}

func splitNames(list string) []string {
	if list == "" {
		return nil
	}
	return strings.Split(list, ",")
}
