package server_test

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/airlockhq/airlock/recorder"
	"github.com/airlockhq/airlock/server"
	"github.com/airlockhq/airlock/store"
)

// gatewayProc is `airlock serve` running as a child process.
type gatewayProc struct {
	cmd  *exec.Cmd
	base string
	mu   sync.Mutex
	logs strings.Builder
}

var listening = regexp.MustCompile(`airlock listening on (\S+)`)

// startProc runs prefix + [airlock serve --config cfg --listen 127.0.0.1:0]
// and waits until it listens.
func startProc(t *testing.T, cfgPath string, prefix ...string) *gatewayProc {
	t.Helper()
	args := append(prefix, airlockBin, "serve", "--config", cfgPath, "--listen", "127.0.0.1:0")
	g := &gatewayProc{cmd: exec.Command(args[0], args[1:]...)}
	stderr, err := g.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			g.mu.Lock()
			g.logs.WriteString(sc.Text() + "\n")
			g.mu.Unlock()
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
		close(addr)
	}()
	t.Cleanup(func() {
		g.cmd.Process.Kill()
		g.cmd.Wait()
		if t.Failed() {
			t.Logf("gateway log:\n%s", g.log())
		}
	})
	select {
	case a, ok := <-addr:
		if !ok {
			t.Fatalf("gateway exited before listening:\n%s", g.log())
		}
		g.base = "http://" + a
	case <-time.After(60 * time.Second):
		t.Fatalf("gateway did not listen:\n%s", g.log())
	}
	return g
}

func (g *gatewayProc) log() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.logs.String()
}

// stop ends the gateway gracefully.
func (g *gatewayProc) stop(t *testing.T) {
	t.Helper()
	g.cmd.Process.Signal(syscall.SIGTERM)
	if err := g.cmd.Wait(); err != nil {
		t.Fatalf("gateway exit: %v\n%s", err, g.log())
	}
}

// calls groups a journal's call records by call id.
func calls(recs []*recorder.Record) (started map[string]*recorder.Record, finished map[string][]*recorder.Record) {
	started, finished = map[string]*recorder.Record{}, map[string][]*recorder.Record{}
	for _, r := range recs {
		switch r.Type {
		case recorder.Started:
			started[r.CallID] = r
		case recorder.Finished:
			finished[r.CallID] = append(finished[r.CallID], r)
		}
	}
	return started, finished
}

func airlockCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	out, err := exec.Command(airlockBin, args...).CombinedOutput()
	return string(out), err
}

// SIGKILL the gateway while calls run; after a restart every call is
// either finished or marked unknown — none missing — and the chain
// verifies.
func TestKilledGatewayLeavesNoCallMissing(t *testing.T) {
	// Short limits: the killed gateway's statements live on in PostgreSQL
	// until their statement timeout ends them.
	e := newEnvWith(t, strings.Replace(defaultRules, "  max_rows: 100\n",
		"  max_rows: 100\n  call_timeout: 6s\n  statement_timeout: 5s\n", 1)+"journal: {checkpoint_interval: 1h}\n")
	g := startProc(t, e.cfgPath)
	c := httpClient(t, "streamable-http", g.base, e.token(t, "alice", "analysts"))
	grant(t, c, "pg", "read")
	for range 5 {
		structured(t, query(t, c, "pg", "SELECT count(*) FROM t"))
	}
	const slow = 4
	for range slow {
		go func() {
			// Errors when the gateway dies; that is the point.
			c.CallTool(context.Background(), callReq("pg", "SELECT count(*) FROM generate_series(1, 400000000)"))
		}()
	}
	// Wait until every slow call's started record is durable.
	deadline := time.Now().Add(30 * time.Second)
	for {
		started, finished := calls(journal(t, e))
		open := 0
		for id := range started {
			if len(finished[id]) == 0 {
				open++
			}
		}
		if open == slow {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d calls in flight", open)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := g.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	g.cmd.Wait()

	g2 := startProc(t, e.cfgPath)
	started, finished := calls(journal(t, e))
	ok, unknown := 0, 0
	for id, s := range started {
		f := finished[id]
		if len(f) != 1 {
			t.Errorf("call %s (%s): %d finished records", id, s.Tool, len(f))
			continue
		}
		switch f[0].Outcome {
		case recorder.OutcomeOK:
			ok++
		case recorder.OutcomeUnknown:
			unknown++
			if f[0].Tool != "query_db" || !strings.Contains(string(f[0].Arguments), "generate_series") {
				t.Errorf("unknown record does not describe the call: %+v", f[0])
			}
		default:
			t.Errorf("call %s: outcome %s", id, f[0].Outcome)
		}
	}
	if ok != 6 || unknown != slow {
		t.Errorf("%d ok, %d unknown; want 6 (grant + 5 queries) and %d", ok, unknown, slow)
	}
	for id := range finished {
		if started[id] == nil {
			t.Errorf("finished record without a started record: %s", id)
		}
	}
	// The restarted gateway serves, and nothing was retried.
	c2 := httpClient(t, "streamable-http", g2.base, e.token(t, "alice", "analysts"))
	structured(t, query(t, c2, "pg", "SELECT 1"))
	g2.stop(t)
	if n := countStarted(journal(t, e), "query_db"); n != 5+slow+1 {
		t.Errorf("%d query_db calls started, want %d (nothing retried)", n, 5+slow+1)
	}

	// The chain survived the crash: verify exits 0; an edit makes it exit 1.
	if out, err := airlockCmd(t, "journal", "verify", "--config", e.cfgPath); err != nil {
		t.Fatalf("verify after the crash: %v\n%s", err, out)
	}
	db := rawDB(t, e)
	if _, err := db.Exec(`UPDATE journal SET data = replace(data, '"alice"', '"mallory"') WHERE seq = 9`); err != nil {
		t.Fatal(err)
	}
	out, err := airlockCmd(t, "journal", "verify", "--config", e.cfgPath)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(out, "FAIL seq 9") {
		t.Fatalf("verify after tampering: %v\n%s", err, out)
	}
}

// faultJournal fails appends on demand: an injected writer fault between
// the recorder and a real store.
type faultJournal struct {
	inner      *store.SQLite
	failAll    atomic.Bool
	failFinish atomic.Bool
}

func (f *faultJournal) AppendJournal(ctx context.Context, e *store.Entry) (int64, error) {
	if f.failAll.Load() || f.failFinish.Load() && e.Type == recorder.Finished {
		return 0, errors.New("injected: write failed (fsync: input/output error)")
	}
	return f.inner.AppendJournal(ctx, e)
}

// With the journal's writes failing, no call executes. When only the
// finished record fails, the call ran, its result is withheld, and the
// next start records it as unknown.
func TestJournalWriteFaultRefusesCalls(t *testing.T) {
	e := newEnv(t)
	sink, err := store.OpenSQLite(context.Background(), e.cfg.Store)
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	fault := &faultJournal{inner: sink}
	// Not e.start: this gateway must really stop (releasing its instance)
	// before the restart below.
	g, err := server.New(context.Background(), e.cfg, server.Options{Journal: fault, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(g.Handler())
	base := ts.URL
	c := httpClient(t, "streamable-http", base, e.token(t, "wendy", "writers"))
	grant(t, c, "pg", "write")

	fault.failAll.Store(true)
	for i := range 3 {
		res, err := c.CallTool(context.Background(), callReq("pg", fmt.Sprintf("INSERT INTO t VALUES (%d, 'must not exist')", 900+i)))
		if err == nil && !res.IsError {
			t.Fatalf("call ran with the journal failing: %s", text(res))
		}
		if err == nil || !strings.Contains(err.Error(), "journal unavailable") {
			t.Errorf("want a journal-unavailable error, got %v", err)
		}
	}
	var n int
	if err := e.pg.QueryRow(context.Background(), "SELECT count(*) FROM t WHERE id >= 900").Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d refused INSERTs executed (%v)", n, err)
	}

	fault.failAll.Store(false)
	fault.failFinish.Store(true)
	if _, err := c.CallTool(context.Background(), callReq("pg", "INSERT INTO t VALUES (950, 'ran, result withheld')")); err == nil {
		t.Fatal("the agent got a result the journal does not hold")
	}
	fault.failFinish.Store(false)
	c.Close()
	ts.Close()
	if err := errors.Join(g.Drain(), g.Close()); err != nil {
		t.Fatal(err)
	}
	// Restart: the call whose finished record failed is closed as unknown.
	g2, err := server.New(context.Background(), e.cfg, server.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer g2.Close()
	started, finished := calls(journal(t, e))
	found := false
	for id, s := range started {
		if strings.Contains(string(s.Arguments), "950") {
			found = true
			if f := finished[id]; len(f) != 1 || f[0].Outcome != recorder.OutcomeUnknown {
				t.Errorf("call with the failed finished record: %+v", f)
			}
		}
	}
	if !found {
		t.Fatal("the executed call has no started record")
	}
}

// A full disk (a real, small tmpfs in a private mount namespace) refuses
// calls: every statement that ran has a durable started record, and once
// the disk is full nothing runs.
func TestFullDiskRefusesCalls(t *testing.T) {
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("unshare not installed; TestJournalWriteFaultRefusesCalls covers write faults")
	}
	ns := []string{"unshare", "--mount", "--propagation", "private"}
	if os.Geteuid() != 0 {
		ns = append(ns, "--user", "--map-root-user")
	}
	probe := t.TempDir()
	if out, err := exec.Command(ns[0], append(ns[1:], "sh", "-c", `mount -t tmpfs -o size=64k tmpfs "$0"`, probe)...).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v: %s); TestJournalWriteFaultRefusesCalls covers write faults", err, out)
	}
	e := newEnvWith(t, defaultRules)
	dir := filepath.Dir(e.cfgPath)
	storeDir := filepath.Join(dir, "full")
	if err := os.Mkdir(storeDir, 0o700); err != nil {
		t.Fatal(err)
	}
	cfg, _ := os.ReadFile(e.cfgPath)
	// The store on the tmpfs; keys (which the test needs) outside it.
	yaml := strings.Replace(string(cfg), "store: sqlite:airlock.db", "store: sqlite:full/airlock.db", 1)
	yaml = strings.Replace(yaml, "dev_issuer: {enabled: true}", "dev_issuer: {enabled: true, key_file: "+e.cfg.Identity.DevIssuer.KeyFile+"}", 1)
	yaml += "journal: {checkpoint_key_file: " + filepath.Join(dir, "cp.key") + ", max_record_bytes: 65536}\n"
	if err := os.WriteFile(e.cfgPath, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	g := startProc(t, e.cfgPath, append(ns, "sh", "-c", `mount -t tmpfs -o size=768k tmpfs "$0" && exec "$@"`, storeDir)...)
	// The store as the gateway sees it, through its mount namespace.
	storeRoot := fmt.Sprintf("/proc/%d/root%s", g.cmd.Process.Pid, storeDir)

	c := httpClient(t, "streamable-http", g.base, e.token(t, "wendy", "writers"))
	grant(t, c, "pg", "write")
	// Fill the disk. At first the small started records still fit where
	// big finished ones fail (those calls ran and are journaled as started;
	// their results are withheld); keep going until calls are refused
	// before they run, several times in a row.
	var answered, refused []int
	notRun := 0
	for i := 1; i <= 400 && notRun < 3; i++ {
		id := 5000 + i
		// Each result is ~30 KB, so the journal fills the disk quickly.
		res, err := c.CallTool(context.Background(), callReq("pg", fmt.Sprintf("INSERT INTO t VALUES (%d, repeat('x', 30000)) RETURNING v", id)))
		switch {
		case err == nil && !res.IsError:
			answered = append(answered, id)
		case err != nil && strings.Contains(err.Error(), "journal unavailable"):
			refused = append(refused, id)
			var n int
			if err := e.pg.QueryRow(context.Background(), "SELECT count(*) FROM t WHERE id = $1", id).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				notRun++
			} else {
				notRun = 0
			}
		default:
			t.Fatalf("call %d: %v %v", id, err, res)
		}
	}
	if notRun < 3 || len(answered) == 0 {
		t.Fatalf("%d answered, %d refused, never refused before running: the disk never filled", len(answered), len(refused))
	}
	// SQLite resolves symlinks in a database path, and /proc/PID/root would
	// resolve to our own root: copy the files out of the gateway's mount
	// namespace instead (it is idle now; SQLite rebuilds the WAL index).
	copyDir := t.TempDir()
	for _, name := range []string{"airlock.db", "airlock.db-wal"} {
		b, err := os.ReadFile(storeRoot + "/" + name)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(copyDir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	st, err := store.OpenSQLite(context.Background(), "sqlite:"+filepath.Join(copyDir, "airlock.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	entries, err := st.JournalAfter(context.Background(), 0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	var journaled []string
	for i := range entries {
		r, _ := recorder.Decode(&entries[i])
		if r != nil && r.Type == recorder.Started {
			journaled = append(journaled, string(r.Arguments))
		}
	}
	hasStarted := func(id int) bool {
		for _, a := range journaled {
			if strings.Contains(a, fmt.Sprintf("VALUES (%d,", id)) {
				return true
			}
		}
		return false
	}
	rows, err := e.pg.Query(context.Background(), "SELECT id FROM t WHERE id > 5000 ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	var executed []int
	for rows.Next() {
		var id int
		rows.Scan(&id)
		executed = append(executed, id)
	}
	rows.Close()
	for _, id := range executed {
		if !hasStarted(id) {
			t.Errorf("INSERT %d executed without a durable started record", id)
		}
	}
	if len(entries) == 0 || len(executed) == 0 {
		t.Fatalf("%d journal entries, %d executed: nothing to compare", len(entries), len(executed))
	}
	t.Logf("%d calls answered, %d executed, %d refused before the test stopped", len(answered), len(executed), len(refused))
}

// rawDB opens the env's store file directly, as an attacker with file
// access would.
func rawDB(t *testing.T, e *env) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+strings.TrimPrefix(e.cfg.Store, "sqlite:")+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// syncBuf is a log sink safe for the gateway's goroutines.
type syncBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// While the journal is unavailable every call is refused, but the log
// gets one line for the first refusal, not one per call (the rest are
// counted into a summary line per interval).
func TestJournalOutageLogsOnce(t *testing.T) {
	e := newEnv(t)
	sink, err := store.OpenSQLite(context.Background(), e.cfg.Store)
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	fault := &faultJournal{inner: sink}
	logs := &syncBuf{}
	_, base := e.start(t, server.Options{Journal: fault, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	c := httpClient(t, "streamable-http", base, e.token(t, "alice", "analysts"))
	grant(t, c, "pg", "read")
	fault.failAll.Store(true)
	const n = 50
	for range n {
		if _, err := c.CallTool(context.Background(), callReq("pg", "SELECT 1")); err == nil || !strings.Contains(err.Error(), "journal unavailable") {
			t.Fatalf("want a journal-unavailable error, got %v", err)
		}
	}
	if got := strings.Count(logs.String(), "journal write failed"); got != 1 {
		t.Errorf("%d log lines for %d refused calls, want 1:\n%s", got, n, logs.String())
	}
}

// A call whose finished record cannot be written ran: the agent is told
// so (with the call id, and not to retry blindly), gets no result, and
// the journal closes the call as soon as it takes writes again, without a
// restart. A call refused before it ran is still reported as refused.
func TestUnrecordedCallIsToldAndClosedLate(t *testing.T) {
	e := newEnv(t)
	sink, err := store.OpenSQLite(context.Background(), e.cfg.Store)
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	fault := &faultJournal{inner: sink}
	_, base := e.start(t, server.Options{Journal: fault})
	c := httpClient(t, "streamable-http", base, e.token(t, "wendy", "writers"))
	grant(t, c, "pg", "write")

	fault.failFinish.Store(true)
	_, err = c.CallTool(context.Background(), callReq("pg", "INSERT INTO t VALUES (960, 'ran once') RETURNING v"))
	if err == nil {
		t.Fatal("the agent got a result the journal does not hold")
	}
	var n int
	if err := e.pg.QueryRow(context.Background(), "SELECT count(*) FROM t WHERE id = 960").Scan(&n); err != nil || n != 1 {
		t.Fatalf("the INSERT did not run (%d, %v)", n, err)
	}
	msg := err.Error()
	callID := regexp.MustCompile(`call ([0-9a-f-]{36}) ran`).FindStringSubmatch(msg)
	if callID == nil || strings.Contains(msg, "call refused") || !strings.Contains(msg, "Do not retry it blindly") || strings.Contains(msg, "ran once") {
		t.Fatalf("the agent was told: %s", msg)
	}
	// Refused before running (no grant for demo): still "refused".
	_, err = c.CallTool(context.Background(), callReq("demo", "SELECT 1"))
	if err == nil || !strings.Contains(err.Error(), "call refused") {
		t.Fatalf("a call that never ran: %v", err)
	}

	// The journal comes back; the open calls are closed without a restart,
	// one record at a time: wait for both.
	fault.failFinish.Store(false)
	refusedClosed := func(recs []*recorder.Record) bool {
		for _, r := range recs {
			if r.Type == recorder.Finished && strings.Contains(string(r.Arguments), `"demo"`) {
				return true
			}
		}
		return false
	}
	var late *recorder.Record
	for range 300 {
		recs := journal(t, e)
		_, finished := calls(recs)
		if f := finished[callID[1]]; len(f) > 0 && refusedClosed(recs) {
			late = f[0]
			if len(f) != 1 {
				t.Errorf("%d finished records", len(f))
			}
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if late == nil {
		t.Fatal("the calls were not closed once the journal took writes again")
	}
	var detail map[string]any
	json.Unmarshal(late.Detail, &detail)
	if late.Outcome != recorder.OutcomeUnknown || detail["ran"] != true || detail["outcome"] != recorder.OutcomeOK ||
		detail["recorded_late"] != true || len(late.Result) != 0 || late.Connection != "pg" || late.Command != "INSERT" {
		t.Errorf("late record: %+v detail %v", late, detail)
	}
	// The refused call was closed too, with its own outcome.
	n = 0
	for _, r := range journal(t, e) {
		if r.Type == recorder.Finished && strings.Contains(string(r.Arguments), `"demo"`) {
			n++
			if r.Outcome != recorder.OutcomeDenied {
				t.Errorf("refused call closed as %s", r.Outcome)
			}
		}
	}
	if n != 1 {
		t.Errorf("%d finished records for the refused call", n)
	}
	if out, err := airlockCmd(t, "journal", "verify", "--config", e.cfgPath); err != nil {
		t.Fatalf("verify: %v\n%s", err, out)
	}
}
