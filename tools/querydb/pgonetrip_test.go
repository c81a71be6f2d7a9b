package querydb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/airlockhq/airlock/config"
	"github.com/airlockhq/airlock/internal/pgtest"
	"github.com/airlockhq/airlock/policy"
	"github.com/airlockhq/airlock/tools"
)

// countedTool is a query_db tool on dsn whose connections count their
// flights (countingConn) into the returned counter.
func countedTool(t testing.TB, dsn string, maxRows int, conns int32) (*Tool, *atomic.Int64) {
	t.Helper()
	return countedToolOn(t, &config.Connection{Kind: config.KindPostgres, DSN: dsn, MaxConns: conns}, maxRows)
}

// countedToolOn is countedTool for the connection c (named "pg").
func countedToolOn(t testing.TB, c *config.Connection, maxRows int) (*Tool, *atomic.Int64) {
	t.Helper()
	tl := newTool(t, map[string]*config.Connection{"pg": c}, maxRows)
	var flights atomic.Int64
	cfg := tl.targets["pg"].(*postgres).cfg
	dial := cfg.ConnConfig.DialFunc
	cfg.ConnConfig.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &countingConn{Conn: c, flights: &flights}, nil
	}
	cfg.ShouldPing = func(context.Context, pgxpool.ShouldPingParams) bool { return false }
	return tl, &flights
}

// forget empties the description caches of all of tl's connections (it
// takes each, waiting for a released one's reset), so that the next read
// of any text is described first (two trips).
func forget(t testing.TB, tl *Tool) {
	t.Helper()
	pool, err := tl.targets["pg"].(*postgres).getPool(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var held []*pgxpool.Conn
	defer func() {
		for _, c := range held {
			c.Release()
		}
	}()
	for range pool.Config().MaxConns {
		c, err := pool.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
		delete(c.Conn().PgConn().CustomData(), descCacheKey)
	}
}

// readParams runs sql as a read with params (nil: none).
func readParams(t testing.TB, ctx context.Context, tl *Tool, sql string, params ...any) (*tools.Result, error) {
	t.Helper()
	args := map[string]any{"connection": "pg", "sql": sql}
	if params != nil {
		args["params"] = params
	}
	c, err := tl.Parse(args)
	if err != nil {
		return nil, err
	}
	c.Access = policy.Read
	return tl.Execute(ctx, c)
}

// trips runs sql as readParams does and returns its result and the
// flights it took.
func trips(t testing.TB, tl *Tool, flights *atomic.Int64, sql string, params ...any) (*tools.Result, int64, error) {
	t.Helper()
	before := flights.Load()
	r, err := readParams(t, context.Background(), tl, sql, params...)
	return r, flights.Load() - before, err
}

// shown is everything of a result the agent and masking see: the columns,
// their sources and lineage, each value with its Go type, and the notes.
func shown(t testing.TB, r *tools.Result, err error) string {
	t.Helper()
	if err != nil {
		return "error: " + err.Error()
	}
	js, jerr := json.Marshal(struct {
		Columns, Sources, Lineage, Rows any
		N                               int
		Truncated                       bool
		Note                            string
	}{r.Table.Columns, r.Table.Sources, r.Table.Lineage, r.Table.Rows, r.Rows, r.Truncated, r.Note})
	if jerr != nil {
		t.Fatal(jerr)
	}
	return fmt.Sprintf("%s\n%#v", js, r.Table.Rows)
}

const typesSchema = `CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN posint AS int CHECK (VALUE > 0);
CREATE TABLE ty (i2 int2, i4 int4, i8 int8, f4 float4, f8 float8, n numeric, t text, b bytea, ok bool,
	u uuid, j json, jb jsonb, ts timestamp, tz timestamptz, d date, iv interval, ai int[], at text[],
	m mood, p posint, vc varchar(5), ch char(3), am mood[], tsa timestamptz[], nm name, o oid);
INSERT INTO ty VALUES
	(1, 2, 9007199254740993, 1.5, 2.25, 12345678901234567890.0123, 'one', '\x00ff41', true,
	 '6f1c2a5e-9a55-4e43-9c55-0d2b8d0c6a11', '{"a": [1, "x"]}', '{"b": {"c": null}}', '2026-01-02 03:04:05.123456',
	 '2026-01-02T03:04:05Z', '2026-03-04', '1 day 02:03:04', '{1,NULL,3}', '{"a b",NULL,"c"}',
	 'happy', 7, 'abc', 'xy', '{sad,ok}', '{2026-01-02T03:04:05Z}', 'nm', 42),
	(-1, -2, -3, 'NaN', '-Infinity', 'NaN', '', '', false,
	 '00000000-0000-0000-0000-000000000000', '[]', '[]', 'infinity', '-infinity', 'infinity', '-1 mon',
	 '{}', '{}', 'sad', 1, '', '', '{}', '{}', '', 0),
	(NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
	 NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)`

// A repeated read takes one round trip and gives what the two-trip read
// gives, to the byte and the Go type, over PostgreSQL's common types, with
// and without params; the first read of a text takes two.
func TestPostgresReadOneTrip(t *testing.T) {
	dsn, pool := pgtest.Schema(t)
	if _, err := pool.Exec(context.Background(), typesSchema); err != nil {
		t.Fatal(err)
	}
	tl, flights := countedTool(t, dsn, 10, 1)
	if _, err := readParams(t, context.Background(), tl, "SELECT 0"); err != nil { // connect
		t.Fatal(err)
	}
	for _, tc := range []struct {
		sql        string
		params     []any // the first reads
		params2    []any // a repeated read with other values
		wantPrefix string
	}{
		{sql: "SELECT 1"},
		{sql: "SELECT * FROM ty ORDER BY i4 NULLS LAST"},
		{sql: "SELECT t AS alias, upper(t) AS up, i8 * 2 AS dbl FROM ty ORDER BY i4"},
		{sql: "SELECT m, p, am, iv FROM ty WHERE m = $1", params: []any{"happy"}, params2: []any{"sad"}},
		{sql: "SELECT i4, t, jb FROM ty WHERE i4 = $1", params: []any{float64(2)}, params2: []any{float64(-2)}},
		{sql: "SELECT $1::int8 + 1 AS a, $2::text AS b, $3::numeric AS c, $4::timestamptz AS d, $5::bool AS e, $6::jsonb AS f, $7::uuid AS g, $8::int[] AS h",
			params:  []any{float64(41), "x", "1.25", "2026-01-02T03:04:05Z", true, `{"k": 1}`, "6f1c2a5e-9a55-4e43-9c55-0d2b8d0c6a11", "{1,2}"},
			params2: []any{nil, nil, json.Number("2.5"), nil, false, nil, nil, nil}},
		{sql: "SELECT $1 AS untyped, $2::text AS t", params: []any{"a", "b"}, params2: []any{"c", nil}},
		{sql: "SELECT count(*), sum(n), max(tz) FROM ty"},
		{sql: "SELECT g FROM generate_series(1, 20) g"}, // cut at max_rows
		{sql: "SELECT repeat('x', 70000) AS long"},      // a value cut
		{sql: "SELECT ty.* FROM ty, generate_series(1, 3) ORDER BY 1 NULLS FIRST"},
	} {
		t.Run(tc.sql, func(t *testing.T) {
			forget(t, tl)
			cold, n, cerr := trips(t, tl, flights, tc.sql, tc.params...)
			if n != 2 {
				t.Errorf("first read: %d round trips, want 2", n)
			}
			if cerr != nil {
				t.Fatalf("first read: %v", cerr)
			}
			hit, n, herr := trips(t, tl, flights, tc.sql, tc.params...)
			if n != 1 {
				t.Errorf("repeated read: %d round trips, want 1", n)
			}
			if a, b := shown(t, cold, cerr), shown(t, hit, herr); a != b {
				t.Errorf("repeated read differs:\n two trips: %s\n  one trip: %s", a, b)
			}
			if tc.params2 == nil {
				return
			}
			hit, n, herr = trips(t, tl, flights, tc.sql, tc.params2...)
			if n != 1 {
				t.Errorf("repeated read, other params: %d round trips, want 1", n)
			}
			forget(t, tl)
			cold, _, cerr = trips(t, tl, flights, tc.sql, tc.params2...)
			if a, b := shown(t, cold, cerr), shown(t, hit, herr); a != b {
				t.Errorf("repeated read, other params, differs:\n two trips: %s\n  one trip: %s", a, b)
			}
		})
	}
}

// A schema change between two reads of the same text gives what a first
// read would give: where the parameters' types or the columns' formats
// changed, or a view now stands where a table was, the one-trip read drops
// its rows and reads again in two (three in all); where they did not (a
// column renamed, an int made text), it is kept, with the sources and the
// decoding of now. Masking follows a rename at the next call
// (TestPostgresSourcesFollowRenames covers the rules).
func TestPostgresReadOneTripSchemaChanges(t *testing.T) {
	dsn, pool := pgtest.Schema(t)
	tl, flights := countedTool(t, dsn, 10, 1)
	ctx := context.Background()
	ddl := func(sql string) {
		t.Helper()
		if _, err := pool.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	ddl(`CREATE TABLE s (k int, a int, b text); INSERT INTO s VALUES (1, 7, 'x'), (2, 8, 'y')`)
	if _, err := readParams(t, ctx, tl, "SELECT 0"); err != nil { // connect
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, ddl, sql string
		params         []any
		trips          int64 // after the change
		sources        string
	}{
		{"column renamed", "ALTER TABLE s RENAME COLUMN b TO ssn", "SELECT * FROM s ORDER BY k", nil, 1, "s.k,s.a,s.ssn"},
		{"int made text (same format)", "ALTER TABLE s ALTER a TYPE text", "SELECT a FROM s ORDER BY k", nil, 1, "s.a"},
		{"text made interval (other format)", "ALTER TABLE s ALTER a TYPE interval USING (a || ' days')::interval", "SELECT a FROM s ORDER BY k", nil, 3, "s.a"},
		{"column dropped", "ALTER TABLE s DROP COLUMN a", "SELECT * FROM s ORDER BY k", nil, 3, "s.k,s.ssn"},
		{"column added", "ALTER TABLE s ADD COLUMN c numeric DEFAULT 1.5", "SELECT * FROM s ORDER BY k", nil, 3, "s.k,s.ssn,s.c"},
		{"param type changed", "ALTER TABLE s ALTER k TYPE text", "SELECT ssn FROM s WHERE k = $1", []any{"1"}, 3, "s.ssn"},
		// The same parameters and formats: only the lookups say the
		// relation is a view now.
		{"table made a view", "DROP TABLE s; CREATE TABLE base (k text, card text); INSERT INTO base VALUES ('1', 'x'); CREATE VIEW s AS SELECT k, card AS ssn, 1.5 AS c FROM base",
			"SELECT * FROM s ORDER BY k", nil, 4, "s.k,s.ssn,s.c"},
		{"view made a table", "DROP VIEW s; CREATE TABLE s (k text, card text); INSERT INTO s VALUES ('1', 'y')",
			"SELECT * FROM s ORDER BY k", nil, 2, "s.k,s.card"},
		{"table dropped", "DROP TABLE s", "SELECT * FROM s ORDER BY k", nil, 1, "error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Warm: read twice, the second in one trip (unless it reads
			// a view).
			for range 2 {
				if _, _, err := trips(t, tl, flights, tc.sql, tc.params...); err != nil {
					t.Fatalf("before: %v", err)
				}
			}
			ddl(tc.ddl)
			hit, n, herr := trips(t, tl, flights, tc.sql, tc.params...)
			if n != tc.trips {
				t.Errorf("after %s: %d round trips, want %d", tc.ddl, n, tc.trips)
			}
			if tc.sources == "error" {
				if herr == nil || !strings.Contains(herr.Error(), "42P01") {
					t.Errorf("after %s: %v, want 42P01", tc.ddl, herr)
				}
			} else if herr != nil {
				t.Fatalf("after %s: %v", tc.ddl, herr)
			} else if tc.sources != "" && joinSources(hit.Table.Sources) != tc.sources {
				t.Errorf("after %s: sources %s, want %s", tc.ddl, joinSources(hit.Table.Sources), tc.sources)
			}
			forget(t, tl)
			cold, _, cerr := trips(t, tl, flights, tc.sql, tc.params...)
			if a, b := shown(t, cold, cerr), shown(t, hit, herr); a != b {
				t.Errorf("after %s the read differs from a first read:\n first: %s\n  read: %s", tc.ddl, a, b)
			}
			// And the read after it: in one trip where it can be.
			again, n, aerr := trips(t, tl, flights, tc.sql, tc.params...)
			want := int64(1)
			switch {
			case strings.Contains(tc.name, "a view"):
				want = 3 // a view over a table: one more lookup
			case tc.sources == "error":
				// Described afresh (a failed read is not remembered):
				// the first flight fails, and its ROLLBACK is one more.
				want = 2
			}
			if n != want {
				t.Errorf("after %s, read again: %d round trips, want %d", tc.ddl, n, want)
			}
			if a, b := shown(t, cold, cerr), shown(t, again, aerr); a != b {
				t.Errorf("after %s, read again, the read differs:\n first: %s\n  read: %s", tc.ddl, a, b)
			}
		})
	}
	// The connection is clean after all that.
	r, err := readParams(t, ctx, tl, "SELECT current_setting('transaction_read_only')")
	if err != nil || r.Table.Rows[0][0] != "on" {
		t.Fatalf("after: %v %v", r, err)
	}
}

// A new connection describes a text before it reads it in one trip: the
// descriptions live and die with their connection.
func TestPostgresReadOneTripNewConnection(t *testing.T) {
	dsn, _ := pgtest.Schema(t)
	tl, flights := countedTool(t, dsn, 10, 1)
	for i, want := range []int64{2, 1} {
		if _, n, err := trips(t, tl, flights, "SELECT 42"); err != nil || n != want {
			t.Fatalf("read %d: %v, %d round trips, want %d", i, err, n, want)
		}
	}
	p := tl.targets["pg"].(*postgres)
	p.pool.Reset()                                                                 // closes the connection
	if _, err := readParams(t, context.Background(), tl, "SELECT 0"); err != nil { // connect
		t.Fatal(err)
	}
	if _, n, err := trips(t, tl, flights, "SELECT 42"); err != nil || n != 2 {
		t.Fatalf("on a new connection: %v, %d round trips, want 2", err, n)
	}
}

// A one-trip read keeps the two-trip read's guarantees: its READ ONLY
// transaction and time limit, the row limit, the cut by bytes and the
// cancel of a call whose context ends (both stop the query on the
// server), the parameter count's refusal, and errors leave the connection
// clean.
func TestPostgresReadOneTripGuarantees(t *testing.T) {
	dsn, pool := pgtest.Schema(t)
	tl, flights := countedTool(t, dsn, 10, 1)
	tl.targets["pg"].(*postgres).limits.StatementTimeout = 3 * time.Second
	ctx := context.Background()
	warm := func(sql string, params ...any) {
		t.Helper()
		for range 2 {
			if _, err := readParams(t, ctx, tl, sql, params...); err != nil {
				t.Fatalf("%s: %v", sql, err)
			}
		}
	}
	const check = "SELECT current_setting('transaction_read_only'), current_setting('statement_timeout')"
	clean := func(after string) {
		t.Helper()
		r, err := readParams(t, ctx, tl, check)
		if err != nil {
			t.Fatalf("after %s: %v", after, err)
		}
		if r.Table.Rows[0][0] != "on" || r.Table.Rows[0][1] != "3s" {
			t.Errorf("after %s: %v", after, r.Table.Rows[0])
		}
	}
	warm(check)
	if _, n, err := trips(t, tl, flights, check); err != nil || n != 1 {
		t.Fatalf("%s: %v, %d round trips", check, err, n)
	}
	clean("a warm read")

	// Row limit.
	const rows = "SELECT g FROM generate_series(1, $1::int) g"
	warm(rows, float64(3))
	r, n, err := trips(t, tl, flights, rows, float64(11))
	if err != nil || n != 1 || r.Rows != 10 || !r.Truncated || !strings.Contains(r.Note, "more rows exist") {
		t.Fatalf("11 rows at max_rows 10: %v, %d trips, %+v", err, n, r)
	}

	// Cut by bytes, cancelled on the server (on a connection whose
	// max_rows is not reached first).
	const marker = "onetrip_bytes_marker"
	const cut = "SELECT repeat('x', 60000) AS " + marker + ", generate_series(1, $1::int8)"
	big, bigFlights := countedTool(t, dsn, 1000000, 1)
	for range 2 {
		if _, err := readParams(t, ctx, big, cut, float64(1)); err != nil {
			t.Fatal(err)
		}
	}
	r, n, err = trips(t, big, bigFlights, cut, float64(100000000))
	if err != nil || n != 1 || !r.Truncated || r.Rows == 0 || r.Rows >= 1000 || !strings.Contains(r.Note, "bytes per result") {
		t.Fatalf("cut by bytes: %v, %d trips, %+v", err, n, r)
	}
	waitGone(t, pool, marker)
	if r, err := readParams(t, ctx, big, "SELECT 1"); err != nil || r.Rows != 1 {
		t.Fatalf("after a read cut by bytes: %v", err)
	}

	// A call whose context ends.
	const long = "SELECT count(*) AS onetrip_cancel_marker FROM generate_series(1, $1::int8)"
	warm(long, float64(1))
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	before := flights.Load()
	go func() {
		_, err := readParams(t, cctx, tl, long, float64(2000000001))
		done <- err
	}()
	for i := 0; !activeQuery(t, pool, "onetrip_cancel_marker"); i++ {
		if i > 400 {
			t.Fatal("the statement never started")
		}
		time.Sleep(25 * time.Millisecond)
	}
	if n := flights.Load() - before; n != 1 {
		t.Errorf("the long read took %d round trips, want 1", n)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled call: %v", err)
	}
	waitGone(t, pool, "onetrip_cancel_marker")
	clean("a cancelled read")
	// A call whose context ended before it began sends nothing.
	before = flights.Load()
	if _, err := readParams(t, cctx, tl, long, float64(1)); !errors.Is(err, context.Canceled) {
		t.Fatalf("a call cancelled before it began: %v", err)
	}
	if n := flights.Load() - before; n != 0 {
		t.Errorf("a call cancelled before it began took %d round trips", n)
	}
	clean("a read cancelled before it began")

	// Errors, and the parameter count.
	const div = "SELECT 10 / $1::int AS q"
	warm(div, float64(2))
	for _, bad := range []struct {
		sql    string
		params []any
		want   string
	}{
		{div, []any{float64(0)}, "22012"},
		{div, []any{"ten"}, "22P02"},
		{div, []any{float64(1), float64(2)}, "the statement has 1 parameters ($1, $2, ...) but 2 params were given"},
		{div, []any{}, "the statement has 1 parameters ($1, $2, ...) but 0 params were given"},
		{div, []any{true}, "params: "},
		{"SELECT count(*) FROM generate_series(1, $1::int8)", []any{float64(1000000000000)}, "cancelled"},
	} {
		if bad.sql != div {
			warm(bad.sql, float64(1))
		}
		_, err := readParams(t, ctx, tl, bad.sql, bad.params...)
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s %v: %v, want %q", bad.sql, bad.params, err, bad.want)
		}
		forget(t, tl)
		_, cerr := readParams(t, ctx, tl, bad.sql, bad.params...)
		if cerr == nil || err == nil || cerr.Error() != err.Error() {
			t.Errorf("%s %v: %v; a first read: %v", bad.sql, bad.params, err, cerr)
		}
		warm(bad.sql, float64(1))
		clean(bad.sql)
	}
	if r, err := readParams(t, ctx, tl, div, float64(5)); err != nil || fmt.Sprint(r.Table.Rows[0][0]) != "2" {
		t.Fatalf("after the errors: %v %v", r, err)
	}
}

// The cache of descriptions is bounded in entries and in the bytes of the
// texts it keeps, starting over when full.
func TestDescriptionCacheBounds(t *testing.T) {
	for _, tc := range []struct {
		name    string
		texts   int
		size    int
		entries int // after putting texts texts of size bytes
	}{
		{"few", 3, 10, 3},
		{"entries bound", descCacheEntries + 1, 10, 1},
		{"at the entries bound", descCacheEntries, 10, descCacheEntries},
		{"bytes bound", 5, descCacheBytes / 4, 1},
		{"at the bytes bound", 4, descCacheBytes / 4, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c descriptionCache
			for i := range tc.texts {
				sql := fmt.Sprintf("%0*d", tc.size, i)
				c.put(sql, &description{formats: []int16{1}})
				c.put(sql, &description{formats: []int16{0}}) // replaced, not counted twice
			}
			if len(c.m) != tc.entries {
				t.Errorf("%d entries, want %d", len(c.m), tc.entries)
			}
			if c.bytes != tc.entries*tc.size {
				t.Errorf("%d bytes, want %d", c.bytes, tc.entries*tc.size)
			}
			last := fmt.Sprintf("%0*d", tc.size, tc.texts-1)
			if d := c.get(last); d == nil || d.formats[0] != 0 {
				t.Errorf("the last text: %+v", d)
			}
		})
	}
	var c descriptionCache
	if c.get("x") != nil {
		t.Error("an empty cache answered")
	}
}

// BenchmarkQueryDBPostgresTrips is a read described every call (miss: two
// round trips) against the same read repeated (hit: one). Besides time it
// reports the round trips and the process's CPU time (user and system,
// all threads) per read: on a shared host wall time mostly measures the
// other processes.
func BenchmarkQueryDBPostgresTrips(b *testing.B) {
	dsn, pool := pgtest.Schema(b)
	if _, err := pool.Exec(context.Background(), `CREATE TABLE people (id int PRIMARY KEY, name text, email text, ssn text);
INSERT INTO people SELECT g, 'name ' || g, 'user' || g || '@example.com', '123-45-' || lpad(g::text, 4, '0') FROM generate_series(1, 1000) g`); err != nil {
		b.Fatal(err)
	}
	tl, flights := countedTool(b, dsn, 100, 1)
	for _, sql := range []struct{ name, sql string }{
		{"select1", "SELECT 1"},
		{"rows100", "SELECT id, name, email, ssn FROM people WHERE id <= 100"},
	} {
		for _, miss := range []bool{true, false} {
			name := sql.name + "/hit"
			if miss {
				name = sql.name + "/miss"
			}
			b.Run(name, func(b *testing.B) {
				ctx := context.Background()
				if _, err := readParams(b, ctx, tl, sql.sql); err != nil {
					b.Fatal(err)
				}
				r, err := readParams(b, ctx, tl, "SELECT pg_backend_pid()")
				if err != nil {
					b.Fatal(err)
				}
				backend := fmt.Sprint(r.Table.Rows[0][0])
				srv0 := backendCPU(backend)
				b.ReportAllocs()
				var cpu time.Duration
				n, trips := 0, int64(0)
				for b.Loop() {
					if miss {
						b.StopTimer()
						forget(b, tl)
						b.StartTimer()
					}
					c0, t0 := cpuTime(b), flights.Load()
					if _, err := readParams(b, ctx, tl, sql.sql); err != nil {
						b.Fatal(err)
					}
					cpu += cpuTime(b) - c0
					trips += flights.Load() - t0
					n++
				}
				b.ReportMetric(float64(cpu.Nanoseconds())/float64(n), "cpu-ns/op")
				if srv0 >= 0 {
					b.ReportMetric(float64((backendCPU(backend)-srv0).Nanoseconds())/float64(n), "server-cpu-ns/op")
				}
				b.ReportMetric(float64(trips)/float64(n), "trips/op")
			})
		}
	}
}

// cpuTime is the process's CPU time so far, user and system.
func cpuTime(b testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// backendCPU is the CPU time so far of the PostgreSQL backend pid, when it
// runs on this host (-1 otherwise), from /proc in clock ticks (assumed 100
// a second, Linux's USER_HZ).
func backendCPU(pid string) time.Duration {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return -1
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return -1
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	k, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return -1
	}
	return time.Duration(u+k) * 10 * time.Millisecond
}
