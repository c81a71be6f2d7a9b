package server_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/airlockhq/airlock/config"
	"github.com/airlockhq/airlock/identity"
	"github.com/airlockhq/airlock/internal/faultproxy"
	"github.com/airlockhq/airlock/internal/gatewayproc"
	"github.com/airlockhq/airlock/internal/pgtest"
	"github.com/airlockhq/airlock/recorder"
	"github.com/airlockhq/airlock/store"
)

// cluster is several real gateway processes sharing one PostgreSQL store,
// reached through a proxy the test can cut.
type cluster struct {
	cfg      *config.Config
	dev      *identity.DevIssuer
	storeDSN string // direct, for reading the journal
	proxy    *faultproxy.Proxy
	target   *pgxpool.Pool // the query_db target's schema
	procs    []*gatewayproc.Proc

	calls atomic.Int64 // query_db calls the test made
}

func startCluster(t *testing.T, n int, extra string) *cluster {
	t.Helper()
	storeDSN := pgtest.Database(t, "pgstore")
	u, err := url.Parse(storeDSN)
	if err != nil {
		t.Fatal(err)
	}
	proxy := faultproxy.Start(t, u.Host)
	viaProxy := *u
	viaProxy.Host = proxy.Addr()
	targetDSN, pool := pgtest.Schema(t)
	if _, err := pool.Exec(context.Background(), `CREATE TABLE t (id int PRIMARY KEY, v text);
INSERT INTO t SELECT g, 'row ' || g FROM generate_series(1, 20) g;`); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	yaml := fmt.Sprintf(`
server:
  listen: 127.0.0.1:18998
  public_url: http://127.0.0.1:18998
identity:
  dev_issuer: {enabled: true}
store: %q
store_password: {env: AIRLOCK_TEST_STORE_PASSWORD}
journal: {checkpoint_interval: 1s}
connections:
  pg: {kind: postgres, dsn: %q}
admin: {groups: [platform]}
`, viaProxy.String(), targetDSN) + extra
	p := filepath.Join(dir, "airlock.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	// Trust auth ignores the password; it is given to show the reference
	// path works end to end.
	t.Setenv("AIRLOCK_TEST_STORE_PASSWORD", "unused-by-trust-auth")
	cfg, err := config.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	dev, err := identity.LoadOrCreateDevIssuer(cfg.DevIssuerURL(), cfg.Identity.DevIssuer.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{cfg: cfg, dev: dev, storeDSN: storeDSN, proxy: proxy, target: pool}
	// Start them together: the schema migrates once, under its lock.
	procs := make([]*gatewayproc.Proc, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			procs[i], errs[i] = gatewayproc.Start(context.Background(), airlockBin, p, []string{"AIRLOCK_TEST_STORE_PASSWORD=unused-by-trust-auth"})
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("replica %d: %v", i, errs[i])
		}
		pr := procs[i]
		t.Cleanup(func() {
			if t.Failed() || os.Getenv("AIRLOCK_TEST_REPLICA_LOGS") != "" {
				t.Logf("replica %d log: %s", i, pr.LastLines())
			}
			pr.Stop()
		})
	}
	c.procs = procs
	return c
}

func (c *cluster) token(t *testing.T, subject string, groups ...string) string {
	t.Helper()
	tok, err := c.dev.Mint(identity.MintOptions{Subject: subject, Groups: groups, Audience: c.cfg.Identity.Audience, TTL: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// query runs query_db and counts it; the error is the JSON-RPC one.
func (c *cluster) query(cl *client.Client, sql string) (*mcp.CallToolResult, error) {
	c.calls.Add(1)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return cl.CallTool(ctx, callReq("pg", sql))
}

// records reads the whole journal straight from PostgreSQL.
func (c *cluster) records(t *testing.T) []*recorder.Record {
	t.Helper()
	st, err := store.Open(context.Background(), c.storeDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	es, err := st.JournalAfter(context.Background(), 0, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]*recorder.Record, 0, len(es))
	for i := range es {
		r, err := recorder.Decode(&es[i])
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// verify checks the one chain with the replicas' checkpoint key and that
// every query_db call the test made is in it exactly once, started and
// finished; it returns the finished records by call id.
func (c *cluster) verify(t *testing.T) map[string]*recorder.Record {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, c.storeDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	key, err := recorder.LoadOrCreateKey(c.cfg.Journal.CheckpointKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	cps, err := recorder.StoredCheckpoints(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := recorder.Verify(ctx, st, recorder.VerifyOptions{Key: key.Public().(ed25519.PublicKey), Checkpoints: cps})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Fatalf("the shared chain does not verify: %+v", rep.Findings)
	}
	started, finished := map[string]int{}, map[string]*recorder.Record{}
	dup := 0
	for _, r := range c.records(t) {
		if r.Tool != "query_db" {
			continue
		}
		switch r.Type {
		case recorder.Started:
			started[r.CallID]++
		case recorder.Finished:
			if finished[r.CallID] != nil {
				dup++
			}
			finished[r.CallID] = r
		}
	}
	for id, n := range started {
		if n != 1 || finished[id] == nil {
			t.Errorf("call %s: %d started records, finished=%v", id, n, finished[id] != nil)
		}
	}
	if dup > 0 || len(finished) != len(started) {
		t.Errorf("%d duplicate finished records; %d finished, %d started", dup, len(finished), len(started))
	}
	if got, want := len(started), int(c.calls.Load()); got != want {
		t.Errorf("journal holds %d query_db calls, the test made %d", got, want)
	}
	t.Logf("one chain, %d records verified, %d query_db calls each exactly once", rep.Records, len(started))
	return finished
}

func readyzOf(t *testing.T, base string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// within polls cond every 10 ms for up to limit and returns how long it
// took, or fails.
func within(t *testing.T, limit time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > limit {
			t.Fatalf("%s: not within %v", what, limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

const replicaRules = `
approvals: {wait: 20s}
limits: {call_timeout: 2m, statement_timeout: 2m}
rules:
  - {name: analysts-read, groups: [analysts], connections: [pg], access: [read], effect: allow}
  - {name: contractor-read, groups: [contractors], connections: [pg], access: [read], effect: allow,
     grant: {mode: approval, approvers: [dba], max_duration: 30m}}
  - {name: writers-read, groups: [writers], connections: [pg], access: [read], effect: allow}
  - {name: writers-write, groups: [writers], connections: [pg], access: [write], effect: approve,
     grant: {approvers: [dba]}}
`

// Three gateways on one PostgreSQL store act as one: agents spread over
// them run concurrently; a grant approved on one replica is in force on
// the others within a second, its revocation on another cancels a call in
// flight on a third within a second; a call held on one replica completes
// when approved on another; one chain verifies with every call once.
func TestReplicasActAsOne(t *testing.T) {
	c := startCluster(t, 3, replicaRules)
	r := func(i int) string { return c.procs[i%3].Base }

	// Agents spread over the replicas, all at once.
	var wg sync.WaitGroup
	for a := range 6 {
		cl := httpClient(t, "streamable-http", r(a), c.token(t, fmt.Sprintf("agent-%d", a), "analysts"))
		wg.Go(func() {
			grant(t, cl, "pg", "read") // auto mode: self-service
			for i := range 5 {
				res, err := c.query(cl, fmt.Sprintf("SELECT v FROM t WHERE id = %d", 1+(a*5+i)%20))
				if err != nil || res.IsError {
					t.Errorf("agent %d call %d: %v %v", a, i, err, res)
				}
			}
		})
	}

	dave := c.token(t, "dave", "dba")
	pat := c.token(t, "pat", "platform")
	carolTok := c.token(t, "carol", "contractors")
	carol0 := httpClient(t, "streamable-http", r(0), carolTok)
	carol2 := httpClient(t, "streamable-http", r(2), carolTok)

	// Before any grant, replica 2 refuses carol (and caches that view).
	if res, err := c.query(carol2, "SELECT count(*) FROM t"); err != nil || !res.IsError {
		t.Fatalf("ungranted call on replica 2: %v %v", err, res)
	}
	// Carol asks on replica 0 and waits; dave approves on replica 1.
	held := make(chan *mcp.CallToolResult, 1)
	go func() {
		held <- callTool(t, carol0, "request_access", map[string]any{"connection": "pg", "access": "read", "duration": "10m", "reason": "invoice totals"})
	}()
	id := pendingID(t, r(1), dave, "carol")
	approved := time.Now() // measured from the approval request: an upper bound
	if code, out := adminCall(t, r(1), dave, http.MethodPost, "requests/"+id+"/approve", map[string]string{"reason": "ok"}); code != http.StatusOK || out["status"] != "active" {
		t.Fatalf("approve on replica 1: %d %v", code, out)
	}
	var res *mcp.CallToolResult
	select {
	case res = <-held:
	case <-time.After(10 * time.Second):
		t.Fatal("the request held on replica 0 did not complete after approval on replica 1")
	}
	heldDone := time.Since(approved)
	if res.IsError || res.StructuredContent.(map[string]any)["status"] != "active" {
		t.Fatalf("held request_access: %s", text(res))
	}
	// Replica 2 serves carol now: its view of her grants was dropped.
	// The effect is measured at the start of the first call that ran: a
	// call sent then was decided under the grant. (How long the call then
	// takes on a loaded machine is not propagation.)
	var sent time.Duration
	within(t, 10*time.Second, "grant in force on replica 2", func() bool {
		sent = time.Since(approved)
		res, err := c.query(carol2, "SELECT count(*) FROM t")
		return err == nil && !res.IsError
	})
	t.Logf("approval on replica 1: held request on replica 0 answered after %v; replica 2 ran a call sent %v after it", heldDone, sent)
	if sent > time.Second {
		t.Errorf("approval on replica 1 not in force on replica 2 for a call sent %v after it (want within a second)", sent)
	}

	// Replica 0 runs carol's calls too (and holds a view of her grants).
	if res, err := c.query(carol0, "SELECT count(*) FROM t"); err != nil || res.IsError {
		t.Fatalf("granted call on replica 0: %v %v", err, res)
	}
	// A long call runs on replica 2 (a nested loop that checks for
	// cancellation per row); pat revokes on replica 1. The marker tells
	// this run's query from any other on the shared server.
	marker := fmt.Sprint(200000 + time.Now().UnixNano()%100000)
	long := make(chan *mcp.CallToolResult, 1)
	go func() {
		res, err := c.query(carol2, "SELECT count(*) FROM generate_series(1, 200000) a, generate_series(1, "+marker+") b")
		if err != nil {
			res = &mcp.CallToolResult{IsError: true, Content: []mcp.Content{mcp.NewTextContent("rpc error: " + err.Error())}}
		}
		long <- res
	}()
	within(t, 10*time.Second, "long query running", func() bool {
		var n int
		c.target.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE state = 'active' AND query LIKE '%generate_series(1, '||$1||') b%' AND pid <> pg_backend_pid()`, marker).Scan(&n)
		return n > 0
	})
	grantID := res.StructuredContent.(map[string]any)["request_id"].(string)
	revoked := time.Now() // the revocation is in effect once the admin call commits it
	// Watch the query on PostgreSQL from now on: its end is the
	// cancellation arriving, whatever the answer's way back costs.
	goneAt := make(chan time.Duration, 1)
	go func() {
		for range 3000 {
			var n int
			c.target.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE state = 'active' AND query LIKE '%generate_series(1, '||$1||') b%' AND pid <> pg_backend_pid()`, marker).Scan(&n)
			if n == 0 {
				goneAt <- time.Since(revoked)
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
		goneAt <- time.Hour
	}()
	if code, out := adminCall(t, r(1), pat, http.MethodPost, "grants/"+grantID+"/revoke", map[string]string{"reason": "incident"}); code != http.StatusOK {
		t.Fatalf("revoke on replica 1: %d %v", code, out)
	}
	// New calls under the revoked grant are refused everywhere: on
	// replica 0 for a call sent within a second of the revocation.
	var refusedSent time.Duration
	within(t, 10*time.Second, "revocation in force on replica 0", func() bool {
		refusedSent = time.Since(revoked)
		res, err := c.query(carol0, "SELECT 1")
		return err == nil && res.IsError
	})
	if refusedSent > time.Second {
		t.Errorf("revocation on replica 1 not in force on replica 0 for a call sent %v after it (want within a second)", refusedSent)
	}
	select {
	case res = <-long:
	case <-time.After(30 * time.Second):
		t.Fatal("the call on replica 2 outlived the revocation on replica 1")
	}
	answered := time.Since(revoked)
	gone := <-goneAt
	if !res.IsError || !strings.Contains(text(res), "revoked") {
		t.Fatalf("revoked call on replica 2: %s", text(res))
	}
	if res, err := c.query(carol2, "SELECT 1"); err != nil || !res.IsError {
		t.Errorf("new call on replica 2 under the revoked grant: %v %v", err, res)
	}
	t.Logf("revocation on replica 1: the call in flight on replica 2 was answered after %v, its query gone from PostgreSQL after %v; replica 0 refused a call sent %v after it", answered, gone, refusedSent)
	// Replica 2 hears of the revocation at once (NOTIFY) and cancels the
	// call's context; the query then ends when PostgreSQL acts on the
	// cancel request, which on a loaded machine takes its own time. The
	// bound here is loose on purpose; the log line has the measurement.
	if gone > 5*time.Second {
		t.Errorf("the call outlived the revocation on another replica: its query ran on for %v", gone)
	}

	// A write held for approval on replica 0 completes when approved on
	// replica 2.
	wendy := httpClient(t, "streamable-http", r(0), c.token(t, "wendy", "writers"))
	grant(t, wendy, "pg", "write") // the grant; each write still needs its approval
	write := make(chan *mcp.CallToolResult, 1)
	go func() {
		res, err := c.query(wendy, "DELETE FROM t WHERE id = 9")
		if err != nil {
			res = &mcp.CallToolResult{IsError: true, Content: []mcp.Content{mcp.NewTextContent("rpc error: " + err.Error())}}
		}
		write <- res
	}()
	var apID string
	within(t, 10*time.Second, "approval request visible on replica 2", func() bool {
		_, out := adminCall(t, r(2), dave, http.MethodGet, "requests?status=pending&kind=approval", nil)
		reqs, _ := out["requests"].([]any)
		for _, x := range reqs {
			if m := x.(map[string]any); m["subject"] == "wendy" {
				apID = m["id"].(string)
			}
		}
		return apID != ""
	})
	approved = time.Now()
	if code, out := adminCall(t, r(2), dave, http.MethodPost, "requests/"+apID+"/approve", nil); code != http.StatusOK {
		t.Fatalf("approve on replica 2: %d %v", code, out)
	}
	select {
	case res = <-write:
	case <-time.After(10 * time.Second):
		t.Fatal("the call held on replica 0 did not complete after approval on replica 2")
	}
	t.Logf("per-call approval on replica 2: call held on replica 0 ran after %v", time.Since(approved))
	var n int
	c.target.QueryRow(context.Background(), "SELECT count(*) FROM t WHERE id = 9").Scan(&n)
	if res.IsError || n != 0 {
		t.Fatalf("approved call: %s (row still there: %v)", text(res), n == 1)
	}

	wg.Wait()
	for _, p := range c.procs {
		p.Stop()
	}
	c.verify(t)
}

// SIGKILL of one replica in the middle of a call: the others keep
// serving, and one of them closes the dead replica's call as "unknown";
// nothing is lost and the chain verifies.
func TestReplicaKilledMidCall(t *testing.T) {
	c := startCluster(t, 3, replicaRules)
	tok := c.token(t, "alice", "analysts")
	victim := httpClient(t, "streamable-http", c.procs[0].Base, tok)
	others := []*client.Client{
		httpClient(t, "streamable-http", c.procs[1].Base, tok),
		httpClient(t, "streamable-http", c.procs[2].Base, tok),
	}
	grant(t, victim, "pg", "read") // one grant, in force on every replica
	for _, cl := range append(others, victim) {
		if res, err := c.query(cl, "SELECT 1"); err != nil || res.IsError {
			t.Fatalf("warm-up: %v %v", err, res)
		}
	}
	marker := fmt.Sprint(300000 + time.Now().UnixNano()%100000)
	go c.query(victim, "SELECT count(*) FROM generate_series(1, 200000) a, generate_series(1, "+marker+") b") //nolint:errcheck // its replica dies
	within(t, 10*time.Second, "the victim's call running", func() bool {
		var n int
		c.target.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE state = 'active' AND query LIKE '%generate_series(1, '||$1||') b%' AND pid <> pg_backend_pid()`, marker).Scan(&n)
		return n > 0
	})
	if err := c.procs[0].Cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	c.procs[0].Cmd.Wait()
	for i, cl := range others {
		if res, err := c.query(cl, "SELECT count(*) FROM t"); err != nil || res.IsError {
			t.Fatalf("replica %d after the kill: %v %v", i+1, err, res)
		}
	}
	// A survivor's maintenance (every checkpoint_interval) closes it.
	var unknown *recorder.Record
	within(t, 30*time.Second, "the dead replica's call closed as unknown", func() bool {
		for _, r := range c.records(t) {
			if r.Type == recorder.Finished && r.Outcome == recorder.OutcomeUnknown {
				unknown = r
				return true
			}
		}
		return false
	})
	for _, p := range c.procs[1:] {
		p.Stop()
	}
	finished := c.verify(t)
	if got := finished[unknown.CallID]; got == nil || got.Outcome != recorder.OutcomeUnknown {
		t.Fatalf("the killed call's record: %+v", got)
	}
	n := 0
	for _, r := range finished {
		if r.Outcome == recorder.OutcomeUnknown {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d calls closed as unknown, want exactly the one in flight", n)
	}
}

// With the store gone, every replica refuses calls with a clear error and
// fails /readyz (while /healthz stays up); when it returns, they serve
// again without a restart.
func TestStoreOutageFailsClosed(t *testing.T) {
	c := startCluster(t, 3, replicaRules)
	tok := c.token(t, "alice", "analysts")
	var cls []*client.Client
	for i, p := range c.procs {
		cl := httpClient(t, "streamable-http", p.Base, tok)
		if i == 0 {
			grant(t, cl, "pg", "read")
		}
		if res, err := c.query(cl, "SELECT 1"); err != nil || res.IsError {
			t.Fatalf("replica %d before the outage: %v %v", i, err, res)
		}
		if code, out := readyzOf(t, p.Base); code != http.StatusOK {
			t.Fatalf("replica %d not ready before the outage: %v", i, out)
		}
		cls = append(cls, cl)
	}
	pids := make([]int, len(c.procs))
	for i, p := range c.procs {
		pids[i] = p.Cmd.Process.Pid
	}

	c.proxy.Down()
	refused := 0
	for i, p := range c.procs {
		within(t, 10*time.Second, fmt.Sprintf("replica %d not ready", i), func() bool {
			code, _ := readyzOf(t, p.Base)
			return code == http.StatusServiceUnavailable
		})
		_, out := readyzOf(t, p.Base)
		st, _ := out["store"].(map[string]any)
		if st == nil || st["ok"] != false || !strings.Contains(fmt.Sprint(st["error"]), "unreachable") {
			t.Errorf("replica %d /readyz body: %v", i, out)
		}
		if b, _ := json.Marshal(out); strings.Contains(string(b), "127.0.0.1") || strings.Contains(string(b), "postgres") {
			t.Errorf("replica %d /readyz leaks store details: %s", i, b)
		}
		resp, err := http.Get(p.Base + "/healthz")
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Errorf("replica %d /healthz during the outage: %v %v", i, err, resp)
		}
		if resp != nil {
			resp.Body.Close()
		}
		c.calls.Add(-1) // a refused call never reaches the journal
		res, err := c.query(cls[i], "SELECT count(*) FROM t")
		switch {
		case err != nil && strings.Contains(err.Error(), "journal unavailable"):
			refused++
		default:
			t.Errorf("replica %d during the outage: err=%v res=%v (want the call refused: journal unavailable)", i, err, res)
		}
	}
	if refused != len(c.procs) {
		t.Fatalf("%d of %d replicas refused", refused, len(c.procs))
	}

	c.proxy.Up()
	for i, p := range c.procs {
		within(t, 30*time.Second, fmt.Sprintf("replica %d ready again", i), func() bool {
			code, _ := readyzOf(t, p.Base)
			return code == http.StatusOK
		})
		if res, err := c.query(cls[i], "SELECT count(*) FROM t"); err != nil || res.IsError {
			t.Errorf("replica %d after the outage: %v %v", i, err, res)
		}
		if p.Cmd.Process.Pid != pids[i] || p.Cmd.ProcessState != nil {
			t.Errorf("replica %d restarted", i)
		}
	}
	for _, p := range c.procs {
		p.Stop()
	}
	c.verify(t)
}
