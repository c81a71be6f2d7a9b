#!/usr/bin/env bash
# scripts/test-postgres.sh — find or start a PostgreSQL for the test suite.
#
# Prints exactly one line on stdout: a libpq URL DSN, e.g.
#   postgres://postgres@127.0.0.1:5432/airlock_test?sslmode=disable
# Everything else (progress, diagnostics) goes to stderr.
#
# Strategy:
#   0. If AIRLOCK_TEST_PG_DSN is already set, check that it connects and print it.
#   1. If a PostgreSQL answers on 127.0.0.1:$AIRLOCK_PG_PORT_PROBE (default 5432)
#      and accepts user "postgres" on database "postgres" without a password,
#      create the test database there if missing and print its DSN.
#   2. Otherwise run a throwaway cluster in $REPO/.testenv/pg (initdb as the
#      "postgres" OS user when running as root, trust auth, listening only on
#      127.0.0.1 on a free port), installing PostgreSQL with apt-get if needed.
#      A second call reuses the running throwaway cluster.
#   Fails (non-zero exit, message on stderr) if nothing works. Never skips.
#
# Other modes:
#   --stop   stop the throwaway cluster, if one is running (keeps its data)
#   --purge  stop it and delete its data directory
#
# Environment overrides:
#   AIRLOCK_TEST_PG_DSN        use this DSN as-is (verified with psql)
#   AIRLOCK_PG_PORT_PROBE      port probed for an existing server (default 5432)
#   AIRLOCK_PG_THROWAWAY_PORT  port for the throwaway cluster (default: first
#                              free port from 55432 upwards)
#   AIRLOCK_TEST_PG_DB         database name (default airlock_test)
set -euo pipefail

log() { printf 'test-postgres: %s\n' "$*" >&2; }
die() { printf 'test-postgres: ERROR: %s\n' "$*" >&2; exit 1; }

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
HOST=127.0.0.1
PROBE_PORT="${AIRLOCK_PG_PORT_PROBE:-5432}"
DB="${AIRLOCK_TEST_PG_DB:-airlock_test}"
PGENV="$REPO/.testenv"
PGHOME="$PGENV/pg"          # may be a symlink to a dir the postgres user can reach
# set_paths: derive the file locations from the physical (symlink-free) path of
# $PGHOME, so the postgres OS user never has to traverse the repo path itself.
set_paths() {
	local real="$PGHOME"
	[[ -d "$PGHOME" ]] && real="$(cd "$PGHOME" && pwd -P)"
	PGDATA_DIR="$real/data"
	PORT_FILE="$real/port"
	LOG_FILE="$real/postgres.log"
	INITDB_LOG="$real/initdb.log"
}
set_paths

[[ "$DB" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || die "AIRLOCK_TEST_PG_DB must be a plain identifier, got '$DB'"

# Keep libpq from picking up surprises from the caller's environment.
unset PGSERVICE PGSERVICEFILE PGPASSFILE PGOPTIONS PGHOST PGHOSTADDR PGPORT PGUSER PGDATABASE PGSSLMODE || true
export PGCONNECT_TIMEOUT=5
export PGPASSWORD=""   # never prompt (stdin may be closed in CI); with -w psql fails instead

dsn_for() { printf 'postgres://postgres@%s:%s/%s?sslmode=disable\n' "$HOST" "$1" "$DB"; }

# ---------------------------------------------------------------- tool lookup
PGBIN=""
find_pgbin() {
	PGBIN=""
	local d
	# Newest major version first.
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5,5 -rn); do
		if [[ -x "$d/initdb" && -x "$d/pg_ctl" ]]; then PGBIN="$d"; return 0; fi
	done
	if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
		PGBIN="$(dirname "$(command -v initdb)")"; return 0
	fi
	return 1
}

# client tool: prefer PATH, else the server bin dir
tool() {
	local name="$1"
	if command -v "$name" >/dev/null 2>&1; then command -v "$name"; return 0; fi
	local d
	for d in ${PGBIN:+"$PGBIN"} $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5,5 -rn); do
		if [[ -x "$d/$name" ]]; then echo "$d/$name"; return 0; fi
	done
	return 1
}

install_postgres() {
	if [[ "$(id -u)" != 0 ]]; then
		die "PostgreSQL server binaries (initdb, pg_ctl) not found and not running as root, cannot apt-get install. Install PostgreSQL or set AIRLOCK_TEST_PG_DSN."
	fi
	command -v apt-get >/dev/null 2>&1 || die "PostgreSQL not found and apt-get is unavailable. Install PostgreSQL or set AIRLOCK_TEST_PG_DSN."
	log "PostgreSQL not found; installing it with apt-get (this takes a minute)"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q >&2 </dev/null || die "apt-get update failed"
	apt-get install -y -q --no-install-recommends postgresql postgresql-client >&2 </dev/null \
		|| die "apt-get install postgresql failed"
	find_pgbin || die "installed postgresql but still cannot find initdb/pg_ctl under /usr/lib/postgresql/*/bin"
}

# --------------------------------------------------------------------- probes
# tcp_open PORT: true when something accepts TCP connections on $HOST:PORT.
tcp_open() {
	local port="$1"
	if command -v timeout >/dev/null 2>&1; then
		timeout 3 bash -c ": </dev/tcp/$HOST/$port" 2>/dev/null
	else
		(: </dev/tcp/"$HOST"/"$port") 2>/dev/null
	fi
}

# server_answers PORT: true when a PostgreSQL server answers on $HOST:PORT.
server_answers() {
	local port="$1" isready
	if isready="$(tool pg_isready)"; then
		"$isready" -q -h "$HOST" -p "$port" -t 3 </dev/null >/dev/null 2>&1
	else
		tcp_open "$port"
	fi
}

# psql_run PORT DB SQL...: run SQL as user postgres, unaligned tuples-only output.
psql_run() {
	local port="$1" db="$2"; shift 2
	local psql
	psql="$(tool psql)" || return 127
	"$psql" -X -w -q -A -t -v ON_ERROR_STOP=1 -h "$HOST" -p "$port" -U postgres -d "$db" "$@" </dev/null
}

# ensure_db PORT: create $DB if missing (tolerates a concurrent creator).
ensure_db() {
	local port="$1" exists err
	exists="$(psql_run "$port" postgres -c "SELECT 1 FROM pg_database WHERE datname = '$DB'")" \
		|| die "cannot query pg_database on $HOST:$port"
	if [[ "$exists" != 1 ]]; then
		log "creating database $DB on $HOST:$port"
		if ! err="$(psql_run "$port" postgres -c "CREATE DATABASE \"$DB\"" 2>&1)"; then
			exists="$(psql_run "$port" postgres -c "SELECT 1 FROM pg_database WHERE datname = '$DB'" || true)"
			[[ "$exists" == 1 ]] || die "CREATE DATABASE $DB on $HOST:$port failed: $err"
		fi
	fi
	psql_run "$port" "$DB" -c 'SELECT 1' >/dev/null || die "cannot connect to database $DB on $HOST:$port"
}

# ------------------------------------------------------ throwaway cluster bits
as_pg() {
	# Run a command as the unprivileged "postgres" OS user when we are root
	# (initdb and postgres refuse to run as root); as ourselves otherwise.
	# Runs from / so the postgres user need not access the caller's cwd.
	if [[ "$(id -u)" != 0 ]]; then
		"$@"
	elif command -v runuser >/dev/null 2>&1; then
		(cd / && runuser -u postgres -- "$@")
	else
		(cd / && su -s /bin/sh postgres -c "$(printf '%q ' "$@")")
	fi
}

ensure_pg_os_user() {
	[[ "$(id -u)" == 0 ]] || return 0
	if ! id postgres >/dev/null 2>&1; then
		log "creating OS user postgres"
		useradd --system --user-group --home-dir /var/lib/postgresql --shell /bin/bash postgres \
			|| die "cannot create OS user postgres"
	fi
}

# prepare_pghome: make $PGHOME exist and be usable by the postgres OS user.
# If the repo lives where that user cannot reach (e.g. under /root), the data
# lives in a private dir under /tmp and $PGHOME is a symlink to it.
prepare_pghome() {
	mkdir -p "$PGENV"
	if [[ -L "$PGHOME" && ! -d "$PGHOME" ]]; then
		rm -f "$PGHOME"  # dangling symlink (e.g. /tmp was wiped)
	fi
	if [[ ! -e "$PGHOME" ]]; then
		mkdir -p "$PGHOME"
		if [[ "$(id -u)" == 0 ]]; then
			chown postgres: "$PGHOME"
			if ! runuser -u postgres -- test -w "$PGHOME" 2>/dev/null; then
				rmdir "$PGHOME"
				local ext
				ext="$(mktemp -d "${TMPDIR:-/tmp}/airlock-testenv-pg.XXXXXX")"
				chmod 755 "$ext"
				chown postgres: "$ext"
				ln -s "$ext" "$PGHOME"
				log "$PGENV is not reachable by the postgres OS user; using $ext"
			fi
		fi
	fi
	if [[ "$(id -u)" == 0 ]]; then
		chown postgres: "$PGHOME/" || die "cannot chown $PGHOME to postgres"
	fi
	set_paths
}

cluster_running() {
	[[ -f "$PGDATA_DIR/PG_VERSION" ]] || return 1
	find_pgbin || return 1
	as_pg "$PGBIN/pg_ctl" -D "$PGDATA_DIR" status >/dev/null 2>&1 </dev/null
}

pick_port() {
	if [[ -n "${AIRLOCK_PG_THROWAWAY_PORT:-}" ]]; then
		tcp_open "$AIRLOCK_PG_THROWAWAY_PORT" && die "AIRLOCK_PG_THROWAWAY_PORT=$AIRLOCK_PG_THROWAWAY_PORT is already in use"
		echo "$AIRLOCK_PG_THROWAWAY_PORT"; return 0
	fi
	local p
	for ((p = 55432; p < 55532; p++)); do
		[[ "$p" == "$PROBE_PORT" ]] && continue
		if ! tcp_open "$p"; then echo "$p"; return 0; fi
	done
	die "no free TCP port found in 55432-55531 for the throwaway PostgreSQL"
}

start_throwaway() {
	if ! find_pgbin || ! tool psql >/dev/null; then
		install_postgres
	fi
	ensure_pg_os_user
	prepare_pghome

	# Serialise concurrent callers. fd 9 is closed for pg_ctl so the server
	# does not inherit (and hold) the lock.
	if command -v flock >/dev/null 2>&1; then
		exec 9>"$PGENV/pg.lock"
		flock -w 300 9 || die "timed out waiting for $PGENV/pg.lock"
	fi

	local port=""
	[[ -f "$PORT_FILE" ]] && port="$(<"$PORT_FILE")"

	if [[ -n "$port" ]] && cluster_running && server_answers "$port"; then
		log "reusing throwaway PostgreSQL on $HOST:$port (data: $PGDATA_DIR)"
		ensure_db "$port"
		dsn_for "$port"
		return 0
	fi

	if [[ ! -f "$PGDATA_DIR/PG_VERSION" ]]; then
		log "initdb $PGDATA_DIR with $PGBIN/initdb"
		rm -rf "$PGDATA_DIR"
		as_pg "$PGBIN/initdb" -D "$PGDATA_DIR" -U postgres --auth=trust \
			--encoding=UTF8 --locale=C --no-instructions >"$INITDB_LOG" 2>&1 </dev/null \
			|| { cat "$INITDB_LOG" >&2; die "initdb failed (log above, also in $INITDB_LOG)"; }
	fi

	if cluster_running; then
		# Running but not answering on the recorded port: restart it cleanly.
		log "throwaway cluster is running but not answering on port '${port:-?}'; restarting it"
		as_pg "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -m fast -w stop >&2 </dev/null 9>&- || true
	fi

	port="$(pick_port)"
	echo "$port" >"$PORT_FILE"
	log "starting throwaway PostgreSQL on $HOST:$port (data: $PGDATA_DIR, log: $LOG_FILE)"
	# No unix socket (its path may be too long or unwritable); TCP on 127.0.0.1 only.
	local opts="-c listen_addresses=$HOST -p $port -c unix_socket_directories='' -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
	if [[ "$(id -u)" == 0 ]]; then
		touch "$LOG_FILE" && chown postgres: "$LOG_FILE"
	fi
	if ! as_pg "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -l "$LOG_FILE" -o "$opts" -w -t 120 start >&2 </dev/null 9>&-; then
		tail -n 50 "$LOG_FILE" >&2 2>/dev/null || true
		die "pg_ctl start failed (server log above, also in $LOG_FILE)"
	fi
	local i
	for ((i = 0; i < 60; i++)); do
		server_answers "$port" && break
		sleep 0.5
	done
	server_answers "$port" || { tail -n 50 "$LOG_FILE" >&2 || true; die "throwaway PostgreSQL started but does not answer on $HOST:$port"; }
	ensure_db "$port"
	dsn_for "$port"
}

stop_throwaway() {
	if cluster_running; then
		log "stopping throwaway PostgreSQL ($PGDATA_DIR)"
		as_pg "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -m fast -w stop >&2 </dev/null || die "pg_ctl stop failed"
	else
		log "no throwaway PostgreSQL running"
	fi
}

purge_throwaway() {
	stop_throwaway
	if [[ -L "$PGHOME" ]]; then
		local target
		target="$(readlink "$PGHOME")"
		case "$target" in
			"${TMPDIR:-/tmp}"/airlock-testenv-pg.*) rm -rf -- "$target" ;;
		esac
		rm -f -- "$PGHOME"
	else
		rm -rf -- "$PGHOME"
	fi
	rm -f -- "$PGENV/pg.lock"
	log "removed throwaway PostgreSQL data"
}

# ----------------------------------------------------------------------- main
case "${1:-}" in
	"") ;;
	--stop) stop_throwaway; exit 0 ;;
	--purge) purge_throwaway; exit 0 ;;
	-h|--help) sed -n '2,30p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 0 ;;
	*) die "unknown argument '$1' (use --stop, --purge or no argument)" ;;
esac

# 0. explicit DSN from the caller
if [[ -n "${AIRLOCK_TEST_PG_DSN:-}" ]]; then
	psql="$(tool psql)" || die "AIRLOCK_TEST_PG_DSN is set but psql is not available to check it"
	"$psql" -X -w -q -A -t -v ON_ERROR_STOP=1 -d "$AIRLOCK_TEST_PG_DSN" -c 'SELECT 1' </dev/null >/dev/null \
		|| die "AIRLOCK_TEST_PG_DSN is set but does not connect: $AIRLOCK_TEST_PG_DSN"
	log "using AIRLOCK_TEST_PG_DSN from the environment"
	printf '%s\n' "$AIRLOCK_TEST_PG_DSN"
	exit 0
fi

# 1. an existing server with trust auth for postgres
if server_answers "$PROBE_PORT"; then
	if tool psql >/dev/null && psql_run "$PROBE_PORT" postgres -c 'SELECT 1' >/dev/null 2>&1; then
		log "using existing PostgreSQL on $HOST:$PROBE_PORT"
		ensure_db "$PROBE_PORT"
		dsn_for "$PROBE_PORT"
		exit 0
	fi
	log "PostgreSQL answers on $HOST:$PROBE_PORT but user postgres cannot connect without a password (or psql is missing); using a throwaway cluster"
else
	log "no PostgreSQL answering on $HOST:$PROBE_PORT; using a throwaway cluster"
fi

# 2. throwaway cluster
start_throwaway
